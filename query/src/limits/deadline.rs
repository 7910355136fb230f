//! A query wrapper that stops matching once a request's time budget is spent: checked when a
//! segment's scorer is built and every [`CHECK_EVERY`] documents, so the blocking thread is
//! freed soon after the deadline.

use std::sync::Arc;
use std::time::Instant;

use tantivy::query::{EmptyScorer, EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::{DocId, DocSet, Score, SegmentReader, TERMINATED};

use super::Guard;

/// Documents matched between two looks at the clock.
pub const CHECK_EVERY: u32 = 1024;

/// `inner`, cut short at the deadline of `guard` (which then records the budget as spent).
#[derive(Debug)]
pub struct DeadlineQuery {
    inner: Box<dyn Query>,
    guard: Arc<Guard>,
}

impl Clone for DeadlineQuery {
    fn clone(&self) -> Self {
        DeadlineQuery {
            inner: self.inner.box_clone(),
            guard: Arc::clone(&self.guard),
        }
    }
}

impl DeadlineQuery {
    /// Wraps `inner`.
    pub fn new(inner: Box<dyn Query>, guard: Arc<Guard>) -> DeadlineQuery {
        DeadlineQuery { inner, guard }
    }
}

impl Query for DeadlineQuery {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(DeadlineWeight {
            inner: self.inner.weight(scoring)?,
            guard: Arc::clone(&self.guard),
        }))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a tantivy::Term, bool)) {
        self.inner.query_terms(visitor);
    }
}

struct DeadlineWeight {
    inner: Box<dyn Weight>,
    guard: Arc<Guard>,
}

impl DeadlineWeight {
    fn past_deadline(&self) -> bool {
        if Instant::now() > self.guard.deadline() {
            self.guard.expire();
            return true;
        }
        false
    }
}

impl Weight for DeadlineWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        if self.past_deadline() {
            return Ok(Box::new(EmptyScorer));
        }
        Ok(Box::new(DeadlineScorer {
            inner: self.inner.scorer(reader, boost)?,
            guard: Arc::clone(&self.guard),
            deadline: self.guard.deadline(),
            until_check: CHECK_EVERY,
            stopped: false,
        }))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        self.inner.explain(reader, doc)
    }
}

struct DeadlineScorer {
    inner: Box<dyn Scorer>,
    guard: Arc<Guard>,
    deadline: Instant,
    until_check: u32,
    stopped: bool,
}

impl DeadlineScorer {
    /// Counts one step; every [`CHECK_EVERY`] steps, stops when past the deadline.
    fn tick(&mut self) -> bool {
        self.until_check -= 1;
        if self.until_check == 0 {
            self.until_check = CHECK_EVERY;
            if Instant::now() > self.deadline {
                self.guard.expire();
                self.stopped = true;
            }
        }
        self.stopped
    }
}

impl DocSet for DeadlineScorer {
    fn advance(&mut self) -> DocId {
        if self.tick() {
            return TERMINATED;
        }
        self.inner.advance()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        if self.tick() {
            return TERMINATED;
        }
        self.inner.seek(target)
    }

    fn doc(&self) -> DocId {
        if self.stopped {
            TERMINATED
        } else {
            self.inner.doc()
        }
    }

    fn size_hint(&self) -> u32 {
        self.inner.size_hint()
    }
}

impl Scorer for DeadlineScorer {
    fn score(&mut self) -> Score {
        self.inner.score()
    }
}
