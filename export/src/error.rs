//! Errors of writing an export.

use std::path::PathBuf;

use kestrel_query::SearchError;

/// What can go wrong writing an export.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The output directory already holds files.
    #[error("{0}: not empty (an export is written into a new or empty directory)")]
    NotEmpty(PathBuf),
    /// A file of the export (or a partition's `meta.json`) could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The query could not be run.
    #[error(transparent)]
    Search(#[from] SearchError),
    /// The manifest could not be serialized.
    #[error("manifest: {0}")]
    Manifest(serde_json::Error),
}

impl ExportError {
    /// An I/O error on `path`.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ExportError {
        let path = path.into();
        move |source| ExportError::Io { path, source }
    }
}
