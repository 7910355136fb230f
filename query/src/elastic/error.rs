//! Errors of the Elasticsearch-compatible API, answered in Elasticsearch's error shape.

use serde_json::{json, Value};

use crate::error::SearchError;

/// What can go wrong answering an Elasticsearch request.
#[derive(Debug, thiserror::Error)]
pub enum ElasticError {
    /// The request is not valid JSON / NDJSON or lacks a required part.
    #[error("{0}")]
    Parsing(String),
    /// A `query_string` (or another query clause) cannot be translated to Kestrel's query
    /// language.
    #[error("{0}")]
    Query(String),
    /// The request asks for something Kestrel does not support (an aggregation kind, a sort
    /// field, a parameter).
    #[error("{0}")]
    Unsupported(String),
    /// The search or aggregation failed.
    #[error(transparent)]
    Search(#[from] SearchError),
}

impl ElasticError {
    /// The Elasticsearch exception type.
    pub fn kind(&self) -> &'static str {
        match self {
            ElasticError::Parsing(_) => "parsing_exception",
            ElasticError::Query(_) => "query_shard_exception",
            ElasticError::Unsupported(_) => "illegal_argument_exception",
            ElasticError::Search(e) if e.is_client_error() => "search_phase_execution_exception",
            ElasticError::Search(_) => "exception",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            ElasticError::Search(SearchError::AggregationLimit(_) | SearchError::Limit(_)) => 422,
            ElasticError::Search(SearchError::Timeout(_)) => 503,
            ElasticError::Search(e) if !e.is_client_error() => 500,
            _ => 400,
        }
    }

    /// `{"error": {"root_cause": [...], "type", "reason"}, "status"}`.
    pub fn to_json(&self) -> Value {
        let kind = self.kind();
        // Server-side failures are logged, never echoed: they may hold paths.
        let reason = if self.status() == 500 {
            "internal error".to_owned()
        } else {
            self.to_string()
        };
        json!({
            "error": {
                "root_cause": [{"type": kind, "reason": reason}],
                "type": kind,
                "reason": reason,
            },
            "status": self.status(),
        })
    }
}
