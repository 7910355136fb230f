//! Where the bytes of the index go: per component (the file types of a segment) and per field,
//! summed over every partition, from Tantivy's own space accounting.

use std::collections::BTreeMap;
use std::path::Path;

use tantivy::space_usage::{PerFieldSpaceUsage, SegmentSpaceUsage};

use crate::error::IndexError;
use crate::partition::list_partition_dirs;
use crate::schema::EventSchema;
use crate::storage::open_index;

/// The components of a segment, as named in reports (the file extensions of Tantivy).
pub const COMPONENTS: [&str; 6] = ["store", "term", "idx", "pos", "fast", "fieldnorm"];

/// Bytes of an index tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Footprint {
    /// Events (documents alive).
    pub events: u64,
    /// Partitions measured.
    pub partitions: usize,
    /// Segments measured.
    pub segments: usize,
    /// Bytes per component (see [`COMPONENTS`]), plus `other` (deletes and bookkeeping).
    pub components: BTreeMap<&'static str, u64>,
    /// Bytes per `(field, component)` for the per-field components.
    pub fields: BTreeMap<(String, &'static str), u64>,
}

impl Footprint {
    /// Every byte counted.
    pub fn total(&self) -> u64 {
        self.components.values().sum()
    }

    /// `bytes` spread over the events measured (0 events count as 1).
    pub fn per_event(&self, bytes: u64) -> f64 {
        bytes as f64 / self.events.max(1) as f64
    }

    /// Bytes per event of each component.
    pub fn components_per_event(&self) -> BTreeMap<&'static str, f64> {
        self.components
            .iter()
            .map(|(component, bytes)| (*component, self.per_event(*bytes)))
            .collect()
    }

    /// Bytes of one field over every component.
    pub fn field_total(&self, field: &str) -> u64 {
        self.fields
            .iter()
            .filter(|((name, _), _)| name == field)
            .map(|(_, bytes)| bytes)
            .sum()
    }

    /// The fields by bytes, largest first.
    pub fn fields_by_size(&self) -> Vec<(String, u64)> {
        let mut totals: BTreeMap<&str, u64> = BTreeMap::new();
        for ((name, _), bytes) in &self.fields {
            *totals.entry(name).or_default() += bytes;
        }
        let mut sorted: Vec<(String, u64)> =
            totals.into_iter().map(|(n, b)| (n.to_owned(), b)).collect();
        sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        sorted
    }

    fn add_segment(&mut self, usage: &SegmentSpaceUsage) {
        self.segments += 1;
        self.events += u64::from(usage.num_docs());
        let per_field = [
            ("term", usage.termdict()),
            ("idx", usage.postings()),
            ("pos", usage.positions()),
            ("fast", usage.fast_fields()),
            ("fieldnorm", usage.fieldnorms()),
        ];
        let mut counted = 0;
        for (component, fields) in per_field {
            counted += self.add_fields(component, fields);
        }
        let store = usage.store().total().get_bytes();
        *self.components.entry("store").or_default() += store;
        counted += store;
        let total = usage.total().get_bytes();
        *self.components.entry("other").or_default() += total.saturating_sub(counted);
    }

    fn add_fields(&mut self, component: &'static str, fields: &PerFieldSpaceUsage) -> u64 {
        let bytes = fields.total().get_bytes();
        *self.components.entry(component).or_default() += bytes;
        for field in fields.fields() {
            *self
                .fields
                .entry((field.field_name().to_owned(), component))
                .or_default() += field.total().get_bytes();
        }
        bytes
    }
}

/// Measures every partition under the index root `root` (blocking: reads each segment's
/// metadata and file sizes).
pub fn measure(root: &Path, schema: &EventSchema) -> Result<Footprint, IndexError> {
    let partitions = list_partition_dirs(root).map_err(|source| IndexError::Io {
        path: root.to_owned(),
        source,
    })?;
    let mut footprint = Footprint::default();
    for partition in partitions {
        let tantivy_err = |source| IndexError::Tantivy {
            path: partition.dir.clone(),
            source,
        };
        let index = open_index(&partition.dir, schema, false)?;
        let reader = index.reader().map_err(tantivy_err)?;
        let usage = reader
            .searcher()
            .space_usage()
            .map_err(|source| IndexError::Io {
                path: partition.dir.clone(),
                source,
            })?;
        footprint.partitions += 1;
        for segment in usage.segments() {
            footprint.add_segment(segment);
        }
    }
    Ok(footprint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::{Indexer, IndexerOptions};
    use serde_json::json;

    #[test]
    fn every_byte_of_the_segments_is_counted_once() {
        let dir = tempfile::tempdir().unwrap();
        let schema = EventSchema::new();
        let mut indexer = Indexer::open(dir.path(), IndexerOptions::default()).unwrap();
        for i in 0..500 {
            let event = json!({
                "@timestamp": format!("2024-01-01T00:00:{:02}.{i:09}Z", i % 60),
                "event": {
                    "kind": "container",
                    "id": format!("id-{i}"),
                    "ingested": "2024-01-01T00:01:00Z",
                },
                "message": format!("request {i} served in {} ms", i * 7),
                "log": {"file": {"path": "/var/log/a.log"}, "offset": i * 100},
            });
            let event: kestrel_event::Event = serde_json::from_value(event).unwrap();
            indexer.add(&event).unwrap();
        }
        indexer.commit().unwrap();
        let footprint = measure(dir.path(), &schema).unwrap();
        assert_eq!(footprint.events, 500);
        assert_eq!(footprint.partitions, 1);
        let per_field: u64 = footprint.fields.values().sum();
        let components: u64 = COMPONENTS[1..]
            .iter()
            .map(|c| footprint.components.get(c).copied().unwrap_or(0))
            .sum();
        assert_eq!(per_field, components, "fields add up to their components");
        assert!(footprint.components["store"] > 0);
        assert!(footprint.field_total("message") > 0);
        // A column-only field has no inverted index.
        assert!(!footprint
            .fields
            .contains_key(&("log_offset".to_owned(), "term")));
    }
}
