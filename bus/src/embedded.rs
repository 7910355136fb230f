//! The embedded, in-process bus.

use kestrel_event::Event;
use tokio::sync::{mpsc, oneshot};

/// Errors of the embedded bus.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BusError {
    /// The consumer side is gone; nothing more can be published.
    #[error("bus closed: the indexer is no longer consuming")]
    Closed,
    /// The batch was dropped without being acknowledged (the consumer failed or stopped before
    /// making it durable); it must be sent again.
    #[error("batch not acknowledged: the indexer stopped before making it durable")]
    NotAcknowledged,
}

/// A batch of events in flight, with the acknowledgement to fire once it is durable.
#[derive(Debug)]
pub struct Batch {
    /// The events, in the order they were read.
    pub events: Vec<Event>,
    acker: Acker,
}

impl Batch {
    /// Splits the batch into its events and its acknowledgement handle.
    pub fn into_parts(self) -> (Vec<Event>, Acker) {
        (self.events, self.acker)
    }
}

/// Fires a batch's acknowledgement. Dropping it without [`Acker::ack`] tells the producer the
/// batch was not made durable.
#[derive(Debug)]
pub struct Acker(oneshot::Sender<()>);

impl Acker {
    /// Tells the producer the batch is durable in the next stage.
    pub fn ack(self) {
        // The producer may have stopped waiting (shutdown); nothing to do then.
        let _ = self.0.send(());
    }
}

/// Resolves once the consumer has made a published batch durable.
#[derive(Debug)]
pub struct Acknowledgement(oneshot::Receiver<()>);

impl Acknowledgement {
    /// Waits for the acknowledgement.
    pub async fn wait(self) -> Result<(), BusError> {
        self.0.await.map_err(|_| BusError::NotAcknowledged)
    }
}

/// The producing side; cheap to clone.
#[derive(Debug, Clone)]
pub struct Publisher {
    tx: mpsc::Sender<Batch>,
}

impl Publisher {
    /// Publishes a batch, waiting for room when the bus is full (backpressure). Returns the
    /// acknowledgement to await before moving any checkpoint past these events.
    pub async fn publish(&self, events: Vec<Event>) -> Result<Acknowledgement, BusError> {
        let (ack_tx, ack_rx) = oneshot::channel();
        let batch = Batch {
            events,
            acker: Acker(ack_tx),
        };
        self.tx.send(batch).await.map_err(|_| BusError::Closed)?;
        Ok(Acknowledgement(ack_rx))
    }
}

impl Publisher {
    /// Like [`Publisher::publish`], for code running on a blocking thread (never call it from
    /// an async task).
    pub fn blocking_publish(&self, events: Vec<Event>) -> Result<Acknowledgement, BusError> {
        let (ack_tx, ack_rx) = oneshot::channel();
        let batch = Batch {
            events,
            acker: Acker(ack_tx),
        };
        self.tx.blocking_send(batch).map_err(|_| BusError::Closed)?;
        Ok(Acknowledgement(ack_rx))
    }
}

/// The consuming side.
#[derive(Debug)]
pub struct Subscriber {
    rx: mpsc::Receiver<Batch>,
}

impl Subscriber {
    /// The next batch, or `None` once every publisher is gone and the queue is drained.
    pub async fn next(&mut self) -> Option<Batch> {
        self.rx.recv().await
    }
}

/// Creates an embedded bus holding at most `capacity_batches` batches in flight.
pub fn embedded(capacity_batches: usize) -> (Publisher, Subscriber) {
    let (tx, rx) = mpsc::channel(capacity_batches.max(1));
    (Publisher { tx }, Subscriber { rx })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn acknowledgement_arrives_only_when_acked() {
        let (publisher, mut subscriber) = embedded(2);
        let ack = publisher.publish(Vec::new()).await.unwrap();
        let batch = subscriber.next().await.unwrap();
        let (_, acker) = batch.into_parts();
        acker.ack();
        assert_eq!(ack.wait().await, Ok(()));
    }

    #[tokio::test]
    async fn dropped_batch_is_reported_not_acknowledged() {
        let (publisher, mut subscriber) = embedded(2);
        let ack = publisher.publish(Vec::new()).await.unwrap();
        drop(subscriber.next().await.unwrap());
        assert_eq!(ack.wait().await, Err(BusError::NotAcknowledged));
    }

    #[tokio::test]
    async fn publishing_waits_when_full() {
        let (publisher, mut subscriber) = embedded(1);
        let _first = publisher.publish(Vec::new()).await.unwrap();
        let blocked = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            publisher.publish(Vec::new()),
        )
        .await;
        assert!(blocked.is_err(), "second publish must wait for room");
        subscriber.next().await.unwrap();
        let second = tokio::time::timeout(
            std::time::Duration::from_secs(1),
            publisher.publish(Vec::new()),
        )
        .await;
        assert!(second.is_ok());
    }

    #[tokio::test]
    async fn closed_bus_refuses_batches() {
        let (publisher, subscriber) = embedded(1);
        drop(subscriber);
        assert_eq!(
            publisher.publish(Vec::new()).await.unwrap_err(),
            BusError::Closed
        );
    }
}
