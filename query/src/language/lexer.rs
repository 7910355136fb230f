//! Splits query text into tokens with [`logos`].
//!
//! The lexer is context-free; the parser gives meaning to words (keywords,
//! `field:value` splitting, comparisons).
//!
//! * A word is a run of characters other than whitespace, `( ) [ ] { } "`
//!   and `\` (which escapes the next character, any character); it cannot
//!   start with `+ - ! & | :`, which are operators or errors there.
//! * A word that starts with `/`, or whose value (after the first unescaped
//!   `:`) does, becomes a regex token `/body/` or `field:/body/` when the
//!   closing slash of the body comes at or after the end of the word; the
//!   body may hold `( ) [ ] { } "` but no unescaped whitespace or `/`. So
//!   `requestURI:/api/v1/pods` stays a word (its first closing slash is inside
//!   it) while `userAgent:/curl.*/` and `f:/a(b|c)/` are regexes.
//! * `"..."` is a phrase (`\"` and `\\` inside), `"...` without its closing
//!   quote an unterminated phrase.

use logos::Logos;

use super::escape::first_unescaped;

/// Token kinds as produced by logos; whitespace is skipped.
#[derive(Logos, Debug, Clone, Copy, PartialEq, Eq)]
#[logos(skip r"\s+")]
enum Raw {
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token("&&")]
    AndAnd,
    #[token("||")]
    OrOr,
    #[token("!")]
    Bang,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[regex(r#""([^"\\]|\\.|\\\n)*""#)]
    Quoted,
    #[regex(r#""([^"\\]|\\.|\\\n)*\\?"#)]
    UnterminatedQuote,
    #[regex(
        r#"([^\s()\[\]{}"\\+\-!&|:]|\\.|\\\n)([^\s()\[\]{}"\\]|\\.|\\\n)*"#,
        word_shape
    )]
    Word(Shape),
}

/// What a word turned out to be once regex bodies are taken into account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Plain,
    /// `field:/body/`
    FieldRegex,
    /// `/body/`
    Regex,
}

/// Extends a word into a regex when it starts with `/` (or its value, after
/// the first unescaped `:`, does) and the regex closing slash comes at or
/// after the end of the word: the longest match wins, the regex on a tie.
///
/// Done here rather than as a logos pattern because a failed longer regex
/// alternative (`f:/a(b` at the end of the query) must fall back to the
/// shorter word, and logos does not backtrack across variants.
fn word_shape(lex: &mut logos::Lexer<Raw>) -> Shape {
    let slice = lex.slice();
    let value_start = if slice.starts_with('/') {
        Some(0)
    } else {
        first_unescaped(slice, ':')
            .map(|i| i + 1)
            .filter(|&i| slice[i..].starts_with('/'))
    };
    let Some(value_start) = value_start else {
        return Shape::Plain;
    };
    let span = lex.span();
    let from = lex.source().get(span.start + value_start..).unwrap_or("");
    match regex_len(from) {
        Some(len) if span.start + value_start + len >= span.end => {
            lex.bump(span.start + value_start + len - span.end);
            if value_start == 0 {
                Shape::Regex
            } else {
                Shape::FieldRegex
            }
        }
        _ => Shape::Plain,
    }
}

/// The length of a `/body/` regex at the start of `text`: the body may hold
/// escapes (`\x`) but no unescaped whitespace or `/`.
fn regex_len(text: &str) -> Option<usize> {
    let mut chars = text.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next()?;
            }
            '/' => return Some(i + 1),
            c if c.is_whitespace() => return None,
            _ => {}
        }
    }
    None
}

/// What a [`Token`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    /// `&&`
    AndAnd,
    /// `||`
    OrOr,
    /// `!`
    Bang,
    /// `+` directly before a term.
    Plus,
    /// `-` directly before a term.
    Minus,
    /// `"..."` including the quotes.
    Quoted,
    /// `"...` running to the end of the query.
    UnterminatedQuote,
    /// An unquoted word, possibly `field:value`; escapes still in place.
    Word,
    /// `field:/regex/`.
    FieldRegex,
    /// `/regex/`.
    Regex,
    /// A character that cannot start any token (`&`, `|`, `:`, a final `\`).
    Invalid,
    /// The end of the query.
    Eof,
}

/// A token and its byte span in the query text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

/// Tokenizes `src`; the result always ends with one [`Kind::Eof`] token.
pub(crate) fn tokenize(src: &str) -> Vec<Token> {
    let mut tokens: Vec<Token> = Raw::lexer(src)
        .spanned()
        .map(|(raw, span)| Token {
            kind: raw.map_or(Kind::Invalid, kind_of),
            start: span.start,
            end: span.end,
        })
        .collect();
    tokens.push(Token {
        kind: Kind::Eof,
        start: src.len(),
        end: src.len(),
    });
    tokens
}

fn kind_of(raw: Raw) -> Kind {
    match raw {
        Raw::LParen => Kind::LParen,
        Raw::RParen => Kind::RParen,
        Raw::LBracket => Kind::LBracket,
        Raw::RBracket => Kind::RBracket,
        Raw::LBrace => Kind::LBrace,
        Raw::RBrace => Kind::RBrace,
        Raw::AndAnd => Kind::AndAnd,
        Raw::OrOr => Kind::OrOr,
        Raw::Bang => Kind::Bang,
        Raw::Plus => Kind::Plus,
        Raw::Minus => Kind::Minus,
        Raw::Quoted => Kind::Quoted,
        Raw::UnterminatedQuote => Kind::UnterminatedQuote,
        Raw::Word(Shape::Plain) => Kind::Word,
        Raw::Word(Shape::FieldRegex) => Kind::FieldRegex,
        Raw::Word(Shape::Regex) => Kind::Regex,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<(Kind, &str)> {
        tokenize(src)
            .into_iter()
            .map(|t| (t.kind, &src[t.start..t.end]))
            .collect()
    }

    #[test]
    fn paths_are_words_and_slashed_tokens_are_regexes() {
        assert_eq!(
            kinds("requestURI:/api/v1/pods"),
            [(Kind::Word, "requestURI:/api/v1/pods"), (Kind::Eof, "")]
        );
        assert_eq!(
            kinds("f:/err(or|no)/ x")[0],
            (Kind::FieldRegex, "f:/err(or|no)/")
        );
        assert_eq!(kinds("/a/ b")[0], (Kind::Regex, "/a/"));
        assert_eq!(kinds("/a/b")[0], (Kind::Word, "/a/b"));
        assert_eq!(
            kinds("requestURI:/healthz OR requestURI:/readyz")[0],
            (Kind::Word, "requestURI:/healthz")
        );
    }

    #[test]
    fn operators_quotes_and_invalid_characters() {
        let got: Vec<Kind> = kinds("a && b || !c -d +e \"x\\\"\" \"open & | :z")
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(
            got,
            [
                Kind::Word,
                Kind::AndAnd,
                Kind::Word,
                Kind::OrOr,
                Kind::Bang,
                Kind::Word,
                Kind::Minus,
                Kind::Word,
                Kind::Plus,
                Kind::Word,
                Kind::Quoted,
                Kind::UnterminatedQuote,
                Kind::Eof
            ]
        );
        assert_eq!(kinds("& | :z")[0], (Kind::Invalid, "&"));
        assert_eq!(kinds("a\\")[1], (Kind::Invalid, "\\"));
        assert_eq!(kinds("msg:/err(or")[0], (Kind::Word, "msg:/err"));
        assert_eq!(kinds("(u:/healthz)")[1], (Kind::Word, "u:/healthz"));
        assert_eq!(kinds("(u:/a(b)/)")[1], (Kind::FieldRegex, "u:/a(b)/"));
        assert_eq!(kinds("x:/a/b)/ c")[0], (Kind::Word, "x:/a/b"));
    }
}
