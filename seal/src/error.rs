//! Errors of key handling and signed documents.

use std::path::PathBuf;

use crate::key::KeyId;

/// What can go wrong loading keys or opening a signed document.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// A key file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A key is not a PKCS#8 (private) or SPKI (public) Ed25519 key in PEM.
    #[error("{origin}: not an Ed25519 {what} key in PEM ({reason})")]
    Key {
        /// The file or environment variable the key came from.
        origin: String,
        /// `private` or `public`.
        what: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// No signing key was configured.
    #[error("no signing key: set {file_key} or {env_key}")]
    NoKey {
        /// The configuration key of the key file.
        file_key: String,
        /// The configuration key of the environment variable.
        env_key: String,
    },
    /// An environment variable named for the key is not set.
    #[error("environment variable {0} is not set")]
    MissingEnv(String),
    /// A signed document is not two lines: a JSON body and its signature.
    #[error("malformed signed document: {0}")]
    Malformed(String),
    /// The document was signed by a key that is not among the public keys given.
    #[error("signed by unknown key {0}")]
    UnknownKey(KeyId),
    /// The signature does not match the body.
    #[error("bad signature by key {0}")]
    BadSignature(KeyId),
    /// Writing a key failed.
    #[error("{path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}
