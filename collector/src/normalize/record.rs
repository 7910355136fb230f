//! Building blocks shared by the normalizers: the common event fields, dead letters, flags.

use kestrel_event::{event_id, DeadLetter, Event, EventKind, RecordPosition, Timestamp};
use serde_json::{Map, Value};

use super::SourceContext;

/// The field holding an event's processing flags (`log.flags`), a list of strings.
pub const FLAGS_FIELD: &str = "log.flags";

/// The flag of an event emitted before all of its parts arrived (a split Docker line or a CRI
/// `P` line whose end never came, emitted by [`super::Normalizer::flush`], or a record cut
/// at [`super::NormalizeOptions::max_record_bytes`]).
pub const PARTIAL_FLAG: &str = "partial";

/// The processing flags of `event` (see [`FLAGS_FIELD`]).
pub fn flags(event: &Event) -> impl Iterator<Item = &str> {
    event
        .log
        .iter()
        .flat_map(|l| l.flags.iter().map(String::as_str))
}

/// Whether `event` carries the [`PARTIAL_FLAG`].
pub fn is_partial(event: &Event) -> bool {
    flags(event).any(|flag| flag == PARTIAL_FLAG)
}

/// Adds `flag` to the event's [`FLAGS_FIELD`].
pub(crate) fn add_flag(event: &mut Event, flag: &str) {
    event.add_flag(flag);
}

/// An event with the fields every event has: `@timestamp`, `event.kind`, `event.id` (from the
/// source path and the record's position), `event.ingested`, `log.file.path`, `host.name`.
pub(crate) fn base_event(
    ctx: &SourceContext,
    kind: EventKind,
    offset: u64,
    index: u32,
    timestamp: Timestamp,
) -> Event {
    // A file known by its content is the same source under any name (renamed, copied,
    // compressed): the ids must not depend on the name it was read under.
    let source = match &ctx.content_id {
        Some(content) => content.as_str(),
        None => ctx.path.as_str(),
    };
    let id = event_id(source, RecordPosition::Offset { offset, index });
    Event::new(kind, id, timestamp, ctx.ingested)
        .with_file_path(ctx.path.as_str())
        .with_file_offset(offset)
        .with_host_name(ctx.host_name.as_str())
}

/// A dead letter for the record at `line`/`offset`; `error` should already name the line.
pub(crate) fn dead_letter(
    ctx: &SourceContext,
    line: u64,
    offset: u64,
    error: String,
    raw: &[u8],
) -> DeadLetter {
    DeadLetter {
        source: ctx.path.clone(),
        line: Some(line),
        offset: Some(offset),
        error,
        raw: raw.to_vec(),
        received: ctx.ingested,
    }
}

/// The text of a `serde_json` error without its ` at line L column C` suffix (useless when
/// the parsed text is one line of a file, whose own line number is given separately).
pub(crate) fn json_error_text(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rfind(" at line ") {
        Some(cut) => text[..cut].to_owned(),
        None => text,
    }
}

/// Parses `message` into a JSON object when it (trimmed) looks like one; `None` otherwise or
/// when it is not valid JSON.
pub(crate) fn parse_json_object(message: &str) -> Option<Map<String, Value>> {
    let trimmed = message.trim();
    if trimmed.len() < 2 || !trimmed.starts_with('{') || !trimmed.ends_with('}') {
        return None;
    }
    serde_json::from_str::<Map<String, Value>>(trimmed).ok()
}

/// A short, printable excerpt of `bytes` for error messages.
pub(crate) fn excerpt(bytes: &[u8]) -> String {
    const MAX: usize = 40;
    let text = String::from_utf8_lossy(bytes.get(..MAX).unwrap_or(bytes)).into_owned();
    let mut out: String = text.chars().flat_map(char::escape_debug).collect();
    if bytes.len() > MAX {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_added_once_and_read_back() {
        let ts = chrono::Utc::now();
        let mut event = Event::new(EventKind::Container, "x".into(), ts, ts);
        assert!(!is_partial(&event));
        add_flag(&mut event, PARTIAL_FLAG);
        add_flag(&mut event, PARTIAL_FLAG);
        assert!(is_partial(&event));
        assert_eq!(flags(&event).count(), 1);
        assert_eq!(
            event.field(FLAGS_FIELD),
            Some(serde_json::json!([PARTIAL_FLAG]))
        );
        let back = Event::from_json(event.to_json().as_bytes()).unwrap();
        assert!(is_partial(&back));
    }

    #[test]
    fn json_objects_are_recognized_only_when_valid() {
        assert!(parse_json_object(" {\"a\":1} ").is_some());
        assert!(parse_json_object("{\"a\":1]").is_none());
        assert!(parse_json_object("[1]").is_none());
        assert!(parse_json_object("{").is_none());
        assert!(parse_json_object("plain").is_none());
    }

    #[test]
    fn excerpts_are_short_and_escaped() {
        assert_eq!(excerpt(b"a\"b\n"), "a\\\"b\\n");
        assert!(excerpt(&[b'x'; 100]).ends_with('…'));
    }
}
