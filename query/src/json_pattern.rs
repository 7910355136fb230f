//! Wildcards, regular expressions and existence on sub-fields of JSON fields
//! (`json.msg:*timeout*`, `requestObject.spec.hostNetwork:*`).
//!
//! In a JSON field's term dictionary, a key is the path (segments separated by byte 1), byte 0,
//! a type byte and the value. These queries walk only the keys under one path, with an
//! automaton that first checks the path, then runs the pattern on the value.

use std::sync::Arc;

use tantivy::query::{AutomatonWeight, EnableScoring, Query, Weight};
use tantivy::schema::{Field, Term};
use tantivy_fst::{Automaton, Regex};

const END_OF_PATH: u8 = 0;
const SEGMENT_SEPARATOR: u8 = 1;
const STRING_TYPE: u8 = b's';

/// What the automaton accepts after the path.
#[derive(Debug)]
enum Tail {
    /// A string value matching the regex (whole value).
    StringMatching(Regex),
    /// Any value at this path or under it.
    Anything,
}

/// Matches keys `<path>…` whose rest is accepted by the tail.
#[derive(Debug)]
pub struct PathAutomaton {
    path: Vec<u8>,
    tail: Tail,
}

/// Automaton state.
#[derive(Clone, Debug)]
pub enum PathState {
    /// `n` bytes of the path matched so far.
    Path(usize),
    /// Path matched, expecting byte 0 then the `s` type byte.
    EndOfPath,
    /// Path and `0` matched, expecting the string type byte.
    TypeByte,
    /// In the value, with the regex's state.
    Value(Option<usize>),
    /// Accepting everything from here.
    Accept,
    /// No match possible.
    Dead,
}

impl Automaton for PathAutomaton {
    type State = PathState;

    fn start(&self) -> PathState {
        PathState::Path(0)
    }

    fn is_match(&self, state: &PathState) -> bool {
        match (state, &self.tail) {
            (PathState::Value(inner), Tail::StringMatching(regex)) => regex.is_match(inner),
            (PathState::Accept, _) => true,
            _ => false,
        }
    }

    fn can_match(&self, state: &PathState) -> bool {
        match (state, &self.tail) {
            (PathState::Dead, _) => false,
            (PathState::Value(inner), Tail::StringMatching(regex)) => regex.can_match(inner),
            _ => true,
        }
    }

    fn will_always_match(&self, state: &PathState) -> bool {
        matches!(state, PathState::Accept)
    }

    fn accept(&self, state: &PathState, byte: u8) -> PathState {
        match state {
            PathState::Path(n) if *n < self.path.len() => {
                if self.path[*n] == byte {
                    if n + 1 == self.path.len() {
                        PathState::EndOfPath
                    } else {
                        PathState::Path(n + 1)
                    }
                } else {
                    PathState::Dead
                }
            }
            PathState::EndOfPath => match (&self.tail, byte) {
                (Tail::Anything, END_OF_PATH | SEGMENT_SEPARATOR) => PathState::Accept,
                (Tail::StringMatching(_), END_OF_PATH) => PathState::TypeByte,
                _ => PathState::Dead,
            },
            PathState::TypeByte => match &self.tail {
                Tail::StringMatching(regex) if byte == STRING_TYPE => {
                    PathState::Value(regex.start())
                }
                _ => PathState::Dead,
            },
            PathState::Value(inner) => match &self.tail {
                Tail::StringMatching(regex) => PathState::Value(regex.accept(inner, byte)),
                Tail::Anything => PathState::Dead,
            },
            PathState::Accept => PathState::Accept,
            PathState::Path(_) | PathState::Dead => PathState::Dead,
        }
    }
}

/// A query on the keys under one JSON path.
#[derive(Debug, Clone)]
pub struct JsonPathQuery {
    field: Field,
    path_bytes: Vec<u8>,
    automaton: Arc<PathAutomaton>,
}

impl JsonPathQuery {
    fn new(field: Field, json_path: &str, tail: Tail) -> JsonPathQuery {
        // The key prefix of the path: the term of the path with its end-of-path byte removed.
        let term = Term::from_field_json_path(field, json_path, true);
        let mut path_bytes = term.serialized_value_bytes().to_vec();
        if path_bytes.last() == Some(&END_OF_PATH) {
            path_bytes.pop();
        }
        JsonPathQuery {
            field,
            automaton: Arc::new(PathAutomaton {
                path: path_bytes.clone(),
                tail,
            }),
            path_bytes,
        }
    }

    /// String values at `json_path` that match `regex` entirely.
    pub fn matching(field: Field, json_path: &str, regex: &str) -> Result<JsonPathQuery, String> {
        let regex = Regex::new(regex).map_err(|e| e.to_string())?;
        Ok(Self::new(field, json_path, Tail::StringMatching(regex)))
    }

    /// The same query, refused past the request's `max_expansion_terms` matching keys.
    pub fn bounded(
        self,
        guard: Arc<crate::limits::Guard>,
        pattern: &str,
    ) -> crate::limits::BoundedTermsQuery<PathAutomaton> {
        crate::limits::BoundedTermsQuery::new(
            self.field,
            self.automaton,
            Some(self.path_bytes),
            guard,
            pattern,
        )
    }

    /// Any value at `json_path` or below it.
    pub fn exists(field: Field, json_path: &str) -> JsonPathQuery {
        Self::new(field, json_path, Tail::Anything)
    }
}

impl Query for JsonPathQuery {
    fn weight(&self, _scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(
            AutomatonWeight::<PathAutomaton>::new_for_json_path(
                self.field,
                Arc::clone(&self.automaton),
                &self.path_bytes,
            ),
        ))
    }
}
