//! Recursive-descent parser from tokens to a [`Query`].
//!
//! ```text
//! query    := or EOF
//! or       := and (("OR" | "||") and)*
//! and      := unary (("AND" | "&&")? unary)*
//! unary    := ("NOT" | "!") unary | ("-" | "+") unary   (sign glued to its operand)
//!           | primary
//! primary  := "(" or ")" | PHRASE | REGEX | FIELD_REGEX | WORD
//!           | "[" range  (inside a field group only)
//! WORD     := "*" | text | pattern | FIELD ":" value
//! value    := ("" followed by) PHRASE | "(" or ")" | "[" range | "{" range | REGEX | WORD-as-value
//!           | (">=" | ">" | "<=" | "<") bound | "*" | "IN" "[" member* "]" | text | pattern
//! range    := bound "TO" bound ("]" | "}")
//! ```
//!
//! `boolean` holds the first four rules, `values` the operands and `ranges`
//! ranges and sets.

use super::ast::Query;
use super::error::{char_offset, ParseError};
use super::lexer::{tokenize, Kind, Token};

mod boolean;
mod ranges;
mod values;

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
    parse_with(input, Juxtaposition::And)
}

/// Parses a query as Lucene's classic query parser with its default operator `OR` reads
/// juxtaposed clauses (Elasticsearch's `query_string` without `default_operator`): among
/// clauses not joined by `AND`/`OR`, `+a` is required, `-a`/`NOT a` excluded and a bare `a`
/// optional, so `a b` is `a OR b`, `+a b` is `a` and `a -b` is `a AND NOT b`. Operands of an
/// explicit `AND` are required. Everything else is [`parse`]'s syntax.
///
/// ```
/// use kestrel_query::language::parse_lucene;
/// assert_eq!(parse_lucene("verb:get verb:list")?.to_string(), "verb:get OR verb:list");
/// assert_eq!(parse_lucene("+verb:get stage:x -level:Metadata")?.to_string(), "verb:get AND NOT level:Metadata");
/// assert_eq!(parse_lucene("a AND b c")?.to_string(), "a AND b");
/// # Ok::<(), kestrel_query::language::ParseError>(())
/// ```
pub fn parse_lucene(input: &str) -> Result<Query, ParseError> {
    parse_with(input, Juxtaposition::LuceneOr)
}

/// How juxtaposed clauses combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Juxtaposition {
    /// `a b` is `a AND b` (Kestrel's syntax).
    And,
    /// Lucene's required/optional/excluded clauses with default operator `OR`.
    LuceneOr,
}

fn parse_with(input: &str, juxtaposition: Juxtaposition) -> Result<Query, ParseError> {
    let mut parser = Parser {
        src: input,
        tokens: tokenize(input),
        pos: 0,
        depth: 0,
        juxtaposition,
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
    juxtaposition: Juxtaposition,
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
}
