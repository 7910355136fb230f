//! Guessing a log file's format from its first bytes, then from its path.
//!
//! Content decides first, from the first non-blank line or JSON document:
//!
//! * a JSON object with a string `log` and a `stream`, or with only Docker's keys (`log`,
//!   `stream`, `time`, `attrs`), is [`Format::Docker`];
//! * an audit event, an `EventList`, a JSON array of events or an AKS export (`records`,
//!   `properties.log`) is [`Format::K8sAudit`];
//! * a line `<RFC 3339 time> <stdout|stderr> <P|F> ...` is [`Format::Cri`].
//!
//! When the first document does not fit in the head, its beginning decides (`{"log":` is
//! Docker; `audit.k8s.io/` or `auditID` is audit). When the content tells nothing, the path
//! does: `*-json.log` is Docker, a file under `/var/log/pods/` or `/var/log/containers/` is
//! CRI, a path containing `audit` is Kubernetes audit.

use std::path::Path;

use serde_json::{Map, Value};

use super::docker::strip_bom;
use super::json_doc::DocScanner;
use super::k8s_audit::check_event;
use super::{cri, Format};

/// Guesses the format of the file at `path` whose first bytes are `head` (a few KB; more
/// helps with pretty-printed JSON). Never returns [`Format::Auto`]; `None` when neither the
/// content nor the path tells.
pub fn detect_format(path: &Path, head: &[u8]) -> Option<Format> {
    match guess_content(head, false) {
        Guess::Is(format) => Some(format),
        Guess::NotYet | Guess::Unknown => guess_path(path),
    }
}

/// What the content says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Guess {
    /// This format.
    Is(Format),
    /// Nothing yet: more bytes are needed (empty, or a document cut by the head's end).
    NotYet,
    /// The first record is complete and is none of the formats.
    Unknown,
}

/// The format `head`'s content shows. With `ends_at_line_end`, the last line of `head` is
/// known to be complete (else it may be cut in the middle).
pub(crate) fn guess_content(head: &[u8], ends_at_line_end: bool) -> Guess {
    let head = strip_bom(head);
    let Some(start) = head.iter().position(|b| !b.is_ascii_whitespace()) else {
        return Guess::NotYet;
    };
    let text = &head[start..];
    match text.first() {
        Some(b'{' | b'[') => guess_json(text),
        _ => guess_cri(text, ends_at_line_end),
    }
}

fn guess_json(text: &[u8]) -> Guess {
    let mut scanner = DocScanner::default();
    match scanner.feed(text) {
        Some(end) => match serde_json::from_slice::<Value>(&text[..end]) {
            Ok(value) => classify(&value),
            Err(_) => guess_prefix(text).unwrap_or(Guess::Unknown),
        },
        None => guess_prefix(text).unwrap_or(Guess::NotYet),
    }
}

/// Keys Docker's json-file driver writes.
const DOCKER_KEYS: [&str; 4] = ["log", "stream", "time", "attrs"];

fn classify(value: &Value) -> Guess {
    match value {
        Value::Object(object) if is_docker(object) => Guess::Is(Format::Docker),
        Value::Object(object) if is_audit(object) => Guess::Is(Format::K8sAudit),
        Value::Array(items) => match items.first() {
            Some(Value::Object(first)) if is_audit(first) => Guess::Is(Format::K8sAudit),
            _ => Guess::Unknown,
        },
        _ => Guess::Unknown,
    }
}

fn is_docker(object: &Map<String, Value>) -> bool {
    object.get("log").is_some_and(Value::is_string)
        && (object.get("stream").is_some_and(Value::is_string)
            || object.keys().all(|key| DOCKER_KEYS.contains(&key.as_str())))
}

fn is_audit(object: &Map<String, Value>) -> bool {
    let kind = object.get("kind").and_then(Value::as_str);
    if kind == Some("EventList") {
        return object
            .get("apiVersion")
            .and_then(Value::as_str)
            .is_none_or(|v| v.starts_with("audit.k8s.io/"));
    }
    if check_event(object).is_ok() {
        return true;
    }
    if object.contains_key("kind") || object.contains_key("auditID") {
        return false;
    }
    object.get("records").is_some_and(Value::is_array)
        || object
            .get("properties")
            .and_then(|p| p.get("log"))
            .is_some_and(Value::is_string)
}

/// The beginning of a JSON document too long for the head (or broken).
fn guess_prefix(text: &[u8]) -> Option<Guess> {
    let inside = text.get(1..)?;
    let first_key = inside
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .and_then(|at| inside.get(at..));
    if text.first() == Some(&b'{') && first_key.is_some_and(|key| key.starts_with(b"\"log\"")) {
        return Some(Guess::Is(Format::Docker));
    }
    let finder = |needle: &str| memchr::memmem::find(text, needle.as_bytes()).is_some();
    if finder("audit.k8s.io/") || finder("auditID") {
        return Some(Guess::Is(Format::K8sAudit));
    }
    None
}

fn guess_cri(text: &[u8], ends_at_line_end: bool) -> Guess {
    let newline = memchr::memchr(b'\n', text);
    let line = &text[..newline.unwrap_or(text.len())];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    // A line cut by the head's end decides only once its prefix (time, stream, tag) is in.
    let complete = newline.is_some() || ends_at_line_end;
    if !complete && memchr::memchr_iter(b' ', line).count() < 2 {
        return Guess::NotYet;
    }
    match cri::parse_line(line) {
        Ok(_) => Guess::Is(Format::Cri),
        Err(_) => Guess::Unknown,
    }
}

/// The format the path suggests.
pub(crate) fn guess_path(path: &Path) -> Option<Format> {
    let text = path.to_string_lossy();
    let text = text.replace('\\', "/");
    let name = text.rsplit('/').next().unwrap_or("");
    if name.ends_with("-json.log") || name.contains("-json.log.") {
        return Some(Format::Docker);
    }
    if text.contains("/var/log/pods/") || text.contains("/var/log/containers/") {
        return Some(Format::Cri);
    }
    if text.to_ascii_lowercase().contains("audit") {
        return Some(Format::K8sAudit);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detect(path: &str, head: &str) -> Option<Format> {
        detect_format(Path::new(path), head.as_bytes())
    }

    #[test]
    fn content_decides_first() {
        let docker = r#"{"log":"x\n","stream":"stdout","time":"2020-01-01T00:00:00Z"}"#;
        assert_eq!(
            detect("/var/log/pods/a_b_c/d/0.log", docker),
            Some(Format::Docker)
        );
        assert_eq!(detect("/x", r#"{"log":"only"}"#), Some(Format::Docker));
        assert_eq!(
            detect("/x", r#"{"log":"cut by the he"#),
            Some(Format::Docker)
        );
        let cri = "2020-01-01T00:00:00Z stdout F hello\n";
        assert_eq!(detect("/audit.log", cri), Some(Format::Cri));
        assert_eq!(
            detect("/x", "2020-01-01T00:00:00+01:00 stderr P cut"),
            Some(Format::Cri)
        );
        let audit = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"x"}"#;
        assert_eq!(detect("/x-json.log", audit), Some(Format::K8sAudit));
        assert_eq!(
            detect("/x", r#"{"auditID":"x","verb":"get"}"#),
            Some(Format::K8sAudit)
        );
        assert_eq!(
            detect("/x", r#"{"kind":"EventList","items":[]}"#),
            Some(Format::K8sAudit)
        );
        assert_eq!(
            detect("/x", r#"[{"kind":"Event"}]"#),
            Some(Format::K8sAudit)
        );
        assert_eq!(detect("/x", r#"{"records":[]}"#), Some(Format::K8sAudit));
        assert_eq!(
            detect("/x", "\u{feff}{\n  \"kind\": \"Event\",\n  \"apiVersion\": \"audit.k8s.io/v1\",\n  \"cut"),
            Some(Format::K8sAudit)
        );
    }

    #[test]
    fn paths_decide_when_content_cannot() {
        assert_eq!(
            detect("/var/lib/docker/containers/a/a-json.log", ""),
            Some(Format::Docker)
        );
        assert_eq!(
            detect("/var/log/containers/a_b_c-1.log", "{"),
            Some(Format::Cri)
        );
        assert_eq!(
            detect("/var/log/kube-apiserver/Audit.log", "{\"kind\":0}"),
            Some(Format::K8sAudit)
        );
        assert_eq!(detect("/x.log", "plain text\n"), None);
        assert_eq!(
            detect("/x.log", r#"{"kind":"Event","apiVersion":"v1"}"#),
            None
        );
        assert_eq!(detect("/x.log", r#"{"log":"x","pod":"y"}"#), None);
        assert_eq!(detect("/x.log", ""), None);
    }

    #[test]
    fn guesses_report_progress() {
        assert_eq!(guess_content(b"", false), Guess::NotYet);
        assert_eq!(guess_content(b"{", true), Guess::NotYet);
        assert_eq!(guess_content(b"2020-01-01T00:00:00Z", false), Guess::NotYet);
        assert_eq!(guess_content(b"2020-01-01T00:00:00Z", true), Guess::Unknown);
        assert_eq!(guess_content(b"hello world\n", false), Guess::Unknown);
        assert_eq!(guess_content(b"{\"a\":1}", false), Guess::Unknown);
    }
}
