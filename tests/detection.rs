//! Real-time detection: `kestrel run` with `detection.rules` evaluates every event it indexes;
//! alerts are stored and listed by `GET /api/v1/alerts` within seconds of the lines being
//! written, and a restart neither loses nor repeats them.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

fn alerts(port: u16) -> Vec<Value> {
    http_get(
        &format!("http://127.0.0.1:{port}/api/v1/alerts?limit=1000"),
        None,
    )
    .ok()
    .map(|(_, body)| body["alerts"].as_array().cloned().unwrap_or_default())
    .unwrap_or_default()
}

#[test]
fn alerts_arrive_within_seconds_and_survive_a_restart_once() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("audit");
    std::fs::create_dir_all(&logs).unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::copy(
        corpus_file("sigma_kubernetes_rules/kubernetes_audit_exec_into_container.yml"),
        rules.join("exec.yml"),
    )
    .unwrap();
    std::fs::write(
        rules.join("denied-burst.yml"),
        r#"
title: Denied request
name: denied
logsource: {product: kubernetes, service: audit}
detection:
  sel: {responseStatus.code: [401, 403]}
  condition: sel
---
title: Denied requests from one source
id: denied-burst
correlation:
  type: event_count
  rules: [denied]
  group-by: [sourceIPs]
  timespan: 1h
  condition: {gte: 2}
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
"#,
            logs = logs.display(),
            rules = rules.display(),
        ),
    );
    let corpus =
        std::fs::read_to_string(corpus_file("combined/k8s_audit_events_all.jsonl")).unwrap();
    let lines: Vec<&str> = corpus.lines().filter(|l| !l.trim().is_empty()).collect();
    let execs = lines
        .iter()
        .filter(|l| l.contains("\"subresource\":\"exec\"") && l.contains("\"verb\":\"create\""))
        .count();
    assert_eq!(execs, 2);

    let kestrel = KestrelRun::start(&config);
    wait_for(Duration::from_secs(30), || {
        http_get(&format!("http://127.0.0.1:{port}/healthz"), None).ok()
    })
    .expect("api up");
    let written = Instant::now();
    let mut file = std::fs::File::create(logs.join("audit.log")).unwrap();
    for line in &lines {
        writeln!(file, "{line}").unwrap();
    }
    file.flush().unwrap();
    let first = wait_for(Duration::from_secs(30), || {
        let found = alerts(port);
        (found
            .iter()
            .filter(|a| a["title"] == "Potential Remote Command Execution In Pod Container")
            .count()
            == execs)
            .then_some(found)
    })
    .expect("exec alerts arrive");
    let latency = written.elapsed();
    assert!(latency < Duration::from_secs(10), "alerts took {latency:?}");
    let bursts = first
        .iter()
        .filter(|a| a["rule_id"] == "denied-burst")
        .count();
    assert!(bursts >= 1, "{first:?}");
    for alert in &first {
        assert!(alert["event_ids"]
            .as_array()
            .is_some_and(|ids| !ids.is_empty()));
        assert!(alert["query"]
            .as_str()
            .unwrap()
            .starts_with("event.id:IN ["));
    }

    // SIGKILL, restart on the same data: the replayed events are recognized, no alert twice.
    drop(kestrel);
    let _kestrel = KestrelRun::start(&config);
    wait_for(Duration::from_secs(30), || {
        http_get(&format!("http://127.0.0.1:{port}/healthz"), None).ok()
    })
    .expect("api up again");
    std::thread::sleep(Duration::from_secs(2));
    let after = alerts(port);
    let ids = |alerts: &[Value]| {
        let mut ids: Vec<String> = alerts
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&after), ids(&first));
    let raw = std::fs::read_to_string(dir.path().join("data/alerts/alerts.ndjson")).unwrap();
    assert_eq!(raw.lines().count(), first.len(), "each alert stored once");
}
