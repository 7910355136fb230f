//! Authentication of the query API's requests, their authorization by the route table
//! ([`crate::authorize`]) and per-identity rate limits.
//!
//! Credentials are an `Authorization` header: `Bearer <token>`, or `Basic base64(user:token)`
//! (the password is the token; the user name is only logged), as Grafana's Elasticsearch data
//! source sends. A token is one of the static `query.auth.tokens` (the `admin` role,
//! deprecated) or a token of the store. With neither, nor `query.auth.required`, every request
//! is an unscoped admin (configuration validation allows that on loopback only).
//!
//! Refused requests are answered 401 (no or bad credentials), 403 (role or scope) or 429 (rate
//! limit) with a body that says no more; the reason goes to the log, to
//! [`crate::authorize::REQUESTS_DENIED`] and to the response's [`AccessOutcome`].

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use serde_json::json;

use crate::access::{
    AccessOutcome, Identity, IdentitySource, LiveTokens, OidcVerifier, Role, Scope, TokenCheck,
};
use crate::authorize::{authorize, route_access, Denial, RouteAccess, REQUESTS_DENIED};

/// A per-identity rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained requests per second.
    pub per_second: NonZeroU32,
    /// Requests allowed at once.
    pub burst: NonZeroU32,
}

type Limiter = RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock>;

/// Who may call: the credentials accepted and the rate limit.
pub struct Authenticator {
    static_tokens: Vec<String>,
    required: bool,
    store: Option<Arc<LiveTokens>>,
    oidc: Option<Arc<OidcVerifier>>,
    limiter: Option<Limiter>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field(
                "static_tokens",
                &format_args!("[{} redacted]", self.static_tokens.len()),
            )
            .field("required", &self.required)
            .field("store", &self.store.as_ref().map(|s| s.store().path()))
            .field("rate_limited", &self.limiter.is_some())
            .finish()
    }
}

impl Authenticator {
    /// Accepts `static_tokens` (as unscoped admins) and the tokens of `store`; credentials are
    /// required when any of them exists or when `required`.
    pub fn new(
        static_tokens: Vec<String>,
        required: bool,
        store: Option<Arc<LiveTokens>>,
        rate_limit: Option<RateLimit>,
    ) -> Authenticator {
        let limiter = rate_limit.map(|limit| {
            RateLimiter::keyed(Quota::per_second(limit.per_second).allow_burst(limit.burst))
        });
        Authenticator {
            static_tokens,
            required,
            store,
            oidc: None,
            limiter,
        }
    }

    /// Also accepts OIDC JWTs checked by `verifier`.
    pub fn with_oidc(mut self, verifier: OidcVerifier) -> Authenticator {
        self.oidc = Some(Arc::new(verifier));
        self
    }

    /// No authentication at all: every request is an unscoped admin.
    pub fn open() -> Authenticator {
        Authenticator::new(Vec::new(), false, None, None)
    }

    /// The token store, when there is one.
    pub fn store(&self) -> Option<&Arc<LiveTokens>> {
        self.store.as_ref()
    }

    /// Whether requests must carry credentials.
    pub fn enabled(&self) -> bool {
        self.required
            || self.oidc.is_some()
            || !self.static_tokens.is_empty()
            || self.store.as_ref().is_some_and(|s| !s.is_empty())
    }

    /// The identity of a request's credentials, or why there is none.
    pub async fn identify(&self, headers: &HeaderMap) -> Result<Identity, Denial> {
        if !self.enabled() {
            return Ok(Identity::unauthenticated());
        }
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(presented_token)
            .ok_or(Denial::NoCredentials)?;
        // Every static token is compared, so the time taken tells nothing about a guess.
        let is_static = self.static_tokens.iter().fold(false, |found, known| {
            constant_time_eq(known.as_bytes(), presented.as_bytes()) | found
        });
        if is_static {
            return Ok(Identity {
                name: "static".into(),
                role: Role::Admin,
                scope: Scope::All,
                source: IdentitySource::StaticToken,
            });
        }
        if let Some(oidc) = self
            .oidc
            .as_ref()
            .filter(|_| OidcVerifier::looks_like_jwt(&presented))
        {
            return verify_jwt(Arc::clone(oidc), presented).await;
        }
        let Some(store) = &self.store else {
            return Err(Denial::InvalidToken);
        };
        match store.check(&presented, Utc::now()) {
            TokenCheck::Valid(identity) => Ok(identity),
            TokenCheck::Expired(name) => {
                tracing::info!(token = %name, "expired token presented");
                Err(Denial::ExpiredToken)
            }
            TokenCheck::Revoked(name) => {
                tracing::info!(token = %name, "revoked token presented");
                Err(Denial::RevokedToken)
            }
            TokenCheck::Unknown => Err(Denial::InvalidToken),
        }
    }

    /// `Err(wait)` when `identity` has used up its rate limit.
    pub fn rate_limit(&self, identity: &Identity) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        let key = format!("{}:{}", identity.source.as_str(), identity.name);
        limiter
            .check_key(&key)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

/// Checks a JWT off the async runtime (it may fetch the issuer's keys); the reason of a
/// refusal is logged.
async fn verify_jwt(oidc: Arc<OidcVerifier>, token: String) -> Result<Identity, Denial> {
    let verified = tokio::task::spawn_blocking(move || oidc.verify(&token)).await;
    match verified {
        Ok(Ok(identity)) => Ok(identity),
        Ok(Err(error)) => {
            tracing::warn!(%error, "oidc token refused");
            Err(Denial::InvalidToken)
        }
        Err(error) => {
            tracing::error!(%error, "oidc check failed");
            Err(Denial::InvalidToken)
        }
    }
}

/// The middleware of every authenticated route: see the module documentation.
pub async fn authenticate(
    State(auth): State<Arc<Authenticator>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default();
    let Some(access) = route_access(&route) else {
        return deny(&route, None, Denial::UnlistedRoute);
    };
    if access == RouteAccess::Public {
        return next.run(request).await;
    }
    let identity = match auth.identify(request.headers()).await {
        Ok(identity) => identity,
        Err(denial) => return deny(&route, None, denial),
    };
    if let Err(denial) = authorize(&identity, access) {
        return deny(&route, Some(identity), denial);
    }
    if let Err(wait) = auth.rate_limit(&identity) {
        let mut response = deny(&route, Some(identity), Denial::RateLimited);
        // Whole seconds, rounded up, at least one.
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        return response;
    }
    allow(identity, request, next).await
}

/// Runs the request as `identity` (in the request's extensions) and records the outcome in
/// the response's extensions.
pub(crate) async fn allow(identity: Identity, mut request: Request, next: Next) -> Response {
    request.extensions_mut().insert(identity.clone());
    let mut response = next.run(request).await;
    response
        .extensions_mut()
        .insert(AccessOutcome::Allowed(identity));
    response
}

/// The refusal of a request: logged and counted with its reason, answered without it.
fn deny(route: &str, identity: Option<Identity>, denial: Denial) -> Response {
    let reason = denial.label();
    tracing::warn!(
        route,
        reason,
        identity = identity.as_ref().map(|i| i.name.as_str()),
        role = identity.as_ref().map(|i| i.role.as_str()),
        "request denied"
    );
    metrics::counter!(REQUESTS_DENIED, "reason" => reason).increment(1);
    let (status, message) = match denial {
        Denial::NoCredentials
        | Denial::InvalidToken
        | Denial::ExpiredToken
        | Denial::RevokedToken => (
            StatusCode::UNAUTHORIZED,
            "missing or invalid bearer token (or basic authentication password)",
        ),
        Denial::Role | Denial::Scope | Denial::UnlistedRoute => {
            (StatusCode::FORBIDDEN, "forbidden")
        }
        Denial::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "rate limit exceeded"),
    };
    let mut response = (status, Json(json!({ "error": message }))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response.extensions_mut().insert(AccessOutcome::Denied {
        identity,
        reason: reason.into(),
    });
    response
}

/// The token of an `Authorization` header: `Bearer <token>`, or `Basic base64(user:token)`.
pub fn presented_token(value: &str) -> Option<String> {
    if let Some(token) = value.strip_prefix("Bearer ") {
        return Some(token.trim().to_owned());
    }
    let encoded = value.strip_prefix("Basic ")?;
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, token) = text.split_once(':')?;
    tracing::debug!(user, "basic authentication");
    Some(token.to_owned())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
