//! The event-to-alert phase: `kestrel run` (this binary, embedded bus, the configured commit
//! and poll intervals) tails an audit log that grows by ~1000 lines/s, a few of which are
//! execs into pods; a local webhook receiver records when each alert arrives. The delay is
//! measured from the moment the line was written (its `stageTimestamp`) to the moment the
//! signed webhook was received.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use kestrel_config::Config;
use serde::Serialize;

use super::measure::Latency;

/// Lines written per second.
const LINES_PER_SECOND: usize = 1000;
/// Of which execs into a pod (each raises one alert).
const ALERTS_PER_SECOND: usize = 10;

/// Delay from line written to webhook received.
#[derive(Debug, Clone, Serialize)]
pub struct AlertLatency {
    /// Lines written that must raise an alert.
    pub alerting_lines: usize,
    /// Alerts received.
    pub alerts_received: usize,
    /// Delays.
    pub latency: Latency,
    /// Commit interval of the run.
    pub commit_interval_ms: u64,
    /// Poll interval of the collector.
    pub poll_interval_ms: u64,
}

type Received = Arc<Mutex<Vec<(chrono::DateTime<Utc>, String)>>>;

async fn receive(State(received): State<Received>, body: Bytes) -> StatusCode {
    let now = Utc::now();
    if let Ok(alert) = serde_json::from_slice::<serde_json::Value>(&body) {
        let first_seen = alert["first_seen"].as_str().unwrap_or_default().to_owned();
        received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((now, first_seen));
    }
    StatusCode::NO_CONTENT
}

/// Runs the phase for `seconds` of writing, with the rules of `rules`.
pub fn alert_latency(
    config: &Config,
    rules: &Path,
    work: &Path,
    seconds: usize,
) -> anyhow::Result<AlertLatency> {
    eprintln!("alert latency: {seconds} s of audit lines, {ALERTS_PER_SECOND} alerts/s");
    let dir = work.join("alert-latency");
    let _ = std::fs::remove_dir_all(&dir);
    let logs = dir.join("audit");
    std::fs::create_dir_all(&logs)?;
    let received: Received = Arc::default();
    let runtime = crate::pipeline::runtime()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let port = listener.local_addr()?.port();
    let app = axum::Router::new()
        .route("/alerts", axum::routing::post(receive))
        .with_state(Arc::clone(&received));
    runtime.spawn(async move { axum::serve(listener, app).await });
    let config_path = dir.join("kestrel.toml");
    std::fs::write(
        &config_path,
        format!(
            r#"data_dir = "{data}"
[collector]
poll_interval = "{poll}ms"
[[collector.sources]]
paths = ["{logs}/*.log"]
format = "k8s-audit"
[indexer]
commit_interval = "{commit}ms"
[query]
enabled = false
[detection]
rules = "{rules}"
[[alerting.destinations]]
name = "bench"
url = "http://127.0.0.1:{port}/alerts"
secrets = ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
retry_initial = "100ms"
"#,
            data = dir.join("data").display(),
            poll = config.collector.poll_interval.as_millis(),
            logs = logs.display(),
            commit = config.indexer.commit_interval.as_millis(),
            rules = rules.canonicalize().unwrap_or(rules.to_owned()).display(),
        ),
    )?;
    let mut child = Command::new(std::env::current_exe()?)
        .arg("--config")
        .arg(&config_path)
        .arg("run")
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .spawn()
        .context("starting kestrel run")?;
    // Let it start and find the (empty) file.
    let mut file = std::fs::File::create(logs.join("audit.log"))?;
    std::thread::sleep(Duration::from_secs(2));
    let started = Instant::now();
    let mut expected = 0;
    for second in 0..seconds {
        for i in 0..LINES_PER_SECOND {
            let exec = i % (LINES_PER_SECOND / ALERTS_PER_SECOND) == 0;
            writeln!(file, "{}", audit_line(second * LINES_PER_SECOND + i, exec))?;
            expected += usize::from(exec);
            if i % 100 == 99 {
                file.flush()?;
                let due = Duration::from_millis((second * 1000 + (i + 1)) as u64);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
        }
    }
    file.flush()?;
    // Several rules may alert on one line: wait until every line has an alert and nothing
    // more arrives for 3 s.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = (0, Instant::now());
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        let count = received.lock().map_or(0, |r| r.len());
        if count != last.0 {
            last = (count, Instant::now());
        } else if count >= expected && last.1.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let received = received.lock().map(|r| r.clone()).unwrap_or_default();
    let delays: Vec<Duration> = received
        .iter()
        .filter_map(|(at, first_seen)| {
            let written = kestrel_event::parse_timestamp(first_seen).ok()?;
            (*at - written).to_std().ok()
        })
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(AlertLatency {
        alerting_lines: expected,
        alerts_received: received.len(),
        latency: Latency::of(delays),
        commit_interval_ms: config.indexer.commit_interval.as_millis() as u64,
        poll_interval_ms: config.collector.poll_interval.as_millis() as u64,
    })
}

fn audit_line(n: usize, exec: bool) -> String {
    let now = kestrel_event::format_timestamp(&Utc::now());
    let (verb, subresource, uri) = if exec {
        (
            "create",
            r#","subresource":"exec""#,
            "/api/v1/namespaces/shop/pods/web-0/exec?command=sh",
        )
    } else {
        ("get", "", "/api/v1/namespaces/shop/pods/web-0")
    };
    format!(
        r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"bench-{n}","stage":"ResponseComplete","requestURI":"{uri}","verb":"{verb}","user":{{"username":"alice"}},"sourceIPs":["10.0.0.{ip}"],"objectRef":{{"resource":"pods","namespace":"shop","name":"web-0"{subresource}}},"responseStatus":{{"code":200}},"requestReceivedTimestamp":"{now}","stageTimestamp":"{now}"}}"#,
        ip = n % 250
    )
}
