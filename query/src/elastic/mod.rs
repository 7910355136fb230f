//! The subset of the Elasticsearch HTTP API that Grafana's built-in Elasticsearch data source
//! uses, served under `/api/v1/elastic` so that Grafana reads Kestrel without a plugin.
//!
//! * `GET /` (cluster information, reported as a version 8 cluster), `GET /_cluster/health`,
//!   `GET /_mapping` and `GET /{index}/_mapping` (the event schema as an index mapping);
//! * `POST /_msearch` and `POST /{index}/_msearch`: NDJSON header and body pairs, each body
//!   translated onto Kestrel's search ([`crate::SearchEngine::search`]) and aggregations
//!   ([`crate::SearchEngine::aggregate`]), answered in Elasticsearch's shape with a per-response
//!   error object for what cannot be translated.
//!
//! The index name is accepted and echoed (every name reads the whole Kestrel index). The time
//! field is `@timestamp`.

mod error;
mod lucene;
mod mapping;
mod request;
mod response;
mod routes;
mod run;

pub use error::ElasticError;
pub use lucene::translate_query_string;
pub use mapping::mapping;
pub use request::{parse_msearch, parse_search, EsAgg, MetricKind, Search, TermsOrder};
pub use routes::{routes, ElasticState, ROUTES};
pub use run::run_search;

/// The time field Grafana is configured with.
pub const TIME_FIELD: &str = "@timestamp";
/// Version reported by `GET /`: Grafana requires 7.16 or later.
pub const REPORTED_VERSION: &str = "8.11.0";
/// Index name answered when a request names none.
pub const DEFAULT_INDEX: &str = "kestrel";
