//! The query API's authentication in process: store tokens, static tokens, the token API,
//! rate limits (429 with `Retry-After`) and what refusals carry (status, outcome, no reason).

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use kestrel_query::access::{AccessOutcome, LiveTokens, NewToken, TokenStore};
use kestrel_query::api::{router, ApiSettings};
use kestrel_query::authenticate::{Authenticator, RateLimit};
use kestrel_query::SearchEngine;
use serde_json::{json, Value};
use tower::ServiceExt;

struct Api {
    app: axum::Router,
    store: TokenStore,
    _dir: tempfile::TempDir,
}

fn api(static_tokens: Vec<String>, rate_limit: Option<RateLimit>) -> Api {
    let dir = tempfile::tempdir().unwrap();
    let store = TokenStore::new(dir.path());
    let auth = Authenticator::new(
        static_tokens,
        true,
        Some(LiveTokens::open(store.clone())),
        rate_limit,
    );
    let settings = ApiSettings {
        default_limit: 10,
        max_limit: 100,
        auth: Arc::new(auth),
        metrics: None,
        alerts: None,
        placeholders: kestrel_detect::Placeholders::new(),
        filters: Vec::new(),
        limits: Default::default(),
        holds: None,
    };
    let app = router(SearchEngine::new(dir.path().join("index")), settings);
    Api {
        app,
        store,
        _dir: dir,
    }
}

fn token(store: &TokenStore, name: &str, role: &str, namespaces: Option<&str>) -> String {
    let new = NewToken::parse(name, role, namespaces, None, "test").unwrap();
    store.create(&new, chrono::Utc::now()).unwrap().0
}

async fn send(
    app: &axum::Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (
    StatusCode,
    axum::http::HeaderMap,
    Option<AccessOutcome>,
    Value,
) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let body = body.map_or(Body::empty(), |b| Body::from(b.to_string()));
    let response = app
        .clone()
        .oneshot(request.body(body).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let outcome = response.extensions().get::<AccessOutcome>().cloned();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, headers, outcome, value)
}

#[tokio::test]
async fn refusals_carry_their_reason_in_the_outcome_only() {
    let api = api(Vec::new(), None);
    let viewer = token(&api.store, "grafana", "viewer", Some("payments"));
    let ingest = token(&api.store, "shipper", "ingest", None);
    api.store.revoke("shipper", chrono::Utc::now()).unwrap();
    // The store's reader polls the file: give it the change.
    std::thread::sleep(std::time::Duration::from_millis(1200));

    let (status, headers, outcome, body) =
        send(&api.app, "GET", "/api/v1/alerts", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");
    assert_eq!(
        outcome,
        Some(AccessOutcome::Denied {
            identity: None,
            reason: "no_credentials".into()
        })
    );
    assert!(!body.to_string().contains("no_credentials"));

    let (status, _, outcome, _) =
        send(&api.app, "GET", "/api/v1/alerts", Some(&ingest), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        matches!(outcome, Some(AccessOutcome::Denied { reason, .. }) if reason == "revoked_token")
    );

    // A scoped viewer: alerts need analyst (403, role); search is allowed.
    let (status, _, outcome, body) =
        send(&api.app, "GET", "/api/v1/alerts", Some(&viewer), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body, json!({"error": "forbidden"}));
    let Some(AccessOutcome::Denied { identity, reason }) = outcome else {
        panic!("no denial outcome")
    };
    assert_eq!(reason, "role");
    assert_eq!(identity.unwrap().name, "grafana");
    let (status, _, outcome, _) =
        send(&api.app, "GET", "/api/v1/search?q=*", Some(&viewer), None).await;
    assert_ne!(status, StatusCode::FORBIDDEN);
    assert_ne!(status, StatusCode::UNAUTHORIZED);
    assert!(matches!(outcome, Some(AccessOutcome::Allowed(i)) if i.name == "grafana"));
}

#[tokio::test]
async fn the_token_api_creates_lists_and_revokes_for_unscoped_admins_only() {
    let static_token = "static-admin-token-0123456789".to_owned();
    let api = api(vec![static_token.clone()], None);
    let scoped_admin = token(&api.store, "ns-admin", "admin", Some("payments"));
    std::thread::sleep(std::time::Duration::from_millis(1200));

    let create = json!({"name": "ci", "role": "analyst", "namespaces": ["web"], "expires": "1d"});
    let (status, _, _, _) = send(
        &api.app,
        "POST",
        "/api/v1/tokens",
        Some(&scoped_admin),
        Some(create.clone()),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "cluster-wide route, scoped identity"
    );

    let (status, _, _, created) = send(
        &api.app,
        "POST",
        "/api/v1/tokens",
        Some(&static_token),
        Some(create.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["creator"], "static");
    assert_eq!(created["namespaces"], json!(["web"]));
    let new_token = created["token"].as_str().unwrap().to_owned();
    // Usable at once: the API re-reads the store after writing it.
    let (status, _, _, _) = send(&api.app, "GET", "/api/v1/alerts", Some(&new_token), None).await;
    assert_eq!(status, StatusCode::OK);

    let (status, _, _, duplicate) = send(
        &api.app,
        "POST",
        "/api/v1/tokens",
        Some(&static_token),
        Some(create),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{duplicate}");
    let (status, _, _, bad) = send(
        &api.app,
        "POST",
        "/api/v1/tokens",
        Some(&static_token),
        Some(json!({"name": "x", "role": "root"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        bad["error"]
            .as_str()
            .unwrap()
            .starts_with("role: unknown role"),
        "{bad}"
    );

    let (status, _, _, list) =
        send(&api.app, "GET", "/api/v1/tokens", Some(&static_token), None).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = list["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ns-admin", "ci"]);
    assert!(!list.to_string().contains(&new_token));
    assert!(!list.to_string().contains("sha256"));

    let (status, _, _, _) = send(
        &api.app,
        "DELETE",
        "/api/v1/tokens/ci",
        Some(&static_token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _, _) = send(&api.app, "GET", "/api/v1/alerts", Some(&new_token), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "revoked at once");
    let (status, _, _, _) = send(
        &api.app,
        "DELETE",
        "/api/v1/tokens/ci",
        Some(&static_token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _, _, _) = send(
        &api.app,
        "DELETE",
        "/api/v1/tokens/nobody",
        Some(&static_token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn identities_over_their_rate_limit_get_429_with_retry_after() {
    let limit = RateLimit {
        per_second: NonZeroU32::new(1).unwrap(),
        burst: NonZeroU32::new(3).unwrap(),
    };
    let api = api(Vec::new(), Some(limit));
    let first = token(&api.store, "first", "analyst", None);
    let second = token(&api.store, "second", "analyst", None);
    std::thread::sleep(std::time::Duration::from_millis(1200));
    for _ in 0..3 {
        let (status, _, _, _) = send(&api.app, "GET", "/api/v1/alerts", Some(&first), None).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, headers, outcome, body) =
        send(&api.app, "GET", "/api/v1/alerts", Some(&first), None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers[header::RETRY_AFTER], "1");
    assert_eq!(body, json!({"error": "rate limit exceeded"}));
    assert!(
        matches!(outcome, Some(AccessOutcome::Denied { reason, .. }) if reason == "rate_limited")
    );
    // Another identity has its own bucket.
    let (status, _, _, _) = send(&api.app, "GET", "/api/v1/alerts", Some(&second), None).await;
    assert_eq!(status, StatusCode::OK);
}
