//! Ranges (`[a TO b]`), their typed bounds, and `IN [...]` sets.

use std::cmp::Ordering;
use std::ops::Bound;

use super::Parser;
use crate::language::ast::Query;
use crate::language::error::{ParseError, TimeError};
use crate::language::escape::{first_unescaped, unescape};
use crate::language::lexer::{Kind, Token};
use crate::language::value::RangeValue;

impl Parser<'_> {
    pub(super) fn range_value(&self, text: &str, at: usize) -> Result<RangeValue, ParseError> {
        RangeValue::parse(text).map_err(|e| {
            let expected = match e {
                TimeError::OutOfRange(_) => "a relative time within 10000 years",
                TimeError::Invalid(_) => "a time like now, now-15m or now+2w (units s, m, h, d, w)",
            };
            self.error_at(at, expected, format!("\"{text}\""))
        })
    }

    /// After `[` or `{`: `lower TO upper` then `]` or `}`.
    pub(super) fn range(&mut self, field: String, open: Token) -> Result<Query, ParseError> {
        let (lower, lower_at) = self.bound("a lower bound")?;
        let to = self.peek();
        if !self.is_keyword(to, "TO") {
            return Err(self.error(to, "\"TO\""));
        }
        self.advance();
        let (upper, upper_at) = self.bound("an upper bound")?;
        let close = self.peek();
        let upper_inclusive = match close.kind {
            Kind::RBracket => true,
            Kind::RBrace => false,
            _ => {
                return Err(self.error(
                    close,
                    format!(
                        "\"]\" or \"}}\" to close the range opened at position {}",
                        self.position(open.start)
                    ),
                ))
            }
        };
        self.advance();
        if let (Some(lo), Some(hi)) = (&lower, &upper) {
            let same_kind = std::mem::discriminant(&lo.typed) == std::mem::discriminant(&hi.typed);
            if !same_kind {
                return Err(self.error_at(
                    upper_at,
                    format!("{} like the lower bound \"{}\"", lo.kind_name(), lo.raw),
                    format!("\"{}\" ({})", hi.raw, hi.kind_name()),
                ));
            }
            if lo.cmp_same_kind(hi) == Some(Ordering::Greater) {
                return Err(self.error_at(
                    lower_at,
                    format!(
                        "a lower bound not greater than the upper bound \"{}\"",
                        hi.raw
                    ),
                    format!("\"{}\"", lo.raw),
                ));
            }
        }
        let lower = match lower {
            None => Bound::Unbounded,
            Some(v) if open.kind == Kind::LBracket => Bound::Included(v),
            Some(v) => Bound::Excluded(v),
        };
        let upper = match upper {
            None => Bound::Unbounded,
            Some(v) if upper_inclusive => Bound::Included(v),
            Some(v) => Bound::Excluded(v),
        };
        Ok(Query::Range {
            field,
            lower,
            upper,
        })
    }

    /// One range bound: `*` (none), a word, a phrase, or `-` glued to a word.
    pub(super) fn bound(&mut self, what: &str) -> Result<(Option<RangeValue>, usize), ParseError> {
        let token = self.peek();
        let text = match token.kind {
            Kind::Word if self.text(token) == "*" => {
                self.advance();
                return Ok((None, token.start));
            }
            Kind::Word if self.text(token) != "TO" => unescape(self.text(token)),
            Kind::Quoted => self.quoted_text(token),
            Kind::Minus => match self.negative_word() {
                Some(text) => text,
                None => return Err(self.error(token, what)),
            },
            _ => return Err(self.error(token, what)),
        };
        self.advance();
        Ok((Some(self.range_value(&text, token.start)?), token.start))
    }

    /// At a `-` glued to a word (`-5`): consumes the `-` and returns the
    /// joined raw text, leaving the word as the next token.
    pub(super) fn negative_word(&mut self) -> Option<String> {
        let minus = self.peek();
        let word = self.peek_second();
        let ok = word.kind == Kind::Word && word.start == minus.end && self.text(word) != "*";
        if !ok {
            return None;
        }
        self.advance();
        Some(format!("-{}", self.text(word)))
    }

    /// After `field:IN [`: values until `]`.
    pub(super) fn set(&mut self, field: String, open: Token) -> Result<Query, ParseError> {
        let mut values = Vec::new();
        loop {
            let token = self.peek();
            match token.kind {
                Kind::RBracket => {
                    if values.is_empty() {
                        return Err(self.error(token, "at least one value in the list"));
                    }
                    self.advance();
                    return Ok(Query::In { field, values });
                }
                Kind::Word | Kind::Minus => {
                    let raw = if token.kind == Kind::Minus {
                        match self.negative_word() {
                            Some(raw) => raw,
                            None => return Err(self.error(token, "a value or \"]\"")),
                        }
                    } else {
                        self.text(token).to_string()
                    };
                    self.advance();
                    values.extend(split_members(&raw).map(unescape));
                }
                Kind::Quoted => {
                    self.advance();
                    values.push(self.quoted_text(token));
                }
                Kind::UnterminatedQuote => return Err(self.unterminated_quote(token)),
                Kind::Eof => {
                    return Err(self.error(
                        token,
                        format!(
                            "\"]\" to close the list opened at position {}",
                            self.position(open.start)
                        ),
                    ))
                }
                _ => return Err(self.error(token, "a value or \"]\"")),
            }
        }
    }
}

/// Splits a set member word on unescaped commas, dropping empty parts.
fn split_members(raw: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(raw);
    std::iter::from_fn(move || {
        let current = rest?;
        match first_unescaped(current, ',') {
            Some(i) => {
                rest = Some(&current[i + 1..]);
                Some(&current[..i])
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
    .filter(|part| !part.is_empty())
}
