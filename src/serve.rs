//! Serving a router over HTTP, or HTTPS with optional client certificates (mutual TLS), until
//! shutdown: shared by the query API, the audit webhook and the metrics listener; and the TLS
//! settings of the forward input's listener.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use kestrel_config::TlsConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::watch;

/// Serves `app` on `listen` until `shutdown` turns true. `name` (the configuration table, e.g.
/// `query` or `collector.webhook`) names the listener in logs and errors.
pub async fn serve(
    name: &str,
    app: Router,
    listen: SocketAddr,
    tls: Option<&TlsConfig>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let Some(tls) = tls else {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("{name}: listening on {listen}"))?;
        tracing::info!(%listen, listener = name, tls = false, "listening");
        let service = app.into_make_service_with_connect_info::<SocketAddr>();
        return axum::serve(listener, service)
            .with_graceful_shutdown(async move {
                let _ = shutdown.wait_for(|stop| *stop).await;
            })
            .await
            .with_context(|| format!("{name}: serving"));
    };
    let config = server_config(name, tls)?;
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
        stopper.graceful_shutdown(Some(Duration::from_secs(10)));
    });
    tracing::info!(%listen, listener = name, tls = true, client_certificates = tls.client_ca.is_some(), "listening");
    axum_server::bind_rustls(
        listen,
        axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(config)),
    )
    .handle(handle)
    .serve(app.into_make_service_with_connect_info::<SocketAddr>())
    .await
    .with_context(|| format!("{name}: serving on {listen}"))
}

/// The TLS settings of an HTTP listener: [`tls_server_config`] offering HTTP/2 and HTTP/1.1.
fn server_config(name: &str, tls: &TlsConfig) -> anyhow::Result<rustls::ServerConfig> {
    let mut config = tls_server_config(name, tls)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// The TLS settings of a listener: its certificate and key, and, with `client_ca`, clients
/// required to present a certificate that CA signed. `name` (the configuration table) names
/// the key at fault in errors.
pub fn tls_server_config(name: &str, tls: &TlsConfig) -> anyhow::Result<rustls::ServerConfig> {
    // Only the first install wins; a second (tests, embedding) keeps the same provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let certs = CertificateDer::pem_file_iter(&tls.cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("{name}.tls.cert: reading {}", tls.cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(&tls.key)
        .with_context(|| format!("{name}.tls.key: reading {}", tls.key.display()))?;
    let builder = rustls::ServerConfig::builder();
    let builder = match &tls.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            let cas = CertificateDer::pem_file_iter(ca)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .with_context(|| format!("{name}.tls.client_ca: reading {}", ca.display()))?;
            for cert in cas {
                roots
                    .add(cert)
                    .with_context(|| format!("{name}.tls.client_ca: {}", ca.display()))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
                .build()
                .with_context(|| format!("{name}.tls.client_ca: {}", ca.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    builder
        .with_single_cert(certs, key)
        .with_context(|| format!("{name}.tls: certificate and key do not make a TLS identity"))
}
