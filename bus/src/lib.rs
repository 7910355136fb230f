//! The bus between Kestrel's collector and indexer, and the dead-letter store.
//!
//! The embedded bus ([`embedded`]) is an in-process, bounded queue of event batches. Each batch
//! carries an acknowledgement that the consumer fires only once the batch is durable in the next
//! stage (committed to the index), so a producer can move its checkpoints safely: a batch whose
//! acknowledgement never comes (the process died) is read again on restart, and the indexer's
//! de-duplication by event id drops the copies.
//!
//! The Kafka bus ([`kafka`]) takes the same [`Publisher`]: its acknowledgement fires once every
//! in-sync replica holds the batch. Its consumer is the indexer's, which keeps the offsets in
//! the index's own commits.

mod dead_letter;
mod embedded;
pub mod kafka;

pub use dead_letter::{DeadLetterError, DeadLetterStore};
pub use embedded::{embedded, Acker, Acknowledgement, Batch, BusError, Publisher, Subscriber};

pub use rdkafka;
