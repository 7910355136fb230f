//! The Kafka consumer of an indexer: a member of the indexers' consumer group that indexes
//! each assigned partition into its own shard and records the offsets in the shard's commits.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use kestrel_bus::kafka::{consumer_config, KafkaProducer};
use kestrel_bus::rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use kestrel_bus::rdkafka::message::{BorrowedMessage, Header, OwnedHeaders};
use kestrel_bus::rdkafka::statistics::Statistics;
use kestrel_bus::rdkafka::types::RDKafkaRespErr;
use kestrel_bus::rdkafka::{ClientContext, Message, Offset, TopicPartitionList};
use kestrel_config::KafkaConfig;
use kestrel_event::Event;

use super::root_seal::RootSealer;
use super::shard::{shard_root, Absorbed, Shard};
use crate::error::IndexError;
use crate::sealing::SealSettings;
use crate::service::{with_observer, CommitPolicy, IndexingStats, Retention, SharedObserver};
use crate::writer::IndexerOptions;

/// Seals the index root's partitions when this indexer holds the root's chain. A failure
/// there (the root is shared with the query processes) is logged, not fatal to indexing.
fn seal_root(sealer: Option<&mut RootSealer>) {
    let Some(sealer) = sealer else {
        return;
    };
    if let Err(error) = sealer.seal_due(chrono::Utc::now()) {
        tracing::warn!(%error, "cannot seal the index root's partitions, will retry");
    }
}

/// How long one poll of the consumer waits for a message.
const POLL: Duration = Duration::from_millis(100);

/// What a Kafka-fed indexer needs.
#[derive(Debug, Clone)]
pub struct KafkaIndexerSettings {
    /// Brokers, topics, group and client properties.
    pub kafka: KafkaConfig,
    /// The index root; shards go under `<root>/shards/`.
    pub index_root: PathBuf,
    /// Writer tuning of every shard.
    pub options: IndexerOptions,
    /// When shards commit, and retention.
    pub policy: CommitPolicy,
    /// How each shard seals its tree (its own chain); `None` without a signing key.
    pub seal: Option<SealSettings>,
}

/// Consumes the events topic until `stop` is set, then commits every shard and leaves the
/// group. Blocking: run it on a thread of its own (`spawn_blocking`). Poison messages (not
/// an event) are copied to the dead-letter topic through `dead_letters`, using `runtime` to
/// wait for their delivery.
pub fn run_kafka_indexer(
    settings: KafkaIndexerSettings,
    dead_letters: Arc<KafkaProducer>,
    runtime: tokio::runtime::Handle,
    stop: Arc<AtomicBool>,
    stats: Arc<IndexingStats>,
    observer: Option<SharedObserver>,
) -> Result<(), IndexError> {
    let shards = Arc::new(Mutex::new(Shards {
        open: HashMap::new(),
        settings: settings.clone(),
        stats: Arc::clone(&stats),
        observer: observer.clone(),
        failure: None,
    }));
    let context = IndexerContext {
        shards: Arc::clone(&shards),
        topic: settings.kafka.topic.clone(),
    };
    let consumer: BaseConsumer<IndexerContext> = consumer_config(&settings.kafka)
        .create_with_context(context)
        .map_err(|e| kafka_error("creating the consumer", e))?;
    consumer
        .subscribe(&[&settings.kafka.topic])
        .map_err(|e| kafka_error("subscribing", e))?;
    tracing::info!(topic = %settings.kafka.topic, group = %settings.kafka.group_id, "kafka indexer started");
    let poison = PoisonHandler {
        producer: dead_letters,
        runtime,
        topic: settings.kafka.dead_letter_topic.clone(),
    };
    let mut retention_checked = Instant::now() - Duration::from_secs(3600);
    let mut seal_checked = Instant::now() - Duration::from_secs(3600);
    let mut root_sealer = settings
        .seal
        .clone()
        .map(|seal| RootSealer::new(settings.index_root.clone(), seal));
    while !stop.load(Ordering::Relaxed) {
        if let Some(failure) = lock(&shards).failure.take() {
            return Err(failure);
        }
        match consumer.poll(POLL) {
            Some(Ok(message)) => handle_message(&shards, &message, &poison, &stats)?,
            Some(Err(error)) => tracing::warn!(%error, "kafka consumer error"),
            None => {}
        }
        let committed = lock(&shards).commit_due(&stats)?;
        commit_offsets(
            &consumer,
            &settings.kafka.topic,
            &committed,
            CommitMode::Async,
        );
        if let Some(retention) = settings.policy.retention.as_ref() {
            if retention_checked.elapsed() >= Duration::from_secs(60) {
                retention_checked = Instant::now();
                lock(&shards).apply_retention(retention)?;
            }
        }
        if settings.seal.is_some() && seal_checked.elapsed() >= Duration::from_secs(60) {
            seal_checked = Instant::now();
            lock(&shards).seal_due()?;
            seal_root(root_sealer.as_mut());
        }
    }
    let committed = lock(&shards).commit_all(&stats)?;
    if settings.seal.is_some() {
        lock(&shards).seal_due()?;
        seal_root(root_sealer.as_mut());
    }
    commit_offsets(
        &consumer,
        &settings.kafka.topic,
        &committed,
        CommitMode::Sync,
    );
    consumer.unsubscribe();
    lock(&shards).open.clear();
    tracing::info!("kafka indexer stopped");
    Ok(())
}

fn handle_message(
    shards: &Mutex<Shards>,
    message: &BorrowedMessage<'_>,
    poison: &PoisonHandler,
    stats: &IndexingStats,
) -> Result<(), IndexError> {
    let mut shards = lock(shards);
    let observer = shards.observer.clone();
    let Some(shard) = shards.open.get_mut(&message.partition()) else {
        // A message of a partition revoked since it was fetched: its new owner reads it.
        return Ok(());
    };
    let payload = message.payload();
    let event = payload.map(|bytes| Event::from_json(bytes).map(|e| (e, bytes)));
    match event {
        Some(Ok((event, bytes))) => {
            // Event::from_json accepted it, so it is UTF-8 JSON.
            let source = std::str::from_utf8(bytes).unwrap_or_default();
            let added = |value: &serde_json::Value| {
                with_observer(observer.as_ref(), |o| o.added(&event, value));
            };
            match shard.absorb(message.offset(), &event, source, added)? {
                Absorbed::Added => stats.record_added(),
                Absorbed::Duplicate => stats.record_duplicate(),
                Absorbed::Behind => {}
            }
            Ok(())
        }
        Some(Err(error)) => {
            if shard.skip(message.offset()) {
                poison.send(message, &error.to_string())?;
                stats.record_dead_letter();
            }
            Ok(())
        }
        None => {
            if shard.skip(message.offset()) {
                poison.send(message, "message without payload")?;
                stats.record_dead_letter();
            }
            Ok(())
        }
    }
}

/// Copies messages that are not events to the dead-letter topic, with where they came from
/// and why they were refused as headers.
struct PoisonHandler {
    producer: Arc<KafkaProducer>,
    runtime: tokio::runtime::Handle,
    topic: String,
}

impl PoisonHandler {
    fn send(&self, message: &BorrowedMessage<'_>, reason: &str) -> Result<(), IndexError> {
        let source = format!(
            "{}/{}/{}",
            message.topic(),
            message.partition(),
            message.offset()
        );
        tracing::warn!(%source, %reason, "message is not an event; sent to the dead-letter topic");
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "kestrel.source",
                value: Some(source.as_str()),
            })
            .insert(Header {
                key: "kestrel.error",
                value: Some(reason),
            });
        let payload = message.payload().unwrap_or_default();
        self.runtime
            .block_on(
                self.producer
                    .send_raw(&self.topic, message.key(), payload, Some(headers)),
            )
            .map_err(|e| IndexError::Io {
                path: self.topic.clone().into(),
                source: std::io::Error::other(e.to_string()),
            })
    }
}

/// The shards this indexer owns, shared between the poll loop and the rebalance callback
/// (which runs inside `poll`, on the same thread, so the lock is never contended).
struct Shards {
    open: HashMap<i32, Shard>,
    settings: KafkaIndexerSettings,
    stats: Arc<IndexingStats>,
    observer: Option<SharedObserver>,
    /// An error raised in a callback, returned by the loop.
    failure: Option<IndexError>,
}

impl Shards {
    fn assign(&mut self, partition: i32) -> Result<Option<i64>, IndexError> {
        if let Some(shard) = self.open.get(&partition) {
            return Ok(shard.resume_offset());
        }
        let root = shard_root(
            &self.settings.index_root,
            &self.settings.kafka.topic,
            partition,
        );
        let shard = Shard::open(
            root,
            partition,
            self.settings.options.clone(),
            self.settings.seal.clone(),
        )?;
        let offset = shard.resume_offset();
        tracing::info!(partition, resume_offset = ?offset, "kafka partition assigned");
        self.open.insert(partition, shard);
        Ok(offset)
    }

    /// Commits and closes the shards of revoked partitions.
    fn revoke(
        &mut self,
        partitions: &[i32],
        stats: &IndexingStats,
    ) -> Result<Vec<(i32, i64)>, IndexError> {
        let mut committed = Vec::new();
        for partition in partitions {
            if let Some(mut shard) = self.open.remove(partition) {
                let started = Instant::now();
                if let Some((end, _)) = shard.commit()? {
                    stats.record_commit(started.elapsed());
                    committed.push((*partition, end));
                }
                tracing::info!(partition, "kafka partition revoked");
            }
        }
        Ok(committed)
    }

    fn commit_due(&mut self, stats: &IndexingStats) -> Result<Vec<(i32, i64)>, IndexError> {
        let (max_events, interval) = (
            self.settings.policy.max_events,
            self.settings.policy.interval,
        );
        self.commit_where(stats, |shard| shard.commit_due(max_events, interval))
    }

    fn commit_all(&mut self, stats: &IndexingStats) -> Result<Vec<(i32, i64)>, IndexError> {
        self.commit_where(stats, |shard| shard.uncommitted() > 0)
    }

    fn commit_where(
        &mut self,
        stats: &IndexingStats,
        due: impl Fn(&Shard) -> bool,
    ) -> Result<Vec<(i32, i64)>, IndexError> {
        let mut committed = Vec::new();
        let observer = self.observer.clone();
        for shard in self.open.values_mut().filter(|s| due(s)) {
            let started = Instant::now();
            if let Some((end, commit)) = shard.commit()? {
                stats.record_commit(started.elapsed());
                tracing::debug!(
                    partition = shard.partition(),
                    offset = end,
                    events = commit.events,
                    millis = started.elapsed().as_millis() as u64,
                    "shard committed"
                );
                committed.push((shard.partition(), end));
            }
        }
        if !committed.is_empty() {
            with_observer(observer.as_ref(), |o| o.committed());
        }
        Ok(committed)
    }

    fn seal_due(&mut self) -> Result<(), IndexError> {
        let now = chrono::Utc::now();
        self.open
            .values_mut()
            .try_for_each(|shard| shard.seal_due(now))
    }

    fn apply_retention(&mut self, retention: &Retention) -> Result<(), IndexError> {
        self.open
            .values_mut()
            .try_for_each(|shard| shard.apply_retention(retention))
    }
}

/// Reports what the indexes hold to Kafka's committed offsets, which serve lag monitoring
/// only (consumption resumes from the offsets in the indexes).
fn commit_offsets<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    committed: &[(i32, i64)],
    mode: CommitMode,
) {
    if committed.is_empty() {
        return;
    }
    let mut list = TopicPartitionList::new();
    for (partition, offset) in committed {
        if let Err(error) = list.add_partition_offset(topic, *partition, Offset::Offset(*offset)) {
            tracing::warn!(%error, partition, "invalid offset");
        }
    }
    if let Err(error) = consumer.commit(&list, mode) {
        tracing::debug!(%error, "kafka offset commit failed (lag monitoring only)");
    }
}

struct IndexerContext {
    shards: Arc<Mutex<Shards>>,
    topic: String,
}

impl ClientContext for IndexerContext {
    fn stats(&self, statistics: Statistics) {
        let Some(topic) = statistics.topics.get(&self.topic) else {
            return;
        };
        for (partition, figures) in &topic.partitions {
            if figures.partition < 0 || figures.consumer_lag < 0 {
                continue;
            }
            metrics::gauge!("kestrel_indexer_consumer_lag", "topic" => self.topic.clone(), "partition" => partition.to_string())
                .set(figures.consumer_lag as f64);
        }
    }
}

impl ConsumerContext for IndexerContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        partitions: &mut TopicPartitionList,
    ) {
        let assigned: Vec<i32> = partitions
            .elements_for_topic(&self.topic)
            .iter()
            .map(|e| e.partition())
            .collect();
        let mut shards = lock(&self.shards);
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                for partition in assigned {
                    match shards.assign(partition) {
                        Ok(Some(offset)) => {
                            if let Err(error) = partitions.set_partition_offset(
                                &self.topic,
                                partition,
                                Offset::Offset(offset),
                            ) {
                                tracing::error!(%error, partition, "cannot set the start offset");
                            }
                        }
                        Ok(None) => {}
                        Err(error) => {
                            tracing::error!(%error, partition, "cannot open the partition's shard");
                            shards.failure.get_or_insert(error);
                        }
                    }
                }
                if let Err(error) = consumer.assign(partitions) {
                    tracing::error!(%error, "kafka assignment failed");
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let stats = Arc::clone(&shards.stats);
                match shards.revoke(&assigned, &stats) {
                    Ok(committed) => {
                        commit_offsets(consumer, &self.topic, &committed, CommitMode::Sync)
                    }
                    Err(error) => {
                        tracing::error!(%error, "commit on revocation failed");
                        shards.failure.get_or_insert(error);
                    }
                }
                if let Err(error) = consumer.unassign() {
                    tracing::error!(%error, "kafka unassignment failed");
                }
            }
            other => {
                tracing::error!(error = ?other, "kafka rebalance error");
                if let Err(error) = consumer.unassign() {
                    tracing::error!(%error, "kafka unassignment failed");
                }
            }
        }
    }
}

fn lock(shards: &Mutex<Shards>) -> MutexGuard<'_, Shards> {
    // A poisoned lock means the loop panicked; the process is going down anyway.
    shards.lock().unwrap_or_else(|p| p.into_inner())
}

fn kafka_error(what: &str, error: kestrel_bus::rdkafka::error::KafkaError) -> IndexError {
    IndexError::Io {
        path: format!("kafka: {what}").into(),
        source: std::io::Error::other(error.to_string()),
    }
}
