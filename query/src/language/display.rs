//! Canonical text form of a [`Query`]: explicit `AND`/`OR`/`NOT`, no field
//! grouping, parentheses only where precedence needs them, minimal escaping.
//! For any tree produced by [`parse`](super::parse), parsing the printed form
//! gives the same tree back.

use std::fmt::{self, Display, Formatter};
use std::ops::Bound;

use super::ast::Query;
use super::escape::{
    bare_or_quoted, escape_field, escape_pattern, escape_regex, escape_value, quote,
};
use super::value::RangeValue;

impl Display for Query {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Query::All => f.write_str("*"),
            Query::Term { field, value } => {
                write_field(f, field.as_deref())?;
                f.write_str(&escape_value(value, field.is_some()))
            }
            Query::Phrase { field, text } => {
                write_field(f, field.as_deref())?;
                f.write_str(&quote(text))
            }
            Query::Wildcard { field, pattern } => {
                write_field(f, field.as_deref())?;
                f.write_str(&escape_pattern(pattern, field.is_some()))
            }
            Query::Regex { field, pattern } => {
                write_field(f, field.as_deref())?;
                write!(f, "/{}/", escape_regex(pattern))
            }
            Query::Exists { field } => write!(f, "{}:*", escape_field(field)),
            Query::Range {
                field,
                lower,
                upper,
            } => {
                write!(f, "{}:", escape_field(field))?;
                write_range(f, lower, upper)
            }
            Query::In { field, values } => {
                write!(f, "{}:IN [", escape_field(field))?;
                for (i, value) in values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    f.write_str(&bare_or_quoted(value))?;
                }
                f.write_str("]")
            }
            Query::And(children) => write_joined(f, children, " AND ", |c| {
                matches!(c, Query::Or(_) | Query::And(_))
            }),
            Query::Or(children) => write_joined(f, children, " OR ", |c| matches!(c, Query::Or(_))),
            Query::Not(inner) => {
                f.write_str("NOT ")?;
                write_child(f, inner, matches!(**inner, Query::And(_) | Query::Or(_)))
            }
        }
    }
}

fn write_field(f: &mut Formatter<'_>, field: Option<&str>) -> fmt::Result {
    match field {
        Some(name) => write!(f, "{}:", escape_field(name)),
        None => Ok(()),
    }
}

fn write_child(f: &mut Formatter<'_>, child: &Query, parenthesize: bool) -> fmt::Result {
    if parenthesize {
        write!(f, "({child})")
    } else {
        write!(f, "{child}")
    }
}

fn write_joined(
    f: &mut Formatter<'_>,
    children: &[Query],
    separator: &str,
    parenthesize: impl Fn(&Query) -> bool,
) -> fmt::Result {
    for (i, child) in children.iter().enumerate() {
        if i > 0 {
            f.write_str(separator)?;
        }
        write_child(f, child, parenthesize(child))?;
    }
    Ok(())
}

/// `>=v`, `>v`, `<=v`, `<v` for half-open ranges with a simple bound,
/// `[lo TO hi]` (with `{`/`}` for exclusive ends) otherwise.
fn write_range(
    f: &mut Formatter<'_>,
    lower: &Bound<RangeValue>,
    upper: &Bound<RangeValue>,
) -> fmt::Result {
    let simple = |v: &RangeValue| bare_or_quoted(&v.raw) == v.raw;
    match (lower, upper) {
        (Bound::Included(v), Bound::Unbounded) if simple(v) => write!(f, ">={}", v.raw),
        (Bound::Excluded(v), Bound::Unbounded) if simple(v) => write!(f, ">{}", v.raw),
        (Bound::Unbounded, Bound::Included(v)) if simple(v) => write!(f, "<={}", v.raw),
        (Bound::Unbounded, Bound::Excluded(v)) if simple(v) => write!(f, "<{}", v.raw),
        _ => {
            let (open, lo) = match lower {
                Bound::Included(v) => ('[', bound_text(v)),
                Bound::Excluded(v) => ('{', bound_text(v)),
                Bound::Unbounded => ('[', "*".to_string()),
            };
            let (close, hi) = match upper {
                Bound::Included(v) => (']', bound_text(v)),
                Bound::Excluded(v) => ('}', bound_text(v)),
                Bound::Unbounded => (']', "*".to_string()),
            };
            write!(f, "{open}{lo} TO {hi}{close}")
        }
    }
}

fn bound_text(value: &RangeValue) -> String {
    bare_or_quoted(&value.raw)
}
