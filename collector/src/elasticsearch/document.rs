//! A bulk source document turned into an event.
//!
//! A Kubernetes audit event (`kind: Event`, `apiVersion: audit.k8s.io/*`) goes through the
//! audit normalizer, so that audit rules apply to it. Any other object becomes an event of
//! kind `container`:
//! - `@timestamp` from `@timestamp`, else `timestamp` (Vector), else `time`: an RFC 3339
//!   string or epoch milliseconds (a number), as Elasticsearch's default date format; a
//!   document without any is stamped with its arrival;
//! - `message` from `message`, else `log` (Fluent Bit's tail and Docker inputs);
//! - `stream` (`stdout`/`stderr`);
//! - `container.*`, `kubernetes.*` and `host.name` from the shapes the shippers write:
//!   Fluent Bit's kubernetes filter (`kubernetes.namespace_name`, `pod_name`, `pod_id`,
//!   `container_name`, `container_image`, `docker_id`, `labels`, `host`), Vector's
//!   `kubernetes_logs` (`kubernetes.pod_namespace`, `pod_name`, `pod_uid`, `container_name`,
//!   `container_image`, `container_id`, `pod_labels`, `pod_node_name`) and Filebeat's ECS
//!   fields (`container.id`, `container.name`, `container.image.name`,
//!   `kubernetes.namespace`, `kubernetes.pod.name`, `kubernetes.pod.uid`,
//!   `kubernetes.container.name`, `kubernetes.node.name`, `kubernetes.labels`, `host.name`,
//!   `log.file.path`); Vector's `file` and `host` strings too;
//! - every other key, unchanged, under `json.*` (with the keys of the message when the
//!   message is itself a JSON object, the document's winning on a clash).
//!
//! Both kinds keep the document's `_index` (and `_id`, when given) as `elasticsearch.index`
//! and `elasticsearch.id`.

use kestrel_event::{
    event_id, parse_timestamp, ContainerMeta, Event, EventKind, KubernetesContainer,
    KubernetesMeta, KubernetesNode, KubernetesPod, RecordPosition, Stream, Timestamp,
};
use serde_json::{Map, Value};

use crate::normalize::k8s_audit::type_name;
use crate::normalize::{normalize_bytes, Format, Output, SourceContext};

/// The key under which an event keeps its Elasticsearch index and id.
pub const ELASTICSEARCH_FIELD: &str = "elasticsearch";

/// The source of bulk events' ids and dead letters, and `log.file.path` of documents without
/// a path of their own.
pub const ELASTICSEARCH_SOURCE: &str = "elasticsearch";

/// The fields `@timestamp` is taken from, in order of preference.
const TIME_FIELDS: [&str; 3] = ["@timestamp", "timestamp", "time"];

/// Why a source document cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    /// An action that needs a source line had none.
    #[error("the action has no source line")]
    MissingSource,
    /// The source line is not JSON.
    #[error("failed to parse: not JSON: {0}")]
    NotJson(String),
    /// The source is JSON but not an object.
    #[error("failed to parse: expected a JSON object, found {0}")]
    NotAnObject(&'static str),
    /// A time field that is neither an RFC 3339 string nor epoch milliseconds.
    #[error("failed to parse field [{field}] of type [date]: {reason}")]
    BadTimestamp {
        /// The field.
        field: &'static str,
        /// Why it does not parse.
        reason: String,
    },
    /// A Kubernetes audit event the audit normalizer rejected.
    #[error("failed to parse a Kubernetes audit event: {0}")]
    Audit(String),
}

/// Where a document comes from.
#[derive(Debug, Clone)]
pub struct DocumentContext<'a> {
    /// The document's index.
    pub index: &'a str,
    /// The document's `_id`, if given.
    pub id: Option<&'a str>,
    /// What makes the event id of a document without `_id` (and that is not an audit event)
    /// unique: such a document sent twice is stored twice, as Elasticsearch would.
    pub unique: &'a str,
    /// `host.name` of documents without a host of their own.
    pub host_name: &'a str,
    /// When the request arrived.
    pub ingested: Timestamp,
}

/// The event of a source document. Its id comes from the index and `_id` when given (so a
/// document sent again is stored once), else from an audit event's `auditID` and `stage`,
/// else from [`DocumentContext::unique`].
pub fn to_event(source: &[u8], context: &DocumentContext<'_>) -> Result<Event, DocumentError> {
    let document = match serde_json::from_slice::<Value>(source) {
        Ok(Value::Object(document)) => document,
        Ok(other) => return Err(DocumentError::NotAnObject(type_name(&other))),
        Err(error) => return Err(DocumentError::NotJson(error.to_string())),
    };
    let key = match (context.id, audit_key(&document)) {
        (Some(id), _) => format!("id/{}/{id}", context.index),
        (None, Some(audit)) => format!("audit/{audit}"),
        (None, None) => format!("unique/{}", context.unique),
    };
    let id = event_id(ELASTICSEARCH_SOURCE, RecordPosition::Key(&key));
    let mut event = if is_audit_event(&document) {
        audit_event(source, context)?
    } else {
        container_event(document, context)?
    };
    event.event.id = id;
    let mut meta = Map::new();
    meta.insert("index".to_owned(), Value::String(context.index.to_owned()));
    if let Some(id) = context.id {
        meta.insert("id".to_owned(), Value::String(id.to_owned()));
    }
    event
        .audit
        .insert(ELASTICSEARCH_FIELD.to_owned(), Value::Object(meta));
    Ok(event)
}

/// The `auditID/stage` of an audit document: what identifies it among every copy sent.
fn audit_key(document: &Map<String, Value>) -> Option<String> {
    if !is_audit_event(document) {
        return None;
    }
    let id = document.get("auditID")?.as_str()?;
    let stage = document
        .get("stage")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Some(format!("{id}/{stage}"))
}

fn is_audit_event(document: &Map<String, Value>) -> bool {
    document.get("kind").and_then(Value::as_str) == Some("Event")
        && document
            .get("apiVersion")
            .and_then(Value::as_str)
            .is_some_and(|version| version.starts_with("audit.k8s.io/"))
}

fn audit_event(source: &[u8], context: &DocumentContext<'_>) -> Result<Event, DocumentError> {
    let source_context = SourceContext {
        path: ELASTICSEARCH_SOURCE.to_owned(),
        content_id: None,
        host_name: context.host_name.to_owned(),
        ingested: context.ingested,
    };
    let outputs = normalize_bytes(Format::K8sAudit, source_context, source)
        .map_err(|error| DocumentError::Audit(error.to_string()))?;
    match outputs.into_iter().next() {
        Some(Output::Event(mut event)) => {
            if let Some(log) = &mut event.log {
                // The offset is the position in one request's line: meaningless later.
                log.offset = None;
            }
            Ok(event)
        }
        Some(Output::DeadLetter(letter)) => {
            let reason = letter
                .error
                .strip_prefix("line 1: ")
                .unwrap_or(&letter.error);
            Err(DocumentError::Audit(reason.to_owned()))
        }
        None => Err(DocumentError::Audit("no event in the document".to_owned())),
    }
}

fn container_event(
    mut document: Map<String, Value>,
    context: &DocumentContext<'_>,
) -> Result<Event, DocumentError> {
    let timestamp = take_timestamp(&mut document)?.unwrap_or(context.ingested);
    let message = take_str(&mut document, &["message"])
        .or_else(|| take_str(&mut document, &["log"]))
        .unwrap_or_default();
    let stream = match document.get("stream").and_then(Value::as_str) {
        Some(text) => Stream::parse(text).inspect(|_| {
            document.remove("stream");
        }),
        None => None,
    };
    let container = container_of(&mut document);
    let kubernetes = kubernetes_of(&mut document);
    let node = kubernetes
        .as_ref()
        .and_then(|k| k.node.as_ref())
        .map(|node| node.name.clone());
    let host = take_str(&mut document, &["host", "name"])
        .or_else(|| take_str(&mut document, &["host"]))
        .or(node)
        .unwrap_or_else(|| context.host_name.to_owned());
    let path = take_str(&mut document, &["log", "file", "path"])
        .or_else(|| take_str(&mut document, &["file"]))
        .unwrap_or_else(|| ELASTICSEARCH_SOURCE.to_owned());
    let mut event = Event::new(
        EventKind::Container,
        String::new(),
        timestamp,
        context.ingested,
    )
    .with_file_path(path)
    .with_host_name(host);
    event.stream = stream;
    event.container = container;
    event.kubernetes = kubernetes;
    let mut json = crate::normalize::parse_json_object(&message).unwrap_or_default();
    json.extend(document);
    event.json = (!json.is_empty()).then_some(json);
    event.message = message;
    Ok(event)
}

/// `@timestamp` from the first time field present, removed from the document.
fn take_timestamp(document: &mut Map<String, Value>) -> Result<Option<Timestamp>, DocumentError> {
    for field in TIME_FIELDS {
        let Some(value) = document.get(field) else {
            continue;
        };
        let timestamp = match value {
            Value::Null => continue,
            Value::String(text) => {
                parse_timestamp(text).map_err(|error| DocumentError::BadTimestamp {
                    field,
                    reason: format!("{:?} is not an RFC 3339 date: {}", text, error.reason),
                })?
            }
            Value::Number(number) => {
                epoch_millis(number).ok_or_else(|| DocumentError::BadTimestamp {
                    field,
                    reason: format!("{number} is out of range as epoch milliseconds"),
                })?
            }
            other => {
                return Err(DocumentError::BadTimestamp {
                    field,
                    reason: format!(
                        "{} is neither an RFC 3339 string nor epoch milliseconds",
                        type_name(other)
                    ),
                })
            }
        };
        document.remove(field);
        return Ok(Some(timestamp));
    }
    Ok(None)
}

/// A number of milliseconds since the Unix epoch (a fraction kept to the microsecond).
fn epoch_millis(number: &serde_json::Number) -> Option<Timestamp> {
    if let Some(millis) = number.as_i64() {
        return chrono::DateTime::from_timestamp_millis(millis);
    }
    let millis = number.as_f64()?;
    if !millis.is_finite() || millis.abs() >= (i64::MAX / 1_000) as f64 {
        return None;
    }
    // Whole microseconds: a double holds no more precision at today's epoch values.
    chrono::DateTime::from_timestamp_micros((millis * 1_000.0).round() as i64)
}

/// `container.*`: ECS `container.id`, `container.name`, `container.image.name`; Fluent Bit's
/// `kubernetes.docker_id` and `kubernetes.container_image`; Vector's
/// `kubernetes.container_id` (without its `containerd://` scheme) and
/// `kubernetes.container_image`.
fn container_of(document: &mut Map<String, Value>) -> Option<ContainerMeta> {
    let id = take_str(document, &["container", "id"])
        .or_else(|| take_str(document, &["kubernetes", "docker_id"]))
        .or_else(|| take_str(document, &["kubernetes", "container_id"]))
        .map(|id| match id.split_once("://") {
            Some((_, bare)) => bare.to_owned(),
            None => id,
        });
    let name = take_str(document, &["container", "name"]);
    let image = take_str(document, &["container", "image", "name"])
        .or_else(|| take_str(document, &["container", "image"]))
        .or_else(|| take_str(document, &["kubernetes", "container_image"]));
    let container = ContainerMeta {
        id,
        name,
        image,
        ..ContainerMeta::default()
    };
    (container != ContainerMeta::default()).then_some(container)
}

/// `kubernetes.*` from Fluent Bit's, Vector's and ECS's keys (see the module documentation).
fn kubernetes_of(document: &mut Map<String, Value>) -> Option<KubernetesMeta> {
    let k = |document: &mut Map<String, Value>, keys: &[&[&str]]| {
        keys.iter().find_map(|path| take_str(document, path))
    };
    let namespace = k(
        document,
        &[
            &["kubernetes", "namespace_name"],
            &["kubernetes", "pod_namespace"],
            &["kubernetes", "namespace"],
        ],
    );
    let pod_name = k(
        document,
        &[&["kubernetes", "pod_name"], &["kubernetes", "pod", "name"]],
    );
    let pod_uid = k(
        document,
        &[
            &["kubernetes", "pod_id"],
            &["kubernetes", "pod_uid"],
            &["kubernetes", "pod", "uid"],
        ],
    );
    let labels = take_object(document, &["kubernetes", "labels"])
        .or_else(|| take_object(document, &["kubernetes", "pod_labels"]))
        .unwrap_or_default();
    let container = k(
        document,
        &[
            &["kubernetes", "container_name"],
            &["kubernetes", "container", "name"],
        ],
    );
    let node = k(
        document,
        &[
            &["kubernetes", "host"],
            &["kubernetes", "pod_node_name"],
            &["kubernetes", "node", "name"],
        ],
    );
    let pod =
        (pod_name.is_some() || pod_uid.is_some() || !labels.is_empty()).then(|| KubernetesPod {
            name: pod_name,
            uid: pod_uid,
            labels,
            ..KubernetesPod::default()
        });
    let meta = KubernetesMeta {
        namespace,
        pod,
        container: container.map(|name| KubernetesContainer { name: Some(name) }),
        node: node.map(|name| KubernetesNode { name }),
    };
    (meta != KubernetesMeta::default()).then_some(meta)
}

/// Removes and returns the non-empty string at `path`, removing the objects it leaves empty.
fn take_str(document: &mut Map<String, Value>, path: &[&str]) -> Option<String> {
    match take(document, path, |value| {
        value.as_str().is_some_and(|text| !text.trim().is_empty())
    })? {
        Value::String(text) => Some(text),
        _ => None,
    }
}

/// Removes and returns the object at `path`, removing the objects it leaves empty.
fn take_object(document: &mut Map<String, Value>, path: &[&str]) -> Option<Map<String, Value>> {
    match take(document, path, Value::is_object)? {
        Value::Object(object) => Some(object),
        _ => None,
    }
}

/// Removes the value at `path` when `wanted` accepts it; parents left empty are removed too.
fn take(
    document: &mut Map<String, Value>,
    path: &[&str],
    wanted: impl Fn(&Value) -> bool,
) -> Option<Value> {
    let (first, rest) = path.split_first()?;
    if rest.is_empty() {
        if !document.get(*first).is_some_and(&wanted) {
            return None;
        }
        return document.remove(*first);
    }
    let child = document.get_mut(*first)?.as_object_mut()?;
    let value = take(child, rest, wanted)?;
    if child.is_empty() {
        document.remove(*first);
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn context() -> DocumentContext<'static> {
        DocumentContext {
            index: "logs",
            id: None,
            unique: "u1",
            host_name: "receiver",
            ingested: parse_timestamp("2024-05-01T00:00:00Z").unwrap(),
        }
    }

    fn event(document: Value) -> Value {
        let event = to_event(document.to_string().as_bytes(), &context()).unwrap();
        serde_json::to_value(&event).unwrap()
    }

    #[test]
    fn fluent_bit_kubernetes_filter_records_fill_the_schema() {
        let value = event(json!({
            "@timestamp": "2024-05-01T10:00:00.123Z",
            "log": "GET /healthz 200\n",
            "stream": "stdout",
            "time": "2024-05-01T10:00:00.123456789Z",
            "kubernetes": {
                "pod_name": "api-7d9f", "namespace_name": "prod", "pod_id": "uid-1",
                "labels": {"app": "api"}, "annotations": {"a": "b"}, "host": "node-3",
                "container_name": "api", "docker_id": "4a4021c50439",
                "container_hash": "sha256:1", "container_image": "registry.example/api:1.4"
            }
        }));
        assert_eq!(value["@timestamp"], "2024-05-01T10:00:00.123000000Z");
        assert_eq!(value["message"], "GET /healthz 200\n");
        assert_eq!(value["stream"], "stdout");
        assert_eq!(value["event"]["kind"], "container");
        assert_eq!(value["kubernetes"]["namespace"], "prod");
        assert_eq!(value["kubernetes"]["pod"]["name"], "api-7d9f");
        assert_eq!(value["kubernetes"]["pod"]["uid"], "uid-1");
        assert_eq!(value["kubernetes"]["pod"]["labels"]["app"], "api");
        assert_eq!(value["kubernetes"]["container"]["name"], "api");
        assert_eq!(value["kubernetes"]["node"]["name"], "node-3");
        assert_eq!(value["container"]["id"], "4a4021c50439");
        assert_eq!(value["container"]["image"], "registry.example/api:1.4");
        assert_eq!(value["host"]["name"], "node-3");
        assert_eq!(value["log"]["file"]["path"], "elasticsearch");
        assert_eq!(value["elasticsearch"]["index"], "logs");
        // Unknown keys are kept, the mapped ones are not repeated.
        assert_eq!(value["json"]["kubernetes"]["annotations"]["a"], "b");
        assert_eq!(value["json"]["kubernetes"]["container_hash"], "sha256:1");
        assert_eq!(value["json"]["time"], "2024-05-01T10:00:00.123456789Z");
        assert!(value["json"]["kubernetes"].get("pod_name").is_none());
        assert!(value["json"].get("log").is_none() && value["json"].get("stream").is_none());
    }

    #[test]
    fn vector_kubernetes_logs_events_fill_the_schema() {
        let value = event(json!({
            "timestamp": "2024-05-01T10:00:01.5Z",
            "message": "{\"level\":\"error\",\"msg\":\"db down\"}",
            "stream": "stderr",
            "file": "/var/log/pods/prod_api-7d9f_uid-1/api/0.log",
            "source_type": "kubernetes_logs",
            "kubernetes": {
                "pod_namespace": "prod", "pod_name": "api-7d9f", "pod_uid": "uid-1",
                "container_name": "api", "container_id": "containerd://4a4021c50439",
                "container_image": "registry.example/api:1.4",
                "pod_labels": {"app": "api"}, "pod_node_name": "node-3", "pod_ip": "10.0.0.7"
            }
        }));
        assert_eq!(value["@timestamp"], "2024-05-01T10:00:01.500000000Z");
        assert_eq!(value["stream"], "stderr");
        assert_eq!(value["container"]["id"], "4a4021c50439");
        assert_eq!(value["kubernetes"]["namespace"], "prod");
        assert_eq!(value["kubernetes"]["pod"]["labels"]["app"], "api");
        assert_eq!(value["kubernetes"]["node"]["name"], "node-3");
        assert_eq!(
            value["log"]["file"]["path"],
            "/var/log/pods/prod_api-7d9f_uid-1/api/0.log"
        );
        // The message's own JSON keys and the document's other keys.
        assert_eq!(value["json"]["level"], "error");
        assert_eq!(value["json"]["source_type"], "kubernetes_logs");
        assert_eq!(value["json"]["kubernetes"]["pod_ip"], "10.0.0.7");
    }

    #[test]
    fn filebeat_ecs_documents_fill_the_schema() {
        let value = event(json!({
            "@timestamp": "2024-05-01T10:00:02.000Z",
            "message": "started",
            "stream": "stdout",
            "log": {"offset": 1024, "file": {"path": "/var/log/containers/api.log"}},
            "input": {"type": "container"},
            "container": {"id": "4a4021c50439", "runtime": "containerd",
                          "image": {"name": "registry.example/api:1.4"}},
            "kubernetes": {"namespace": "prod", "pod": {"name": "api-7d9f", "uid": "uid-1"},
                           "container": {"name": "api"}, "node": {"name": "node-3"},
                           "labels": {"app": "api"}},
            "host": {"name": "node-3", "os": {"family": "debian"}},
            "agent": {"type": "filebeat", "version": "8.15.0"},
            "ecs": {"version": "8.0.0"}
        }));
        assert_eq!(value["container"]["id"], "4a4021c50439");
        assert_eq!(value["container"]["image"], "registry.example/api:1.4");
        assert_eq!(value["kubernetes"]["pod"]["name"], "api-7d9f");
        assert_eq!(value["kubernetes"]["container"]["name"], "api");
        assert_eq!(value["host"]["name"], "node-3");
        assert_eq!(value["log"]["file"]["path"], "/var/log/containers/api.log");
        assert_eq!(value["json"]["log"]["offset"], 1024);
        assert_eq!(value["json"]["container"]["runtime"], "containerd");
        assert_eq!(value["json"]["host"]["os"]["family"], "debian");
        assert_eq!(value["json"]["agent"]["type"], "filebeat");
    }

    #[test]
    fn times_are_rfc3339_or_epoch_millis_and_default_to_arrival() {
        let value = event(json!({"@timestamp": 1714557600123u64, "message": "x"}));
        assert_eq!(value["@timestamp"], "2024-05-01T10:00:00.123000000Z");
        let value = event(json!({"timestamp": 1714557600123.25, "message": "x"}));
        assert_eq!(value["@timestamp"], "2024-05-01T10:00:00.123250000Z");
        let value = event(json!({"message": "no time", "host": "web-1"}));
        assert_eq!(
            value["@timestamp"],
            "2024-05-01T00:00:00Z".replace('Z', ".000000000Z")
        );
        assert_eq!(value["host"]["name"], "web-1");
        let bad = to_event(br#"{"@timestamp":"yesterday"}"#, &context()).unwrap_err();
        assert!(bad.to_string().contains("[@timestamp]"), "{bad}");
        let bad = to_event(br#"{"time":true}"#, &context()).unwrap_err();
        assert!(bad.to_string().contains("[time]"), "{bad}");
    }

    #[test]
    fn audit_events_go_through_the_audit_normalizer() {
        let audit = json!({
            "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
            "auditID": "a-1", "stage": "ResponseComplete", "verb": "get",
            "requestURI": "/api/v1/namespaces/prod/secrets/db", "user": {"username": "mallory"},
            "objectRef": {"resource": "secrets", "namespace": "prod", "name": "db"},
            "responseStatus": {"code": 200},
            "requestReceivedTimestamp": "2024-05-01T10:00:00.1Z",
            "stageTimestamp": "2024-05-01T10:00:00.2Z"
        })
        .to_string();
        let event = to_event(audit.as_bytes(), &context()).unwrap();
        assert_eq!(event.kind(), EventKind::K8sAudit);
        let by_audit_id = event_id(
            ELASTICSEARCH_SOURCE,
            RecordPosition::Key("audit/a-1/ResponseComplete"),
        );
        assert_eq!(event.id(), by_audit_id);
        assert_eq!(event.field("verb"), Some(json!("get")));
        assert_eq!(event.field("user.username"), Some(json!("mallory")));
        assert_eq!(event.field("elasticsearch.index"), Some(json!("logs")));
        assert_eq!(event.field("log.offset"), None);
        let broken =
            r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a","verb":"get"}"#;
        let error = to_event(broken.as_bytes(), &context()).unwrap_err();
        assert!(error.to_string().contains("no timestamp"), "{error}");
        // A core Kubernetes Event is a plain document.
        let core = r#"{"kind":"Event","apiVersion":"v1","message":"Back-off restarting"}"#;
        assert_eq!(
            to_event(core.as_bytes(), &context()).unwrap().kind(),
            EventKind::Container
        );
    }

    #[test]
    fn ids_come_from_the_index_and_id_else_they_are_unique() {
        let with_id = |index: &'static str, id: &'static str, unique: &'static str| {
            let context = DocumentContext {
                index,
                id: Some(id),
                unique,
                ..context()
            };
            to_event(br#"{"message":"m"}"#, &context).unwrap()
        };
        let first = with_id("logs", "7", "u1");
        assert_eq!(first.id(), with_id("logs", "7", "u2").id());
        assert_ne!(first.id(), with_id("other", "7", "u1").id());
        assert_ne!(first.id(), with_id("logs", "8", "u1").id());
        assert_eq!(first.field("elasticsearch.id"), Some(json!("7")));
        let unique = |unique: &'static str| {
            let context = DocumentContext {
                unique,
                ..context()
            };
            to_event(br#"{"message":"m"}"#, &context).unwrap()
        };
        assert_ne!(unique("u1").id(), unique("u2").id());
        assert_eq!(unique("u1").field("elasticsearch.id"), None);
    }

    #[test]
    fn sources_that_are_not_objects_are_refused_with_the_reason() {
        let error = to_event(b"{\"message\":", &context()).unwrap_err();
        assert!(matches!(error, DocumentError::NotJson(_)), "{error}");
        let error = to_event(b"[1]", &context()).unwrap_err();
        assert_eq!(error, DocumentError::NotAnObject("an array"));
    }
}
