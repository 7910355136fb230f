//! Boolean structure: OR, AND (explicit or by juxtaposition), NOT and
//! parenthesized groups, down to a single operand.

use super::{Juxtaposition, Parser};
use crate::language::ast::Query;
use crate::language::error::ParseError;
use crate::language::escape::{first_unescaped, has_unescaped_wildcard, unescape};
use crate::language::lexer::{Kind, Token};

/// How a Lucene clause takes part in its list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Occur {
    Must,
    MustNot,
    Should,
}

impl Parser<'_> {
    /// `and (OR and)*`; `field` is the enclosing field group, if any.
    pub(super) fn or_expr(&mut self, field: Option<&str>) -> Result<Query, ParseError> {
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

    /// `unary ((AND)? unary)*`: juxtaposed operands are ANDed (or, in Lucene mode, combined
    /// as required/optional/excluded clauses).
    pub(super) fn and_expr(&mut self, field: Option<&str>) -> Result<Query, ParseError> {
        if self.juxtaposition == Juxtaposition::LuceneOr {
            return self.lucene_clauses(field);
        }
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

    /// Lucene's clause list: each operand is required (`+x`, or joined by `AND`), excluded
    /// (`-x`, `!x`, `NOT x`) or optional; the optional ones count only when nothing is required.
    fn lucene_clauses(&mut self, field: Option<&str>) -> Result<Query, ParseError> {
        let mut clauses: Vec<(Occur, Query)> = Vec::new();
        let mut after_and = false;
        loop {
            let start = self.peek();
            let occur = match start.kind {
                Kind::Plus => Occur::Must,
                Kind::Minus | Kind::Bang => Occur::MustNot,
                Kind::Word if self.text(start) == "NOT" => Occur::MustNot,
                _ if after_and => Occur::Must,
                _ => Occur::Should,
            };
            clauses.push((occur, self.unary(field)?));
            let next = self.peek();
            if next.kind == Kind::AndAnd || self.is_keyword(next, "AND") {
                self.advance();
                let operand = self.peek();
                if !self.starts_term(operand) {
                    return Err(
                        self.error(operand, format!("a term after \"{}\"", self.text(next)))
                    );
                }
                // The operand before `AND` is required too.
                if let Some(last) = clauses.last_mut().filter(|c| c.0 == Occur::Should) {
                    last.0 = Occur::Must;
                }
                after_and = true;
            } else if self.starts_term(next) {
                after_and = false;
            } else {
                break;
            }
        }
        let positive = clauses.iter().any(|(occur, _)| *occur == Occur::Must);
        let mut required = Vec::with_capacity(clauses.len());
        let mut optional = Vec::new();
        let mut slot = None;
        for (occur, query) in clauses {
            match occur {
                Occur::Should if positive => {}
                Occur::Should => {
                    slot.get_or_insert(required.len());
                    optional.push(query);
                }
                Occur::Must | Occur::MustNot => required.push(query),
            }
        }
        if let Some(slot) = slot {
            let any = if optional.len() == 1 {
                optional.pop().unwrap_or(Query::All)
            } else {
                Query::Or(optional)
            };
            required.insert(slot, any);
        }
        Ok(if required.len() == 1 {
            required.pop().unwrap_or(Query::All)
        } else {
            Query::And(required)
        })
    }

    /// `NOT x`, `!x`, `-x` (negation) and `+x` (no-op), then an operand.
    pub(super) fn unary(&mut self, field: Option<&str>) -> Result<Query, ParseError> {
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

    /// One operand: a group, a word, a phrase, a regex, or (in a field group) a range.
    pub(super) fn primary(&mut self, field: Option<&str>) -> Result<Query, ParseError> {
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
    pub(super) fn group(&mut self, open: Token, field: Option<&str>) -> Result<Query, ParseError> {
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
}
