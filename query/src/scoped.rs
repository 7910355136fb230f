//! The engine a request runs on: the server's engine narrowed to the caller's [`Identity`].
//!
//! Handlers never hold the unscoped engine: the router's state keeps it inside [`Engines`],
//! which hands out views only, and handlers take a [`ScopedEngine`] (or, for Kestrel's own
//! audit trail, an [`AuditTrailEngine`]) as an extractor. A request without an identity (a
//! route outside authentication) gets no engine at all.

use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::access::{Identity, Role, Scope};
use crate::search::SearchEngine;

/// The server's engine, handed out only as views for an identity.
#[derive(Clone)]
pub struct Engines {
    all: Arc<SearchEngine>,
}

impl Engines {
    /// Views over `engine` (which should be unscoped).
    pub fn new(engine: Arc<SearchEngine>) -> Engines {
        Engines { all: engine }
    }

    /// The collected events `identity` may see.
    pub fn for_identity(&self, identity: &Identity) -> Arc<SearchEngine> {
        self.all.scoped(&identity.scope)
    }

    /// Kestrel's own audit trail, for unscoped admins only.
    pub fn audit_trail(&self, identity: &Identity) -> Option<Arc<SearchEngine>> {
        let allowed = identity.role == Role::Admin && identity.scope == Scope::All;
        allowed.then(|| self.all.audit_trail())
    }

    /// The index root (for readiness checks).
    pub fn root(&self) -> &Path {
        self.all.root()
    }
}

/// The engine of the request's identity: every search, aggregation, export, context and hunt
/// run through it sees only the identity's namespaces.
pub struct ScopedEngine(pub Arc<SearchEngine>);

impl Deref for ScopedEngine {
    type Target = Arc<SearchEngine>;

    fn deref(&self) -> &Arc<SearchEngine> {
        &self.0
    }
}

impl<S> FromRequestParts<S> for ScopedEngine
where
    Engines: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Refusal> {
        let identity = identity(parts)?;
        Ok(ScopedEngine(
            Engines::from_ref(state).for_identity(identity),
        ))
    }
}

/// The engine over Kestrel's own audit trail; refused (403) unless the caller is an unscoped
/// admin.
pub struct AuditTrailEngine(pub Arc<SearchEngine>);

impl<S> FromRequestParts<S> for AuditTrailEngine
where
    Engines: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Refusal> {
        let identity = identity(parts)?;
        match Engines::from_ref(state).audit_trail(identity) {
            Some(engine) => Ok(AuditTrailEngine(engine)),
            None => Err(Refusal(
                StatusCode::FORBIDDEN,
                "the audit trail is for unscoped admins only",
            )),
        }
    }
}

fn identity(parts: &Parts) -> Result<&Identity, Refusal> {
    parts.extensions.get::<Identity>().ok_or_else(|| {
        tracing::error!(path = %parts.uri.path(), "request without an identity reached a handler");
        Refusal(StatusCode::INTERNAL_SERVER_ERROR, "no identity")
    })
}

/// Why a request gets no engine, answered as `{"error": "..."}`.
#[derive(Debug)]
pub struct Refusal(StatusCode, &'static str);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}
