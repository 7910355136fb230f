//! Recursive-descent parser from tokens to a [`Query`].
//!
//! ```text
//! query    := or EOF
//! or       := and (("OR" | "||") and)*
//! and      := unary (("AND" | "&&")? unary)*
//! unary    := ("NOT" | "!") unary | ("-" | "+") unary   (sign glued to its operand)
//!           | primary
//! primary  := "(" or ")" | PHRASE | REGEX | FIELD_REGEX | WORD (see `word`)
//! ```

use std::cmp::Ordering;
use std::ops::Bound;

use super::ast::Query;
use super::error::{char_offset, ParseError};
use super::escape::{
    first_unescaped, has_unescaped_wildcard, unescape, unescape_regex, unescape_wildcard,
};
use super::lexer::{tokenize, Kind, Token};
use super::value::RangeValue;

/// Deepest nesting of groups and negations accepted, to bound recursion.
pub const MAX_DEPTH: usize = 100;

/// Parses a query; see the [module documentation](super) for the syntax.
///
/// The result is simplified ([`Query::simplify`]).
///
/// ```
/// use kestrel_query::language::{parse, Query};
/// let q = parse("verb:(get OR list) -user.username:\"system:anonymous\"").unwrap();
/// assert_eq!(q.to_string(), "(verb:get OR verb:list) AND NOT user.username:\"system:anonymous\"");
///
/// let err = parse("verb:").unwrap_err();
/// assert_eq!(err.to_string(), "at position 5: expected a value after \"verb:\", found end of query");
/// ```
pub fn parse(input: &str) -> Result<Query, ParseError> {
    let mut parser = Parser {
        src: input,
        tokens: tokenize(input),
        pos: 0,
        depth: 0,
    };
    let first = parser.peek();
    if first.kind == Kind::Eof {
        return Err(parser.error(first, "a query"));
    }
    let query = parser.or_expr(None)?;
    let last = parser.peek();
    match last.kind {
        Kind::Eof => Ok(query.simplify()),
        Kind::RParen => Err(parser.error_at(
            last.start,
            "an operator or end of query",
            "\")\" without a matching \"(\"",
        )),
        _ => Err(parser.error(last, "an operator or end of query")),
    }
}

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    // ----- token access -------------------------------------------------

    fn eof(&self) -> Token {
        Token {
            kind: Kind::Eof,
            start: self.src.len(),
            end: self.src.len(),
        }
    }

    fn peek(&self) -> Token {
        self.tokens
            .get(self.pos)
            .copied()
            .unwrap_or_else(|| self.eof())
    }

    fn peek_second(&self) -> Token {
        self.tokens
            .get(self.pos + 1)
            .copied()
            .unwrap_or_else(|| self.eof())
    }

    fn advance(&mut self) -> Token {
        let token = self.peek();
        if token.kind != Kind::Eof {
            self.pos += 1;
        }
        token
    }

    fn text(&self, token: Token) -> &'a str {
        self.src.get(token.start..token.end).unwrap_or("")
    }

    fn is_keyword(&self, token: Token, keyword: &str) -> bool {
        token.kind == Kind::Word && self.text(token) == keyword
    }

    /// Whether `token` can begin an operand of AND (so juxtaposition is AND).
    fn starts_term(&self, token: Token) -> bool {
        !matches!(
            token.kind,
            Kind::Eof | Kind::RParen | Kind::AndAnd | Kind::OrOr
        ) && !self.is_keyword(token, "AND")
            && !self.is_keyword(token, "OR")
    }

    // ----- errors -----------------------------------------------------------

    fn position(&self, byte: usize) -> usize {
        char_offset(self.src, byte)
    }

    fn describe(&self, token: Token) -> String {
        let text = self.text(token);
        let shown: String = text.chars().take(40).collect();
        let ellipsis = if shown.len() < text.len() { "..." } else { "" };
        match token.kind {
            Kind::Eof => "end of query".to_string(),
            Kind::Quoted | Kind::UnterminatedQuote => format!("the phrase {shown}{ellipsis}"),
            _ => format!("\"{shown}{ellipsis}\""),
        }
    }

    fn error_at(
        &self,
        byte: usize,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> ParseError {
        ParseError::at_byte(self.src, byte, expected, found)
    }

    fn error(&self, token: Token, expected: impl Into<String>) -> ParseError {
        self.error_at(token.start, expected, self.describe(token))
    }

    fn enter(&mut self, token: Token) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(
                token,
                format!("at most {MAX_DEPTH} nested groups or negations"),
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    // ----- boolean structure ------------------------------------------------

    fn or_expr(&mut self, field: Option<&str>) -> Result<Query, ParseError> {
        let mut items = vec![self.and_expr(field)?];
        loop {
            let op = self.peek();
            if op.kind != Kind::OrOr && !self.is_keyword(op, "OR") {
                break;
            }
            self.advance();
            let next = self.peek();
            if !self.starts_term(next) {
                return Err(self.error(next, format!("a term after \"{}\"", self.text(op))));
            }
            items.push(self.and_expr(field)?);
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap_or(Query::All)
        } else {
            Query::Or(items)
        })
    }

    fn and_expr(&mut self, field: Option<&str>) -> Result<Query, ParseError> {
        let mut items = vec![self.unary(field)?];
        loop {
            let next = self.peek();
            if next.kind == Kind::AndAnd || self.is_keyword(next, "AND") {
                self.advance();
                let operand = self.peek();
                if !self.starts_term(operand) {
                    return Err(
                        self.error(operand, format!("a term after \"{}\"", self.text(next)))
                    );
                }
            } else if !self.starts_term(next) {
                break;
            }
            items.push(self.unary(field)?);
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap_or(Query::All)
        } else {
            Query::And(items)
        })
    }

    fn unary(&mut self, field: Option<&str>) -> Result<Query, ParseError> {
        let op = self.peek();
        let negate = match op.kind {
            Kind::Bang => true,
            Kind::Word if self.text(op) == "NOT" => true,
            Kind::Minus => true,
            Kind::Plus => false,
            _ => return self.primary(field),
        };
        self.advance();
        let operand = self.peek();
        let glued = matches!(op.kind, Kind::Minus | Kind::Plus);
        if glued && operand.start != op.end {
            let found = if operand.kind == Kind::Eof {
                "end of query"
            } else {
                "whitespace"
            };
            return Err(self.error_at(
                op.end,
                format!("a term right after \"{}\"", self.text(op)),
                found,
            ));
        }
        if !self.starts_term(operand) {
            let expected = if glued {
                format!("a term right after \"{}\"", self.text(op))
            } else {
                format!("a term after \"{}\"", self.text(op))
            };
            return Err(self.error(operand, expected));
        }
        self.enter(op)?;
        let inner = self.unary(field)?;
        self.leave();
        Ok(if negate {
            Query::Not(Box::new(inner))
        } else {
            inner
        })
    }

    fn primary(&mut self, field: Option<&str>) -> Result<Query, ParseError> {
        let token = self.peek();
        match token.kind {
            Kind::LParen => {
                self.advance();
                self.group(token, field)
            }
            Kind::Word if matches!(self.text(token), "AND" | "OR") => {
                Err(self.error(token, "a term"))
            }
            Kind::Word => {
                self.advance();
                self.word(token, field)
            }
            Kind::Quoted => {
                self.advance();
                Ok(Query::Phrase {
                    field: field.map(str::to_string),
                    text: self.quoted_text(token),
                })
            }
            Kind::UnterminatedQuote => Err(self.unterminated_quote(token)),
            Kind::FieldRegex => {
                self.advance();
                let raw = self.text(token);
                let colon = first_unescaped(raw, ':').unwrap_or(0);
                let field_raw = &raw[..colon];
                if has_unescaped_wildcard(field_raw) {
                    return Err(self.error_at(
                        token.start,
                        "a field name without wildcards",
                        format!("\"{field_raw}\""),
                    ));
                }
                let body_start = token.start + colon + 2;
                self.regex(Some(unescape(field_raw)), body_start, token.end - 1)
            }
            Kind::Regex => {
                self.advance();
                self.regex(field.map(str::to_string), token.start + 1, token.end - 1)
            }
            Kind::LBracket | Kind::LBrace => match field {
                Some(f) => {
                    self.advance();
                    self.range(f.to_string(), token)
                }
                None => Err(self.error(token, "a field name before a range")),
            },
            Kind::Invalid => Err(match self.text(token) {
                ":" => self.error(token, "a field name before \":\""),
                "\\" => self.error_at(token.end, "a character after \"\\\"", "end of query"),
                _ => self.error(token, "a term"),
            }),
            _ => Err(self.error(token, "a term")),
        }
    }

    /// After an opening parenthesis: a sub-query then `)`.
    fn group(&mut self, open: Token, field: Option<&str>) -> Result<Query, ParseError> {
        self.enter(open)?;
        let inner = self.or_expr(field)?;
        self.leave();
        let close = self.peek();
        if close.kind != Kind::RParen {
            return Err(self.error(
                close,
                format!(
                    "\")\" to close the \"(\" at position {}",
                    self.position(open.start)
                ),
            ));
        }
        self.advance();
        Ok(inner)
    }

    // ----- words and values -------------------------------------------------

    /// An unquoted word: `*`, `text`, `pat*`, `field:...`, or, inside a field
    /// group, a value of that field.
    fn word(&mut self, token: Token, field: Option<&str>) -> Result<Query, ParseError> {
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
    fn plain(&self, field: Option<String>, raw: &str) -> Query {
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
    fn field_value(&mut self, field: String, field_token: Token) -> Result<Query, ParseError> {
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
    fn value(
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

    /// A word starting with `/` directly followed by `(`, `[`, `{` or a quote
    /// is a regex whose body was cut by a character a word cannot hold.
    fn check_unterminated_regex(
        &self,
        raw: &str,
        start: usize,
        end: usize,
    ) -> Result<(), ParseError> {
        let next = self.peek();
        let cut = matches!(
            next.kind,
            Kind::LParen | Kind::LBracket | Kind::LBrace | Kind::Quoted | Kind::UnterminatedQuote
        );
        if raw.starts_with('/') && next.start == end && cut {
            return Err(self.error(
                next,
                format!(
                    "\"/\" to close the regular expression opened at position {} (or whitespace)",
                    self.position(start)
                ),
            ));
        }
        Ok(())
    }

    /// `field:>=v`, `field:>v`, `field:<=v`, `field:<v`.
    fn comparison(
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

    fn range_value(&self, text: &str, at: usize) -> Result<RangeValue, ParseError> {
        RangeValue::parse(text).map_err(|e| {
            let expected = match e {
                super::error::TimeError::OutOfRange(_) => "a relative time within 10000 years",
                super::error::TimeError::Invalid(_) => {
                    "a time like now, now-15m or now+2w (units s, m, h, d, w)"
                }
            };
            self.error_at(at, expected, format!("\"{text}\""))
        })
    }

    /// After `[` or `{`: `lower TO upper` then `]` or `}`.
    fn range(&mut self, field: String, open: Token) -> Result<Query, ParseError> {
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
    fn bound(&mut self, what: &str) -> Result<(Option<RangeValue>, usize), ParseError> {
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
    fn negative_word(&mut self) -> Option<String> {
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
    fn set(&mut self, field: String, open: Token) -> Result<Query, ParseError> {
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

    // ----- quoted text and regexes ----------------------------------------

    fn quoted_text(&self, token: Token) -> String {
        let raw = self.text(token);
        unescape(raw.get(1..raw.len().saturating_sub(1)).unwrap_or(""))
    }

    fn unterminated_quote(&self, token: Token) -> ParseError {
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
    fn regex(&self, field: Option<String>, start: usize, end: usize) -> Result<Query, ParseError> {
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
        if let Err(e) = regex::Regex::new(&super::text::anchor(&pattern)) {
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
