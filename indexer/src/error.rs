//! Errors of the indexer.

use std::path::PathBuf;

/// What can go wrong while indexing.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// Tantivy failed on a partition.
    #[error("index {path}: {source}")]
    Tantivy {
        /// The partition directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: tantivy::TantivyError,
    },
    /// A file-system operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A partition was written with a mapping this version cannot read faithfully.
    #[error("index {path} has a mapping this version of Kestrel cannot read: {reason}")]
    IncompatibleSchema {
        /// The partition directory.
        path: PathBuf,
        /// The first difference found.
        reason: String,
    },
    /// The hash chain of sealed partitions could not be read or appended to.
    #[error("seal chain: {0}")]
    Chain(#[from] kestrel_seal::ChainError),
}
