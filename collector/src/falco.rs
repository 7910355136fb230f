//! Falco runtime alerts posted to the webhook listener: Falco's `http_output` (with
//! `json_output: true`) or falcosidekick's `webhook` output, at `collector.falco.path`.
//!
//! A body holds one alert object, a JSON array of them, or one alert per line (NDJSON). Each
//! alert becomes an event of kind `falco`: `@timestamp` from `time`, `message` from `output`,
//! the rest of the alert document (`rule`, `priority`, `source`, `tags`, `hostname`,
//! `output_fields` as given, and any other key such as falcosidekick's `uuid`) under `falco`,
//! and the schema's `container.*` and `kubernetes.*` fields filled from `output_fields`
//! (`container.id`, `container.name`, `container.image*`, `k8s.ns.name`, `k8s.pod.name`,
//! `k8s.pod.uid`), so that searches on those fields and the pod timeline take in the alerts.
//!
//! Requests are authenticated before the body is read: accepted when the listener verifies
//! client certificates (its TLS layer has already refused every other client), or when they
//! carry one of the configured tokens (as `Bearer`, `Basic` or `ApiKey`, compared in constant
//! time: see [`crate::credentials`]); with neither configured every request is answered `401`. Items that are not
//! Falco alerts (not JSON, not an object, without `rule`, `priority` or a valid `time`) go to
//! the dead-letter store with their raw bytes and are counted; the others are published, and
//! the request is answered `200` only once the bus has accepted them.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use kestrel_bus::{DeadLetterStore, Publisher};
use kestrel_event::{
    event_id, parse_timestamp, ContainerMeta, DeadLetter, Event, EventKind, KubernetesMeta,
    KubernetesPod, RecordPosition, Timestamp,
};
use serde_json::{Map, Value};

use crate::acceptance::{declared_length, keep_dead_letters, publish_acknowledged};
use crate::credentials::IngestCredentials;
use crate::normalize::k8s_audit::type_name;
use crate::redact::{Redaction, Source};

/// The source name of Falco events (`log.file.path`) and of their dead letters.
pub const FALCO_SOURCE: &str = "falco";

/// The key of the alert document in an event (`falco.rule`, `falco.output_fields`, ...).
pub const FALCO_FIELD: &str = "falco";

/// Why an item of a body is not a Falco alert.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FalcoError {
    /// The item is not JSON.
    #[error("not JSON: {0}")]
    NotJson(String),
    /// The item is JSON but not an object.
    #[error("expected a Falco alert object, found {0}")]
    NotAnObject(&'static str),
    /// A required key is missing, or is not a non-empty string.
    #[error("a Falco alert needs `{0}` as a non-empty string")]
    Missing(&'static str),
    /// `time` is not an RFC 3339 timestamp.
    #[error("`time` {value:?} is not an RFC 3339 timestamp: {reason}")]
    BadTime {
        /// The value found.
        value: String,
        /// Why it does not parse.
        reason: String,
    },
}

/// Settings of the Falco endpoint.
#[derive(Clone, Debug)]
pub struct FalcoOptions {
    /// The path Falco posts to (`collector.falco.path`).
    pub path: String,
    /// Who may post (`collector.falco.tokens`, or the listener's client certificates).
    pub credentials: IngestCredentials,
    /// Largest body accepted, in bytes; larger ones are answered `413`.
    pub max_body_bytes: usize,
    /// `host.name` of alerts without `hostname`.
    pub host_name: String,
    /// Secrets replaced before events and dead letters are kept.
    pub redaction: Redaction,
}

#[derive(Clone)]
struct FalcoState {
    publisher: Publisher,
    dead_letters: DeadLetterStore,
    credentials: IngestCredentials,
    host_name: String,
    max_body_bytes: usize,
    redaction: Redaction,
}

/// The Falco endpoint, to merge into the webhook listener's router.
pub fn falco_router(
    options: &FalcoOptions,
    publisher: Publisher,
    dead_letters: DeadLetterStore,
) -> Router {
    let state = FalcoState {
        publisher,
        dead_letters,
        credentials: options.credentials.clone(),
        host_name: options.host_name.clone(),
        max_body_bytes: options.max_body_bytes,
        redaction: options.redaction.clone(),
    };
    Router::new()
        .route(&options.path, post(receive))
        .layer(DefaultBodyLimit::max(options.max_body_bytes))
        .with_state(state)
}

async fn receive(State(state): State<FalcoState>, request: Request) -> Response {
    metrics::counter!("kestrel_collector_falco_requests_total").increment(1);
    if let Err(refusal) = state.credentials.check(request.headers()) {
        metrics::counter!("kestrel_collector_falco_unauthorized_total").increment(1);
        tracing::warn!(%refusal, "falco request refused");
        return crate::credentials::refused(&refusal);
    }
    // A body declared over the limit is answered 413 before any of it is read, so a client
    // waiting on `Expect: 100-continue` gets the answer instead of a reset mid-upload.
    if declared_length(request.headers()).is_some_and(|length| length > state.max_body_bytes) {
        metrics::counter!("kestrel_collector_falco_rejected_total").increment(1);
        tracing::warn!(
            limit = state.max_body_bytes,
            "falco request body over the limit"
        );
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body over the limit\n",
        )
            .into_response();
    }
    // Read only once authorized; a body over the limit is answered 413.
    let body = match Bytes::from_request(request, &()).await {
        Ok(body) => body,
        Err(rejection) => {
            metrics::counter!("kestrel_collector_falco_rejected_total").increment(1);
            tracing::warn!(error = %rejection, "falco request body not read");
            return rejection.into_response();
        }
    };
    let (events, letters) = normalize_body(&body, &state.host_name, chrono::Utc::now());
    if events.is_empty() && letters.is_empty() {
        metrics::counter!("kestrel_collector_falco_rejected_total").increment(1);
        return (StatusCode::BAD_REQUEST, "no Falco alert in the body\n").into_response();
    }
    let redaction = (&state.redaction, Source::Falco);
    let first_error = letters.first().map(|l| l.error.clone());
    if !letters.is_empty() {
        tracing::warn!(
            items = letters.len(),
            error = first_error.as_deref().unwrap_or_default(),
            "falco items are not alerts; kept as dead letters"
        );
        if let Err(refusal) =
            keep_dead_letters(FALCO_SOURCE, redaction, &state.dead_letters, letters).await
        {
            return refusal.into_response();
        }
    }
    if events.is_empty() {
        metrics::counter!("kestrel_collector_falco_rejected_total").increment(1);
        let reason = first_error.unwrap_or_default();
        return (
            StatusCode::BAD_REQUEST,
            format!("no Falco alert in the body: {reason}\n"),
        )
            .into_response();
    }
    let count = events.len();
    if let Err(refusal) =
        publish_acknowledged(FALCO_SOURCE, redaction, &state.publisher, events).await
    {
        return refusal.into_response();
    }
    metrics::counter!("kestrel_collector_falco_events_total").increment(count as u64);
    (StatusCode::OK, String::new()).into_response()
}

/// One item of a body: its bytes (as posted; an array's elements re-serialized) and its
/// value, or the reason it is not JSON.
struct Item {
    raw: Vec<u8>,
    value: Result<Value, FalcoError>,
}

/// The items of a body: the elements of a JSON array, a single JSON value, or (when the body
/// is not one JSON value) its non-blank lines.
fn items(body: &[u8]) -> Vec<Item> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(elements)) => elements
            .into_iter()
            .map(|element| Item {
                // Serializing a `Value` cannot fail: its keys are strings.
                raw: serde_json::to_vec(&element).unwrap_or_default(),
                value: Ok(element),
            })
            .collect(),
        Ok(whole) => vec![Item {
            raw: body.trim_ascii().to_vec(),
            value: Ok(whole),
        }],
        Err(_) => body
            .split(|b| *b == b'\n')
            .map(<[u8]>::trim_ascii)
            .filter(|line| !line.is_empty())
            .map(|line| Item {
                raw: line.to_vec(),
                value: serde_json::from_slice(line).map_err(|e| FalcoError::NotJson(e.to_string())),
            })
            .collect(),
    }
}

/// Normalizes a request body into events and dead letters (`source` [`FALCO_SOURCE`], the
/// error naming the item's 0-based position).
pub fn normalize_body(
    body: &[u8],
    host_name: &str,
    ingested: Timestamp,
) -> (Vec<Event>, Vec<DeadLetter>) {
    let mut events = Vec::new();
    let mut letters = Vec::new();
    for (index, item) in items(body).into_iter().enumerate() {
        match item
            .value
            .and_then(|value| normalize_value(value, host_name, ingested))
        {
            Ok(event) => events.push(event),
            Err(error) => letters.push(DeadLetter {
                source: FALCO_SOURCE.to_owned(),
                line: None,
                offset: None,
                error: format!("item {index}: {error}"),
                raw: item.raw,
                received: ingested,
            }),
        }
    }
    (events, letters)
}

/// Falco's placeholder for a field without a value in older versions' JSON output.
const NOT_AVAILABLE: &str = "<NA>";

/// A string of `output_fields` that carries a value (not null, empty or `<NA>`).
fn field<'a>(fields: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    fields
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|v| !v.is_empty() && *v != NOT_AVAILABLE)
}

fn required(alert: &Map<String, Value>, key: &'static str) -> Result<String, FalcoError> {
    alert
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .ok_or(FalcoError::Missing(key))
}

/// Normalizes one alert (its JSON text) into an event of kind `falco`; see
/// [`normalize_value`].
pub fn normalize_alert(
    text: &str,
    host_name: &str,
    ingested: Timestamp,
) -> Result<Event, FalcoError> {
    let value = serde_json::from_str(text).map_err(|e| FalcoError::NotJson(e.to_string()))?;
    normalize_value(value, host_name, ingested)
}

/// Normalizes one alert into an event of kind `falco`.
///
/// The event id comes from falcosidekick's `uuid` when the alert has one, else from the
/// alert's compact JSON text (the same whether it came alone, in an array or as a line), so
/// that an alert posted again (a retried request) is stored once.
pub fn normalize_value(
    value: Value,
    host_name: &str,
    ingested: Timestamp,
) -> Result<Event, FalcoError> {
    let mut alert = match value {
        Value::Object(map) => map,
        other => return Err(FalcoError::NotAnObject(type_name(&other))),
    };
    required(&alert, "rule")?;
    required(&alert, "priority")?;
    let time = required(&alert, "time")?;
    let timestamp = parse_timestamp(&time).map_err(|e| FalcoError::BadTime {
        value: time.clone(),
        reason: e.reason,
    })?;
    let key = match alert.get("uuid").and_then(Value::as_str) {
        Some(uuid) if !uuid.is_empty() => format!("uuid:{uuid}"),
        // Serializing a map of `Value`s cannot fail.
        _ => format!(
            "alert:{}",
            serde_json::to_string(&alert).unwrap_or_default()
        ),
    };
    let id = event_id(FALCO_SOURCE, RecordPosition::Key(&key));
    let message = match alert.remove("output") {
        Some(Value::String(output)) => output,
        _ => alert
            .get("rule")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    };
    // `time` is `@timestamp`, `output` is `message`: not kept twice.
    alert.remove("time");
    let alert_host = alert
        .get("hostname")
        .and_then(Value::as_str)
        .filter(|h| !h.is_empty())
        .unwrap_or(host_name)
        .to_owned();
    let mut event = Event::new(EventKind::Falco, id, timestamp, ingested)
        .with_file_path(FALCO_SOURCE)
        .with_host_name(alert_host);
    event.message = message;
    if let Some(Value::Object(fields)) = alert.get("output_fields") {
        event.container = container_of(fields);
        event.kubernetes = kubernetes_of(fields);
    }
    event
        .audit
        .insert(FALCO_FIELD.to_owned(), Value::Object(alert));
    Ok(event)
}

/// `container.*` from Falco's `container.*` fields; none for host processes (`container.id`
/// `host`).
fn container_of(fields: &Map<String, Value>) -> Option<ContainerMeta> {
    let id = field(fields, "container.id");
    if id == Some("host") {
        return None;
    }
    let image = field(fields, "container.image")
        .map(str::to_owned)
        .or_else(|| {
            let repository = field(fields, "container.image.repository")?;
            Some(match field(fields, "container.image.tag") {
                Some(tag) => format!("{repository}:{tag}"),
                None => repository.to_owned(),
            })
        });
    let container = ContainerMeta {
        id: id.map(str::to_owned),
        name: field(fields, "container.name").map(str::to_owned),
        image,
        ..ContainerMeta::default()
    };
    (container != ContainerMeta::default()).then_some(container)
}

/// `kubernetes.*` from Falco's `k8s.*` fields.
fn kubernetes_of(fields: &Map<String, Value>) -> Option<KubernetesMeta> {
    let namespace = field(fields, "k8s.ns.name").map(str::to_owned);
    let name = field(fields, "k8s.pod.name").map(str::to_owned);
    // `k8s.pod.id` is the name older Falco versions give the uid.
    let uid = field(fields, "k8s.pod.uid")
        .or_else(|| field(fields, "k8s.pod.id"))
        .map(str::to_owned);
    let pod = (name.is_some() || uid.is_some()).then(|| KubernetesPod {
        name,
        uid,
        ..KubernetesPod::default()
    });
    (namespace.is_some() || pod.is_some()).then(|| KubernetesMeta {
        namespace,
        pod,
        ..KubernetesMeta::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// An alert of the stock "Terminal shell in container" rule shaped like Falco's documented
    /// `json_output` (keys `hostname`, `output`, `priority`, `rule`, `source`, `tags`, `time`,
    /// `output_fields`; see falco.org docs/concepts/outputs and the falco.yaml `json_output`
    /// comments), with the container and Kubernetes fields that rule prints.
    const TERMINAL_SHELL: &str = r#"{"hostname":"node-1","output":"10:20:05.408091526: Notice A shell was spawned in a container with an attached terminal (evt_type=execve user=root user_uid=0 user_loginuid=-1 process=bash proc_exepath=/usr/bin/bash parent=runc command=bash terminal=34816 exe_flags=EXE_WRITABLE container_id=4a4021c50439 container_image=registry.example/api container_image_tag=1.4 container_name=api k8s_ns=prod k8s_pod_name=api-7)","priority":"Notice","rule":"Terminal shell in container","source":"syscall","tags":["T1059","container","maturity_stable","mitre_execution","shell"],"time":"2023-11-05T10:20:05.408091526Z","output_fields":{"container.id":"4a4021c50439","container.image.repository":"registry.example/api","container.image.tag":"1.4","container.name":"api","evt.time":1699179605408091526,"evt.type":"execve","k8s.ns.name":"prod","k8s.pod.name":"api-7","proc.cmdline":"bash","proc.exepath":"/usr/bin/bash","user.name":"root","user.uid":0}}"#;

    /// The sample alert of the alerta-contrib Falco webhook (alerta/alerta-contrib#385):
    /// Falco's JSON output without `hostname`, `source` or `tags`, `evt.time` as a number.
    const WRITE_BELOW_BINARY_DIR: &str = r#"{"output":"16:31:56.746609046: Error File below a known binary directory opened for writing (user=root command=touch /bin/hack file=/bin/hack)","priority":"Error","rule":"Write below binary dir","time":"2017-10-09T23:31:56.746609046Z","output_fields":{"user.name":"root","evt.time":1507591916746609046,"fd.name":"/bin/hack","proc.cmdline":"touch /bin/hack"}}"#;

    /// The alert quoted in falcosecurity/falco#1029: older Falco writes `<NA>` for fields
    /// without a value.
    const SENSITIVE_MOUNT: &str = r#"{"output":"16:26:12.425643773: Notice Container with sensitive mount started (user=<NA> command=container:8cff1c1639fc k8s.ns=<NA> k8s.pod=<NA> container=8cff1c1639fc image=busybox:latest)","priority":"Notice","rule":"Launch Sensitive Mount Container","time":"2020-03-09T16:26:12.425643773Z","output_fields":{"container.id":"8cff1c1639fc","container.image.repository":"busybox","container.image.tag":"latest","k8s.ns.name":"<NA>","k8s.pod.name":"<NA>","user.name":"<NA>"}}"#;

    fn now() -> Timestamp {
        parse_timestamp("2024-01-01T00:00:00Z").unwrap()
    }

    fn normalize(body: &str) -> (Vec<Event>, Vec<DeadLetter>) {
        normalize_body(body.as_bytes(), "receiver", now())
    }

    #[test]
    fn a_single_alert_fills_the_schema_and_keeps_the_document() {
        let (events, letters) = normalize(TERMINAL_SHELL);
        assert!(letters.is_empty(), "{letters:?}");
        let [event] = events.as_slice() else {
            panic!("{events:?}")
        };
        let value = serde_json::to_value(event).unwrap();
        assert_eq!(value["@timestamp"], "2023-11-05T10:20:05.408091526Z");
        assert_eq!(value["event"]["kind"], "falco");
        assert!(value["message"]
            .as_str()
            .unwrap()
            .starts_with("10:20:05.408091526: Notice A shell was spawned"));
        assert_eq!(value["host"]["name"], "node-1");
        assert_eq!(value["log"]["file"]["path"], FALCO_SOURCE);
        assert_eq!(value["container"]["id"], "4a4021c50439");
        assert_eq!(value["container"]["name"], "api");
        assert_eq!(value["container"]["image"], "registry.example/api:1.4");
        assert_eq!(value["kubernetes"]["namespace"], "prod");
        assert_eq!(value["kubernetes"]["pod"]["name"], "api-7");
        let falco = &value["falco"];
        assert_eq!(falco["rule"], "Terminal shell in container");
        assert_eq!(falco["priority"], "Notice");
        assert_eq!(falco["source"], "syscall");
        assert_eq!(falco["hostname"], "node-1");
        assert_eq!(falco["tags"][0], "T1059");
        assert_eq!(falco["output_fields"]["k8s.pod.name"], "api-7");
        assert_eq!(
            falco["output_fields"]["evt.time"],
            json!(1699179605408091526u64)
        );
        assert!(falco.get("output").is_none() && falco.get("time").is_none());
        assert_eq!(
            event.field("falco.output_fields.proc.cmdline"),
            Some(json!("bash"))
        );
    }

    #[test]
    fn alerts_without_optional_keys_or_with_placeholders_are_kept() {
        let (events, letters) = normalize(WRITE_BELOW_BINARY_DIR);
        assert!(letters.is_empty(), "{letters:?}");
        assert_eq!(events[0].host.as_ref().unwrap().name, "receiver");
        assert_eq!(events[0].container, None);
        assert_eq!(events[0].kubernetes, None);
        let (events, _) = normalize(SENSITIVE_MOUNT);
        let container = events[0].container.as_ref().unwrap();
        assert_eq!(container.image.as_deref(), Some("busybox:latest"));
        assert_eq!(events[0].kubernetes, None, "<NA> is no namespace");
    }

    #[test]
    fn an_array_and_ndjson_give_one_event_per_alert() {
        let array = format!("[{TERMINAL_SHELL},\n {WRITE_BELOW_BINARY_DIR}]");
        let (events, letters) = normalize(&array);
        assert_eq!((events.len(), letters.len()), (2, 0));
        let ndjson = format!("{TERMINAL_SHELL}\n{WRITE_BELOW_BINARY_DIR}\r\n\n{SENSITIVE_MOUNT}\n");
        let (events, letters) = normalize(&ndjson);
        assert_eq!((events.len(), letters.len()), (3, 0));
        assert_eq!(
            events[2].audit["falco"]["rule"],
            "Launch Sensitive Mount Container"
        );
    }

    #[test]
    fn malformed_items_become_dead_letters_and_the_others_go_on() {
        let no_rule = r#"{"output":"x","priority":"Critical","time":"2023-11-05T10:20:05Z"}"#;
        let bad_time = r#"{"rule":"r","priority":"Critical","time":"yesterday"}"#;
        let ndjson =
            format!("{TERMINAL_SHELL}\nnot json at all\n{no_rule}\n{bad_time}\n{SENSITIVE_MOUNT}");
        let (events, letters) = normalize(&ndjson);
        assert_eq!(events.len(), 2);
        assert_eq!(letters.len(), 3, "{letters:?}");
        assert!(
            letters[0].error.starts_with("item 1: not JSON"),
            "{letters:?}"
        );
        assert_eq!(letters[0].raw, b"not json at all");
        assert!(letters[1].error.contains("`rule`"), "{letters:?}");
        assert_eq!(letters[1].raw, no_rule.as_bytes());
        assert!(letters[2].error.contains("`time`"), "{letters:?}");
        assert!(letters.iter().all(|l| l.source == FALCO_SOURCE));

        let array =
            format!("[{TERMINAL_SHELL}, 42, {{\"rule\":\"r\",\"time\":\"2023-11-05T10:20:05Z\"}}]");
        let (events, letters) = normalize(&array);
        assert_eq!(events.len(), 1);
        assert!(letters[0].error.contains("found a number"), "{letters:?}");
        assert_eq!(letters[0].raw, b"42");
        assert!(letters[1].error.contains("`priority`"), "{letters:?}");
    }

    #[test]
    fn a_reposted_alert_keeps_its_id_and_a_uuid_names_it() {
        let (first, _) = normalize(TERMINAL_SHELL);
        let (again, _) = normalize(TERMINAL_SHELL);
        assert_eq!(first[0].id(), again[0].id());
        let (other, _) = normalize(WRITE_BELOW_BINARY_DIR);
        assert_ne!(first[0].id(), other[0].id());
        // Alone, in an array or as a line of NDJSON: the same alert, the same id.
        let (listed, _) = normalize(&format!("[\n  {TERMINAL_SHELL}, {WRITE_BELOW_BINARY_DIR}]"));
        assert_eq!(listed[0].id(), first[0].id());
        let (lines, _) = normalize(&format!("{WRITE_BELOW_BINARY_DIR}\n{TERMINAL_SHELL}\n"));
        assert_eq!(lines[1].id(), first[0].id());
        let sidekick = |output: &str| {
            json!({"uuid": "1b5b7ae6-9e58-4cbb-8f3e-7a0e4c2f0a11", "output": output, "priority": "Critical", "rule": "r", "time": "2023-11-05T10:20:05.1Z", "output_fields": {}}).to_string()
        };
        let (a, _) = normalize(&sidekick("a"));
        let (b, _) = normalize(&sidekick("b"));
        assert_eq!(a[0].id(), b[0].id());
    }
}
