//! The cheap test every text goes through: one Aho-Corasick pass over the detectors' literal
//! anchors (ASCII case ignored) and one scan for long digit runs. Only the detectors whose
//! anchor occurs run their expression; text with no anchor and no digit run is left alone
//! without allocating.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

use super::detectors::{Detector, CARD_NUMBER};
use super::luhn::has_digit_run;

/// Which detectors may match a text: a bit per detector (at most 64).
pub type Candidates = u64;

/// The anchors of a set of detectors.
#[derive(Debug)]
pub struct Prefilter {
    automaton: AhoCorasick,
    /// For each anchor, the detectors it is an anchor of.
    detectors_of: Vec<Candidates>,
    /// The card-number detector's bit (candidates come from the digit scan).
    card: Candidates,
}

impl Prefilter {
    /// The prefilter of `detectors` (at most 64 of them).
    pub fn new(detectors: &[Detector]) -> Prefilter {
        let mut anchors: Vec<&str> = Vec::new();
        let mut detectors_of: Vec<Candidates> = Vec::new();
        let mut card = 0;
        for (i, detector) in detectors.iter().enumerate().take(64) {
            let bit = 1u64 << i;
            if detector.kind == CARD_NUMBER {
                card |= bit;
            }
            for anchor in detector.anchors {
                match anchors.iter().position(|a| a.eq_ignore_ascii_case(anchor)) {
                    Some(at) => detectors_of[at] |= bit,
                    None => {
                        anchors.push(anchor);
                        detectors_of.push(bit);
                    }
                }
            }
        }
        // A DFA walked over every byte, without the automaton's own prefilter: the anchors
        // start with letters common in any text (`s`, `t`, `p`, ...), so a first-byte
        // prefilter would stop at most bytes anyway.
        let automaton = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .kind(Some(AhoCorasickKind::DFA))
            .prefilter(false)
            .match_kind(MatchKind::Standard)
            .build(&anchors)
            // A few dozen short literals: far below any size limit.
            .expect("anchor automaton builds");
        Prefilter {
            automaton,
            detectors_of,
            card,
        }
    }

    /// The detectors that may match `text` (0: none can).
    pub fn candidates(&self, text: &str) -> Candidates {
        let mut candidates = 0;
        // Most texts hold no anchor: the first search settles it; the overlapping walk that
        // tells which anchors occur runs only after a hit.
        if self.automaton.is_match(text) {
            for found in self.automaton.find_overlapping_iter(text) {
                candidates |= self.detectors_of[found.pattern().as_usize()];
            }
        }
        if self.card != 0 && has_digit_run(text.as_bytes()) {
            candidates |= self.card;
        }
        candidates
    }
}
