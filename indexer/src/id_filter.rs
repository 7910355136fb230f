//! Which committed segments of a partition may hold an event id.
//!
//! De-duplication asks, for every event added, whether its `event.id` term is already in the
//! partition. Asked of Tantivy's searcher, that is one term-dictionary lookup per segment, and a
//! day's partition grows to tens of segments: the cost of each event grew with the partition.
//! Each committed segment gets instead one binary fuse filter of its ids (9 bits per id, about
//! 0.4 % false positives, never a false negative), built once from the segment's `event.id`
//! terms. The dictionary is asked only in the segments whose filter may hold the id, so a
//! new event costs one filter probe per segment and, in 0.4 % of the segments, a lookup.

use std::collections::{HashMap, HashSet};

use tantivy::index::SegmentId;
use tantivy::schema::Field;
use tantivy::{Searcher, SegmentReader, Term};
use xorf::{BinaryFuse8, Filter};

/// The filter key of an id term's bytes (the bytes the term dictionary holds).
fn key_of(term_bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(term_bytes)
}

/// What is known of one segment's ids.
enum SegmentIds {
    /// The segment holds no id.
    Empty,
    /// The ids' filter.
    Filter(BinaryFuse8),
    /// No filter could be built: the dictionary is always asked.
    Unfiltered,
}

impl SegmentIds {
    fn may_hold(&self, key: u64) -> bool {
        match self {
            SegmentIds::Empty => false,
            SegmentIds::Filter(filter) => filter.contains(&key),
            SegmentIds::Unfiltered => true,
        }
    }
}

/// The id filters of a partition's committed segments (see the module documentation).
#[derive(Default)]
pub(crate) struct SegmentIdFilters {
    segments: HashMap<SegmentId, SegmentIds>,
}

impl SegmentIdFilters {
    /// Builds the filters of the searcher's segments not seen yet and forgets the segments
    /// gone (merged into others). Call after each reload of the partition's reader.
    pub(crate) fn refresh(&mut self, searcher: &Searcher, field: Field) -> tantivy::Result<()> {
        let live: HashSet<SegmentId> = searcher
            .segment_readers()
            .iter()
            .map(SegmentReader::segment_id)
            .collect();
        self.segments.retain(|id, _| live.contains(id));
        for segment in searcher.segment_readers() {
            if self.segments.contains_key(&segment.segment_id()) {
                continue;
            }
            let ids = build(segment, field)?;
            self.segments.insert(segment.segment_id(), ids);
        }
        Ok(())
    }

    /// Whether a segment of `searcher` holds the id `term`. Segments without a filter yet are
    /// asked directly.
    pub(crate) fn holds(&self, searcher: &Searcher, term: &Term) -> tantivy::Result<bool> {
        let key = key_of(term.serialized_value_bytes());
        for segment in searcher.segment_readers() {
            let may_hold = self
                .segments
                .get(&segment.segment_id())
                .is_none_or(|ids| ids.may_hold(key));
            if may_hold && segment.inverted_index(term.field())?.doc_freq(term)? > 0 {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// Reads every id term of `segment` into a filter.
fn build(segment: &SegmentReader, field: Field) -> tantivy::Result<SegmentIds> {
    let inverted = segment.inverted_index(field)?;
    let mut keys = Vec::with_capacity(segment.max_doc() as usize);
    let mut terms = inverted.terms().stream()?;
    while terms.advance() {
        keys.push(key_of(terms.key()));
    }
    if keys.is_empty() {
        return Ok(SegmentIds::Empty);
    }
    // The filter needs distinct keys; two ids sharing a 64-bit key only share a filter slot.
    keys.sort_unstable();
    keys.dedup();
    Ok(match BinaryFuse8::try_from(&keys) {
        Ok(filter) => SegmentIds::Filter(filter),
        Err(error) => {
            tracing::warn!(%error, segment = %segment.segment_id().uuid_string(), "no id filter for this segment, its dictionary is asked for every id");
            SegmentIds::Unfiltered
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::schema::{Schema, STRING};
    use tantivy::{doc, Index, IndexWriter, TantivyDocument};

    fn index_with_segments(segments: &[&[&str]]) -> (Index, Field) {
        let mut builder = Schema::builder();
        let field = builder.add_text_field("id", STRING);
        let index = Index::create_in_ram(builder.build());
        let mut writer: IndexWriter<TantivyDocument> =
            index.writer_with_num_threads(1, 15_000_000).unwrap();
        writer.set_merge_policy(Box::new(tantivy::indexer::NoMergePolicy));
        for ids in segments {
            for id in *ids {
                writer.add_document(doc!(field => *id)).unwrap();
            }
            writer.commit().unwrap();
        }
        (index, field)
    }

    #[test]
    fn every_indexed_id_is_found_and_absent_ids_are_not() {
        let first: Vec<String> = (0..5000).map(|i| format!("{i:032x}")).collect();
        let second: Vec<String> = (5000..9000).map(|i| format!("{i:032x}")).collect();
        let first: Vec<&str> = first.iter().map(String::as_str).collect();
        let second: Vec<&str> = second.iter().map(String::as_str).collect();
        let (index, field) = index_with_segments(&[&first, &second, &[]]);
        let searcher = index.reader().unwrap().searcher();
        let mut filters = SegmentIdFilters::default();
        filters.refresh(&searcher, field).unwrap();
        for i in 0..9000 {
            let term = Term::from_field_text(field, &format!("{i:032x}"));
            assert!(filters.holds(&searcher, &term).unwrap(), "id {i}");
        }
        for i in 9000..20000 {
            let term = Term::from_field_text(field, &format!("{i:032x}"));
            assert!(!filters.holds(&searcher, &term).unwrap(), "id {i}");
        }
    }

    #[test]
    fn segments_merged_away_are_forgotten_and_new_ones_filtered() {
        let (index, field) = index_with_segments(&[&["a"], &["b"]]);
        let reader = index.reader().unwrap();
        let mut filters = SegmentIdFilters::default();
        filters.refresh(&reader.searcher(), field).unwrap();
        assert_eq!(filters.segments.len(), 2);
        let mut writer: IndexWriter<TantivyDocument> =
            index.writer_with_num_threads(1, 15_000_000).unwrap();
        let ids = index.searchable_segment_ids().unwrap();
        writer.merge(&ids).wait().unwrap();
        writer.add_document(doc!(field => "c")).unwrap();
        writer.commit().unwrap();
        reader.reload().unwrap();
        let searcher = reader.searcher();
        filters.refresh(&searcher, field).unwrap();
        assert_eq!(filters.segments.len(), 2, "one merged segment and one new");
        for id in ["a", "b", "c"] {
            let term = Term::from_field_text(field, id);
            assert!(filters.holds(&searcher, &term).unwrap(), "{id}");
        }
        assert!(!filters
            .holds(&searcher, &Term::from_field_text(field, "d"))
            .unwrap());
    }

    #[test]
    fn a_segment_not_refreshed_yet_is_asked_directly() {
        let (index, field) = index_with_segments(&[&["a"]]);
        let searcher = index.reader().unwrap().searcher();
        let filters = SegmentIdFilters::default();
        assert!(filters
            .holds(&searcher, &Term::from_field_text(field, "a"))
            .unwrap());
        assert!(!filters
            .holds(&searcher, &Term::from_field_text(field, "b"))
            .unwrap());
    }
}
