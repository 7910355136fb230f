//! `kestrel run` (collector, bus, indexer and query API in one process) and the commands that
//! run one role: `kestrel collector`, `kestrel indexer`, `kestrel query`.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use kestrel_collector::discovery::docker::{DockerOptions, DockerSource};
use kestrel_collector::enrich::Enricher;
use kestrel_collector::tail::{run_tailer, DiscoveredSource, TailOptions, TailSource, TailStats};
use kestrel_config::{Config, ReadFrom};
use kestrel_query::aggregate::AggregationLimits;
use kestrel_query::api::{router, ApiSettings, MetricsRenderer};
use kestrel_query::SearchEngine;
use tokio::sync::watch;

use kestrel_bus::kafka::KafkaProducer;
use kestrel_bus::Publisher;
use kestrel_config::BusKind;

use crate::pipeline::{dead_letter_store, format_of, runtime, start_indexer, start_kafka_indexer};

/// The roles a process takes (each also subject to its `enabled` setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    collector: bool,
    indexer: bool,
    query: bool,
}

impl Roles {
    /// Everything in one process.
    pub const ALL: Roles = Roles {
        collector: true,
        indexer: true,
        query: true,
    };
    /// The collector alone.
    pub const COLLECTOR: Roles = Roles {
        collector: true,
        indexer: false,
        query: false,
    };
    /// An indexer alone.
    pub const INDEXER: Roles = Roles {
        collector: false,
        indexer: true,
        query: false,
    };
    /// The query API alone.
    pub const QUERY: Roles = Roles {
        collector: false,
        indexer: false,
        query: true,
    };
}

/// Runs until SIGINT or SIGTERM; then stops reading, commits what was read, persists
/// checkpoints and exits.
pub fn run(config: Config, roles: Roles) -> anyhow::Result<ExitCode> {
    if config.bus.kind == BusKind::Embedded && roles != Roles::ALL && roles != Roles::QUERY {
        anyhow::bail!(
            "bus.kind = \"embedded\" runs collector and indexer in one process (kestrel run); \
             set bus.kind = \"kafka\" to run them apart"
        );
    }
    runtime()?.block_on(async move {
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let metrics = crate::telemetry::install_metrics(config.metrics.listen)?;
        let api = if roles.query && config.query.enabled {
            Some(tokio::spawn(serve_api(
                config.clone(),
                metrics,
                shutdown_rx.clone(),
            )))
        } else {
            None
        };
        let pipeline = match (roles.collector || roles.indexer, config.bus.kind) {
            (false, _) => None,
            (true, BusKind::Embedded) => Some(start_pipeline(&config)?),
            (true, BusKind::Kafka) => Some(start_kafka_pipeline(&config, roles).await?),
        };
        let delivery_stop = Arc::new(AtomicBool::new(false));
        let delivery = if roles.indexer && config.detection.rules.is_some() {
            crate::detection::start_delivery(&config, Arc::clone(&delivery_stop))?
        } else {
            None
        };
        wait_for_signal().await;
        tracing::info!("shutting down");
        let _ = shutdown_tx.send(true);
        if let Some(pipeline) = pipeline {
            pipeline.stop.store(true, Ordering::Relaxed);
            if let Some(tailer) = pipeline.tailer {
                tailer.await.context("collector task")??;
            }
            if let Some(indexer) = pipeline.indexer {
                indexer.await.context("indexer task")??;
            }
        }
        if let Some(api) = api {
            api.await.context("api task")??;
        }
        delivery_stop.store(true, Ordering::Relaxed);
        if let Some(delivery) = delivery {
            let _ = tokio::task::spawn_blocking(move || delivery.join()).await;
        }
        Ok(ExitCode::SUCCESS)
    })
}

struct RunningPipeline {
    stop: Arc<AtomicBool>,
    tailer: Option<tokio::task::JoinHandle<Result<(), kestrel_collector::CollectError>>>,
    indexer: Option<tokio::task::JoinHandle<Result<(), kestrel_indexer::IndexError>>>,
}

/// Collector publishing to Kafka and/or an indexer consuming from it, per `roles`.
async fn start_kafka_pipeline(config: &Config, roles: Roles) -> anyhow::Result<RunningPipeline> {
    kestrel_bus::kafka::ensure_topics(&config.bus.kafka).await?;
    let producer = Arc::new(KafkaProducer::new(&config.bus.kafka)?);
    let stop = Arc::new(AtomicBool::new(false));
    let indexer = if roles.indexer && config.indexer.enabled {
        Some(start_kafka_indexer(
            config,
            Arc::clone(&producer),
            Arc::clone(&stop),
            Arc::new(kestrel_indexer::service::IndexingStats::default()),
        )?)
    } else {
        None
    };
    let tailer = if roles.collector && config.collector.enabled {
        Some(start_tailer(
            config,
            Publisher::kafka(producer),
            Arc::clone(&stop),
        )?)
    } else {
        None
    };
    Ok(RunningPipeline {
        stop,
        tailer,
        indexer,
    })
}

fn start_pipeline(config: &Config) -> anyhow::Result<RunningPipeline> {
    let indexer = start_indexer(config)?;
    let stop = Arc::new(AtomicBool::new(false));
    let tailer = if config.collector.enabled {
        Some(start_tailer(config, indexer.publisher, Arc::clone(&stop))?)
    } else {
        drop(indexer.publisher);
        None
    };
    let task = indexer.task;
    let indexer = tokio::spawn(async move { task.await.map_err(join_error)?.map(|_| ()) });
    Ok(RunningPipeline {
        stop,
        tailer,
        indexer: Some(indexer),
    })
}

type TailerTask = tokio::task::JoinHandle<Result<(), kestrel_collector::CollectError>>;

/// Longest wait, at start, for the Docker API's first listing of the containers, so that the
/// lines read first are enriched too; past it (or once the API is found unreachable) the
/// tailer starts anyway.
const DOCKER_FIRST_LISTING_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Starts the tailer (and the Docker API watcher when `collector.docker.enabled`; call from
/// within the runtime).
fn start_tailer(
    config: &Config,
    publisher: Publisher,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<TailerTask> {
    let docker = config.collector.docker.enabled.then(|| {
        DockerSource::start(DockerOptions {
            host: config.collector.docker.host.clone(),
            deleted_grace: config.collector.docker.deleted_grace,
        })
    });
    let options = tail_options(config, docker.as_ref())?;
    let dead_letters = dead_letter_store(config)?;
    tracing::info!(
        sources = options.sources.len(),
        docker = docker.is_some(),
        "collector started"
    );
    Ok(tokio::spawn(async move {
        if let Some(docker) = &docker {
            if !docker.first_attempt(DOCKER_FIRST_LISTING_WAIT).await {
                tracing::warn!("docker api did not answer in time, tailing without it for now");
            }
        }
        let result = run_tailer(
            options,
            publisher,
            dead_letters,
            stop,
            Arc::new(TailStats::default()),
        )
        .await;
        // The watcher stops with the tailer.
        drop(docker);
        result
    }))
}

fn join_error(e: tokio::task::JoinError) -> kestrel_indexer::IndexError {
    kestrel_indexer::IndexError::Io {
        path: "indexer task".into(),
        source: std::io::Error::other(e.to_string()),
    }
}

fn tail_options(config: &Config, docker: Option<&DockerSource>) -> anyhow::Result<TailOptions> {
    let sources = config
        .collector
        .sources
        .iter()
        .map(|source| {
            let exclude = source
                .exclude
                .iter()
                .map(|p| glob::Pattern::new(p).with_context(|| format!("exclude pattern {p:?}")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            Ok(TailSource {
                patterns: source.paths.clone(),
                exclude,
                format: format_of(source.format),
                start_at_end: source.read_from == ReadFrom::End,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(TailOptions {
        sources,
        poll_interval: config.collector.poll_interval,
        batch_max_events: config.collector.batch_max_events,
        host_name: config.host_name(),
        checkpoint_path: config.checkpoint_dir().join("files.json"),
        partial_flush_timeout: config.collector.partial_flush_timeout,
        max_event_bytes: config.collector.max_event_bytes,
        enrichers: docker
            .map(|d| Arc::clone(&d.enricher) as Arc<dyn Enricher>)
            .into_iter()
            .collect(),
        // Every container's json-file log, wherever the daemon keeps it.
        discovered: docker.map(|d| DiscoveredSource {
            paths: Arc::clone(&d.paths),
            source: TailSource {
                patterns: Vec::new(),
                exclude: Vec::new(),
                format: kestrel_collector::Format::Docker,
                start_at_end: false,
            },
        }),
    })
}

async fn serve_api(
    config: Config,
    metrics: MetricsRenderer,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let limits = AggregationLimits {
        memory_limit_bytes: (config.query.aggregation_memory_mb as u64) << 20,
        ..AggregationLimits::default()
    };
    let engine = SearchEngine::with_aggregation_limits(config.index_dir(), limits);
    let settings = ApiSettings {
        default_limit: config.query.default_limit,
        max_limit: config.query.max_limit,
        tokens: config.query.auth.tokens.clone(),
        metrics: Some(metrics),
        alerts: kestrel_detect::AlertStore::open(&config.alerts_dir()).ok(),
    };
    let app = router(engine, settings);
    let listen = config.query.listen;
    let Some(tls) = &config.query.tls else {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        tracing::info!(%listen, tls = false, "query api listening");
        return axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = shutdown.wait_for(|stop| *stop).await;
            })
            .await
            .context("query api");
    };
    // Only the first install wins; a second (tests, embedding) keeps the same provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tls_config = axum_server::tls_rustls::RustlsConfig::from_pem_file(&tls.cert, &tls.key)
        .await
        .with_context(|| {
            format!(
                "query.tls: loading certificate {} and key {}",
                tls.cert.display(),
                tls.key.display()
            )
        })?;
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
        stopper.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
    });
    tracing::info!(%listen, tls = true, "query api listening");
    axum_server::bind_rustls(listen, tls_config)
        .handle(handle)
        .serve(app.into_make_service())
        .await
        .context("query api")
}

async fn wait_for_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}
