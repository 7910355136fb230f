//! The cheap test every text goes through: one Aho-Corasick search for the detectors' literal
//! anchors (ASCII case ignored) and one scan for long digit runs. Only the detectors whose
//! anchor occurs run their expression; text with no anchor and no digit run is left alone
//! without allocating.
//!
//! Case is ignored by searching an ASCII-lowercased copy of the text (in a buffer reused by the
//! thread) for the lowercase anchors: a case-sensitive automaton can use its SIMD prefilter,
//! which a case-insensitive one cannot, and the copy costs less than the difference (about
//! 5 times faster on ordinary log lines).

use std::cell::RefCell;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

use super::detectors::{Detector, CARD_NUMBER};
use super::luhn::has_digit_run;

/// Which detectors may match a text: a bit per detector (at most 64).
pub type Candidates = u64;

/// The anchors of a set of detectors.
#[derive(Debug)]
pub struct Prefilter {
    /// Whether any anchor occurs (fast).
    screen: AhoCorasick,
    /// Which anchors occur (overlapping).
    automaton: AhoCorasick,
    /// For each anchor, the detectors it is an anchor of.
    detectors_of: Vec<Candidates>,
    /// The card-number detector's bit (candidates come from the digit scan).
    card: Candidates,
}

impl Prefilter {
    /// The prefilter of `detectors` (at most 64 of them).
    pub fn new(detectors: &[Detector]) -> Prefilter {
        let mut anchors: Vec<String> = Vec::new();
        let mut detectors_of: Vec<Candidates> = Vec::new();
        let mut card = 0;
        for (i, detector) in detectors.iter().enumerate().take(64) {
            let bit = 1u64 << i;
            if detector.kind == CARD_NUMBER {
                card |= bit;
            }
            for anchor in detector.anchors {
                let anchor = anchor.to_ascii_lowercase();
                match anchors.iter().position(|a| *a == anchor) {
                    Some(at) => detectors_of[at] |= bit,
                    None => {
                        anchors.push(anchor);
                        detectors_of.push(bit);
                    }
                }
            }
        }
        // Case-sensitive over lowercase text. The screen (leftmost-first) uses the automaton's
        // prefilter, a packed SIMD search that skips most bytes; a standard automaton, which
        // cannot, walks the overlapping matches of the few texts the screen stops at.
        let build = |kind| {
            AhoCorasickBuilder::new()
                .kind(Some(AhoCorasickKind::DFA))
                .prefilter(true)
                .match_kind(kind)
                .build(&anchors)
                // A few dozen short literals: far below any size limit.
                .expect("anchor automaton builds")
        };
        let screen = build(MatchKind::LeftmostFirst);
        let automaton = build(MatchKind::Standard);
        Prefilter {
            screen,
            automaton,
            detectors_of,
            card,
        }
    }

    /// The detectors that may match `text` (0: none can).
    pub fn candidates(&self, text: &str) -> Candidates {
        let mut candidates = LOWERCASE.with(|buffer| {
            let mut lower = buffer.borrow_mut();
            lower.clear();
            lower.extend(text.bytes().map(|b| b.to_ascii_lowercase()));
            let found = self.anchored(&lower);
            if lower.capacity() > MAX_KEPT_BUFFER {
                *lower = Vec::new();
            }
            found
        });
        if self.card != 0 && has_digit_run(text.as_bytes()) {
            candidates |= self.card;
        }
        candidates
    }

    /// The detectors whose anchors occur in `lower`, a lowercase text.
    fn anchored(&self, lower: &[u8]) -> Candidates {
        let mut candidates = 0;
        // Most texts hold no anchor: the first search settles it; the overlapping walk that
        // tells which anchors occur runs only after a hit.
        if self.screen.is_match(lower) {
            for found in self.automaton.find_overlapping_iter(lower) {
                candidates |= self.detectors_of[found.pattern().as_usize()];
            }
        }
        candidates
    }
}

/// A thread's buffer for the lowercase copy, dropped after a text longer than this.
const MAX_KEPT_BUFFER: usize = 1 << 20;

thread_local! {
    static LOWERCASE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::detectors;

    #[test]
    fn anchors_are_found_whatever_their_case() {
        let prefilter = Prefilter::new(&detectors::builtin());
        let lower = prefilter.candidates("x-auth password=hunter22 bearer eyj");
        assert_ne!(lower, 0);
        for text in [
            "X-Auth PASSWORD=hunter22 BEARER EYJ",
            "x-auth PassWord=hunter22 Bearer eyJ",
        ] {
            assert_eq!(prefilter.candidates(text), lower, "{text}");
        }
        assert_eq!(prefilter.candidates("GET /api/v1/items/42 status=200"), 0);
        // A long text, then a short one: the thread's buffer is reused and shrunk.
        let long = format!("{}PASSWORD=x", "a".repeat(MAX_KEPT_BUFFER + 1));
        assert_ne!(prefilter.candidates(&long), 0);
        assert_eq!(prefilter.candidates("plain"), 0);
    }
}
