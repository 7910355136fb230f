//! The token API (admin, unscoped): `POST /api/v1/tokens` creates a token (answered once),
//! `GET /api/v1/tokens` lists them without secrets, `DELETE /api/v1/tokens/{name}` revokes
//! one. The same store as `kestrel token`; running servers see each change at once.

use std::sync::Arc;

use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Extension, Json, Router};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::access::{Identity, LiveTokens, NewToken, StoreError, TokenRecord};
use crate::authorize::{TOKEN, TOKENS};

/// What the token routes need: the store, when the server has one.
#[derive(Clone, Debug)]
pub struct TokenApiState(pub Option<Arc<LiveTokens>>);

/// The token routes, for a router whose state gives a [`TokenApiState`].
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    TokenApiState: FromRef<S>,
{
    Router::new()
        .route(TOKENS, get(list).post(create))
        .route(TOKEN, delete(revoke))
}

/// Body of `POST /api/v1/tokens`: the arguments of `kestrel token create`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateParams {
    name: String,
    role: String,
    #[serde(default)]
    namespaces: Option<Vec<String>>,
    #[serde(default)]
    expires: Option<String>,
}

/// A record as the API shows it: no hash.
pub fn describe(record: &TokenRecord) -> Value {
    json!({
        "name": record.name,
        "role": record.role.as_str(),
        "namespaces": record.namespaces,
        "created_at": record.created_at,
        "creator": record.creator,
        "expires_at": record.expires_at,
        "revoked_at": record.revoked_at,
        "status": record.status(Utc::now()),
    })
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

fn store_error(e: StoreError) -> Response {
    let status = match &e {
        StoreError::UnknownName(_) => StatusCode::NOT_FOUND,
        StoreError::AlreadyRevoked(_) | StoreError::DuplicateName(_) => StatusCode::CONFLICT,
        StoreError::BadArgument { .. } => StatusCode::BAD_REQUEST,
        _ => {
            tracing::error!(error = %e, "token store failed");
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "token store failed".into(),
            );
        }
    };
    let message = match e {
        StoreError::BadArgument { argument, reason } => {
            format!("{}: {reason}", argument.trim_start_matches("--"))
        }
        other => other.to_string().replace("--name: ", ""),
    };
    error(status, message)
}

/// Runs a store operation off the async runtime.
async fn blocking<T: Send + 'static>(
    job: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, Response> {
    tokio::task::spawn_blocking(job)
        .await
        .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(store_error)
}

fn no_store() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "this server has no token store".into(),
    )
}

async fn create(
    State(TokenApiState(store)): State<TokenApiState>,
    Extension(caller): Extension<Identity>,
    body: axum::body::Bytes,
) -> Response {
    let Some(live) = store else { return no_store() };
    let params: CreateParams = match serde_json::from_slice(&body) {
        Ok(params) => params,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("invalid token request: {e}"),
            )
        }
    };
    let namespaces = params.namespaces.map(|n| n.join(","));
    let new = match NewToken::parse(
        &params.name,
        &params.role,
        namespaces.as_deref(),
        params.expires.as_deref(),
        &caller.name,
    ) {
        Ok(new) => new,
        Err(e) => return store_error(e),
    };
    let writer = Arc::clone(&live);
    let created = blocking(move || {
        let created = writer.store().create(&new, Utc::now())?;
        writer.reload_if_changed();
        Ok(created)
    })
    .await;
    match created {
        Ok((token, record)) => {
            tracing::info!(token = %record.name, role = %record.role, creator = %record.creator, "token created");
            let mut body = describe(&record);
            body["token"] = Value::String(token);
            (StatusCode::CREATED, Json(body)).into_response()
        }
        Err(response) => response,
    }
}

async fn list(State(TokenApiState(store)): State<TokenApiState>) -> Response {
    let Some(live) = store else { return no_store() };
    match blocking(move || live.store().list()).await {
        Ok(records) => {
            let tokens: Vec<Value> = records.iter().map(describe).collect();
            Json(json!({ "tokens": tokens })).into_response()
        }
        Err(response) => response,
    }
}

async fn revoke(
    State(TokenApiState(store)): State<TokenApiState>,
    Extension(caller): Extension<Identity>,
    Path(name): Path<String>,
) -> Response {
    let Some(live) = store else { return no_store() };
    let revoked = blocking(move || {
        let record = live.store().revoke(&name, Utc::now())?;
        live.reload_if_changed();
        Ok(record)
    })
    .await;
    match revoked {
        Ok(record) => {
            tracing::info!(token = %record.name, by = %caller.name, "token revoked");
            Json(describe(&record)).into_response()
        }
        Err(response) => response,
    }
}
