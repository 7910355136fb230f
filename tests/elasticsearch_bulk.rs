//! The Elasticsearch-compatible API end to end: `kestrel run` serving it on the webhook
//! listener, replayed the requests of Fluent Bit's `es` output, Vector's `elasticsearch`
//! sink and Filebeat's `output.elasticsearch` (tests/fixtures/elasticsearch/, with the headers,
//! encodings and authentication each sends), and the calls they make at start. The answers
//! are read as those clients read them (`errors`, `items[].<action>.status`,
//! `items[].<action>.error.type`); every document is searchable once with its container,
//! Kubernetes and host fields; a resent batch with `_id`s is answered `409` and not stored
//! again; malformed items are answered per item and dead-lettered while the rest is stored;
//! wrong credentials get `401` in Elasticsearch's shape; over mutual TLS the client
//! certificate stands for the token, and bodies over the limit, as sent or once
//! decompressed, get `413`.

mod common;
#[path = "common/tls.rs"]
mod tls;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use common::KestrelServer as Kestrel;
use common::*;
use serde_json::Value;
use tls::{issue_certificates, mutual_tls_listener_config, post_tls, TestCertificates};

const TOKEN: &str = "ingest-token-7c2e9a4f1b3d5e6f";

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/elasticsearch")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn basic(user: &str, password: &str) -> String {
    let pair = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

fn api_key(id: &str, key: &str) -> String {
    let pair = format!("{id}:{key}");
    format!(
        "ApiKey {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

fn gzip(text: &str) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(text.as_bytes()).unwrap();
    encoder.finish().unwrap()
}

/// An answer: status, headers we look at, and the body as JSON (`Null` when empty).
struct Answer {
    status: u16,
    product: Option<String>,
    authenticate: Option<String>,
    body: Value,
}

/// Sends a request to the listener with `headers`.
fn send(method: &str, url: &str, headers: &[(&str, &str)], body: Option<Vec<u8>>) -> Answer {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let request = ureq::http::Request::builder().method(method).uri(url);
    let request = headers.iter().fold(request, |request, (name, value)| {
        request.header(*name, *value)
    });
    let mut response = match body {
        Some(body) => agent.run(request.body(body).unwrap()),
        None => agent.run(request.body(()).unwrap()),
    }
    .expect("the listener answers");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let product = header("x-elastic-product");
    let authenticate = header("www-authenticate");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    let body = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: not JSON ({e}): {text}"))
    };
    Answer {
        status,
        product,
        authenticate,
        body,
    }
}

/// The statuses of a bulk answer's items, read as Fluent Bit, Vector and Filebeat read them:
/// each item an object of one key (the action) whose `status` is a positive integer.
fn statuses(body: &Value) -> Vec<(String, u64)> {
    body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {body}"))
        .iter()
        .map(|item| {
            let object = item.as_object().expect("an item is an object");
            assert_eq!(object.len(), 1, "{item}");
            let (action, result) = object.iter().next().unwrap();
            let status = result["status"]
                .as_u64()
                .expect("status is a positive integer");
            if status >= 300 {
                assert!(result["error"]["type"].is_string(), "{item}");
            }
            (action.clone(), status)
        })
        .collect()
}

fn config(dir: &Path, webhook_port: u16, api_port: u16) -> std::path::PathBuf {
    write_kestrel_config(
        dir,
        &format!(
            r#"[collector]
sources = []
[collector.webhook]
listen = "127.0.0.1:{webhook_port}"
[collector.elasticsearch]
enabled = true
[collector.ingest]
tokens = ["{TOKEN}"]
[indexer]
commit_interval = "200ms"
[query]
listen = "127.0.0.1:{api_port}"
"#
        ),
    )
}

#[test]
fn shippers_bulk_requests_are_stored_once_and_answered_like_elasticsearch() {
    let dir = tempfile::tempdir().unwrap();
    let (webhook, api) = (free_port(), free_port());
    let kestrel = Kestrel::start(&config(dir.path(), webhook, api), api);
    let url = |path: &str| format!("http://127.0.0.1:{webhook}{path}");
    wait_for_listener(webhook, "the webhook listener accepts connections");
    let fluent_bit = basic("fluent-bit", TOKEN);
    let vector = basic("vector", TOKEN);
    let filebeat = api_key("filebeat-kind-worker", TOKEN);

    // What the shippers ask at start: the version (Vector's api_version auto, Filebeat's
    // connect), the health check (Vector), the license and template/ILM set-up (Filebeat).
    let root = send("GET", &url("/"), &[("Authorization", &filebeat)], None);
    assert_eq!(root.status, 200);
    assert_eq!(root.product.as_deref(), Some("Elasticsearch"));
    let number = root.body["version"]["number"].as_str().unwrap().to_owned();
    assert!(number.starts_with("8."), "{number}");
    assert_eq!(root.body["version"]["build_flavor"], "default");
    assert_eq!(
        send("HEAD", &url("/"), &[("Authorization", &vector)], None).status,
        200
    );
    let health = send(
        "GET",
        &url("/_cluster/health"),
        &[("Authorization", &vector)],
        None,
    );
    assert_eq!(
        (health.status, &health.body["status"]),
        (200, &Value::from("green"))
    );
    let license = send(
        "GET",
        &url("/_license"),
        &[("Authorization", &filebeat)],
        None,
    );
    assert_eq!(license.body["license"]["status"], "active");
    let xpack = send(
        "GET",
        &url("/_xpack"),
        &[("Authorization", &filebeat)],
        None,
    );
    assert_eq!(xpack.body["license"]["mode"], "basic");
    for path in ["/_index_template/filebeat-8.15.0", "/_ilm/policy/filebeat"] {
        let present = send("GET", &url(path), &[("Authorization", &filebeat)], None);
        assert_eq!(present.status, 200, "{path}");
        let put = send(
            "PUT",
            &url(path),
            &[
                ("Authorization", &filebeat),
                ("Content-Type", "application/json"),
            ],
            Some(b"{}".to_vec()),
        );
        assert_eq!(put.body["acknowledged"], true, "{path}");
    }

    // Wrong or missing credentials: 401, security_exception, the accepted schemes named.
    let body = fixture("fluent-bit.ndjson");
    for authorization in [
        None,
        Some(basic("fluent-bit", "ingest-token-0000000000000000")),
        Some(api_key("filebeat", "wrong-key-000000000000")),
        Some(format!("Bearer {TOKEN}x")),
    ] {
        let mut headers = vec![("Content-Type", "application/x-ndjson")];
        if let Some(value) = &authorization {
            headers.push(("Authorization", value));
        }
        let refused = send(
            "POST",
            &url("/_bulk"),
            &headers,
            Some(body.clone().into_bytes()),
        );
        assert_eq!(refused.status, 401, "{authorization:?}");
        assert_eq!(refused.body["error"]["type"], "security_exception");
        assert_eq!(refused.body["status"], 401);
        assert!(refused.authenticate.unwrap().contains("Basic"));
    }
    assert_eq!(send("GET", &url("/"), &[], None).status, 401);

    // Fluent Bit: three container records and an audit event, `create` without `_id`.
    let answer = send(
        "POST",
        &url("/_bulk"),
        &[
            ("Content-Type", "application/x-ndjson"),
            ("User-Agent", "Fluent-Bit"),
            ("Authorization", &fluent_bit),
        ],
        Some(body.into_bytes()),
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["errors"], false, "{}", answer.body);
    assert!(answer.body["took"].is_u64());
    assert_eq!(statuses(&answer.body), vec![("create".to_owned(), 201); 4]);
    assert_eq!(answer.body["items"][0]["create"]["result"], "created");
    assert_eq!(answer.body["items"][3]["create"]["_index"], "k8s-audit");

    // Vector: gzip, index actions.
    let answer = send(
        "POST",
        &url("/_bulk?timeout=60s"),
        &[
            ("Content-Type", "application/x-ndjson"),
            ("Content-Encoding", "gzip"),
            ("Authorization", &vector),
        ],
        Some(gzip(&fixture("vector.ndjson"))),
    );
    assert_eq!(answer.body["errors"], false, "{}", answer.body);
    assert_eq!(statuses(&answer.body), vec![("index".to_owned(), 201); 2]);

    // Filebeat: gzip, create with `_id`s, filter_path (ignored); then the same batch again,
    // as after a lost answer: 409 for each, nothing stored twice.
    let filebeat_headers = [
        ("Content-Type", "application/json; charset=UTF-8"),
        ("Content-Encoding", "gzip"),
        ("Accept", "application/json"),
        ("User-Agent", "Elastic-filebeat/8.15.0 (linux; amd64)"),
        ("Authorization", filebeat.as_str()),
    ];
    let filebeat_url = url("/_bulk?filter_path=errors,items.*.error,items.*.status");
    let batch = gzip(&fixture("filebeat.ndjson"));
    let answer = send(
        "POST",
        &filebeat_url,
        &filebeat_headers,
        Some(batch.clone()),
    );
    assert_eq!(answer.body["errors"], false, "{}", answer.body);
    assert_eq!(statuses(&answer.body), vec![("create".to_owned(), 201); 3]);
    assert_eq!(
        answer.body["items"][0]["create"]["_id"],
        "report-28461930-0"
    );
    let again = send("POST", &filebeat_url, &filebeat_headers, Some(batch));
    assert_eq!(again.status, 200);
    assert_eq!(again.body["errors"], true);
    assert_eq!(statuses(&again.body), vec![("create".to_owned(), 409); 3]);
    assert_eq!(
        again.body["items"][1]["create"]["error"]["type"],
        "version_conflict_engine_exception"
    );

    // Bad items between good ones: answered per item, dead-lettered, the rest stored; the
    // index from the path; delete and update refused, never applied.
    let mixed = [
        r#"{"create":{}}"#,
        r#"{"@timestamp":"2024-05-01T11:00:00Z","message":"first good line","host":"web-1"}"#,
        r#"{"create":{}}"#,
        r#"{"message": "cut short"#,
        r#"{"index":{"_index":"other"}}"#,
        r#"[1,2,3]"#,
        r#"{"create":{}}"#,
        r#"{"@timestamp":"yesterday","message":"bad time"}"#,
        r#"not an action"#,
        r#"{"message":"taken as the source of the line above"}"#,
        r#"{"delete":{"_id":"report-28461930-0"}}"#,
        r#"{"update":{"_id":"report-28461930-1"}}"#,
        r#"{"doc":{"message":"changed"}}"#,
        r#"{"create":{"_id":"last"}}"#,
        r#"{"@timestamp":"2024-05-01T11:00:01Z","message":"last good line","host":"web-1"}"#,
    ]
    .join("\n");
    let answer = send(
        "POST",
        &url("/mixed/_doc/_bulk?refresh=wait_for&pipeline=none"),
        &[
            ("Content-Type", "application/x-ndjson"),
            ("Authorization", &fluent_bit),
        ],
        Some(format!("{mixed}\n").into_bytes()),
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["errors"], true);
    let got: Vec<u64> = statuses(&answer.body).into_iter().map(|(_, s)| s).collect();
    assert_eq!(got, [201, 400, 400, 400, 400, 400, 400, 201]);
    let items = &answer.body["items"];
    assert_eq!(
        items[1]["create"]["error"]["type"],
        "mapper_parsing_exception"
    );
    assert_eq!(
        items[2]["index"]["error"]["type"],
        "mapper_parsing_exception"
    );
    assert!(items[3]["create"]["error"]["reason"]
        .as_str()
        .unwrap()
        .contains("[@timestamp]"));
    assert_eq!(items[5]["delete"]["status"], 400);
    assert_eq!(items[6]["update"]["status"], 400);
    assert_eq!(items[7]["create"]["_index"], "mixed");
    let single = send(
        "PUT",
        &url("/single/_bulk"),
        &[
            ("Content-Type", "application/x-ndjson"),
            ("Authorization", &vector),
        ],
        Some(b"{\"index\":{}}\n{\"message\":\"no time at all\"}\n".to_vec()),
    );
    assert_eq!(statuses(&single.body), [("index".to_owned(), 201)]);

    // Every document searchable once.
    let all = kestrel.wait_for_hits("elasticsearch.index:*", 3 + 1 + 2 + 3 + 2 + 1);
    let ids: std::collections::HashSet<_> = all.iter().map(|e| e["event"]["id"].clone()).collect();
    assert_eq!(ids.len(), all.len());
    for (query, count) in [
        ("elasticsearch.index:fluent-bit", 3),
        ("elasticsearch.index:\"vector-2024.05.01\"", 2),
        ("elasticsearch.index:\"filebeat-8.15.0\"", 3),
        ("elasticsearch.index:mixed", 2),
        ("event.kind:container AND kubernetes.namespace:shop", 8),
        (
            "kubernetes.pod.name:\"api-7d9f8b6c5-x2k4p\" AND kubernetes.container.name:api",
            3,
        ),
        (
            "container.image:\"registry.example/api:1.4\" AND stream:stderr",
            1,
        ),
        (
            "kubernetes.pod.name:\"web-5d4f8b7c9-x7k2p\" AND container.image:\"nginx:1.25\"",
            2,
        ),
        (
            "container.id:9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e",
            2,
        ),
        ("kubernetes.pod.labels.tier:frontend", 2),
        (
            "kubernetes.pod.name:\"report-28461930-qz8vd\" AND kubernetes.container.name:report",
            3,
        ),
        (
            "kubernetes.node.name:kind-worker AND host.name:kind-worker",
            8,
        ),
        ("json.level:warn AND json.agent.type:filebeat", 1),
        ("message:\"payment backend unreachable\"", 1),
        ("host.name:web-1", 2),
        // The audit event went through the audit normalizer: audit fields and rules apply.
        (
            "event.kind:k8s_audit AND verb:get AND objectRef.resource:secrets",
            1,
        ),
        ("user.username:\"system:serviceaccount:shop:report\"", 1),
    ] {
        let body = kestrel.search(query, 100);
        assert_eq!(body["total"], count, "{query}: {body}");
    }
    let nginx = kestrel.search(
        "kubernetes.pod.name:\"web-5d4f8b7c9-x7k2p\" AND stream:stderr",
        10,
    );
    let event = &nginx["hits"][0];
    assert_eq!(event["@timestamp"], "2024-05-01T10:00:01.500000000Z");
    assert_eq!(
        event["log"]["file"]["path"],
        "/var/log/pods/shop_web-5d4f8b7c9-x7k2p_3f0e2d1c-4b5a-4697-8a8b-9c0d1e2f3a4b/web/0.log"
    );
    assert_eq!(event["json"]["source_type"], "kubernetes_logs");

    // The dead letters: the four unusable items, with their bytes.
    let store = kestrel_bus::DeadLetterStore::open(dir.path().join("data/dead-letters")).unwrap();
    let letters: Vec<_> = store
        .read_all()
        .unwrap()
        .into_iter()
        .filter(|l| l.source == "elasticsearch")
        .collect();
    assert_eq!(letters.len(), 4, "{letters:?}");
    assert_eq!(letters[0].raw, br#"{"message": "cut short"#);
    assert_eq!(letters[1].raw, b"[1,2,3]");
    assert!(letters[2].error.contains("[@timestamp]"), "{letters:?}");
    assert_eq!(
        letters[3].raw,
        b"not an action\n{\"message\":\"taken as the source of the line above\"}"
    );

    let scrape = kestrel.metrics();
    for (series, at_least) in [
        ("kestrel_collector_elasticsearch_requests_total", 6.0),
        ("kestrel_collector_elasticsearch_unauthorized_total", 5.0),
        ("kestrel_collector_elasticsearch_events_total", 12.0),
        ("kestrel_collector_elasticsearch_errors_total", 9.0),
    ] {
        let value = scrape
            .lines()
            .find_map(|line| {
                line.strip_prefix(series)?
                    .strip_prefix(' ')?
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
            .unwrap_or_else(|| panic!("{series} missing"));
        assert!(value >= at_least, "{series} = {value}");
    }
}

/// Posts `body_file` to `/_bulk` over HTTPS (as Fluent Bit's and Filebeat's TLS clients
/// would); the status and the answer, or `None` when no TLS session was made.
fn post_bulk_tls(
    port: u16,
    certs: &TestCertificates,
    body_file: &Path,
    client: Option<&(PathBuf, PathBuf)>,
    headers: &[&str],
) -> Option<(u16, Value)> {
    let headers = [&["Content-Type: application/x-ndjson"], headers].concat();
    let (status, text) = post_tls(port, "/_bulk", certs, body_file, client, &headers)?;
    Some((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

#[test]
fn with_client_certificates_shippers_need_no_token_and_bodies_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let certs = issue_certificates(dir.path(), "fluent-bit");
    let (webhook, api) = (free_port(), free_port());
    let config = mutual_tls_listener_config(
        dir.path(),
        &certs,
        webhook,
        api,
        "[collector.elasticsearch]\nenabled = true",
    );
    let kestrel = Kestrel::start(&config, api);
    wait_for_listener(webhook, "the webhook listener accepts connections");
    let body = dir.path().join("fluent-bit.ndjson");
    std::fs::write(&body, fixture("fluent-bit.ndjson")).unwrap();

    // The client certificate is enough; without one, or with one from another CA, no session.
    let (status, answer) = post_bulk_tls(webhook, &certs, &body, Some(&certs.client), &[])
        .expect("a TLS session with the client certificate");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["errors"], false, "{answer}");
    assert_eq!(statuses(&answer).len(), 4);
    assert_eq!(post_bulk_tls(webhook, &certs, &body, None, &[]), None);
    assert_eq!(
        post_bulk_tls(webhook, &certs, &body, Some(&certs.stranger), &[]),
        None
    );

    // Over collector.webhook.max_body_bytes: 413, as sent and once decompressed (a small
    // gzip body that inflates past the limit).
    let line = "{\"create\":{\"_index\":\"big\"}}\n{\"message\":\"padding\"}\n";
    let large = dir.path().join("large.ndjson");
    std::fs::write(&large, line.repeat(2_000)).unwrap();
    // Answered before the body is sent (HTTP/1.1 with 100-continue, as curl-based clients do
    // for large bodies).
    let (status, answer) = post_bulk_tls(
        webhook,
        &certs,
        &large,
        Some(&certs.client),
        &["Expect: 100-continue"],
    )
    .unwrap();
    assert_eq!(status, 413, "{answer}");
    assert_eq!(answer["status"], 413, "{answer}");
    let inflating = dir.path().join("inflating.ndjson.gz");
    std::fs::write(&inflating, gzip(&line.repeat(2_000))).unwrap();
    assert!(std::fs::metadata(&inflating).unwrap().len() < 65_536);
    let (status, answer) = post_bulk_tls(
        webhook,
        &certs,
        &inflating,
        Some(&certs.client),
        &["Content-Encoding: gzip"],
    )
    .unwrap();
    assert_eq!(status, 413, "{answer}");
    assert_eq!(
        answer["error"]["type"], "content_too_long_exception",
        "{answer}"
    );

    let hits = kestrel.wait_for_hits(
        "elasticsearch.index:fluent-bit OR elasticsearch.index:k8s-audit",
        4,
    );
    assert!(hits.iter().all(|e| e["elasticsearch"]["index"] != "big"));
    assert_eq!(kestrel.search("elasticsearch.index:big", 10)["total"], 0);
}
