//! What the HTTP ingest endpoints (the audit webhook, Falco, bulk, OTLP) do with a body before
//! answering `200`: keep its dead letters, then hand its events to the bus and wait until the
//! bus accepted them. A failure is answered `503`, so the sender retries the whole body.
//! Both are redacted first ([`crate::redact`]): no secret reaches the bus or the data directory.

use axum::http::{header, HeaderMap, StatusCode};
use kestrel_bus::{DeadLetterStore, Publisher};
use kestrel_event::{DeadLetter, Event};

use crate::redact::{Redaction, Source};

/// The answer to a body that could not be stored: its status and text.
pub(crate) type Refusal = (StatusCode, &'static str);

/// Stores the dead letters of a body (counted under `source`), redacted as from `from`, off
/// the async runtime.
pub(crate) async fn keep_dead_letters(
    source: &'static str,
    (redaction, from): (&Redaction, Source),
    store: &DeadLetterStore,
    mut letters: Vec<DeadLetter>,
) -> Result<(), Refusal> {
    if letters.is_empty() {
        return Ok(());
    }
    redaction.dead_letters(from, &mut letters);
    metrics::counter!("kestrel_collector_dead_letters_total", "source" => source)
        .increment(letters.len() as u64);
    let store = store.clone();
    let stored = tokio::task::spawn_blocking(move || store.append(&letters)).await;
    if matches!(stored, Ok(Ok(()))) {
        return Ok(());
    }
    tracing::error!(source, "dead letters could not be stored");
    Err((
        StatusCode::SERVICE_UNAVAILABLE,
        "cannot store rejected items; retry\n",
    ))
}

/// Publishes the events of a body, redacted as from `from`, and waits until the bus has
/// accepted them.
pub(crate) async fn publish_acknowledged(
    source: &'static str,
    (redaction, from): (&Redaction, Source),
    publisher: &Publisher,
    mut events: Vec<Event>,
) -> Result<(), Refusal> {
    redaction.events(from, &mut events);
    let count = events.len();
    let delivered = match publisher.publish(events).await {
        Ok(acknowledgement) => acknowledgement.wait().await,
        Err(error) => Err(error),
    };
    match delivered {
        Ok(()) => Ok(()),
        Err(error) => {
            tracing::error!(source, %error, events = count, "events not accepted by the bus");
            Err((
                StatusCode::SERVICE_UNAVAILABLE,
                "events not stored; retry\n",
            ))
        }
    }
}

/// The `Content-Length` a request declares, if it declares a valid one: a body declared over
/// the limit is answered `413` before any of it is read, so a client waiting on
/// `Expect: 100-continue` gets the answer instead of a reset mid-upload.
pub(crate) fn declared_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}
