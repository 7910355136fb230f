//! Random strings from the query alphabet never panic the parser, and every
//! query that parses survives a Display round trip and evaluation.

use chrono::{TimeZone, Utc};
use serde_json::json;

use crate::language::parse;

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
