//! Records that could not be normalized.

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::timestamp::{rfc3339_nanos, Timestamp};

/// A record that could not be turned into an [`crate::Event`], kept with its raw bytes so that
/// nothing is lost and it can be replayed once the cause is fixed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The source the record came from (a file path, `webhook`, ...).
    pub source: String,
    /// 1-based line number in the source, when it has lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// Byte offset of the record in the source, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// Why the record was rejected, naming the field or position at fault.
    pub error: String,
    /// The record's raw bytes, base64 in JSON so that any bytes survive.
    #[serde(with = "raw_base64")]
    pub raw: Vec<u8>,
    /// When the record was rejected.
    #[serde(with = "rfc3339_nanos")]
    pub received: Timestamp,
}

impl DeadLetter {
    /// The raw bytes as text, with invalid UTF-8 replaced, for display.
    pub fn raw_lossy(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.raw)
    }
}

mod raw_base64 {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(raw: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(raw))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_any_bytes_through_json() {
        let letter = DeadLetter {
            source: "/x.log".into(),
            line: Some(7),
            offset: Some(120),
            error: "line 7: expected value at column 3".into(),
            raw: vec![0xff, b'{', 0, b'\n'],
            received: chrono::Utc::now(),
        };
        let json = serde_json::to_string(&letter).unwrap();
        let back: DeadLetter = serde_json::from_str(&json).unwrap();
        assert_eq!(back, letter);
    }
}
