//! `kestrel run` (collector, bus, indexer and query API in one process) and the commands that
//! run one role: `kestrel collector`, `kestrel indexer`, `kestrel query`.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use kestrel_collector::credentials::IngestCredentials;
use kestrel_collector::discovery::docker::{DockerOptions, DockerSource};
use kestrel_collector::enrich::kubernetes::{self, PodWatch, PodWatchSettings};
use kestrel_collector::enrich::Enricher;
use kestrel_collector::normalize::FirstLine;
use kestrel_collector::tail::{run_tailer, DiscoveredSource, TailOptions, TailSource, TailStats};
use kestrel_config::{Config, Multiline, ReadFrom, SourceConfig};
use kestrel_query::access::{LiveTokens, OidcMapping, OidcSettings, OidcVerifier, TokenStore};
use kestrel_query::aggregate::AggregationLimits;
use kestrel_query::api::{router, ApiSettings, MetricsRenderer};
use kestrel_query::audit_trail::{with_audit_trail, AuditEvent, AuditTrail, IndexSink};
use kestrel_query::authenticate::{Authenticator, RateLimit};
use kestrel_query::limits::QueryLimits;
use kestrel_query::SearchEngine;
use tokio::sync::watch;

use kestrel_bus::kafka::KafkaProducer;
use kestrel_bus::Publisher;
use kestrel_config::BusKind;

use crate::metrics_catalog::Component;
use crate::pipeline::{
    dead_letter_store, format_of, redaction, runtime, start_indexer, start_kafka_indexer,
};
use kestrel_collector::redact::Redaction;

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
    if roles == Roles::COLLECTOR {
        crate::memory::disable_transparent_huge_pages();
    }
    if roles.collector {
        crate::limits::raise_open_files_limit();
    }
    runtime()?.block_on(async move {
        // Listening from the start: a signal during start-up stops the process cleanly.
        let signalled = termination_signal();
        tokio::pin!(signalled);
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let readiness = crate::telemetry::Readiness::default();
        let tokens = live_tokens(&config);
        let metrics_auth = config.metrics.require_token.then(|| {
            Arc::new(Authenticator::new(
                config.query.auth.tokens.clone(),
                true,
                Some(Arc::clone(&tokens)),
                None,
            ))
        });
        let metrics = crate::telemetry::install_metrics(
            config.metrics.listen,
            metrics_auth,
            readiness.clone(),
            shutdown_rx.clone(),
        )?;
        crate::metrics_catalog::register(&components(&config, roles));
        let api = if roles.query && config.query.enabled {
            Some(tokio::spawn(serve_api(
                config.clone(),
                metrics,
                Arc::clone(&tokens),
                shutdown_rx.clone(),
            )))
        } else {
            None
        };
        let pipeline = match (roles.collector || roles.indexer, config.bus.kind) {
            (false, _) => None,
            (true, BusKind::Embedded) => Some(start_pipeline(&config, shutdown_rx.clone()).await?),
            (true, BusKind::Kafka) => {
                Some(start_kafka_pipeline(&config, roles, shutdown_rx.clone()).await?)
            }
        };
        let delivery_stop = Arc::new(AtomicBool::new(false));
        let delivery = if roles.indexer && config.detection.rules.is_some() {
            crate::detection::start_delivery(&config, Arc::clone(&delivery_stop))?
        } else {
            None
        };
        if roles.indexer && config.indexer.enabled {
            crate::store_retention::spawn(&config, shutdown_rx.clone());
        }
        readiness.set_ready();
        let lifecycle = pipeline_roles(&config, roles);
        record_lifecycle(&config, "start", &lifecycle).await;
        let mut pipeline = pipeline;
        // A listener that cannot serve (its address taken, its certificate unreadable) ends
        // the process instead of leaving it running half-deaf.
        let webhook_failure = match pipeline.as_mut().and_then(|p| p.webhook.as_mut()) {
            Some(webhook) => tokio::select! {
                () = &mut signalled => None,
                ended = webhook => Some(ended),
            },
            None => {
                signalled.await;
                None
            }
        };
        tracing::info!("shutting down");
        let _ = shutdown_tx.send(true);
        if let Some(pipeline) = pipeline {
            pipeline.stop.store(true, Ordering::Relaxed);
            match webhook_failure {
                Some(ended) => ended.context("webhook task")??,
                None => {
                    if let Some(webhook) = pipeline.webhook {
                        webhook.await.context("webhook task")??;
                    }
                }
            }
            if let Some(forward) = pipeline.forward {
                forward.await.context("forward task")?;
            }
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
        record_lifecycle(&config, "stop", &lifecycle).await;
        Ok(ExitCode::SUCCESS)
    })
}

/// The collector and indexer roles this process runs (the query role records its own start
/// and stop).
fn pipeline_roles(config: &Config, roles: Roles) -> Vec<&'static str> {
    let running = components(config, roles);
    [
        ("collector", Component::Collector),
        ("indexer", Component::Indexer),
    ]
    .into_iter()
    .filter(|(_, component)| running.contains(component))
    .map(|(name, _)| name)
    .collect()
}

/// Records the `action` (`start`, `stop`) of each of `roles` in the audit trail, with the
/// configuration's digest.
async fn record_lifecycle(config: &Config, action: &'static str, roles: &[&'static str]) {
    let config = config.clone();
    let roles = roles.to_vec();
    let _ = tokio::task::spawn_blocking(move || {
        for role in roles {
            let mut event = AuditEvent::new(action);
            event.component = Some(role.into());
            event.config_digest = Some(config_digest(&config));
            crate::cli_audit::record_event(&config, event);
        }
    })
    .await;
}

/// The components `roles` run under `config`: those whose metrics are registered at start-up.
fn components(config: &Config, roles: Roles) -> Vec<Component> {
    let collector = roles.collector && config.collector.enabled;
    // The embedded bus always has its indexer.
    let indexer = roles.indexer && (config.indexer.enabled || config.bus.kind == BusKind::Embedded);
    let detection = indexer && config.detection.rules.is_some();
    [
        (Component::Collector, collector),
        (
            Component::Docker,
            collector && config.collector.docker.enabled,
        ),
        (
            Component::Kubernetes,
            collector && config.collector.kubernetes.enabled,
        ),
        (
            Component::Webhook,
            collector && config.collector.webhook.listen.is_some(),
        ),
        (
            Component::Forward,
            collector && config.collector.forward.listen.is_some(),
        ),
        (
            Component::Falco,
            collector
                && config.collector.webhook.listen.is_some()
                && config.collector.falco.enabled,
        ),
        (
            Component::Elasticsearch,
            collector
                && config.collector.webhook.listen.is_some()
                && config.collector.elasticsearch.enabled,
        ),
        (
            Component::Otlp,
            collector && config.collector.webhook.listen.is_some() && config.collector.otlp.enabled,
        ),
        (Component::Indexer, indexer),
        (
            Component::Kafka,
            indexer && config.bus.kind == BusKind::Kafka,
        ),
        (Component::Detection, detection),
        (
            Component::Alerting,
            detection && !config.alerting.destinations.is_empty(),
        ),
        (Component::Query, roles.query && config.query.enabled),
    ]
    .into_iter()
    .filter_map(|(component, running)| running.then_some(component))
    .collect()
}

struct RunningPipeline {
    stop: Arc<AtomicBool>,
    webhook: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    forward: Option<tokio::task::JoinHandle<()>>,
    tailer: Option<TailerTask>,
    indexer: Option<tokio::task::JoinHandle<Result<(), kestrel_indexer::IndexError>>>,
}

/// Collector publishing to Kafka and/or an indexer consuming from it, per `roles`.
async fn start_kafka_pipeline(
    config: &Config,
    roles: Roles,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<RunningPipeline> {
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
    let (tailer, webhook, forward) = if roles.collector && config.collector.enabled {
        let publisher = Publisher::kafka(producer);
        let outlet = Outlet {
            publisher,
            redaction: redaction(config)?,
        };
        let webhook = start_webhook(config, outlet.clone(), shutdown.clone())?;
        let docker = start_docker(config);
        let forward = start_forward(config, outlet.clone(), docker.as_ref(), shutdown).await?;
        let tailer = start_tailer(config, outlet, docker, Arc::clone(&stop)).await?;
        (Some(tailer), webhook, forward)
    } else {
        (None, None, None)
    };
    Ok(RunningPipeline {
        stop,
        webhook,
        forward,
        tailer,
        indexer,
    })
}

async fn start_pipeline(
    config: &Config,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<RunningPipeline> {
    let indexer = start_indexer(config)?;
    let stop = Arc::new(AtomicBool::new(false));
    let (tailer, webhook, forward) = if config.collector.enabled {
        let outlet = Outlet {
            publisher: indexer.publisher,
            redaction: redaction(config)?,
        };
        let webhook = start_webhook(config, outlet.clone(), shutdown.clone())?;
        let docker = start_docker(config);
        let forward = start_forward(config, outlet.clone(), docker.as_ref(), shutdown).await?;
        let tailer = start_tailer(config, outlet, docker, Arc::clone(&stop)).await?;
        (Some(tailer), webhook, forward)
    } else {
        drop(indexer.publisher);
        (None, None, None)
    };
    let task = indexer.task;
    let indexer = tokio::spawn(async move { task.await.map_err(join_error)?.map(|_| ()) });
    Ok(RunningPipeline {
        stop,
        webhook,
        forward,
        tailer,
        indexer: Some(indexer),
    })
}

/// Where the collector's sources send events: the bus, after redaction.
#[derive(Clone)]
struct Outlet {
    publisher: Publisher,
    redaction: Redaction,
}

type TailerTask = tokio::task::JoinHandle<Result<(), kestrel_collector::CollectError>>;

/// Longest wait, before the tailer reads, for the first listings of the Docker API's
/// containers and of this node's pods, so that the lines read first are enriched too; past it
/// (or once the Docker API is found unreachable) the tailer starts anyway.
const FIRST_LISTING_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The Docker API watcher, when `collector.docker.enabled`: it feeds the tailer (container
/// logs to tail, and their metadata) and the forward input (metadata).
fn start_docker(config: &Config) -> Option<DockerSource> {
    config.collector.docker.enabled.then(|| {
        DockerSource::start(DockerOptions {
            host: config.collector.docker.host.clone(),
            deleted_grace: config.collector.docker.deleted_grace,
        })
    })
}

/// Starts the tailer, with what enriches its events: the Docker API watcher
/// (`collector.docker.enabled`) and the Kubernetes pod watch (`collector.kubernetes.enabled`).
async fn start_tailer(
    config: &Config,
    outlet: Outlet,
    docker: Option<DockerSource>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<TailerTask> {
    let Outlet {
        publisher,
        redaction,
    } = outlet;
    let mut options = tail_options(config, docker.as_ref())?;
    options.redaction = redaction;
    let pod_watch = start_pod_watch(config).await?;
    if let Some(watch) = &pod_watch {
        options.enrichers.push(watch.enricher());
    }
    let dead_letters = dead_letter_store(config)?;
    tracing::info!(
        sources = options.sources.len(),
        docker = docker.is_some(),
        kubernetes = pod_watch.is_some(),
        "collector started"
    );
    Ok(tokio::spawn(async move {
        wait_for_first_listings(docker.as_ref(), pod_watch.as_ref()).await;
        let result = run_tailer(
            options,
            publisher,
            dead_letters,
            stop,
            Arc::new(TailStats::default()),
        )
        .await;
        // The watchers stop with the tailer.
        drop((docker, pod_watch));
        result
    }))
}

/// Waits (both at once, at most [`FIRST_LISTING_WAIT`]) for the enrichment sources' first
/// listings.
async fn wait_for_first_listings(docker: Option<&DockerSource>, pods: Option<&PodWatch>) {
    let docker_listed = async {
        match docker {
            Some(docker) => docker.first_attempt(FIRST_LISTING_WAIT).await,
            None => true,
        }
    };
    let pods_listed = async {
        match pods {
            Some(pods) => pods.wait_until_listed(FIRST_LISTING_WAIT).await,
            None => true,
        }
    };
    let (docker_listed, pods_listed) = tokio::join!(docker_listed, pods_listed);
    if !docker_listed {
        tracing::warn!("docker api did not answer in time, tailing without it for now");
    }
    if !pods_listed {
        tracing::warn!(
            wait = ?FIRST_LISTING_WAIT,
            "kubernetes pods not listed yet, collecting without pod metadata until they are"
        );
    }
}

/// The pod watch of `[collector.kubernetes]`, when enabled.
async fn start_pod_watch(config: &Config) -> anyhow::Result<Option<PodWatch>> {
    let settings = &config.collector.kubernetes;
    if !settings.enabled {
        return Ok(None);
    }
    let node_name = settings.node_name().context(
        "collector.kubernetes.node_name: not set, nor the NODE_NAME environment variable",
    )?;
    let watch = kubernetes::start(PodWatchSettings {
        node_name,
        kubeconfig: settings.kubeconfig.clone(),
        deleted_pod_grace: settings.deleted_pod_grace,
    })
    .await
    .context("collector.kubernetes")?;
    Ok(Some(watch))
}

/// Serves the audit webhook when `collector.webhook.listen` is set, and on the same listener
/// the Falco endpoint when `collector.falco.enabled`, the Elasticsearch API when
/// `collector.elasticsearch.enabled` and the OTLP logs endpoint when `collector.otlp.enabled`.
fn start_webhook(
    config: &Config,
    outlet: Outlet,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<Option<tokio::task::JoinHandle<anyhow::Result<()>>>> {
    let Outlet {
        publisher,
        redaction,
    } = outlet;
    let settings = &config.collector.webhook;
    let Some(listen) = settings.listen else {
        return Ok(None);
    };
    let client_certificates_verified = settings
        .tls
        .as_ref()
        .is_some_and(|tls| tls.client_ca.is_some());
    let tokens = crate::commands::run::live_tokens(config);
    let ingest_credentials = IngestCredentials::new(
        config.collector.ingest.tokens.clone(),
        client_certificates_verified,
    )
    .with_store(Arc::clone(&tokens));
    let options = kestrel_collector::webhook::WebhookOptions {
        path: settings.path.clone(),
        max_body_bytes: settings.max_body_bytes,
        host_name: config.host_name(),
        // Ingest tokens, once configured, are required on the audit webhook too.
        credentials: (!config.collector.ingest.tokens.is_empty())
            .then(|| ingest_credentials.clone()),
        redaction: redaction.clone(),
    };
    let dead_letters = dead_letter_store(config)?;
    let mut app = kestrel_collector::webhook::webhook_router(
        &options,
        publisher.clone(),
        dead_letters.clone(),
    );
    let elasticsearch = &config.collector.elasticsearch;
    if elasticsearch.enabled {
        let options = kestrel_collector::elasticsearch::ElasticsearchOptions {
            credentials: ingest_credentials.clone(),
            max_body_bytes: settings.max_body_bytes,
            recent_ids: elasticsearch.recent_ids,
            host_name: config.host_name(),
            redaction: redaction.clone(),
        };
        tracing::info!(
            tokens = config.collector.ingest.tokens.len(),
            recent_ids = options.recent_ids,
            "elasticsearch api enabled"
        );
        app = app.merge(kestrel_collector::elasticsearch::elasticsearch_router(
            &options,
            publisher.clone(),
            dead_letters.clone(),
        ));
    }
    let falco = &config.collector.falco;
    if falco.enabled {
        let options = kestrel_collector::falco::FalcoOptions {
            path: falco.path.clone(),
            credentials: IngestCredentials::new(falco.tokens.clone(), client_certificates_verified)
                .with_store(Arc::clone(&tokens)),
            max_body_bytes: settings.max_body_bytes,
            host_name: config.host_name(),
            redaction: redaction.clone(),
        };
        tracing::info!(path = %falco.path, tokens = falco.tokens.len(), "falco endpoint enabled");
        app = app.merge(kestrel_collector::falco::falco_router(
            &options,
            publisher.clone(),
            dead_letters.clone(),
        ));
    }
    let otlp = &config.collector.otlp;
    if otlp.enabled {
        let tokens = &config.collector.ingest.tokens;
        let options = kestrel_collector::otlp::OtlpOptions {
            path: otlp.path.clone(),
            credentials: ingest_credentials,
            max_body_bytes: settings.max_body_bytes,
            host_name: config.host_name(),
            redaction,
        };
        tracing::info!(path = %otlp.path, tokens = tokens.len(), "otlp logs endpoint enabled");
        app = app.merge(kestrel_collector::otlp::otlp_router(
            &options,
            publisher,
            dead_letters,
        ));
    }
    let tls = settings.tls.clone();
    Ok(Some(tokio::spawn(async move {
        crate::serve::serve("collector.webhook", app, listen, tls.as_ref(), shutdown).await
    })))
}

/// Listens for Forward protocol senders when `collector.forward.listen` is set; their events
/// get the Docker API's metadata when `collector.docker.enabled`. Failing to listen (address
/// taken, certificate unreadable) fails the start.
async fn start_forward(
    config: &Config,
    outlet: Outlet,
    docker: Option<&DockerSource>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    let Outlet {
        publisher,
        redaction,
    } = outlet;
    use kestrel_collector::forward::{self, ForwardOptions, Secrets, User};
    let settings = &config.collector.forward;
    let Some(listen) = settings.listen else {
        return Ok(None);
    };
    let tls = match &settings.tls {
        Some(tls) => {
            let server = crate::serve::tls_server_config("collector.forward", tls)?;
            Some(tokio_rustls::TlsAcceptor::from(Arc::new(server)))
        }
        None => None,
    };
    let secrets = settings.shared_key.as_ref().map(|key| Secrets {
        shared_key: key.clone(),
        users: settings
            .users
            .iter()
            .map(|u| User {
                username: u.username.clone(),
                password: u.password.clone(),
            })
            .collect(),
    });
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("collector.forward: listening on {listen}"))?;
    tracing::info!(
        %listen,
        listener = "collector.forward",
        tls = tls.is_some(),
        client_certificates = settings.tls.as_ref().is_some_and(|t| t.client_ca.is_some()),
        shared_key = secrets.is_some(),
        "listening"
    );
    let options = ForwardOptions {
        host_name: config.host_name(),
        secrets,
        max_chunk_bytes: settings.max_chunk_bytes,
        max_connections: settings.max_connections,
        redaction,
    };
    let enrichers = docker
        .map(|d| Arc::clone(&d.enricher) as Arc<dyn Enricher>)
        .into_iter()
        .collect();
    let dead_letters = dead_letter_store(config)?;
    Ok(Some(tokio::spawn(forward::serve_forward(
        listener,
        tls,
        options,
        publisher,
        dead_letters,
        enrichers,
        shutdown,
    ))))
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
                first_line: first_line(source)?,
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
                first_line: None,
            },
        }),
        // Set by the caller, which builds one redactor for every source.
        redaction: Default::default(),
    })
}

/// The multi-line grouping of a source: its `multiline_start` expression, else its
/// `multiline` preset.
fn first_line(source: &SourceConfig) -> anyhow::Result<Option<FirstLine>> {
    if let Some(pattern) = &source.multiline_start {
        let start = kestrel_config::compile_regex(pattern)
            .with_context(|| format!("multiline_start {pattern:?}"))?;
        return Ok(Some(FirstLine::new(move |line: &str| start.is_match(line))));
    }
    Ok(match source.multiline {
        Multiline::None => None,
        Multiline::DatePrefix => Some(FirstLine::date_prefix()),
        Multiline::Indented => Some(FirstLine::not_indented()),
    })
}

/// Who may call the query API: the static `query.auth.tokens` (deprecated), the token store
/// of the data directory, the rate limit.
fn query_authenticator(config: &Config, tokens: Arc<LiveTokens>) -> anyhow::Result<Authenticator> {
    let auth = &config.query.auth;
    if !auth.tokens.is_empty() {
        tracing::warn!(
            tokens = auth.tokens.len(),
            "query.auth.tokens (and token_files) are deprecated: they act as admin tokens; \
             create tokens with roles by `kestrel token create` instead"
        );
    }
    let rate_limit = auth.rate_limit.and_then(|limit| {
        let per_second = std::num::NonZeroU32::new(limit.per_second)?;
        let burst = limit
            .burst
            .and_then(std::num::NonZeroU32::new)
            .unwrap_or(per_second);
        Some(RateLimit { per_second, burst })
    });
    let authenticator =
        Authenticator::new(auth.tokens.clone(), auth.required, Some(tokens), rate_limit);
    match &auth.oidc {
        Some(oidc) => Ok(authenticator.with_oidc(OidcVerifier::new(oidc_settings(oidc)?))),
        None => Ok(authenticator),
    }
}

/// `[query.auth.oidc]` as the verifier takes it (validation has checked the names).
fn oidc_settings(oidc: &kestrel_config::OidcConfig) -> anyhow::Result<OidcSettings> {
    let algorithms = oidc
        .algorithms
        .iter()
        .map(|alg| {
            alg.parse::<kestrel_query::access::oidc::Algorithm>()
                .map_err(|e| anyhow::anyhow!("query.auth.oidc.algorithms: {alg:?}: {e}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mappings = oidc
        .mappings
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let role = m
                .role
                .parse()
                .map_err(|e| anyhow::anyhow!("query.auth.oidc.mappings[{i}].role: {e}"))?;
            let namespaces =
                (!m.namespaces.is_empty()).then(|| m.namespaces.iter().cloned().collect());
            Ok(OidcMapping {
                value: m.value.clone(),
                role,
                namespaces,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(OidcSettings {
        issuer: oidc.issuer.clone(),
        audience: oidc.audience.clone(),
        jwks_url: oidc.jwks_url.clone(),
        algorithms,
        leeway: oidc.leeway,
        claim: oidc.claim.clone(),
        mappings,
    })
}

/// The token store of the data directory, watched for changes.
pub fn live_tokens(config: &Config) -> Arc<LiveTokens> {
    LiveTokens::open(TokenStore::new(&config.data_dir))
}

async fn serve_api(
    config: Config,
    metrics: MetricsRenderer,
    tokens: Arc<LiveTokens>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let limits = AggregationLimits {
        memory_limit_bytes: (config.query.aggregation_memory_mb as u64) << 20,
        ..AggregationLimits::default()
    };
    let engine = SearchEngine::with_aggregation_limits(config.index_dir(), limits);
    let settings = ApiSettings {
        default_limit: config.query.default_limit,
        max_limit: config.query.max_limit,
        auth: Arc::new(query_authenticator(&config, tokens)?),
        metrics: Some(metrics),
        alerts: kestrel_detect::AlertStore::open(&config.alerts_dir()).ok(),
        placeholders: crate::detection::placeholders(&config)?,
        filters: crate::detection::configured_filters(&config)?,
        limits: QueryLimits::from(&config.query.limits),
        holds: Some(kestrel_query::holds::HoldStore::new(&config.data_dir)),
    };
    // Without a bus of its own, the query process writes the kestrel_audit partitions itself.
    let trail = AuditTrail::start(IndexSink::new(config.index_dir()), AUDIT_QUEUE);
    let mut started = AuditEvent::new("start");
    started.component = Some("query".into());
    started.config_digest = Some(config_digest(&config));
    trail.record(started);
    let app = with_audit_trail(router(engine, settings), trail.clone());
    let served = crate::serve::serve(
        "query",
        app,
        config.query.listen,
        config.query.tls.as_ref(),
        shutdown,
    )
    .await;
    let mut stopped = AuditEvent::new("stop");
    stopped.component = Some("query".into());
    trail.record(stopped);
    let _ = tokio::task::spawn_blocking(move || trail.flush()).await;
    served
}

/// Audit events queued at most before new ones are dropped (and counted).
const AUDIT_QUEUE: usize = 65_536;

/// SHA-256 of the loaded configuration (its parsed form), hex.
fn config_digest(config: &Config) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(format!("{config:?}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Listens for SIGINT and SIGTERM from now on; the future completes at the first of them.
fn termination_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, Signal, SignalKind};
    async fn first(signal: std::io::Result<Signal>, name: &'static str) {
        match signal {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, signal = name, "cannot listen for the signal");
                std::future::pending::<()>().await;
            }
        }
    }
    let interrupt = first(signal(SignalKind::interrupt()), "SIGINT");
    let terminate = first(signal(SignalKind::terminate()), "SIGTERM");
    async move {
        tokio::select! {
            () = interrupt => {}
            () = terminate => {}
        }
    }
}
