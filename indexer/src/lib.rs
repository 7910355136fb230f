//! Time-partitioned Tantivy indexes of Kestrel events.
//!
//! - [`schema`]: the Tantivy mapping of the event schema.
//! - [`document`]: event → Tantivy document.
//! - [`partition`]: one index per event kind, UTC day and retention class.
//! - [`retention`]: partition lifetimes, holds and the deletion of expired partitions.
//! - [`writer`]: the [`Indexer`], which adds each event at most once and commits.
//! - [`service`]: the indexing loop that drains the bus and acknowledges what it committed.
//! - [`sealing`]: the manifests of sealed and open partitions in the tree's hash chain.
//! - [`verify`]: checks index trees against their chains.
//! - [`kafka`]: the Kafka consumer, exactly once through offsets kept in the index commits.

pub mod document;
mod error;
pub mod footprint;
mod id_filter;
pub mod kafka;
pub mod partition;
mod reader_directory;
pub mod retention;
pub mod schema;
pub mod sealing;
pub mod service;
mod storage;
pub mod verify;
pub mod writer;

pub use error::IndexError;
pub use partition::{
    list_partition_dirs, list_partitions, PartitionDir, PartitionKey, PartitionKind, RetentionClass,
};
pub use retention::{
    Classifier, Classify, Deletion, NoHooks, RetentionHooks, RetentionOutcome, RetentionPolicy,
};
pub use schema::{EventSchema, FieldKind, ResolvedField};
pub use sealing::SealSettings;
pub use storage::open_index;
pub use writer::{AddOutcome, CommitStats, Indexer, IndexerOptions};
