//! Field specifications (`field|modifier|...`) and the values they test, compiled to matchers.
//!
//! Semantics follow the Sigma specification: values are case-insensitive unless `cased`, `*`
//! and `?` are wildcards (`\*`, `\?`, `\\` escape them), a list of values matches when any
//! matches (every one with `all`), and a field holding an array matches when any element does.

use std::borrow::Cow;
use std::net::IpAddr;

use base64::Engine;
use ipnet::IpNet;
use regex::Regex;
use serde_json::Value;

use crate::placeholder::Placeholders;

/// A modifier of a field specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modifier {
    /// `contains`: `*value*`.
    Contains,
    /// `startswith`: `value*`.
    StartsWith,
    /// `endswith`: `*value`.
    EndsWith,
    /// `all`: every value of the list must match.
    All,
    /// `re`: the value is a regular expression.
    Re,
    /// `i` after `re`: case-insensitive regex.
    ReCaseInsensitive,
    /// `m` after `re`: multi-line regex.
    ReMultiLine,
    /// `s` after `re`: `.` matches new lines.
    ReDotAll,
    /// `cidr`: the field is an IP address in the network.
    Cidr,
    /// `exists`: the value (`true`/`false`) says whether the field must be present.
    Exists,
    /// `cased`: case-sensitive comparison.
    Cased,
    /// `neq`: the field differs from the value.
    Neq,
    /// `lt`: numeric less than.
    Lt,
    /// `lte`: numeric less than or equal.
    Lte,
    /// `gt`: numeric greater than.
    Gt,
    /// `gte`: numeric greater than or equal.
    Gte,
    /// `base64`: the value, base64-encoded.
    Base64,
    /// `base64offset`: the value base64-encoded at each of the three offsets.
    Base64Offset,
    /// `windash`: `-` may also be written `/`, `–`, `—` or `―`.
    Windash,
    /// `fieldref`: the value names another field whose value must be equal.
    FieldRef,
    /// `expand`: `%name%` placeholders in the value stand for the lists of values configured
    /// (see [`crate::placeholder`]).
    Expand,
}

impl Modifier {
    fn parse(name: &str, after_re: bool) -> Option<Modifier> {
        Some(match name {
            "contains" => Modifier::Contains,
            "startswith" => Modifier::StartsWith,
            "endswith" => Modifier::EndsWith,
            "all" => Modifier::All,
            "re" => Modifier::Re,
            "i" if after_re => Modifier::ReCaseInsensitive,
            "m" if after_re => Modifier::ReMultiLine,
            "s" if after_re => Modifier::ReDotAll,
            "cidr" => Modifier::Cidr,
            "exists" => Modifier::Exists,
            "cased" => Modifier::Cased,
            "neq" => Modifier::Neq,
            "lt" => Modifier::Lt,
            "lte" => Modifier::Lte,
            "gt" => Modifier::Gt,
            "gte" => Modifier::Gte,
            "base64" => Modifier::Base64,
            "base64offset" => Modifier::Base64Offset,
            "windash" => Modifier::Windash,
            "fieldref" => Modifier::FieldRef,
            "expand" => Modifier::Expand,
            _ => return None,
        })
    }
}

/// `field|modifier|...` split into the field and its modifiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSpec {
    /// The field (empty for keyword searches).
    pub field: String,
    /// The modifiers, in order.
    pub modifiers: Vec<Modifier>,
}

impl FieldSpec {
    /// Parses a detection map key; the error names the unknown modifier.
    pub fn parse(key: &str) -> Result<FieldSpec, String> {
        let mut parts = key.split('|');
        let field = parts.next().unwrap_or_default().to_owned();
        let mut modifiers = Vec::new();
        for name in parts {
            let after_re = modifiers.contains(&Modifier::Re);
            let modifier = Modifier::parse(name, after_re)
                .ok_or_else(|| format!("unknown modifier {name:?} in {key:?}"))?;
            modifiers.push(modifier);
        }
        Ok(FieldSpec { field, modifiers })
    }

    fn has(&self, modifier: Modifier) -> bool {
        self.modifiers.contains(&modifier)
    }
}

/// What one value of a detection map tests on one leaf of the event.
#[derive(Debug, Clone)]
pub enum Pattern {
    /// A lone `*`: any value at all, objects and arrays included.
    Any,
    /// Equal text (lowercase unless cased).
    Exact(String),
    /// Text starting with.
    Prefix(String),
    /// Text ending with.
    Suffix(String),
    /// Text containing.
    Contains(String),
    /// Wildcards, as a regular expression over the folded text.
    Regex(Regex),
    /// A regular expression of the `re` modifier, over the text as it is (case-sensitive
    /// unless its `i` flag says otherwise).
    Re(Regex),
    /// A number equal (numbers, or text that reads as the number).
    Number(f64),
    /// A numeric comparison.
    Compare(Comparison, f64),
    /// An IP address inside the network.
    Cidr(IpNet),
}

/// Numeric comparison of the `lt`, `lte`, `gt`, `gte` modifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// `<`.
    Lt,
    /// `<=`.
    Lte,
    /// `>`.
    Gt,
    /// `>=`.
    Gte,
}

/// The compiled test of one field specification.
#[derive(Debug, Clone)]
pub enum ValueTest {
    /// The field is present (`true`) or absent (`false`).
    Exists(bool),
    /// The field is absent or null (`field: null`).
    Null,
    /// The field equals another field (`fieldref`), `cased` or not.
    FieldRef {
        /// The other field.
        other: String,
        /// Case-sensitive.
        cased: bool,
    },
    /// Values: each a set of alternatives (base64offset, windash); any value matches, or all
    /// of them with `all`. `negate` (`neq`) inverts each value's result.
    Values {
        /// Per value, its alternative patterns.
        values: Vec<Vec<Pattern>>,
        /// Every value must match.
        all: bool,
        /// Case-sensitive.
        cased: bool,
        /// `neq`.
        negate: bool,
        /// The same test as one literal set, when every value is an exact or `contains` text
        /// (the common case of long lists): a hash lookup and one Aho-Corasick scan per leaf.
        literals: Option<LiteralSet>,
    },
}

/// The values of a list searched at once: exact texts compared (or hashed), substrings with
/// one Aho-Corasick automaton, prefixes, suffixes and wildcards with one `RegexSet` over the
/// folded text, `re` expressions with one `RegexSet` over the text as it is.
#[derive(Debug, Clone)]
pub struct LiteralSet {
    exact: Vec<String>,
    exact_set: Option<std::collections::HashSet<String>>,
    contains: Option<aho_corasick::AhoCorasick>,
    folded_regexes: Option<regex::RegexSet>,
    raw_regexes: Option<regex::RegexSet>,
}

impl LiteralSet {
    /// A literal set of the values, when every pattern is an exact or `contains` text.
    pub fn build(values: &[Vec<Pattern>]) -> Option<LiteralSet> {
        let mut exact = Vec::new();
        let mut substrings = Vec::new();
        let mut folded = Vec::new();
        let mut raw = Vec::new();
        for pattern in values.iter().flatten() {
            match pattern {
                Pattern::Exact(s) => exact.push(s.clone()),
                Pattern::Contains(s) => substrings.push(s.clone()),
                Pattern::Prefix(s) => folded.push(format!("(?s)^{}", regex::escape(s))),
                Pattern::Suffix(s) => folded.push(format!("(?s){}$", regex::escape(s))),
                Pattern::Regex(re) => folded.push(re.as_str().to_owned()),
                Pattern::Re(re) => raw.push(re.as_str().to_owned()),
                _ => return None,
            }
        }
        let contains = if substrings.is_empty() {
            None
        } else {
            // Any match kind answers "is there a match" alike; leftmost-first lets the automaton
            // use its SIMD (Teddy) prefilter, several times faster than the standard kind's.
            Some(
                aho_corasick::AhoCorasick::builder()
                    .match_kind(aho_corasick::MatchKind::LeftmostFirst)
                    .build(&substrings)
                    .ok()?,
            )
        };
        let set = |patterns: Vec<String>| -> Option<Option<regex::RegexSet>> {
            if patterns.is_empty() {
                return Some(None);
            }
            regex::RegexSet::new(patterns).ok().map(Some)
        };
        let folded_regexes = set(folded)?;
        let raw_regexes = set(raw)?;
        // A few values compare faster one by one than through a hash.
        let exact_set = (exact.len() > 8).then(|| exact.drain(..).collect());
        Some(LiteralSet {
            exact,
            exact_set,
            contains,
            folded_regexes,
            raw_regexes,
        })
    }

    /// Whether the leaf matches one of the values; `folded` is its text as compared (see
    /// [`folded`]), `original` its text as it is.
    pub fn matches(&self, folded: &str, original: &str) -> bool {
        let exact = match &self.exact_set {
            Some(set) => set.contains(folded),
            None => self.exact.iter().any(|e| e == folded),
        };
        exact
            || self.contains.as_ref().is_some_and(|ac| ac.is_match(folded))
            || self
                .folded_regexes
                .as_ref()
                .is_some_and(|r| r.is_match(folded))
            || self
                .raw_regexes
                .as_ref()
                .is_some_and(|r| r.is_match(original))
    }
}

impl ValueTest {
    /// Compiles the values of a field specification (without placeholders: `expand` of a
    /// `%name%` is an error).
    pub fn compile(spec: &FieldSpec, values: &Value) -> Result<ValueTest, String> {
        ValueTest::compile_with(spec, values, &Placeholders::new())
    }

    /// Compiles the values of a field specification, the `%name%` placeholders of `expand`
    /// replaced by their values: each value of the rule becomes the alternatives it expands to,
    /// compiled as a literal list would be.
    pub fn compile_with(
        spec: &FieldSpec,
        values: &Value,
        placeholders: &Placeholders,
    ) -> Result<ValueTest, String> {
        let expand = spec.has(Modifier::Expand);
        if expand && (spec.has(Modifier::Exists) || spec.has(Modifier::FieldRef)) {
            return Err("expand does not apply to exists or fieldref".into());
        }
        if spec.has(Modifier::Exists) {
            return match values {
                Value::Bool(b) => Ok(ValueTest::Exists(*b)),
                Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(ValueTest::Exists(true)),
                Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(ValueTest::Exists(false)),
                other => Err(format!("exists takes true or false, not {other}")),
            };
        }
        let cased = spec.has(Modifier::Cased);
        if spec.has(Modifier::FieldRef) {
            let Value::String(other) = values else {
                return Err("fieldref takes the name of a field".into());
            };
            return Ok(ValueTest::FieldRef {
                other: other.clone(),
                cased,
            });
        }
        let list: Vec<&Value> = match values {
            Value::Array(items) => items.iter().collect(),
            Value::Null => return Ok(ValueTest::Null),
            single => vec![single],
        };
        let compiled = list
            .into_iter()
            .map(|value| match value {
                Value::String(text) if expand => {
                    let mut alternatives = Vec::new();
                    for expanded in crate::placeholder::expand(text, placeholders)? {
                        alternatives.extend(compile_value(spec, &Value::String(expanded), cased)?);
                    }
                    Ok(alternatives)
                }
                value => compile_value(spec, value, cased),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let all = spec.has(Modifier::All);
        let negate = spec.has(Modifier::Neq);
        let literals = if all || negate {
            None
        } else {
            LiteralSet::build(&compiled)
        };
        Ok(ValueTest::Values {
            values: compiled,
            all,
            cased,
            negate,
            literals,
        })
    }

    /// Whether the leaves found at the field (empty when absent) pass the test. `lowered`
    /// holds the lowercase text of each leaf (see [`folded`]); `other` resolves another field
    /// (for `fieldref`).
    pub fn matches<'a>(
        &self,
        leaves: &[&'a Value],
        lowered: &[Option<Cow<'a, str>>],
        other: impl Fn(&str) -> Vec<&'a Value>,
    ) -> bool {
        match self {
            ValueTest::Exists(wanted) => leaves.iter().any(|v| !v.is_null()) == *wanted,
            ValueTest::Null => leaves.iter().all(|v| v.is_null()),
            ValueTest::FieldRef { other: name, cased } => {
                let others = other(name);
                leaves.iter().any(|leaf| {
                    others.iter().any(|o| match (text(leaf), text(o)) {
                        (Some(a), Some(b)) if *cased => a == b,
                        (Some(a), Some(b)) => a.to_lowercase() == b.to_lowercase(),
                        _ => false,
                    })
                })
            }
            ValueTest::Values {
                cased,
                literals: Some(literals),
                ..
            } => leaves.iter().zip(lowered).any(|(leaf, lowered)| {
                let folded_text = match (*cased, lowered) {
                    (false, Some(lowered)) => Cow::Borrowed(lowered.as_ref()),
                    (false, None) => return false,
                    (true, _) => match folded(leaf, true) {
                        Some(text) => text,
                        None => return false,
                    },
                };
                let original = match leaf {
                    Value::String(s) => Cow::Borrowed(s.as_str()),
                    other => Cow::Owned(text(other).unwrap_or_default()),
                };
                literals.matches(&folded_text, &original)
            }),
            ValueTest::Values {
                values,
                all,
                cased,
                negate,
                ..
            } => {
                let cased_texts: Vec<Option<Cow<'_, str>>>;
                let lowered = if *cased {
                    cased_texts = leaves.iter().map(|leaf| folded(leaf, true)).collect();
                    &cased_texts
                } else {
                    lowered
                };
                let value_matches = |alternatives: &Vec<Pattern>| {
                    let hit = leaves.iter().zip(lowered).any(|(leaf, lowered)| {
                        alternatives
                            .iter()
                            .any(|p| pattern_matches(p, leaf, lowered.as_deref()))
                    });
                    hit != *negate
                };
                if *all {
                    values.iter().all(value_matches)
                } else {
                    values.iter().any(value_matches)
                }
            }
        }
    }
}

pub(crate) fn pattern_matches(pattern: &Pattern, leaf: &Value, lowered: Option<&str>) -> bool {
    match pattern {
        Pattern::Any => !leaf.is_null(),
        Pattern::Number(n) => number(leaf).is_some_and(|v| v == *n),
        Pattern::Compare(op, n) => number(leaf).is_some_and(|v| match op {
            Comparison::Lt => v < *n,
            Comparison::Lte => v <= *n,
            Comparison::Gt => v > *n,
            Comparison::Gte => v >= *n,
        }),
        Pattern::Cidr(net) => lowered
            .and_then(|t| t.parse::<IpAddr>().ok())
            .is_some_and(|ip| net.contains(&ip)),
        Pattern::Exact(s) => lowered == Some(s.as_str()),
        Pattern::Prefix(s) => lowered.is_some_and(|t| t.starts_with(s.as_str())),
        Pattern::Suffix(s) => lowered.is_some_and(|t| t.ends_with(s.as_str())),
        Pattern::Contains(s) => {
            lowered.is_some_and(|t| memchr::memmem::find(t.as_bytes(), s.as_bytes()).is_some())
        }
        Pattern::Regex(re) => lowered.is_some_and(|t| re.is_match(t)),
        Pattern::Re(re) => match leaf {
            Value::String(s) => re.is_match(s),
            other => text(other).is_some_and(|t| re.is_match(&t)),
        },
    }
}

/// The text of a leaf as compared: lowercase unless `cased`, borrowed when it already is.
pub fn folded(leaf: &Value, cased: bool) -> Option<Cow<'_, str>> {
    match leaf {
        Value::String(s) if cased => Some(Cow::Borrowed(s)),
        Value::String(s) if s.is_ascii() => Some(match s.bytes().any(|b| b.is_ascii_uppercase()) {
            true => Cow::Owned(s.to_ascii_lowercase()),
            false => Cow::Borrowed(s),
        }),
        Value::String(s) if !s.chars().any(char::is_uppercase) => Some(Cow::Borrowed(s)),
        Value::String(s) => Some(Cow::Owned(s.to_lowercase())),
        other => text(other).map(Cow::Owned),
    }
}

/// The text of a leaf: strings as they are, numbers and booleans as written in JSON.
pub fn text(leaf: &Value) -> Option<String> {
    match leaf {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn number(leaf: &Value) -> Option<f64> {
    match leaf {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn compile_value(spec: &FieldSpec, value: &Value, cased: bool) -> Result<Vec<Pattern>, String> {
    let comparison = [
        (Modifier::Lt, Comparison::Lt),
        (Modifier::Lte, Comparison::Lte),
        (Modifier::Gt, Comparison::Gt),
        (Modifier::Gte, Comparison::Gte),
    ]
    .into_iter()
    .find(|(m, _)| spec.has(*m));
    if let Some((_, op)) = comparison {
        let n = number(value).ok_or_else(|| format!("{value} is not a number"))?;
        return Ok(vec![Pattern::Compare(op, n)]);
    }
    if spec.has(Modifier::Cidr) {
        let text = text(value).unwrap_or_default();
        let net = text
            .parse::<IpNet>()
            .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
            .map_err(|_| format!("{text:?} is not a CIDR network"))?;
        return Ok(vec![Pattern::Cidr(net)]);
    }
    if let Value::Number(n) = value {
        if spec.modifiers.is_empty() || spec.modifiers == [Modifier::Neq] {
            return Ok(vec![Pattern::Number(n.as_f64().unwrap_or(f64::NAN))]);
        }
    }
    let raw = text(value).ok_or_else(|| format!("unsupported value {value}"))?;
    if spec.has(Modifier::Re) {
        // Flags go inline, so the pattern text alone (as a RegexSet takes it) says everything.
        let flags: String = [
            (Modifier::ReCaseInsensitive, 'i'),
            (Modifier::ReMultiLine, 'm'),
            (Modifier::ReDotAll, 's'),
        ]
        .into_iter()
        .filter(|(m, _)| spec.has(*m))
        .map(|(_, f)| f)
        .collect();
        let pattern = if flags.is_empty() {
            raw.clone()
        } else {
            format!("(?{flags}){raw}")
        };
        let regex =
            Regex::new(&pattern).map_err(|e| format!("invalid regular expression {raw:?}: {e}"))?;
        return Ok(vec![Pattern::Re(regex)]);
    }
    let mut variants = vec![raw];
    if spec.has(Modifier::Windash) {
        variants = windash_variants(&variants[0]);
    }
    if spec.has(Modifier::Base64) {
        variants = variants.iter().map(|v| base64_plain(v)).collect();
    } else if spec.has(Modifier::Base64Offset) {
        variants = variants.iter().flat_map(|v| base64_offsets(v)).collect();
    }
    let wrap = |v: String| -> String {
        let contains = spec.has(Modifier::Contains)
            || (spec.has(Modifier::Base64Offset) && !spec.has(Modifier::StartsWith));
        if contains {
            format!("*{v}*")
        } else if spec.has(Modifier::StartsWith) {
            format!("{v}*")
        } else if spec.has(Modifier::EndsWith) {
            format!("*{v}")
        } else {
            v
        }
    };
    variants
        .into_iter()
        .map(|v| wildcard_pattern(&wrap(v), cased))
        .collect()
}

/// Compiles a Sigma value with wildcards.
pub fn wildcard_pattern(value: &str, cased: bool) -> Result<Pattern, String> {
    let tokens = tokenize(value);
    if tokens == [Token::Star] {
        return Ok(Pattern::Any);
    }
    let fold = |s: String| if cased { s } else { s.to_lowercase() };
    let literal_only = |ts: &[Token]| ts.iter().all(|t| matches!(t, Token::Char(_)));
    let collect = |ts: &[Token]| -> String {
        ts.iter()
            .filter_map(|t| match t {
                Token::Char(c) => Some(*c),
                _ => None,
            })
            .collect()
    };
    let n = tokens.len();
    let starts_star = tokens.first() == Some(&Token::Star);
    let ends_star = n > 1 && tokens.last() == Some(&Token::Star);
    let inner_from = usize::from(starts_star);
    let inner_to = n - usize::from(ends_star);
    if inner_from <= inner_to && literal_only(&tokens[inner_from..inner_to]) {
        let literal = fold(collect(&tokens[inner_from..inner_to]));
        return Ok(match (starts_star, ends_star) {
            (false, false) => Pattern::Exact(literal),
            (false, true) => Pattern::Prefix(literal),
            (true, false) => Pattern::Suffix(literal),
            (true, true) => Pattern::Contains(literal),
        });
    }
    let mut regex = String::from("^");
    for token in &tokens {
        match token {
            Token::Star => regex.push_str(".*"),
            Token::Question => regex.push('.'),
            Token::Char(c) => regex.push_str(&regex::escape(&fold(c.to_string()))),
        }
    }
    regex.push('$');
    Regex::new(&format!("(?s){regex}"))
        .map(Pattern::Regex)
        .map_err(|e| format!("cannot compile {value:?}: {e}"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Char(char),
    Star,
    Question,
}

fn tokenize(value: &str) -> Vec<Token> {
    let mut tokens = Vec::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some(&next @ ('*' | '?' | '\\')) => {
                    chars.next();
                    tokens.push(Token::Char(next));
                }
                _ => tokens.push(Token::Char('\\')),
            },
            '*' => tokens.push(Token::Star),
            '?' => tokens.push(Token::Question),
            other => tokens.push(Token::Char(other)),
        }
    }
    tokens
}

fn windash_variants(value: &str) -> Vec<String> {
    let mut variants = vec![value.to_owned()];
    for dash in ['/', '\u{2013}', '\u{2014}', '\u{2015}'] {
        let variant: String = value
            .chars()
            .map(|c| if c == '-' { dash } else { c })
            .collect();
        if !variants.contains(&variant) {
            variants.push(variant);
        }
    }
    variants
}

fn base64_plain(value: &str) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(value)
        .trim_end_matches('=')
        .to_owned()
}

/// The three encodings of `value` at byte offsets 0, 1 and 2 of a base64 stream, keeping only
/// the characters that do not depend on the surrounding bytes (as pySigma computes them).
fn base64_offsets(value: &str) -> Vec<String> {
    const START: [usize; 3] = [0, 2, 3];
    const END_TRIM: [usize; 3] = [0, 3, 2];
    (0..3)
        .map(|offset| {
            let mut bytes = vec![b' '; offset];
            bytes.extend_from_slice(value.as_bytes());
            let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes);
            let end = encoded.len() - END_TRIM[(value.len() + offset) % 3];
            encoded[START[offset].min(end)..end].to_owned()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn test(key: &str, values: Value, leaf: Value) -> bool {
        let spec = FieldSpec::parse(key).unwrap();
        let compiled = ValueTest::compile(&spec, &values).unwrap();
        let leaves: Vec<&Value> = match &leaf {
            Value::Null => vec![],
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        let lowered: Vec<_> = leaves.iter().map(|leaf| folded(leaf, false)).collect();
        compiled.matches(&leaves, &lowered, |_| Vec::new())
    }

    #[test]
    fn plain_values_are_case_insensitive_and_exact() {
        assert!(test("verb", json!("CREATE"), json!("create")));
        assert!(!test("verb", json!("create"), json!("created")));
        assert!(!test("verb|cased", json!("CREATE"), json!("create")));
    }

    #[test]
    fn wildcards_and_escapes() {
        assert!(test("f", json!("a*c"), json!("abbbc")));
        assert!(test("f", json!("a?c"), json!("abc")));
        assert!(!test("f", json!("a?c"), json!("abbc")));
        assert!(test("f", json!("a\\*c"), json!("a*c")));
        assert!(!test("f", json!("a\\*c"), json!("abc")));
        assert!(test("f", json!("*"), json!("anything")));
    }

    #[test]
    fn string_modifiers() {
        assert!(test("f|contains", json!("/BIN/sh"), json!("x=/bin/sh;")));
        assert!(test(
            "f|startswith",
            json!("system:"),
            json!("system:anonymous")
        ));
        assert!(test(
            "f|endswith",
            json!(".sock"),
            json!("/run/docker.sock")
        ));
        assert!(!test("f|contains|all", json!(["a", "z"]), json!("abc")));
        assert!(test("f|contains|all", json!(["a", "c"]), json!("abc")));
    }

    #[test]
    fn numbers_lists_and_arrays() {
        assert!(test("code", json!([401, 403]), json!(403)));
        assert!(test("code", json!("403"), json!(403)));
        assert!(!test("code", json!([401, 403]), json!(200)));
        assert!(test("code|gte", json!(400), json!(404)));
        assert!(!test("code|lt", json!(400), json!(404)));
        assert!(test(
            "ips",
            json!("10.0.0.1"),
            json!(["1.1.1.1", "10.0.0.1"])
        ));
    }

    #[test]
    fn regex_cidr_exists_neq() {
        assert!(test("f|re", json!("^a.c$"), json!("abc")));
        assert!(!test("f|re", json!("^A"), json!("abc")));
        assert!(test("f|re|i", json!("^A"), json!("abc")));
        assert!(
            test("f|re", json!("^A"), json!("ABC")),
            "re is case-sensitive, on the text as is"
        );
        assert!(!test("f|re", json!("^a"), json!("ABC")));
        assert!(test("ip|cidr", json!("10.0.0.0/8"), json!("10.2.3.4")));
        assert!(!test("ip|cidr", json!("10.0.0.0/8"), json!("11.2.3.4")));
        assert!(test("f|exists", json!(true), json!("x")));
        assert!(test("f|exists", json!(false), Value::Null));
        assert!(test("f|neq", json!("a"), json!("b")));
        assert!(!test("f|neq", json!("a"), json!("A")));
        assert!(test("f", Value::Null, Value::Null));
    }

    #[test]
    fn value_lists_searched_at_once_keep_each_pattern_kind() {
        let list = json!(["exact", "pre*", "*suf", "*mid*", "a?c*d"]);
        for (leaf, expected) in [
            ("EXACT", true),
            ("prefix here", true),
            ("the suf", true),
            ("a mid b", true),
            ("abcxd", true),
            ("exactly", false),
            ("xpre", false),
            ("sufx", false),
            ("ac", false),
        ] {
            assert_eq!(test("f", list.clone(), json!(leaf)), expected, "{leaf}");
        }
        let res = json!(["^A", "b$"]);
        assert!(test("f|re", res.clone(), json!("Abc")));
        assert!(
            !test("f|re", res.clone(), json!("abc")),
            "re stays case-sensitive in a set"
        );
        assert!(test("f|re", res, json!("xxb")));
        assert!(test(
            "f|startswith",
            json!(["/bin/", "/usr/bin/"]),
            json!("/USR/bin/curl")
        ));
        assert!(test("code", json!([401, 403]), json!(401)));
    }

    #[test]
    fn encodings() {
        // "ping" -> cGluZw
        assert!(test(
            "f|base64|contains",
            json!("ping"),
            json!("xx cGluZw yy")
        ));
        // Whatever the offset of "whoami" in the encoded stream, one variant is found.
        for prefix in ["", "a", "ab"] {
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{prefix}whoami now"));
            assert!(
                test("f|base64offset|contains", json!("whoami"), json!(encoded)),
                "{prefix:?} {encoded}"
            );
        }
        assert!(test(
            "f|windash|contains",
            json!("-enc"),
            json!("ps /enc x")
        ));
        assert!(test(
            "f|windash|contains",
            json!("-enc"),
            json!("ps \u{2013}enc x")
        ));
    }

    fn placeholders() -> Placeholders {
        let mut p = Placeholders::new();
        p.insert("users", vec!["admin".into(), "system:*".into()]);
        p.insert("dirs", vec!["/etc/".into(), "/root/".into()]);
        p.insert("words", vec!["alpha".into(), "beta".into()]);
        p.insert("nets", vec!["10.0.0.0/8".into()]);
        p.insert("none", vec![]);
        p
    }

    fn test_expanded(key: &str, values: Value, leaf: Value) -> bool {
        let spec = FieldSpec::parse(key).unwrap();
        let compiled = ValueTest::compile_with(&spec, &values, &placeholders()).unwrap();
        let leaves: Vec<&Value> = match &leaf {
            Value::Null => vec![],
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        let lowered: Vec<_> = leaves.iter().map(|leaf| folded(leaf, false)).collect();
        compiled.matches(&leaves, &lowered, |_| Vec::new())
    }

    #[test]
    fn expand_matches_any_value_of_the_list_with_wildcards() {
        assert!(test_expanded(
            "user|expand",
            json!("%users%"),
            json!("Admin")
        ));
        assert!(test_expanded(
            "user|expand",
            json!("%users%"),
            json!("system:kube-scheduler")
        ));
        assert!(!test_expanded(
            "user|expand",
            json!("%users%"),
            json!("alice")
        ));
        assert!(!test_expanded(
            "user|expand",
            json!("%users%"),
            json!("admin2")
        ));
        // Text around the placeholder, and literal values beside it in the list.
        assert!(test_expanded(
            "user|expand",
            json!(["u-%words%", "carol"]),
            json!("u-beta")
        ));
        assert!(test_expanded(
            "user|expand",
            json!(["u-%words%", "carol"]),
            json!("carol")
        ));
        // A % that is not a placeholder is literal.
        assert!(test_expanded("f|expand", json!("100%"), json!("100%")));
    }

    #[test]
    fn expand_combines_with_other_modifiers() {
        for key in ["path|expand|startswith", "path|startswith|expand"] {
            assert!(
                test_expanded(key, json!("%dirs%"), json!("/root/.ssh")),
                "{key}"
            );
            assert!(
                !test_expanded(key, json!("%dirs%"), json!("/home/root/")),
                "{key}"
            );
        }
        assert!(test_expanded(
            "f|expand|contains",
            json!("%words%"),
            json!("xx BETA yy")
        ));
        assert!(test_expanded(
            "f|expand|endswith",
            json!("%words%"),
            json!("the alpha")
        ));
        assert!(test_expanded(
            "ip|expand|cidr",
            json!("%nets%"),
            json!("10.1.2.3")
        ));
        assert!(!test_expanded(
            "ip|expand|cidr",
            json!("%nets%"),
            json!("192.168.1.1")
        ));
        assert!(!test_expanded(
            "user|expand|cased",
            json!("%users%"),
            json!("ADMIN")
        ));
    }

    #[test]
    fn expand_with_all_needs_each_rule_value_the_list_alternatives() {
        // (alpha or beta) and /etc/
        let values = json!(["%words%", "/etc/"]);
        assert!(test_expanded(
            "f|expand|contains|all",
            values.clone(),
            json!("beta in /etc/x")
        ));
        assert!(!test_expanded(
            "f|expand|contains|all",
            values.clone(),
            json!("beta in /root/x")
        ));
        assert!(!test_expanded(
            "f|expand|contains|all",
            values,
            json!("gamma in /etc/x")
        ));
    }

    #[test]
    fn an_empty_list_matches_nothing() {
        for key in ["f|expand", "f|expand|contains", "f|expand|contains|all"] {
            for leaf in [json!(""), json!("anything"), json!(["a", "b"])] {
                assert!(
                    !test_expanded(key, json!("%none%"), leaf.clone()),
                    "{key} {leaf}"
                );
            }
        }
        // Beside other values, the empty list adds nothing.
        assert!(test_expanded(
            "f|expand",
            json!(["%none%", "x"]),
            json!("x")
        ));
    }

    #[test]
    fn unknown_placeholders_and_misuse_are_errors() {
        let spec = FieldSpec::parse("user|expand").unwrap();
        let err = ValueTest::compile_with(&spec, &json!("%nobody%"), &placeholders()).unwrap_err();
        assert!(err.contains("%nobody%"), "{err}");
        // Without expand, %name% is literal text.
        assert!(test("user", json!("%users%"), json!("%users%")));
        let spec = FieldSpec::parse("f|expand|exists").unwrap();
        assert!(ValueTest::compile_with(&spec, &json!(true), &placeholders()).is_err());
    }

    #[test]
    fn bad_specifications_are_explained() {
        assert!(FieldSpec::parse("f|frobnicate")
            .unwrap_err()
            .contains("frobnicate"));
        let spec = FieldSpec::parse("f|re").unwrap();
        assert!(ValueTest::compile(&spec, &json!("(")).is_err());
    }
}
