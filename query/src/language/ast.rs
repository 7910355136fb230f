//! The parsed form of a query ([`Query`]) and its structural helpers.

use std::ops::Bound;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::TimeError;
use super::value::RangeValue;

/// The field searched by free text (a term or phrase without `field:`).
pub const DEFAULT_FIELD: &str = "message";

/// A parsed query: the single representation shared by the search engine
/// (translated to Tantivy queries) and the detection engine (evaluated with
/// [`Query::matches`]).
///
/// Field names are dotted paths into the event (`user.username`). A `field`
/// of `None` means the default text field, [`DEFAULT_FIELD`].
///
/// Trees returned by [`parse`](super::parse) are simplified (see
/// [`Query::simplify`]), and their [`Display`](std::fmt::Display) form parses
/// back to the same tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Query {
    /// Matches every event: `*` (also `*:*`).
    All,
    /// A single word or value: `error`, `verb:get`, `sourceIPs:10.0.0.1`.
    ///
    /// `value` is unescaped (`a\ b` gives `a b`).
    Term {
        /// The field, or `None` for the default text field.
        field: Option<String>,
        /// The value, without escapes.
        value: String,
    },
    /// A quoted value: `"connection refused"`, `user.username:"system:anonymous"`.
    Phrase {
        /// The field, or `None` for the default text field.
        field: Option<String>,
        /// The text between the quotes, without escapes.
        text: String,
    },
    /// A pattern with `*` (any run of characters) and `?` (one character):
    /// `userAgent:*curl*`, `kube-*`.
    ///
    /// In `pattern`, `\*`, `\?` and `\\` stand for a literal `*`, `?` and `\`;
    /// every other character is literal. See
    /// [`wildcard_to_regex`](super::wildcard_to_regex).
    Wildcard {
        /// The field, or `None` for the default text field.
        field: Option<String>,
        /// The pattern, see above.
        pattern: String,
    },
    /// A regular expression (`regex` crate syntax) that must match a whole
    /// value, case-insensitively: `userAgent:/kubectl\/v1\..*/`.
    ///
    /// `pattern` is the text between the slashes with `\/` turned into `/`.
    Regex {
        /// The field, or `None` for the default text field.
        field: Option<String>,
        /// The regular expression, checked to compile.
        pattern: String,
    },
    /// The field is present with a non-null value: `objectRef.subresource:*`.
    Exists {
        /// The field.
        field: String,
    },
    /// A range: `responseStatus.code:[400 TO 499]`, `@timestamp:>now-1h`.
    Range {
        /// The field.
        field: String,
        /// Lower bound (`Unbounded` for `*` or `<`/`<=` forms).
        lower: Bound<RangeValue>,
        /// Upper bound (`Unbounded` for `*` or `>`/`>=` forms).
        upper: Bound<RangeValue>,
    },
    /// The field equals one of the values: `verb:IN [create patch update]`.
    In {
        /// The field.
        field: String,
        /// The accepted values, without quotes or escapes.
        values: Vec<String>,
    },
    /// All sub-queries match (`a AND b`, `a && b`, `a b`).
    And(Vec<Query>),
    /// At least one sub-query matches (`a OR b`, `a || b`).
    Or(Vec<Query>),
    /// The sub-query does not match (`NOT a`, `!a`, `-a`).
    Not(Box<Query>),
}

impl Query {
    /// Normalizes the tree: nested `And`/`Or` are flattened into their
    /// parent, an `And`/`Or` of one child becomes that child, `All` is
    /// dropped from an `And` (an `And` left empty is `All`), an `Or`
    /// containing `All` is `All`, and `NOT NOT q` is `q`.
    pub fn simplify(self) -> Query {
        match self {
            Query::And(children) => {
                let mut flat = Vec::with_capacity(children.len());
                for child in children {
                    match child.simplify() {
                        Query::And(grand) => flat.extend(grand),
                        Query::All => {}
                        other => flat.push(other),
                    }
                }
                match flat.len() {
                    0 => Query::All,
                    1 => flat.pop().unwrap_or(Query::All),
                    _ => Query::And(flat),
                }
            }
            Query::Or(children) => {
                let mut flat = Vec::with_capacity(children.len());
                for child in children {
                    match child.simplify() {
                        Query::Or(grand) => flat.extend(grand),
                        Query::All => return Query::All,
                        other => flat.push(other),
                    }
                }
                if flat.len() == 1 {
                    flat.pop().unwrap_or(Query::All)
                } else {
                    Query::Or(flat)
                }
            }
            Query::Not(inner) => match inner.simplify() {
                Query::Not(q) => *q,
                q => Query::Not(Box::new(q)),
            },
            leaf => leaf,
        }
    }

    /// Returns a copy where every `now`-relative range bound is replaced by
    /// the absolute instant it denotes at `now` (for engines that need fixed
    /// times, such as a Tantivy range query).
    ///
    /// ```
    /// use kestrel_query::language as kql;
    /// use chrono::{TimeZone, Utc};
    /// let now = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
    /// let q = kql::parse("@timestamp:>=now-1h").unwrap().resolve_times(now).unwrap();
    /// assert_eq!(q.to_string(), "@timestamp:>=2024-05-01T11:00:00Z");
    /// ```
    pub fn resolve_times(&self, now: DateTime<Utc>) -> Result<Query, TimeError> {
        let resolve_bound = |b: &Bound<RangeValue>| -> Result<Bound<RangeValue>, TimeError> {
            Ok(match b {
                Bound::Included(v) => Bound::Included(v.resolve(now)?),
                Bound::Excluded(v) => Bound::Excluded(v.resolve(now)?),
                Bound::Unbounded => Bound::Unbounded,
            })
        };
        Ok(match self {
            Query::Range {
                field,
                lower,
                upper,
            } => Query::Range {
                field: field.clone(),
                lower: resolve_bound(lower)?,
                upper: resolve_bound(upper)?,
            },
            Query::And(children) => Query::And(
                children
                    .iter()
                    .map(|c| c.resolve_times(now))
                    .collect::<Result<_, _>>()?,
            ),
            Query::Or(children) => Query::Or(
                children
                    .iter()
                    .map(|c| c.resolve_times(now))
                    .collect::<Result<_, _>>()?,
            ),
            Query::Not(inner) => Query::Not(Box::new(inner.resolve_times(now)?)),
            leaf => leaf.clone(),
        })
    }

    /// The field a leaf query applies to, with `None` resolved to
    /// [`DEFAULT_FIELD`]; `None` for `All`, `And`, `Or` and `Not`.
    pub fn field(&self) -> Option<&str> {
        match self {
            Query::Term { field, .. }
            | Query::Phrase { field, .. }
            | Query::Wildcard { field, .. }
            | Query::Regex { field, .. } => Some(field.as_deref().unwrap_or(DEFAULT_FIELD)),
            Query::Exists { field } | Query::Range { field, .. } | Query::In { field, .. } => {
                Some(field)
            }
            Query::All | Query::And(_) | Query::Or(_) | Query::Not(_) => None,
        }
    }
}
