//! Range bounds: the text as written plus its typed interpretation.

use std::cmp::Ordering;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::error::TimeError;
use super::time::TimeValue;

/// How a range bound is interpreted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TypedValue {
    /// A finite decimal number (`400`, `-1.5`, `1e3`); compared numerically.
    Number(f64),
    /// A timestamp or `now`-relative time; compared as instants.
    Time(TimeValue),
    /// Anything else (`a`, `10.0.0.1`); compared as strings, byte by byte.
    Text,
}

/// One bound of a [`Query::Range`](super::Query::Range): the raw text of the
/// query plus its parsed form.
///
/// Serializes as its raw text (`"now-1h"`, `"400"`), and deserializes by
/// re-parsing that text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RangeValue {
    /// The bound exactly as written (after removing quotes and escapes).
    pub raw: String,
    /// The typed interpretation of `raw`.
    pub typed: TypedValue,
}

impl RangeValue {
    /// Interprets `raw`: a finite number first, then a time (any text that
    /// starts with `now` must be a valid relative time), else text.
    pub fn parse(raw: &str) -> Result<Self, TimeError> {
        let typed = if let Some(n) = parse_number(raw) {
            TypedValue::Number(n)
        } else if raw.starts_with("now") {
            TypedValue::Time(TimeValue::parse(raw)?)
        } else if let Ok(t) = TimeValue::parse(raw) {
            TypedValue::Time(t)
        } else {
            TypedValue::Text
        };
        Ok(Self {
            raw: raw.to_string(),
            typed,
        })
    }

    /// Replaces a relative time by the absolute instant it denotes at `now`
    /// (the raw text becomes RFC 3339 in UTC); other values are unchanged.
    pub fn resolve(&self, now: DateTime<Utc>) -> Result<Self, TimeError> {
        match self.typed {
            TypedValue::Time(t @ TimeValue::Relative { .. }) => {
                let at = t.resolve(now)?;
                Ok(Self {
                    raw: at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
                    typed: TypedValue::Time(TimeValue::Absolute(at)),
                })
            }
            _ => Ok(self.clone()),
        }
    }

    /// A short word for the kind of value, used in error messages.
    pub(crate) fn kind_name(&self) -> &'static str {
        match self.typed {
            TypedValue::Number(_) => "a number",
            TypedValue::Time(_) => "a time",
            TypedValue::Text => "a text value",
        }
    }

    /// Orders two bounds of the same kind; `None` when the kinds differ or
    /// when an absolute time is compared with a relative one.
    pub(crate) fn cmp_same_kind(&self, other: &Self) -> Option<Ordering> {
        match (&self.typed, &other.typed) {
            (TypedValue::Number(a), TypedValue::Number(b)) => a.partial_cmp(b),
            (TypedValue::Time(a), TypedValue::Time(b)) => a.cmp_same_kind(b),
            (TypedValue::Text, TypedValue::Text) => Some(self.raw.cmp(&other.raw)),
            _ => None,
        }
    }
}

/// Parses a finite number; infinities, NaN and non-numbers give `None`.
pub(crate) fn parse_number(text: &str) -> Option<f64> {
    // Rust also accepts "inf", "nan", "infinity": only digits-based text counts.
    if !text.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<f64>().ok().filter(|n| n.is_finite())
}

impl TryFrom<String> for RangeValue {
    type Error = TimeError;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<RangeValue> for String {
    fn from(value: RangeValue) -> Self {
        value.raw
    }
}
