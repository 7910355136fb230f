//! The receiving end of the Kubernetes apiserver's audit webhook backend
//! (`--audit-webhook-config-file`): `POST` bodies holding an `audit.k8s.io` `EventList` (up to
//! `--audit-webhook-batch-max-size`, 400 events by default).
//!
//! A batch is answered `200` only once the bus has durably accepted its events, so the
//! apiserver retries every batch it did not see acknowledged; event ids come from each event's
//! `auditID` and `stage`, so a retried batch is recognized and stored once. Bodies that are
//! not audit events get `400` with the reason; bodies over the size limit get `413`; items
//! that are not audit events inside an otherwise good batch go to the dead-letter store with
//! their raw bytes.
//!
//! When ingest tokens are configured (`collector.ingest.tokens`) the route requires one, as the
//! other push endpoints do ([`crate::credentials`]); without tokens it relies on the listener
//! (loopback, or TLS verifying client certificates, which configuration validation requires off
//! loopback).

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use kestrel_bus::{DeadLetterStore, Publisher};
use kestrel_event::{event_id, Event, RecordPosition};
use serde_json::Value;

use crate::acceptance::{keep_dead_letters, publish_acknowledged};
use crate::credentials::IngestCredentials;
use crate::normalize::{normalize_bytes, Format, Output, SourceContext};
use crate::redact::{Redaction, Source};

/// The source name of webhook events (`log.file.path` stays unset) and dead letters.
pub const WEBHOOK_SOURCE: &str = "k8s-audit-webhook";

/// Settings of the webhook endpoint.
#[derive(Debug, Clone)]
pub struct WebhookOptions {
    /// The path the apiserver posts to.
    pub path: String,
    /// Largest body accepted, in bytes; larger ones are answered `413`.
    pub max_body_bytes: usize,
    /// `host.name` of the events.
    pub host_name: String,
    /// Secrets replaced before events and dead letters are kept.
    pub redaction: Redaction,
    /// The credentials a request must present, when ingest tokens are configured; `None`
    /// leaves authentication to the listener (loopback, or client certificates).
    pub credentials: Option<IngestCredentials>,
}

#[derive(Clone)]
struct WebhookState {
    publisher: Publisher,
    dead_letters: DeadLetterStore,
    host_name: String,
    redaction: Redaction,
    credentials: Option<IngestCredentials>,
}

/// The webhook endpoint, to serve (with TLS and client certificates as configured).
pub fn webhook_router(
    options: &WebhookOptions,
    publisher: Publisher,
    dead_letters: DeadLetterStore,
) -> Router {
    let state = WebhookState {
        publisher,
        dead_letters,
        host_name: options.host_name.clone(),
        redaction: options.redaction.clone(),
        credentials: options.credentials.clone(),
    };
    Router::new()
        .route(&options.path, post(receive))
        .layer(DefaultBodyLimit::max(options.max_body_bytes))
        .with_state(state)
}

async fn receive(State(state): State<WebhookState>, headers: HeaderMap, body: Bytes) -> Response {
    metrics::counter!("kestrel_collector_webhook_requests_total").increment(1);
    if let Some(credentials) = &state.credentials {
        if let Err(refusal) = credentials.check(&headers) {
            metrics::counter!("kestrel_collector_webhook_rejected_total").increment(1);
            tracing::warn!(%refusal, "webhook request refused");
            return crate::credentials::refused(&refusal);
        }
    }
    accept(&state, &body).await.into_response()
}

/// Normalizes an authenticated body and publishes its events.
async fn accept(state: &WebhookState, body: &[u8]) -> (StatusCode, String) {
    let (events, letters) = match decode_body(body, &state.host_name, chrono::Utc::now()) {
        Ok(decoded) => decoded,
        Err(reason) => {
            metrics::counter!("kestrel_collector_webhook_rejected_total").increment(1);
            tracing::warn!(%reason, bytes = body.len(), "webhook body rejected");
            return (StatusCode::BAD_REQUEST, format!("{reason}\n"));
        }
    };
    let redaction = (&state.redaction, Source::Webhook);
    if let Err((status, text)) =
        keep_dead_letters(WEBHOOK_SOURCE, redaction, &state.dead_letters, letters).await
    {
        return (status, text.to_owned());
    }
    let count = events.len();
    if let Err((status, text)) =
        publish_acknowledged(WEBHOOK_SOURCE, redaction, &state.publisher, events).await
    {
        return (status, text.to_owned());
    }
    metrics::counter!("kestrel_collector_webhook_events_total").increment(count as u64);
    (StatusCode::OK, String::new())
}

/// The events of a webhook body (ids from `auditID` and `stage`) and its items that are not
/// audit events; the reason when the body is refused whole (answered `400`).
pub fn decode_body(
    body: &[u8],
    host_name: &str,
    ingested: kestrel_event::Timestamp,
) -> Result<(Vec<Event>, Vec<kestrel_event::DeadLetter>), String> {
    check_body(body)?;
    let context = SourceContext {
        path: WEBHOOK_SOURCE.to_owned(),
        content_id: None,
        host_name: host_name.to_owned(),
        ingested,
    };
    let outputs = normalize_bytes(Format::K8sAudit, context, body).map_err(|e| e.to_string())?;
    let (events, letters) = split(outputs);
    if events.is_empty() {
        if let Some(letter) = letters.first() {
            return Err(format!("no audit event in the body: {}", letter.error));
        }
    }
    Ok((events, letters))
}

/// The top-level keys a body is checked by; the rest of the body is only scanned (the
/// normalizer reads it).
#[derive(serde::Deserialize)]
struct BodyHeader<'a> {
    #[serde(borrow, default)]
    kind: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default, rename = "apiVersion")]
    api_version: Option<std::borrow::Cow<'a, str>>,
}

/// A body must be JSON holding audit events: an `EventList`, an `Event`, or an array of them.
fn check_body(body: &[u8]) -> Result<(), String> {
    let not_json = |e: serde_json::Error| format!("body is not JSON: {e}");
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        // An array: its items are checked one by one by the normalizer.
        Some(b'[') => return Ok(()),
        Some(b'{') => {}
        _ => {
            serde_json::from_slice::<serde::de::IgnoredAny>(body).map_err(not_json)?;
            return Err("expected an audit.k8s.io EventList".into());
        }
    }
    let header: BodyHeader = serde_json::from_slice(body).map_err(not_json)?;
    match header.kind.as_deref() {
        Some("EventList" | "Event") => {}
        Some(other) => {
            return Err(format!(
                "expected an audit.k8s.io EventList, found kind {other:?}"
            ))
        }
        None => {
            return Err("expected an audit.k8s.io EventList, found an object without kind".into())
        }
    }
    match header.api_version.as_deref() {
        Some(version) if !version.starts_with("audit.k8s.io/") => Err(format!(
            "expected apiVersion audit.k8s.io/*, found {version:?}"
        )),
        _ => Ok(()),
    }
}

/// Events with their ids taken from `auditID` and `stage`, and dead letters.
fn split(outputs: Vec<Output>) -> (Vec<Event>, Vec<kestrel_event::DeadLetter>) {
    let mut events = Vec::with_capacity(outputs.len());
    let mut letters = Vec::new();
    for output in outputs {
        match output {
            Output::Event(mut event) => {
                if let Some(key) = audit_key(&event) {
                    event.event.id = event_id(WEBHOOK_SOURCE, RecordPosition::Key(&key));
                }
                if let Some(log) = &mut event.log {
                    // The offset is the position in one request's body: meaningless later.
                    log.offset = None;
                }
                events.push(event);
            }
            Output::DeadLetter(letter) => letters.push(letter),
        }
    }
    (events, letters)
}

/// `auditID/stage`: what identifies an audit event among every batch the apiserver sends.
fn audit_key(event: &Event) -> Option<String> {
    let id = event.audit.get("auditID")?.as_str()?;
    let stage = event
        .audit
        .get("stage")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Some(format!("{id}/{stage}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_that_are_not_audit_events_are_named() {
        assert!(check_body(b"not json").unwrap_err().contains("not JSON"));
        assert!(check_body(br#"{"kind":"PodList","apiVersion":"v1"}"#)
            .unwrap_err()
            .contains("PodList"));
        assert!(check_body(br#"{"kind":"EventList","apiVersion":"v1"}"#)
            .unwrap_err()
            .contains("audit.k8s.io"));
        assert!(
            check_body(br#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[]}"#)
                .is_ok()
        );
        assert!(check_body(b"42").unwrap_err().contains("EventList"));
        assert!(check_body(br#"{"kind":"Event""#)
            .unwrap_err()
            .contains("not JSON"));
        assert!(check_body(
            br#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","x":[1,{"y":null}]}"#
        )
        .is_ok());
        assert!(check_body(b" [] ").is_ok());
    }
}
