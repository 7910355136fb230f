//! The `POST /v1/logs` handler: authenticate, read, decode, map, keep the rejected records as
//! dead letters, publish the rest and answer once the bus accepted them.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use kestrel_bus::{DeadLetterStore, Publisher};
use kestrel_event::{DeadLetter, Event, Timestamp};
use prost::Message;

use super::decode::{decode, decompress, BadRecord, DecodeError, Encoding, ScopeBatch};
use super::mapping::{to_event, OTLP_SOURCE};
use super::response::{code, export_response, status_response};
use crate::acceptance::{declared_length, keep_dead_letters, publish_acknowledged};
use crate::credentials::IngestCredentials;
use crate::redact::{Redaction, Source};

#[derive(Clone)]
pub(super) struct OtlpState {
    pub publisher: Publisher,
    pub dead_letters: DeadLetterStore,
    pub credentials: IngestCredentials,
    pub host_name: String,
    pub max_body_bytes: usize,
    pub redaction: Redaction,
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn rejected(status: StatusCode, encoding: Encoding, code: i32, message: String) -> Response {
    metrics::counter!("kestrel_collector_otlp_rejected_total").increment(1);
    tracing::warn!(status = status.as_u16(), reason = %message, "otlp request rejected");
    status_response(status, encoding, code, message)
}

pub(super) async fn receive(State(state): State<OtlpState>, request: Request) -> Response {
    metrics::counter!("kestrel_collector_otlp_requests_total").increment(1);
    let content_type = header_text(request.headers(), header::CONTENT_TYPE);
    let encoding = content_type.and_then(Encoding::from_content_type);
    if let Err(refusal) = state.credentials.check(request.headers()) {
        metrics::counter!("kestrel_collector_otlp_unauthorized_total").increment(1);
        tracing::warn!(%refusal, "otlp request refused");
        let mut response = status_response(
            StatusCode::UNAUTHORIZED,
            encoding.unwrap_or(Encoding::Protobuf),
            code::UNAUTHENTICATED,
            refusal.to_string(),
        );
        // The same challenge as every push endpoint.
        let challenge = crate::credentials::refused(&refusal);
        if let Some(value) = challenge.headers().get(header::WWW_AUTHENTICATE) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value.clone());
        }
        return response;
    }
    let Some(encoding) = encoding else {
        return rejected(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Encoding::Json,
            code::UNIMPLEMENTED,
            format!(
                "unsupported Content-Type {:?} (expected application/x-protobuf or application/json)",
                content_type.unwrap_or_default()
            ),
        );
    };
    let too_large = |limit: usize| {
        rejected(
            StatusCode::PAYLOAD_TOO_LARGE,
            encoding,
            code::RESOURCE_EXHAUSTED,
            format!("request body over the limit of {limit} bytes"),
        )
    };
    let limit = state.max_body_bytes;
    // A body declared over the limit is answered before any of it is read.
    let declared = declared_length(request.headers());
    if declared.is_some_and(|length| length > limit) {
        return too_large(limit);
    }
    let content_encoding =
        header_text(request.headers(), header::CONTENT_ENCODING).map(str::to_owned);
    let body = match Bytes::from_request(request, &()).await {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return too_large(limit)
        }
        Err(rejection) => {
            return rejected(
                rejection.status(),
                encoding,
                code::INVALID_ARGUMENT,
                rejection.body_text(),
            )
        }
    };
    let host_name = state.host_name.clone();
    let decoded = tokio::task::spawn_blocking(move || {
        let plain = decompress(&body, content_encoding.as_deref(), limit)?;
        let batches = decode(&plain, encoding)?;
        Ok::<_, DecodeError>(normalize(batches, encoding, &host_name, chrono::Utc::now()))
    })
    .await;
    let normalized = match decoded {
        Ok(Ok(normalized)) => normalized,
        Ok(Err(error)) => {
            let (status, rpc_code) = match &error {
                DecodeError::UnsupportedCompression(_) => {
                    (StatusCode::UNSUPPORTED_MEDIA_TYPE, code::UNIMPLEMENTED)
                }
                DecodeError::TooLarge { .. } => {
                    (StatusCode::PAYLOAD_TOO_LARGE, code::RESOURCE_EXHAUSTED)
                }
                _ => (StatusCode::BAD_REQUEST, code::INVALID_ARGUMENT),
            };
            return rejected(status, encoding, rpc_code, error.to_string());
        }
        Err(join) => {
            tracing::error!(error = %join, "otlp decoding task failed");
            return status_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                encoding,
                code::UNAVAILABLE,
                "decoding failed; retry",
            );
        }
    };
    store(&state, encoding, normalized).await
}

/// The events and dead letters of an export.
pub(super) struct Normalized {
    pub events: Vec<Event>,
    pub letters: Vec<DeadLetter>,
}

/// Maps every decoded record to an event; records that did not decode or map become dead
/// letters whose error names their position in the export.
pub(super) fn normalize(
    batches: Vec<ScopeBatch>,
    encoding: Encoding,
    host_name: &str,
    ingested: Timestamp,
) -> Normalized {
    let mut events = Vec::new();
    let mut letters = Vec::new();
    let letter = |bad: BadRecord| DeadLetter {
        source: OTLP_SOURCE.to_owned(),
        line: None,
        offset: None,
        error: format!("{}: {}", bad.position, bad.error),
        raw: bad.raw,
        received: ingested,
    };
    for batch in batches {
        for (k, record) in batch.records.into_iter().enumerate() {
            let record = match record {
                Ok(record) => record,
                Err(bad) => {
                    letters.push(letter(bad));
                    continue;
                }
            };
            match to_event(&batch.resource, &batch.scope, &record, host_name, ingested) {
                Ok(event) => events.push(event),
                Err(error) => letters.push(letter(BadRecord {
                    position: format!("{}.logRecords[{k}]", batch.position),
                    error: error.to_string(),
                    raw: match encoding {
                        Encoding::Protobuf => record.encode_to_vec(),
                        // Serializing a decoded record cannot fail.
                        Encoding::Json => serde_json::to_vec(&record).unwrap_or_default(),
                    },
                })),
            }
        }
    }
    Normalized { events, letters }
}

/// Keeps the dead letters, publishes the events, and answers.
async fn store(state: &OtlpState, encoding: Encoding, normalized: Normalized) -> Response {
    let Normalized { events, letters } = normalized;
    let rejected_records = letters.len();
    let total = events.len() + rejected_records;
    let error_message = match letters.first() {
        Some(first) => format!(
            "{rejected_records} of {total} log records rejected and kept as dead letters; first: {}",
            first.error
        ),
        None => String::new(),
    };
    let unavailable = |(status, text): (StatusCode, &'static str)| {
        status_response(status, encoding, code::UNAVAILABLE, text.trim_end())
    };
    let redaction = (&state.redaction, Source::Otlp);
    if !letters.is_empty() {
        tracing::warn!(
            records = rejected_records,
            error = %error_message,
            "otlp log records rejected; kept as dead letters"
        );
        metrics::counter!("kestrel_collector_otlp_rejected_records_total")
            .increment(rejected_records as u64);
        if let Err(refusal) =
            keep_dead_letters(OTLP_SOURCE, redaction, &state.dead_letters, letters).await
        {
            return unavailable(refusal);
        }
    }
    let count = events.len();
    if count > 0 {
        if let Err(refusal) =
            publish_acknowledged(OTLP_SOURCE, redaction, &state.publisher, events).await
        {
            return unavailable(refusal);
        }
    }
    metrics::counter!("kestrel_collector_otlp_records_total").increment(count as u64);
    export_response(encoding, rejected_records, error_message)
}
