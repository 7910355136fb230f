//! Structured logs with `tracing`, and Prometheus metrics.

use std::io::IsTerminal;

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

/// Installs the global Prometheus recorder and returns a renderer of its metrics. With
/// `listen`, also serves them on `http://<listen>/metrics` (call from within the runtime).
pub fn install_metrics(
    listen: Option<std::net::SocketAddr>,
) -> anyhow::Result<kestrel_query::api::MetricsRenderer> {
    use anyhow::Context;
    use metrics_exporter_prometheus::PrometheusBuilder;

    let builder = PrometheusBuilder::new();
    let handle = match listen {
        None => builder
            .install_recorder()
            .context("installing the metrics recorder")?,
        Some(addr) => {
            let (recorder, exporter) = builder
                .with_http_listener(addr)
                .build()
                .with_context(|| format!("metrics.listen: cannot serve on {addr}"))?;
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).context("installing the metrics recorder")?;
            tokio::spawn(async move {
                if let Err(error) = exporter.await {
                    tracing::error!(?error, "metrics listener failed");
                }
            });
            tracing::info!(listen = %addr, "metrics listening");
            handle
        }
    };
    Ok(kestrel_query::api::MetricsRenderer::new(move || {
        handle.render()
    }))
}
