//! Direct evaluation of a [`Query`] against a JSON event.
//!
//! See [`Matcher`] for the semantics.

use std::cmp::Ordering;
use std::ops::Bound;

use chrono::{DateTime, Utc};
use regex::Regex;
use serde_json::Value;

use super::ast::{Query, DEFAULT_FIELD};
use super::path::resolve;
use super::text::{compile_regex, compile_wildcard, tokens};
use super::time::TimeValue;
use super::value::{parse_number, RangeValue, TypedValue};

/// Which fields are free text and which field free text searches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchOptions {
    /// The field used by terms and phrases without `field:`.
    pub default_field: String,
    /// Fields matched word by word; all other fields are keywords.
    pub text_fields: Vec<String>,
}

impl Default for MatchOptions {
    /// `message` is the default field and the only text field.
    fn default() -> Self {
        Self {
            default_field: DEFAULT_FIELD.to_string(),
            text_fields: vec![DEFAULT_FIELD.to_string()],
        }
    }
}

/// A query prepared for repeated evaluation: regexes and wildcards are
/// compiled and values pre-parsed once.
///
/// Semantics, per leaf (field paths are resolved as described on
/// [`Query::matches`]; the query matches when **any** resolved value does):
///
/// * **Text fields** ([`MatchOptions::text_fields`], by default only
///   `message`): the value is split into lowercase alphanumeric tokens (see
///   [`tokenize`](super::tokenize)). A term or phrase matches when its own
///   tokens appear consecutively (`message:"connection refused"`,
///   `Refused` matches `dial tcp: connection refused`); a term that is
///   several tokens (`message:connection-refused`) is such a phrase, and one
///   without any token (`"!!!"`) matches nothing. Wildcards and regexes
///   match either the whole value or one lowercased token.
/// * **Keyword fields** (all others): `Term`, `Phrase`, `In`, `Wildcard`
///   and `Regex` compare the whole value **case-insensitively** (as the
///   search index, which lowercases keywords, does); when both sides are
///   numbers they compare numerically (`403` equals `403.0`), when both are
///   RFC 3339 timestamps they compare as instants. Numbers and booleans in the
///   event are compared through their JSON text too. A value written as a CIDR
///   block (`10.0.0.0/8`, `fd00::/8`) matches every IP address inside it.
/// * `Regex` must match the whole value (it is anchored), case-insensitively.
/// * `Range` compares numerically for number bounds, as instants for time
///   bounds (event strings in RFC 3339 or `YYYY-MM-DD`; relative bounds are
///   resolved against the evaluation time), and byte-wise for text bounds.
/// * `Exists` needs at least one non-null value.
/// * `Not` is plain negation: `-verb:get` matches events without a `verb`.
///
/// ```
/// use kestrel_query::language::{parse, Matcher};
/// use serde_json::json;
/// let rule = Matcher::new(&parse("verb:IN [create patch] objectRef.resource:secrets").unwrap());
/// assert!(rule.matches(&json!({"verb": "create", "objectRef": {"resource": "secrets"}})));
/// assert!(!rule.matches(&json!({"verb": "get", "objectRef": {"resource": "secrets"}})));
/// ```
#[derive(Debug, Clone)]
pub struct Matcher {
    root: Node,
}

#[derive(Debug, Clone)]
enum Node {
    All,
    /// Never matches (a pattern that does not compile).
    Never,
    Exists(String),
    Leaf {
        field: String,
        test: Test,
    },
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
}

#[derive(Debug, Clone)]
enum Test {
    /// Whole-value comparison of a keyword field.
    Keyword(Expected),
    /// Consecutive lowercase tokens in a text field (empty: never).
    Words(Vec<String>),
    /// A compiled wildcard or regex; `tokens` also tries each token.
    Pattern {
        regex: Regex,
        tokens: bool,
    },
    Range {
        lower: Bound<RangeValue>,
        upper: Bound<RangeValue>,
    },
    AnyOf(Vec<Test>),
}

/// A keyword value prepared for comparison.
#[derive(Debug, Clone)]
struct Expected {
    lower: String,
    number: Option<f64>,
    time: Option<DateTime<Utc>>,
    /// A CIDR block (`10.0.0.0/8`): matches every address inside it.
    network: Option<ipnet::IpNet>,
}

impl Expected {
    fn new(value: &str) -> Self {
        Self {
            lower: lowercase(value),
            number: parse_number(value),
            time: parse_instant(value),
            network: value
                .contains('/')
                .then(|| value.parse::<ipnet::IpNet>().ok())
                .flatten(),
        }
    }
}

impl Matcher {
    /// Prepares `query` with the default [`MatchOptions`].
    pub fn new(query: &Query) -> Self {
        Self::with_options(query, &MatchOptions::default())
    }

    /// Prepares `query` with explicit options.
    pub fn with_options(query: &Query, options: &MatchOptions) -> Self {
        Self {
            root: compile(query, options),
        }
    }

    /// Evaluates against `event`, resolving `now`-relative times to the
    /// current clock.
    pub fn matches(&self, event: &Value) -> bool {
        self.matches_at(event, Utc::now())
    }

    /// Evaluates against `event` with `now` as the current time.
    pub fn matches_at(&self, event: &Value, now: DateTime<Utc>) -> bool {
        eval(&self.root, event, now)
    }
}

impl Query {
    /// Evaluates the query against a JSON event, with default
    /// [`MatchOptions`] and the current time.
    ///
    /// Field paths are dotted: at every object the longest key that is a
    /// prefix of the remaining path is tried first, so keys containing dots
    /// (label `app.kubernetes.io/name`) work; arrays are searched element by
    /// element and an array matches if any element matches. See the
    /// [module documentation](super) for how values compare. This compiles
    /// the query on every call: keep a [`Matcher`] to evaluate many events.
    ///
    /// ```
    /// use kestrel_query::language::parse;
    /// use serde_json::json;
    /// let event = json!({"sourceIPs": ["10.0.0.1", "10.0.0.2"], "responseStatus": {"code": 403}});
    /// assert!(parse("sourceIPs:10.0.0.2 responseStatus.code:[400 TO 499]").unwrap().matches(&event));
    /// ```
    pub fn matches(&self, event: &Value) -> bool {
        Matcher::new(self).matches(event)
    }

    /// Like [`Query::matches`] with an explicit current time.
    pub fn matches_at(&self, event: &Value, now: DateTime<Utc>) -> bool {
        Matcher::new(self).matches_at(event, now)
    }
}

// ----- compilation ------------------------------------------------------

fn compile(query: &Query, options: &MatchOptions) -> Node {
    let field_of = |field: &Option<String>| -> String {
        field
            .clone()
            .unwrap_or_else(|| options.default_field.clone())
    };
    let is_text = |field: &str| options.text_fields.iter().any(|t| t == field);
    let leaf = |field: String, test: Test| Node::Leaf { field, test };
    match query {
        Query::All => Node::All,
        Query::Term { field, value: text } | Query::Phrase { field, text } => {
            let field = field_of(field);
            let test = value_test(text, is_text(&field));
            leaf(field, test)
        }
        Query::Wildcard { field, pattern } => {
            let field = field_of(field);
            match compile_wildcard(pattern) {
                Ok(regex) => {
                    let tokens = is_text(&field);
                    leaf(field, Test::Pattern { regex, tokens })
                }
                Err(_) => Node::Never,
            }
        }
        Query::Regex { field, pattern } => {
            let field = field_of(field);
            match compile_regex(pattern) {
                Ok(regex) => {
                    let tokens = is_text(&field);
                    leaf(field, Test::Pattern { regex, tokens })
                }
                Err(_) => Node::Never,
            }
        }
        Query::Exists { field } => Node::Exists(field.clone()),
        Query::Range {
            field,
            lower,
            upper,
        } => leaf(
            field.clone(),
            Test::Range {
                lower: lower.clone(),
                upper: upper.clone(),
            },
        ),
        Query::In { field, values } => {
            let text = is_text(field);
            let tests = values.iter().map(|v| value_test(v, text)).collect();
            leaf(field.clone(), Test::AnyOf(tests))
        }
        Query::And(children) => Node::And(children.iter().map(|c| compile(c, options)).collect()),
        Query::Or(children) => Node::Or(children.iter().map(|c| compile(c, options)).collect()),
        Query::Not(inner) => Node::Not(Box::new(compile(inner, options))),
    }
}

fn value_test(value: &str, text_field: bool) -> Test {
    if text_field {
        Test::Words(tokens(value).map(lowercase).collect())
    } else {
        Test::Keyword(Expected::new(value))
    }
}

// ----- evaluation ---------------------------------------------------------

fn eval(node: &Node, event: &Value, now: DateTime<Utc>) -> bool {
    match node {
        Node::All => true,
        Node::Never => false,
        Node::Exists(field) => resolve(event, field).iter().any(|v| !v.is_null()),
        Node::Leaf { field, test } => resolve(event, field)
            .into_iter()
            .any(|v| test_value(test, v, now)),
        Node::And(children) => children.iter().all(|c| eval(c, event, now)),
        Node::Or(children) => children.iter().any(|c| eval(c, event, now)),
        Node::Not(inner) => !eval(inner, event, now),
    }
}

/// The text of a scalar JSON value; `None` for null, objects and arrays.
fn scalar_text(value: &Value) -> Option<std::borrow::Cow<'_, str>> {
    match value {
        Value::String(s) => Some(s.as_str().into()),
        Value::Number(n) => Some(n.to_string().into()),
        Value::Bool(b) => Some(b.to_string().into()),
        _ => None,
    }
}

fn test_value(test: &Test, value: &Value, now: DateTime<Utc>) -> bool {
    match test {
        Test::Keyword(expected) => keyword_equals(value, expected),
        Test::Words(words) => scalar_text(value).is_some_and(|t| contains_words(&t, words)),
        Test::Pattern {
            regex,
            tokens: by_token,
        } => scalar_text(value).is_some_and(|t| {
            regex.is_match(&t) || (*by_token && tokens(&t).any(|w| regex.is_match(&lowercase(w))))
        }),
        Test::Range { lower, upper } => {
            !value.is_null()
                && satisfies(
                    lower,
                    value,
                    now,
                    |o| o != Ordering::Less,
                    |o| o == Ordering::Greater,
                )
                && satisfies(
                    upper,
                    value,
                    now,
                    |o| o != Ordering::Greater,
                    |o| o == Ordering::Less,
                )
        }
        Test::AnyOf(tests) => tests.iter().any(|t| test_value(t, value, now)),
    }
}

fn keyword_equals(value: &Value, expected: &Expected) -> bool {
    match value {
        Value::String(s) => {
            eq_lowercase(s, &expected.lower)
                || expected.number.is_some_and(|n| parse_number(s) == Some(n))
                || expected.time.is_some_and(|t| parse_instant(s) == Some(t))
                || expected.network.is_some_and(|network| {
                    s.trim()
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|address| network.contains(&address))
                })
        }
        Value::Number(n) => {
            expected.number.is_some_and(|e| n.as_f64() == Some(e))
                || eq_lowercase(&n.to_string(), &expected.lower)
        }
        Value::Bool(b) => eq_lowercase(if *b { "true" } else { "false" }, &expected.lower),
        _ => false,
    }
}

/// Whether the lowercase `words` appear consecutively among the tokens of `text`.
fn contains_words(text: &str, words: &[String]) -> bool {
    match words {
        [] => false,
        [word] => tokens(text).any(|t| eq_lowercase(t, word)),
        _ => {
            let all: Vec<&str> = tokens(text).collect();
            all.windows(words.len())
                .any(|w| w.iter().zip(words).all(|(t, word)| eq_lowercase(t, word)))
        }
    }
}

/// Checks one bound: `inclusive_ok` / `exclusive_ok` tell which orderings of
/// the event value against the bound are accepted.
fn satisfies(
    bound: &Bound<RangeValue>,
    value: &Value,
    now: DateTime<Utc>,
    inclusive_ok: impl Fn(Ordering) -> bool,
    exclusive_ok: impl Fn(Ordering) -> bool,
) -> bool {
    match bound {
        Bound::Unbounded => true,
        Bound::Included(b) => compare(value, b, now).is_some_and(inclusive_ok),
        Bound::Excluded(b) => compare(value, b, now).is_some_and(exclusive_ok),
    }
}

/// Orders an event value against a bound of the bound's kind.
fn compare(value: &Value, bound: &RangeValue, now: DateTime<Utc>) -> Option<Ordering> {
    match bound.typed {
        TypedValue::Number(b) => {
            let v = match value {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => parse_number(s),
                _ => None,
            }?;
            v.partial_cmp(&b)
        }
        TypedValue::Time(t) => {
            let b = t.resolve(now).ok()?;
            let v = value.as_str().and_then(parse_instant)?;
            Some(v.cmp(&b))
        }
        TypedValue::Text => {
            let v = scalar_text(value)?;
            Some(v.as_ref().cmp(bound.raw.as_str()))
        }
    }
}

/// An absolute timestamp (RFC 3339 or `YYYY-MM-DD`); never `now`-relative.
fn parse_instant(text: &str) -> Option<DateTime<Utc>> {
    match TimeValue::parse(text) {
        Ok(TimeValue::Absolute(t)) => Some(t),
        _ => None,
    }
}

/// Lowercases character by character (the same mapping as [`eq_lowercase`]).
fn lowercase(text: &str) -> String {
    text.chars().flat_map(char::to_lowercase).collect()
}

/// Whether `text`, lowercased, equals the already lowercase `lower`.
fn eq_lowercase(text: &str, lower: &str) -> bool {
    text.chars().flat_map(char::to_lowercase).eq(lower.chars())
}
