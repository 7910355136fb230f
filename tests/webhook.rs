//! End to end: the apiserver's audit webhook backend posting `EventList` batches to
//! `kestrel run` (over mutual TLS, as an apiserver does), concurrently and with retries;
//! garbage, non-audit and oversize bodies refused with the right status.

mod common;
#[path = "common/tls.rs"]
mod tls;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use tls::{issue_certificates, TestCertificates};

/// The corpus's audit events (one JSON object per line) with an audit ID.
fn corpus_events() -> Vec<Value> {
    let mut events = Vec::new();
    for relative in ["combined/k8s_audit_events_all.jsonl", "audit2rbac/demo.log"] {
        let text = std::fs::read_to_string(corpus_file(relative)).unwrap();
        for line in text.lines() {
            let Ok(event) = serde_json::from_str::<Value>(line.trim_start_matches('\u{feff}'))
            else {
                continue;
            };
            if event["auditID"].is_string() && event["kind"] == "Event" {
                events.push(event);
            }
        }
    }
    events
}

fn event_list(items: &[Value]) -> String {
    json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {}, "items": items})
        .to_string()
}

struct Endpoint {
    port: u16,
    certs: TestCertificates,
    body_dir: PathBuf,
}

impl Endpoint {
    /// Posts `body` with curl; `client` picks the client certificate (None: no certificate).
    fn post(&self, body: &str, client: Option<(&Path, &Path)>) -> Output {
        self.post_with(body, client, &[])
    }

    fn post_with(&self, body: &str, client: Option<(&Path, &Path)>, extra: &[&str]) -> Output {
        let file = self.body_dir.join(format!("body-{}.json", rand_name(body)));
        std::fs::write(&file, body).unwrap();
        let mut command = Command::new("curl");
        command
            .args(["-sS", "--max-time", "20", "-o", "-", "-w", "\n%{http_code}"])
            .arg("--cacert")
            .arg(&self.certs.ca)
            .args(["-H", "Content-Type: application/json", "--data-binary"])
            .arg(format!("@{}", file.display()))
            .args(extra);
        if let Some((cert, key)) = client {
            command.arg("--cert").arg(cert).arg("--key").arg(key);
        }
        command.arg(format!("https://localhost:{}/audit/webhook", self.port));
        command.output().expect("curl runs")
    }

    /// Posts with the apiserver's client certificate; returns the status and the body.
    fn post_as_apiserver(&self, body: &str) -> (u16, String) {
        let output = self.post(body, Some((&self.certs.client.0, &self.certs.client.1)));
        status_and_body(&output)
    }
}

fn rand_name(body: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut hasher);
    std::thread::current().id().hash(&mut hasher);
    format!("{:x}", hasher.finish())
}

fn status_and_body(output: &Output) -> (u16, String) {
    let text = String::from_utf8_lossy(&output.stdout);
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    (status.trim().parse().unwrap_or(0), body.to_owned())
}

#[test]
fn audit_webhook_batches_are_stored_once_over_mutual_tls_and_bad_bodies_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let certs = issue_certificates(dir.path(), "kube-apiserver");
    let (webhook_port, api_port) = (free_port(), free_port());
    let config = write_kestrel_config(
        dir.path(),
        &format!(
            // No file to tail: a receiver of the webhook only, like deploy/'s
            // (deploy/kubernetes/kafka/audit-webhook.toml).
            r#"[collector]
poll_interval = "100ms"
sources = []
[collector.webhook]
listen = "127.0.0.1:{webhook_port}"
max_body_bytes = 2000000
[collector.webhook.tls]
cert = "{cert}"
key = "{key}"
client_ca = "{ca}"
[indexer]
commit_interval = "200ms"
[query]
listen = "127.0.0.1:{api_port}"
"#,
            cert = certs.server_cert.display(),
            key = certs.server_key.display(),
            ca = certs.ca.display(),
        ),
    );
    let _kestrel = KestrelRun::start(&config);
    let endpoint = Endpoint {
        port: webhook_port,
        certs,
        body_dir: dir.path().to_owned(),
    };
    let api = |path: &str| http_get(&format!("http://127.0.0.1:{api_port}{path}"), None);
    assert!(
        wait_for(Duration::from_secs(30), || api("/healthz").ok()).is_some(),
        "kestrel run did not start"
    );
    let mut last = String::new();
    let started = wait_for(Duration::from_secs(30), || {
        let output = endpoint.post(
            &event_list(&[]),
            Some((&endpoint.certs.client.0, &endpoint.certs.client.1)),
        );
        last = format!("{output:?}");
        (status_and_body(&output).0 == 200).then_some(())
    });
    assert!(started.is_some(), "webhook endpoint did not answer: {last}");

    // Without a client certificate, or with one from another CA: no TLS session at all.
    let anonymous = endpoint.post(&event_list(&[]), None);
    assert!(
        !anonymous.status.success(),
        "a client without certificate is refused"
    );
    let stranger = endpoint.post(
        &event_list(&[]),
        Some((&endpoint.certs.stranger.0, &endpoint.certs.stranger.1)),
    );
    assert!(
        !stranger.status.success(),
        "a certificate from another CA is refused"
    );

    // Garbage, a list of something else, and a body over the limit.
    let (status, body) = endpoint.post_as_apiserver("{not json");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("not JSON"), "{body}");
    let (status, body) =
        endpoint.post_as_apiserver(r#"{"kind":"PodList","apiVersion":"v1","items":[]}"#);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("PodList"), "{body}");
    let filler = "x".repeat(2_100_000);
    // Over HTTP/1.1 (100-continue): the answer comes before the body is sent. (Over HTTP/2
    // the stream is reset after the answer, which curl reports as an error.)
    let oversize = endpoint.post_with(
        &event_list(&[json!({"kind": "Event", "auditID": filler})]),
        Some((&endpoint.certs.client.0, &endpoint.certs.client.1)),
        &["--http1.1"],
    );
    assert_eq!(
        status_and_body(&oversize).0,
        413,
        "a body over max_body_bytes is answered 413: {oversize:?}"
    );

    // The corpus in batches of up to 400 events, posted from 4 threads at once, every batch
    // twice (an apiserver retries what it did not see acknowledged).
    let events = corpus_events();
    assert!(events.len() > 100, "corpus audit events: {}", events.len());
    let distinct: HashSet<(String, String)> = events
        .iter()
        .map(|e| {
            (
                e["auditID"].as_str().unwrap_or_default().to_owned(),
                e["stage"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let batches: Vec<String> = events.chunks(37).map(event_list).collect();
    std::thread::scope(|scope| {
        for worker in 0..4 {
            let batches = &batches;
            let endpoint = &endpoint;
            scope.spawn(move || {
                for (i, batch) in batches.iter().enumerate() {
                    if i % 4 != worker {
                        continue;
                    }
                    for _attempt in 0..2 {
                        let (status, body) = endpoint.post_as_apiserver(batch);
                        assert_eq!(status, 200, "batch {i}: {body}");
                    }
                }
            });
        }
    });
    // A batch mixing good events with one that is not an audit event: the good ones are kept,
    // the bad one goes to the dead-letter store.
    let mixed = event_list(&[
        json!({"kind": "Event", "apiVersion": "audit.k8s.io/v1", "auditID": "mixed-1", "stage": "ResponseComplete", "verb": "get", "requestURI": "/api", "stageTimestamp": "2024-05-01T10:00:00Z"}),
        json!({"hello": "world"}),
    ]);
    let (status, body) = endpoint.post_as_apiserver(&mixed);
    assert_eq!(status, 200, "{body}");

    let expected = distinct.len() as u64 + 1;
    let total = wait_for(Duration::from_secs(30), || {
        let (_, body) = api("/api/v1/search?q=*&limit=1").ok()?;
        (body["total"].as_u64() == Some(expected)).then_some(())
    });
    let (_, body) = api("/api/v1/search?q=*&limit=1").unwrap();
    assert!(
        total.is_some(),
        "expected {expected} distinct audit events, index holds {}",
        body["total"]
    );
    let letters: Vec<Value> = std::fs::read_dir(dir.path().join("data/dead-letters"))
        .unwrap()
        .flatten()
        .flat_map(|e| read_jsonl(&e.path()))
        .collect();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert!(
        letters[0]["error"].as_str().unwrap().contains("item 1"),
        "{letters:?}"
    );
}

#[test]
fn a_webhook_that_cannot_listen_stops_the_process_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let config = write_kestrel_config(
        dir.path(),
        &format!(
            "[collector.webhook]\nlisten = \"127.0.0.1:{port}\"\n[query]\nlisten = \"127.0.0.1:{}\"\n",
            free_port()
        ),
    );
    let output = Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .arg("--config")
        .arg(&config)
        .arg("run")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("collector.webhook") && stderr.contains(&port.to_string()),
        "{stderr}"
    );
}

/// Posts `body` over plain HTTP with an optional `Authorization` header.
fn post_plain(port: u16, body: &str, authorization: Option<&str>) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into();
    let mut request = agent
        .post(&format!("http://127.0.0.1:{port}/audit/webhook"))
        .header("Content-Type", "application/json");
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    request
        .send(body)
        .expect("the webhook answers")
        .status()
        .as_u16()
}

#[test]
fn with_ingest_tokens_configured_the_audit_webhook_requires_one() {
    const TOKEN: &str = "webhook-ingest-token-0123456789";
    let dir = tempfile::tempdir().unwrap();
    let (webhook_port, api_port) = (free_port(), free_port());
    let config = write_kestrel_config(
        dir.path(),
        &format!(
            r#"[collector]
sources = []
[collector.webhook]
listen = "127.0.0.1:{webhook_port}"
[collector.ingest]
tokens = ["{TOKEN}"]
[indexer]
commit_interval = "200ms"
[query]
listen = "127.0.0.1:{api_port}"
"#
        ),
    );
    let _kestrel = KestrelRun::start(&config);
    wait_for_listener(webhook_port, "the audit webhook");
    let events = corpus_events();
    let batch = event_list(&events[..3]);

    assert_eq!(post_plain(webhook_port, &batch, None), 401);
    assert_eq!(
        post_plain(
            webhook_port,
            &batch,
            Some("Bearer not-the-token-0123456789")
        ),
        401
    );
    let api = |path: &str| http_get(&format!("http://127.0.0.1:{api_port}{path}"), None);
    let (_, body) = api("/api/v1/search?q=*&limit=0").unwrap();
    assert_eq!(body["total"], 0, "refused batches store nothing");

    assert_eq!(
        post_plain(webhook_port, &batch, Some(&format!("Bearer {TOKEN}"))),
        200
    );
    let stored = wait_for(Duration::from_secs(30), || {
        let (_, body) = api("/api/v1/search?q=*&limit=0").ok()?;
        (body["total"] == 3).then_some(())
    });
    assert!(stored.is_some(), "the accepted batch is stored");
}
