//! Docker's json-file log driver: one JSON object per line,
//! `{"log":"text\n","stream":"stdout","time":"2016-03-02T22:58:51.338462311Z"}`.
//!
//! * `message` is `log` without its one trailing `'\n'`.
//! * Docker splits lines longer than 16 KB into chunks; a chunk whose `log` does not end with
//!   `'\n'` continues in the next line of the same stream. Chunks are joined until one ends
//!   with `'\n'`; the record keeps the first chunk's time and offset.
//! * `stream` and `time` may be missing (some tools write only `log`); without `time`,
//!   `@timestamp` is the ingestion time. A `time` that is not RFC 3339, a `stream` other than
//!   `stdout`/`stderr`, a missing `log` or a line that is not a JSON object make the line a
//!   dead letter.
//! * A message that is itself a JSON object is also parsed into `json`.

use std::borrow::Cow;
use std::fmt;

use kestrel_event::{parse_timestamp, Stream, Timestamp};
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use super::assemble::Chunk;
use super::container::ContainerPipeline;
use super::record::{dead_letter, excerpt, json_error_text};
use super::{NormalizeOptions, Normalizer, Output, RawLine, SourceContext};

/// One line of a json-file log, as written by Docker.
#[derive(Debug, Deserialize)]
pub(crate) struct DockerLine<'a> {
    #[serde(borrow)]
    pub log: Cow<'a, str>,
    #[serde(default)]
    pub stream: Option<Stream>,
    #[serde(default, deserialize_with = "deserialize_time")]
    pub time: Option<Timestamp>,
}

fn deserialize_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
    struct TimeVisitor;
    impl Visitor<'_> for TimeVisitor {
        type Value = Option<Timestamp>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an RFC 3339 time string")
        }
        fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
            parse_timestamp(text)
                .map(Some)
                .map_err(|e| E::custom(format_args!("invalid `time`: {e}")))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    d.deserialize_any(TimeVisitor)
}

/// Parses one line; the error explains why it is not a json-file record.
pub(crate) fn parse_line(bytes: &[u8]) -> Result<DockerLine<'_>, String> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        Some(_) => {
            return Err(format!(
                "not a JSON object (starts with `{}`)",
                excerpt(bytes.trim_ascii_start())
            ))
        }
        None => return Err("empty line".to_owned()),
    }
    serde_json::from_slice(bytes).map_err(|e| json_error_text(&e))
}

/// The normalizer for Docker json-file logs.
#[derive(Debug)]
pub struct DockerNormalizer {
    pipeline: ContainerPipeline,
}

impl DockerNormalizer {
    /// A normalizer for the file described by `ctx`.
    pub fn new(ctx: SourceContext, options: NormalizeOptions) -> DockerNormalizer {
        DockerNormalizer {
            pipeline: ContainerPipeline::new(ctx, options),
        }
    }
}

impl Normalizer for DockerNormalizer {
    fn push_line(&mut self, line: RawLine<'_>, out: &mut Vec<Output>) {
        let bytes = strip_bom(line.bytes);
        if bytes.trim_ascii().is_empty() {
            return;
        }
        let record = match parse_line(bytes) {
            Ok(record) => record,
            Err(why) => {
                let error = format!("line {}: not a docker json-file record: {why}", line.line);
                let letter = dead_letter(&self.pipeline.ctx, line.line, line.offset, error, bytes);
                out.push(Output::DeadLetter(letter));
                return;
            }
        };
        let (text, last) = strip_newline(record.log);
        let chunk = Chunk {
            text,
            last,
            stream: record.stream,
            timestamp: record.time.unwrap_or(self.pipeline.ctx.ingested),
            offset: line.offset,
        };
        self.pipeline.push(chunk, out);
    }

    fn flush(&mut self, out: &mut Vec<Output>) {
        self.pipeline.flush(out);
    }

    fn pending_offset(&self) -> Option<u64> {
        self.pipeline.pending_offset()
    }
}

/// Drops a UTF-8 byte order mark.
pub(crate) fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// Removes one trailing `'\n'`, telling whether there was one.
fn strip_newline(text: Cow<'_, str>) -> (Cow<'_, str>, bool) {
    match text {
        Cow::Borrowed(s) => match s.strip_suffix('\n') {
            Some(s) => (Cow::Borrowed(s), true),
            None => (Cow::Borrowed(s), false),
        },
        Cow::Owned(mut s) => {
            let last = s.ends_with('\n');
            if last {
                s.pop();
            }
            (Cow::Owned(s), last)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::tests::{ctx, events, run, run_with};
    use crate::normalize::{is_partial, FirstLine, Format};

    #[test]
    fn parses_a_plain_line() {
        let outs = run(
            Format::Docker,
            "/var/log/x.log",
            b"{\"log\":\"hello\\n\",\"stream\":\"stderr\",\"time\":\"2019-04-01T17:58:33.598656444Z\"}\n",
        );
        let events = events(&outs);
        assert_eq!(events.len(), 1);
        let e = events[0];
        assert_eq!(e.message, "hello");
        assert_eq!(e.stream, Some(Stream::Stderr));
        assert_eq!(
            kestrel_event::format_timestamp(&e.timestamp),
            "2019-04-01T17:58:33.598656444Z"
        );
        assert!(!is_partial(e));
        assert!(e.json.is_none());
    }

    #[test]
    fn joins_split_lines_per_stream() {
        let input = concat!(
            r#"{"log":"out-1 ","stream":"stdout","time":"2020-01-01T00:00:00Z"}"#,
            "\n",
            r#"{"log":"err\n","stream":"stderr","time":"2020-01-01T00:00:01Z"}"#,
            "\n",
            r#"{"log":"out-2\n","stream":"stdout","time":"2020-01-01T00:00:02Z"}"#,
            "\n"
        );
        let outs = run(Format::Docker, "/x.log", input.as_bytes());
        let events = events(&outs);
        let got: Vec<_> = events.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(got, ["err", "out-1 out-2"]);
        assert_eq!(events[1].timestamp.timestamp(), 1_577_836_800);
        let first_line_id = kestrel_event::event_id(
            "/x.log",
            kestrel_event::RecordPosition::Offset {
                offset: 0,
                index: 0,
            },
        );
        assert_eq!(events[1].event.id, first_line_id);
    }

    #[test]
    fn pending_offset_points_at_the_open_record() {
        let mut n = DockerNormalizer::new(ctx("/x.log"), NormalizeOptions::default());
        let mut out = Vec::new();
        let line = br#"{"log":"part","stream":"stdout"}"#;
        n.push_line(
            RawLine {
                bytes: line,
                offset: 100,
                line: 3,
            },
            &mut out,
        );
        assert!(out.is_empty());
        assert_eq!(n.pending_offset(), Some(100));
        n.flush(&mut out);
        assert_eq!(n.pending_offset(), None);
        let e = out[0].as_event().unwrap();
        assert_eq!(e.message, "part");
        assert!(is_partial(e));
    }

    #[test]
    fn bad_lines_become_dead_letters() {
        let cases: [(&[u8], &str); 6] = [
            (br#"{"stream":"stdout"}"#, "missing field `log`"),
            (br#""log":"x""#, "not a JSON object"),
            (br#"{"log":"x","time":"yesterday"}"#, "invalid `time`"),
            (
                br#"{"log":"x","stream":"stdin"}"#,
                "unknown variant `stdin`",
            ),
            (br#"{"log":5}"#, "invalid type"),
            (b"{\"log\":\"\xff\"}", "invalid"),
        ];
        for (input, want) in cases {
            let outs = run(Format::Docker, "/x.log", input);
            let letter = outs[0].as_dead_letter().expect("dead letter");
            assert!(letter
                .error
                .starts_with("line 1: not a docker json-file record: "));
            assert!(letter.error.contains(want), "{}", letter.error);
            assert_eq!(letter.raw, input);
            assert_eq!(letter.line, Some(1));
            assert_eq!(letter.offset, Some(0));
        }
    }

    #[test]
    fn json_messages_are_parsed_and_kept() {
        let outs = run(
            Format::Docker,
            "/x.log",
            br#"{"log":"{\"a\":1}\n","stream":"stdout","time":"2020-01-01T00:00:00Z"}"#,
        );
        let e = events(&outs)[0];
        assert_eq!(e.message, r#"{"a":1}"#);
        assert_eq!(e.json.as_ref().unwrap()["a"], 1);
    }

    #[test]
    fn first_line_grouping_is_optional() {
        let input = concat!(
            r#"{"log":"2020-01-01 start\n"}"#,
            "\n",
            r#"{"log":"  at x\n"}"#,
            "\n",
            r#"{"log":"2020-01-02 next\n"}"#,
            "\n"
        );
        let grouped = run_with(
            Format::Docker,
            "/x.log",
            input.as_bytes(),
            Some(FirstLine::date_prefix()),
        );
        let got: Vec<_> = events(&grouped).iter().map(|e| e.message.clone()).collect();
        assert_eq!(got, ["2020-01-01 start\n  at x", "2020-01-02 next"]);
        assert_eq!(
            events(&run(Format::Docker, "/x.log", input.as_bytes())).len(),
            3
        );
    }
}
