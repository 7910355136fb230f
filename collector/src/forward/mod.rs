//! The Fluentd Forward protocol input (Forward Protocol Specification v1): what Docker's
//! `fluentd` logging driver, Fluent Bit's and Fluentd's `forward` outputs and the fluent-logger
//! libraries send, over TCP or TLS (`collector.forward`).
//!
//! * Message, Forward, PackedForward and CompressedPackedForward (gzip) modes ([`protocol`]),
//!   with integer and `EventTime` (nanosecond) times.
//! * A message sent with `option.chunk` is answered `{"ack": chunk}` only once the bus has
//!   durably accepted its events (and its refused entries are in the dead-letter store); a
//!   message that cannot be stored gets no answer and its connection is closed, so that the
//!   sender sends it again.
//! * With a shared key, every connection starts with the `HELO`/`PING`/`PONG` handshake
//!   ([`handshake`]); a wrong key (or user) is answered with a `PONG` giving the reason, logged
//!   and counted, and the connection closed.
//! * Event ids are deterministic ([`connection`]): `chunk/index` when the message has a chunk
//!   id, so a chunk sent again is stored once; without one, a hash of tag, time and record
//!   (plus the rank among identical entries of the message), so identical records with the
//!   same tag and time sent in two messages are stored once.
//! * Input that is not the protocol goes to the dead-letter store with its raw bytes and the
//!   reason: a refused entry alone (the rest of its message goes on), a refused message alone
//!   (acknowledged, since it is kept), a stream that is not msgpack or a message over
//!   `max_chunk_bytes` with its first 64 KiB (and the connection is closed).
//! * Records become container events ([`mapping`]).

mod connection;
mod frame;
pub mod handshake;
pub mod mapping;
pub mod protocol;
mod server;

use std::sync::Arc;

use kestrel_bus::{DeadLetterStore, Publisher};
use tokio::net::TcpListener;

use crate::redact::Redaction;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

pub use frame::{complete_len, FrameError};
pub use handshake::{Secrets, User};
pub use mapping::{FLUENT_FIELD, FORWARD_SOURCE};

use crate::enrich::Enrichers;

/// Settings of the forward input.
#[derive(Clone)]
pub struct ForwardOptions {
    /// `host.name` of the events, and the server's name in the handshake.
    pub host_name: String,
    /// The shared key and users senders must prove they know; `None`: no handshake.
    pub secrets: Option<Secrets>,
    /// Largest message (as sent, and decompressed), in bytes.
    pub max_chunk_bytes: usize,
    /// Most connections served at once.
    pub max_connections: usize,
    /// Secrets replaced before events and dead letters are kept.
    pub redaction: Redaction,
}

/// Serves senders on `listener` (over TLS with `tls`) until `shutdown` turns true: their
/// events go to `publisher` after `enrichers`, refused input to `dead_letters`.
pub async fn serve_forward(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    options: ForwardOptions,
    publisher: Publisher,
    dead_letters: DeadLetterStore,
    enrichers: Enrichers,
    shutdown: watch::Receiver<bool>,
) {
    let shared = Arc::new(connection::Shared {
        publisher,
        dead_letters,
        enrichers,
        host_name: options.host_name,
        secrets: options.secrets,
        max_chunk_bytes: options.max_chunk_bytes,
        redaction: options.redaction,
        waited: Default::default(),
    });
    server::serve(listener, tls, shared, options.max_connections, shutdown).await;
}
