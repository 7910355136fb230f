//! The Kestrel collector: reads container logs and Kubernetes audit logs and turns them into
//! [`kestrel_event::Event`]s.

mod acceptance;
pub mod checkpoint;
pub mod credentials;
pub mod discovery;
pub mod elasticsearch;
pub mod enrich;
mod error;
pub mod falco;
pub mod feed;
pub mod forward;
pub mod ingest;
pub mod normalize;
pub mod otlp;
pub mod redact;
pub mod tail;
pub mod webhook;

pub use error::CollectError;

pub use normalize::{
    detect_format, normalize_bytes, normalizer_for, Format, NormalizeError, Normalizer, Output,
    RawLine, SourceContext,
};
