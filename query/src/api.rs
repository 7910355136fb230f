//! The HTTP API: search, health, readiness; bearer-token authentication when tokens are
//! configured.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRef, Path, Query as QueryParams, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use tokio_stream::StreamExt;

use crate::access::{Identity, Scope};
use crate::audit_trail::AuditDetails;
use crate::authenticate::{allow, authenticate, Authenticator};
use crate::error::SearchError;
use crate::export::export_within;
use crate::language::{parse, parse_time};
use crate::limits::{within, QueryLimits};
use crate::request_metrics::{measure, RequestMetrics};
use crate::scoped::{AuditTrailEngine, Engines, ScopedEngine};
use crate::search::{Cursor, SearchEngine, SearchRequest, SortOrder};

/// Settings of the API.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Hits returned when a search gives no `limit`.
    pub default_limit: usize,
    /// Largest accepted `limit`.
    pub max_limit: usize,
    /// Who may call: static tokens, the token store, the rate limit (see
    /// [`crate::authenticate`]). [`Authenticator::open`] means no authentication (only
    /// allowed on loopback, which configuration validation enforces).
    pub auth: Arc<Authenticator>,
    /// Renders the process's Prometheus metrics for `/metrics` (not served when `None`).
    pub metrics: Option<MetricsRenderer>,
    /// The alert store listed by `/api/v1/alerts` (empty list when `None`).
    pub alerts: Option<kestrel_detect::AlertStore>,
    /// Values of the placeholders (`field|expand: '%name%'`) of rules posted to
    /// `/api/v1/hunt`: those real-time detection uses.
    pub placeholders: kestrel_detect::Placeholders,
    /// The configured Sigma filters (`detection.filters`), applied to the rules posted to
    /// `/api/v1/hunt` that they refine (rules they name that are not posted are passed over).
    pub filters: Vec<kestrel_detect::SigmaFilter>,
    /// Limits of one request (`[query.limits]`).
    pub limits: QueryLimits,
    /// The legal holds served by `/api/v1/holds` (answered 404 when `None`).
    pub holds: Option<crate::holds::HoldStore>,
}

/// Renders Prometheus metrics in the text exposition format.
#[derive(Clone)]
pub struct MetricsRenderer(Arc<dyn Fn() -> String + Send + Sync>);

impl MetricsRenderer {
    /// A renderer calling `render`.
    pub fn new(render: impl Fn() -> String + Send + Sync + 'static) -> MetricsRenderer {
        MetricsRenderer(Arc::new(render))
    }

    /// The metrics, now.
    pub fn render(&self) -> String {
        (self.0)()
    }
}

impl std::fmt::Debug for MetricsRenderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsRenderer")
    }
}

/// The router's state. The engine is reachable only through [`Engines`], as a view for the
/// request's identity ([`ScopedEngine`]).
#[derive(Clone)]
struct ApiState {
    engines: Engines,
    settings: Arc<ApiSettings>,
}

impl FromRef<ApiState> for Engines {
    fn from_ref(state: &ApiState) -> Self {
        state.engines.clone()
    }
}

impl FromRef<ApiState> for crate::token_api::TokenApiState {
    fn from_ref(state: &ApiState) -> Self {
        crate::token_api::TokenApiState(state.settings.auth.store().cloned())
    }
}

impl FromRef<ApiState> for crate::hold_api::HoldApiState {
    fn from_ref(state: &ApiState) -> Self {
        crate::hold_api::HoldApiState(state.settings.holds.clone())
    }
}

impl FromRef<ApiState> for crate::elastic::ElasticState {
    fn from_ref(state: &ApiState) -> Self {
        crate::elastic::ElasticState::with_limits(
            state.engines.clone(),
            state.settings.max_limit,
            state.settings.limits.clone(),
        )
    }
}

/// Builds the router; each matched request is timed in
/// [`crate::request_metrics::REQUEST_DURATION`] (build it after the metrics recorder is
/// installed).
pub fn router(engine: Arc<SearchEngine>, settings: ApiSettings) -> Router {
    let state = ApiState {
        engines: Engines::new(engine),
        settings: Arc::new(settings),
    };
    let api = api_routes(&state).route_layer(middleware::from_fn_with_state(
        Arc::clone(&state.settings.auth),
        authenticate,
    ));
    finish(api, state)
}

/// The router, serving every request as `identity` without authentication: for in-process
/// tests of what an identity sees (the production router is [`router`]).
#[doc(hidden)]
pub fn router_with_identity(
    engine: Arc<SearchEngine>,
    settings: ApiSettings,
    identity: Identity,
) -> Router {
    let state = ApiState {
        engines: Engines::new(engine),
        settings: Arc::new(settings),
    };
    let api =
        api_routes(&state).route_layer(middleware::from_fn(move |request: Request, next: Next| {
            allow(identity.clone(), request, next)
        }));
    finish(api, state)
}

/// The authenticated routes, their bodies bounded by `query.limits.max_body_bytes`.
fn api_routes(state: &ApiState) -> Router<ApiState> {
    let max_body_bytes = state.settings.limits.max_body_bytes;
    Router::new()
        .route(SEARCH, get(search_get).post(search_post))
        .route(CONTEXT, get(event_context))
        .route(EXPORT, get(export_ndjson))
        .route(AGGREGATE, axum::routing::post(aggregate))
        .route(HUNT, axum::routing::post(hunt_ndjson))
        .route(ALERTS, get(list_alerts))
        .route(AUDIT, get(audit_search))
        .route(METRICS, get(metrics_text))
        .merge(crate::elastic::routes())
        .merge(crate::token_api::routes())
        .merge(crate::hold_api::routes())
        .route_layer(middleware::from_fn_with_state(max_body_bytes, limit_body))
        .route_layer(DefaultBodyLimit::max(max_body_bytes))
}

/// Times the authenticated routes `api`, and adds the unauthenticated health routes.
fn finish(api: Router<ApiState>, state: ApiState) -> Router {
    let timing = Arc::new(RequestMetrics::new(&ROUTES));
    let api = api
        // Outside authentication, so that refused requests are timed too.
        .route_layer(middleware::from_fn_with_state(timing.clone(), measure))
        .with_state(state.clone());
    Router::new()
        .route(HEALTHZ, get(|| async { "ok" }))
        .route(READYZ, get(ready))
        .route_layer(middleware::from_fn_with_state(timing, measure))
        .with_state(state)
        .merge(api)
}

const SEARCH: &str = "/api/v1/search";
const CONTEXT: &str = "/api/v1/events/{id}/context";
const EXPORT: &str = "/api/v1/export";
const AGGREGATE: &str = "/api/v1/aggregate";
const HUNT: &str = "/api/v1/hunt";
const ALERTS: &str = "/api/v1/alerts";
const AUDIT: &str = "/api/v1/audit";
const METRICS: &str = "/metrics";
const HEALTHZ: &str = "/healthz";
const READYZ: &str = "/readyz";

const ELASTIC: [&str; 7] = crate::elastic::ROUTES;

/// Every route pattern: the `route` label values of the request latency histogram. Each is
/// in [`crate::authorize::ROUTE_TABLE`] (a unit test checks).
pub const ROUTES: [&str; 21] = [
    SEARCH,
    CONTEXT,
    EXPORT,
    AGGREGATE,
    HUNT,
    ALERTS,
    AUDIT,
    METRICS,
    HEALTHZ,
    READYZ,
    ELASTIC[0],
    ELASTIC[1],
    ELASTIC[2],
    ELASTIC[3],
    ELASTIC[4],
    ELASTIC[5],
    ELASTIC[6],
    crate::authorize::TOKENS,
    crate::authorize::TOKEN,
    crate::authorize::HOLDS,
    crate::authorize::HOLD,
];

/// Parameters of a search, from the query string (GET) or a JSON body (POST).
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// The query; empty or absent matches everything.
    #[serde(default)]
    pub q: Option<String>,
    /// Earliest `@timestamp`: RFC 3339 or relative (`now-15m`).
    #[serde(default)]
    pub from: Option<String>,
    /// Latest `@timestamp`.
    #[serde(default)]
    pub to: Option<String>,
    /// Maximum hits.
    #[serde(default)]
    pub limit: Option<usize>,
    /// `desc` (newest first, default) or `asc`.
    #[serde(default)]
    pub sort: Option<String>,
    /// Cursor from a previous page's `next`: continue after it.
    #[serde(default)]
    pub search_after: Option<String>,
    /// Comma-separated dotted paths to keep in each hit (`user.username,verb`).
    #[serde(default)]
    pub fields: Option<String>,
}

/// An error answered as `{"error": "..."}` with its status.
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl ApiError {
    /// A server-side failure: logged with a request id, answered with that id only (the
    /// details may hold paths).
    fn internal(error: &dyn std::fmt::Display) -> ApiError {
        let id = request_id();
        tracing::error!(request_id = %id, %error, "request failed");
        ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("internal error (request id {id})"),
        )
    }
}

impl From<SearchError> for ApiError {
    fn from(e: SearchError) -> Self {
        match e {
            SearchError::Limit(_) | SearchError::AggregationLimit(_) => {
                ApiError(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
            }
            SearchError::Timeout(_) => {
                tracing::warn!(error = %e, "search past its time budget");
                ApiError(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
            }
            e if e.is_client_error() => ApiError(StatusCode::BAD_REQUEST, e.to_string()),
            e => ApiError::internal(&e),
        }
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        ApiError::internal(&e)
    }
}

/// An id telling one failed request from another in the log: the time in nanoseconds mixed
/// with a counter.
fn request_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{:016x}", nanos ^ count.rotate_right(17))
}

/// Refuses bodies over `query.limits.max_body_bytes` (`413` naming the limit), reading at most
/// that many bytes; the handlers then get the buffered body.
async fn limit_body(State(max): State<usize>, request: Request, next: Next) -> Response {
    let too_large = || {
        ApiError(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than query.limits.max_body_bytes = {max}"),
        )
        .into_response()
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > max as u64) {
        return too_large();
    }
    let (parts, body) = request.into_parts();
    match axum::body::to_bytes(body, max).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(_) => too_large(),
    }
}

/// Turns request parameters into a search request, validating each one.
pub fn build_request(
    params: &SearchParams,
    settings: &ApiSettings,
) -> Result<SearchRequest, SearchError> {
    let text = params.q.as_deref().unwrap_or("").trim();
    settings
        .limits
        .check_text(text)
        .map_err(SearchError::Limit)?;
    let query = if text.is_empty() {
        crate::language::Query::All
    } else {
        parse(text)?
    };
    let now = Utc::now();
    let time = |name: &'static str, value: &Option<String>| time_bound(name, value, now);
    let limit = params.limit.unwrap_or(settings.default_limit);
    if limit > settings.max_limit {
        return Err(SearchError::BadParameter {
            name: "limit",
            reason: format!("{limit} is above the maximum of {}", settings.max_limit),
        });
    }
    let order = match params.sort.as_deref().map(str::trim) {
        None | Some("") | Some("desc") | Some("@timestamp:desc") => SortOrder::Desc,
        Some("asc") | Some("@timestamp:asc") => SortOrder::Asc,
        Some(other) => {
            return Err(SearchError::BadParameter {
                name: "sort",
                reason: format!("{other:?} is not one of desc, asc"),
            })
        }
    };
    let search_after = params
        .search_after
        .as_deref()
        .filter(|c| !c.trim().is_empty())
        .map(|c| Cursor::decode(c.trim()))
        .transpose()?;
    let fields = params
        .fields
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_owned)
        .collect();
    Ok(SearchRequest {
        query,
        from: time("from", &params.from)?,
        to: time("to", &params.to)?,
        limit,
        order,
        search_after,
        fields,
        count_total: true,
    })
}

async fn search_get(
    State(state): State<ApiState>,
    engine: ScopedEngine,
    QueryParams(params): QueryParams<SearchParams>,
) -> Result<Response, ApiError> {
    run_search(state, engine.0, params).await
}

async fn search_post(
    State(state): State<ApiState>,
    engine: ScopedEngine,
    Json(params): Json<SearchParams>,
) -> Result<Response, ApiError> {
    run_search(state, engine.0, params).await
}

async fn run_search(
    state: ApiState,
    engine: Arc<SearchEngine>,
    params: SearchParams,
) -> Result<Response, ApiError> {
    let request = build_request(&params, &state.settings)?;
    let limits = state.settings.limits.clone();
    let response =
        tokio::task::spawn_blocking(move || within(&limits, || engine.search(&request))).await??;
    let details = AuditDetails {
        hits: Some(response.hits.len() as u64),
        total: Some(response.total),
    };
    Ok(with_details(Json(response).into_response(), details))
}

/// `GET /api/v1/audit`: Kestrel's own audit trail, searched like `/api/v1/search` (same
/// parameters and answer), for unscoped admins only.
async fn audit_search(
    State(state): State<ApiState>,
    AuditTrailEngine(engine): AuditTrailEngine,
    QueryParams(params): QueryParams<SearchParams>,
) -> Result<Response, ApiError> {
    run_search(state, engine, params).await
}

/// `response` carrying `details` for its audit event.
fn with_details(mut response: Response, details: AuditDetails) -> Response {
    response.extensions_mut().insert(details);
    response
}

/// Parameters of `/api/v1/events/{id}/context`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextParams {
    /// Lines before the event (default 10, at most `max_limit`).
    #[serde(default)]
    pub before: Option<usize>,
    /// Lines after the event (default 10, at most `max_limit`).
    #[serde(default)]
    pub after: Option<usize>,
}

async fn event_context(
    State(state): State<ApiState>,
    ScopedEngine(engine): ScopedEngine,
    Path(id): Path<String>,
    QueryParams(params): QueryParams<ContextParams>,
) -> Result<Response, ApiError> {
    let limit = |name: &'static str, value: Option<usize>| {
        let value = value.unwrap_or(10);
        if value > state.settings.max_limit {
            return Err(SearchError::BadParameter {
                name,
                reason: format!(
                    "{value} is above the maximum of {}",
                    state.settings.max_limit
                ),
            });
        }
        Ok(value)
    };
    let (before, after) = (
        limit("before", params.before)?,
        limit("after", params.after)?,
    );
    let lookup = id.clone();
    let limits = state.settings.limits.clone();
    let context = tokio::task::spawn_blocking(move || {
        within(&limits, || engine.context(&lookup, before, after))
    })
    .await??;
    match context {
        Some(context) => Ok(Json(context).into_response()),
        None => Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no event with id {id}"),
        )),
    }
}

/// Streams every matching event as NDJSON (`q`, `from`, `to`; oldest first), in bounded
/// memory.
async fn export_ndjson(
    State(state): State<ApiState>,
    ScopedEngine(engine): ScopedEngine,
    QueryParams(params): QueryParams<SearchParams>,
) -> Result<Response, ApiError> {
    let request = build_request(
        &SearchParams {
            limit: Some(0),
            ..params
        },
        &state.settings,
    )?;
    let limits = state.settings.limits.clone();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, SearchError>>(4);
    tokio::task::spawn_blocking(move || {
        let errors = tx.clone();
        let result = export_within(&engine, &request, &limits, |chunk| {
            tx.blocking_send(Ok(chunk)).is_ok()
        });
        if let Err(error) = result {
            tracing::error!(%error, "export failed");
            let _ = errors.blocking_send(Err(error));
        }
    });
    // A failure before the first page is answered with its status; a later one can only cut
    // the stream short (the status line is sent).
    let first = match rx.recv().await {
        Some(Err(error)) => return Err(error.into()),
        first => first,
    };
    let rest = tokio_stream::wrappers::ReceiverStream::new(rx);
    let chunks = tokio_stream::iter(first)
        .chain(rest)
        .map(|chunk| chunk.map_err(|error| std::io::Error::other(ApiError::from(error).1)));
    let body = Body::from_stream(chunks);
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}

/// Parameters of `GET /api/v1/alerts`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AlertParams {
    #[serde(default)]
    rule_id: Option<String>,
    #[serde(default)]
    level: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

/// A `from`/`to` parameter (RFC 3339 or relative to `now`); empty means unbounded.
fn time_bound(
    name: &'static str,
    value: &Option<String>,
    now: chrono::DateTime<Utc>,
) -> Result<Option<chrono::DateTime<Utc>>, SearchError> {
    value
        .as_deref()
        .filter(|v| !v.trim().is_empty())
        .map(|v| {
            parse_time(v, now).map_err(|e| SearchError::BadParameter {
                name,
                reason: e.to_string(),
            })
        })
        .transpose()
}

/// `GET /api/v1/alerts?rule_id=&level=&from=&to=&limit=`: stored alerts, newest first, each
/// in its latest state (suppressed repeats counted).
async fn list_alerts(
    State(state): State<ApiState>,
    ScopedEngine(engine): ScopedEngine,
    QueryParams(params): QueryParams<AlertParams>,
) -> Result<Response, ApiError> {
    let now = Utc::now();
    let time = |name: &'static str, value: &Option<String>| {
        time_bound(name, value, now).map(|t| t.map(|t| kestrel_event::format_timestamp(&t)))
    };
    let filter = kestrel_detect::AlertFilter {
        rule_id: params.rule_id,
        level: params.level,
        from: time("from", &params.from)?,
        to: time("to", &params.to)?,
        limit: params
            .limit
            .unwrap_or(state.settings.default_limit)
            .min(state.settings.max_limit),
    };
    let Some(store) = state.settings.alerts.clone() else {
        return Ok(Json(json!({"alerts": []})).into_response());
    };
    let alerts =
        tokio::task::spawn_blocking(move || visible_alerts(&store, &engine, filter)).await??;
    let details = AuditDetails {
        hits: Some(alerts.len() as u64),
        total: None,
    };
    Ok(with_details(
        Json(json!({ "alerts": alerts })).into_response(),
        details,
    ))
}

/// The alerts of `filter` that `engine` sees: for a scoped engine, those whose events are all
/// visible (an alert listing fewer event ids than it counts cannot be checked, and is hidden).
/// Blocking.
fn visible_alerts(
    store: &kestrel_detect::AlertStore,
    engine: &SearchEngine,
    filter: kestrel_detect::AlertFilter,
) -> Result<Vec<serde_json::Value>, ApiError> {
    let internal = |e: String| ApiError::internal(&e);
    let scoped = engine.view().scope().is_some_and(Scope::is_limited);
    if !scoped {
        return store.list(&filter).map_err(|e| internal(e.to_string()));
    }
    let limit = filter.limit;
    let every = kestrel_detect::AlertFilter {
        limit: usize::MAX,
        ..filter
    };
    let mut visible = Vec::new();
    for alert in store.list(&every).map_err(|e| internal(e.to_string()))? {
        if visible.len() == limit {
            break;
        }
        let ids: Vec<String> = alert["event_ids"]
            .as_array()
            .map(|ids| {
                ids.iter()
                    .filter_map(|id| id.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let complete = alert["count"]
            .as_u64()
            .is_some_and(|n| n <= ids.len() as u64);
        if complete && engine.sees_all(&ids)? {
            visible.push(alert);
        }
    }
    Ok(visible)
}

/// Body of `POST /api/v1/hunt`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HuntParams {
    /// Sigma rules as YAML (several documents separated by `---`).
    rules: String,
    /// Earliest `@timestamp`: RFC 3339 or relative.
    #[serde(default)]
    from: Option<String>,
    /// Latest `@timestamp`.
    #[serde(default)]
    to: Option<String>,
}

/// `POST /api/v1/hunt`: runs the rules of the JSON body (correlations included) over indexed
/// history and answers their alerts as NDJSON, oldest first. Invalid rules are answered 400
/// with the rule and part at fault.
async fn hunt_ndjson(
    State(state): State<ApiState>,
    ScopedEngine(engine): ScopedEngine,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let bad = |message: String| ApiError(StatusCode::BAD_REQUEST, message);
    let params: HuntParams =
        serde_json::from_slice(&body).map_err(|e| bad(format!("invalid hunt request: {e}")))?;
    let mut documents =
        kestrel_detect::parse_rules_with("rules", &params.rules, &state.settings.placeholders)
            .map_err(|e| bad(e.to_string()))?;
    kestrel_detect::refine_present(&mut documents, &state.settings.filters);
    let mut detector = kestrel_detect::Detector::new(&documents).map_err(|e| bad(e.to_string()))?;
    let now = Utc::now();
    let from = time_bound("from", &params.from, now)?;
    let to = time_bound("to", &params.to, now)?;
    let limits = state.settings.limits.clone();
    let body = tokio::task::spawn_blocking(move || {
        let mut body = Vec::new();
        crate::hunt::hunt_within(&engine, &mut detector, from, to, &limits, |alert| {
            // Writing JSON into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut body, alert);
            body.push(b'\n');
        })
        .map(|_| body)
    })
    .await??;
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}

/// `POST /api/v1/aggregate`: runs the aggregations of the JSON body (see
/// [`crate::aggregate`]; any content type). Invalid requests are answered 400; requests beyond
/// the memory or bucket limit 422.
async fn aggregate(
    State(state): State<ApiState>,
    ScopedEngine(engine): ScopedEngine,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    use crate::aggregate::{AggregateParams, AggregateRequest};
    let params: AggregateParams = serde_json::from_slice(&body).map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("invalid aggregation request: {e}"),
        )
    })?;
    let request = AggregateRequest::from_params(
        &params,
        engine.schema(),
        engine.aggregation_limits(),
        Utc::now(),
    )?;
    let limits = state.settings.limits.clone();
    let response =
        tokio::task::spawn_blocking(move || within(&limits, || engine.aggregate(&request)))
            .await??;
    let details = AuditDetails {
        hits: None,
        total: Some(response.total),
    };
    Ok(with_details(Json(response).into_response(), details))
}

async fn metrics_text(State(state): State<ApiState>) -> Response {
    match &state.settings.metrics {
        Some(renderer) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            renderer.render(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "metrics are not enabled").into_response(),
    }
}

async fn ready(State(state): State<ApiState>) -> Response {
    let root = state.engines.root().to_owned();
    let readable = tokio::task::spawn_blocking(move || kestrel_indexer::list_partition_dirs(&root))
        .await
        .map(|r| r.is_ok())
        .unwrap_or(false);
    if readable {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "index not readable").into_response()
    }
}
