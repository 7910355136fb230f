//! Kestrel's own audit trail through the API: a counted set of calls of every kind (some
//! refused) each leave exactly one `kestrel_audit` event with the right fields, readable by an
//! unscoped admin at `/api/v1/audit` only, and never returned by the searches of collected
//! events.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use kestrel_collector::normalize::{normalize_bytes, Format, Output, SourceContext};
use kestrel_event::parse_timestamp;
use kestrel_generate::{generate, GenerateOptions, Kind};
use kestrel_indexer::{Indexer, IndexerOptions};
use kestrel_query::access::{Identity, IdentitySource, Role, Scope};
use kestrel_query::api::{router, router_with_identity, ApiSettings};
use kestrel_query::audit_trail::{with_audit_trail, AuditTrail, IndexSink};
use kestrel_query::{SearchEngine, SearchRequest};
use serde_json::{json, Value};
use tower::ServiceExt;

const TOKEN: &str = "audit-test-token";

/// Indexes 400 generated events under `root`; answers their number.
fn index(root: &Path, scratch: &Path) -> u64 {
    let options = GenerateOptions {
        kind: Kind::Mixed,
        events: 400,
        seed: 5,
        ..GenerateOptions::default()
    };
    let summary = generate(&options, scratch).unwrap();
    let options = IndexerOptions {
        writer_memory_bytes: 15_000_000,
        max_open_partitions: 4,
        writer_threads: 1,
        classifier: None,
    };
    let mut indexer = Indexer::open(root, options).unwrap();
    for file in &summary.files {
        let path = scratch.join(&file.path);
        let context = SourceContext {
            content_id: None,
            path: path.to_string_lossy().into_owned(),
            host_name: "node-1".into(),
            ingested: parse_timestamp("2030-01-01T00:00:00Z").unwrap(),
        };
        for output in
            normalize_bytes(Format::Auto, context, &std::fs::read(&path).unwrap()).unwrap()
        {
            if let Output::Event(event) = output {
                indexer.add(&event).unwrap();
            }
        }
    }
    indexer.commit().unwrap();
    drop(indexer);
    let engine = SearchEngine::new(root);
    engine
        .search(&SearchRequest::parse("*", 0).unwrap())
        .unwrap()
        .total
}

fn settings(tokens: Vec<String>) -> ApiSettings {
    ApiSettings {
        default_limit: 100,
        max_limit: 10_000,
        auth: std::sync::Arc::new(kestrel_query::authenticate::Authenticator::new(
            tokens, false, None, None,
        )),
        metrics: None,
        alerts: None,
        placeholders: Default::default(),
        filters: Vec::new(),
        limits: Default::default(),
        holds: None,
    }
}

struct Call {
    method: &'static str,
    uri: String,
    token: Option<&'static str>,
    body: String,
}

impl Call {
    fn get(uri: impl Into<String>, token: Option<&'static str>) -> Call {
        Call {
            method: "GET",
            uri: uri.into(),
            token,
            body: String::new(),
        }
    }

    fn post(uri: &str, body: String) -> Call {
        Call {
            method: "POST",
            uri: uri.into(),
            token: Some(TOKEN),
            body,
        }
    }
}

/// Sends `call` from `address`, as a server built with `into_make_service_with_connect_info`
/// would; answers the status and the body.
async fn send(app: &axum::Router, call: &Call, address: SocketAddr) -> (StatusCode, Vec<u8>) {
    let mut request = Request::builder()
        .method(call.method)
        .uri(&call.uri)
        .header("content-type", "application/json");
    if let Some(token) = call.token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let mut request = request.body(Body::from(call.body.clone())).unwrap();
    request.extensions_mut().insert(ConnectInfo(address));
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, bytes.to_vec())
}

#[tokio::test]
async fn every_request_leaves_one_audit_event_readable_by_admins_only() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("index");
    let collected = index(&root, &dir.path().join("generated"));
    let some_event = SearchEngine::new(&root)
        .search(&SearchRequest::parse("event.kind:container", 1).unwrap())
        .unwrap()
        .hits[0]["event"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let trail = AuditTrail::start(IndexSink::new(&root), 10_000);
    let app = with_audit_trail(
        router(SearchEngine::new(&root), settings(vec![TOKEN.into()])),
        trail.clone(),
    );
    let rules = "title: Gets\nid: audit-test\nlogsource: {product: kubernetes, service: audit}\n\
                 detection: {selection: {verb: get}, condition: selection}\nlevel: low\n";
    let calls = vec![
        Call::get("/api/v1/search?q=event.kind:k8s_audit&limit=5", Some(TOKEN)),
        Call::get("/api/v1/search?q=verb:get", Some("wrong-token")),
        Call::get("/api/v1/search?q=verb:get", None),
        Call::post(
            "/api/v1/aggregate",
            json!({"aggs": {"k": {"terms": {"field": "event.kind"}}}}).to_string(),
        ),
        Call::get("/api/v1/export?q=event.kind:container", Some(TOKEN)),
        Call::get(format!("/api/v1/events/{some_event}/context"), Some(TOKEN)),
        Call::get("/api/v1/events/0123abcd/context", Some(TOKEN)),
        Call::post("/api/v1/hunt", json!({"rules": rules}).to_string()),
        Call::get("/api/v1/alerts", Some(TOKEN)),
        Call::post(
            "/api/v1/elastic/_msearch",
            "{\"index\":\"kestrel\"}\n{\"size\":3,\"query\":{\"match_all\":{}}}\n".into(),
        ),
        Call::get("/api/v1/audit", Some("wrong-token")),
    ];
    let mut answers = Vec::new();
    for (i, call) in calls.iter().enumerate() {
        let address: SocketAddr = format!("10.1.2.3:{}", 40_000 + i).parse().unwrap();
        answers.push(send(&app, call, address).await);
    }
    let statuses: Vec<u16> = answers.iter().map(|(s, _)| s.as_u16()).collect();
    assert_eq!(
        statuses,
        [200, 401, 401, 200, 200, 200, 404, 200, 200, 200, 401]
    );
    tokio::task::spawn_blocking({
        let trail = trail.clone();
        move || trail.flush()
    })
    .await
    .unwrap();
    assert_eq!(trail.dropped(), 0);

    let (status, body) = send(
        &app,
        &Call::get("/api/v1/audit?limit=100&sort=asc", Some(TOKEN)),
        "127.0.0.1:1".parse().unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer["total"], calls.len() as u64, "{answer:#}");
    let by_port: BTreeMap<u16, Value> = answer["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hit| {
            assert_eq!(hit["event"]["kind"], "kestrel_audit");
            let k = hit["kestrel"].clone();
            let address: SocketAddr = k["source_address"].as_str().unwrap().parse().unwrap();
            (address.port(), k)
        })
        .collect();
    assert_eq!(by_port.len(), calls.len(), "one event per call");
    for (i, (call, (status, body))) in calls.iter().zip(&answers).enumerate() {
        let k = &by_port[&(40_000 + i as u16)];
        let route = call.uri.split('?').next().unwrap();
        let route = if route.contains("/events/") {
            "/api/v1/events/{id}/context"
        } else {
            route
        };
        assert_eq!(k["route"], route, "call {i}");
        assert_eq!(k["method"], call.method, "call {i}");
        assert_eq!(k["status"], status.as_u16(), "call {i}");
        assert_eq!(k["bytes"], body.len() as u64, "call {i}");
        assert_eq!(k["action"], "request");
        assert!(k["duration_ms"].as_f64().unwrap() >= 0.0);
        let allowed = status.as_u16() != 401;
        assert_eq!(k["allowed"], allowed, "call {i}");
        if allowed {
            assert_eq!(k["who"], "static", "call {i}");
            assert_eq!(k["role"], "admin");
            assert_eq!(k["scope"], "*");
        } else {
            let reason = if call.token.is_some() {
                "invalid_token"
            } else {
                "no_credentials"
            };
            assert_eq!(k["reason"], reason, "call {i}");
            assert!(k.get("who").is_none());
        }
    }
    // Result counts, query text and exported bytes.
    let search: Value = serde_json::from_slice(&answers[0].1).unwrap();
    assert_eq!(by_port[&40_000]["hits"], 5);
    assert_eq!(by_port[&40_000]["total"], search["total"]);
    assert_eq!(by_port[&40_000]["query"], "event.kind:k8s_audit");
    let aggregated: Value = serde_json::from_slice(&answers[3].1).unwrap();
    assert_eq!(by_port[&40_003]["total"], aggregated["total"]);
    let exported = answers[4].1.iter().filter(|b| **b == b'\n').count();
    assert!(exported > 0 && by_port[&40_004]["bytes"].as_u64().unwrap() > 1_000);

    // Searches of collected events never see the trail.
    let engine = SearchEngine::new(&root);
    let everything = engine
        .search(&SearchRequest::parse("*", 0).unwrap())
        .unwrap();
    assert_eq!(everything.total, collected);
    let audit_kind = SearchRequest::parse("event.kind:kestrel_audit", 10).unwrap();
    assert_eq!(engine.search(&audit_kind).unwrap().total, 0);
    assert!(root.join("kestrel_audit").is_dir());
    let trail_only = engine.audit_trail().search(&audit_kind).unwrap();
    assert!(trail_only.total >= calls.len() as u64);

    // Only unscoped admins read it.
    for (role, scope) in [
        (Role::Analyst, Scope::All),
        (Role::Viewer, Scope::All),
        (Role::Admin, Scope::Namespaces(["shop".to_owned()].into())),
    ] {
        let identity = Identity {
            name: "someone".into(),
            role,
            scope,
            source: IdentitySource::StoredToken,
        };
        let app = router_with_identity(SearchEngine::new(&root), settings(Vec::new()), identity);
        let (status, _) = send(
            &app,
            &Call::get("/api/v1/audit", None),
            "127.0.0.1:2".parse().unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{role}");
    }
}
