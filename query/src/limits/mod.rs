//! Limits of one API request: query text length and clause count, regular-expression program
//! size, wildcard expansion, and a time budget.
//!
//! The API runs each engine call inside [`within`], which installs a [`Guard`] for the calling
//! thread: the translator reads the limits from it, and every query it compiles is wrapped in a
//! [`DeadlineQuery`] that stops matching once the budget is spent. A request past a limit fails
//! with [`SearchError::Limit`](crate::SearchError::Limit) (HTTP 422) or
//! [`SearchError::Timeout`](crate::SearchError::Timeout) (HTTP 503), naming the configuration
//! key and its value. Without a guard (the command line, detection) nothing is limited.

mod deadline;
mod expansion;
mod guard;

use std::time::Duration;

pub use deadline::DeadlineQuery;
pub use expansion::BoundedTermsQuery;
pub use guard::{current, within, Guard};

use crate::language::Query;

/// The configured limits (`[query.limits]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryLimits {
    /// Largest request body, in bytes (`query.limits.max_body_bytes`).
    pub max_body_bytes: usize,
    /// Longest query text, in bytes (`query.limits.max_query_bytes`).
    pub max_query_bytes: usize,
    /// Most leaf clauses in a query (`query.limits.max_clauses`).
    pub max_clauses: usize,
    /// Largest compiled program of one regular expression or wildcard, in bytes
    /// (`query.limits.max_regex_bytes`).
    pub max_regex_bytes: usize,
    /// Most index terms one wildcard or regular expression may match in a partition segment
    /// (`query.limits.max_expansion_terms`).
    pub max_expansion_terms: usize,
    /// Time budget of one search (`query.limits.request_timeout`).
    pub request_timeout: Duration,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits::from(&kestrel_config::QueryLimitsConfig::default())
    }
}

impl From<&kestrel_config::QueryLimitsConfig> for QueryLimits {
    fn from(config: &kestrel_config::QueryLimitsConfig) -> Self {
        QueryLimits {
            max_body_bytes: config.max_body_bytes,
            max_query_bytes: config.max_query_bytes,
            max_clauses: config.max_clauses,
            max_regex_bytes: config.max_regex_bytes,
            max_expansion_terms: config.max_expansion_terms,
            request_timeout: config.request_timeout,
        }
    }
}

/// A request beyond a configured limit. Its text names the key and the configured value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: beyond query.limits.{key} = {value}")]
pub struct LimitExceeded {
    /// The key under `[query.limits]`.
    pub key: &'static str,
    /// Its configured value, as written in the configuration.
    pub value: String,
    /// What went beyond it.
    pub what: String,
}

impl QueryLimits {
    /// Checks the length of a query text.
    pub fn check_text(&self, text: &str) -> Result<(), LimitExceeded> {
        if text.len() > self.max_query_bytes {
            return Err(LimitExceeded {
                key: "max_query_bytes",
                value: self.max_query_bytes.to_string(),
                what: format!("the query text is {} bytes", text.len()),
            });
        }
        Ok(())
    }

    /// Checks the clause count of a parsed query.
    pub fn check_clauses(&self, query: &Query) -> Result<(), LimitExceeded> {
        let clauses = clause_count(query);
        if clauses > self.max_clauses {
            return Err(LimitExceeded {
                key: "max_clauses",
                value: self.max_clauses.to_string(),
                what: format!("the query has {clauses} clauses"),
            });
        }
        Ok(())
    }

    /// Compiles `regex` (in the syntax of the `regex` crate) within
    /// `query.limits.max_regex_bytes`. `original` is the pattern as the user wrote it.
    /// Other compilation errors are left to the caller (`Ok(false)`).
    pub fn check_regex(&self, regex: &str, original: &str) -> Result<bool, LimitExceeded> {
        match regex::RegexBuilder::new(regex)
            .size_limit(self.max_regex_bytes)
            .build()
        {
            Ok(_) => Ok(true),
            Err(regex::Error::CompiledTooBig(_)) => Err(LimitExceeded {
                key: "max_regex_bytes",
                value: self.max_regex_bytes.to_string(),
                what: format!(
                    "the pattern {} compiles to a larger program",
                    shorten(original)
                ),
            }),
            Err(_) => Ok(false),
        }
    }

    /// The error of a search past its time budget.
    pub fn timeout(&self) -> LimitExceeded {
        LimitExceeded {
            key: "request_timeout",
            value: humantime::format_duration(self.request_timeout).to_string(),
            what: "the search was cancelled after its time budget".to_owned(),
        }
    }
}

/// The leaf clauses of a query: terms, phrases, patterns, ranges, each member of a set.
pub fn clause_count(query: &Query) -> usize {
    match query {
        Query::And(children) | Query::Or(children) => children.iter().map(clause_count).sum(),
        Query::Not(inner) => clause_count(inner),
        Query::In { values, .. } => values.len(),
        _ => 1,
    }
}

/// At most 60 characters of a pattern, for error messages.
fn shorten(pattern: &str) -> String {
    let shown: String = pattern.chars().take(60).collect();
    if shown.len() < pattern.len() {
        format!("{shown:?}...")
    } else {
        format!("{shown:?}")
    }
}

#[cfg(test)]
mod tests;
