//! The CRI container log format (containerd, CRI-O; `/var/log/pods/...`):
//! `<RFC 3339 time> <stdout|stderr> <tag> <text>`, tag `F` (full) or `P` (partial).
//!
//! A `P` line continues in the next line of the same stream, until an `F` line; the record
//! keeps the first part's time and offset. The tag may carry more `:`-separated parts
//! (`F:x`); only the first is read. A message that is itself a JSON object is also parsed
//! into `json`. Text that is not UTF-8 is kept with replacement characters.

use std::borrow::Cow;

use kestrel_event::{parse_timestamp, Stream, Timestamp};

use super::assemble::Chunk;
use super::container::ContainerPipeline;
use super::docker::strip_bom;
use super::record::{dead_letter, excerpt};
use super::{NormalizeOptions, Normalizer, Output, RawLine, SourceContext};

/// One parsed CRI line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CriLine<'a> {
    pub time: Timestamp,
    pub stream: Stream,
    /// Tag `P`.
    pub partial: bool,
    pub message: &'a [u8],
}

/// Splits `bytes` at the first space: (before, after).
fn field(bytes: &[u8]) -> (&[u8], Option<&[u8]>) {
    match memchr::memchr(b' ', bytes) {
        Some(space) => (&bytes[..space], Some(&bytes[space + 1..])),
        None => (bytes, None),
    }
}

/// Parses one line; the error explains why it is not a CRI log line.
pub(crate) fn parse_line(bytes: &[u8]) -> Result<CriLine<'_>, String> {
    const SHAPE: &str = "expected `<time> <stdout|stderr> <P|F> <message>`";
    let (time, rest) = field(bytes);
    let time_text = std::str::from_utf8(time).ok().filter(|t| !t.is_empty());
    let time = match time_text.map(parse_timestamp) {
        Some(Ok(time)) => time,
        Some(Err(_)) | None => return Err(format!("invalid time `{}`: {SHAPE}", excerpt(time))),
    };
    let (stream, rest) = field(rest.ok_or_else(|| format!("missing stream: {SHAPE}"))?);
    let stream = match stream {
        b"stdout" => Stream::Stdout,
        b"stderr" => Stream::Stderr,
        other => {
            return Err(format!(
                "invalid stream `{}`, expected stdout or stderr",
                excerpt(other)
            ))
        }
    };
    let (tag, message) = field(rest.ok_or_else(|| format!("missing tag: {SHAPE}"))?);
    let first_tag = tag.split(|&b| b == b':').next().unwrap_or(tag);
    let partial = match first_tag {
        b"F" => false,
        b"P" => true,
        _ => return Err(format!("invalid tag `{}`, expected P or F", excerpt(tag))),
    };
    Ok(CriLine {
        time,
        stream,
        partial,
        message: message.unwrap_or(b""),
    })
}

/// The normalizer for CRI logs.
#[derive(Debug)]
pub struct CriNormalizer {
    pipeline: ContainerPipeline,
}

impl CriNormalizer {
    /// A normalizer for the file described by `ctx`.
    pub fn new(ctx: SourceContext, options: NormalizeOptions) -> CriNormalizer {
        CriNormalizer {
            pipeline: ContainerPipeline::new(ctx, options),
        }
    }
}

impl Normalizer for CriNormalizer {
    fn push_line(&mut self, line: RawLine<'_>, out: &mut Vec<Output>) {
        let bytes = strip_bom(line.bytes);
        if bytes.trim_ascii().is_empty() {
            return;
        }
        let parsed = match parse_line(bytes) {
            Ok(parsed) => parsed,
            Err(why) => {
                let error = format!("line {}: not a CRI log line: {why}", line.line);
                let letter = dead_letter(&self.pipeline.ctx, line.line, line.offset, error, bytes);
                out.push(Output::DeadLetter(letter));
                return;
            }
        };
        let chunk = Chunk {
            // The validation's ASCII fast path first; invalid sequences are rare.
            text: std::str::from_utf8(parsed.message)
                .map_or_else(|_| String::from_utf8_lossy(parsed.message), Cow::Borrowed),
            last: !parsed.partial,
            stream: Some(parsed.stream),
            timestamp: parsed.time,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::tests::{events, run};
    use crate::normalize::{is_partial, Format};

    #[test]
    fn parses_the_prefix_by_hand() {
        let line = parse_line(b"2022-01-28T16:04:05.413656027Z stdout F hello world").unwrap();
        assert_eq!(line.stream, Stream::Stdout);
        assert!(!line.partial);
        assert_eq!(line.message, b"hello world");
        let line = parse_line(b"2025-12-31T17:37:40.49+01:00 stderr P:x ").unwrap();
        assert!(line.partial);
        assert_eq!(line.message, b"");
        assert_eq!(
            kestrel_event::format_timestamp(&line.time),
            "2025-12-31T16:37:40.490000000Z"
        );
        let line = parse_line(b"2022-01-28T16:04:05Z stdout F").unwrap();
        assert_eq!(line.message, b"");
    }

    #[test]
    fn rejects_what_is_not_cri() {
        for (input, want) in [
            (b"".as_slice(), "invalid time"),
            (b"hello", "invalid time"),
            (b"2022-01-28T16:04:05Z", "missing stream"),
            (b"2022-01-28T16:04:05Z stdin F x", "invalid stream `stdin`"),
            (b"2022-01-28T16:04:05Z stdout", "missing tag"),
            (b"2022-01-28T16:04:05Z stdout X x", "invalid tag `X`"),
            (b"2022-13-28T16:04:05Z stdout F x", "invalid time"),
        ] {
            let err = parse_line(input).unwrap_err();
            assert!(err.contains(want), "{err}");
        }
    }

    #[test]
    fn joins_partial_lines_per_stream() {
        let input = b"2020-01-01T00:00:00Z stdout P a\n\
2020-01-01T00:00:01Z stderr F e\n\
2020-01-01T00:00:02Z stdout P b\n\
2020-01-01T00:00:03Z stdout F c\n\
2020-01-01T00:00:04Z stderr P dangling\n";
        let outs = run(Format::Cri, "/x.log", input);
        let events = events(&outs);
        let got: Vec<_> = events
            .iter()
            .map(|e| (e.message.as_str(), e.stream, is_partial(e)))
            .collect();
        assert_eq!(
            got,
            [
                ("e", Some(Stream::Stderr), false),
                ("abc", Some(Stream::Stdout), false),
                ("dangling", Some(Stream::Stderr), true)
            ]
        );
        assert_eq!(events[1].timestamp.timestamp(), 1_577_836_800);
    }

    #[test]
    fn bad_lines_become_dead_letters() {
        let outs = run(
            Format::Cri,
            "/x.log",
            b"ok?\n2020-01-01T00:00:00Z stdout F fine\n",
        );
        let letter = outs[0].as_dead_letter().unwrap();
        assert!(
            letter
                .error
                .starts_with("line 1: not a CRI log line: invalid time `ok?`"),
            "{}",
            letter.error
        );
        assert_eq!(outs[1].as_event().unwrap().message, "fine");
    }
}
