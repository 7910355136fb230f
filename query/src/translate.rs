//! Translation of the query AST into Tantivy queries, following the index mapping.

use std::ops::Bound;

use chrono::{DateTime, Utc};
use std::net::{IpAddr, Ipv6Addr};

use ipnet::IpNet;
use kestrel_indexer::document::{timestamp_nanos, to_ipv6};
use kestrel_indexer::schema::{text_analyzer, EventSchema, FieldKind, ResolvedField};
use tantivy::query::{
    AllQuery, BooleanQuery, EmptyQuery, ExistsQuery, Occur, PhraseQuery, Query as TantivyQuery,
    RangeQuery, RegexQuery, TermQuery,
};
use tantivy::schema::{IndexRecordOption, Term};

use crate::error::SearchError;
use crate::json_pattern::JsonPathQuery;
use crate::language::{parse_time, wildcard_to_regex, Query, RangeValue};

/// Translates queries for one schema, resolving relative times against `now`.
pub struct Translator<'a> {
    schema: &'a EventSchema,
    now: DateTime<Utc>,
}

type Boxed = Box<dyn TantivyQuery>;

impl<'a> Translator<'a> {
    /// A translator for `schema`; `now` anchors relative times such as `now-15m`.
    pub fn new(schema: &'a EventSchema, now: DateTime<Utc>) -> Self {
        Translator { schema, now }
    }

    /// Translates the AST.
    pub fn translate(&self, query: &Query) -> Result<Boxed, SearchError> {
        if let Some(addresses) = self.address_query(query)? {
            return Ok(addresses);
        }
        match query {
            Query::All => Ok(Box::new(AllQuery)),
            Query::Term { field, value } => self.term(self.field(field.as_deref()), value),
            Query::Phrase { field, text } => self.phrase(self.field(field.as_deref()), text),
            Query::Wildcard { field, pattern } => {
                self.wildcard(self.field(field.as_deref()), pattern)
            }
            Query::Regex { field, pattern } => self.regex(self.field(field.as_deref()), pattern),
            Query::Exists { field } => self.exists(self.field(Some(field)), field),
            Query::Range {
                field,
                lower,
                upper,
            } => self.range(self.field(Some(field)), field, lower, upper),
            Query::In { field, values } => {
                let resolved = self.field(Some(field));
                let clauses = values
                    .iter()
                    .map(|v| {
                        let member = Query::Term {
                            field: Some(field.clone()),
                            value: v.clone(),
                        };
                        match self.address_query(&member)? {
                            Some(addresses) => Ok((Occur::Should, addresses)),
                            None => Ok((Occur::Should, self.term(resolved.clone(), v)?)),
                        }
                    })
                    .collect::<Result<Vec<_>, SearchError>>()?;
                Ok(Box::new(BooleanQuery::new(clauses)))
            }
            Query::And(children) => {
                let mut clauses = Vec::with_capacity(children.len());
                for child in children {
                    match child {
                        Query::Not(inner) => clauses.push((Occur::MustNot, self.translate(inner)?)),
                        other => clauses.push((Occur::Must, self.translate(other)?)),
                    }
                }
                if clauses.iter().all(|(occur, _)| *occur == Occur::MustNot) {
                    clauses.push((Occur::Must, Box::new(AllQuery)));
                }
                Ok(Box::new(BooleanQuery::new(clauses)))
            }
            Query::Or(children) => {
                let clauses = children
                    .iter()
                    .map(|c| Ok((Occur::Should, self.translate(c)?)))
                    .collect::<Result<Vec<_>, SearchError>>()?;
                Ok(Box::new(BooleanQuery::new(clauses)))
            }
            Query::Not(inner) => Ok(Box::new(BooleanQuery::new(vec![
                (Occur::Must, Box::new(AllQuery) as Boxed),
                (Occur::MustNot, self.translate(inner)?),
            ]))),
        }
    }

    /// CIDR terms (`sourceIPs:10.0.0.0/8`) and address ranges on fields that hold IP
    /// addresses, answered by the field's IP companion. `None` when the query is not one.
    fn address_query(&self, query: &Query) -> Result<Option<Boxed>, SearchError> {
        let (path, lower, upper) = match query {
            Query::Term {
                field: Some(path),
                value,
            } => match (self.schema.ip_companion(path), value.parse::<IpNet>()) {
                (Some(_), Ok(network)) => (
                    path,
                    Bound::Included(network.network()),
                    Bound::Included(network.broadcast()),
                ),
                _ => return Ok(None),
            },
            Query::Range {
                field: path,
                lower,
                upper,
            } if self.schema.ip_companion(path).is_some() => {
                let address = |bound: &Bound<RangeValue>| -> Result<Bound<IpAddr>, SearchError> {
                    let parse = |v: &RangeValue| {
                        v.raw.parse::<IpAddr>().map_err(|_| {
                            SearchError::BadQuery(format!(
                                "{path}: range bound {:?} is not an IP address",
                                v.raw
                            ))
                        })
                    };
                    Ok(match bound {
                        Bound::Included(v) => Bound::Included(parse(v)?),
                        Bound::Excluded(v) => Bound::Excluded(parse(v)?),
                        Bound::Unbounded => Bound::Unbounded,
                    })
                };
                (path, address(lower)?, address(upper)?)
            }
            _ => return Ok(None),
        };
        // Checked just above.
        let companion = self.schema.ip_companion(path).expect("ip companion");
        let term = |address: IpAddr| Term::from_field_ip_addr(companion.field, to_ipv6(address));
        let lower = match lower {
            Bound::Included(a) => Bound::Included(term(a)),
            Bound::Excluded(a) => Bound::Excluded(term(a)),
            Bound::Unbounded => Bound::Included(Term::from_field_ip_addr(
                companion.field,
                Ipv6Addr::UNSPECIFIED,
            )),
        };
        let upper = match upper {
            Bound::Included(a) => Bound::Included(term(a)),
            Bound::Excluded(a) => Bound::Excluded(term(a)),
            Bound::Unbounded => Bound::Included(Term::from_field_ip_addr(
                companion.field,
                Ipv6Addr::from(u128::MAX),
            )),
        };
        Ok(Some(Box::new(RangeQuery::new(lower, upper))))
    }

    fn field(&self, path: Option<&str>) -> ResolvedField {
        self.schema
            .resolve(path.unwrap_or(crate::language::DEFAULT_FIELD))
    }

    /// A single value: exact on keywords, word(s) on text, typed on numbers and instants.
    fn term(&self, field: ResolvedField, value: &str) -> Result<Boxed, SearchError> {
        match field.kind {
            FieldKind::Keyword => Ok(term_query(Term::from_field_text(
                field.field,
                &value.to_lowercase(),
            ))),
            FieldKind::Id => Ok(term_query(Term::from_field_text(field.field, value))),
            FieldKind::Text | FieldKind::Json => self.phrase(field, value),
            FieldKind::Integer => {
                let number = parse_integer(&field, value)?;
                Ok(exact_number(&field, number))
            }
            FieldKind::Timestamp => {
                let nanos = self.instant(&field, value)?;
                Ok(exact_number(&field, nanos))
            }
            FieldKind::Ip => {
                let address = value.trim().parse::<IpAddr>().map_err(|_| {
                    SearchError::BadQuery(format!("{value:?} is not an IP address"))
                })?;
                Ok(term_query(Term::from_field_ip_addr(
                    field.field,
                    to_ipv6(address),
                )))
            }
        }
    }

    /// Consecutive words on text fields; the exact value on keywords.
    fn phrase(&self, field: ResolvedField, text: &str) -> Result<Boxed, SearchError> {
        match field.kind {
            FieldKind::Text | FieldKind::Json => {}
            _ => return self.term(field, text),
        }
        let mut terms: Vec<Term> = tokens(text)
            .into_iter()
            .map(|token| text_term(&field, &token))
            .collect();
        if field.kind == FieldKind::Json {
            if let Ok(number) = text.trim().parse::<i64>() {
                let mut numeric = json_base(&field);
                numeric.append_type_and_fast_value(number);
                let textual: Boxed = match terms.len() {
                    1 => term_query(terms.remove(0)),
                    _ => Box::new(EmptyQuery),
                };
                return Ok(Box::new(BooleanQuery::new(vec![
                    (Occur::Should, term_query(numeric)),
                    (Occur::Should, textual),
                ])));
            }
        }
        Ok(match terms.len() {
            0 => Box::new(EmptyQuery),
            1 => term_query(terms.remove(0)),
            _ => Box::new(PhraseQuery::new(terms)),
        })
    }

    fn wildcard(&self, field: ResolvedField, pattern: &str) -> Result<Boxed, SearchError> {
        let regex = wildcard_to_regex(&pattern.to_lowercase());
        self.regex_on_terms(field, &regex, pattern)
    }

    fn regex(&self, field: ResolvedField, pattern: &str) -> Result<Boxed, SearchError> {
        let pattern = match field.kind {
            FieldKind::Keyword | FieldKind::Text | FieldKind::Json => format!("(?i){pattern}"),
            _ => pattern.to_owned(),
        };
        self.regex_on_terms(field, &pattern, &pattern)
    }

    fn regex_on_terms(
        &self,
        field: ResolvedField,
        regex: &str,
        original: &str,
    ) -> Result<Boxed, SearchError> {
        let guard = crate::limits::current();
        if let Some(guard) = &guard {
            if let Err(limit) = guard.limits().check_regex(regex, original) {
                return Err(SearchError::Limit(limit));
            }
        }
        match field.kind {
            FieldKind::Keyword | FieldKind::Text | FieldKind::Id => {
                if let Some(guard) = guard {
                    let automaton = tantivy_fst::Regex::new(regex).map_err(|e| {
                        SearchError::BadQuery(format!("invalid pattern {original:?}: {e}"))
                    })?;
                    return Ok(Box::new(crate::limits::BoundedTermsQuery::new(
                        field.field,
                        std::sync::Arc::new(automaton),
                        None,
                        guard,
                        original,
                    )));
                }
                let query = RegexQuery::from_pattern(regex, field.field).map_err(|e| {
                    SearchError::BadQuery(format!("invalid pattern {original:?}: {e}"))
                })?;
                Ok(Box::new(query))
            }
            FieldKind::Json => {
                let path = field.json_path.as_deref().unwrap_or("");
                let query = JsonPathQuery::matching(field.field, path, regex).map_err(|e| {
                    SearchError::BadQuery(format!("invalid pattern {original:?}: {e}"))
                })?;
                Ok(match guard {
                    Some(guard) => Box::new(query.bounded(guard, original)),
                    None => Box::new(query),
                })
            }
            _ => Err(SearchError::BadQuery(format!(
                "pattern {original:?}: wildcards and regular expressions apply to keyword, text \
                 and JSON fields, not to {}",
                describe(&field)
            ))),
        }
    }

    fn exists(&self, field: ResolvedField, path: &str) -> Result<Boxed, SearchError> {
        if field.fast {
            return Ok(Box::new(ExistsQuery::new(field.name.clone(), false)));
        }
        match field.kind {
            // Existence is not a user pattern: never refused for its expansion.
            FieldKind::Keyword | FieldKind::Text | FieldKind::Id => {
                let query = RegexQuery::from_pattern(".*", field.field)?;
                Ok(Box::new(query))
            }
            FieldKind::Json => Ok(Box::new(JsonPathQuery::exists(
                field.field,
                field.json_path.as_deref().unwrap_or(""),
            ))),
            _ => Err(SearchError::BadQuery(format!(
                "{path}:* — existence queries apply to keyword, text, JSON and fast fields, not to {}",
                describe(&field)
            ))),
        }
    }

    fn range(
        &self,
        field: ResolvedField,
        path: &str,
        lower: &Bound<RangeValue>,
        upper: &Bound<RangeValue>,
    ) -> Result<Boxed, SearchError> {
        let bound_term = |bound: &Bound<RangeValue>| -> Result<Bound<Term>, SearchError> {
            let make = |value: &RangeValue| -> Result<Term, SearchError> {
                let text = value.raw.as_str();
                match field.kind {
                    FieldKind::Integer => Ok(Term::from_field_i64(
                        field.field,
                        parse_integer(&field, text)?,
                    )),
                    FieldKind::Timestamp => Ok(Term::from_field_i64(
                        field.field,
                        self.instant(&field, text)?,
                    )),
                    FieldKind::Keyword | FieldKind::Id => {
                        Ok(Term::from_field_text(field.field, &text.to_lowercase()))
                    }
                    _ => Err(SearchError::BadQuery(format!(
                        "{path}: ranges apply to numbers, timestamps and keywords, not to {}",
                        describe(&field)
                    ))),
                }
            };
            Ok(match bound {
                Bound::Included(v) => Bound::Included(make(v)?),
                Bound::Excluded(v) => Bound::Excluded(make(v)?),
                Bound::Unbounded => Bound::Unbounded,
            })
        };
        let lower = bound_term(lower)?;
        let upper = bound_term(upper)?;
        if matches!((&lower, &upper), (Bound::Unbounded, Bound::Unbounded)) {
            return self.exists(field, path);
        }
        let lower = fill_unbounded(lower, &field, i64::MIN);
        let upper = fill_unbounded(upper, &field, i64::MAX);
        Ok(Box::new(RangeQuery::new(lower, upper)))
    }

    fn instant(&self, field: &ResolvedField, text: &str) -> Result<i64, SearchError> {
        parse_time(text, self.now)
            .map(|ts| timestamp_nanos(&ts))
            .map_err(|e| SearchError::BadQuery(format!("{}: {e}", field_label(field))))
    }
}

/// Tantivy's range query needs the field of an open end; on numeric fields the extreme value
/// stands in for "unbounded".
fn fill_unbounded(bound: Bound<Term>, field: &ResolvedField, extreme: i64) -> Bound<Term> {
    match (bound, field.kind) {
        (Bound::Unbounded, FieldKind::Integer | FieldKind::Timestamp) => {
            Bound::Included(Term::from_field_i64(field.field, extreme))
        }
        (bound, _) => bound,
    }
}

/// A time filter on `@timestamp`, as a Tantivy query.
pub fn time_filter(
    schema: &EventSchema,
    from: Option<&DateTime<Utc>>,
    to: Option<&DateTime<Utc>>,
) -> Option<Boxed> {
    if from.is_none() && to.is_none() {
        return None;
    }
    let field = schema.resolve("@timestamp").field;
    let lower = Term::from_field_i64(field, from.map_or(i64::MIN, timestamp_nanos));
    let upper = Term::from_field_i64(field, to.map_or(i64::MAX, timestamp_nanos));
    Some(Box::new(RangeQuery::new(
        Bound::Included(lower),
        Bound::Included(upper),
    )))
}

/// One value of a number or instant: a term of its inverted index, or a one-value range on
/// its column when it is a column only.
fn exact_number(field: &ResolvedField, value: i64) -> Boxed {
    let term = Term::from_field_i64(field.field, value);
    if field.indexed {
        return term_query(term);
    }
    Box::new(RangeQuery::new(
        Bound::Included(term.clone()),
        Bound::Included(term),
    ))
}

fn term_query(term: Term) -> Boxed {
    Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs))
}

fn json_base(field: &ResolvedField) -> Term {
    Term::from_field_json_path(field.field, field.json_path.as_deref().unwrap_or(""), true)
}

fn text_term(field: &ResolvedField, token: &str) -> Term {
    if field.kind == FieldKind::Json {
        let mut term = json_base(field);
        term.append_type_and_str(token);
        term
    } else {
        Term::from_field_text(field.field, token)
    }
}

/// Splits text into the tokens the index holds for text fields.
pub fn tokens(text: &str) -> Vec<String> {
    let mut analyzer = text_analyzer();
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

fn parse_integer(field: &ResolvedField, value: &str) -> Result<i64, SearchError> {
    value.trim().parse::<i64>().map_err(|_| {
        SearchError::BadQuery(format!(
            "{} holds whole numbers; {value:?} is not one",
            field_label(field)
        ))
    })
}

fn field_label(field: &ResolvedField) -> String {
    match &field.json_path {
        Some(path) if !path.is_empty() => format!("{}.{path}", field.name),
        _ => field.name.clone(),
    }
}

fn describe(field: &ResolvedField) -> String {
    let kind = match field.kind {
        FieldKind::Timestamp => "a timestamp field",
        FieldKind::Id => "an id field",
        FieldKind::Keyword => "a keyword field",
        FieldKind::Text => "a text field",
        FieldKind::Integer => "a numeric field",
        FieldKind::Json => "a sub-field of a JSON object",
        FieldKind::Ip => "an IP address field",
    };
    format!("{} ({kind})", field_label(field))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_tokenized_like_the_index() {
        assert_eq!(
            tokens("Connection REFUSED: 10.0.0.1"),
            ["connection", "refused", "10", "0", "0", "1"]
        );
    }
}
