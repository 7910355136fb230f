//! The HTTP routes under `/api/v1/elastic` (authenticated like the rest of the API by the
//! router that merges them).

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde_json::{json, Value};

use crate::limits::{within, QueryLimits};
use crate::scoped::{Engines, ScopedEngine};
use crate::search::SearchEngine;

use super::error::ElasticError;
use super::mapping::mapping;
use super::request::{parse_msearch, parse_search};
use super::response::{cluster_health, cluster_info};
use super::run::run_search;
use super::DEFAULT_INDEX;

const ROOT: &str = "/api/v1/elastic";
const ROOT_SLASH: &str = "/api/v1/elastic/";
const HEALTH: &str = "/api/v1/elastic/_cluster/health";
const MAPPING: &str = "/api/v1/elastic/_mapping";
const INDEX_MAPPING: &str = "/api/v1/elastic/{index}/_mapping";
const MSEARCH: &str = "/api/v1/elastic/_msearch";
const INDEX_MSEARCH: &str = "/api/v1/elastic/{index}/_msearch";

/// Every route pattern (the `route` label values of the request latency histogram).
pub const ROUTES: [&str; 7] = [
    ROOT,
    ROOT_SLASH,
    HEALTH,
    MAPPING,
    INDEX_MAPPING,
    MSEARCH,
    INDEX_MSEARCH,
];

/// What the routes need: the engines (each search runs on the caller's [`ScopedEngine`]) and
/// the largest `size` accepted and the request limits.
#[derive(Clone)]
pub struct ElasticState {
    engines: Engines,
    max_size: usize,
    limits: QueryLimits,
}

impl ElasticState {
    /// State over `engines`, accepting searches of at most `max_size` hits.
    pub fn new(engines: Engines, max_size: usize) -> ElasticState {
        ElasticState::with_limits(engines, max_size, QueryLimits::default())
    }

    /// State over `engines`, each search of a `_msearch` within `limits`.
    pub fn with_limits(engines: Engines, max_size: usize, limits: QueryLimits) -> ElasticState {
        ElasticState {
            engines,
            max_size,
            limits,
        }
    }
}

impl FromRef<ElasticState> for Engines {
    fn from_ref(state: &ElasticState) -> Engines {
        state.engines.clone()
    }
}

/// The routes, for a router whose state provides an [`ElasticState`].
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    ElasticState: FromRef<S>,
    Engines: FromRef<S>,
{
    Router::new()
        .route(ROOT, get(info))
        .route(ROOT_SLASH, get(info))
        .route(HEALTH, get(health))
        .route(MAPPING, get(mapping_default))
        .route(INDEX_MAPPING, get(mapping_index))
        .route(MSEARCH, post(msearch_default))
        .route(INDEX_MSEARCH, post(msearch_index))
}

async fn info() -> Json<Value> {
    Json(cluster_info())
}

async fn health(State(state): State<ElasticState>) -> Json<Value> {
    let root = state.engines.root().to_owned();
    let readable = tokio::task::spawn_blocking(move || kestrel_indexer::list_partition_dirs(&root))
        .await
        .map(|r| r.is_ok())
        .unwrap_or(false);
    Json(cluster_health(readable))
}

async fn mapping_default() -> Json<Value> {
    Json(mapping(DEFAULT_INDEX))
}

async fn mapping_index(Path(index): Path<String>) -> Json<Value> {
    Json(mapping(&index))
}

async fn msearch_default(
    State(state): State<ElasticState>,
    ScopedEngine(engine): ScopedEngine,
    body: Bytes,
) -> Response {
    msearch(engine, state.max_size, state.limits, None, body).await
}

async fn msearch_index(
    State(state): State<ElasticState>,
    ScopedEngine(engine): ScopedEngine,
    Path(index): Path<String>,
    body: Bytes,
) -> Response {
    msearch(engine, state.max_size, state.limits, Some(index), body).await
}

/// `_msearch`: every search of the body, in order, each answered or refused on its own.
async fn msearch(
    engine: Arc<SearchEngine>,
    max_size: usize,
    limits: QueryLimits,
    index: Option<String>,
    body: Bytes,
) -> Response {
    let pairs = match parse_msearch(&body) {
        Ok(pairs) => pairs,
        Err(error) => return error_response(&error),
    };
    let answered = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let now = Utc::now();
        let responses: Vec<Value> = pairs
            .into_iter()
            .map(|(mut header, body)| {
                if let (Some(index), Some(object)) = (&index, header.as_object_mut()) {
                    object
                        .entry("index")
                        .or_insert_with(|| Value::String(index.clone()));
                }
                parse_search(&header, &body, engine.schema(), now)
                    .and_then(|search| within(&limits, || run_search(&engine, &search, max_size)))
                    .unwrap_or_else(|error| refused(&error))
            })
            .collect();
        json!({"took": started.elapsed().as_millis() as u64, "responses": responses})
    })
    .await;
    match answered {
        Ok(body) => Json(body).into_response(),
        Err(error) => {
            tracing::error!(%error, "elastic search task failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"error": "internal error"})),
            )
                .into_response()
        }
    }
}

fn refused(error: &ElasticError) -> Value {
    if error.status() >= 500 {
        tracing::error!(%error, "elastic search failed");
    } else {
        tracing::debug!(%error, "elastic search refused");
    }
    error.to_json()
}

fn error_response(error: &ElasticError) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_REQUEST);
    (status, Json(error.to_json())).into_response()
}
