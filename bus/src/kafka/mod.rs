//! The Kafka bus: client settings, topic creation and the producer the collectors publish with.
//!
//! The consuming side lives with the indexer (it must store Kafka offsets in the index's own
//! commits); this module gives it [`consumer_config`].

mod producer;
mod topics;

pub use producer::{Deliveries, KafkaProducer};
pub use topics::ensure_topics;

use kestrel_config::KafkaConfig;
use rdkafka::ClientConfig;

/// Errors of the Kafka bus.
#[derive(Debug, thiserror::Error)]
pub enum KafkaBusError {
    /// A client could not be created from the configuration.
    #[error("bus.kafka: cannot create the {role} client: {source}")]
    Client {
        /// Which client (producer, consumer, admin).
        role: &'static str,
        /// The librdkafka error.
        source: rdkafka::error::KafkaError,
    },
    /// A topic could not be created.
    #[error("bus.kafka: cannot create topic {topic:?}: {reason}")]
    CreateTopic {
        /// The topic.
        topic: String,
        /// What the broker answered.
        reason: String,
    },
    /// A message could not be delivered.
    #[error("bus.kafka: delivery to {topic:?} failed: {source}")]
    Delivery {
        /// The topic.
        topic: String,
        /// The librdkafka error.
        source: rdkafka::error::KafkaError,
    },
}

/// Settings shared by every client: the brokers and the pass-through properties (SASL, SSL...).
pub fn base_config(config: &KafkaConfig) -> ClientConfig {
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", &config.brokers);
    for (key, value) in &config.properties {
        client.set(key, value);
    }
    client
}

/// Producer settings: idempotent, every in-sync replica acknowledges, lz4 batches, and no
/// delivery timeout (an outage makes publishing wait; it never drops an event).
pub fn producer_config(config: &KafkaConfig) -> ClientConfig {
    let mut client = ClientConfig::new();
    client
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.type", "lz4")
        .set("message.timeout.ms", "0")
        .set("linger.ms", "20")
        .set("batch.size", "1000000")
        .set("queue.buffering.max.kbytes", "65536");
    // User properties come last, so they can override the defaults above.
    for (key, value) in base_config(config).config_map() {
        client.set(key, value);
    }
    client
}

/// Consumer settings of an indexer: the group, offsets managed by the indexer (never
/// auto-committed or auto-stored), statistics every 5 s for the lag metrics.
pub fn consumer_config(config: &KafkaConfig) -> ClientConfig {
    let mut client = ClientConfig::new();
    client
        .set("group.id", &config.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .set("statistics.interval.ms", "5000")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000");
    for (key, value) in base_config(config).config_map() {
        client.set(key, value);
    }
    client
}

/// The key that keeps one stream's events in one partition, in order: the container, else
/// the file, else the event kind.
pub fn stream_key(event: &kestrel_event::Event) -> &str {
    if let Some(id) = event.container.as_ref().and_then(|c| c.id.as_deref()) {
        return id;
    }
    if let Some(log) = event.log.as_ref().filter(|l| !l.file.path.is_empty()) {
        return &log.file.path;
    }
    event.kind().as_str()
}
