//! Errors report the character position and what was expected.

use crate::language::{parse, ParseError, MAX_DEPTH};

fn err(input: &str) -> ParseError {
    match parse(input) {
        Ok(q) => panic!("{input:?} parsed as {q:?}"),
        Err(e) => e,
    }
}

/// Asserts the position, expected and found parts of the error for `input`.
fn check(input: &str, position: usize, expected: &str, found: &str) {
    let e = err(input);
    assert_eq!(
        (e.position, e.expected.as_str(), e.found.as_str()),
        (position, expected, found),
        "for {input:?}"
    );
}

#[test]
fn display_format() {
    assert_eq!(
        err("verb:").to_string(),
        "at position 5: expected a value after \"verb:\", found end of query"
    );
    assert_eq!(
        err("a AND (b OR )").to_string(),
        "at position 12: expected a term after \"OR\", found \")\""
    );
}

#[test]
fn empty_query() {
    check("", 0, "a query", "end of query");
    check("   ", 3, "a query", "end of query");
}

#[test]
fn unbalanced_parentheses() {
    check(
        "(a OR b",
        7,
        "\")\" to close the \"(\" at position 0",
        "end of query",
    );
    check(
        "verb:(get",
        9,
        "\")\" to close the \"(\" at position 5",
        "end of query",
    );
    check(
        "a)",
        1,
        "an operator or end of query",
        "\")\" without a matching \"(\"",
    );
    check(
        "(a))",
        3,
        "an operator or end of query",
        "\")\" without a matching \"(\"",
    );
    check("()", 1, "a term", "\")\"");
    check("]", 0, "a term", "\"]\"");
}

#[test]
fn dangling_operators() {
    check("a AND", 5, "a term after \"AND\"", "end of query");
    check("a &&", 4, "a term after \"&&\"", "end of query");
    check("a OR OR b", 5, "a term after \"OR\"", "\"OR\"");
    check("a || AND b", 5, "a term after \"||\"", "\"AND\"");
    check("OR a", 0, "a term", "\"OR\"");
    check("AND", 0, "a term", "\"AND\"");
    check("NOT", 3, "a term after \"NOT\"", "end of query");
    check("a !", 3, "a term after \"!\"", "end of query");
    check("- a", 1, "a term right after \"-\"", "whitespace");
    check("a +", 3, "a term right after \"+\"", "end of query");
    check("-)", 1, "a term right after \"-\"", "\")\"");
    check("a AND (b OR )", 12, "a term after \"OR\"", "\")\"");
}

#[test]
fn missing_or_bad_values() {
    check("verb:", 5, "a value after \"verb:\"", "end of query");
    check("verb: AND x", 6, "a value after \"verb:\"", "\"AND\"");
    check("verb:)", 5, "a value after \"verb:\"", "\")\"");
    check(":x", 0, "a field name before \":\"", "\":\"");
    check("a & b", 2, "a term", "\"&\"");
    check("a\\", 2, "a character after \"\\\"", "end of query");
    check("ver*:get", 0, "a field name without wildcards", "\"ver*\"");
    check("*:get", 0, "a field name without wildcards", "\"*\"");
    check(
        "code:>",
        6,
        "a number, time or text after \">\"",
        "end of query",
    );
    check(
        "code:>=*",
        7,
        "a number, time or text after \">=\"",
        "\"*\"",
    );
    check("[1 TO 2]", 0, "a field name before a range", "\"[\"");
}

#[test]
fn unterminated_quotes_and_regexes() {
    check(
        "\"abc",
        4,
        "'\"' to close the phrase opened at position 0",
        "end of query",
    );
    check(
        "msg:\"a \\\" b",
        11,
        "'\"' to close the phrase opened at position 4",
        "end of query",
    );
    check(
        "msg:/err(or",
        8,
        "\"/\" to close the regular expression opened at position 4",
        "\"(\"",
    );
    let spaces = "\"/\" to close the regular expression opened at position 8 \
                  (write whitespace in a regex as \"\\s\" or \"\\ \")";
    check("message:/retrying in 5s.*/", 17, spaces, "whitespace");
    check("(message:/a) b/", 11, &spaces.replace("8", "9"), "\")\"");
    check("/a b/", 2, &spaces.replace("8", "0"), "whitespace");
}

#[test]
fn invalid_regexes() {
    check("f:/a(/", 4, "a valid regular expression", "unclosed group");
    check(
        "f:/a\\/b)/",
        7,
        "a valid regular expression",
        "unopened group",
    );
    check(
        "/x{2,1}/",
        2,
        "a valid regular expression",
        "invalid repetition count range, the start must be <= the end",
    );
    let e = err("f:/\\p{Nope}/");
    assert_eq!(
        (e.position, e.expected.as_str()),
        (3, "a valid regular expression")
    );
}

#[test]
fn patterns_compiling_to_large_programs_are_refused() {
    // Short patterns asking for large programs: refused once past 1 MiB, not compiled up to
    // the regex crate's own 10 MiB limit first (`\w{100}` fit in it and parsed, in 29 ms).
    for query in ["f:/\\w{100}/", "f:/(\\w{50}){10}/", "f:/\\w{300}/"] {
        let e = err(query);
        assert_eq!(e.expected, "a valid regular expression", "{query:?}");
        assert!(e.found.contains("size limit"), "{query:?}: {}", e.found);
    }
    // A smaller one still parses.
    assert!(parse("f:/\\w{20}/").is_ok());
}

#[test]
fn bad_ranges() {
    check("code:[400 499]", 10, "\"TO\"", "\"499\"");
    check("code:[400]", 9, "\"TO\"", "\"]\"");
    check("code:[TO 5]", 6, "a lower bound", "\"TO\"");
    check("code:[400 TO]", 12, "an upper bound", "\"]\"");
    check(
        "code:[400 TO 499",
        16,
        "\"]\" or \"}\" to close the range opened at position 5",
        "end of query",
    );
    check(
        "code:[400 TO 499)",
        16,
        "\"]\" or \"}\" to close the range opened at position 5",
        "\")\"",
    );
    check(
        "code:[500 TO 400]",
        6,
        "a lower bound not greater than the upper bound \"400\"",
        "\"500\"",
    );
    check(
        "@timestamp:[now TO now-1h]",
        12,
        "a lower bound not greater than the upper bound \"now-1h\"",
        "\"now\"",
    );
    check(
        "@timestamp:[1 TO now]",
        17,
        "a number like the lower bound \"1\"",
        "\"now\" (a time)",
    );
    check(
        "name:[a TO 5]",
        11,
        "a text value like the lower bound \"a\"",
        "\"5\" (a number)",
    );
    check(
        "@timestamp:>now-1y",
        12,
        "a time like now, now-15m or now+2w (units s, m, h, d, w)",
        "\"now-1y\"",
    );
    check(
        "@timestamp:[now-99999999999w TO now]",
        12,
        "a relative time within 10000 years",
        "\"now-99999999999w\"",
    );
}

#[test]
fn bad_sets() {
    check("verb:IN []", 9, "at least one value in the list", "\"]\"");
    check(
        "verb:IN [a b",
        12,
        "\"]\" to close the list opened at position 8",
        "end of query",
    );
    check("verb:IN [a (b)]", 11, "a value or \"]\"", "\"(\"");
}

#[test]
fn positions_count_characters_not_bytes() {
    check("é AND", 5, "a term after \"AND\"", "end of query");
    check("ünïcödé:", 8, "a value after \"ünïcödé:\"", "end of query");
}

#[test]
fn nesting_is_bounded() {
    let deep = format!(
        "{}a{}",
        "(".repeat(MAX_DEPTH + 50),
        ")".repeat(MAX_DEPTH + 50)
    );
    check(
        &deep,
        MAX_DEPTH,
        &format!("at most {MAX_DEPTH} nested groups or negations"),
        "\"(\"",
    );
    let nots = format!("{}a", "!".repeat(10_000));
    assert_eq!(err(&nots).position, MAX_DEPTH);
    let ok = format!("{}a{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
    assert!(parse(&ok).is_ok());
}
