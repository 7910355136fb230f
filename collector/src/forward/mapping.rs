//! Turning forward records into events.
//!
//! Every record becomes a container event (`event.kind: container`), `log.file.path:
//! forward`, `host.name` of the receiving node, `@timestamp` from the entry time:
//!
//! * `message`: the record's `log` (Docker's `fluentd` driver, Fluent Bit's `tail` input with
//!   the docker parser), else its `message` (the CRI parser), without one trailing `'\n'`;
//!   a record with neither keeps its whole content, as compact JSON, as the message. A message
//!   that is itself a JSON object is also parsed into `json.*`, as for tailed lines.
//! * `stream`: `source` (the Docker driver) or `stream`, when `stdout` or `stderr`.
//! * `container.id` and `container.name`: the Docker driver's `container_id` and
//!   `container_name` (without Docker's leading `/`).
//! * `fluent.tag`: the message's tag; `fluent.record.*`: the record's other keys (the driver's
//!   `labels`/`env` extras and `partial_*` keys, Fluent Bit's filters' keys, ...).
//! * A Docker line over 16 KiB arrives as several records marked `partial_message`; each
//!   becomes its own event, flagged `partial` (`log.flags`) except the last part.
//!
//! A record of the Docker driver thus gives the event a tailed json-file line gives (the same
//! `message`, `stream`, `container.id`, and `container.name`, `container.image` and labels
//! once the Docker enricher has seen it).

use kestrel_event::{ContainerMeta, Event, EventKind, Stream, Timestamp};
use rmpv::Value as Pack;
use serde_json::{Map, Number, Value};

use crate::normalize::{parse_json_object, PARTIAL_FLAG};

/// `log.file.path` of forward events, and the source of their ids and dead letters.
pub const FORWARD_SOURCE: &str = "forward";

/// The key of the forward details in an event (`fluent.tag`, `fluent.record.*`).
pub const FLUENT_FIELD: &str = "fluent";

/// Where an event came from: what the record itself does not say.
pub struct Origin<'a> {
    /// The message's tag.
    pub tag: &'a str,
    /// The entry time.
    pub time: Timestamp,
    /// `event.id`.
    pub id: String,
    /// `host.name`.
    pub host_name: &'a str,
    /// `event.ingested`.
    pub ingested: Timestamp,
}

/// The event of one record.
pub fn record_event(origin: Origin<'_>, record: Vec<(Pack, Pack)>) -> Event {
    let mut fields = to_json_map(record);
    let mut event = Event::new(
        EventKind::Container,
        origin.id,
        origin.time,
        origin.ingested,
    )
    .with_file_path(FORWARD_SOURCE)
    .with_host_name(origin.host_name);
    let message = take_string(&mut fields, "log").or_else(|| take_string(&mut fields, "message"));
    let whole_record = message.is_none();
    event.message = match message {
        Some(mut text) => {
            if text.ends_with('\n') {
                text.pop();
            }
            text
        }
        None => Value::Object(fields.clone()).to_string(),
    };
    event.json = parse_json_object(&event.message);
    event.stream =
        take_stream(&mut fields, "source").or_else(|| take_stream(&mut fields, "stream"));
    let id = take_string(&mut fields, "container_id").filter(|s| !s.is_empty());
    let name = take_string(&mut fields, "container_name")
        .map(|name| name.trim_start_matches('/').to_owned())
        .filter(|s| !s.is_empty());
    if id.is_some() || name.is_some() {
        event.container = Some(ContainerMeta {
            id,
            name,
            ..ContainerMeta::default()
        });
    }
    let partial = fields.get("partial_message").and_then(Value::as_str) == Some("true")
        && fields.get("partial_last").and_then(Value::as_str) != Some("true");
    if partial {
        event.add_flag(PARTIAL_FLAG);
    }
    let mut fluent = Map::new();
    fluent.insert("tag".to_owned(), Value::String(origin.tag.to_owned()));
    if !fields.is_empty() && !whole_record {
        fluent.insert("record".to_owned(), Value::Object(fields));
    }
    event
        .audit
        .insert(FLUENT_FIELD.to_owned(), Value::Object(fluent));
    event
}

fn take_string(fields: &mut Map<String, Value>, key: &str) -> Option<String> {
    match fields.get(key) {
        Some(Value::String(_)) => match fields.shift_remove(key) {
            Some(Value::String(text)) => Some(text),
            _ => None,
        },
        _ => None,
    }
}

fn take_stream(fields: &mut Map<String, Value>, key: &str) -> Option<Stream> {
    let stream = Stream::parse(fields.get(key)?.as_str()?)?;
    fields.shift_remove(key);
    Some(stream)
}

/// A record's keys and values as JSON: strings (invalid UTF-8 replaced), binary data as
/// text, extension values as `{"type", "hex"}`, non-string keys as their JSON text.
pub fn to_json_map(record: Vec<(Pack, Pack)>) -> Map<String, Value> {
    let mut map = Map::new();
    for (key, value) in record {
        let key = match key {
            Pack::String(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
            Pack::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
            other => key_text(&to_json(other)),
        };
        map.insert(key, to_json(value));
    }
    map
}

/// Longest text of a non-string key, in bytes.
const MAX_KEY_BYTES: usize = 256;

/// The JSON text of a non-string key, cut at [`MAX_KEY_BYTES`]: keys that are maps of maps
/// would otherwise double in length with each level of escaping (a frame of a few hundred
/// bytes growing to gigabytes).
fn key_text(key: &Value) -> String {
    let mut text = key.to_string();
    if text.len() > MAX_KEY_BYTES {
        let mut end = MAX_KEY_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// One msgpack value as JSON.
pub fn to_json(value: Pack) -> Value {
    match value {
        Pack::Nil => Value::Null,
        Pack::Boolean(b) => Value::Bool(b),
        Pack::Integer(i) => match (i.as_i64(), i.as_u64()) {
            (Some(n), _) => Value::from(n),
            (None, Some(n)) => Value::from(n),
            _ => Value::Null,
        },
        Pack::F32(f) => Number::from_f64(f64::from(f)).map_or(Value::Null, Value::Number),
        Pack::F64(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
        Pack::String(s) => Value::String(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        Pack::Binary(b) => Value::String(String::from_utf8_lossy(&b).into_owned()),
        Pack::Array(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Pack::Map(entries) => Value::Object(to_json_map(entries)),
        Pack::Ext(kind, data) => {
            let mut ext = Map::new();
            ext.insert("type".to_owned(), Value::from(kind));
            ext.insert("hex".to_owned(), Value::String(hex::encode(data)));
            Value::Object(ext)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_nested_in_keys_stay_small() {
        // Found by fuzzing (fuzz/forward_frames): a map whose key is a map whose key is a
        // map..., 40 levels deep, made each level's key text twice the inner one's.
        let mut key = Pack::from("k");
        for _ in 0..40 {
            key = Pack::Map(vec![(key, Pack::Nil)]);
        }
        let map = to_json_map(vec![(key, Pack::from("v"))]);
        let (text, value) = map.iter().next().unwrap();
        assert!(text.len() <= MAX_KEY_BYTES, "{}", text.len());
        assert!(text.starts_with("{\"{\\\"{"), "{text}");
        assert_eq!(value, "v");
    }

    fn origin() -> Origin<'static> {
        let time = chrono::DateTime::from_timestamp(1_700_000_000, 7).unwrap();
        Origin {
            tag: "docker.abc",
            time,
            id: "id-1".into(),
            host_name: "node-1",
            ingested: time,
        }
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(Pack, Pack)> {
        items
            .iter()
            .map(|(k, v)| (Pack::from(*k), Pack::from(*v)))
            .collect()
    }

    #[test]
    fn a_docker_driver_record_is_a_container_line() {
        let id = "4b1f6a0e7f1c3d2e9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f";
        let record = pairs(&[
            ("container_id", id),
            ("container_name", "/web-1"),
            ("source", "stderr"),
            ("log", "{\"level\":\"warn\"}"),
        ]);
        let event = record_event(origin(), record);
        assert_eq!(event.kind(), EventKind::Container);
        assert_eq!(event.message, "{\"level\":\"warn\"}");
        assert_eq!(event.stream, Some(Stream::Stderr));
        let container = event.container.as_ref().unwrap();
        assert_eq!(container.id.as_deref(), Some(id));
        assert_eq!(container.name.as_deref(), Some("web-1"));
        assert_eq!(event.json.as_ref().unwrap()["level"], "warn");
        assert_eq!(event.timestamp.timestamp_subsec_nanos(), 7);
        assert_eq!(event.field("fluent.tag"), Some(Value::from("docker.abc")));
        assert_eq!(event.field("fluent.record"), None);
        assert_eq!(event.field("log.file.path"), Some(Value::from("forward")));
        assert_eq!(event.field("host.name"), Some(Value::from("node-1")));
        assert!(!event.has_flag(PARTIAL_FLAG));
    }

    #[test]
    fn a_fluent_bit_record_keeps_its_other_keys() {
        let mut record = pairs(&[("message", "GET / 200\n"), ("stream", "stdout")]);
        record.push((
            "kubernetes".into(),
            Pack::Map(vec![("pod_name".into(), "web-0".into())]),
        ));
        record.push(("code".into(), Pack::from(200)));
        let event = record_event(origin(), record);
        assert_eq!(event.message, "GET / 200");
        assert_eq!(event.stream, Some(Stream::Stdout));
        assert!(event.container.is_none());
        assert_eq!(
            event.field("fluent.record.kubernetes.pod_name"),
            Some(Value::from("web-0"))
        );
        assert_eq!(event.field("fluent.record.code"), Some(Value::from(200)));
        assert_eq!(event.field("fluent.record.message"), None);
    }

    #[test]
    fn a_record_without_message_is_kept_whole() {
        let record = vec![("user".into(), "ann".into()), ("n".into(), Pack::from(3))];
        let event = record_event(origin(), record);
        assert_eq!(event.message, r#"{"user":"ann","n":3}"#);
        assert_eq!(event.json.as_ref().unwrap()["user"], "ann");
        assert_eq!(event.field("fluent.record"), None);
    }

    #[test]
    fn partial_parts_are_flagged_but_the_last() {
        let part = |last: &str| {
            pairs(&[
                ("log", "part"),
                ("partial_message", "true"),
                ("partial_last", last),
            ])
        };
        assert!(record_event(origin(), part("false")).has_flag(PARTIAL_FLAG));
        assert!(!record_event(origin(), part("true")).has_flag(PARTIAL_FLAG));
    }

    #[test]
    fn odd_values_become_json() {
        let record = vec![
            (Pack::from(1), Pack::Binary(b"bin".to_vec())),
            ("t".into(), Pack::Ext(0, vec![0, 0, 0, 1, 0, 0, 0, 2])),
            ("f".into(), Pack::F64(f64::NAN)),
            ("log".into(), Pack::from("x")),
        ];
        let event = record_event(origin(), record);
        assert_eq!(event.field("fluent.record.1"), Some(Value::from("bin")));
        assert_eq!(
            event.field("fluent.record.t.hex"),
            Some(Value::from("0000000100000002"))
        );
        assert_eq!(event.field("fluent.record.f"), Some(Value::Null));
    }
}
