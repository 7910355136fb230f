//! The request limits of the query API (`[query.limits]`) over HTTP: a real `kestrel query`
//! on generated data, each limit set low through the environment, each refusal checked for its
//! status and for an error naming the key and its configured value.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// 5 000 mixed events (container logs and audit events), generated and ingested once.
fn data() -> &'static Path {
    static DATA: OnceLock<tempfile::TempDir> = OnceLock::new();
    DATA.get_or_init(|| {
        let work = tempfile::tempdir().unwrap();
        let raw = work.path().join("raw");
        run_ok(
            Command::new(env!("CARGO_BIN_EXE_kestrel"))
                .args([
                    "generate", "--kind", "mixed", "--seed", "5", "--events", "5000",
                ])
                .args(["--start", "2024-01-01T00:00:00Z", "--span", "1h"])
                .arg(&raw)
                .env("RUST_LOG", "warn"),
        );
        let mut files = Vec::new();
        collect(&raw.join("var"), &mut files);
        let summary = ingest(&work.path().join("data"), &files);
        assert!(summary.contains("5000 events"), "{summary}");
        work
    })
    .path()
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// `kestrel query` over the generated data with `limits` (`KEY=VALUE` under `query.limits`).
fn server(limits: &[(&str, &str)]) -> QueryServer {
    let env: Vec<(String, &str)> = limits
        .iter()
        .map(|(key, value)| {
            (
                format!("KESTREL_QUERY__LIMITS__{}", key.to_uppercase()),
                *value,
            )
        })
        .collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    QueryServer::start(
        Path::new(env!("CARGO_BIN_EXE_kestrel")),
        &data().join("data"),
        &env,
    )
}

fn post(server: &QueryServer, path: &str, body: &str) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let content_type = if path.starts_with("/api/v1/elastic/") {
        "application/x-ndjson"
    } else {
        "application/json"
    };
    let mut response = agent
        .post(&server.url(path))
        .header("Content-Type", content_type)
        .send(body)
        .expect("the server answers");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn search(server: &QueryServer, query: &str) -> (u16, Value) {
    server.get(&format!("/api/v1/search?q={}&limit=5", encode(query)))
}

/// The error text of an answer, failing when it has none.
fn error(body: &Value) -> &str {
    body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {body}"))
}

#[test]
fn bodies_over_max_body_bytes_are_refused_with_413() {
    let server = server(&[("max_body_bytes", "2048")]);
    let padding = "x".repeat(4096);
    let bodies = [
        (
            "/api/v1/search",
            json!({"q": "*", "from": padding}).to_string(),
        ),
        (
            "/api/v1/aggregate",
            json!({"q": padding, "aggs": {}}).to_string(),
        ),
        ("/api/v1/hunt", json!({"rules": padding}).to_string()),
        (
            "/api/v1/elastic/_msearch",
            format!("{{}}\n{{\"x\":\"{padding}\"}}\n"),
        ),
    ];
    for (path, body) in bodies {
        let (status, answer) = post(&server, path, &body);
        assert_eq!(status, 413, "{path}: {answer}");
        assert_eq!(
            error(&answer),
            "the request body is larger than query.limits.max_body_bytes = 2048",
            "{path}"
        );
    }
    // Under the limit the same route answers.
    let (status, answer) = post(&server, "/api/v1/search", r#"{"q": "*", "limit": 1}"#);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["hits"].as_array().unwrap().len(), 1);
}

#[test]
fn query_text_and_clause_count_are_bounded() {
    let server = server(&[("max_query_bytes", "100"), ("max_clauses", "4")]);
    let long = format!("message:{}", "a".repeat(100));
    let (status, answer) = search(&server, &long);
    assert_eq!(status, 422, "{answer}");
    assert_eq!(
        error(&answer),
        "the query text is 108 bytes: beyond query.limits.max_query_bytes = 100"
    );

    let (status, answer) = search(
        &server,
        "verb:get OR verb:list OR verb:watch OR verb:create",
    );
    assert_eq!(status, 200, "{answer}");
    assert!(answer["total"].as_u64().unwrap() > 0, "{answer}");
    let (status, answer) = search(
        &server,
        "verb:get OR verb:list OR verb:watch OR verb:create OR verb:delete",
    );
    assert_eq!(status, 422, "{answer}");
    assert_eq!(
        error(&answer),
        "the query has 5 clauses: beyond query.limits.max_clauses = 4"
    );
    // Set members are clauses too, and the Elasticsearch route is bounded alike.
    let (status, answer) = search(&server, "verb:IN [get list watch create delete]");
    assert_eq!(status, 422, "{answer}");
    let msearch = format!(
        "{{}}\n{}\n",
        json!({"query": {"query_string": {"query": "a OR b OR c OR d OR e"}}, "size": 1})
    );
    let (status, answer) = post(&server, "/api/v1/elastic/_msearch", &msearch);
    assert_eq!(status, 200, "{answer}");
    let first = &answer["responses"][0];
    assert_eq!(first["status"], 422, "{answer}");
    assert!(
        first["error"]["reason"]
            .as_str()
            .unwrap()
            .ends_with("beyond query.limits.max_clauses = 4"),
        "{answer}"
    );
}

#[test]
fn regex_program_size_and_wildcard_expansion_are_bounded() {
    let server = server(&[("max_regex_bytes", "4096"), ("max_expansion_terms", "50")]);
    let (status, answer) = search(&server, "container.name:/[a-z]{500}/");
    assert_eq!(status, 422, "{answer}");
    assert!(
        error(&answer).ends_with("beyond query.limits.max_regex_bytes = 4096"),
        "{answer}"
    );

    // Every event id holds a 0 somewhere: thousands of terms.
    let (status, answer) = search(&server, "event.id:*0*");
    assert_eq!(status, 422, "{answer}");
    assert_eq!(
        error(&answer),
        "the pattern \"*0*\" matches more terms: beyond query.limits.max_expansion_terms = 50"
    );
    // A narrow pattern on the same field is answered, and agrees with exact terms.
    let (status, all) = search(&server, "*");
    assert_eq!(status, 200);
    let id = all["hits"][0]["event"]["id"].as_str().unwrap().to_owned();
    let (status, answer) = search(&server, &format!("event.id:{}*", &id[..12]));
    assert_eq!(status, 200, "{answer}");
    assert!(hit_ids(&answer).contains(&id), "{answer}");
    // Existence is not a pattern: never refused.
    let (status, answer) = search(&server, "event.id:*");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["total"], 5000);
}

#[test]
fn searches_past_the_time_budget_are_answered_503_on_every_route() {
    let server = server(&[("request_timeout", "1ns")]);
    let named = "beyond query.limits.request_timeout = 1ns";
    let (status, answer) = search(&server, "*");
    assert_eq!(status, 503, "{answer}");
    assert_eq!(
        error(&answer),
        format!("the search was cancelled after its time budget: {named}")
    );
    let posts = [
        ("/api/v1/search", json!({"q": "verb:get"}).to_string()),
        (
            "/api/v1/aggregate",
            json!({"q": "*", "aggs": {"verbs": {"terms": {"field": "verb"}}}}).to_string(),
        ),
        (
            "/api/v1/hunt",
            json!({"rules": "title: t\nid: 6c1f3d0e-1b2a-4c8e-9f00-000000000001\nlogsource: {product: kubernetes, service: audit}\ndetection:\n  s:\n    verb: get\n  condition: s\nlevel: low\n"}).to_string(),
        ),
    ];
    for (path, body) in posts {
        let (status, answer) = post(&server, path, &body);
        assert_eq!(status, 503, "{path}: {answer}");
        assert!(error(&answer).ends_with(named), "{path}: {answer}");
    }
    let (status, answer) = server.get("/api/v1/export?q=*");
    assert_eq!(status, 503, "{answer}");
    assert!(error(&answer).ends_with(named), "{answer}");
    let (status, answer) = server.get("/api/v1/events/0123456789abcdef0123456789abcdef/context");
    assert_eq!(status, 503, "{answer}");
    let msearch = format!("{{}}\n{}\n", json!({"query": {"match_all": {}}, "size": 1}));
    let (status, answer) = post(&server, "/api/v1/elastic/_msearch", &msearch);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["responses"][0]["status"], 503, "{answer}");

    // The default budget answers the same requests.
    let relaxed = self::server(&[]);
    let (status, answer) = search(&relaxed, "*");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["total"], 5000);
}

#[test]
fn server_errors_name_a_request_id_and_no_path() {
    // An index directory that is a file: every search fails on the server's side.
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("index"), "not a directory").unwrap();
    let server = QueryServer::start(Path::new(env!("CARGO_BIN_EXE_kestrel")), data.path(), &[]);
    let (status, answer) = search(&server, "*");
    assert_eq!(status, 500, "{answer}");
    let text = error(&answer);
    assert!(text.starts_with("internal error (request id "), "{text}");
    assert!(!text.contains(data.path().to_str().unwrap()), "{text}");
    assert!(!text.contains("index"), "{text}");
}
