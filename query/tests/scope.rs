//! Namespace scopes on generated data (`kestrel_generate`, 8 namespaces): for every operation,
//! the answer of an engine scoped to 2 namespaces equals the unscoped answer filtered by hand,
//! at the engine level and through the HTTP API with a scoped identity.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{DateTime, Timelike, Utc};
use http_body_util::BodyExt;
use kestrel_collector::normalize::{normalize_bytes, Format, Output, SourceContext};
use kestrel_event::parse_timestamp;
use kestrel_generate::{generate, GenerateOptions, Kind};
use kestrel_indexer::{AddOutcome, Indexer, IndexerOptions};
use kestrel_query::access::{Identity, IdentitySource, Role, Scope};
use kestrel_query::aggregate::{AggregateParams, AggregateRequest};
use kestrel_query::api::{router_with_identity, ApiSettings};
use kestrel_query::export::export;
use kestrel_query::{SearchEngine, SearchRequest};
use serde_json::{json, Value};
use tower::ServiceExt;

/// The generated events, indexed, and what was stored.
struct Data {
    root: PathBuf,
    engine: Arc<SearchEngine>,
    /// Every stored event, by id.
    events: HashMap<String, Value>,
    /// The two namespaces of the scope.
    scope: Scope,
}

fn data() -> &'static Data {
    static DATA: OnceLock<Data> = OnceLock::new();
    DATA.get_or_init(build)
}

fn build() -> Data {
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("scope-test");
    let _ = std::fs::remove_dir_all(&base);
    let generated = base.join("generated");
    let options = GenerateOptions {
        kind: Kind::Mixed,
        events: 3_000,
        seed: 13,
        span: std::time::Duration::from_secs(2 * 86_400),
        attack_rate: 0.02,
        ..GenerateOptions::default()
    };
    let summary = generate(&options, &generated).unwrap();
    let root = base.join("index");
    let mut indexer = Indexer::open(
        &root,
        IndexerOptions {
            writer_memory_bytes: 15_000_000,
            max_open_partitions: 8,
            writer_threads: 1,
            classifier: None,
        },
    )
    .unwrap();
    let mut events = HashMap::new();
    for file in &summary.files {
        let path = generated.join(&file.path);
        let context = SourceContext {
            content_id: None,
            path: path.to_string_lossy().into_owned(),
            host_name: "node-1".into(),
            ingested: parse_timestamp("2030-01-01T00:00:00Z").unwrap(),
        };
        let bytes = std::fs::read(&path).unwrap();
        for output in normalize_bytes(Format::Auto, context, &bytes).unwrap() {
            if let Output::Event(event) = output {
                if indexer.add(&event).unwrap() == AddOutcome::Added {
                    let stored: Value = serde_json::from_str(&event.to_json()).unwrap();
                    events.insert(event.id().to_owned(), stored);
                }
            }
        }
    }
    indexer.commit().unwrap();
    drop(indexer);
    // The namespaces of the generated workloads (audit events name a few more).
    let namespaces: BTreeSet<&str> = events
        .values()
        .filter(|e| e["event"]["kind"] == "container")
        .filter_map(namespace_of)
        .collect();
    assert_eq!(namespaces.len(), 8, "{namespaces:?}");
    let chosen: Vec<&str> = namespaces.iter().copied().step_by(3).take(2).collect();
    let scope = Scope::Namespaces(chosen.iter().map(|n| n.to_string()).collect());
    Data {
        engine: SearchEngine::new(&root),
        root,
        events,
        scope,
    }
}

/// The namespace an event is scoped by, by hand.
fn namespace_of(event: &Value) -> Option<&str> {
    match event["event"]["kind"].as_str()? {
        "container" | "falco" => event["kubernetes"]["namespace"].as_str(),
        "k8s_audit" => event["objectRef"]["namespace"].as_str(),
        _ => None,
    }
}

fn visible(event: &Value) -> bool {
    data().scope.allows(namespace_of(event))
}

fn scoped() -> Arc<SearchEngine> {
    data().engine.scoped(&data().scope)
}

fn id_of(event: &Value) -> &str {
    event["event"]["id"].as_str().unwrap()
}

/// Every hit of `query`, newest first, read in pages of `page`; and the first page's total.
fn all_hits(engine: &SearchEngine, query: &str, page: usize) -> (u64, Vec<Value>) {
    let mut request = SearchRequest::parse(query, page).unwrap();
    let mut hits = Vec::new();
    let mut total = None;
    loop {
        let response = engine.search(&request).unwrap();
        total.get_or_insert(response.total);
        hits.extend(response.hits);
        match response.next {
            Some(next) => {
                request.search_after = Some(kestrel_query::Cursor::decode(&next).unwrap())
            }
            None => return (total.unwrap_or(0), hits),
        }
    }
}

#[test]
fn the_data_has_visible_hidden_and_namespaceless_events() {
    let events = &data().events;
    let shown = events.values().filter(|e| visible(e)).count();
    let namespaceless = events
        .values()
        .filter(|e| namespace_of(e).is_none())
        .count();
    assert!(shown > 200, "{shown} visible of {}", events.len());
    assert!(
        events.len() - shown > 1_000,
        "{shown} visible of {}",
        events.len()
    );
    assert!(
        namespaceless > 10,
        "{namespaceless} events without a namespace"
    );
}

#[test]
fn searches_return_exactly_the_visible_events_with_exact_totals() {
    let hidden = data()
        .events
        .values()
        .find(|e| !visible(e) && namespace_of(e).is_some())
        .map(|e| namespace_of(e).unwrap().to_owned())
        .unwrap();
    for query in [
        "*",
        "event.kind:k8s_audit",
        "event.kind:container AND stream:stderr",
        "verb:(get OR list OR delete)",
        &format!("kubernetes.namespace:{hidden} OR objectRef.namespace:{hidden}"),
    ] {
        let (_, everything) = all_hits(&data().engine, query, 1_000);
        let expected: Vec<&str> = everything
            .iter()
            .filter(|e| visible(e))
            .map(id_of)
            .collect();
        let (total, hits) = all_hits(&scoped(), query, 37);
        let got: Vec<&str> = hits.iter().map(id_of).collect();
        assert_eq!(total, expected.len() as u64, "total of {query:?}");
        assert_eq!(got, expected, "hits of {query:?}");
    }
}

fn aggregate(engine: &SearchEngine, body: Value) -> Value {
    let params: AggregateParams = serde_json::from_value(body).unwrap();
    let request = AggregateRequest::from_params(
        &params,
        engine.schema(),
        engine.aggregation_limits(),
        Utc::now(),
    )
    .unwrap();
    serde_json::to_value(engine.aggregate(&request).unwrap()).unwrap()
}

/// The terms result of `field` over `events`: most frequent first, ties by key.
fn terms_by_hand<'a>(events: impl Iterator<Item = &'a Value>, field: &str, size: usize) -> Value {
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for event in events {
        let value = field
            .split('.')
            .try_fold(event, |v, key| v.get(key))
            .and_then(Value::as_str);
        if let Some(value) = value {
            *counts.entry(value.to_lowercase()).or_default() += 1;
        }
    }
    let mut counts: Vec<(String, u64)> = counts.into_iter().collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let other: u64 = counts.iter().skip(size).map(|(_, c)| c).sum();
    counts.truncate(size);
    json!({
        "buckets": counts.iter().map(|(k, c)| json!({"key": k, "count": c})).collect::<Vec<_>>(),
        "other_count": other,
    })
}

fn hour_of(event: &Value) -> String {
    let t: DateTime<Utc> = parse_timestamp(event["@timestamp"].as_str().unwrap()).unwrap();
    let t = t.with_nanosecond(0).unwrap().with_second(0).unwrap();
    t.with_minute(0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[test]
fn aggregations_count_visible_events_only() {
    let body = json!({"aggs": {
        "ns": {"terms": {"field": "kubernetes.namespace", "size": 1}},
        "verbs": {"terms": {"field": "verb", "size": 3}},
        "kinds": {"terms": {"field": "event.kind", "size": 10}},
        "pods": {"cardinality": {"field": "kubernetes.pod.name"}},
        "hours": {"date_histogram": {"interval": "1h", "min_count": 1}},
    }});
    let visible_events: Vec<&Value> = data().events.values().filter(|e| visible(e)).collect();
    let answer = aggregate(&scoped(), body);
    assert_eq!(answer["total"], visible_events.len() as u64);
    let aggs = &answer["aggregations"];
    let by_hand = |field, size| terms_by_hand(visible_events.iter().copied(), field, size);
    assert_eq!(aggs["ns"], by_hand("kubernetes.namespace", 1));
    assert!(aggs["ns"]["other_count"].as_u64().unwrap() > 0);
    assert_eq!(aggs["verbs"], by_hand("verb", 3));
    assert_eq!(aggs["kinds"], by_hand("event.kind", 10));
    let pods: BTreeSet<&str> = visible_events
        .iter()
        .filter_map(|e| e["kubernetes"]["pod"]["name"].as_str())
        .collect();
    let estimate = aggs["pods"]["value"].as_f64().unwrap();
    assert!(
        (estimate - pods.len() as f64).abs() <= 1.0,
        "cardinality {estimate}, exact {}",
        pods.len()
    );
    let mut hours: BTreeMap<String, u64> = BTreeMap::new();
    for event in &visible_events {
        *hours.entry(hour_of(event)).or_default() += 1;
    }
    let got: BTreeMap<String, u64> = aggs["hours"]["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["key"].as_str().unwrap().to_owned(),
                b["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, hours);
}

fn exported(engine: &SearchEngine, query: &str) -> Vec<String> {
    let request = SearchRequest::parse(query, 0).unwrap();
    let mut bytes = Vec::new();
    export(engine, &request, |chunk| {
        bytes.extend(chunk);
        true
    })
    .unwrap();
    String::from_utf8(bytes)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn exports_write_the_visible_events_only() {
    for query in ["*", "event.kind:container"] {
        let expected: Vec<String> = exported(&data().engine, query)
            .into_iter()
            .filter(|line| visible(&serde_json::from_str(line).unwrap()))
            .collect();
        let got = exported(&scoped(), query);
        assert!(!got.is_empty());
        assert_eq!(got, expected, "export of {query:?}");
    }
}

#[test]
fn context_needs_a_visible_anchor_and_shows_visible_neighbours_only() {
    let containers = || {
        let mut events: Vec<&Value> = data()
            .events
            .values()
            .filter(|e| e["event"]["kind"] == "container")
            .collect();
        events.sort_by_key(|e| id_of(e).to_owned());
        events.into_iter()
    };
    let engine = scoped();
    for event in containers().filter(|e| visible(e)).take(10) {
        let id = id_of(event);
        let unscoped = data().engine.context(id, 5, 5).unwrap().unwrap();
        let mine = engine.context(id, 5, 5).unwrap().expect("visible anchor");
        let keep = |lines: &[Value]| -> Vec<Value> {
            lines.iter().filter(|e| visible(e)).cloned().collect()
        };
        assert_eq!(mine.event, unscoped.event);
        assert_eq!(mine.before, keep(&unscoped.before));
        assert_eq!(mine.after, keep(&unscoped.after));
        assert!(
            mine.before.len() + mine.after.len() > 0,
            "{id} has neighbours"
        );
    }
    for event in containers().filter(|e| !visible(e)).take(10) {
        assert!(engine.context(id_of(event), 5, 5).unwrap().is_none());
    }
    let hidden_audit = data()
        .events
        .values()
        .find(|e| e["event"]["kind"] == "k8s_audit" && !visible(e))
        .unwrap();
    assert!(engine.context(id_of(hidden_audit), 5, 5).unwrap().is_none());
}

const RULES: &str = r#"
title: Reads Of Objects
id: scope-test-reads
logsource:
    product: kubernetes
    service: audit
detection:
    selection:
        verb:
            - get
            - list
    condition: selection
level: low
---
title: Standard Error Lines
id: scope-test-stderr
logsource:
    product: kubernetes
    service: container
detection:
    selection:
        stream: stderr
    condition: selection
level: low
"#;

fn hunt(engine: &SearchEngine) -> Vec<kestrel_detect::Alert> {
    let documents = kestrel_detect::parse_rules_with("rules", RULES, &Default::default()).unwrap();
    let mut detector = kestrel_detect::Detector::new(&documents).unwrap();
    let mut alerts = Vec::new();
    kestrel_query::hunt::hunt(engine, &mut detector, None, None, |a| {
        alerts.push(a.clone())
    })
    .unwrap();
    alerts
}

fn alert_visible(alert: &kestrel_detect::Alert) -> bool {
    alert
        .event_ids
        .iter()
        .all(|id| data().events.get(id).is_some_and(visible))
}

#[test]
fn hunts_run_over_visible_events_only() {
    let everything = hunt(&data().engine);
    let expected: Vec<&str> = everything
        .iter()
        .filter(|a| alert_visible(a))
        .map(|a| a.id.as_str())
        .collect();
    let mine = hunt(&scoped());
    let got: Vec<&str> = mine.iter().map(|a| a.id.as_str()).collect();
    assert!(!got.is_empty() && got.len() < everything.len());
    assert_eq!(got, expected);
}

#[test]
fn an_alert_is_visible_when_all_its_events_are() {
    let engine = scoped();
    let shown = data()
        .events
        .values()
        .find(|e| visible(e))
        .map(id_of)
        .unwrap();
    let hidden = data()
        .events
        .values()
        .find(|e| !visible(e))
        .map(id_of)
        .unwrap();
    assert!(engine.sees_all(&[shown.to_owned()]).unwrap());
    assert!(!engine.sees_all(&[hidden.to_owned()]).unwrap());
    assert!(!engine
        .sees_all(&[shown.to_owned(), hidden.to_owned()])
        .unwrap());
    assert!(!engine.sees_all(&[]).unwrap());
    assert!(
        !engine.sees_all(&["0123abcd".to_owned()]).unwrap(),
        "unknown event"
    );
    assert!(data().engine.sees_all(&[hidden.to_owned()]).unwrap());
}

#[test]
fn the_audit_trail_and_collected_events_never_mix() {
    let audit = data().engine.audit_trail();
    assert_eq!(
        audit
            .search(&SearchRequest::parse("*", 10).unwrap())
            .unwrap()
            .total,
        0
    );
    let everything = data()
        .engine
        .search(&SearchRequest::parse("*", 0).unwrap())
        .unwrap();
    assert_eq!(everything.total, data().events.len() as u64);
    assert!(data().root.join("container").is_dir());
}

// Through HTTP, with the identity set by the router.

fn identity(scope: Scope) -> Identity {
    Identity {
        name: "scope-test".into(),
        role: Role::Analyst,
        scope,
        source: IdentitySource::StoredToken,
    }
}

fn settings(alerts: Option<kestrel_detect::AlertStore>) -> ApiSettings {
    ApiSettings {
        default_limit: 100,
        max_limit: 10_000,
        auth: std::sync::Arc::new(kestrel_query::authenticate::Authenticator::open()),
        metrics: None,
        alerts,
        placeholders: Default::default(),
        filters: Vec::new(),
        limits: Default::default(),
        holds: None,
    }
}

struct Api {
    router: axum::Router,
}

impl Api {
    fn new(scope: Scope, alerts: Option<kestrel_detect::AlertStore>) -> Api {
        let engine = SearchEngine::new(&data().root);
        Api {
            router: router_with_identity(engine, settings(alerts), identity(scope)),
        }
    }

    async fn call(&self, method: &str, uri: &str, body: &str) -> (StatusCode, Vec<u8>) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .body(Body::from(body.to_owned()))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, bytes.to_vec())
    }

    async fn json(&self, method: &str, uri: &str, body: &str) -> Value {
        let (status, bytes) = self.call(method, uri, body).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{uri}: {}",
            String::from_utf8_lossy(&bytes)
        );
        serde_json::from_slice(&bytes).unwrap()
    }
}

fn ndjson(bytes: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn ids(values: &[Value]) -> Vec<String> {
    values.iter().map(|v| id_of(v).to_owned()).collect()
}

#[tokio::test]
async fn every_route_answers_a_scoped_identity_with_the_filtered_unscoped_answer() {
    let store_dir = tempfile::tempdir().unwrap();
    let store = kestrel_detect::AlertStore::open(store_dir.path()).unwrap();
    store.append(&hunt(&data().engine)).unwrap();
    let all = Api::new(Scope::All, Some(store.clone()));
    let mine = Api::new(data().scope.clone(), Some(store));

    // Search: total and the first page.
    let uri = "/api/v1/search?q=event.kind:k8s_audit&limit=10000";
    let everything = all.json("GET", uri, "").await;
    let expected: Vec<Value> = everything["hits"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| visible(e))
        .cloned()
        .collect();
    let got = mine.json("GET", uri, "").await;
    assert_eq!(got["total"], expected.len() as u64);
    assert_eq!(ids(got["hits"].as_array().unwrap()), ids(&expected));

    // Aggregation.
    let body =
        json!({"q": "", "aggs": {"ns": {"terms": {"field": "objectRef.namespace", "size": 1}}}});
    let got = mine
        .json("POST", "/api/v1/aggregate", &body.to_string())
        .await;
    let shown: Vec<&Value> = data().events.values().filter(|e| visible(e)).collect();
    assert_eq!(got["total"], shown.len() as u64);
    assert_eq!(
        got["aggregations"]["ns"],
        terms_by_hand(shown.iter().copied(), "objectRef.namespace", 1)
    );

    // Export.
    let (status, bytes) = all.call("GET", "/api/v1/export?q=", "").await;
    assert_eq!(status, StatusCode::OK);
    let expected: Vec<Value> = ndjson(&bytes).into_iter().filter(visible).collect();
    let (status, bytes) = mine.call("GET", "/api/v1/export?q=", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ndjson(&bytes), expected);

    // Context: a hidden anchor is answered as if absent.
    let hidden = data()
        .events
        .values()
        .find(|e| e["event"]["kind"] == "container" && !visible(e))
        .unwrap();
    let uri = format!("/api/v1/events/{}/context", id_of(hidden));
    assert_eq!(all.call("GET", &uri, "").await.0, StatusCode::OK);
    assert_eq!(mine.call("GET", &uri, "").await.0, StatusCode::NOT_FOUND);

    // Hunt.
    let body = json!({"rules": RULES}).to_string();
    let (_, bytes) = all.call("POST", "/api/v1/hunt", &body).await;
    let expected: Vec<String> = ndjson(&bytes)
        .into_iter()
        .filter(|a| {
            a["event_ids"]
                .as_array()
                .unwrap()
                .iter()
                .all(|id| data().events.get(id.as_str().unwrap()).is_some_and(visible))
        })
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    let (_, bytes) = mine.call("POST", "/api/v1/hunt", &body).await;
    let got: Vec<String> = ndjson(&bytes)
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(!got.is_empty());
    assert_eq!(got, expected);

    // Alerts.
    let uri = "/api/v1/alerts?limit=10000";
    let everything = all.json("GET", uri, "").await;
    let expected: Vec<&Value> = everything["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| {
            a["event_ids"]
                .as_array()
                .unwrap()
                .iter()
                .all(|id| data().events.get(id.as_str().unwrap()).is_some_and(visible))
        })
        .collect();
    let got = mine.json("GET", uri, "").await;
    let got: Vec<&Value> = got["alerts"].as_array().unwrap().iter().collect();
    assert!(!got.is_empty() && got.len() < everything["alerts"].as_array().unwrap().len());
    assert_eq!(got, expected);
    let few = mine.json("GET", "/api/v1/alerts?limit=3", "").await;
    assert_eq!(
        few["alerts"].as_array().unwrap().as_slice(),
        &expected[..3]
            .iter()
            .map(|a| (*a).clone())
            .collect::<Vec<_>>()[..]
    );

    // The Grafana (Elasticsearch) search.
    let body = concat!(
        "{\"index\":\"kestrel\"}\n",
        "{\"size\":10000,\"query\":{\"query_string\":{\"query\":\"event.kind:container\"}},",
        "\"aggs\":{\"ns\":{\"terms\":{\"field\":\"kubernetes.namespace\",\"size\":20}}}}\n"
    );
    let everything = all.json("POST", "/api/v1/elastic/_msearch", body).await;
    let got = mine.json("POST", "/api/v1/elastic/_msearch", body).await;
    let sources = |answer: &Value| -> Vec<Value> {
        answer["responses"][0]["hits"]["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["_source"].clone())
            .collect()
    };
    let expected: Vec<Value> = sources(&everything).into_iter().filter(visible).collect();
    assert_eq!(ids(&sources(&got)), ids(&expected));
    assert_eq!(
        got["responses"][0]["hits"]["total"]["value"],
        expected.len() as u64
    );
    let buckets: Vec<Value> = everything["responses"][0]["aggregations"]["ns"]["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| data().scope.allows(b["key"].as_str()))
        .cloned()
        .collect();
    assert_eq!(
        got["responses"][0]["aggregations"]["ns"]["buckets"],
        Value::Array(buckets)
    );
}
