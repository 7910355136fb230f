//! Retro-hunt: `kestrel hunt` runs Sigma rules, correlations included, over indexed history and
//! finds exactly what the same rules find when evaluated on every stored event one by one.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::*;
use kestrel_detect::{parse_rules, Detector};
use serde_json::Value;

fn hunt(data: &Path, rules: &Path) -> Vec<Value> {
    let output = run_ok(kestrel(data).arg("hunt").arg("--rules").arg(rules));
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("alert is json"))
        .collect()
}

fn all_events(data: &Path) -> Vec<Value> {
    let mut events: Vec<Value> = search(data, "*", 1000)["hits"].as_array().unwrap().clone();
    events.sort_by(|a, b| {
        (a["@timestamp"].as_str(), a["event"]["id"].as_str())
            .cmp(&(b["@timestamp"].as_str(), b["event"]["id"].as_str()))
    });
    events
}

fn keys(alerts: &[Value]) -> BTreeSet<(String, Vec<String>)> {
    alerts
        .iter()
        .map(|a| {
            let ids = a["event_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect();
            (a["rule_id"].as_str().unwrap().to_owned(), ids)
        })
        .collect()
}

#[test]
fn hunting_the_community_rules_finds_what_evaluating_every_event_finds() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    ingest(&data, &[corpus_file("combined/k8s_audit_events_all.jsonl")]);
    let rules_dir = corpus_file("sigma_kubernetes_rules");
    let alerts = hunt(&data, &rules_dir);

    let documents: Vec<_> = kestrel_detect::load_rules(&rules_dir)
        .unwrap()
        .into_iter()
        .map(|(_, d)| d)
        .collect();
    let mut detector = Detector::new(&documents).unwrap();
    let events = all_events(&data);
    assert_eq!(events.len(), 114);
    let direct: Vec<Value> = events
        .iter()
        .flat_map(|e| detector.evaluate(e))
        .map(|a| serde_json::to_value(a).unwrap())
        .collect();
    assert!(direct.len() >= 20, "{} direct alerts", direct.len());
    assert_eq!(keys(&alerts), keys(&direct));
    for alert in &alerts {
        for field in [
            "rule_id",
            "title",
            "level",
            "first_seen",
            "last_seen",
            "query",
        ] {
            assert!(alert[field].is_string(), "{field} in {alert}");
        }
        assert!(alert["tags"].is_array() && alert["group"].is_object());
        // The alert's query shows exactly its events.
        let shown = search(&data, alert["query"].as_str().unwrap(), 100);
        assert_eq!(shown["total"], alert["event_ids"].as_array().unwrap().len());
    }
}

#[test]
fn hunting_a_correlation_groups_denied_requests_by_source() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    ingest(&data, &[corpus_file("combined/k8s_audit_events_all.jsonl")]);
    let rules = dir.path().join("burst.yml");
    std::fs::write(
        &rules,
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
    let alerts = hunt(&data, &rules);

    // Independent expectation: walk the denied events in time order per source, firing at
    // every second event within an hour of the window's start, then starting afresh.
    let events = all_events(&data);
    let mut windows: std::collections::HashMap<String, Vec<i64>> = Default::default();
    let mut expected = 0;
    for e in &events {
        let code = e["responseStatus"]["code"].as_i64();
        if !matches!(code, Some(401 | 403)) {
            continue;
        }
        let source = e["sourceIPs"][0].as_str().unwrap_or_default().to_owned();
        let at = kestrel_event::parse_timestamp(e["@timestamp"].as_str().unwrap())
            .unwrap()
            .timestamp_millis();
        let window = windows.entry(source).or_default();
        window.retain(|t| *t > at - 3_600_000);
        window.push(at);
        if window.len() >= 2 {
            expected += 1;
            window.clear();
        }
    }
    assert!(expected >= 1, "the corpus holds denied bursts");
    assert_eq!(alerts.len(), expected, "{alerts:?}");
    for alert in &alerts {
        assert_eq!(alert["rule_id"], "denied-burst");
        assert_eq!(alert["count"], 2);
        assert!(alert["group"]["sourceIPs"].is_string());
    }
}

#[test]
fn a_bad_rule_is_reported_with_its_file_and_part() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("bad.yml");
    std::fs::write(
        &rules,
        "title: bad\nlogsource: {product: kubernetes, service: audit}\ndetection:\n  sel: {verb|sometimes: get}\n  condition: sel\n",
    )
    .unwrap();
    let output = kestrel(&dir.path().join("data"))
        .arg("hunt")
        .arg("--rules")
        .arg(&rules)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("sometimes") && stderr.contains("detection.sel"),
        "{stderr}"
    );
    assert!(parse_rules("x", "title: [unclosed").is_err());
}

#[test]
fn the_api_hunts_the_same_way() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    ingest(&data, &[corpus_file("combined/k8s_audit_events_all.jsonl")]);
    let rule_file = corpus_file("sigma_kubernetes_rules/kubernetes_audit_exec_into_container.yml");
    let cli = hunt(&data, &rule_file);
    let server = QueryServer::start(Path::new(env!("CARGO_BIN_EXE_kestrel")), &data, &[]);
    let body = serde_json::json!({ "rules": std::fs::read_to_string(&rule_file).unwrap() });
    let mut response = ureq::post(&server.url("/api/v1/hunt"))
        .send_json(&body)
        .expect("hunt answers");
    let text = response.body_mut().read_to_string().unwrap();
    let api: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(api.len(), 2, "two exec requests in the corpus");
    assert_eq!(keys(&api), keys(&cli));
    let bad = ureq::post(&server.url("/api/v1/hunt"))
        .config()
        .http_status_as_error(false)
        .build()
        .send_json(serde_json::json!({"rules": "title: x\ndetection: {condition: nope}"}))
        .unwrap();
    assert_eq!(bad.status(), 400);
}

#[test]
fn hunts_resolve_placeholders_with_the_pack_defaults_and_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    ingest(&data, &[corpus_file("combined/k8s_audit_events_all.jsonl")]);
    let pack = dir.path().join("rules");
    std::fs::create_dir(&pack).unwrap();
    std::fs::write(
        pack.join("placeholders.toml"),
        "hunted_verbs = [\"create\"]\n",
    )
    .unwrap();
    let rule = "title: Hunted verbs
id: hunted-verbs
logsource: {product: kubernetes, service: audit}
detection:
  sel: {verb|expand: '%hunted_verbs%'}
  condition: sel
level: low
";
    std::fs::write(pack.join("verbs.yml"), rule).unwrap();
    let events = all_events(&data);
    let with_verb = |verbs: &[&str]| {
        events
            .iter()
            .filter(|e| e["event"]["kind"] == "k8s_audit")
            .filter(|e| verbs.contains(&e["verb"].as_str().unwrap_or_default()))
            .count()
    };
    assert!(with_verb(&["create"]) > 0 && with_verb(&["delete", "patch"]) > 0);

    // The pack's defaults.
    assert_eq!(hunt(&data, &pack).len(), with_verb(&["create"]));
    // The configuration's list replaces them, for the CLI and the API alike.
    let config = dir.path().join("kestrel.toml");
    std::fs::write(
        &config,
        format!(
            "[detection]\nrules = {:?}\n[detection.placeholders]\nhunted_verbs = [\"delete\", \"PATCH\"]\n",
            pack.display().to_string()
        ),
    )
    .unwrap();
    let output = run_ok(
        kestrel(&data)
            .arg("--config")
            .arg(&config)
            .arg("hunt")
            .arg("--rules")
            .arg(&pack),
    );
    let cli = String::from_utf8(output.stdout).unwrap().lines().count();
    assert_eq!(cli, with_verb(&["delete", "patch"]));
    // The query server takes the same settings from the environment.
    let rules_env = pack.display().to_string();
    let server = QueryServer::start(
        Path::new(env!("CARGO_BIN_EXE_kestrel")),
        &data,
        &[
            ("KESTREL_DETECTION__RULES", rules_env.as_str()),
            (
                "KESTREL_DETECTION__PLACEHOLDERS__HUNTED_VERBS",
                "[\"delete\", \"PATCH\"]",
            ),
        ],
    );
    let mut response = ureq::post(&server.url("/api/v1/hunt"))
        .send_json(serde_json::json!({ "rules": rule }))
        .expect("hunt answers");
    let text = response.body_mut().read_to_string().unwrap();
    assert_eq!(text.lines().count(), with_verb(&["delete", "patch"]));
    // A placeholder nobody defines is refused, named.
    let bad = ureq::post(&server.url("/api/v1/hunt"))
        .config()
        .http_status_as_error(false)
        .build()
        .send_json(serde_json::json!({ "rules": rule.replace("hunted_verbs", "nobody") }))
        .unwrap();
    assert_eq!(bad.status(), 400);
    let mut bad = bad;
    let message = bad.body_mut().read_to_string().unwrap();
    assert!(message.contains("%nobody%"), "{message}");
}
