//! Random strings from the query alphabet never panic the parser, and every
//! query that parses survives a Display round trip and evaluation.

use chrono::{TimeZone, Utc};
use serde_json::json;

use crate::language::{parse, Query, RangeValue};

/// xorshift64*: a tiny deterministic generator, enough for fuzzing.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const PIECES: &[&str] = &[
    "a",
    "b",
    "x",
    "é",
    "1",
    "400",
    "now",
    "now-1h",
    "-",
    "+",
    "!",
    "&&",
    "||",
    "&",
    "|",
    ":",
    "\"",
    "\\",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "*",
    "?",
    "/",
    ".",
    "@",
    ",",
    "<",
    ">",
    "=",
    ">=",
    "<=",
    " ",
    " ",
    " ",
    "\t",
    "\n",
    "AND",
    "OR",
    "NOT",
    "TO",
    "IN",
    "verb",
    "user.username",
    "2024-01-01T00:00:00Z",
    "\u{3000}",
    "\u{a0}",
    "~",
    "^",
    "#",
    "f:/",
    "/a/",
    "\\/",
    "\\ ",
    "\\*",
    "\\:",
    "\\\"",
    ".*",
    "[0-9]",
    "x:IN [",
    "now+2w",
];

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
}

fn random_query(rng: &mut Rng) -> String {
    let len = rng.below(14);
    (0..len).map(|_| PIECES[rng.below(PIECES.len())]).collect()
}

#[test]
fn random_queries_never_panic_and_round_trip() {
    // KQL_FUZZ_ITERATIONS / KQL_FUZZ_SEED widen the search when run by hand.
    let iterations: usize = env_number("KQL_FUZZ_ITERATIONS").unwrap_or(30_000) as usize;
    let mut rng = Rng(env_number("KQL_FUZZ_SEED").unwrap_or(0x9E37_79B9_7F4A_7C15) | 1);
    let events = [
        json!({"message": "a b é 400", "verb": ["a", "b"], "user": {"username": "x"}, "a": 1}),
        json!({"@timestamp": "2024-01-01T00:00:00Z", "x": null, "b": {"c": [1, "now"]}}),
    ];
    let now = Utc
        .with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
        .single()
        .expect("valid date");
    let mut parsed = 0;
    for _ in 0..iterations {
        let input = random_query(&mut rng);
        match parse(&input) {
            Ok(query) => {
                parsed += 1;
                let printed = query.to_string();
                match parse(&printed) {
                    Ok(again) => assert_eq!(query, again, "{input:?} printed as {printed:?}"),
                    Err(e) => panic!("{input:?} printed as {printed:?} fails: {e}"),
                }
                for event in &events {
                    let _ = query.matches_at(event, now);
                }
                let _ = query.resolve_times(now);
            }
            Err(e) => {
                assert!(e.position <= input.chars().count(), "{input:?}: {e}");
                assert!(
                    !e.expected.is_empty() && !e.found.is_empty(),
                    "{input:?}: {e:?}"
                );
            }
        }
    }
    assert!(
        parsed * 20 > iterations,
        "only {parsed} random queries parsed"
    );
}

#[test]
fn arbitrary_characters_never_panic() {
    let mut rng = Rng(42);
    for _ in 0..5_000 {
        let len = rng.below(20);
        let input: String = (0..len)
            .filter_map(|_| char::from_u32((rng.next() % 0x3000) as u32))
            .collect();
        if let Ok(query) = parse(&input) {
            let printed = query.to_string();
            assert_eq!(
                parse(&printed).ok(),
                Some(query),
                "{input:?} printed as {printed:?}"
            );
        }
    }
}

const CHARS: &[&str] = &[
    "a", "Z", "é", "0", "5", " ", "\t", "\n", ":", "\"", "\\", "(", ")", "[", "]", "{", "}", "*",
    "?", "/", "-", "+", "!", "&", "|", "<", ">", "=", ",", ".", "@", "~", "#", "\u{3000}", "AND",
    "OR", "NOT", "TO", "IN", "now", ">=",
];

fn random_text(rng: &mut Rng, min: usize) -> String {
    let len = min + rng.below(5);
    (0..len).map(|_| CHARS[rng.below(CHARS.len())]).collect()
}

fn random_field(rng: &mut Rng) -> Option<String> {
    (rng.below(3) > 0).then(|| random_text(rng, 1))
}

/// A wildcard pattern with at least one real `*` or `?`; literal `*`, `?`
/// and `\` are written with a backslash.
fn random_pattern(rng: &mut Rng) -> String {
    loop {
        let mut units: Vec<String> = random_text(rng, 0)
            .chars()
            .map(|c| {
                if matches!(c, '*' | '?' | '\\') {
                    format!("\\{c}")
                } else {
                    c.to_string()
                }
            })
            .collect();
        let at = rng.below(units.len() + 1);
        let wildcard = if rng.below(2) == 0 { "*" } else { "?" };
        units.insert(at, wildcard.to_string());
        let pattern = units.concat();
        if pattern != "*" {
            return pattern;
        }
    }
}

fn random_leaf(rng: &mut Rng) -> Query {
    use std::ops::Bound;
    const REGEXES: &[&str] = &[
        "a.*", "x/y", "a b", r"\d+", "(?i)foo", "", "[/]", r"a\\", "é?",
    ];
    const PAIRS: &[(&str, &str)] = &[
        ("400", "499"),
        ("-5", "1e3"),
        ("now-1h", "now"),
        ("2024-01-01T00:00:00Z", "now+2w"),
        ("2024-01-01", "2024-01-01T03:00:00+02:00"),
        ("a b", "x/"),
        ("*", "TO"),
        ("\"", "\\"),
    ];
    let bound = |rng: &mut Rng, raw: &str| match rng.below(3) {
        0 => Bound::Unbounded,
        1 => Bound::Included(RangeValue::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"))),
        _ => Bound::Excluded(RangeValue::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"))),
    };
    match rng.below(8) {
        0 => Query::Term {
            field: random_field(rng),
            value: random_text(rng, 1),
        },
        1 => Query::Phrase {
            field: random_field(rng),
            text: random_text(rng, 0),
        },
        2 => Query::Wildcard {
            field: random_field(rng),
            pattern: random_pattern(rng),
        },
        3 => Query::Regex {
            field: random_field(rng),
            pattern: REGEXES[rng.below(REGEXES.len())].to_string(),
        },
        4 => Query::Exists {
            field: random_text(rng, 1),
        },
        5 => {
            let (lo, hi) = PAIRS[rng.below(PAIRS.len())];
            Query::Range {
                field: random_text(rng, 1),
                lower: bound(rng, lo),
                upper: bound(rng, hi),
            }
        }
        6 => Query::In {
            field: random_text(rng, 1),
            values: (0..1 + rng.below(3)).map(|_| random_text(rng, 0)).collect(),
        },
        _ => Query::All,
    }
}

fn random_tree(rng: &mut Rng, depth: usize) -> Query {
    if depth == 0 {
        return random_leaf(rng);
    }
    let children = |rng: &mut Rng| {
        let count = 2 + rng.below(2);
        (0..count).map(|_| random_tree(rng, depth - 1)).collect()
    };
    match rng.below(5) {
        0 => Query::And(children(rng)),
        1 => Query::Or(children(rng)),
        2 => Query::Not(Box::new(random_tree(rng, depth - 1))),
        _ => random_leaf(rng),
    }
}

#[test]
fn random_trees_print_and_parse_back() {
    let iterations = env_number("KQL_FUZZ_ITERATIONS").unwrap_or(20_000) as usize;
    let mut rng = Rng(env_number("KQL_FUZZ_SEED").unwrap_or(7) | 1);
    for _ in 0..iterations {
        let depth = rng.below(4);
        let tree = random_tree(&mut rng, depth).simplify();
        let printed = tree.to_string();
        match parse(&printed) {
            Ok(again) => assert_eq!(again, tree, "printed as {printed:?}"),
            Err(e) => panic!("{tree:?} printed as {printed:?} fails: {e}"),
        }
    }
}
