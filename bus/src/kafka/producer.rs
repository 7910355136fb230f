//! The producer collectors publish events with.

use std::time::Duration;

use kestrel_config::KafkaConfig;
use kestrel_event::Event;
use rdkafka::error::KafkaError;
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;

use super::{producer_config, stream_key, KafkaBusError};

/// How long to wait before retrying when the producer's local queue is full.
const QUEUE_FULL_PAUSE: Duration = Duration::from_millis(5);

/// An idempotent producer of events, keyed by stream so each stream stays ordered.
pub struct KafkaProducer {
    producer: FutureProducer,
    topic: String,
}

impl std::fmt::Debug for KafkaProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaProducer")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl KafkaProducer {
    /// A producer for the configured events topic.
    pub fn new(config: &KafkaConfig) -> Result<KafkaProducer, KafkaBusError> {
        let producer =
            producer_config(config)
                .create()
                .map_err(|source| KafkaBusError::Client {
                    role: "producer",
                    source,
                })?;
        Ok(KafkaProducer {
            producer,
            topic: config.topic.clone(),
        })
    }

    /// The events topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Enqueues every event, waiting while the local queue is full (backpressure: nothing is
    /// dropped). Returns one delivery report per event.
    pub async fn send(&self, events: &[Event]) -> Deliveries {
        let mut deliveries = Deliveries::with_capacity(events.len());
        for event in events {
            let payload = event.to_json();
            while !deliveries.record(self.try_enqueue(event, &payload)) {
                tokio::time::sleep(QUEUE_FULL_PAUSE).await;
            }
        }
        deliveries
    }

    /// Like [`KafkaProducer::send`], from a blocking thread.
    pub fn blocking_send(&self, events: &[Event]) -> Deliveries {
        let mut deliveries = Deliveries::with_capacity(events.len());
        for event in events {
            let payload = event.to_json();
            while !deliveries.record(self.try_enqueue(event, &payload)) {
                std::thread::sleep(QUEUE_FULL_PAUSE);
            }
        }
        deliveries
    }

    fn try_enqueue(&self, event: &Event, payload: &str) -> Enqueued {
        let record = FutureRecord::to(&self.topic)
            .key(stream_key(event))
            .payload(payload);
        match self.producer.send_result(record) {
            Ok(delivery) => Enqueued::Queued(delivery),
            Err((e, _)) if is_queue_full(&e) => Enqueued::QueueFull,
            Err((e, _)) => {
                // Only a full queue is transient; anything else (message too large for the
                // broker settings) is reported through the acknowledgement.
                tracing::error!(error = %e, topic = %self.topic, "kafka enqueue failed");
                Enqueued::Failed
            }
        }
    }

    /// Sends raw bytes (with optional headers) to `topic` and waits until the brokers acknowledged them.
    pub async fn send_raw(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        payload: &[u8],
        headers: Option<OwnedHeaders>,
    ) -> Result<(), KafkaBusError> {
        let mut record = FutureRecord::<[u8], [u8]>::to(topic).payload(payload);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(headers) = headers {
            record = record.headers(headers);
        }
        self.producer
            .send(record, rdkafka::util::Timeout::Never)
            .await
            .map(|_| ())
            .map_err(|(source, _)| KafkaBusError::Delivery {
                topic: topic.to_owned(),
                source,
            })
    }

    /// Waits up to `timeout` for every queued message to be delivered.
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaBusError> {
        self.producer
            .flush(timeout)
            .map_err(|source| KafkaBusError::Delivery {
                topic: self.topic.clone(),
                source,
            })
    }
}

impl Drop for KafkaProducer {
    fn drop(&mut self) {
        if let Err(error) = self.producer.flush(Duration::from_secs(10)) {
            tracing::warn!(%error, "kafka producer closed with undelivered messages");
        }
    }
}

fn is_queue_full(e: &KafkaError) -> bool {
    matches!(
        e,
        KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)
    )
}

/// The delivery reports of one published batch.
pub struct Deliveries {
    pending: Vec<DeliveryFuture>,
    failed: bool,
}

impl std::fmt::Debug for Deliveries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliveries")
            .field("pending", &self.pending.len())
            .field("failed", &self.failed)
            .finish()
    }
}

/// What one enqueue attempt gave.
enum Enqueued {
    Queued(DeliveryFuture),
    QueueFull,
    Failed,
}

impl Deliveries {
    /// Records an attempt; false when the queue was full and the event must be tried again.
    fn record(&mut self, attempt: Enqueued) -> bool {
        match attempt {
            Enqueued::Queued(delivery) => self.pending.push(delivery),
            Enqueued::Failed => self.failed = true,
            Enqueued::QueueFull => return false,
        }
        true
    }

    fn with_capacity(n: usize) -> Deliveries {
        Deliveries {
            pending: Vec::with_capacity(n),
            failed: false,
        }
    }

    /// Waits for every report; true only if the brokers acknowledged every event.
    pub async fn delivered(self) -> bool {
        if self.failed {
            return false;
        }
        let mut delivered = true;
        for delivery in self.pending {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((error, _))) => {
                    tracing::error!(%error, "kafka delivery failed");
                    delivered = false;
                }
                Err(_canceled) => delivered = false,
            }
        }
        delivered
    }
}
