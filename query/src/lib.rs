//! Kestrel's query side: the query language, the search engine over the partitioned indexes,
//! and the HTTP API.

pub use kestrel_access as access;
pub mod aggregate;
pub mod api;
pub mod audit_trail;
pub mod authenticate;
pub mod authorize;
pub mod context;
pub mod elastic;
mod error;
pub mod export;
pub mod hold_api;
pub mod holds;
pub mod hunt;
pub mod json_pattern;
mod keyset;
pub mod language;
pub mod limits;
pub mod projection;
pub mod request_metrics;
pub mod retention;
pub mod scope;
pub mod scoped;
pub mod search;
pub mod stream;
pub mod token_api;
pub mod translate;

pub use error::SearchError;
pub use search::{Cursor, SearchEngine, SearchRequest, SearchResponse, SortOrder};
