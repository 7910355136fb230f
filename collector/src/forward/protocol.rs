//! Decoding of Forward protocol messages (Fluentd Forward Protocol Specification v1): the four
//! event modes, their `option` map, entry times and records.
//!
//! * Message: `[tag, time, record, option?]`
//! * Forward: `[tag, [[time, record], ...], option?]`
//! * PackedForward: `[tag, bin|str of concatenated [time, record] entries, option?]`
//! * CompressedPackedForward: the same with `option.compressed = "gzip"`, the entries being
//!   gzip data (possibly several gzip members one after the other).
//!
//! `time` is an integer (seconds since the epoch) or the `EventTime` extension (type 0:
//! big-endian 32-bit seconds then 32-bit nanoseconds); a float is taken too. An entry that is
//! not `[time, record]` with a map as record is refused alone, with its raw bytes, and the
//! other entries of its message go on.

use std::io::{Cursor, Read};

use chrono::{DateTime, Utc};
use kestrel_event::Timestamp;
use rmpv::Value;

/// The extension type of `EventTime`.
pub const EVENT_TIME_EXT: i8 = 0;

/// Why a message is not a Forward protocol message (the whole message is refused).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// The top-level value is not an array.
    #[error("expected a forward message (an array), found {0}")]
    NotAnArray(&'static str),
    /// The array has too few or too many items.
    #[error("expected a forward message of 2 to 4 items, found {0}")]
    BadLength(usize),
    /// The tag is not a string.
    #[error("the tag (item 0) must be a string, found {0}")]
    BadTag(&'static str),
    /// Item 1 is neither a time, an array of entries nor packed entries.
    #[error("item 1 must be a time (Message mode), an array of entries (Forward mode) or packed entries (PackedForward mode), found {0}")]
    BadEntries(&'static str),
    /// The option map is not a map.
    #[error("the option must be a map, found {0}")]
    BadOption(&'static str),
    /// `option.compressed` names a compression this input does not read.
    #[error("unsupported option.compressed {0:?} (only \"gzip\" and \"text\" are known)")]
    UnknownCompression(String),
    /// The gzip data does not decompress.
    #[error("compressed entries do not decompress: {0}")]
    Gzip(String),
    /// The decompressed entries are over the size limit.
    #[error("decompressed entries exceed {0} bytes (collector.forward.max_chunk_bytes)")]
    TooLarge(usize),
    /// Packed entries end in the middle of an entry, or hold bytes that are not msgpack.
    #[error("packed entries are not a msgpack stream: {0}")]
    BadPackedStream(String),
}

/// The `option` map of a message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// `chunk`: the id the sender wants acknowledged (`{"ack": chunk}`).
    pub chunk: Option<String>,
    /// `size`: the number of entries, as the sender counted them.
    pub size: Option<u64>,
    /// `compressed`: `gzip` for CompressedPackedForward.
    pub compressed: Option<String>,
}

/// One decoded `[time, record]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The event time.
    pub time: Timestamp,
    /// The record's keys and values as sent.
    pub record: Vec<(Value, Value)>,
}

/// An entry that could not be read, with its raw msgpack bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadEntry {
    /// Position of the entry in its message.
    pub index: usize,
    /// Why it was refused.
    pub reason: String,
    /// Its msgpack bytes (re-encoded for entries of Message and Forward mode).
    pub raw: Vec<u8>,
}

/// A decoded message: its tag, its option, its entries (good or refused, in order).
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The tag.
    pub tag: String,
    /// The option map.
    pub options: Options,
    /// The entries, in the order sent.
    pub entries: Vec<Result<Entry, BadEntry>>,
}

/// A short name of a msgpack value's type, for error messages.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Nil => "nil",
        Value::Boolean(_) => "a boolean",
        Value::Integer(_) => "an integer",
        Value::F32(_) | Value::F64(_) => "a float",
        Value::String(_) => "a string",
        Value::Binary(_) => "binary data",
        Value::Array(_) => "an array",
        Value::Map(_) => "a map",
        Value::Ext(..) => "an extension value",
    }
}

/// Reads the option (item 2 of Forward modes, item 3 of Message mode) of a message without
/// decoding the rest: what a refused message still needs to be acknowledged.
pub fn options_of(value: &Value) -> Option<Options> {
    let items = value.as_array()?;
    let option = match items.get(1)? {
        Value::Integer(_) | Value::Ext(..) | Value::F32(_) | Value::F64(_) => items.get(3),
        _ => items.get(2),
    };
    parse_options(option?).ok()
}

/// Decodes one message; `max_bytes` bounds the decompressed size of compressed entries.
pub fn decode_message(value: Value, max_bytes: usize) -> Result<Message, MessageError> {
    let Value::Array(mut items) = value else {
        return Err(MessageError::NotAnArray(type_name(&value)));
    };
    if !(2..=4).contains(&items.len()) {
        return Err(MessageError::BadLength(items.len()));
    }
    let tag = match &items[0] {
        Value::String(tag) => String::from_utf8_lossy(tag.as_bytes()).into_owned(),
        other => return Err(MessageError::BadTag(type_name(other))),
    };
    let second = std::mem::replace(&mut items[1], Value::Nil);
    match second {
        Value::Integer(_) | Value::Ext(..) | Value::F32(_) | Value::F64(_) => {
            let options = match items.get(3) {
                Some(option) => parse_options(option)?,
                None => Options::default(),
            };
            let record = items.get_mut(2).map(|r| std::mem::replace(r, Value::Nil));
            let entry = Value::Array(vec![second, record.unwrap_or(Value::Nil)]);
            Ok(Message {
                tag,
                options,
                entries: vec![decode_entry_value(0, entry)],
            })
        }
        Value::Array(entries) => {
            let options = option_at(&items, 2)?;
            let entries = entries
                .into_iter()
                .enumerate()
                .map(|(index, entry)| decode_entry_value(index, entry))
                .collect();
            Ok(Message {
                tag,
                options,
                entries,
            })
        }
        Value::Binary(bytes) => packed(tag, option_at(&items, 2)?, bytes, max_bytes),
        Value::String(text) => packed(tag, option_at(&items, 2)?, text.into_bytes(), max_bytes),
        other => Err(MessageError::BadEntries(type_name(&other))),
    }
}

fn option_at(items: &[Value], at: usize) -> Result<Options, MessageError> {
    match items.get(at) {
        Some(option) => parse_options(option),
        None => Ok(Options::default()),
    }
}

fn parse_options(option: &Value) -> Result<Options, MessageError> {
    let map = match option {
        Value::Map(map) => map,
        Value::Nil => return Ok(Options::default()),
        other => return Err(MessageError::BadOption(type_name(other))),
    };
    let mut options = Options::default();
    for (key, value) in map {
        match (key.as_str(), value) {
            (Some("chunk"), Value::String(chunk)) => {
                options.chunk = Some(String::from_utf8_lossy(chunk.as_bytes()).into_owned())
            }
            (Some("chunk"), Value::Binary(chunk)) => {
                options.chunk = Some(String::from_utf8_lossy(chunk).into_owned())
            }
            (Some("size"), Value::Integer(size)) => options.size = size.as_u64(),
            (Some("compressed"), Value::String(c)) => {
                options.compressed = Some(String::from_utf8_lossy(c.as_bytes()).into_owned())
            }
            _ => {}
        }
    }
    Ok(options)
}

/// PackedForward and CompressedPackedForward: a stream of msgpack `[time, record]` entries.
fn packed(
    tag: String,
    options: Options,
    bytes: Vec<u8>,
    max_bytes: usize,
) -> Result<Message, MessageError> {
    let bytes = match options.compressed.as_deref() {
        None | Some("text") => bytes,
        Some("gzip") => gunzip(&bytes, max_bytes)?,
        Some(other) => return Err(MessageError::UnknownCompression(other.to_owned())),
    };
    let mut cursor = Cursor::new(bytes.as_slice());
    let mut entries = Vec::new();
    while (cursor.position() as usize) < bytes.len() {
        let start = cursor.position() as usize;
        let value = rmpv::decode::read_value(&mut cursor).map_err(|e| {
            MessageError::BadPackedStream(format!("entry {} at byte {start}: {e}", entries.len()))
        })?;
        let end = cursor.position() as usize;
        let index = entries.len();
        entries.push(decode_entry(index, value).map_err(|reason| BadEntry {
            index,
            reason,
            raw: bytes[start..end].to_vec(),
        }));
    }
    Ok(Message {
        tag,
        options,
        entries,
    })
}

/// Decompresses gzip data (all its members), refusing more than `max_bytes`.
fn gunzip(bytes: &[u8], max_bytes: usize) -> Result<Vec<u8>, MessageError> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .take(max_bytes as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| MessageError::Gzip(e.to_string()))?;
    if out.len() > max_bytes {
        return Err(MessageError::TooLarge(max_bytes));
    }
    Ok(out)
}

/// An entry of Message or Forward mode, kept re-encoded when refused.
fn decode_entry_value(index: usize, entry: Value) -> Result<Entry, BadEntry> {
    let raw = encode(&entry);
    decode_entry(index, entry).map_err(|reason| BadEntry { index, reason, raw })
}

/// The msgpack bytes of a value.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut raw = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = rmpv::encode::write_value(&mut raw, value);
    raw
}

fn decode_entry(index: usize, entry: Value) -> Result<Entry, String> {
    let Value::Array(items) = entry else {
        return Err(format!(
            "entry {index}: expected [time, record], found {}",
            type_name(&entry)
        ));
    };
    let [time, record]: [Value; 2] = items.try_into().map_err(|items: Vec<Value>| {
        format!(
            "entry {index}: expected [time, record], found an array of {} items",
            items.len()
        )
    })?;
    let time = decode_time(&time).map_err(|e| format!("entry {index}: {e}"))?;
    match record {
        Value::Map(record) => Ok(Entry { time, record }),
        other => Err(format!(
            "entry {index}: the record must be a map, found {}",
            type_name(&other)
        )),
    }
}

/// An entry time: integer seconds, `EventTime`, or float seconds.
pub fn decode_time(time: &Value) -> Result<Timestamp, String> {
    let out_of_range = || "time out of range".to_owned();
    match time {
        Value::Integer(seconds) => {
            let seconds = seconds.as_i64().ok_or_else(out_of_range)?;
            DateTime::<Utc>::from_timestamp(seconds, 0).ok_or_else(out_of_range)
        }
        Value::Ext(EVENT_TIME_EXT, data) if data.len() == 8 => {
            let seconds = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
            let nanos = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
            if nanos >= 1_000_000_000 {
                return Err(format!("EventTime nanoseconds {nanos} out of range"));
            }
            DateTime::<Utc>::from_timestamp(i64::from(seconds), nanos).ok_or_else(out_of_range)
        }
        Value::Ext(kind, data) => Err(format!(
            "time must be an integer or EventTime (extension 0, 8 bytes), found extension {kind} of {} bytes",
            data.len()
        )),
        Value::F64(_) | Value::F32(_) => {
            let seconds = time.as_f64().unwrap_or(f64::NAN);
            if !seconds.is_finite() || seconds < 0.0 || seconds > i64::MAX as f64 / 2.0 {
                return Err(out_of_range());
            }
            let whole = seconds.trunc() as i64;
            let nanos = ((seconds - seconds.trunc()) * 1e9) as u32;
            DateTime::<Utc>::from_timestamp(whole, nanos.min(999_999_999)).ok_or_else(out_of_range)
        }
        other => Err(format!(
            "time must be an integer or EventTime, found {}",
            type_name(other)
        )),
    }
}

/// Encodes an `EventTime`.
pub fn event_time(seconds: u32, nanos: u32) -> Value {
    let mut data = seconds.to_be_bytes().to_vec();
    data.extend_from_slice(&nanos.to_be_bytes());
    Value::Ext(EVENT_TIME_EXT, data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn record(log: &str) -> Value {
        Value::Map(vec![("log".into(), log.into())])
    }

    fn entry(seconds: u32, log: &str) -> Value {
        Value::Array(vec![event_time(seconds, 5), record(log)])
    }

    fn chunk_option(chunk: &str) -> Value {
        Value::Map(vec![("chunk".into(), chunk.into())])
    }

    fn good(message: &Message) -> Vec<(i64, u32, String)> {
        message
            .entries
            .iter()
            .map(|e| {
                let e = e.as_ref().expect("good entry");
                let log = e.record[0].1.as_str().unwrap().to_owned();
                (e.time.timestamp(), e.time.timestamp_subsec_nanos(), log)
            })
            .collect()
    }

    #[test]
    fn message_mode_with_integer_and_event_time() {
        let message = Value::Array(vec![
            "app".into(),
            Value::from(1_700_000_000),
            record("one"),
            chunk_option("c1"),
        ]);
        let decoded = decode_message(message, 1 << 20).unwrap();
        assert_eq!(decoded.tag, "app");
        assert_eq!(decoded.options.chunk.as_deref(), Some("c1"));
        assert_eq!(good(&decoded), [(1_700_000_000, 0, "one".to_owned())]);

        let message = Value::Array(vec![
            "app".into(),
            event_time(1_700_000_001, 123_456_789),
            record("two"),
        ]);
        let decoded = decode_message(message, 1 << 20).unwrap();
        assert_eq!(decoded.options, Options::default());
        assert_eq!(
            good(&decoded),
            [(1_700_000_001, 123_456_789, "two".to_owned())]
        );
    }

    #[test]
    fn forward_mode_keeps_good_entries_next_to_bad_ones() {
        let entries = Value::Array(vec![
            entry(10, "a"),
            Value::Array(vec![Value::from(11), Value::from("not a map")]),
            entry(12, "c"),
        ]);
        let decoded = decode_message(
            Value::Array(vec!["t".into(), entries, chunk_option("c2")]),
            1 << 20,
        )
        .unwrap();
        assert_eq!(decoded.entries.len(), 3);
        let bad = decoded.entries[1].as_ref().unwrap_err();
        assert_eq!(bad.index, 1);
        assert_eq!(
            bad.reason,
            "entry 1: the record must be a map, found a string"
        );
        let raw = rmpv::decode::read_value(&mut bad.raw.as_slice()).unwrap();
        assert_eq!(
            raw,
            Value::Array(vec![Value::from(11), Value::from("not a map")])
        );
        assert!(decoded.entries[0].is_ok() && decoded.entries[2].is_ok());
    }

    fn packed_bytes(entries: &[Value]) -> Vec<u8> {
        entries.iter().flat_map(encode).collect()
    }

    #[test]
    fn packed_forward_mode_as_binary_and_as_string() {
        let bytes = packed_bytes(&[entry(20, "x"), entry(21, "y")]);
        let message = Value::Array(vec!["t".into(), Value::Binary(bytes.clone())]);
        let decoded = decode_message(message, 1 << 20).unwrap();
        assert_eq!(
            good(&decoded),
            [(20, 5, "x".to_owned()), (21, 5, "y".to_owned())]
        );
        // Old senders pack the entries into a str.
        let text = str_holding(bytes);
        let message = Value::Array(vec!["t".into(), Value::String(text)]);
        assert_eq!(decode_message(message, 1 << 20).unwrap().entries.len(), 2);
    }

    /// A msgpack str holding arbitrary bytes, as rmpv keeps it.
    fn str_holding(bytes: Vec<u8>) -> rmpv::Utf8String {
        let mut raw = Vec::new();
        rmp::encode::write_str_len(&mut raw, bytes.len() as u32).unwrap();
        raw.extend_from_slice(&bytes);
        match rmpv::decode::read_value(&mut raw.as_slice()).unwrap() {
            Value::String(s) => s,
            other => panic!("{other:?}"),
        }
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn compressed_packed_forward_mode_reads_every_gzip_member() {
        let mut compressed = gzip(&packed_bytes(&[entry(30, "p")]));
        compressed.extend(gzip(&packed_bytes(&[entry(31, "q")])));
        let option = Value::Map(vec![
            ("compressed".into(), "gzip".into()),
            ("chunk".into(), "c3".into()),
            ("size".into(), Value::from(2)),
        ]);
        let message = Value::Array(vec!["t".into(), Value::Binary(compressed), option]);
        let decoded = decode_message(message, 1 << 20).unwrap();
        assert_eq!(decoded.options.size, Some(2));
        assert_eq!(
            good(&decoded),
            [(30, 5, "p".to_owned()), (31, 5, "q".to_owned())]
        );
    }

    #[test]
    fn compressed_entries_over_the_limit_are_refused() {
        let big = packed_bytes(&[entry(1, &"z".repeat(10_000))]);
        let option = Value::Map(vec![("compressed".into(), "gzip".into())]);
        let message = Value::Array(vec!["t".into(), Value::Binary(gzip(&big)), option]);
        assert_eq!(
            decode_message(message, 4096).unwrap_err(),
            MessageError::TooLarge(4096)
        );
        let option = Value::Map(vec![("compressed".into(), "gzip".into())]);
        let message = Value::Array(vec![
            "t".into(),
            Value::Binary(b"not gzip".to_vec()),
            option,
        ]);
        assert!(matches!(
            decode_message(message, 4096).unwrap_err(),
            MessageError::Gzip(_)
        ));
    }

    #[test]
    fn malformed_messages_are_named() {
        let cases = [
            (Value::from(5), "expected a forward message (an array), found an integer"),
            (Value::Array(vec!["t".into()]), "expected a forward message of 2 to 4 items, found 1"),
            (
                Value::Array(vec![Value::from(1), Value::from(2)]),
                "the tag (item 0) must be a string, found an integer",
            ),
            (
                Value::Array(vec!["t".into(), Value::Nil]),
                "item 1 must be a time (Message mode), an array of entries (Forward mode) or packed entries (PackedForward mode), found nil",
            ),
            (
                Value::Array(vec!["t".into(), Value::Array(vec![]), Value::from("x")]),
                "the option must be a map, found a string",
            ),
            (
                Value::Array(vec![
                    "t".into(),
                    Value::Binary(vec![0x92, 0x01]),
                ]),
                "packed entries are not a msgpack stream: entry 0 at byte 0",
            ),
        ];
        for (message, want) in cases {
            let err = decode_message(message, 1 << 20).unwrap_err().to_string();
            assert!(err.starts_with(want), "{err}");
        }
    }

    #[test]
    fn bad_times_are_named() {
        assert!(decode_time(&Value::from("now"))
            .unwrap_err()
            .contains("found a string"));
        assert!(decode_time(&Value::Ext(0, vec![0; 4]))
            .unwrap_err()
            .contains("found extension 0 of 4 bytes"));
        assert!(decode_time(&event_time(1, 2_000_000_000))
            .unwrap_err()
            .contains("nanoseconds"));
        assert_eq!(
            decode_time(&Value::F64(1.5))
                .unwrap()
                .timestamp_subsec_millis(),
            500
        );
    }

    #[test]
    fn options_are_read_from_refused_messages() {
        let message = Value::Array(vec![
            "t".into(),
            Value::from(1),
            Value::from("not a map"),
            chunk_option("c9"),
        ]);
        assert_eq!(options_of(&message).unwrap().chunk.as_deref(), Some("c9"));
        let message = Value::Array(vec!["t".into(), Value::Nil, chunk_option("c8")]);
        assert_eq!(options_of(&message).unwrap().chunk.as_deref(), Some("c8"));
    }
}
