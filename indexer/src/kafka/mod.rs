//! Indexing from Kafka, exactly once: each Kafka partition is indexed into its own shard, whose
//! commits record the offsets they absorbed ([`checkpoint`]), so index content and offsets
//! never disagree.

pub mod checkpoint;
mod consumer;
mod root_seal;
pub mod shard;

pub use consumer::{run_kafka_indexer, KafkaIndexerSettings};
