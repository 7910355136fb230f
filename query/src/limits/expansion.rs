//! Wildcards and regular expressions on the term dictionary, refused past a number of matching
//! terms (`query.limits.max_expansion_terms`) instead of reading the postings of every one.

use std::fmt;
use std::sync::Arc;

use tantivy::query::{
    BitSetDocSet, ConstScorer, EnableScoring, Explanation, Query, Scorer, Weight,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{BitSet, DocId, DocSet, Score, SegmentReader, TantivyError};
use tantivy_fst::Automaton;

use super::{Guard, LimitExceeded};

/// Documents whose `field` holds a term the automaton accepts, among at most `max_terms`
/// matching terms per segment. With `json_path`, only the terms under that key prefix are
/// walked.
pub struct BoundedTermsQuery<A> {
    field: Field,
    automaton: Arc<A>,
    json_path: Option<Vec<u8>>,
    guard: Arc<Guard>,
    /// The pattern as written, for the error.
    pattern: String,
}

impl<A> BoundedTermsQuery<A> {
    /// Terms of `field` accepted by `automaton` (under the key prefix `json_path` when set).
    pub fn new(
        field: Field,
        automaton: Arc<A>,
        json_path: Option<Vec<u8>>,
        guard: Arc<Guard>,
        pattern: &str,
    ) -> Self {
        BoundedTermsQuery {
            field,
            automaton,
            json_path,
            guard,
            pattern: pattern.to_owned(),
        }
    }
}

impl<A> Clone for BoundedTermsQuery<A> {
    fn clone(&self) -> Self {
        BoundedTermsQuery {
            field: self.field,
            automaton: Arc::clone(&self.automaton),
            json_path: self.json_path.clone(),
            guard: Arc::clone(&self.guard),
            pattern: self.pattern.clone(),
        }
    }
}

impl<A> fmt::Debug for BoundedTermsQuery<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedTermsQuery")
            .field("field", &self.field)
            .field("pattern", &self.pattern)
            .finish()
    }
}

impl<A> Query for BoundedTermsQuery<A>
where
    A: Automaton + Send + Sync + 'static,
    A::State: Clone,
{
    fn weight(&self, _scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(self.clone()))
    }
}

impl<A> Weight for BoundedTermsQuery<A>
where
    A: Automaton + Send + Sync + 'static,
    A::State: Clone,
{
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let max_terms = self.guard.limits().max_expansion_terms;
        let mut docs = BitSet::with_max_value(reader.max_doc());
        let inverted_index = reader.inverted_index(self.field)?;
        let mut builder = inverted_index.terms().search(self.automaton.as_ref());
        if let Some(path) = &self.json_path {
            builder = builder.ge(path);
            if let Some(end) = prefix_end(path) {
                builder = builder.lt(&end);
            }
        }
        let mut terms = builder.into_stream()?;
        let mut matched = 0usize;
        while terms.advance() {
            matched += 1;
            if matched > max_terms {
                let limit = LimitExceeded {
                    key: "max_expansion_terms",
                    value: max_terms.to_string(),
                    what: format!("the pattern {:?} matches more terms", self.pattern),
                };
                let message = limit.to_string();
                self.guard.exceed(limit);
                return Err(TantivyError::InvalidArgument(message));
            }
            let mut postings = inverted_index
                .read_block_postings_from_terminfo(terms.value(), IndexRecordOption::Basic)?;
            while !postings.docs().is_empty() {
                for &doc in postings.docs() {
                    docs.insert(doc);
                }
                postings.advance();
            }
        }
        Ok(Box::new(ConstScorer::new(BitSetDocSet::from(docs), boost)))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut scorer = self.scorer(reader, 1.0)?;
        if scorer.seek(doc) == doc {
            Ok(Explanation::new("BoundedTermsQuery", 1.0))
        } else {
            Err(TantivyError::InvalidArgument(
                "document does not match".to_owned(),
            ))
        }
    }
}

/// The smallest key greater than every key starting with `prefix` (none when it is all 0xff).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last != u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}
