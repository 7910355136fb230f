//! Structured logs with `tracing`, and Prometheus metrics.

use std::io::IsTerminal;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use kestrel_query::authenticate::Authenticator;
use kestrel_query::authorize::{authorize, route_access, REQUESTS_DENIED};

use kestrel_config::{LogConfig, LogFormat};
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber: `RUST_LOG` if set, else the configured level; logs go to
/// stderr so that command output on stdout stays machine-readable.
pub fn init(config: &LogConfig) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    // A second init (tests) is harmless: the first subscriber stays.
    let _ = match config.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Whether the roles of this process have started: what `/readyz` of the metrics listener
/// answers.
#[derive(Debug, Clone, Default)]
pub struct Readiness(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Readiness {
    /// Marks the process ready.
    pub fn set_ready(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Release);
    }

    /// Whether the process is ready.
    pub fn is_ready(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// How often histogram samples are drained into their buckets between scrapes.
const UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Installs the global Prometheus recorder, with the help text of every metric of
/// [`crate::metrics_catalog`], and returns a renderer of its metrics. With
/// `listen`, also serves `/metrics`, `/healthz` and `/readyz` (from `readiness`) there until
/// `shutdown` (call from within the runtime); with `auth` (`metrics.require_token`),
/// `/metrics` there requires a token of the `metrics` or `admin` role.
pub fn install_metrics(
    listen: Option<std::net::SocketAddr>,
    auth: Option<Arc<Authenticator>>,
    readiness: Readiness,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<kestrel_query::api::MetricsRenderer> {
    use anyhow::Context;
    use axum::routing::get;
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

    let mut builder = PrometheusBuilder::new();
    // Buckets make histograms Prometheus histograms (`_bucket`), which aggregate across
    // instances, rather than summaries.
    for (name, buckets) in crate::metrics_catalog::HISTOGRAM_BUCKETS {
        builder = builder
            .set_buckets_for_metric(Matcher::Full((*name).to_owned()), buckets)
            .with_context(|| format!("buckets of {name}"))?;
    }
    let handle = builder
        .install_recorder()
        .context("installing the metrics recorder")?;
    crate::metrics_catalog::describe();
    // Without the exporter's own listener, upkeep (draining histogram samples) is ours: a
    // process nobody scrapes would otherwise keep every sample.
    let upkeep = handle.clone();
    let mut stop = shutdown.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = tokio::time::sleep(UPKEEP_INTERVAL) => upkeep.run_upkeep(),
                _ = stop.changed() => break,
            }
        }
    });
    let renderer = kestrel_query::api::MetricsRenderer::new(move || handle.render());
    let Some(addr) = listen else {
        return Ok(renderer);
    };
    let metrics = renderer.clone();
    let mut scrape =
        axum::Router::new().route("/metrics", get(move || async move { metrics.render() }));
    if let Some(auth) = auth {
        scrape = scrape.route_layer(axum::middleware::from_fn_with_state(auth, require_token));
    }
    let app = scrape.route("/healthz", get(|| async { "ok" })).route(
        "/readyz",
        get(move || async move {
            match readiness.is_ready() {
                true => (StatusCode::OK, "ready"),
                false => (StatusCode::SERVICE_UNAVAILABLE, "starting"),
            }
        }),
    );
    tokio::spawn(async move {
        if let Err(error) = crate::serve::serve("metrics", app, addr, None, shutdown).await {
            tracing::error!(error = format!("{error:#}"), "metrics listener failed");
        }
    });
    Ok(renderer)
}

/// `/metrics` of the metrics listener with `metrics.require_token`: the same credentials and
/// rule as the query API's `/metrics` (roles `metrics` and `admin`, unscoped).
async fn require_token(
    State(auth): State<Arc<Authenticator>>,
    request: Request,
    next: Next,
) -> Response {
    // "/metrics" is in the route table: the query API serves it too.
    let access = route_access("/metrics").expect("/metrics is in the route table");
    let decision = auth
        .identify(request.headers())
        .await
        .map_err(|denial| (StatusCode::UNAUTHORIZED, denial, None))
        .and_then(|identity| {
            authorize(&identity, access)
                .map_err(|denial| (StatusCode::FORBIDDEN, denial, Some(identity.name)))
        });
    match decision {
        Ok(()) => next.run(request).await,
        Err((status, denial, identity)) => {
            let reason = denial.label();
            tracing::warn!(listener = "metrics", reason, identity, "request denied");
            metrics::counter!(REQUESTS_DENIED, "reason" => reason).increment(1);
            (status, status.canonical_reason().unwrap_or("denied")).into_response()
        }
    }
}
