//! Normalizers: turn the lines of a container log or a Kubernetes audit log into
//! [`Event`]s (or [`DeadLetter`]s for records that cannot be understood).
//!
//! Everything here is pure: a [`Normalizer`] is fed lines ([`RawLine`]) and appends
//! [`Output`]s to a caller-owned vector; it never reads files or clocks. Three formats are
//! understood:
//!
//! * [`Format::Docker`]: Docker's json-file driver (`{"log":..,"stream":..,"time":..}`), with
//!   the 16 KB split lines re-joined ([`docker`]);
//! * [`Format::Cri`]: the CRI log format of containerd/CRI-O (`<time> <stream> <P|F> <text>`),
//!   with partial (`P`) lines re-joined ([`cri`]);
//! * [`Format::K8sAudit`]: Kubernetes apiserver audit events, one per line or pretty-printed,
//!   also as `EventList`s and Azure (AKS) diagnostic exports ([`k8s_audit`]).
//!
//! [`detect_format`] guesses the format from a file's first bytes and its path, and
//! [`normalize_bytes`] normalizes a whole file held in memory.

#![warn(missing_docs)]

mod assemble;
mod container;
pub mod cri;
pub mod detect;
pub mod docker;
mod json_doc;
pub mod k8s_audit;
mod lazy;
pub mod lines;
pub mod path_meta;
mod record;

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use kestrel_event::{DeadLetter, Event, Timestamp};
use serde::{Deserialize, Serialize};

pub use detect::detect_format;
pub use lines::{lines, Lines};
pub use path_meta::PathMeta;
pub(crate) use record::parse_json_object;
pub use record::{flags, is_partial, FLAGS_FIELD, PARTIAL_FLAG};

/// Where the lines being normalized come from; copied into every event and dead letter.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceContext {
    /// The file's path (`log.file.path`, dead letters' `source`, and part of every `event.id`).
    pub path: String,
    /// The identity of the file's content (its fingerprint), when it is known: then it, not
    /// the path, is the source of every `event.id`, so that a line has one id under every
    /// name its file takes (renamed, copied, compressed), and a rotated log's successor at the
    /// same path (starting again at offset 0) has other ids.
    pub content_id: Option<String>,
    /// The node the file was read on (`host.name`).
    pub host_name: String,
    /// When the records were read (`event.ingested`, dead letters' `received`).
    pub ingested: Timestamp,
}

/// One line of input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawLine<'a> {
    /// The line's bytes without its trailing `'\n'` (and without the `'\r'` of a `"\r\n"`).
    pub bytes: &'a [u8],
    /// Byte offset of the line's first byte in the file.
    pub offset: u64,
    /// 1-based line number.
    pub line: u64,
}

/// What a normalizer produces for a record.
// Nearly every output is an event: boxing it to shrink the rare dead letter's variant would
// cost an allocation per event and save nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// A record that was understood.
    Event(Event),
    /// A record that was not, kept with its raw bytes.
    DeadLetter(DeadLetter),
}

impl Output {
    /// The event, if this is one.
    pub fn as_event(&self) -> Option<&Event> {
        match self {
            Output::Event(event) => Some(event),
            Output::DeadLetter(_) => None,
        }
    }

    /// The dead letter, if this is one.
    pub fn as_dead_letter(&self) -> Option<&DeadLetter> {
        match self {
            Output::Event(_) => None,
            Output::DeadLetter(letter) => Some(letter),
        }
    }
}

/// Turns the lines of one source into events.
///
/// A normalizer keeps the state needed to re-join records that span several lines (split
/// Docker lines, CRI partial lines, pretty-printed JSON documents); one instance serves one
/// file, fed in order.
pub trait Normalizer: Send {
    /// Feeds one line; appends zero or more outputs.
    fn push_line(&mut self, line: RawLine<'_>, out: &mut Vec<Output>);

    /// End of input (or a timeout while tailing): emits records still waiting for
    /// continuation lines. A record cut short this way is still an [`Event`], flagged
    /// [`PARTIAL_FLAG`] in [`FLAGS_FIELD`] (see [`is_partial`]); a document that is not
    /// complete JSON becomes a [`DeadLetter`].
    fn flush(&mut self, out: &mut Vec<Output>);

    /// Byte offset of the first line of the earliest record not yet emitted (a split line
    /// waiting for its end), so that a tailer knows where it is safe to checkpoint; `None`
    /// when nothing is pending.
    fn pending_offset(&self) -> Option<u64>;
}

/// The format of a log file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// Detect the format from the file's content and path ([`detect_format`]).
    Auto,
    /// Docker's json-file log driver.
    Docker,
    /// The CRI container log format (containerd, CRI-O).
    Cri,
    /// Kubernetes apiserver audit events (JSON).
    K8sAudit,
}

impl Format {
    /// The format's name: `auto`, `docker`, `cri` or `k8s-audit`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::Docker => "docker",
            Format::Cri => "cri",
            Format::K8sAudit => "k8s-audit",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = NormalizeError;

    fn from_str(text: &str) -> Result<Format, NormalizeError> {
        match text.trim() {
            "auto" => Ok(Format::Auto),
            "docker" => Ok(Format::Docker),
            "cri" => Ok(Format::Cri),
            "k8s-audit" => Ok(Format::K8sAudit),
            other => Err(NormalizeError::UnknownFormat(other.to_owned())),
        }
    }
}

/// Errors of this module. Bad records are never errors: they become [`DeadLetter`]s.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NormalizeError {
    /// [`Format::Auto`] was asked for and neither the content nor the path tells the format.
    #[error("cannot detect the log format of {path}: the content is not Docker json-file, CRI or Kubernetes audit JSON, and the path gives no hint")]
    UndetectedFormat {
        /// The source's path.
        path: String,
    },
    /// A format name that is not `auto`, `docker`, `cri` or `k8s-audit`.
    #[error("unknown log format {0:?}: expected auto, docker, cri or k8s-audit")]
    UnknownFormat(String),
}

/// Decides where one multi-line container record starts (see [`NormalizeOptions::first_line`]).
///
/// Applied to each complete container line (after split lines are re-joined, before the
/// trailing newline is restored): a line for which it returns `true` starts a new record,
/// any other line is appended (with `'\n'`) to the open record of the same stream, or is a
/// record of its own when none is open.
#[derive(Clone)]
pub struct FirstLine(Arc<dyn Fn(&str) -> bool + Send + Sync>);

impl FirstLine {
    /// A custom predicate.
    pub fn new(predicate: impl Fn(&str) -> bool + Send + Sync + 'static) -> FirstLine {
        FirstLine(Arc::new(predicate))
    }

    /// Lines starting with a `YYYY-MM-DD` date begin a record (like fluent-bit's
    /// `Docker_Mode_Parser` with the regex `^\d{4}-\d{2}-\d{2}`).
    pub fn date_prefix() -> FirstLine {
        FirstLine::new(starts_with_date)
    }

    /// Lines that do not start with whitespace begin a record (indented continuation lines,
    /// as in most stack traces, are joined to the line before).
    pub fn not_indented() -> FirstLine {
        FirstLine::new(|line: &str| !line.starts_with([' ', '\t']))
    }

    /// Whether `line` starts a record.
    pub fn is_first_line(&self, line: &str) -> bool {
        (self.0)(line)
    }
}

impl fmt::Debug for FirstLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FirstLine(..)")
    }
}

fn starts_with_date(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && b[8..10].iter().all(u8::is_ascii_digit)
}

/// Tuning for container normalizers; [`NormalizeOptions::default`] is what
/// [`normalizer_for`] uses.
#[derive(Clone, Debug)]
pub struct NormalizeOptions {
    /// Multi-line grouping of container lines (off by default: one container line, after
    /// split lines are re-joined, is one event).
    pub first_line: Option<FirstLine>,
    /// Largest message a re-joined container record may reach; a record growing past it is
    /// emitted in pieces, each flagged partial. Also bounds pretty-printed audit documents
    /// (which become dead letters past it).
    pub max_record_bytes: usize,
}

/// Default of [`NormalizeOptions::max_record_bytes`]: 4 MiB.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 4 * 1024 * 1024;

impl Default for NormalizeOptions {
    fn default() -> NormalizeOptions {
        NormalizeOptions {
            first_line: None,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
        }
    }
}

/// A normalizer for `format`. For [`Format::Auto`] (which callers should resolve with
/// [`detect_format`] first when they can), the returned normalizer holds lines back until
/// their content tells the format, then replays them.
pub fn normalizer_for(format: Format, ctx: SourceContext) -> Box<dyn Normalizer> {
    normalizer_with_options(format, ctx, NormalizeOptions::default())
}

/// [`normalizer_for`] with explicit options.
pub fn normalizer_with_options(
    format: Format,
    ctx: SourceContext,
    options: NormalizeOptions,
) -> Box<dyn Normalizer> {
    match format {
        Format::Docker => Box::new(docker::DockerNormalizer::new(ctx, options)),
        Format::Cri => Box::new(cri::CriNormalizer::new(ctx, options)),
        Format::K8sAudit => Box::new(k8s_audit::K8sAuditNormalizer::new(ctx, options)),
        Format::Auto => Box::new(lazy::LazyNormalizer::new(ctx, options)),
    }
}

/// How many bytes of a file [`normalize_bytes`] gives [`detect_format`].
pub const DETECT_HEAD_BYTES: usize = 64 * 1024;

/// Convenience for whole files: splits on `'\n'` (tracking offsets and line numbers), pushes
/// every line, flushes. For [`Format::Auto`], detects the format first.
///
/// Fails only when `format` is [`Format::Auto`] and the format cannot be detected.
pub fn normalize_bytes(
    format: Format,
    ctx: SourceContext,
    bytes: &[u8],
) -> Result<Vec<Output>, NormalizeError> {
    normalize_bytes_with_options(format, ctx, bytes, NormalizeOptions::default())
}

/// [`normalize_bytes`] with explicit options.
pub fn normalize_bytes_with_options(
    format: Format,
    ctx: SourceContext,
    bytes: &[u8],
    options: NormalizeOptions,
) -> Result<Vec<Output>, NormalizeError> {
    let format = match format {
        Format::Auto => {
            let head = bytes.get(..DETECT_HEAD_BYTES).unwrap_or(bytes);
            detect_format(Path::new(&ctx.path), head).ok_or_else(|| {
                NormalizeError::UndetectedFormat {
                    path: ctx.path.clone(),
                }
            })?
        }
        other => other,
    };
    let mut normalizer = normalizer_with_options(format, ctx, options);
    let mut out = Vec::new();
    for line in lines(bytes) {
        normalizer.push_line(line, &mut out);
    }
    normalizer.flush(&mut out);
    Ok(out)
}

#[cfg(test)]
mod tests;
