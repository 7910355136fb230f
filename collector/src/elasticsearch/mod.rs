//! An Elasticsearch-compatible ingest API on the webhook listener, for the shippers that
//! speak it: Fluent Bit's `es` output, Vector's `elasticsearch` sink, Filebeat's
//! `output.elasticsearch`.
//!
//! - `POST`/`PUT` `/_bulk`, `/{index}/_bulk` and `/{index}/{type}/_bulk`: NDJSON action and
//!   source lines ([`bulk`]), gzip bodies (`Content-Encoding: gzip`) too. `create` and `index`
//!   store their documents ([`document`]); `delete` and `update` are answered with an error
//!   per item and never applied. Query parameters (`refresh`, `pipeline`, `filter_path`,
//!   `timeout`, ...) are accepted and ignored.
//! - `GET`/`HEAD` `/` (an 8.x version object), `GET /_cluster/health`, `GET /_license`,
//!   `GET /_xpack`, and minimal answers to Filebeat's index template and ILM policy set-up
//!   (`/_index_template/{name}`, `/_template/{name}`, `/_ilm/policy/{name}`: present, and
//!   accepted when put).
//!
//! Every request is authenticated first ([`IngestCredentials`]); a refused one gets `401`
//! in Elasticsearch's shape (`security_exception`), with the reason in the server log.
//!
//! Delivery: a bulk request is answered only once the bus accepted its events (and the
//! dead-letter store its rejected items); when either fails the whole request is answered
//! `503` and the shipper sends it again. A document with an `_id` has its event id from the
//! index and `_id`, so it is stored once however often it is sent; a `create` of an `_id`
//! this process stored recently (the last `recent_ids`) is answered `409`
//! (`version_conflict_engine_exception`), which the shippers take as already stored. Items
//! that cannot be stored (a source that is not a JSON object, a bad time field, a line that
//! is not an action) get a `400` item (`mapper_parsing_exception`, ...) and go to the
//! dead-letter store with their raw bytes, while the rest of the request goes on.

pub mod bulk;
pub mod document;
mod recent;
pub mod response;

use std::collections::HashSet;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use kestrel_bus::{DeadLetterStore, Publisher};
use kestrel_event::{DeadLetter, Event, Timestamp};
use serde_json::json;

use crate::acceptance::{declared_length, keep_dead_letters, publish_acknowledged};
use crate::credentials::IngestCredentials;
use crate::redact::{Redaction, Source};
use bulk::{Action, Item, Operation};
use document::{to_event, DocumentContext, DocumentError};
pub use document::{ELASTICSEARCH_FIELD, ELASTICSEARCH_SOURCE};
use recent::RecentIds;
use response::{ItemResult, Outcome};

/// Settings of the Elasticsearch API.
#[derive(Clone, Debug)]
pub struct ElasticsearchOptions {
    /// Who may post (`collector.ingest.tokens`, or the listener's client certificates).
    pub credentials: IngestCredentials,
    /// Largest body accepted, in bytes, before and after gzip decompression; larger ones are
    /// answered `413`.
    pub max_body_bytes: usize,
    /// How many recent `_id`s to remember for `409`s (`collector.elasticsearch.recent_ids`).
    pub recent_ids: usize,
    /// `host.name` of documents without a host, and the node name of `GET /`.
    pub host_name: String,
    /// Secrets replaced before events and dead letters are kept.
    pub redaction: Redaction,
}

#[derive(Clone)]
struct EsState {
    publisher: Publisher,
    dead_letters: DeadLetterStore,
    credentials: IngestCredentials,
    mapper: Mapper,
    max_body_bytes: usize,
    redaction: Redaction,
}

/// What turns bulk items into events.
#[derive(Clone)]
struct Mapper {
    /// The ids stored recently, for `409`s.
    recent: Arc<RecentIds>,
    /// `host.name` of documents without a host.
    host_name: Arc<str>,
    /// What makes the ids of documents without `_id` unique to this process.
    nonce: Arc<str>,
}

/// The API's routes, to merge into the webhook listener's router.
pub fn elasticsearch_router(
    options: &ElasticsearchOptions,
    publisher: Publisher,
    dead_letters: DeadLetterStore,
) -> Router {
    let nonce = format!(
        "{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    );
    let state = EsState {
        publisher,
        dead_letters,
        credentials: options.credentials.clone(),
        mapper: Mapper {
            recent: Arc::new(RecentIds::new(options.recent_ids)),
            host_name: options.host_name.as_str().into(),
            nonce: nonce.into(),
        },
        max_body_bytes: options.max_body_bytes,
        redaction: options.redaction.clone(),
    };
    let accepted = || get(present).put(acknowledged);
    Router::new()
        .route("/", get(info))
        .route("/_bulk", post(bulk_all).put(bulk_all))
        .route("/{index}/_bulk", post(bulk_index).put(bulk_index))
        .route("/{index}/{kind}/_bulk", post(bulk_typed).put(bulk_typed))
        .route("/_cluster/health", get(cluster_health))
        .route("/_license", get(license))
        .route("/_xpack", get(xpack))
        .route("/_index_template/{name}", accepted())
        .route("/_template/{name}", accepted())
        .route("/_ilm/policy/{name}", accepted())
        .layer(DefaultBodyLimit::max(options.max_body_bytes))
        .with_state(state)
}

/// Checks the credentials of a request: the `401` answer when refused, `None` when accepted.
fn refused(state: &EsState, headers: &HeaderMap, path: &str) -> Option<Response> {
    match state.credentials.check(headers) {
        Ok(_) => None,
        Err(refusal) => {
            metrics::counter!("kestrel_collector_elasticsearch_unauthorized_total").increment(1);
            tracing::warn!(%refusal, path, "elasticsearch request refused");
            Some(response::unauthorized(&format!(
                "unable to authenticate request [{path}]: {refusal}"
            )))
        }
    }
}

async fn info(State(state): State<EsState>, headers: HeaderMap) -> Response {
    if let Some(refused) = refused(&state, &headers, "/") {
        return refused;
    }
    response::json_response(StatusCode::OK, &response::info(&state.mapper.host_name))
}

async fn cluster_health(State(state): State<EsState>, headers: HeaderMap) -> Response {
    if let Some(refused) = refused(&state, &headers, "/_cluster/health") {
        return refused;
    }
    response::json_response(StatusCode::OK, &response::cluster_health())
}

async fn license(State(state): State<EsState>, headers: HeaderMap) -> Response {
    if let Some(refused) = refused(&state, &headers, "/_license") {
        return refused;
    }
    response::json_response(StatusCode::OK, &response::license())
}

async fn xpack(State(state): State<EsState>, headers: HeaderMap) -> Response {
    if let Some(refused) = refused(&state, &headers, "/_xpack") {
        return refused;
    }
    response::json_response(StatusCode::OK, &response::xpack())
}

/// `GET`/`HEAD` of a template or policy: present, so that Filebeat does not try to load it.
async fn present(
    State(state): State<EsState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = refused(&state, &headers, &name) {
        return refused;
    }
    response::json_response(StatusCode::OK, &json!({ name: {} }))
}

/// `PUT` of a template or policy: accepted, and ignored.
async fn acknowledged(
    State(state): State<EsState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = refused(&state, &headers, &name) {
        return refused;
    }
    response::json_response(StatusCode::OK, &json!({"acknowledged": true}))
}

async fn bulk_all(State(state): State<EsState>, request: Request) -> Response {
    receive(state, None, request).await
}

async fn bulk_index(
    State(state): State<EsState>,
    Path(index): Path<String>,
    request: Request,
) -> Response {
    receive(state, Some(index), request).await
}

async fn bulk_typed(
    State(state): State<EsState>,
    Path((index, _kind)): Path<(String, String)>,
    request: Request,
) -> Response {
    receive(state, Some(index), request).await
}

/// Why a whole bulk body is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// The body, or its decompressed content, is over the limit.
    #[error("request body over the limit of {0} bytes")]
    TooLarge(usize),
    /// A `Content-Encoding` other than `gzip` and `identity`.
    #[error("unsupported Content-Encoding {0:?}: expected gzip or identity")]
    UnsupportedEncoding(String),
    /// A gzip body that does not decompress.
    #[error("gzip body does not decompress: {0}")]
    BadGzip(String),
    /// No action in the body.
    #[error("Validation Failed: 1: no requests added;")]
    Empty,
}

impl BodyError {
    fn into_response(self) -> Response {
        let (status, kind) = match self {
            BodyError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "content_too_long_exception"),
            BodyError::UnsupportedEncoding(_) | BodyError::BadGzip(_) => {
                (StatusCode::BAD_REQUEST, "illegal_argument_exception")
            }
            BodyError::Empty => (
                StatusCode::BAD_REQUEST,
                "action_request_validation_exception",
            ),
        };
        response::error(status, kind, &self.to_string())
    }
}

/// The body as sent, decompressed when `encoding` is gzip, at most `limit` bytes.
pub fn decode_body(body: Bytes, encoding: Option<&str>, limit: usize) -> Result<Bytes, BodyError> {
    let encoding = encoding.map(str::trim).unwrap_or_default();
    if encoding.is_empty() || encoding.eq_ignore_ascii_case("identity") {
        return Ok(body);
    }
    if !(encoding.eq_ignore_ascii_case("gzip") || encoding.eq_ignore_ascii_case("x-gzip")) {
        return Err(BodyError::UnsupportedEncoding(encoding.to_owned()));
    }
    let mut decoded = Vec::with_capacity(body.len().saturating_mul(4).min(limit));
    flate2::read::MultiGzDecoder::new(&body[..])
        .take(limit as u64 + 1)
        .read_to_end(&mut decoded)
        .map_err(|error| BodyError::BadGzip(error.to_string()))?;
    if decoded.len() > limit {
        return Err(BodyError::TooLarge(limit));
    }
    Ok(decoded.into())
}

async fn receive(state: EsState, path_index: Option<String>, request: Request) -> Response {
    let started = Instant::now();
    metrics::counter!("kestrel_collector_elasticsearch_requests_total").increment(1);
    let path = request.uri().path().to_owned();
    if let Some(refused) = refused(&state, request.headers(), &path) {
        return refused;
    }
    // Answered before any of the body is read, so a client waiting on `Expect: 100-continue`
    // gets the answer instead of a reset mid-upload.
    if declared_length(request.headers()).is_some_and(|length| length > state.max_body_bytes) {
        return rejected(BodyError::TooLarge(state.max_body_bytes));
    }
    let encoding = request
        .headers()
        .get(header::CONTENT_ENCODING)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let body = match Bytes::from_request(request, &()).await {
        Ok(body) => body,
        Err(rejection) => {
            metrics::counter!("kestrel_collector_elasticsearch_rejected_total").increment(1);
            tracing::warn!(error = %rejection, "elasticsearch bulk body not read");
            let status = rejection.status();
            let kind = if status == StatusCode::PAYLOAD_TOO_LARGE {
                "content_too_long_exception"
            } else {
                "illegal_argument_exception"
            };
            return response::error(status, kind, &rejection.body_text());
        }
    };
    let ingested = chrono::Utc::now();
    let mapper = state.mapper.clone();
    let limit = state.max_body_bytes;
    let prepared = tokio::task::spawn_blocking(move || {
        let body = decode_body(body, encoding.as_deref(), limit)?;
        prepare(&mapper, &body, path_index.as_deref(), ingested)
    })
    .await;
    let prepared = match prepared {
        Ok(Ok(prepared)) => prepared,
        Ok(Err(error)) => return rejected(error),
        Err(error) => {
            tracing::error!(%error, "elasticsearch bulk body not processed");
            return response::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "exception",
                "the bulk body could not be processed",
            );
        }
    };
    store(&state, prepared, started).await
}

fn rejected(error: BodyError) -> Response {
    metrics::counter!("kestrel_collector_elasticsearch_rejected_total").increment(1);
    tracing::warn!(%error, "elasticsearch bulk request rejected");
    error.into_response()
}

/// A body turned into events, dead letters and the answer of each item.
struct Prepared {
    items: Vec<ItemResult>,
    events: Vec<Event>,
    letters: Vec<DeadLetter>,
}

/// A process-wide sequence for the ids of documents without `_id`.
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// Maps every item of a body (off the async runtime: parsing and mapping are CPU work).
fn prepare(
    mapper: &Mapper,
    body: &[u8],
    path_index: Option<&str>,
    ingested: Timestamp,
) -> Result<Prepared, BodyError> {
    let items = bulk::parse(body, path_index);
    if items.is_empty() {
        return Err(BodyError::Empty);
    }
    let mut prepared = Prepared {
        items: Vec::with_capacity(items.len()),
        events: Vec::with_capacity(items.len()),
        letters: Vec::new(),
    };
    let mut seen = HashSet::new();
    for item in items {
        let result = match item {
            Item::Malformed { reason, raw, line } => {
                prepared
                    .letters
                    .push(letter(Some(line), reason.clone(), raw, ingested));
                ItemResult {
                    action: Action::Index,
                    index: None,
                    id: None,
                    outcome: failed("illegal_argument_exception", reason),
                }
            }
            Item::Operation(operation) => {
                item_result(mapper, operation, ingested, &mut seen, &mut prepared)
            }
        };
        prepared.items.push(result);
    }
    Ok(prepared)
}

/// The answer to one operation; its event or dead letter added to `prepared`.
fn item_result(
    mapper: &Mapper,
    operation: Operation<'_>,
    ingested: Timestamp,
    seen: &mut HashSet<String>,
    prepared: &mut Prepared,
) -> ItemResult {
    let Operation {
        action,
        index,
        id,
        source,
        line,
    } = operation;
    let mut result = ItemResult {
        action,
        index: index.clone(),
        id: id.clone(),
        outcome: Outcome::Created,
    };
    if matches!(action, Action::Delete | Action::Update) {
        let reason = format!(
            "[{}] is not supported: stored events are never changed",
            action.as_str()
        );
        result.outcome = failed("illegal_argument_exception", reason);
        return result;
    }
    let Some(source) = source else {
        result.outcome = failed(
            "action_request_validation_exception",
            format!("line {line}: {}", DocumentError::MissingSource),
        );
        return result;
    };
    let Some(index) = index else {
        let reason = format!("line {line}: Validation Failed: 1: index is missing;");
        prepared.letters.push(letter(
            Some(line + 1),
            reason.clone(),
            source.to_vec(),
            ingested,
        ));
        result.outcome = failed("action_request_validation_exception", reason);
        return result;
    };
    let unique = format!(
        "{}/{}",
        mapper.nonce,
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    );
    let context = DocumentContext {
        index: &index,
        id: id.as_deref(),
        unique: &unique,
        host_name: &mapper.host_name,
        ingested,
    };
    let event = match to_event(source, &context) {
        Ok(event) => event,
        Err(error) => {
            let reason = format!("line {}: {error}", line + 1);
            prepared.letters.push(letter(
                Some(line + 1),
                reason.clone(),
                source.to_vec(),
                ingested,
            ));
            result.outcome = failed("mapper_parsing_exception", reason);
            return result;
        }
    };
    let stored = seen.contains(event.id()) || mapper.recent.contains(event.id());
    if result.id.is_none() {
        result.id = Some(event.id().to_owned());
    }
    result.outcome = match (stored, action) {
        (true, Action::Create) => Outcome::Conflict,
        (true, _) => Outcome::Noop,
        (false, _) => {
            seen.insert(event.id().to_owned());
            prepared.events.push(event);
            Outcome::Created
        }
    };
    result
}

fn failed(kind: &'static str, reason: String) -> Outcome {
    Outcome::Failed {
        status: 400,
        kind,
        reason,
    }
}

fn letter(line: Option<u64>, error: String, raw: Vec<u8>, received: Timestamp) -> DeadLetter {
    DeadLetter {
        source: ELASTICSEARCH_SOURCE.to_owned(),
        line,
        offset: None,
        error,
        raw,
        received,
    }
}

/// Keeps the dead letters, publishes the events and answers.
async fn store(state: &EsState, prepared: Prepared, started: Instant) -> Response {
    let Prepared {
        items,
        events,
        letters,
    } = prepared;
    let failed = items.iter().filter(|item| item.status() >= 300).count();
    metrics::counter!("kestrel_collector_elasticsearch_items_total").increment(items.len() as u64);
    if !letters.is_empty() {
        tracing::warn!(
            items = letters.len(),
            error = letters[0].error.as_str(),
            "elasticsearch bulk items not stored; kept as dead letters"
        );
    }
    let unavailable = |text: &str| {
        response::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable_shards_exception",
            text.trim_end(),
        )
    };
    let redaction = (&state.redaction, Source::Elasticsearch);
    if let Err((_, text)) = keep_dead_letters(
        ELASTICSEARCH_SOURCE,
        redaction,
        &state.dead_letters,
        letters,
    )
    .await
    {
        return unavailable(text);
    }
    let ids: Vec<String> = events.iter().map(|event| event.id().to_owned()).collect();
    if !events.is_empty() {
        if let Err((_, text)) =
            publish_acknowledged(ELASTICSEARCH_SOURCE, redaction, &state.publisher, events).await
        {
            return unavailable(text);
        }
    }
    state
        .mapper
        .recent
        .insert_all(ids.iter().map(String::as_str));
    metrics::counter!("kestrel_collector_elasticsearch_events_total").increment(ids.len() as u64);
    metrics::counter!("kestrel_collector_elasticsearch_errors_total").increment(failed as u64);
    let body = response::bulk_body(started.elapsed().as_millis(), &items);
    response::json_response(StatusCode::OK, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn mapper(recent: &[&str]) -> Mapper {
        let ids = RecentIds::new(10);
        ids.insert_all(recent.iter().copied());
        Mapper {
            recent: Arc::new(ids),
            host_name: "receiver".into(),
            nonce: "test".into(),
        }
    }

    fn statuses(prepared: &Prepared) -> Vec<u16> {
        prepared.items.iter().map(ItemResult::status).collect()
    }

    #[test]
    fn an_id_sent_twice_is_stored_once_and_a_create_of_it_conflicts() {
        let body = b"{\"create\":{\"_index\":\"logs\",\"_id\":\"a\"}}\n{\"message\":\"1\"}\n\
            {\"create\":{\"_index\":\"logs\",\"_id\":\"a\"}}\n{\"message\":\"2\"}\n\
            {\"index\":{\"_index\":\"logs\",\"_id\":\"a\"}}\n{\"message\":\"3\"}\n\
            {\"create\":{\"_index\":\"other\",\"_id\":\"a\"}}\n{\"message\":\"4\"}\n\
            {\"create\":{}}\n{\"message\":\"5\"}\n\
            {\"create\":{\"_index\":\"logs\"}}\n{\"message\":\"6\"}\n{\"create\":{\"_index\":\"logs\"}}\n{\"message\":\"6\"}\n";
        let prepared = prepare(&mapper(&[]), body, None, chrono::Utc::now()).unwrap();
        assert_eq!(statuses(&prepared), [201, 409, 200, 201, 400, 201, 201]);
        assert_eq!(prepared.events.len(), 4);
        let messages: Vec<_> = prepared.events.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(
            messages,
            ["1", "4", "6", "6"],
            "without _id, each is its own document"
        );
        assert_eq!(
            prepared.items[5].id.as_deref(),
            Some(prepared.events[2].id())
        );
        // The document without an index is kept as a dead letter.
        assert_eq!(prepared.letters.len(), 1);
        assert_eq!(prepared.letters[0].raw, b"{\"message\":\"5\"}");
        assert!(prepared.letters[0].error.contains("index is missing"));

        // Stored by an earlier request: a create conflicts, an index is a no-op.
        let stored = prepared.events[0].id().to_owned();
        let again = prepare(&mapper(&[&stored]), body, Some("logs"), chrono::Utc::now()).unwrap();
        assert_eq!(statuses(&again), [409, 409, 200, 201, 201, 201, 201]);
        assert_eq!(
            prepare(&mapper(&[]), b"\n\n", None, chrono::Utc::now()).err(),
            Some(BodyError::Empty)
        );
    }

    #[test]
    fn gzip_bodies_are_decompressed_within_the_limit() {
        let text = b"{\"create\":{}}\n{\"message\":\"a\"}\n".repeat(100);
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(&text).unwrap();
        let gzip = Bytes::from(encoder.finish().unwrap());
        let decoded = decode_body(gzip.clone(), Some("gzip"), text.len()).unwrap();
        assert_eq!(&decoded[..], &text[..]);
        assert_eq!(
            decode_body(gzip.clone(), Some("gzip"), text.len() - 1),
            Err(BodyError::TooLarge(text.len() - 1))
        );
        let plain = Bytes::from_static(b"{}");
        assert_eq!(decode_body(plain.clone(), None, 10).unwrap(), plain);
        assert!(matches!(
            decode_body(plain.clone(), Some("gzip"), 10),
            Err(BodyError::BadGzip(_))
        ));
        assert!(matches!(
            decode_body(plain, Some("br"), 10),
            Err(BodyError::UnsupportedEncoding(_))
        ));
    }
}
