//! Exports an auditor can check offline: the events matching a query, oldest first, written as
//! zstd-compressed NDJSON chunks next to a signed manifest that lists what was asked, by whom,
//! when, and the count and SHA-256 of every chunk.
//!
//! - [`manifest`]: the manifest's fields and the chunks' names.
//! - [`chunk`]: the chunk writer (compresses, counts and hashes in one pass).
//! - [`write`]: an export from the index into a new directory, signed with the `[seal]` key.
//! - [`verify`]: the checks of an export with nothing but it and the public keys.

pub mod chunk;
mod error;
pub mod manifest;
pub mod verify;
pub mod write;

pub use error::ExportError;
pub use manifest::{Chunk, Exporter, Manifest, PartitionHash, SourcePartition, MANIFEST_FILE};
pub use verify::{verify_export, Problem, Verified};
pub use write::{write_export, ExportSpec};
