//! OpenTelemetry log records exported over OTLP/HTTP (`POST /v1/logs`, as the OpenTelemetry
//! Collector's `otlphttp` exporter and the OpenTelemetry SDKs send them), served on the webhook
//! listener at `collector.otlp.path`.
//!
//! Bodies are `application/x-protobuf` or `application/json` (OTLP/JSON), plain or
//! `Content-Encoding: gzip`; each record becomes an event of kind `container` (see
//! [`mapping`] for the fields). Requests are authenticated before the body is read (see
//! [`crate::credentials`]). Records that cannot be decoded or stored go to the dead-letter
//! store and are counted in the answer's `partial_success`; the request is answered `200`
//! only once the bus accepted the others, and `503` when it could not (the exporter retries
//! it; event ids are content hashes, so the records stored before are not stored twice).
//! Bodies that cannot be read are answered `400`, unknown content types and encodings `415`,
//! bodies over the limit (compressed or not) `413`, missing or wrong credentials `401`, each
//! with a `google.rpc.Status` naming the reason.

pub mod decode;
pub mod mapping;
pub mod response;
mod route;

use axum::extract::DefaultBodyLimit;
use axum::routing::post;
use axum::Router;
use kestrel_bus::{DeadLetterStore, Publisher};

use crate::credentials::IngestCredentials;
use crate::redact::Redaction;
pub use mapping::{OTEL_FIELD, OTLP_SOURCE};

/// The default path of the endpoint, the one OTLP/HTTP exporters post logs to.
pub const DEFAULT_PATH: &str = "/v1/logs";

/// Settings of the OTLP logs endpoint.
#[derive(Clone, Debug)]
pub struct OtlpOptions {
    /// The path exporters post to (`collector.otlp.path`).
    pub path: String,
    /// Who may post (`collector.ingest.tokens`, or the listener's client certificates).
    pub credentials: IngestCredentials,
    /// Largest body accepted, in bytes, before and after decompression; larger ones are
    /// answered `413`.
    pub max_body_bytes: usize,
    /// `host.name` of records without `host.name` or `k8s.node.name`.
    pub host_name: String,
    /// Secrets replaced before events and dead letters are kept.
    pub redaction: Redaction,
}

/// The OTLP logs endpoint, to merge into the webhook listener's router.
pub fn otlp_router(
    options: &OtlpOptions,
    publisher: Publisher,
    dead_letters: DeadLetterStore,
) -> Router {
    let state = route::OtlpState {
        publisher,
        dead_letters,
        credentials: options.credentials.clone(),
        host_name: options.host_name.clone(),
        max_body_bytes: options.max_body_bytes,
        redaction: options.redaction.clone(),
    };
    Router::new()
        .route(&options.path, post(route::receive))
        .layer(DefaultBodyLimit::max(options.max_body_bytes))
        .with_state(state)
}

#[cfg(test)]
mod tests;
