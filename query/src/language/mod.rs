//! The Kestrel query language: a Lucene-style syntax parsed into one AST,
//! [`Query`], that the search engine translates to Tantivy queries and the
//! detection engine evaluates on JSON events ([`Query::matches`]).
//!
//! ```
//! use kestrel_query::language::parse;
//! use serde_json::json;
//!
//! let query = parse(r#"objectRef.resource:secrets verb:(get OR list) -user.username:"system:admin""#)?;
//! let event = json!({
//!     "verb": "get",
//!     "objectRef": {"resource": "secrets"},
//!     "user": {"username": "system:anonymous"},
//! });
//! assert!(query.matches(&event));
//! # Ok::<(), kestrel_query::language::ParseError>(())
//! ```
//!
//! # Syntax
//!
//! Field names are dotted paths into the event (`user.username`,
//! `container.labels.app`). Without a field, terms and phrases search the
//! default text field [`DEFAULT_FIELD`] (`message`).
//!
//! | form | example | parses to |
//! |---|---|---|
//! | free-text word | `error` | [`Query::Term`] on `message` |
//! | free-text phrase | `"connection refused"` | [`Query::Phrase`] on `message` |
//! | field value | `objectRef.resource:secrets`, `sourceIPs:10.0.0.1`, `requestURI:/api/v1/pods` | [`Query::Term`] |
//! | quoted field value | `user.username:"system:anonymous"` | [`Query::Phrase`] |
//! | wildcard | `userAgent:*curl*`, `kube-?roxy`, `*ing` | [`Query::Wildcard`] |
//! | existence | `objectRef.subresource:*` | [`Query::Exists`] |
//! | match all | `*` (or `*:*`) | [`Query::All`] |
//! | regex | `userAgent:/kubectl\/v1\..*/`, `/err(or\|no)/` | [`Query::Regex`] |
//! | range | `responseStatus.code:[400 TO 499]`, `{a TO b}`, `[a TO b}`, `[* TO 5]` | [`Query::Range`] |
//! | comparison | `responseStatus.code:>=500`, `@timestamp:>now-1h`, `<`, `<=`, `>` | [`Query::Range`] |
//! | set | `verb:IN [create patch update]`, `user.username:IN ["system:anonymous" admin]` | [`Query::In`] |
//! | and | `a AND b`, `a && b`, `a b` (juxtaposition) | [`Query::And`] |
//! | or | `a OR b`, `a \|\| b` | [`Query::Or`] |
//! | not | `NOT a`, `!a`, `-a` | [`Query::Not`] |
//! | required | `+a` (same as `a`, since juxtaposition already means AND) | `a` |
//! | grouping | `(a OR b) c`, field group `verb:(get OR list)` | |
//!
//! ## Words, quotes and escapes
//!
//! * An unquoted word is a run of characters other than whitespace and
//!   `( ) [ ] { } "`. A backslash escapes the next character, whatever it is:
//!   `a\ b` is the word `a b`, `\(x\)` is `(x)`.
//! * A word cannot *start* with `+ - ! & | :` (`-` and `+` glued to a word
//!   are operators, `!` is NOT); escape them (`\-x`) or quote the text. Inside a
//!   word they are ordinary characters: `kube-system`, `a&&b` and `a||b` are
//!   single words, so `&&` and `||` need whitespace or parentheses around them.
//! * `AND`, `OR` and `NOT` are operators only when written in capitals as a
//!   whole word (`and` is a word); write `\AND` or `"AND"` to search for them.
//!   `TO` is only special inside a range and `IN` only right after `field:`.
//! * A phrase is `"..."` where `\"` is a quote and `\\` a backslash (any other
//!   `\x` is `x`). On a keyword field a phrase is the whole value, so
//!   `user.username:"system:anonymous"` and `user.username:system:anonymous`
//!   are equivalent there; on a text field it means consecutive words.
//!
//! ## Fields and colons
//!
//! * The **first unescaped `:`** of a word separates the field from the value;
//!   any later colon belongs to the value. So `user.username:system:anonymous`,
//!   `sourceIPs:fe80::1` and `@timestamp:2024-01-01T00:00:00Z` need no quotes.
//!   Unquoted values may contain `.` `-` `/` `@` `:` and any other character
//!   except the structural ones above.
//! * Free text containing a colon must be escaped or quoted: `"fe80::1"`,
//!   `a\:b` (otherwise `a` would be a field name).
//! * Field names may contain `.`, `/`, `@`, `-` (`container.labels.app.kubernetes.io/name`)
//!   but no unescaped `*` or `?`.
//! * Whitespace is allowed after the colon: `verb: get`, `code:>= 500`.
//! * After `field:`, a value starting with `>=`, `>`, `<=` or `<` is a
//!   comparison; escape or quote it to search the text (`image:\<none>`).
//!   Free text `<none>` is an ordinary word.
//!
//! ## Boolean operators
//!
//! Precedence is `NOT` (also `!`, `-`) over `AND` (also `&&` and
//! juxtaposition) over `OR` (also `||`): `a OR b c` is `a OR (b AND c)`,
//! `NOT a b` is `(NOT a) AND b`. `-` and `+` must be glued to their operand
//! (`-verb:get`, `-(a OR b)`); `NOT` and `!` may be followed by whitespace. A
//! query that is only negative (`NOT a`) matches everything but `a`.
//!
//! A field before parentheses applies to everything inside that has no field
//! of its own: `verb:(get OR list)` is `verb:get OR verb:list`, and ranges,
//! comparisons, sets and `*` work inside too: `code:([200 TO 299] OR >=500)`.
//!
//! ## Wildcards and existence
//!
//! `*` matches any run of characters (also none) and `?` exactly one, anywhere
//! in a word, including at the start (`userAgent:*curl*`). `\*` and `\?` are
//! literal. A value of just `*` tests existence (`field:*`: present and not
//! null); a lone `*` matches everything. Wildcards are not expanded in phrases
//! or sets.
//!
//! ## Regular expressions
//!
//! `field:/pattern/` (or `/pattern/` on the default field) uses the syntax of
//! the `regex` crate, must match the **whole** value (as in Lucene:
//! `/err.*/`, not `/err/`, for a prefix) and, like every comparison on
//! keyword fields, is case-insensitive (the search index stores keywords
//! lowercased). The pattern is checked when parsing.
//!
//! * Inside the slashes, write `/` as `\/` and whitespace as `\ ` (or use
//!   `\s`): the body cannot contain raw whitespace, so
//!   `requestURI:/healthz OR requestURI:/readyz` stays two paths. A regex
//!   written with raw whitespace (`message:/retrying in 5s/`) is reported as
//!   an error rather than read as several words.
//! * A word starting with `/` is a regex only when its closing slash ends the
//!   token (followed by whitespace, `)` or the end). `requestURI:/api/v1/pods`
//!   and `requestURI:/healthz` are terms; `requestURI:/api/` is the regex `api`.
//!   To search for a path that starts and ends with a slash, escape the first
//!   one or quote it: `requestURI:\/api/`.
//!
//! ## Ranges and comparisons
//!
//! `field:[lower TO upper]` includes both ends, `{...}` excludes them, and
//! the brackets can be mixed (`[400 TO 500}`). `*` is an open end. Bounds are
//! words or phrases, and `-5` is a negative number. Each bound is typed (see
//! [`RangeValue`]): a finite **number** (`400`, `-1.5`, `1e3`), a **time**
//! (RFC 3339 with any offset, a `YYYY-MM-DD` date, or `now`, `now-15m`,
//! `now+30s` with units `s m h d w`; see [`parse_time`]), or **text**. Both
//! bounds must have the same type and the lower must not exceed the upper.
//! `field:>=v`, `>v`, `<=v`, `<v` are half-open ranges.
//!
//! ```
//! use kestrel_query::language::parse;
//! assert_eq!(
//!     parse("@timestamp:[2024-01-01T00:00:00Z TO now] responseStatus.code:>=500")?.to_string(),
//!     "@timestamp:[2024-01-01T00:00:00Z TO now] AND responseStatus.code:>=500"
//! );
//! # Ok::<(), kestrel_query::language::ParseError>(())
//! ```
//!
//! ## Sets
//!
//! `field:IN [v1 v2 ...]` matches when the field equals any member. Members
//! are words or phrases separated by whitespace and/or commas; `*` and `?`
//! are literal there. The list cannot be empty.
//!
//! # Errors
//!
//! [`parse`] returns a [`ParseError`] with the character position and what
//! was expected:
//!
//! ```
//! use kestrel_query::language::parse;
//! let message = |q: &str| parse(q).map(|_| String::new()).unwrap_or_else(|e| e.to_string());
//! assert_eq!(message(""), "at position 0: expected a query, found end of query");
//! assert_eq!(message("(a OR b"), "at position 7: expected \")\" to close the \"(\" at position 0, found end of query");
//! assert_eq!(message("a AND"), "at position 5: expected a term after \"AND\", found end of query");
//! assert_eq!(message("code:[400 499]"), "at position 10: expected \"TO\", found \"499\"");
//! assert_eq!(message("msg:\"refused"), "at position 12: expected '\"' to close the phrase opened at position 4, found end of query");
//! assert_eq!(message("f:/a(/"), "at position 4: expected a valid regular expression, found unclosed group");
//! ```
//!
//! # Canonical form
//!
//! `Display` on [`Query`] prints explicit operators, expands field groups and
//! adds parentheses only where precedence needs them; parsing that text gives
//! back the same tree:
//!
//! ```
//! use kestrel_query::language::parse;
//! let q = parse("verb:(get OR list) -user.username:\"system:anonymous\" code:{* TO 500}")?;
//! let text = q.to_string();
//! assert_eq!(text, "(verb:get OR verb:list) AND NOT user.username:\"system:anonymous\" AND code:<500");
//! assert_eq!(parse(&text)?, q);
//! # Ok::<(), kestrel_query::language::ParseError>(())
//! ```
//!
//! # Evaluation
//!
//! [`Query::matches`] (or a reusable [`Matcher`]) evaluates a query on a
//! `serde_json::Value`. Dotted paths go through nested objects and arrays
//! (keys containing dots are tried longest first) and an array matches when
//! any element does. Text fields (by default only `message`) match
//! case-insensitively by words; other fields are keywords compared whole and
//! case-insensitively, numerically when both sides are numbers and as instants
//! when both are timestamps. [`Matcher`] documents the exact rules.

#![warn(missing_docs)]

mod ast;
mod display;
mod error;
mod escape;
mod eval;
mod lexer;
mod parser;
mod path;
mod text;
mod time;
mod value;

#[cfg(test)]
mod tests;

pub use ast::{Query, DEFAULT_FIELD};
pub use error::{ParseError, TimeError};
pub use eval::{MatchOptions, Matcher};
pub use parser::{parse, parse_lucene, MAX_DEPTH};
pub use text::{tokenize, wildcard_to_regex};
pub use time::{parse_time, TimeValue};
pub use value::{RangeValue, TypedValue};
