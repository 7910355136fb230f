//! Text helpers shared by parsing and evaluation: word tokenization of text
//! fields and translation of wildcard patterns to regular expressions.

/// Splits `text` into lowercase tokens: maximal runs of alphanumeric
/// characters (Unicode-aware); everything else separates tokens.
///
/// ```
/// use kestrel_query::language::tokenize;
/// assert_eq!(tokenize("dial tcp 10.0.0.1:443: Connection-Refused"),
///            ["dial", "tcp", "10", "0", "0", "1", "443", "connection", "refused"]);
/// ```
pub fn tokenize(text: &str) -> Vec<String> {
    tokens(text).map(str::to_lowercase).collect()
}

/// The tokens of `text` as slices, not lowercased.
pub(crate) fn tokens(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
}

/// Translates a [`Wildcard`](super::Query::Wildcard) pattern to an
/// equivalent regular expression, without anchors (as Tantivy's
/// `RegexQuery` expects): `*` becomes `.*`, `?` becomes `.`, and every other
/// character, including `\*`, `\?` and `\\`, is matched literally.
///
/// ```
/// use kestrel_query::language::wildcard_to_regex;
/// assert_eq!(wildcard_to_regex("kube-*.io?"), r"kube\-.*\.io.");
/// assert_eq!(wildcard_to_regex(r"a\*b"), r"a\*b");
/// ```
pub fn wildcard_to_regex(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() * 2);
    let mut chars = pattern.chars();
    let mut buf = [0u8; 4];
    while let Some(c) = chars.next() {
        match c {
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            '\\' => {
                let literal = chars.next().unwrap_or('\\');
                out.push_str(&regex::escape(literal.encode_utf8(&mut buf)));
            }
            _ => out.push_str(&regex::escape(c.encode_utf8(&mut buf))),
        }
    }
    out
}

/// Wraps a pattern so that it must match a whole value, as in Lucene.
fn anchor(pattern: &str) -> String {
    format!(r"\A(?:{pattern})\z")
}

/// Largest compiled program of a pattern of the language (the `regex` crate's `size_limit`).
/// Compiling costs time in proportion to the program, and a short pattern can ask for a large
/// one (`/(\w{50}){10}/`, 26 bytes, took 100 ms to be refused under the crate's default of
/// 10 MiB), so the query language refuses anything larger than the API's default
/// `query.limits.max_regex_bytes`.
pub const MAX_PATTERN_PROGRAM_BYTES: usize = 1 << 20;

/// Compiles a [`Regex`](super::Query::Regex) pattern the way it is
/// evaluated: anchored to the whole value and case-insensitive.
pub(crate) fn compile_regex(pattern: &str) -> Result<regex::Regex, regex::Error> {
    regex::RegexBuilder::new(&anchor(pattern))
        .case_insensitive(true)
        .size_limit(MAX_PATTERN_PROGRAM_BYTES)
        .build()
}

/// Compiles a [`Wildcard`](super::Query::Wildcard) pattern: anchored,
/// case-insensitive, and `*`/`?` also match line breaks.
pub(crate) fn compile_wildcard(pattern: &str) -> Result<regex::Regex, regex::Error> {
    regex::RegexBuilder::new(&anchor(&wildcard_to_regex(pattern)))
        .case_insensitive(true)
        .dot_matches_new_line(true)
        .size_limit(MAX_PATTERN_PROGRAM_BYTES)
        .build()
}
