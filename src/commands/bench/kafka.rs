//! The Kafka phase: the data set from files through the collector's normalizers, an idempotent
//! producer and a Kafka broker to an indexer of the consumer group, until every event is
//! committed in the index.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kestrel_bus::kafka::{ensure_topics, KafkaProducer};
use kestrel_bus::Publisher;
use kestrel_collector::ingest::ingest_files;
use kestrel_config::{BusKind, Config};
use kestrel_indexer::service::IndexingStats;
use serde::Serialize;

use super::measure::{dir_bytes, measure};
use super::phases::{ingest_options, progress, Throughput};
use super::DataSet;
use crate::pipeline::{dead_letter_store, runtime, start_kafka_indexer};

/// The pipeline through Kafka.
#[derive(Debug, Clone, Serialize)]
pub struct KafkaIngest {
    /// The brokers.
    pub brokers: String,
    /// Partitions of the events topic.
    pub partitions: i32,
    /// Throughput from files to committed index.
    pub throughput: Throughput,
    /// Index bytes per raw input byte.
    pub index_bytes_per_raw_byte: f64,
}

/// Runs the data set through Kafka (`brokers`) into a fresh data directory `dir`, on a topic
/// of its own.
pub fn kafka_ingest(
    config: &Config,
    brokers: &str,
    data: &DataSet,
    dir: &Path,
) -> anyhow::Result<KafkaIngest> {
    let _ = std::fs::remove_dir_all(dir);
    let mut config = config.clone().with_data_dir(dir.to_owned());
    let run_id = format!(
        "{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    );
    config.bus.kind = BusKind::Kafka;
    config.bus.kafka.brokers = brokers.to_owned();
    config.bus.kafka.topic = format!("kestrel-bench-{run_id}");
    config.bus.kafka.dead_letter_topic = format!("kestrel-bench-dead-{run_id}");
    config.bus.kafka.group_id = format!("kestrel-bench-{run_id}");
    eprintln!(
        "kafka: the whole pipeline through {brokers}, topic {} ({} partitions)",
        config.bus.kafka.topic, config.bus.kafka.partitions
    );
    let files = data.files.clone();
    let events = data.events;
    let (outcome, cost) = measure(|| -> anyhow::Result<(u64, u64)> {
        runtime()?.block_on(async {
            ensure_topics(&config.bus.kafka).await?;
            let producer = Arc::new(KafkaProducer::new(&config.bus.kafka)?);
            let stop = Arc::new(AtomicBool::new(false));
            let stats = Arc::new(IndexingStats::default());
            let indexer = start_kafka_indexer(
                &config,
                Arc::clone(&producer),
                Arc::clone(&stop),
                Arc::clone(&stats),
            )?;
            let bar = progress("kafka", events, "events");
            let summary = ingest_files(
                files,
                ingest_options(),
                Publisher::kafka(producer),
                dead_letter_store(&config)?,
            )
            .await?;
            // Every event is in Kafka; wait until the indexer has absorbed them all.
            while stats.added() + stats.duplicates() < summary.events && !indexer.is_finished() {
                bar.set_position(stats.added());
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            stop.store(true, Ordering::Relaxed);
            indexer.await??;
            bar.finish_and_clear();
            Ok((summary.bytes, stats.added()))
        })
    });
    let (bytes, added) = outcome?;
    if added != events {
        anyhow::bail!("kafka: {added} events indexed out of {events}");
    }
    Ok(KafkaIngest {
        brokers: brokers.to_owned(),
        partitions: config.bus.kafka.partitions,
        throughput: Throughput::new(added, bytes, cost),
        index_bytes_per_raw_byte: dir_bytes(&config.index_dir()) as f64 / data.bytes.max(1) as f64,
    })
}
