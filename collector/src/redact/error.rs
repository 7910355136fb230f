//! Why a redactor could not be built.

use std::path::PathBuf;

/// An error building a [`super::Redactor`]: a bad pattern or an unusable key.
#[derive(Debug, thiserror::Error)]
pub enum RedactError {
    /// A configured pattern does not compile.
    #[error("{key}: invalid regular expression {pattern:?}: {source}")]
    Pattern {
        /// The configuration key of the pattern, e.g. `collector.redaction.patterns[0].regex`.
        key: String,
        /// The pattern as written.
        pattern: String,
        /// Why it does not compile.
        #[source]
        source: Box<regex::Error>,
    },
    /// The key file could not be read, created or written.
    #[error("{}: {source}", path.display())]
    KeyFile {
        /// The key file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The key is too short to keep markers from being guessed.
    #[error("{origin}: the redaction key has {len} bytes, at least {min} are needed")]
    KeyTooShort {
        /// Where the key came from (a file or an environment variable).
        origin: String,
        /// Its length in bytes.
        len: usize,
        /// The minimum.
        min: usize,
    },
    /// The environment variable meant to hold the key is unset or empty.
    #[error(
        "environment variable {name}: unset or empty, but named by collector.redaction.key_env"
    )]
    KeyEnv {
        /// The variable's name.
        name: String,
    },
    /// No random bytes for a new key.
    #[error("cannot generate a redaction key: {0}")]
    Random(String),
}
