//! The bus between Kestrel's collector and indexer, and the dead-letter store.
//!
//! The embedded bus ([`embedded`]) is an in-process, bounded queue of event batches. Each batch
//! carries an acknowledgement that the consumer fires only once the batch is durable in the next
//! stage (committed to the index), so a producer can move its checkpoints safely: a batch whose
//! acknowledgement never comes (the process died) is read again on restart, and the indexer's
//! de-duplication by event id drops the copies.

mod dead_letter;
mod embedded;

pub use dead_letter::{DeadLetterError, DeadLetterStore};
pub use embedded::{embedded, Acker, Acknowledgement, Batch, BusError, Publisher, Subscriber};
