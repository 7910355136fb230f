//! Timestamps: UTC instants with nanosecond precision, written as RFC 3339.

use chrono::{DateTime, SecondsFormat, Utc};

/// An instant in UTC with nanosecond precision.
pub type Timestamp = DateTime<Utc>;

/// A timestamp string that is not RFC 3339.
#[derive(Debug, thiserror::Error)]
#[error("invalid timestamp {value:?}: {reason}")]
pub struct TimestampError {
    /// The text that failed to parse.
    pub value: String,
    /// Why it failed.
    pub reason: String,
}

/// Parses an RFC 3339 timestamp (any offset, any fraction length) into UTC.
pub fn parse_timestamp(value: &str) -> Result<Timestamp, TimestampError> {
    DateTime::parse_from_rfc3339(value.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| TimestampError {
            value: value.to_owned(),
            reason: e.to_string(),
        })
}

/// Formats a timestamp as RFC 3339 in UTC with all nine fraction digits, so that the text form
/// keeps every nanosecond and sorts like the instant it names.
pub fn format_timestamp(ts: &Timestamp) -> String {
    ts.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// Serde adapter writing [`Timestamp`]s with [`format_timestamp`].
pub(crate) mod rfc3339_nanos {
    use super::{format_timestamp, parse_timestamp, Timestamp};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ts: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_timestamp(ts))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        parse_timestamp(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_nanoseconds_and_normalizes_offsets() {
        let ts = parse_timestamp("2019-12-12T09:26:43.123456789+01:00").unwrap();
        assert_eq!(format_timestamp(&ts), "2019-12-12T08:26:43.123456789Z");
        let ts = parse_timestamp("2018-10-25T13:58:49Z").unwrap();
        assert_eq!(format_timestamp(&ts), "2018-10-25T13:58:49.000000000Z");
    }

    #[test]
    fn rejects_garbage_with_the_value() {
        let err = parse_timestamp("yesterday").unwrap_err();
        assert!(err.to_string().contains("yesterday"));
    }
}
