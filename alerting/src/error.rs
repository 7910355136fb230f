//! Errors of alert delivery.

use std::path::PathBuf;

/// What can go wrong outside of a destination's answer.
#[derive(Debug, thiserror::Error)]
pub enum AlertingError {
    /// The outbox could not be read or written.
    #[error("alert outbox {path}: {source}")]
    Outbox {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A destination's template does not compile or render.
    #[error("alerting.destinations {destination:?}: template: {message}")]
    Template {
        /// The destination.
        destination: String,
        /// What is wrong.
        message: String,
    },
}
