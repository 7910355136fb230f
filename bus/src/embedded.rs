//! The embedded, in-process bus, and the publishing handle shared with the Kafka bus.

use std::sync::Arc;

use kestrel_event::Event;
use tokio::sync::{mpsc, oneshot};

use crate::kafka::{Deliveries, KafkaProducer};

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

/// Resolves once the next stage has made a published batch durable: the indexer committed it
/// (embedded bus) or every in-sync replica holds it (Kafka).
#[derive(Debug)]
pub struct Acknowledgement(AckInner);

#[derive(Debug)]
enum AckInner {
    Embedded(oneshot::Receiver<()>),
    Kafka(Deliveries),
}

impl Acknowledgement {
    /// Waits for the acknowledgement.
    pub async fn wait(self) -> Result<(), BusError> {
        match self.0 {
            AckInner::Embedded(rx) => rx.await.map_err(|_| BusError::NotAcknowledged),
            AckInner::Kafka(deliveries) => match deliveries.delivered().await {
                true => Ok(()),
                false => Err(BusError::NotAcknowledged),
            },
        }
    }
}

/// The producing side; cheap to clone.
#[derive(Debug, Clone)]
pub struct Publisher(PublisherInner);

#[derive(Debug, Clone)]
enum PublisherInner {
    Embedded(mpsc::Sender<Batch>),
    Kafka(Arc<KafkaProducer>),
}

impl Publisher {
    /// A publisher to Kafka.
    pub fn kafka(producer: Arc<KafkaProducer>) -> Publisher {
        Publisher(PublisherInner::Kafka(producer))
    }

    /// Publishes a batch, waiting for room when the bus is full (backpressure). Returns the
    /// acknowledgement to await before moving any checkpoint past these events.
    pub async fn publish(&self, events: Vec<Event>) -> Result<Acknowledgement, BusError> {
        let tx = match &self.0 {
            PublisherInner::Embedded(tx) => tx,
            PublisherInner::Kafka(producer) => {
                let deliveries = producer.send(&events).await;
                return Ok(Acknowledgement(AckInner::Kafka(deliveries)));
            }
        };
        let (ack_tx, ack_rx) = oneshot::channel();
        let batch = Batch {
            events,
            acker: Acker(ack_tx),
        };
        tx.send(batch).await.map_err(|_| BusError::Closed)?;
        Ok(Acknowledgement(AckInner::Embedded(ack_rx)))
    }

    /// Like [`Publisher::publish`], for code running on a blocking thread (never call it from
    /// an async task).
    pub fn blocking_publish(&self, events: Vec<Event>) -> Result<Acknowledgement, BusError> {
        let tx = match &self.0 {
            PublisherInner::Embedded(tx) => tx,
            PublisherInner::Kafka(producer) => {
                let deliveries = producer.blocking_send(&events);
                return Ok(Acknowledgement(AckInner::Kafka(deliveries)));
            }
        };
        let (ack_tx, ack_rx) = oneshot::channel();
        let batch = Batch {
            events,
            acker: Acker(ack_tx),
        };
        tx.blocking_send(batch).map_err(|_| BusError::Closed)?;
        Ok(Acknowledgement(AckInner::Embedded(ack_rx)))
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
    (Publisher(PublisherInner::Embedded(tx)), Subscriber { rx })
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
