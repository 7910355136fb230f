//! Tests of the query language.

mod errors;
mod eval;
mod forms;
mod fuzz;
mod roundtrip;
mod time;

use std::ops::Bound;

use super::{parse, Query, RangeValue};

/// Parses or panics with the error (test helper).
fn p(input: &str) -> Query {
    match parse(input) {
        Ok(q) => q,
        Err(e) => panic!("{input:?} failed: {e}"),
    }
}

fn term(field: Option<&str>, value: &str) -> Query {
    Query::Term {
        field: field.map(str::to_string),
        value: value.to_string(),
    }
}

fn t(value: &str) -> Query {
    term(None, value)
}

fn ft(field: &str, value: &str) -> Query {
    term(Some(field), value)
}

fn phrase(field: Option<&str>, text: &str) -> Query {
    Query::Phrase {
        field: field.map(str::to_string),
        text: text.to_string(),
    }
}

fn wildcard(field: Option<&str>, pattern: &str) -> Query {
    Query::Wildcard {
        field: field.map(str::to_string),
        pattern: pattern.to_string(),
    }
}

fn regex(field: Option<&str>, pattern: &str) -> Query {
    Query::Regex {
        field: field.map(str::to_string),
        pattern: pattern.to_string(),
    }
}

fn rv(raw: &str) -> RangeValue {
    match RangeValue::parse(raw) {
        Ok(v) => v,
        Err(e) => panic!("{raw:?}: {e}"),
    }
}

fn inc(raw: &str) -> Bound<RangeValue> {
    Bound::Included(rv(raw))
}

fn exc(raw: &str) -> Bound<RangeValue> {
    Bound::Excluded(rv(raw))
}

fn range(field: &str, lower: Bound<RangeValue>, upper: Bound<RangeValue>) -> Query {
    Query::Range {
        field: field.to_string(),
        lower,
        upper,
    }
}

fn and(items: Vec<Query>) -> Query {
    Query::And(items)
}

fn or(items: Vec<Query>) -> Query {
    Query::Or(items)
}

fn not(q: Query) -> Query {
    Query::Not(Box::new(q))
}
