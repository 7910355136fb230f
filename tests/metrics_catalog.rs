//! The metrics the Grafana dashboard and the Prometheus rules query are all exported by a
//! freshly started `kestrel run`, before anything has gone wrong: a misspelt name, or a
//! counter that only appears at its first increment, fails here.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::KestrelServer as Kestrel;
use common::*;
use serde_json::Value;

const DASHBOARD: &str = "deploy/grafana/kestrel-dashboard.json";
const RULES: &str = "deploy/prometheus/kestrel-rules.yaml";

/// Series Prometheus makes itself rather than scraping: `up`, which the "component down" rules
/// query. Not looked for in the scrape.
const PRODUCED_BY_PROMETHEUS: &[&str] = &["up"];

/// Per-partition series of the Kafka consumer, which exist once a partition is assigned: never
/// with the embedded bus this test runs (tests/kafka.rs checks them against a broker).
const KAFKA_ONLY: &[&str] = &["kestrel_indexer_consumer_lag"];

fn repo_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// Every `expr` string anywhere in the dashboard (panels, rows' panels).
fn dashboard_exprs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                match (key.as_str(), child) {
                    ("expr", Value::String(expr)) => out.push(expr.clone()),
                    _ => dashboard_exprs(child, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| dashboard_exprs(item, out)),
        _ => {}
    }
}

/// Every datasource reference of the dashboard must go through the `datasource` variable.
fn hard_coded_datasources(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(source)) = map.get("datasource") {
                if source.get("uid") != Some(&Value::String("${datasource}".into())) {
                    out.push(Value::Object(source.clone()).to_string());
                }
            }
            map.values()
                .for_each(|child| hard_coded_datasources(child, out));
        }
        Value::Array(items) => items.iter().for_each(|i| hard_coded_datasources(i, out)),
        _ => {}
    }
}

/// The `expr`s of a rule file: inline (`expr: up == 0`) or block scalars (`expr: |`, the
/// lines indented below).
fn rule_exprs(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut exprs = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let Some(rest) = trimmed.strip_prefix("expr:") else {
            continue;
        };
        let rest = rest.trim();
        if !rest.starts_with('|') && !rest.starts_with('>') {
            exprs.push(rest.to_owned());
            continue;
        }
        let indent = line.len() - trimmed.len();
        let block: Vec<&str> = lines[i + 1..]
            .iter()
            .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
            .map(|l| l.trim())
            .collect();
        exprs.push(block.join(" "));
    }
    exprs
}

/// The metric names of `exprs`: every `kestrel_*` name, and any other name used as a selector
/// (`name{...}`), histogram series (`_bucket`, `_sum`, `_count`) under their histogram's name;
/// the value tells whether a `_bucket` series was used.
fn metric_names(exprs: &[String]) -> BTreeMap<String, bool> {
    let pattern = regex::Regex::new(r"\b(kestrel_[a-z0-9_]+|[a-zA-Z_:][a-zA-Z0-9_:]*\{)")
        .expect("valid pattern");
    let mut names = BTreeMap::new();
    for expr in exprs {
        for found in pattern.find_iter(expr) {
            let name = found.as_str().trim_end_matches('{');
            let bucket = name.ends_with("_bucket");
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .unwrap_or(name);
            *names.entry(base.to_owned()).or_insert(false) |= bucket;
        }
    }
    names
}

/// The families of a scrape (`# TYPE name kind`), with their kind; and those with `# HELP`.
fn scraped_families(text: &str) -> (BTreeMap<String, String>, BTreeSet<String>) {
    let mut kinds = BTreeMap::new();
    let mut described = BTreeSet::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next(), words.next()) {
            (Some("#"), Some("TYPE"), Some(name), Some(kind)) => {
                kinds.insert(name.to_owned(), kind.to_owned());
            }
            (Some("#"), Some("HELP"), Some(name), Some(_)) => {
                described.insert(name.to_owned());
            }
            _ => {}
        }
    }
    (kinds, described)
}

fn docker_line(n: usize) -> String {
    format!(
        "{{\"log\":\"request {n} served\\n\",\"stream\":\"stdout\",\"time\":\"2024-05-01T10:00:0{n}.000000000Z\"}}\n"
    )
}

#[test]
fn every_metric_of_the_dashboard_and_the_rules_is_exported_from_start_up() {
    // The committed files, read where they are.
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_file(DASHBOARD)).expect("dashboard readable"),
    )
    .expect("dashboard is json");
    assert!(dashboard["uid"].as_str().is_some_and(|uid| !uid.is_empty()));
    assert!(dashboard["schemaVersion"].as_u64().is_some());
    let variable = dashboard["templating"]["list"]
        .as_array()
        .and_then(|list| list.iter().find(|v| v["name"] == "datasource"));
    assert_eq!(
        variable.map(|v| (&v["type"], &v["query"])),
        Some((&Value::from("datasource"), &Value::from("prometheus"))),
        "a datasource variable of type prometheus"
    );
    let mut hard_coded = Vec::new();
    hard_coded_datasources(&dashboard, &mut hard_coded);
    assert!(
        hard_coded.is_empty(),
        "datasources not from the variable: {hard_coded:?}"
    );
    let mut exprs = Vec::new();
    dashboard_exprs(&dashboard, &mut exprs);
    let from_dashboard = metric_names(&exprs);
    let rules_text = std::fs::read_to_string(repo_file(RULES)).expect("rules readable");
    let from_rules = metric_names(&rule_exprs(&rules_text));

    // Not vacuous: the families each file is about.
    for name in [
        "kestrel_collector_lines_total",
        "kestrel_collector_bytes_total",
        "kestrel_indexer_events_indexed_total",
        "kestrel_indexer_consumer_lag",
        "kestrel_collector_lag_bytes",
        "kestrel_collector_files_waiting",
        "kestrel_collector_dead_letters_total",
        "kestrel_indexer_dead_letters_total",
        "kestrel_alerts_dead_letters_total",
        "kestrel_indexer_commits_total",
        "kestrel_indexer_commit_duration_seconds",
        "kestrel_query_request_duration_seconds",
        "kestrel_detection_alerts_total",
        "kestrel_alerts_delivery_retries_total",
        "kestrel_collector_checkpoint_age_seconds",
    ] {
        assert!(from_dashboard.contains_key(name), "dashboard lacks {name}");
    }
    for name in [
        "kestrel_indexer_consumer_lag",
        "kestrel_collector_lag_bytes",
        "kestrel_collector_dead_letters_total",
        "kestrel_indexer_dead_letters_total",
        "kestrel_alerts_dead_letters_total",
        "kestrel_collector_checkpoint_age_seconds",
    ] {
        assert!(from_rules.contains_key(name), "rules lack {name}");
    }
    assert!(
        from_rules.contains_key("up"),
        "the component-down rules query Prometheus's own up"
    );
    for name in KAFKA_ONLY {
        assert!(
            from_dashboard.contains_key(*name) || from_rules.contains_key(*name),
            "{name} is listed as Kafka-only but no longer used"
        );
    }

    // A real process: a tailed file, the rule pack, a destination nobody listens on.
    let dir = tempfile::tempdir().expect("temp dir");
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).expect("logs dir");
    let mut log = std::fs::File::create(logs.join("web-json.log")).expect("log file");
    for n in 0..3 {
        log.write_all(docker_line(n).as_bytes())
            .expect("log written");
    }
    log.flush().expect("log flushed");
    let (port, metrics_port, closed_port) = (free_port(), free_port(), free_port());
    let config = write_kestrel_config(
        dir.path(),
        &format!(
            r#"
[collector]
poll_interval = "50ms"
[[collector.sources]]
name = "web"
paths = ["{logs}/*-json.log"]
format = "docker"

[indexer]
commit_interval = "200ms"

[detection]
rules = "{rules}"

[query]
listen = "127.0.0.1:{port}"

[metrics]
listen = "127.0.0.1:{metrics_port}"

[[alerting.destinations]]
name = "closed-port"
url = "http://127.0.0.1:{closed_port}/alerts"
timeout = "1s"
"#,
            logs = logs.display(),
            rules = repo_file("rules").display(),
        ),
    );
    let kestrel = Kestrel::start(&config, port);
    kestrel.wait_for_hits("*", 3);
    let scrape = wait_for(Duration::from_secs(20), || {
        match http_get(&format!("http://127.0.0.1:{metrics_port}/metrics"), None) {
            Ok((200, Value::String(text))) => Some(text),
            _ => None,
        }
    })
    .expect("the metrics listener answers");
    let (families, described) = scraped_families(&scrape);

    let mut missing = Vec::new();
    let wanted = from_dashboard.iter().chain(&from_rules);
    for (name, bucket) in wanted {
        if KAFKA_ONLY.contains(&name.as_str()) || PRODUCED_BY_PROMETHEUS.contains(&name.as_str()) {
            continue;
        }
        match families.get(name) {
            None => missing.push(name.clone()),
            Some(kind) if *bucket && kind != "histogram" => {
                missing.push(format!("{name} (a {kind}, queried as a histogram)"))
            }
            Some(_) => {}
        }
    }
    missing.sort();
    missing.dedup();
    assert!(
        missing.is_empty(),
        "queried but not exported: {missing:#?}\nscrape:\n{scrape}"
    );

    // Every family exported is described (it comes from the catalog).
    let undescribed: Vec<_> = families
        .keys()
        .filter(|name| name.starts_with("kestrel_") && !described.contains(*name))
        .collect();
    assert!(undescribed.is_empty(), "without help text: {undescribed:?}");

    // Failures are counted from zero before the first one.
    let lines: BTreeSet<&str> = scrape.lines().collect();
    for line in [
        "kestrel_indexer_dead_letters_total 0",
        "kestrel_collector_dead_letters_total{source=\"files\"} 0",
        "kestrel_alerts_dead_letters_total{destination=\"closed-port\"} 0",
    ] {
        assert!(
            lines.contains(line),
            "{line:?} not in the scrape:\n{scrape}"
        );
    }
    assert!(
        scrape.contains("kestrel_query_request_duration_seconds_bucket{route=\"/api/v1/search\""),
        "search latency buckets:\n{scrape}"
    );
    kestrel.stop();
}
