//! Alert delivery end to end: `kestrel run` detects an exec into a pod and delivers the alert,
//! signed per Standard Webhooks with two secrets (rotation), to a real local receiver that
//! fails, rate-limits, times out and finally verifies and accepts it; the process is killed
//! in between; a destination that stays down ends in the dead-letter list and is redelivered
//! on demand.

mod common;

use std::io::Write;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use common::*;
use kestrel_alerting::payload::verify;

const OLD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const NEW_SECRET: &str = "whsec_bmV3LXNlY3JldC1mb3Itcm90YXRpb24=";

#[derive(Clone, Default)]
struct Receiver {
    flaky_calls: Arc<AtomicUsize>,
    /// webhook-id of every call to /flaky.
    flaky_ids: Arc<Mutex<Vec<String>>>,
    /// Bodies accepted with a valid signature.
    accepted: Arc<Mutex<Vec<serde_json::Value>>>,
    down_status: Arc<AtomicU16>,
    down_calls: Arc<AtomicUsize>,
    down_accepted: Arc<AtomicUsize>,
}

async fn flaky(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    let call = r.flaky_calls.fetch_add(1, Ordering::SeqCst);
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let id = header("webhook-id");
    r.flaky_ids.lock().unwrap().push(id.clone());
    match call {
        0 => return (StatusCode::INTERNAL_SERVER_ERROR, HeaderMap::new()),
        1 => {
            let mut h = HeaderMap::new();
            h.insert("retry-after", "1".parse().unwrap());
            return (StatusCode::TOO_MANY_REQUESTS, h);
        }
        // Longer than the destination's 1 s timeout.
        2 => tokio::time::sleep(Duration::from_secs(3)).await,
        _ => {}
    }
    let timestamp: i64 = header("webhook-timestamp").parse().unwrap_or_default();
    // The receiver still knows only the old secret: rotation keeps it working.
    if !verify(
        OLD_SECRET,
        &id,
        timestamp,
        &body,
        &header("webhook-signature"),
    ) {
        return (StatusCode::UNAUTHORIZED, HeaderMap::new());
    }
    r.accepted
        .lock()
        .unwrap()
        .push(serde_json::from_slice(&body).unwrap());
    (StatusCode::NO_CONTENT, HeaderMap::new())
}

async fn down(State(r): State<Receiver>) -> StatusCode {
    r.down_calls.fetch_add(1, Ordering::SeqCst);
    let status = StatusCode::from_u16(r.down_status.load(Ordering::SeqCst)).unwrap();
    if status.is_success() {
        r.down_accepted.fetch_add(1, Ordering::SeqCst);
    }
    status
}

fn start_receiver(receiver: Receiver) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            let app = axum::Router::new()
                .route("/flaky", post(flaky))
                .route("/down", post(down))
                .with_state(receiver);
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    port
}

#[test]
fn alerts_are_delivered_signed_once_through_failures_restarts_and_redelivery() {
    let receiver = Receiver::default();
    receiver.down_status.store(503, Ordering::SeqCst);
    let port = start_receiver(receiver.clone());
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("audit");
    std::fs::create_dir_all(&logs).unwrap();
    let rule = corpus_file("sigma_kubernetes_rules/kubernetes_audit_exec_into_container.yml");
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
rules = "{rule}"
[query]
enabled = false
[[alerting.destinations]]
name = "flaky"
url = "http://127.0.0.1:{port}/flaky"
secrets = ["{NEW_SECRET}", "{OLD_SECRET}"]
timeout = "1s"
retry_initial = "300ms"
max_attempts = 10
[[alerting.destinations]]
name = "down"
kind = "alertmanager"
url = "http://127.0.0.1:{port}/down"
retry_initial = "100ms"
max_attempts = 2
"#,
            logs = logs.display(),
            rule = rule.display(),
        ),
    );
    let corpus =
        std::fs::read_to_string(corpus_file("combined/k8s_audit_events_all.jsonl")).unwrap();
    let exec = corpus
        .lines()
        .find(|l| l.contains("\"subresource\":\"exec\"") && l.contains("\"verb\":\"create\""))
        .unwrap();

    let first_run = KestrelRun::start(&config);
    let mut file = std::fs::File::create(logs.join("audit.log")).unwrap();
    writeln!(file, "{exec}").unwrap();
    file.flush().unwrap();
    // The first attempt fails (500); kill -9 before the retry.
    wait_for(Duration::from_secs(30), || {
        (receiver.flaky_calls.load(Ordering::SeqCst) >= 1).then_some(())
    })
    .expect("first attempt");
    drop(first_run);
    let _second_run = KestrelRun::start(&config);

    let accepted = wait_for(Duration::from_secs(30), || {
        let accepted = receiver.accepted.lock().unwrap().clone();
        (!accepted.is_empty()).then_some(accepted)
    })
    .expect("the alert is delivered after the retries");
    std::thread::sleep(Duration::from_secs(1));
    let accepted_now = receiver.accepted.lock().unwrap().clone();
    assert_eq!(
        accepted_now.len(),
        1,
        "delivered exactly once: {accepted_now:?}"
    );
    let alert = &accepted[0];
    assert_eq!(
        alert["title"],
        "Potential Remote Command Execution In Pod Container"
    );
    assert_eq!(alert["count"], 1);
    let ids = receiver.flaky_ids.lock().unwrap().clone();
    assert!(ids.len() >= 4, "500, 429, timeout, then success: {ids:?}");
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "one idempotency key: {ids:?}"
    );

    // The destination that stays down gives up after its 2 attempts.
    let dead = wait_for(Duration::from_secs(30), || {
        let output = run_ok(kestrel(&dir.path().join("data")).args(["alerts", "dead"]));
        let text = String::from_utf8(output.stdout).unwrap();
        (!text.trim().is_empty()).then_some(text)
    })
    .expect("dead-letter list");
    assert!(
        dead.contains("\"destination\":\"down\"") && dead.contains("HTTP 503"),
        "{dead}"
    );
    assert_eq!(receiver.down_calls.load(Ordering::SeqCst), 2);
    receiver.down_status.store(200, Ordering::SeqCst);
    let output = run_ok(kestrel(&dir.path().join("data")).args(["alerts", "redeliver"]));
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("1 deliveries"));
    wait_for(Duration::from_secs(30), || {
        (receiver.down_accepted.load(Ordering::SeqCst) == 1).then_some(())
    })
    .expect("redelivered");
}
