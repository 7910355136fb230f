//! Errors of the search engine.

/// What can go wrong answering a search.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The query text does not parse.
    #[error("invalid query: {0}")]
    Parse(#[from] crate::language::ParseError),
    /// The query parses but cannot be run as asked (wrong type for a field, bad time, ...).
    #[error("invalid query: {0}")]
    BadQuery(String),
    /// A request parameter is invalid.
    #[error("invalid parameter {name}: {reason}")]
    BadParameter {
        /// The parameter.
        name: &'static str,
        /// Why.
        reason: String,
    },
    /// The index could not be read.
    #[error("index error: {0}")]
    Index(#[from] kestrel_indexer::IndexError),
    /// Tantivy failed while searching.
    #[error("search failed: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    /// A stored event could not be decoded.
    #[error("stored event is not valid JSON: {0}")]
    Source(#[from] serde_json::Error),
    /// An aggregation request is invalid (unknown kind, field that cannot be aggregated, bad
    /// interval, ...).
    #[error("invalid aggregation: {0}")]
    BadAggregation(String),
    /// An aggregation would exceed the memory or bucket limit (HTTP 422).
    #[error("{0}")]
    AggregationLimit(String),
    /// The request goes past a configured limit of `[query.limits]` (HTTP 422).
    #[error("{0}")]
    Limit(crate::limits::LimitExceeded),
    /// The search was cancelled after its time budget, `query.limits.request_timeout`
    /// (HTTP 503).
    #[error("{0}")]
    Timeout(crate::limits::LimitExceeded),
}

impl SearchError {
    /// Whether the caller is at fault (HTTP 400) rather than the server (HTTP 500).
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            SearchError::Parse(_)
                | SearchError::BadQuery(_)
                | SearchError::BadParameter { .. }
                | SearchError::BadAggregation(_)
                | SearchError::AggregationLimit(_)
                | SearchError::Limit(_)
        )
    }
}
