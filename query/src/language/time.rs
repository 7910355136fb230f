//! Time expressions: absolute RFC 3339 timestamps and dates, and relative
//! `now`-based forms such as `now-15m`.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use super::error::TimeError;

/// The largest relative offset accepted, in seconds (about 10 000 years), so
/// that resolving against any realistic "now" stays representable.
const MAX_OFFSET_SECONDS: i64 = 10_000 * 366 * 86_400;

/// A time bound as written in a query, before or after resolving `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeValue {
    /// A fixed instant (RFC 3339 with any offset, or a date at 00:00 UTC).
    Absolute(DateTime<Utc>),
    /// `now` shifted by this many seconds (`now-1h` is `-3600`).
    Relative {
        /// Signed offset from "now" in seconds.
        seconds: i64,
    },
}

impl TimeValue {
    /// Parses `text` without resolving `now`.
    ///
    /// Accepted forms: RFC 3339 (`2024-01-01T00:00:00Z`,
    /// `2024-01-01T02:00:00.5+02:00`), a plain date `2024-01-01` (midnight
    /// UTC), `now`, and `now` followed by `+` or `-`, a decimal count and one
    /// unit among `s` (seconds), `m` (minutes), `h` (hours), `d` (days) and
    /// `w` (weeks): `now-15m`, `now+30s`, `now-2w`.
    pub fn parse(text: &str) -> Result<Self, TimeError> {
        if let Some(rest) = text.strip_prefix("now") {
            return parse_relative(text, rest).map(|seconds| Self::Relative { seconds });
        }
        if let Ok(t) = DateTime::parse_from_rfc3339(text) {
            return Ok(Self::Absolute(t.with_timezone(&Utc)));
        }
        if text.len() == 10 {
            if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
                if let Some(t) = d.and_hms_opt(0, 0, 0) {
                    return Ok(Self::Absolute(t.and_utc()));
                }
            }
        }
        Err(TimeError::Invalid(text.to_string()))
    }

    /// The instant this value denotes when the current time is `now`.
    pub fn resolve(&self, now: DateTime<Utc>) -> Result<DateTime<Utc>, TimeError> {
        match *self {
            Self::Absolute(t) => Ok(t),
            Self::Relative { seconds } => TimeDelta::try_seconds(seconds)
                .and_then(|d| now.checked_add_signed(d))
                .ok_or_else(|| TimeError::OutOfRange(format!("now{seconds:+}s"))),
        }
    }

    /// A key that orders two values without knowing "now" when both are of
    /// the same kind; `None` when one is absolute and the other relative.
    pub(crate) fn cmp_same_kind(&self, other: &Self) -> Option<std::cmp::Ordering> {
        match (self, other) {
            (Self::Absolute(a), Self::Absolute(b)) => Some(a.cmp(b)),
            (Self::Relative { seconds: a }, Self::Relative { seconds: b }) => Some(a.cmp(b)),
            _ => None,
        }
    }
}

/// Parses the part after `now`: empty, or `[+-]<digits><unit>`.
fn parse_relative(text: &str, rest: &str) -> Result<i64, TimeError> {
    let invalid = || TimeError::Invalid(text.to_string());
    if rest.is_empty() {
        return Ok(0);
    }
    let (sign, rest) = match rest.as_bytes().first() {
        Some(b'+') => (1i64, &rest[1..]),
        Some(b'-') => (-1i64, &rest[1..]),
        _ => return Err(invalid()),
    };
    let unit = rest.chars().last().ok_or_else(invalid)?;
    let digits = &rest[..rest.len() - unit.len_utf8()];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let multiplier: i64 = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        _ => return Err(invalid()),
    };
    let out_of_range = || TimeError::OutOfRange(text.to_string());
    let count: i64 = digits.parse().map_err(|_| out_of_range())?;
    let seconds = count.checked_mul(multiplier).ok_or_else(out_of_range)?;
    if seconds > MAX_OFFSET_SECONDS {
        return Err(out_of_range());
    }
    Ok(sign * seconds)
}

/// Parses a time expression and resolves it against `now`.
///
/// See [`TimeValue::parse`] for the accepted forms.
///
/// ```
/// use kestrel_query::language as kql;
/// use chrono::{TimeZone, Utc};
/// let now = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
/// assert_eq!(kql::parse_time("now-1h", now).unwrap(), Utc.with_ymd_and_hms(2024, 5, 1, 11, 0, 0).unwrap());
/// assert_eq!(
///     kql::parse_time("2024-05-01T14:00:00+02:00", now).unwrap(),
///     Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap()
/// );
/// assert!(kql::parse_time("now-1y", now).is_err());
/// ```
pub fn parse_time(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, TimeError> {
    TimeValue::parse(text)?
        .resolve(now)
        .map_err(|_| TimeError::OutOfRange(text.to_string()))
}
