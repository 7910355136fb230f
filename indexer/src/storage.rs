//! Opening and creating partition indexes on disk.

use std::path::Path;

use tantivy::schema::Schema;
use tantivy::store::{Compressor, ZstdCompressor};
use tantivy::{Index, IndexSettings};

use crate::error::IndexError;
use crate::reader_directory::ReaderDirectory;
use crate::schema::EventSchema;

/// Bytes of events compressed together in the document store. Events of one source repeat
/// each other's field names and metadata, so a larger block than Tantivy's 16 KiB compresses
/// much better (1M container lines: 118 bytes per event at 16 KiB and zstd 3, 87 at 64 KiB and
/// zstd 9), while a hit still decompresses only 64 KiB.
pub const DOC_STORE_BLOCK_BYTES: usize = 64 * 1024;
/// zstd level of the document store (written once by a background thread of the writer, read
/// at the same speed whatever the level).
pub const DOC_STORE_ZSTD_LEVEL: i32 = 9;

/// Opens the partition index in `dir`, creating it when `create` is set and it does not exist.
/// Kestrel's tokenizers are registered on the returned index. Without `create` (readers), the
/// index is opened through a [`ReaderDirectory`], so a read-only mount of it can be searched.
pub fn open_index(dir: &Path, schema: &EventSchema, create: bool) -> Result<Index, IndexError> {
    let tantivy_err = |source| IndexError::Tantivy {
        path: dir.to_owned(),
        source,
    };
    let index = if dir.join("meta.json").exists() && create {
        Index::open_in_dir(dir).map_err(tantivy_err)?
    } else if dir.join("meta.json").exists() {
        Index::open(ReaderDirectory::open(dir).map_err(tantivy_err)?).map_err(tantivy_err)?
    } else if create {
        std::fs::create_dir_all(dir).map_err(|source| IndexError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let settings = IndexSettings {
            docstore_compression: Compressor::Zstd(ZstdCompressor {
                compression_level: Some(DOC_STORE_ZSTD_LEVEL),
            }),
            docstore_blocksize: DOC_STORE_BLOCK_BYTES,
            ..IndexSettings::default()
        };
        Index::builder()
            .schema(schema.schema().clone())
            .settings(settings)
            .create_in_dir(dir)
            .map_err(tantivy_err)?
    } else {
        return Err(IndexError::Io {
            path: dir.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no index here"),
        });
    };
    readable_with(&index.schema(), schema.schema()).map_err(|reason| {
        IndexError::IncompatibleSchema {
            path: dir.to_owned(),
            reason,
        }
    })?;
    EventSchema::register_tokenizers(&index);
    Ok(index)
}

/// Whether an index written with `written` is read faithfully with the field handles of
/// `ours`: the same fields in the same order with the same types, and everything `ours` relies
/// on present. An index may have more than `ours` needs: a field indexed before it became a
/// column only is still read through its column.
fn readable_with(written: &Schema, ours: &Schema) -> Result<(), String> {
    let written_fields: Vec<_> = written.fields().collect();
    let our_fields: Vec<_> = ours.fields().collect();
    if written_fields.len() != our_fields.len() {
        return Err(format!(
            "{} fields where {} are expected",
            written_fields.len(),
            our_fields.len()
        ));
    }
    for ((_, theirs), (_, ours)) in written_fields.iter().zip(&our_fields) {
        let name = ours.name();
        if theirs.name() != name {
            return Err(format!(
                "field {:?} where {name:?} is expected",
                theirs.name()
            ));
        }
        if theirs.field_type().value_type() != ours.field_type().value_type() {
            return Err(format!(
                "field {name:?} is of type {:?}, {:?} expected",
                theirs.field_type().value_type(),
                ours.field_type().value_type()
            ));
        }
        let missing = [
            ("indexed", ours.is_indexed() && !theirs.is_indexed()),
            ("fast", ours.is_fast() && !theirs.is_fast()),
            ("stored", ours.is_stored() && !theirs.is_stored()),
        ];
        if let Some((what, _)) = missing.iter().find(|(_, missing)| *missing) {
            return Err(format!("field {name:?} is not {what}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use tantivy::schema::{NumericOptions, Schema, STORED};

    use super::*;

    fn schema(timestamp: NumericOptions, with_source: bool) -> Schema {
        let mut builder = Schema::builder();
        builder.add_i64_field("timestamp", timestamp);
        if with_source {
            builder.add_text_field("_source", STORED);
        }
        builder.build()
    }

    fn both() -> NumericOptions {
        NumericOptions::default().set_indexed().set_fast()
    }

    #[test]
    fn an_index_of_a_field_now_a_column_only_is_read() {
        let written = schema(both(), true);
        let ours = schema(NumericOptions::default().set_fast(), true);
        assert_eq!(readable_with(&written, &ours), Ok(()));
    }

    #[test]
    fn an_index_lacking_what_is_read_is_refused_by_name() {
        let ours = schema(both(), true);
        let not_fast = schema(NumericOptions::default().set_indexed(), true);
        assert_eq!(
            readable_with(&not_fast, &ours),
            Err("field \"timestamp\" is not fast".to_owned())
        );
        let not_indexed = schema(NumericOptions::default().set_fast(), true);
        assert_eq!(
            readable_with(&not_indexed, &ours),
            Err("field \"timestamp\" is not indexed".to_owned())
        );
        let fewer = schema(both(), false);
        assert_eq!(
            readable_with(&fewer, &ours),
            Err("1 fields where 2 are expected".to_owned())
        );
    }

    #[test]
    fn a_partition_of_another_mapping_is_refused_when_opened() {
        let dir = tempfile::tempdir().unwrap();
        Index::create_in_dir(dir.path(), schema(both(), true)).unwrap();
        let error = open_index(dir.path(), &EventSchema::new(), false).unwrap_err();
        assert!(
            matches!(&error, IndexError::IncompatibleSchema { path, .. } if path == dir.path()),
            "{error}"
        );
    }
}
