//! Kestrel's query side: the query language, the search engine over the partitioned indexes,
//! and the HTTP API.

pub mod aggregate;
pub mod api;
pub mod context;
pub mod elastic;
mod error;
pub mod export;
pub mod hunt;
pub mod json_pattern;
mod keyset;
pub mod language;
pub mod limits;
pub mod projection;
pub mod request_metrics;
pub mod search;
pub mod translate;

pub use error::SearchError;
pub use search::{Cursor, SearchEngine, SearchRequest, SearchResponse, SortOrder};
