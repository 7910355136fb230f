//! Backslash escapes: removing them from query text (parser side) and adding
//! them back (canonical [`Display`](std::fmt::Display) side).

/// Characters that end an unquoted word anywhere in it.
fn is_structural(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | '{' | '}' | '"' | '\\')
}

/// Characters that cannot start an unquoted word.
fn is_bad_word_start(c: char) -> bool {
    matches!(c, '+' | '-' | '!' | '&' | '|' | ':')
}

/// Byte index of the first occurrence of `target` that is not escaped.
pub(crate) fn first_unescaped(raw: &str, target: char) -> Option<usize> {
    let mut chars = raw.char_indices();
    while let Some((i, c)) = chars.next() {
        if c == '\\' {
            chars.next();
        } else if c == target {
            return Some(i);
        }
    }
    None
}

/// Whether `raw` contains an unescaped `*` or `?`.
pub(crate) fn has_unescaped_wildcard(raw: &str) -> bool {
    first_unescaped(raw, '*').is_some() || first_unescaped(raw, '?').is_some()
}

/// Removes escapes: `\x` becomes `x` for any character `x`.
pub(crate) fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Removes escapes except `\*`, `\?` and `\\`, which stay as the literal
/// markers of a wildcard pattern.
pub(crate) fn unescape_wildcard(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                if matches!(next, '*' | '?' | '\\') {
                    out.push('\\');
                }
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Turns the body of `/.../` into a regex pattern: `\/` becomes `/` and an
/// escaped whitespace becomes that whitespace; other escapes are kept for the
/// regex engine. Also returns, for each byte of the pattern, the byte offset
/// in `body` it came from.
pub(crate) fn unescape_regex(body: &str) -> (String, Vec<usize>) {
    let mut out = String::with_capacity(body.len());
    let mut origin = Vec::with_capacity(body.len());
    let mut push = |out: &mut String, c: char, at: usize| {
        out.push(c);
        origin.extend(std::iter::repeat_n(at, c.len_utf8()));
    };
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some((j, next)) if next == '/' || next.is_whitespace() => push(&mut out, next, j),
                Some((j, next)) => {
                    push(&mut out, '\\', i);
                    push(&mut out, next, j);
                }
                None => push(&mut out, '\\', i),
            }
        } else {
            push(&mut out, c, i);
        }
    }
    (out, origin)
}

/// Escapes one character of an unquoted value or pattern (not `*`/`?`).
fn push_escaped(out: &mut String, c: char, first: bool, fielded: bool) {
    let needs = is_structural(c)
        || matches!(c, '*' | '?')
        || (!fielded && c == ':')
        || (first && !fielded && is_bad_word_start(c))
        || (first && fielded && matches!(c, '<' | '>'));
    if needs {
        out.push('\\');
    }
    out.push(c);
}

/// Escapes a [`Term`](super::Query::Term) value so that it reads back as the
/// same term; `fielded` tells whether it follows `field:`.
///
/// A final `/` is always escaped, so that no printed word can close a regex
/// (`/api/` prints as `/api\/`, not the regex `api`).
pub(crate) fn escape_value(value: &str, fielded: bool) -> String {
    if value.is_empty() {
        return "\"\"".to_string();
    }
    let keyword = if fielded {
        value == "IN"
    } else {
        matches!(value, "AND" | "OR" | "NOT")
    };
    let mut out = String::with_capacity(value.len() + 2);
    if keyword {
        out.push('\\');
    }
    let last = value.chars().count() - 1;
    for (i, c) in value.chars().enumerate() {
        if i == 0 && keyword {
            out.push(c);
        } else if i == last && c == '/' {
            out.push_str("\\/");
        } else {
            push_escaped(&mut out, c, i == 0, fielded);
        }
    }
    out
}

/// Escapes a [`Wildcard`](super::Query::Wildcard) pattern, keeping its
/// unescaped `*`/`?` and its `\*`, `\?`, `\\` markers; a final `/` is
/// escaped as in [`escape_value`].
pub(crate) fn escape_pattern(pattern: &str, fielded: bool) -> String {
    let mut out = String::with_capacity(pattern.len() + 2);
    let last = pattern.chars().count().saturating_sub(1);
    let mut chars = pattern.chars().enumerate();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                out.push('\\');
                out.push(chars.next().map_or('\\', |(_, n)| n));
            }
            '*' | '?' => out.push(c),
            '/' if i == last => out.push_str("\\/"),
            _ => push_escaped(&mut out, c, i == 0, fielded),
        }
    }
    out
}

/// Escapes a field name so that it reads back as the same field.
pub(crate) fn escape_field(field: &str) -> String {
    let mut out = String::with_capacity(field.len() + 2);
    for (i, c) in field.chars().enumerate() {
        let needs = is_structural(c)
            || matches!(c, ':' | '*' | '?')
            || (i == 0 && (is_bad_word_start(c) || c == '/'));
        if needs {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Escapes a regex pattern for writing between slashes.
pub(crate) fn escape_regex(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 2);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.push('\\');
            out.push(chars.next().unwrap_or('\\'));
        } else if c == '/' || c.is_whitespace() {
            out.push('\\');
            out.push(c);
        } else {
            out.push(c);
        }
    }
    out
}

/// Writes `text` between double quotes, escaping `"` and `\`.
pub(crate) fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Writes a range bound or set member bare when it is a simple word
/// (`400`, `now-1h`, `2024-01-01T00:00:00+02:00`, `-5`), quoted otherwise.
pub(crate) fn bare_or_quoted(text: &str) -> String {
    let simple_char = |c: char| c.is_alphanumeric() || matches!(c, '_' | '.' | '@');
    let mut chars = text.chars();
    let plain = match chars.next() {
        Some('-') => chars.next().is_some_and(simple_char),
        Some(c) => simple_char(c),
        None => false,
    } && text
        .chars()
        .all(|c| simple_char(c) || matches!(c, ':' | '/' | '+' | '-'))
        && !text.ends_with('/')
        && text != "TO";
    if plain {
        text.to_string()
    } else {
        quote(text)
    }
}
