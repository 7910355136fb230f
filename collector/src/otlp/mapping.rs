//! One OTLP log record (with its resource and scope) as a Kestrel event.
//!
//! | OTLP | event field |
//! | --- | --- |
//! | `timeUnixNano`, else `observedTimeUnixNano`, else the time received | `@timestamp` |
//! | `body`: a string as is; a map or an array as compact JSON (a map also under `json.*`) | `message` |
//! | a string body that is a JSON object | also `json.*`, as for container lines |
//! | `severityText`, else the name of `severityNumber`'s range (`INFO`, `ERROR`, ...) | `level` |
//! | `k8s.namespace.name`, `k8s.pod.name`, `k8s.pod.uid`, `k8s.container.name`, `k8s.node.name` | `kubernetes.namespace`, `kubernetes.pod.name`, `kubernetes.pod.uid`, `kubernetes.container.name`, `kubernetes.node.name` |
//! | `container.id`, `container.name`, `container.image.name` + `container.image.tag` | `container.id`, `container.name`, `container.image` (`name:tag`) |
//! | `host.name`, else `k8s.node.name`, else the receiving host | `host.name` |
//! | `service.name` | `service.name` |
//! | `log.iostream` (`stdout`/`stderr`) | `stream` |
//! | `log.file.path`, else `otlp` | `log.file.path` |
//! | every other resource attribute | `otel.resource.*` |
//! | the scope's name, version and attributes | `otel.scope.name`, `otel.scope.version`, `otel.scope.attributes.*` |
//! | every other record attribute | `otel.attributes.*` |
//! | `traceId`, `spanId` (lowercase hex), `severityNumber`, `flags`, `eventName` | `otel.trace_id`, `otel.span_id`, `otel.severity_number`, `otel.flags`, `otel.event_name` |
//!
//! The mapped attributes are looked up on the record first, then on the resource (the
//! filelog receiver puts `log.iostream` and `log.file.path` on the record, the
//! k8sattributes processor puts `k8s.*` on the resource).
//!
//! The event id is a hash of the record's protobuf encoding together with its resource and
//! scope, so a retried export (the same records) is stored once. Two records identical in
//! every field, timestamps included, are one event.

use base64::Engine;
use kestrel_event::{
    event_id, ContainerMeta, Event, EventKind, KubernetesContainer, KubernetesMeta, KubernetesNode,
    KubernetesPod, RecordPosition, Stream, Timestamp,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde_json::{Map, Value};
use xxhash_rust::xxh3::Xxh3;

use crate::normalize::record::parse_json_object;

/// The source name of OTLP events (`log.file.path` when the record names no file) and of
/// their dead letters.
pub const OTLP_SOURCE: &str = "otlp";

/// The key of the OTLP fields kept in an event (`otel.attributes.*`, `otel.trace_id`, ...).
pub const OTEL_FIELD: &str = "otel";

/// Why a decoded record cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    /// A timestamp past what the index stores (nanoseconds since 1970 in a signed 64-bit
    /// integer: up to 2262-04-11).
    #[error("{field} {value} is past 2262-04-11, the latest instant that can be stored")]
    TimeOutOfRange {
        /// `timeUnixNano` or `observedTimeUnixNano`.
        field: &'static str,
        /// The value.
        value: u64,
    },
}

/// The attributes mapped onto schema fields, and so not kept again under `otel`.
const MAPPED: &[&str] = &[
    "k8s.namespace.name",
    "k8s.pod.name",
    "k8s.pod.uid",
    "k8s.container.name",
    "k8s.node.name",
    "container.id",
    "container.name",
    "container.image.name",
    "container.image.tag",
    "host.name",
    "service.name",
    "log.iostream",
    "log.file.path",
];

/// The attributes of a record and of its resource, looked up record first.
struct Attributes<'a> {
    record: &'a [KeyValue],
    resource: &'a [KeyValue],
}

impl<'a> Attributes<'a> {
    /// The non-empty string value of `key`.
    fn string(&self, key: &str) -> Option<&'a str> {
        let find = |list: &'a [KeyValue]| {
            list.iter().find(|kv| kv.key == key).and_then(|kv| {
                match kv.value.as_ref()?.value.as_ref()? {
                    any_value::Value::StringValue(s) if !s.trim().is_empty() => Some(s.as_str()),
                    _ => None,
                }
            })
        };
        find(self.record).or_else(|| find(self.resource))
    }

    fn owned(&self, key: &str) -> Option<String> {
        self.string(key).map(str::to_owned)
    }
}

/// The event of one record.
pub fn to_event(
    resource: &Resource,
    scope: &InstrumentationScope,
    record: &LogRecord,
    host_name: &str,
    ingested: Timestamp,
) -> Result<Event, MappingError> {
    let timestamp = record_time(record)?.unwrap_or(ingested);
    let id = event_id(
        OTLP_SOURCE,
        RecordPosition::Key(&record_key(resource, scope, record)),
    );
    let attributes = Attributes {
        record: &record.attributes,
        resource: &resource.attributes,
    };
    let host = attributes
        .string("host.name")
        .or_else(|| attributes.string("k8s.node.name"))
        .unwrap_or(host_name);
    let mut event = Event::new(EventKind::Container, id, timestamp, ingested)
        .with_file_path(attributes.string("log.file.path").unwrap_or(OTLP_SOURCE))
        .with_host_name(host);
    event.stream = attributes.string("log.iostream").and_then(Stream::parse);
    event.container = container_of(&attributes);
    event.kubernetes = kubernetes_of(&attributes);
    let (message, json) = message_of(record.body.as_ref());
    event.message = message;
    event.json = json;
    if let Some(level) = level_of(record) {
        event.audit.insert("level".to_owned(), Value::String(level));
    }
    if let Some(service) = attributes.owned("service.name") {
        let mut fields = Map::new();
        fields.insert("name".to_owned(), Value::String(service));
        event
            .audit
            .insert("service".to_owned(), Value::Object(fields));
    }
    event.audit.insert(
        OTEL_FIELD.to_owned(),
        Value::Object(otel_of(resource, scope, record)),
    );
    Ok(event)
}

/// `timeUnixNano`, else `observedTimeUnixNano`; `None` when both are unset (0).
fn record_time(record: &LogRecord) -> Result<Option<Timestamp>, MappingError> {
    let (field, value) = if record.time_unix_nano != 0 {
        ("timeUnixNano", record.time_unix_nano)
    } else if record.observed_time_unix_nano != 0 {
        ("observedTimeUnixNano", record.observed_time_unix_nano)
    } else {
        return Ok(None);
    };
    let nanos = i64::try_from(value).map_err(|_| MappingError::TimeOutOfRange { field, value })?;
    Ok(Some(chrono::DateTime::from_timestamp_nanos(nanos)))
}

/// What identifies a record among every export: a 128-bit hash of the protobuf encoding of
/// its resource, scope and record (prost encodes fields in tag order and keeps attribute
/// order, so the same record decoded from protobuf or JSON hashes the same).
fn record_key(resource: &Resource, scope: &InstrumentationScope, record: &LogRecord) -> String {
    let mut hasher = Xxh3::new();
    for part in [
        resource.encode_to_vec(),
        scope.encode_to_vec(),
        record.encode_to_vec(),
    ] {
        hasher.update(&(part.len() as u64).to_le_bytes());
        hasher.update(&part);
    }
    format!("{:032x}", hasher.digest128())
}

fn container_of(attributes: &Attributes<'_>) -> Option<ContainerMeta> {
    let image = attributes.string("container.image.name").map(|name| {
        match attributes.string("container.image.tag") {
            Some(tag) => format!("{name}:{tag}"),
            None => name.to_owned(),
        }
    });
    let container = ContainerMeta {
        id: attributes.owned("container.id"),
        name: attributes.owned("container.name"),
        image,
        ..ContainerMeta::default()
    };
    (container != ContainerMeta::default()).then_some(container)
}

fn kubernetes_of(attributes: &Attributes<'_>) -> Option<KubernetesMeta> {
    let name = attributes.owned("k8s.pod.name");
    let uid = attributes.owned("k8s.pod.uid");
    let pod = (name.is_some() || uid.is_some()).then(|| KubernetesPod {
        name,
        uid,
        ..KubernetesPod::default()
    });
    let kubernetes = KubernetesMeta {
        namespace: attributes.owned("k8s.namespace.name"),
        pod,
        container: attributes
            .owned("k8s.container.name")
            .map(|name| KubernetesContainer { name: Some(name) }),
        node: attributes
            .owned("k8s.node.name")
            .map(|name| KubernetesNode { name }),
    };
    (kubernetes != KubernetesMeta::default()).then_some(kubernetes)
}

/// `message` and `json` of a body: a string as is (and its fields when it is a JSON object),
/// a map as compact JSON (and its fields), anything else as its JSON text.
fn message_of(body: Option<&AnyValue>) -> (String, Option<Map<String, Value>>) {
    let Some(value) = body.and_then(|b| b.value.as_ref()) else {
        return (String::new(), None);
    };
    match value {
        any_value::Value::StringValue(text) => (text.clone(), parse_json_object(text)),
        other => match value_of(other) {
            Value::Object(map) => (Value::Object(map.clone()).to_string(), Some(map)),
            Value::String(text) => (text, None),
            rendered => (rendered.to_string(), None),
        },
    }
}

/// `severityText`, else the short name of the range `severityNumber` falls in.
fn level_of(record: &LogRecord) -> Option<String> {
    let text = record.severity_text.trim();
    if !text.is_empty() {
        return Some(text.to_owned());
    }
    let name = match record.severity_number {
        1..=4 => "TRACE",
        5..=8 => "DEBUG",
        9..=12 => "INFO",
        13..=16 => "WARN",
        17..=20 => "ERROR",
        21..=24 => "FATAL",
        _ => return None,
    };
    Some(name.to_owned())
}

/// The `otel` object: what the schema has no field for.
fn otel_of(
    resource: &Resource,
    scope: &InstrumentationScope,
    record: &LogRecord,
) -> Map<String, Value> {
    let mut otel = Map::new();
    let unmapped = |list: &[KeyValue]| {
        attributes_of(list.iter().filter(|kv| !MAPPED.contains(&kv.key.as_str())))
    };
    insert_object(&mut otel, "resource", unmapped(&resource.attributes));
    insert_object(&mut otel, "attributes", unmapped(&record.attributes));
    let mut scope_fields = Map::new();
    insert_string(&mut scope_fields, "name", &scope.name);
    insert_string(&mut scope_fields, "version", &scope.version);
    insert_object(
        &mut scope_fields,
        "attributes",
        attributes_of(scope.attributes.iter()),
    );
    insert_object(&mut otel, "scope", scope_fields);
    insert_string(&mut otel, "trace_id", &hex(&record.trace_id));
    insert_string(&mut otel, "span_id", &hex(&record.span_id));
    if record.severity_number != 0 {
        otel.insert("severity_number".to_owned(), record.severity_number.into());
    }
    if record.flags != 0 {
        otel.insert("flags".to_owned(), record.flags.into());
    }
    insert_string(&mut otel, "event_name", &record.event_name);
    otel
}

fn insert_string(map: &mut Map<String, Value>, key: &str, value: &str) {
    if !value.is_empty() {
        map.insert(key.to_owned(), Value::String(value.to_owned()));
    }
}

fn insert_object(map: &mut Map<String, Value>, key: &str, value: Map<String, Value>) {
    if !value.is_empty() {
        map.insert(key.to_owned(), Value::Object(value));
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Attributes as a JSON object (a repeated key keeps its last value, as OTLP receivers do).
fn attributes_of<'a>(list: impl Iterator<Item = &'a KeyValue>) -> Map<String, Value> {
    list.map(|kv| {
        let value = kv
            .value
            .as_ref()
            .and_then(|v| v.value.as_ref())
            .map_or(Value::Null, value_of);
        (kv.key.clone(), value)
    })
    .collect()
}

/// An `AnyValue` as plain JSON: strings, booleans, integers and doubles as themselves (a
/// double that is not finite as its name), arrays and maps as arrays and objects, bytes as
/// base64, a profiling string index as null.
pub fn value_of(value: &any_value::Value) -> Value {
    match value {
        any_value::Value::StringValue(s) => Value::String(s.clone()),
        any_value::Value::BoolValue(b) => Value::Bool(*b),
        any_value::Value::IntValue(i) => Value::from(*i),
        any_value::Value::DoubleValue(d) => serde_json::Number::from_f64(*d)
            .map_or_else(|| Value::String(d.to_string()), Value::Number),
        any_value::Value::ArrayValue(array) => Value::Array(
            array
                .values
                .iter()
                .map(|v| v.value.as_ref().map_or(Value::Null, value_of))
                .collect(),
        ),
        any_value::Value::KvlistValue(list) => Value::Object(attributes_of(list.values.iter())),
        any_value::Value::BytesValue(bytes) => {
            Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
        // A string table index only means something in the profiling signal; elsewhere the
        // specification has receivers treat it as absent.
        any_value::Value::StringValueStrindex(_) => Value::Null,
    }
}
