//! Operands: words, `field:` values, comparisons, phrases and regexes.

use std::ops::Bound;

use super::Parser;
use crate::language::ast::Query;
use crate::language::error::ParseError;
use crate::language::escape::{
    first_unescaped, has_unescaped_wildcard, unescape, unescape_regex, unescape_wildcard,
};
use crate::language::lexer::{Kind, Token};

impl Parser<'_> {
    /// An unquoted word: `*`, `text`, `pat*`, `field:...`, or, inside a field
    /// group, a value of that field.
    pub(super) fn word(&mut self, token: Token, field: Option<&str>) -> Result<Query, ParseError> {
        let raw = self.text(token);
        if let Some(colon) = first_unescaped(raw, ':') {
            let field_raw = &raw[..colon];
            let value_raw = &raw[colon + 1..];
            if has_unescaped_wildcard(field_raw) {
                if field_raw == "*" && value_raw == "*" {
                    return Ok(Query::All);
                }
                return Err(self.error_at(
                    token.start,
                    "a field name without wildcards",
                    format!("\"{field_raw}\""),
                ));
            }
            let name = unescape(field_raw);
            if value_raw.is_empty() {
                return self.field_value(name, token);
            }
            return self.value(name, value_raw, token.start + colon + 1, token.end);
        }
        match field {
            Some(f) => self.value(f.to_string(), raw, token.start, token.end),
            None if raw == "*" => Ok(Query::All),
            None => {
                self.check_unterminated_regex(raw, token.start, token.end)?;
                Ok(self.plain(None, raw))
            }
        }
    }

    /// A term or wildcard from raw (still escaped) text.
    pub(super) fn plain(&self, field: Option<String>, raw: &str) -> Query {
        if has_unescaped_wildcard(raw) {
            Query::Wildcard {
                field,
                pattern: unescape_wildcard(raw),
            }
        } else {
            Query::Term {
                field,
                value: unescape(raw),
            }
        }
    }

    /// What follows `field:` when the word ends at the colon.
    pub(super) fn field_value(
        &mut self,
        field: String,
        field_token: Token,
    ) -> Result<Query, ParseError> {
        let token = self.peek();
        let expected = || format!("a value after \"{}\"", self.text(field_token));
        match token.kind {
            Kind::Quoted => {
                self.advance();
                Ok(Query::Phrase {
                    field: Some(field),
                    text: self.quoted_text(token),
                })
            }
            Kind::UnterminatedQuote => Err(self.unterminated_quote(token)),
            Kind::LParen => {
                self.advance();
                self.group(token, Some(&field))
            }
            Kind::LBracket | Kind::LBrace => {
                self.advance();
                self.range(field, token)
            }
            Kind::Regex => {
                self.advance();
                self.regex(Some(field), token.start + 1, token.end - 1)
            }
            Kind::Word if !matches!(self.text(token), "AND" | "OR" | "NOT") => {
                self.advance();
                let raw = self.text(token);
                self.value(field, raw, token.start, token.end)
            }
            _ => Err(self.error(token, expected())),
        }
    }

    /// The unquoted value of `field` spanning `start..end` of the source.
    pub(super) fn value(
        &mut self,
        field: String,
        raw: &str,
        start: usize,
        end: usize,
    ) -> Result<Query, ParseError> {
        for op in [">=", "<=", ">", "<"] {
            if let Some(rest) = raw.strip_prefix(op) {
                return self.comparison(field, op, rest, start + op.len());
            }
        }
        if raw == "*" {
            return Ok(Query::Exists { field });
        }
        if raw == "IN" && self.peek().kind == Kind::LBracket {
            let open = self.advance();
            return self.set(field, open);
        }
        self.check_unterminated_regex(raw, start, end)?;
        Ok(self.plain(Some(field), raw))
    }

    /// Rejects a word that starts with `/` but is not a regex when it looks
    /// like a regex cut short:
    ///
    /// * directly followed by `(`, `[`, `{` or a quote, which a word cannot
    ///   hold but a regex body can (`msg:/err(or`);
    /// * or containing no other unescaped `/` while the next unescaped `/` of
    ///   the query ends a later word, i.e. a regex body with raw whitespace
    ///   (`message:/retrying in 5s/`). Phrases are skipped in that search.
    pub(super) fn check_unterminated_regex(
        &self,
        raw: &str,
        start: usize,
        end: usize,
    ) -> Result<(), ParseError> {
        if !raw.starts_with('/') {
            return Ok(());
        }
        let opened = self.position(start);
        let next = self.peek();
        let cut = matches!(
            next.kind,
            Kind::LParen | Kind::LBracket | Kind::LBrace | Kind::Quoted | Kind::UnterminatedQuote
        );
        if next.start == end && cut {
            return Err(self.error(
                next,
                format!("\"/\" to close the regular expression opened at position {opened}"),
            ));
        }
        if first_unescaped(&raw[1..], '/').is_some() {
            return Ok(());
        }
        for token in self.tokens.iter().skip(self.pos) {
            if matches!(token.kind, Kind::Quoted | Kind::UnterminatedQuote) {
                continue;
            }
            let text = self.text(*token);
            let Some(slash) = first_unescaped(text, '/') else {
                continue;
            };
            if token.kind == Kind::Word && slash + 1 == text.len() {
                let at_space = self
                    .src
                    .get(end..)
                    .unwrap_or("")
                    .starts_with(char::is_whitespace);
                let found = if at_space {
                    "whitespace".to_string()
                } else {
                    self.describe(next)
                };
                return Err(self.error_at(
                    end,
                    format!(
                        "\"/\" to close the regular expression opened at position {opened} \
                         (write whitespace in a regex as \"\\s\" or \"\\ \")"
                    ),
                    found,
                ));
            }
            break;
        }
        Ok(())
    }

    /// `field:>=v`, `field:>v`, `field:<=v`, `field:<v`.
    pub(super) fn comparison(
        &mut self,
        field: String,
        op: &str,
        rest: &str,
        at: usize,
    ) -> Result<Query, ParseError> {
        let expected = format!("a number, time or text after \"{op}\"");
        let (text, at) = if rest.is_empty() {
            let token = self.peek();
            match token.kind {
                Kind::Quoted => {
                    self.advance();
                    (self.quoted_text(token), token.start)
                }
                Kind::Word if !matches!(self.text(token), "*" | "AND" | "OR" | "NOT") => {
                    self.advance();
                    (unescape(self.text(token)), token.start)
                }
                _ => return Err(self.error(token, expected)),
            }
        } else if rest == "*" {
            return Err(self.error_at(at, expected, "\"*\""));
        } else {
            (unescape(rest), at)
        };
        let value = self.range_value(&text, at)?;
        let (lower, upper) = match op {
            ">=" => (Bound::Included(value), Bound::Unbounded),
            ">" => (Bound::Excluded(value), Bound::Unbounded),
            "<=" => (Bound::Unbounded, Bound::Included(value)),
            _ => (Bound::Unbounded, Bound::Excluded(value)),
        };
        Ok(Query::Range {
            field,
            lower,
            upper,
        })
    }

    pub(super) fn quoted_text(&self, token: Token) -> String {
        let raw = self.text(token);
        unescape(raw.get(1..raw.len().saturating_sub(1)).unwrap_or(""))
    }

    pub(super) fn unterminated_quote(&self, token: Token) -> ParseError {
        self.error_at(
            self.src.len(),
            format!(
                "'\"' to close the phrase opened at position {}",
                self.position(token.start)
            ),
            "end of query",
        )
    }

    /// Builds a regex query from the body at `start..end` and checks that it
    /// compiles, pointing errors at the offending character.
    pub(super) fn regex(
        &self,
        field: Option<String>,
        start: usize,
        end: usize,
    ) -> Result<Query, ParseError> {
        let body = self.src.get(start..end).unwrap_or("");
        let (pattern, origin) = unescape_regex(body);
        if let Err(e) = regex_syntax::Parser::new().parse(&pattern) {
            let (offset, message) = match &e {
                regex_syntax::Error::Parse(e) => (e.span().start.offset, e.kind().to_string()),
                regex_syntax::Error::Translate(e) => (e.span().start.offset, e.kind().to_string()),
                other => (0, other.to_string()),
            };
            let at = start + origin.get(offset).copied().unwrap_or(body.len());
            return Err(self.error_at(at, "a valid regular expression", message));
        }
        if let Err(e) = crate::language::text::compile_regex(&pattern) {
            let message = e.to_string();
            let message = message
                .lines()
                .last()
                .unwrap_or("invalid regular expression");
            return Err(self.error_at(
                start.saturating_sub(1),
                "a valid regular expression",
                message,
            ));
        }
        Ok(Query::Regex { field, pattern })
    }
}
