//! Error types of the query language: [`ParseError`] for queries and
//! [`TimeError`] for time expressions.

use serde::Serialize;

/// Why a query could not be parsed.
///
/// `position` is a 0-based offset in **characters** (not bytes) into the
/// query text, pointing at the place where something else was expected.
/// The [`Display`](std::fmt::Display) form reads like
/// `at position 5: expected a value after "verb:", found end of query`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("at position {position}: expected {expected}, found {found}")]
pub struct ParseError {
    /// 0-based character offset of the problem in the query text.
    pub position: usize,
    /// What the parser expected at `position`, in words.
    pub expected: String,
    /// What it found there instead, in words (`end of query`, `"OR"`, ...).
    pub found: String,
}

impl ParseError {
    /// Builds an error at a **byte** offset of `src`, converting it to a
    /// character offset.
    pub(crate) fn at_byte(
        src: &str,
        byte: usize,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        Self {
            position: char_offset(src, byte),
            expected: expected.into(),
            found: found.into(),
        }
    }
}

/// Converts a byte offset of `src` into a character offset; an offset past
/// the end or inside a character counts the characters that start before it.
pub(crate) fn char_offset(src: &str, byte: usize) -> usize {
    src.char_indices().take_while(|(i, _)| *i < byte).count()
}

/// Why a time expression (see [`parse_time`](super::parse_time)) is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// The text is neither RFC 3339, a `YYYY-MM-DD` date nor a `now[+-]N<unit>` form.
    #[error("invalid time {0:?}: expected an RFC 3339 timestamp, a YYYY-MM-DD date, `now` or `now-<N><s|m|h|d|w>`")]
    Invalid(String),
    /// The relative offset, or its result, is outside the representable range.
    #[error("time {0:?} is out of range")]
    OutOfRange(String),
}
