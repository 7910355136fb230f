//! Opening and creating partition indexes on disk.

use std::path::Path;

use tantivy::store::{Compressor, ZstdCompressor};
use tantivy::{Index, IndexSettings};

use crate::error::IndexError;
use crate::reader_directory::ReaderDirectory;
use crate::schema::EventSchema;

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
            docstore_compression: Compressor::Zstd(ZstdCompressor::default()),
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
    EventSchema::register_tokenizers(&index);
    Ok(index)
}
