//! Errors of the collector.

use std::path::PathBuf;

/// What can stop the collector.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// Reading a log file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// No normalizer recognizes the file's content.
    #[error("{path}: cannot tell the log format (not Docker json-file, CRI or Kubernetes audit); pass --format")]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// The bus refused or lost a batch.
    #[error(transparent)]
    Bus(#[from] kestrel_bus::BusError),
    /// The dead-letter store failed.
    #[error(transparent)]
    DeadLetter(#[from] kestrel_bus::DeadLetterError),
    /// The checkpoint store failed.
    #[error(transparent)]
    Checkpoint(#[from] crate::checkpoint::CheckpointError),
    /// A background task failed.
    #[error("collector task failed: {0}")]
    Task(String),
}
