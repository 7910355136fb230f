//! Cutting a byte stream into msgpack values: how far the first complete value of a buffer
//! goes, found from the msgpack markers and lengths alone (payloads are skipped, not read),
//! so that a large message arriving in many reads is decoded once, when whole.

use rmp::Marker;

/// Why the bytes cannot be msgpack.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("byte {at}: {reason}")]
pub struct FrameError {
    /// Offset of the offending marker.
    pub at: usize,
    /// What is wrong.
    pub reason: &'static str,
}

/// The length of the first complete msgpack value in `buf`, or `None` when more bytes are
/// needed.
pub fn complete_len(buf: &[u8]) -> Result<Option<usize>, FrameError> {
    let mut pos = 0usize;
    // Values still to read: the top one, plus the items of the containers opened so far.
    let mut pending: u64 = 1;
    while pending > 0 {
        let Some(&byte) = buf.get(pos) else {
            return Ok(None);
        };
        let at = pos;
        pending -= 1;
        let (header, payload, children) = match Marker::from_u8(byte) {
            Marker::FixPos(_) | Marker::FixNeg(_) | Marker::Null | Marker::True | Marker::False => {
                (1, 0, 0)
            }
            Marker::U8 | Marker::I8 => (1, 1, 0),
            Marker::U16 | Marker::I16 => (1, 2, 0),
            Marker::U32 | Marker::I32 | Marker::F32 => (1, 4, 0),
            Marker::U64 | Marker::I64 | Marker::F64 => (1, 8, 0),
            Marker::FixStr(n) => (1, u64::from(n), 0),
            Marker::Str8 | Marker::Bin8 => match length(buf, pos + 1, 1) {
                Some(n) => (2, n, 0),
                None => return Ok(None),
            },
            Marker::Str16 | Marker::Bin16 => match length(buf, pos + 1, 2) {
                Some(n) => (3, n, 0),
                None => return Ok(None),
            },
            Marker::Str32 | Marker::Bin32 => match length(buf, pos + 1, 4) {
                Some(n) => (5, n, 0),
                None => return Ok(None),
            },
            Marker::FixArray(n) => (1, 0, u64::from(n)),
            Marker::Array16 => match length(buf, pos + 1, 2) {
                Some(n) => (3, 0, n),
                None => return Ok(None),
            },
            Marker::Array32 => match length(buf, pos + 1, 4) {
                Some(n) => (5, 0, n),
                None => return Ok(None),
            },
            Marker::FixMap(n) => (1, 0, 2 * u64::from(n)),
            Marker::Map16 => match length(buf, pos + 1, 2) {
                Some(n) => (3, 0, 2 * n),
                None => return Ok(None),
            },
            Marker::Map32 => match length(buf, pos + 1, 4) {
                Some(n) => (5, 0, 2 * n),
                None => return Ok(None),
            },
            // Extension values: the marker, the type byte, the data.
            Marker::FixExt1 => (2, 1, 0),
            Marker::FixExt2 => (2, 2, 0),
            Marker::FixExt4 => (2, 4, 0),
            Marker::FixExt8 => (2, 8, 0),
            Marker::FixExt16 => (2, 16, 0),
            Marker::Ext8 => match length(buf, pos + 1, 1) {
                Some(n) => (3, n, 0),
                None => return Ok(None),
            },
            Marker::Ext16 => match length(buf, pos + 1, 2) {
                Some(n) => (4, n, 0),
                None => return Ok(None),
            },
            Marker::Ext32 => match length(buf, pos + 1, 4) {
                Some(n) => (6, n, 0),
                None => return Ok(None),
            },
            Marker::Reserved => {
                return Err(FrameError {
                    at,
                    reason: "reserved marker 0xc1 (not msgpack)",
                })
            }
        };
        let next = (pos as u64)
            .checked_add(header)
            .and_then(|p| p.checked_add(payload))
            .ok_or(FrameError {
                at,
                reason: "length out of range",
            })?;
        pos = usize::try_from(next).map_err(|_| FrameError {
            at,
            reason: "length out of range",
        })?;
        pending += children;
    }
    if pos > buf.len() {
        return Ok(None);
    }
    Ok(Some(pos))
}

/// A big-endian length of `width` bytes at `at`, when there.
fn length(buf: &[u8], at: usize, width: usize) -> Option<u64> {
    let bytes = buf.get(at..at + width)?;
    Some(bytes.iter().fold(0u64, |n, b| (n << 8) | u64::from(*b)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmpv::Value;

    fn encode(value: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        rmpv::encode::write_value(&mut out, value).unwrap();
        out
    }

    #[test]
    fn finds_the_end_of_every_kind_of_value() {
        let values = [
            Value::Nil,
            Value::from(5),
            Value::from(-3),
            Value::from(300),
            Value::from(u64::MAX),
            Value::F64(1.5),
            Value::from("short"),
            Value::from("x".repeat(300)),
            Value::from("y".repeat(70_000)),
            Value::Binary(vec![1; 20]),
            Value::Ext(0, vec![0; 8]),
            Value::Ext(5, vec![0; 3]),
            Value::Ext(5, vec![0; 300]),
            Value::Array((0..20).map(Value::from).collect()),
            Value::Map(vec![("k".into(), Value::Array(vec![Value::Nil; 3]))]),
            Value::Map(
                (0..40)
                    .map(|i| (Value::from(i), Value::from("v")))
                    .collect(),
            ),
        ];
        for value in values {
            let bytes = encode(&value);
            let mut stream = bytes.clone();
            stream.extend_from_slice(&[0x93, 1, 2]);
            assert_eq!(complete_len(&stream), Ok(Some(bytes.len())), "{value:?}");
            for cut in 0..bytes.len() {
                assert_eq!(
                    complete_len(&bytes[..cut]),
                    Ok(None),
                    "{value:?} cut at {cut}"
                );
            }
        }
    }

    #[test]
    fn reserved_markers_and_huge_lengths_are_refused_or_wait() {
        assert_eq!(
            complete_len(&[0x92, 0x01, 0xc1]).unwrap_err().to_string(),
            "byte 2: reserved marker 0xc1 (not msgpack)"
        );
        // A declared length past the buffer only asks for more bytes.
        assert_eq!(
            complete_len(&[0xdb, 0xff, 0xff, 0xff, 0xff, b'a']),
            Ok(None)
        );
        assert_eq!(
            complete_len(&[0xdd, 0xff, 0xff, 0xff, 0xff, 1, 2]),
            Ok(None)
        );
    }
}
