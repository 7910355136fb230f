//! Kubernetes apiserver audit events (`audit.k8s.io` `Event`s, `v1` and `v1beta1`).
//!
//! The input is split into JSON documents by brace depth (strings and escapes honored), so
//! one event per line, several per line and pretty-printed documents spanning many lines all
//! work; a document's position is its first line's. Each document may be:
//!
//! * an audit event: an object with `kind: "Event"`, or with no `kind` but an `auditID` and a
//!   `verb` or `stage` (an `apiVersion`, when present, must be `audit.k8s.io/*`);
//! * an `EventList` (`items[]`), or a JSON array of events;
//! * an Azure (AKS) diagnostic export, `{"records":[{.., "properties":{"log":"<event JSON>"}}]}`,
//!   or one such record on its own.
//!
//! Records of one document share its offset and are told apart by their index in the list.
//! The event's fields go unchanged into [`Event::audit`](kestrel_event::Event::audit);
//! `@timestamp` is `stageTimestamp`, else `requestReceivedTimestamp`, else `timestamp`
//! (`v1beta1`), else `metadata.creationTimestamp`; `message` is a summary such as
//! `get /api/v1/namespaces/default/secrets by system:anonymous -> 403`.
//!
//! Anything else becomes a dead letter naming the line and the problem. A document still
//! open at [`Normalizer::flush`] is a dead letter too (an apiserver writes whole lines, so
//! a document cut short is broken, not slow).

use std::fmt::Write as _;

use kestrel_event::{parse_timestamp, EventKind, Timestamp};
use serde_json::{Map, Value};

use super::docker::strip_bom;
use super::json_doc::DocScanner;
use super::record::{base_event, dead_letter, excerpt, json_error_text};
use super::{NormalizeOptions, Normalizer, Output, RawLine, SourceContext};

/// Top-level keys of [`kestrel_event::Event`]'s own fields. An audit event carrying one of
/// these (none does in practice) would clash with them once flattened, so it is kept as
/// `audit.<key>` instead.
const RESERVED_KEYS: [&str; 9] = [
    "@timestamp",
    "event",
    "message",
    "log",
    "host",
    "stream",
    "container",
    "kubernetes",
    "json",
];

/// The fields `@timestamp` is taken from, in order of preference.
const TIME_FIELDS: [&str; 3] = ["stageTimestamp", "requestReceivedTimestamp", "timestamp"];

/// A document spanning lines, waiting for its end.
#[derive(Debug)]
struct OpenDoc {
    offset: u64,
    line: u64,
    /// Whether its first line held more than the opening brace, i.e. it looks like a line of
    /// JSON Lines that lost its end (then a line starting with `{` starts a new document).
    compact: bool,
}

/// The normalizer for Kubernetes audit logs.
#[derive(Debug)]
pub struct K8sAuditNormalizer {
    ctx: SourceContext,
    max_doc_bytes: usize,
    scanner: DocScanner,
    doc: Vec<u8>,
    open: Option<OpenDoc>,
    /// The offset whose record indices are being handed out, and the next index.
    index_offset: u64,
    next_index: u32,
}

impl K8sAuditNormalizer {
    /// A normalizer for the file described by `ctx`.
    pub fn new(ctx: SourceContext, options: NormalizeOptions) -> K8sAuditNormalizer {
        K8sAuditNormalizer {
            ctx,
            max_doc_bytes: options.max_record_bytes,
            scanner: DocScanner::default(),
            doc: Vec::new(),
            open: None,
            index_offset: u64::MAX,
            next_index: 0,
        }
    }

    /// Reserves `count` record indices at `offset`; returns the first.
    fn indices(&mut self, offset: u64, count: usize) -> u32 {
        if offset != self.index_offset {
            self.index_offset = offset;
            self.next_index = 0;
        }
        let first = self.next_index;
        let count = u32::try_from(count.max(1)).unwrap_or(u32::MAX);
        self.next_index = self.next_index.saturating_add(count);
        first
    }

    fn reject(&self, line: u64, offset: u64, error: String, raw: &[u8], out: &mut Vec<Output>) {
        out.push(Output::DeadLetter(dead_letter(
            &self.ctx, line, offset, error, raw,
        )));
    }

    /// Dead-letters the open document.
    fn abandon(&mut self, why: &str, out: &mut Vec<Output>) {
        if let Some(open) = self.open.take() {
            let raw = std::mem::take(&mut self.doc);
            let error = format!("line {}: {why}", open.line);
            let end = raw.len().saturating_sub(usize::from(raw.ends_with(b"\n")));
            self.reject(open.line, open.offset, error, &raw[..end], out);
            self.doc = raw;
            self.doc.clear();
        }
        self.scanner.reset();
    }

    /// Feeds a line to the open document; returns where the rest of the line starts, or
    /// `None` when the line was used up.
    fn continue_doc(&mut self, bytes: &[u8], out: &mut Vec<Output>) -> Option<usize> {
        let compact = self.open.as_ref().is_some_and(|open| open.compact);
        if compact && bytes.first() == Some(&b'{') {
            self.abandon(
                "JSON document cut short: a new document starts before it ends",
                out,
            );
            return Some(0);
        }
        match self.scanner.feed(bytes) {
            Some(end) => {
                self.doc.extend_from_slice(&bytes[..end]);
                let doc = std::mem::take(&mut self.doc);
                if let Some(open) = self.open.take() {
                    self.process(&doc, open.offset, open.line, out);
                }
                self.doc = doc;
                self.doc.clear();
                Some(end)
            }
            None => {
                self.doc.extend_from_slice(bytes);
                self.doc.push(b'\n');
                if self.scanner.in_string() {
                    self.abandon("invalid JSON: a string runs past the end of a line", out);
                } else if self.doc.len() > self.max_doc_bytes {
                    let why = format!("JSON document longer than {} bytes", self.max_doc_bytes);
                    self.abandon(&why, out);
                }
                None
            }
        }
    }

    /// Parses one complete document and emits its records.
    fn process(&mut self, doc: &[u8], offset: u64, line: u64, out: &mut Vec<Output>) {
        let value: Value = match serde_json::from_slice(doc) {
            Ok(value) => value,
            Err(err) => {
                self.indices(offset, 1);
                let at = if err.line() > 1 {
                    format!(
                        " (at line {}, column {})",
                        line + err.line() as u64 - 1,
                        err.column()
                    )
                } else {
                    format!(" (column {})", err.column())
                };
                let error = format!("line {line}: invalid JSON: {}{at}", json_error_text(&err));
                self.reject(line, offset, error, doc, out);
                return;
            }
        };
        let (items, what) = match value {
            Value::Object(mut object) => match list_of(&mut object) {
                Some(Ok((items, what))) => (items, what),
                Some(Err(why)) => {
                    self.indices(offset, 1);
                    self.reject(line, offset, format!("line {line}: {why}"), doc, out);
                    return;
                }
                None => {
                    let index = self.indices(offset, 1);
                    match audit_record(Value::Object(object)) {
                        Ok(record) => self.emit(record, offset, index, line, "", doc, out),
                        Err(rejected) => {
                            let error = format!("line {line}: {}", rejected.why);
                            self.reject(line, offset, error, doc, out);
                        }
                    }
                    return;
                }
            },
            Value::Array(items) => (items, "item"),
            other => {
                self.indices(offset, 1);
                let error = format!(
                    "line {line}: not a Kubernetes audit event: expected a JSON object, found {}",
                    type_name(&other)
                );
                self.reject(line, offset, error, doc, out);
                return;
            }
        };
        let first = self.indices(offset, items.len());
        for (position, item) in items.into_iter().enumerate() {
            let index = first.saturating_add(u32::try_from(position).unwrap_or(u32::MAX));
            let context = format!("{what} {position}: ");
            match audit_record(item) {
                Ok(record) => self.emit(record, offset, index, line, &context, doc, out),
                Err(rejected) => {
                    let error = format!("line {line}: {context}{}", rejected.why);
                    self.reject(line, offset, error, &rejected.raw, out);
                }
            }
        }
    }

    /// Emits one audit event (or a dead letter when it has no usable timestamp).
    #[allow(clippy::too_many_arguments)]
    fn emit(
        &self,
        record: Record,
        offset: u64,
        index: u32,
        line: u64,
        context: &str,
        doc: &[u8],
        out: &mut Vec<Output>,
    ) {
        let Record { mut fields, raw } = record;
        let timestamp = match timestamp_of(&fields) {
            Ok(timestamp) => timestamp,
            Err(why) => {
                let error = format!("line {line}: {context}{why}");
                let raw = match raw {
                    Some(raw) => raw,
                    None if context.is_empty() => doc.to_vec(),
                    None => serde_json::to_vec(&fields).unwrap_or_default(),
                };
                self.reject(line, offset, error, &raw, out);
                return;
            }
        };
        let mut event = base_event(&self.ctx, EventKind::K8sAudit, offset, index, timestamp);
        event.message = summary(&fields);
        for key in RESERVED_KEYS {
            if let Some(value) = fields.shift_remove(key) {
                fields.insert(format!("audit.{key}"), value);
            }
        }
        event.audit = fields;
        out.push(Output::Event(event));
    }
}

impl Normalizer for K8sAuditNormalizer {
    fn push_line(&mut self, line: RawLine<'_>, out: &mut Vec<Output>) {
        let mut bytes = line.bytes;
        let mut pos = 0;
        if self.open.is_some() {
            match self.continue_doc(bytes, out) {
                Some(end) => pos = end,
                None => return,
            }
        } else {
            bytes = strip_bom(bytes);
        }
        loop {
            let Some(skip) = bytes
                .get(pos..)
                .and_then(|rest| rest.iter().position(|b| !b.is_ascii_whitespace()))
            else {
                return;
            };
            pos += skip;
            let rest = &bytes[pos..];
            if !matches!(rest.first(), Some(b'{' | b'[')) {
                let error = format!(
                    "line {}: not a Kubernetes audit event: not JSON (expected `{{`, found `{}`)",
                    line.line,
                    excerpt(rest)
                );
                self.reject(line.line, line.offset, error, rest, out);
                return;
            }
            self.scanner.reset();
            match self.scanner.feed(rest) {
                Some(end) => {
                    self.process(&rest[..end], line.offset, line.line, out);
                    pos += end;
                }
                None => {
                    let compact = rest
                        .get(1..)
                        .is_some_and(|after| after.iter().any(|b| !b.is_ascii_whitespace()));
                    self.open = Some(OpenDoc {
                        offset: line.offset,
                        line: line.line,
                        compact,
                    });
                    self.doc.clear();
                    self.doc.extend_from_slice(rest);
                    self.doc.push(b'\n');
                    if self.scanner.in_string() {
                        self.abandon("invalid JSON: a string runs past the end of a line", out);
                    }
                    return;
                }
            }
        }
    }

    fn flush(&mut self, out: &mut Vec<Output>) {
        self.abandon(
            "JSON document cut short: the input ends before it does",
            out,
        );
    }

    fn pending_offset(&self) -> Option<u64> {
        self.open.as_ref().map(|open| open.offset)
    }
}

/// An audit event's fields, with the raw bytes to dead-letter it with when they are not the
/// document's (an AKS record's inner `properties.log`).
struct Record {
    fields: Map<String, Value>,
    raw: Option<Vec<u8>>,
}

/// Why a value is not an audit event, and its bytes for the dead letter.
struct Rejected {
    why: String,
    raw: Vec<u8>,
}

/// The records of a list document: `EventList.items` or AKS `records`. `None` when the
/// object is not a list; an error when it claims to be one but has no list.
fn list_of(object: &mut Map<String, Value>) -> Option<Result<(Vec<Value>, &'static str), String>> {
    if object.get("kind").and_then(Value::as_str) == Some("EventList") {
        if let Some(version) = object.get("apiVersion").and_then(Value::as_str) {
            if !version.starts_with("audit.k8s.io/") {
                return Some(Err(format!(
                    "not a Kubernetes audit event list: kind is EventList but apiVersion is {}",
                    excerpt(version.as_bytes())
                )));
            }
        }
        return Some(match object.remove("items") {
            Some(Value::Array(items)) => Ok((items, "EventList item")),
            Some(Value::Null) | None => Ok((Vec::new(), "EventList item")),
            Some(other) => Err(format!(
                "EventList `items` is {}, expected an array",
                type_name(&other)
            )),
        });
    }
    if object.contains_key("kind") || object.contains_key("auditID") {
        return None;
    }
    match object.get("records") {
        Some(Value::Array(_)) => match object.remove("records") {
            Some(Value::Array(items)) => Some(Ok((items, "records"))),
            _ => None,
        },
        _ => None,
    }
}

/// Checks that `value` is an audit event (unwrapping an AKS record) and returns its fields.
fn audit_record(value: Value) -> Result<Record, Rejected> {
    let raw_of = |value: &Value| serde_json::to_vec(value).unwrap_or_default();
    let object = match value {
        Value::Object(object) => object,
        other => {
            return Err(Rejected {
                why: format!(
                    "not a Kubernetes audit event: expected a JSON object, found {}",
                    type_name(&other)
                ),
                raw: raw_of(&other),
            })
        }
    };
    if !object.contains_key("kind") && !object.contains_key("auditID") {
        if let Some(log) = object.get("properties").and_then(|p| p.get("log")) {
            return aks_inner(log);
        }
    }
    match check_event(&object) {
        Ok(()) => Ok(Record {
            fields: object,
            raw: None,
        }),
        Err(why) => Err(Rejected {
            why: format!("not a Kubernetes audit event: {why}"),
            raw: raw_of(&Value::Object(object)),
        }),
    }
}

/// The audit event carried as a JSON string in an AKS record's `properties.log`.
fn aks_inner(log: &Value) -> Result<Record, Rejected> {
    let Some(text) = log.as_str() else {
        return Err(Rejected {
            why: format!(
                "`properties.log` is {}, expected a string holding an audit event",
                type_name(log)
            ),
            raw: serde_json::to_vec(log).unwrap_or_default(),
        });
    };
    let reject = |why: String| Rejected {
        why,
        raw: text.as_bytes().to_vec(),
    };
    let fields = match serde_json::from_str::<Value>(text.trim()) {
        Ok(Value::Object(fields)) => fields,
        Ok(other) => {
            return Err(reject(format!(
                "`properties.log` holds {}, expected an audit event object",
                type_name(&other)
            )))
        }
        Err(err) => {
            return Err(reject(format!(
                "`properties.log` is not valid JSON: {}",
                json_error_text(&err)
            )))
        }
    };
    match check_event(&fields) {
        Ok(()) => Ok(Record {
            fields,
            raw: Some(text.as_bytes().to_vec()),
        }),
        Err(why) => Err(reject(format!(
            "`properties.log` is not a Kubernetes audit event: {why}"
        ))),
    }
}

/// Whether an object is an audit event; the error says why not.
pub(crate) fn check_event(object: &Map<String, Value>) -> Result<(), String> {
    match object.get("kind") {
        Some(Value::String(kind)) if kind == "Event" => {}
        Some(Value::String(kind)) => return Err(format!("kind is {}", excerpt(kind.as_bytes()))),
        Some(other) => {
            let text = serde_json::to_vec(other).unwrap_or_default();
            return Err(format!("kind is {} (not a string)", excerpt(&text)));
        }
        None => {
            if !(object.contains_key("auditID")
                && (object.contains_key("verb") || object.contains_key("stage")))
            {
                return Err("no `kind`, and no `auditID` with a `verb` or `stage`".to_owned());
            }
        }
    }
    match object.get("apiVersion") {
        None => Ok(()),
        Some(Value::String(version)) if version.starts_with("audit.k8s.io/") => Ok(()),
        Some(Value::String(version)) => Err(format!(
            "apiVersion is {}, expected audit.k8s.io/* (a core Kubernetes Event is not an audit event)",
            excerpt(version.as_bytes())
        )),
        Some(other) => Err(format!("apiVersion is {}, expected a string", type_name(other))),
    }
}

/// `@timestamp` of an audit event.
fn timestamp_of(fields: &Map<String, Value>) -> Result<Timestamp, String> {
    let creation = fields
        .get("metadata")
        .and_then(|m| m.get("creationTimestamp"));
    let candidates = TIME_FIELDS
        .iter()
        .map(|name| (*name, fields.get(*name)))
        .chain([("metadata.creationTimestamp", creation)]);
    for (name, value) in candidates {
        match value {
            None | Some(Value::Null) => continue,
            Some(Value::String(text)) => {
                return parse_timestamp(text).map_err(|e| format!("invalid `{name}`: {e}"))
            }
            Some(other) => {
                return Err(format!(
                    "invalid `{name}`: {}, expected an RFC 3339 string",
                    type_name(other)
                ))
            }
        }
    }
    Err("audit event has no timestamp: missing `stageTimestamp` (and `requestReceivedTimestamp`, `timestamp`, `metadata.creationTimestamp`)".to_owned())
}

/// `verb requestURI by user -> code`, skipping missing parts.
pub(crate) fn summary(fields: &Map<String, Value>) -> String {
    let mut text = String::new();
    let mut part = |piece: std::fmt::Arguments<'_>| {
        if !text.is_empty() {
            text.push(' ');
        }
        let _ = text.write_fmt(piece);
    };
    if let Some(verb) = fields.get("verb").and_then(Value::as_str) {
        part(format_args!("{verb}"));
    }
    if let Some(uri) = fields.get("requestURI").and_then(Value::as_str) {
        part(format_args!("{uri}"));
    }
    let user = fields
        .get("user")
        .and_then(|u| u.get("username"))
        .and_then(Value::as_str);
    if let Some(user) = user {
        part(format_args!("by {user}"));
    }
    let code = fields.get("responseStatus").and_then(|s| s.get("code"));
    match code {
        Some(Value::Number(code)) => part(format_args!("-> {code}")),
        Some(Value::String(code)) => part(format_args!("-> {code}")),
        _ => {}
    }
    text
}

/// How a JSON value's type is named in error messages ("a string", "an array", ...).
pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::tests::{ctx, dead_letters, events, run};
    use crate::normalize::Format;
    use kestrel_event::{event_id, format_timestamp, RecordPosition};

    const EVENT: &str = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a","stage":"ResponseComplete","verb":"get","requestURI":"/api/v1/namespaces/default/secrets","user":{"username":"system:anonymous"},"responseStatus":{"code":403},"requestReceivedTimestamp":"2024-01-01T00:00:00.5Z","stageTimestamp":"2024-01-01T00:00:01.25Z"}"#;

    fn id(offset: u64, index: u32) -> String {
        event_id("/audit.log", RecordPosition::Offset { offset, index })
    }

    #[test]
    fn one_event_per_line() {
        let input = format!("{EVENT}\n{EVENT}\n");
        let outs = run(Format::K8sAudit, "/audit.log", input.as_bytes());
        let events = events(&outs);
        assert_eq!(events.len(), 2);
        let e = events[0];
        assert_eq!(
            e.message,
            "get /api/v1/namespaces/default/secrets by system:anonymous -> 403"
        );
        assert_eq!(
            format_timestamp(&e.timestamp),
            "2024-01-01T00:00:01.250000000Z"
        );
        assert_eq!(e.kind(), EventKind::K8sAudit);
        assert_eq!(e.audit["verb"], "get");
        assert_eq!(
            e.field("user.username"),
            Some(Value::from("system:anonymous"))
        );
        assert_eq!(e.event.id, id(0, 0));
        assert_eq!(events[1].event.id, id(EVENT.len() as u64 + 1, 0));
    }

    #[test]
    fn pretty_printed_documents_and_several_per_line() {
        let pretty =
            serde_json::to_string_pretty(&serde_json::from_str::<Value>(EVENT).unwrap()).unwrap();
        let input = format!("\u{feff}{pretty}\n\n{EVENT} {EVENT}\n");
        let outs = run(Format::K8sAudit, "/audit.log", input.as_bytes());
        let events = events(&outs);
        assert_eq!(events.len(), 3, "{outs:?}");
        assert_eq!(events[0].event.id, id(0, 0));
        let third_line = (input.find("\n\n").unwrap() + 2) as u64;
        assert_eq!(events[1].event.id, id(third_line, 0));
        assert_eq!(events[2].event.id, id(third_line, 1));
    }

    #[test]
    fn event_lists_and_aks_exports() {
        let list = format!(
            r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{EVENT},{{"kind":"Pod"}},{EVENT}]}}"#
        );
        let outs = run(Format::K8sAudit, "/audit.log", list.as_bytes());
        assert_eq!(events(&outs).len(), 2);
        assert_eq!(events(&outs)[1].event.id, id(0, 2));
        let letters = dead_letters(&outs);
        assert_eq!(
            letters[0].error,
            "line 1: EventList item 1: not a Kubernetes audit event: kind is Pod"
        );
        assert_eq!(letters[0].raw, br#"{"kind":"Pod"}"#);

        let escaped = serde_json::to_string(&format!("{EVENT}\n")).unwrap();
        let aks = format!(
            r#"{{"records":[{{"category":"kube-audit","properties":{{"log":{escaped},"stream":"stdout"}}}},{{"properties":{{"log":"nope"}}}}]}}"#
        );
        let outs = run(Format::K8sAudit, "/audit.log", aks.as_bytes());
        assert_eq!(events(&outs).len(), 1);
        assert_eq!(events(&outs)[0].audit["auditID"], "a");
        let letter = dead_letters(&outs)[0];
        assert!(letter
            .error
            .starts_with("line 1: records 1: `properties.log` is not valid JSON"));
        assert_eq!(letter.raw, b"nope");
    }

    #[test]
    fn timestamps_fall_back_in_order() {
        let cases = [
            (
                r#"{"kind":"Event","auditID":"x","requestReceivedTimestamp":"2024-01-01T00:00:02Z","timestamp":"2024-01-01T00:00:03Z"}"#,
                "2024-01-01T00:00:02.000000000Z",
            ),
            (
                r#"{"kind":"Event","auditID":"x","timestamp":"2024-01-01T00:00:03Z","metadata":{"creationTimestamp":"2024-01-01T00:00:04Z"}}"#,
                "2024-01-01T00:00:03.000000000Z",
            ),
            (
                r#"{"auditID":"x","verb":"get","metadata":{"creationTimestamp":"2024-01-01T00:00:04Z"}}"#,
                "2024-01-01T00:00:04.000000000Z",
            ),
        ];
        for (input, want) in cases {
            let outs = run(Format::K8sAudit, "/audit.log", input.as_bytes());
            assert_eq!(format_timestamp(&events(&outs)[0].timestamp), want);
        }
        let outs = run(
            Format::K8sAudit,
            "/audit.log",
            br#"{"kind":"Event","verb":"get"}"#,
        );
        let letter = dead_letters(&outs)[0];
        assert!(
            letter.error.contains("missing `stageTimestamp`"),
            "{}",
            letter.error
        );
        let outs = run(
            Format::K8sAudit,
            "/audit.log",
            br#"{"kind":"Event","stageTimestamp":"soon"}"#,
        );
        assert!(dead_letters(&outs)[0]
            .error
            .contains("invalid `stageTimestamp`"));
    }

    #[test]
    fn what_is_not_an_audit_event_is_dead_lettered() {
        let cases: [(&str, &str); 8] = [
            (r#"{"kind": 0}"#, "line 1: not a Kubernetes audit event: kind is 0 (not a string)"),
            (r#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1"}"#, "line 1: not a Kubernetes audit event: kind is AdmissionReview"),
            (r#"{"kind":"Event","apiVersion":"v1","stageTimestamp":"2024-01-01T00:00:00Z"}"#, "line 1: not a Kubernetes audit event: apiVersion is v1, expected audit.k8s.io/* (a core Kubernetes Event is not an audit event)"),
            (r#"{"hello":"world"}"#, "line 1: not a Kubernetes audit event: no `kind`, and no `auditID` with a `verb` or `stage`"),
            ("hello", "line 1: not a Kubernetes audit event: not JSON (expected `{`, found `hello`)"),
            ("[1]", "line 1: item 0: not a Kubernetes audit event: expected a JSON object, found a number"),
            (r#"{"kind":"Event",}"#, "line 1: invalid JSON: trailing comma (column 17)"),
            (r#"{"kind":"Event","x":"open"#, "line 1: invalid JSON: a string runs past the end of a line"),
        ];
        for (input, want) in cases {
            let outs = run(Format::K8sAudit, "/audit.log", input.as_bytes());
            assert_eq!(outs.len(), 1, "{input}");
            let letter = dead_letters(&outs)[0];
            assert_eq!(letter.error, want);
            // A list item's dead letter holds the item, any other the whole document.
            let raw = if input == "[1]" { "1" } else { input };
            assert_eq!(letter.raw, raw.as_bytes());
        }
    }

    #[test]
    fn a_truncated_line_does_not_swallow_the_next_ones() {
        let input = format!("{{\"kind\":\"Event\",\"user\":{{\"a\":1}}, \n{EVENT}\n");
        let outs = run(Format::K8sAudit, "/audit.log", input.as_bytes());
        assert_eq!(outs.len(), 2);
        assert!(dead_letters(&outs)[0]
            .error
            .starts_with("line 1: JSON document cut short"));
        assert_eq!(events(&outs).len(), 1);
    }

    #[test]
    fn an_open_document_is_pending_until_flushed() {
        let mut n = K8sAuditNormalizer::new(ctx("/audit.log"), NormalizeOptions::default());
        let mut out = Vec::new();
        n.push_line(
            RawLine {
                bytes: b"{",
                offset: 7,
                line: 2,
            },
            &mut out,
        );
        n.push_line(
            RawLine {
                bytes: b"  \"kind\": \"Event\",",
                offset: 9,
                line: 3,
            },
            &mut out,
        );
        assert_eq!(n.pending_offset(), Some(7));
        n.flush(&mut out);
        assert_eq!(n.pending_offset(), None);
        let letter = out[0].as_dead_letter().unwrap();
        assert_eq!(letter.line, Some(2));
        assert_eq!(letter.offset, Some(7));
        assert_eq!(letter.raw, b"{\n  \"kind\": \"Event\",");
    }

    #[test]
    fn summary_skips_missing_parts() {
        let fields = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(summary(&fields(serde_json::json!({}))), "");
        assert_eq!(
            summary(&fields(
                serde_json::json!({"verb": "list", "responseStatus": {"code": 200}})
            )),
            "list -> 200"
        );
    }
}
