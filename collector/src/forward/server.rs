//! The listener: accepts senders (over TLS when configured), at most `max_connections` at a
//! time, each served by its own task, until shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::connection::{serve_connection, Shared};

/// Longest wait for a sender's TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait, at shutdown, for connections to finish the message they are handling.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves senders on `listener` until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    max_connections: usize,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(max_connections.max(1)));
    let mut connections = JoinSet::new();
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
        // Finished connections are reaped as new ones come.
        while connections.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "forward: accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        metrics::counter!("kestrel_collector_forward_connections_total").increment(1);
        let shared = Arc::clone(&shared);
        let tls = tls.clone();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            connection(stream, peer, tls, shared, shutdown).await;
            drop(permit);
        });
    }
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        connections.abort_all();
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    tracing::debug!(%peer, "forward sender connected");
    let Some(tls) = tls else {
        serve_connection(stream, peer, shared, shutdown).await;
        return;
    };
    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, tls.accept(stream)).await {
        Ok(Ok(stream)) => serve_connection(stream, peer, shared, shutdown).await,
        Ok(Err(error)) => {
            metrics::counter!("kestrel_collector_forward_auth_failures_total").increment(1);
            tracing::warn!(%peer, %error, "forward TLS handshake failed");
        }
        Err(_) => tracing::warn!(%peer, "forward TLS handshake timed out"),
    }
}
