//! Creation of the topics at start, with the configured partition count when missing.

use std::time::Duration;

use kestrel_config::KafkaConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use super::{base_config, KafkaBusError};

/// Creates the events topic and the dead-letter topic when they do not exist yet (existing
/// topics are left as they are).
pub async fn ensure_topics(config: &KafkaConfig) -> Result<(), KafkaBusError> {
    let admin: AdminClient<DefaultClientContext> =
        base_config(config)
            .create()
            .map_err(|source| KafkaBusError::Client {
                role: "admin",
                source,
            })?;
    let replication = || TopicReplication::Fixed(config.replication_factor);
    let topics = [
        NewTopic::new(&config.topic, config.partitions, replication()),
        NewTopic::new(&config.dead_letter_topic, config.partitions, replication()),
    ];
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results =
        admin
            .create_topics(&topics, &options)
            .await
            .map_err(|e| KafkaBusError::CreateTopic {
                topic: config.topic.clone(),
                reason: e.to_string(),
            })?;
    for result in results {
        match result {
            Ok(topic) => {
                tracing::info!(%topic, partitions = config.partitions, "kafka topic created")
            }
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(KafkaBusError::CreateTopic {
                    topic,
                    reason: code.to_string(),
                })
            }
        }
    }
    Ok(())
}
