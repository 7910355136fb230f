//! Wiring of the embedded pipeline: bus, indexer loop, collector, query API.

use std::sync::Arc;

use anyhow::Context;
use std::sync::atomic::AtomicBool;

use kestrel_bus::kafka::KafkaProducer;
use kestrel_bus::{DeadLetterStore, Publisher};
use kestrel_collector::normalize::Format;
use kestrel_collector::redact::key::GENERATED_KEY_FILE;
use kestrel_collector::redact::{
    load_key, AllowSettings, KeySource, PatternSettings, Redaction, RedactionSettings, Redactor,
};
use kestrel_config::{BusKind, Config, SourceFormat};
use kestrel_indexer::kafka::{run_kafka_indexer, KafkaIndexerSettings};
use kestrel_indexer::service::{run_indexer, CommitPolicy, IndexingStats};
use kestrel_indexer::{Classifier, Indexer, IndexerOptions, SealSettings};
use kestrel_query::retention::RuleClassifier;
use tokio::task::JoinHandle;

/// A running indexing loop fed by the embedded bus.
pub struct EmbeddedIndexer {
    /// Where collectors publish.
    pub publisher: Publisher,
    /// The loop; completes once every publisher is dropped and the last commit is done.
    pub task: JoinHandle<Result<Indexer, kestrel_indexer::IndexError>>,
    /// Its counters.
    pub stats: Arc<IndexingStats>,
}

/// Opens the index and starts the indexing loop behind an embedded bus.
pub fn start_indexer(config: &Config) -> anyhow::Result<EmbeddedIndexer> {
    if config.bus.kind != BusKind::Embedded {
        anyhow::bail!(
            "bus.kind = \"kafka\": this command indexes in process; use kestrel run, collector or indexer"
        );
    }
    let options = indexer_options(config)?;
    let mut indexer = Indexer::open(config.index_dir(), options)
        .with_context(|| format!("opening index {}", config.index_dir().display()))?;
    if let Some(seal) = seal_settings(config)? {
        indexer = indexer.with_seal(seal).with_context(|| {
            format!("opening the seal chain of {}", config.index_dir().display())
        })?;
    }
    let batch = config.collector.batch_max_events.max(1);
    let (publisher, subscriber) = kestrel_bus::embedded((config.bus.capacity / batch).max(2));
    let stats = Arc::new(IndexingStats::default());
    let policy = commit_policy(config);
    let observer = crate::detection::observer(config)?;
    let task = tokio::spawn(run_indexer(
        indexer,
        subscriber,
        policy,
        Arc::clone(&stats),
        observer,
    ));
    Ok(EmbeddedIndexer {
        publisher,
        task,
        stats,
    })
}

/// Starts an indexer consuming the Kafka events topic, on a blocking thread of its own; it
/// stops (committing its shards) once `stop` is set.
pub fn start_kafka_indexer(
    config: &Config,
    dead_letters: Arc<KafkaProducer>,
    stop: Arc<AtomicBool>,
    stats: Arc<IndexingStats>,
) -> anyhow::Result<JoinHandle<Result<(), kestrel_indexer::IndexError>>> {
    let observer = crate::detection::observer(config)?;
    let settings = KafkaIndexerSettings {
        kafka: config.bus.kafka.clone(),
        index_root: config.index_dir(),
        options: indexer_options(config)?,
        policy: commit_policy(config),
        seal: seal_settings(config)?,
    };
    let runtime = tokio::runtime::Handle::current();
    Ok(tokio::task::spawn_blocking(move || {
        run_kafka_indexer(settings, dead_letters, runtime, stop, stats, observer)
    }))
}

/// The writer options of an indexer: memory, threads, and the retention rules' classifier
/// (events are routed to the partition of their retention class as they are indexed).
pub fn indexer_options(config: &Config) -> anyhow::Result<IndexerOptions> {
    let classify = RuleClassifier::new(&config.retention)?;
    Ok(IndexerOptions {
        writer_memory_bytes: config.indexer.writer_memory_mb << 20,
        writer_threads: writer_threads(config),
        classifier: Some(Classifier::new(classify)),
        ..IndexerOptions::default()
    })
}

/// When to commit, and the retention the indexing loop enforces: the configured lifetimes,
/// the data directory's legal holds, deletions recorded in the audit trail.
pub fn commit_policy(config: &Config) -> CommitPolicy {
    CommitPolicy {
        interval: config.indexer.commit_interval,
        max_events: config.indexer.commit_max_events,
        retention: Some(kestrel_query::retention::enforcement(config)),
    }
}

/// How the indexer seals its partitions (`[seal]`): `None`, with a warning, when no signing
/// key is configured.
pub fn seal_settings(config: &Config) -> anyhow::Result<Option<SealSettings>> {
    let seal = &config.seal;
    if !seal.enabled() {
        tracing::warn!(
            "partitions are not sealed: no signing key (seal.key_file or seal.key_env) is configured"
        );
        return Ok(None);
    }
    let source = kestrel_seal::KeySource {
        file: seal.key_file.clone(),
        env: seal.key_env.clone(),
    };
    let signer = source
        .load("seal.key_file", "seal.key_env")
        .context("seal: the signing key")?;
    tracing::info!(key_id = %signer.id(), grace = ?seal.grace, "partitions sealed in a signed hash chain");
    Ok(Some(SealSettings {
        signer: Arc::new(signer),
        chain: "indexer".to_owned(),
        grace: seal.grace,
        checkpoint_every: seal.checkpoint_interval,
        alerts_dir: Some(config.alerts_dir()),
    }))
}

/// Indexing threads per writer: the configured number, or the cores (at most 4) when 0.
pub fn writer_threads(config: &Config) -> usize {
    match config.indexer.writer_threads {
        0 => std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(4),
        n => n,
    }
}

/// Opens the dead-letter store of the data directory.
pub fn dead_letter_store(config: &Config) -> anyhow::Result<DeadLetterStore> {
    DeadLetterStore::open(config.dead_letter_dir())
        .with_context(|| format!("opening {}", config.dead_letter_dir().display()))
}

/// The collector's redaction (`collector.redaction`): its key read, or created in the data
/// directory on first start, and its patterns compiled.
pub fn redaction(config: &Config) -> anyhow::Result<Redaction> {
    let settings = &config.collector.redaction;
    if !settings.enabled {
        tracing::warn!("collector.redaction.enabled = false: secrets are stored as collected");
        return Ok(Redaction::disabled());
    }
    let source = match (&settings.key_env, &settings.key_file) {
        (Some(name), _) => KeySource::Env(name.clone()),
        (None, Some(path)) => KeySource::File(path.clone()),
        (None, None) => KeySource::Generated(config.data_dir.join(GENERATED_KEY_FILE)),
    };
    let key = load_key(&source).context("collector.redaction: the marker key")?;
    tracing::info!(
        key = ?source,
        patterns = settings.patterns.len(),
        allow_lists = settings.allow.len(),
        "secrets redacted before publishing"
    );
    let redactor = Redactor::new(&RedactionSettings {
        key,
        patterns: settings
            .patterns
            .iter()
            .map(|p| PatternSettings {
                name: p.name.clone(),
                regex: p.regex.clone(),
            })
            .collect(),
        allow: settings
            .allow
            .iter()
            .map(|(source, list)| {
                let list = AllowSettings {
                    values: list.values.clone(),
                    patterns: list.patterns.clone(),
                };
                (source.clone(), list)
            })
            .collect(),
    })?;
    Ok(Redaction::new(redactor))
}

/// The normalizer format of a configured source format.
pub fn format_of(format: SourceFormat) -> Format {
    match format {
        SourceFormat::Auto => Format::Auto,
        SourceFormat::Docker => Format::Docker,
        SourceFormat::Cri => Format::Cri,
        SourceFormat::K8sAudit => Format::K8sAudit,
    }
}

/// Builds the multi-threaded runtime of the long-running commands.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("kestrel")
        .build()
        .context("starting the async runtime")
}
