//! The legal hold API (admin, unscoped): `POST /api/v1/holds` places a hold, `GET
//! /api/v1/holds` lists them, `DELETE /api/v1/holds/{name}` releases one (with a `reason`).
//! The same store as `kestrel hold`; every change is recorded in the audit trail.

use axum::extract::{FromRef, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Extension, Json, Router};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::access::Identity;
use crate::audit_trail::RecordedChange;
use crate::authorize::{HOLD, HOLDS};
use crate::holds::{hold_event, HoldError, HoldStore, NewHold};

/// What the hold routes need: the store, when the server has one.
#[derive(Clone, Debug)]
pub struct HoldApiState(pub Option<HoldStore>);

/// The hold routes, for a router whose state gives a [`HoldApiState`].
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    HoldApiState: FromRef<S>,
{
    Router::new()
        .route(HOLDS, get(list).post(create))
        .route(HOLD, delete(release))
}

/// Body of `POST /api/v1/holds`: the arguments of `kestrel hold create`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateParams {
    name: String,
    query: String,
    from: String,
    to: String,
    reason: String,
}

/// Body or query string of `DELETE /api/v1/holds/{name}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReleaseParams {
    #[serde(default)]
    reason: String,
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

fn hold_error(e: HoldError) -> Response {
    let status = match &e {
        HoldError::UnknownName(_) => StatusCode::NOT_FOUND,
        HoldError::AlreadyReleased(_) | HoldError::DuplicateName(_) => StatusCode::CONFLICT,
        HoldError::BadArgument { .. } => StatusCode::BAD_REQUEST,
        HoldError::Io { .. } | HoldError::Corrupt { .. } => {
            tracing::error!(error = %e, "hold store failed");
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "hold store failed".into(),
            );
        }
    };
    let message = match e {
        HoldError::BadArgument { argument, reason } => {
            format!("{}: {reason}", argument.trim_start_matches("--"))
        }
        other => other.to_string().replace("--name: ", ""),
    };
    error(status, message)
}

async fn blocking<T: Send + 'static>(
    job: impl FnOnce() -> Result<T, HoldError> + Send + 'static,
) -> Result<T, Response> {
    tokio::task::spawn_blocking(job)
        .await
        .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(hold_error)
}

fn no_store() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "this server has no hold store".into(),
    )
}

/// The JSON body, or the message of a 400 answer.
fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("invalid hold request: {e}"))
}

async fn create(
    State(HoldApiState(store)): State<HoldApiState>,
    Extension(caller): Extension<Identity>,
    body: axum::body::Bytes,
) -> Response {
    let Some(store) = store else {
        return no_store();
    };
    let params: CreateParams = match parse_body(&body) {
        Ok(params) => params,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let now = Utc::now();
    let new = match NewHold::parse(
        &params.name,
        &params.query,
        &params.from,
        &params.to,
        &params.reason,
        now,
    ) {
        Ok(new) => new,
        Err(e) => return hold_error(e),
    };
    let who = caller.name.clone();
    match blocking(move || store.create(new, &who, now)).await {
        Ok(hold) => {
            tracing::info!(hold = %hold.name, by = %caller.name, "hold created");
            let change = RecordedChange(hold_event("hold_create", &hold));
            let mut response = (StatusCode::CREATED, Json(json!(hold))).into_response();
            response.extensions_mut().insert(change);
            response
        }
        Err(response) => response,
    }
}

async fn list(State(HoldApiState(store)): State<HoldApiState>) -> Response {
    let Some(store) = store else {
        return no_store();
    };
    match blocking(move || store.list()).await {
        Ok(holds) => {
            let holds: Vec<Value> = holds.iter().map(|h| json!(h)).collect();
            Json(json!({ "holds": holds })).into_response()
        }
        Err(response) => response,
    }
}

async fn release(
    State(HoldApiState(store)): State<HoldApiState>,
    Extension(caller): Extension<Identity>,
    Path(name): Path<String>,
    Query(query): Query<ReleaseParams>,
    body: axum::body::Bytes,
) -> Response {
    let Some(store) = store else {
        return no_store();
    };
    let params: ReleaseParams = match body.is_empty() {
        true => query,
        false => match parse_body(&body) {
            Ok(params) => params,
            Err(message) => return error(StatusCode::BAD_REQUEST, message),
        },
    };
    let who = caller.name.clone();
    match blocking(move || store.release(&name, &params.reason, &who, Utc::now())).await {
        Ok(hold) => {
            tracing::info!(hold = %hold.name, by = %caller.name, "hold released");
            let change = RecordedChange(hold_event("hold_release", &hold));
            let mut response = Json(json!(hold)).into_response();
            response.extensions_mut().insert(change);
            response
        }
        Err(response) => response,
    }
}
