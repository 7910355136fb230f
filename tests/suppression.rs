//! Suppression end to end: `kestrel run` folds repeated alerts of a rule and key into the
//! first one; the open window is saved with the detector's state, survives a SIGKILL and a
//! restart, closes in event time, and its final count reaches the alerts API and the webhook
//! destination as an update of the first alert (same alert id, `suppressed: N`).

mod common;

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::*;
use serde_json::{json, Value};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Every delivery the receiver got: (webhook-id, body).
type Received = Arc<Mutex<Vec<(String, Value)>>>;

async fn receive(State(received): State<Received>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let Ok(body) = serde_json::from_slice(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    received.lock().unwrap().push((id, body));
    StatusCode::NO_CONTENT
}

fn start_receiver(received: Received) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            let app = axum::Router::new()
                .route("/hook", post(receive))
                .with_state(received);
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    port
}

/// An accepted `kubectl exec` by `user` into prod/api-7 at `time`.
fn exec_line(n: u32, user: &str, time: &str) -> String {
    json!({
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": format!("5b3c0f4e-0000-4000-8000-{n:012}"),
        "stage": "ResponseComplete",
        "requestURI": "/api/v1/namespaces/prod/pods/api-7/exec?command=sh&stdin=true&tty=true",
        "verb": "create",
        "user": {"username": user, "groups": ["system:authenticated"]},
        "sourceIPs": ["10.0.4.21"],
        "userAgent": "kubectl/v1.31.0",
        "objectRef": {"resource": "pods", "namespace": "prod", "name": "api-7", "apiVersion": "v1", "subresource": "exec"},
        "responseStatus": {"metadata": {}, "code": 101},
        "requestReceivedTimestamp": time,
        "stageTimestamp": time,
    })
    .to_string()
}

fn append(file: &Path, lines: &[String]) {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .unwrap();
    for line in lines {
        writeln!(file, "{line}").unwrap();
    }
    file.flush().unwrap();
}

fn alerts(port: u16) -> Vec<Value> {
    http_get(
        &format!("http://127.0.0.1:{port}/api/v1/alerts?limit=1000"),
        None,
    )
    .ok()
    .map(|(_, body)| body["alerts"].as_array().cloned().unwrap_or_default())
    .unwrap_or_default()
}

fn by_user<'a>(alerts: &'a [Value], user: &str) -> Vec<&'a Value> {
    alerts
        .iter()
        .filter(|a| a["group"]["user.username"] == user)
        .collect()
}

#[test]
fn a_suppression_window_survives_a_restart_and_ends_in_an_update_of_its_alert() {
    let received = Received::default();
    let receiver = start_receiver(received.clone());
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("audit");
    std::fs::create_dir_all(&logs).unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(
        rules.join("exec.yml"),
        r#"
title: Exec into a pod
id: exec-suppressed
logsource: {product: kubernetes, service: audit}
detection:
  sel: {objectRef.resource: pods, objectRef.subresource: exec}
  condition: sel
suppression: {by: [user.username], window: 2m}
level: high
"#,
    )
    .unwrap();
    let port = free_port();
    let config = write_kestrel_config(
        dir.path(),
        &format!(
            r#"[collector]
poll_interval = "50ms"
[[collector.sources]]
paths = ["{logs}/*.log"]
format = "k8s-audit"
[indexer]
commit_interval = "200ms"
[detection]
rules = "{rules}"
[query]
listen = "127.0.0.1:{port}"
[[alerting.destinations]]
name = "hook"
url = "http://127.0.0.1:{receiver}/hook"
secrets = ["{SECRET}"]
retry_initial = "200ms"
"#,
            logs = logs.display(),
            rules = rules.display(),
        ),
    );
    let audit = logs.join("audit.log");
    let state = dir.path().join("data/alerts/correlation-state.json");

    // alice execs three times within 20 s: one alert, two repeats held by the window.
    let first_run = KestrelRun::start(&config);
    append(
        &audit,
        &[
            exec_line(1, "alice", "2026-01-01T00:00:00.000000Z"),
            exec_line(2, "alice", "2026-01-01T00:00:10.000000Z"),
            exec_line(3, "alice", "2026-01-01T00:00:20.000000Z"),
        ],
    );
    let first = wait_for(Duration::from_secs(30), || {
        let found = alerts(port);
        (found.len() == 1).then_some(found)
    })
    .expect("one alert for alice");
    let alert_id = first[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(first[0]["rule_id"], "exec-suppressed");
    assert_eq!(first[0]["suppressed"], 0, "{first:?}");
    let delivered = wait_for(Duration::from_secs(30), || {
        let got = received.lock().unwrap().clone();
        (!got.is_empty()).then_some(got)
    })
    .expect("the first alert is delivered");
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(delivered[0].1["id"], alert_id.as_str());
    assert_eq!(delivered[0].1["suppressed"], 0);
    // The state saved at the commit holds the window with both repeats counted.
    wait_for(Duration::from_secs(30), || {
        let saved: Value = serde_json::from_slice(&std::fs::read(&state).ok()?).ok()?;
        saved["suppression"]
            .as_object()?
            .values()
            .any(|w| w["alert"]["id"] == alert_id.as_str() && w["alert"]["suppressed"] == 2)
            .then_some(())
    })
    .expect("the open window is saved with its two repeats");

    // SIGKILL; the window must come back from the saved state.
    drop(first_run);
    let _second_run = KestrelRun::start(&config);
    wait_for(Duration::from_secs(30), || {
        http_get(&format!("http://127.0.0.1:{port}/healthz"), None).ok()
    })
    .expect("api up again");
    // alice again at +30 s: still inside the restored window, no new alert; bob at +5 min
    // moves event time past the window's end, which closes alice's window.
    append(
        &audit,
        &[
            exec_line(4, "alice", "2026-01-01T00:00:30.000000Z"),
            exec_line(5, "bob", "2026-01-01T00:05:00.000000Z"),
        ],
    );
    let after = wait_for(Duration::from_secs(30), || {
        let found = alerts(port);
        let alice = by_user(&found, "alice");
        (found.len() == 2 && alice.len() == 1 && alice[0]["suppressed"] == 3).then_some(found)
    })
    .unwrap_or_else(|| panic!("alice's alert updated, bob's raised: {:?}", alerts(port)));
    let alice = by_user(&after, "alice")[0];
    assert_eq!(
        alice["id"],
        alert_id.as_str(),
        "the update keeps the alert id"
    );
    assert_eq!(alice["count"], 1);
    assert!(
        alice["last_seen"]
            .as_str()
            .unwrap()
            .starts_with("2026-01-01T00:00:30"),
        "{alice}"
    );
    let bob = by_user(&after, "bob");
    assert_eq!(bob.len(), 1);
    assert_eq!(bob[0]["suppressed"], 0);

    // The destination got the first alert, then its update (a delivery of its own), then bob's.
    let delivered = wait_for(Duration::from_secs(30), || {
        let got = received.lock().unwrap().clone();
        (got.len() >= 3).then_some(got)
    })
    .expect("the update and bob's alert are delivered");
    std::thread::sleep(Duration::from_secs(1));
    let delivered_now = received.lock().unwrap().clone();
    assert_eq!(delivered_now.len(), 3, "{delivered_now:?}");
    let update: Vec<_> = delivered
        .iter()
        .filter(|(_, body)| body["id"] == alert_id.as_str() && body["suppressed"] == 3)
        .collect();
    assert_eq!(update.len(), 1, "{delivered:?}");
    assert_ne!(
        update[0].0, delivered[0].0,
        "the update has its own idempotency key"
    );
    assert!(
        delivered
            .iter()
            .any(|(_, body)| body["group"]["user.username"] == "bob"),
        "{delivered:?}"
    );
}
