//! End to end: `kestrel ingest` of the audit corpus, then `kestrel aggregate`, with expected
//! values computed here from the raw file.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use serde_json::{json, Value};

fn aggregate(data: &Path, args: &[&str]) -> Value {
    let output = run_ok(
        kestrel(data)
            .arg("aggregate")
            .args(["--format", "json"])
            .args(args),
    );
    serde_json::from_slice(&output.stdout).expect("aggregate prints json")
}

/// Events per value of a string field, most frequent first (ties by value), and the rest.
fn top(raw: &[Value], field: &str, size: usize) -> (Vec<(String, u64)>, u64) {
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for event in raw {
        if let Some(value) = path(event, field).and_then(Value::as_str) {
            *counts.entry(value.to_owned()).or_default() += 1;
        }
    }
    let mut sorted: Vec<(String, u64)> = counts.into_iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let other = sorted.iter().skip(size).map(|(_, c)| c).sum();
    sorted.truncate(size);
    (sorted, other)
}

fn buckets(result: &Value) -> Vec<(String, u64)> {
    result["buckets"]
        .as_array()
        .expect("buckets")
        .iter()
        .map(|b| {
            (
                b["key"].as_str().unwrap().to_owned(),
                b["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn aggregate_command_prints_exact_terms_histograms_and_metrics() {
    let data = tempfile::tempdir().unwrap();
    let file = corpus_file("combined/k8s_audit_events_all.jsonl");
    ingest(data.path(), std::slice::from_ref(&file));
    let raw = read_jsonl(&file);

    let response = aggregate(data.path(), &["--terms", "verb", "--size", "3"]);
    assert_eq!(response["total"], 114);
    let (expected, other) = top(&raw, "verb", 3);
    assert_eq!(buckets(&response["aggregations"]["result"]), expected);
    assert_eq!(response["aggregations"]["result"]["other_count"], other);

    let response = aggregate(
        data.path(),
        &[
            "--terms",
            "objectRef.namespace",
            "--then-terms",
            "verb",
            "verb:create OR verb:delete",
        ],
    );
    let matching: Vec<Value> = raw
        .iter()
        .filter(|e| matches!(e["verb"].as_str(), Some("create" | "delete")))
        .cloned()
        .collect();
    assert_eq!(response["total"], matching.len() as u64);
    let result = &response["aggregations"]["result"];
    let (expected, _) = top(&matching, "objectRef.namespace", 10);
    assert_eq!(buckets(result), expected);
    for bucket in result["buckets"].as_array().unwrap() {
        let inside: Vec<Value> = matching
            .iter()
            .filter(|e| path(e, "objectRef.namespace") == Some(&bucket["key"]))
            .cloned()
            .collect();
        assert_eq!(
            buckets(&bucket["aggs"]["then"]),
            top(&inside, "verb", 10).0,
            "{}",
            bucket["key"]
        );
    }

    let response = aggregate(
        data.path(),
        &[
            "--histogram",
            "--interval",
            "1d",
            "--from",
            "2018-10-25T00:00:00Z",
            "--to",
            "2018-10-26T23:59:59Z",
        ],
    );
    let days = buckets(&response["aggregations"]["result"]);
    let day_of = |e: &Value| -> String {
        ["stageTimestamp", "requestReceivedTimestamp", "timestamp"]
            .iter()
            .find_map(|k| e[k].as_str())
            .unwrap()[..10]
            .to_owned()
    };
    let count_day = |day: &str| raw.iter().filter(|e| day_of(e) == day).count() as u64;
    assert_eq!(
        days,
        vec![
            ("2018-10-25T00:00:00Z".to_owned(), count_day("2018-10-25")),
            ("2018-10-26T00:00:00Z".to_owned(), count_day("2018-10-26")),
        ]
    );

    let ips: std::collections::BTreeSet<&str> = raw
        .iter()
        .flat_map(|e| e["sourceIPs"].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .collect();
    let response = aggregate(data.path(), &["--cardinality", "sourceIPs"]);
    assert_eq!(
        response["aggregations"]["result"],
        json!({"value": ips.len()})
    );

    let codes: Vec<i64> = raw
        .iter()
        .filter_map(|e| path(e, "responseStatus.code").and_then(Value::as_i64))
        .collect();
    let response = aggregate(data.path(), &["--stats", "responseStatus.code"]);
    let stats = &response["aggregations"]["result"];
    assert_eq!(stats["count"], codes.len() as u64);
    assert_eq!(stats["min"], *codes.iter().min().unwrap());
    assert_eq!(stats["max"], *codes.iter().max().unwrap());
    assert_eq!(stats["sum"], codes.iter().sum::<i64>());

    let response = aggregate(
        data.path(),
        &[
            "--percentiles",
            "responseStatus.code",
            "--percents",
            "50,99",
        ],
    );
    let values = response["aggregations"]["result"]["values"]
        .as_array()
        .unwrap();
    assert_eq!(values.len(), 2);
    assert_eq!(values[1]["percent"], 99.0);
}

#[test]
fn aggregate_command_prints_tables_and_explains_errors() {
    let data = tempfile::tempdir().unwrap();
    let file = corpus_file("combined/k8s_audit_events_all.jsonl");
    ingest(data.path(), std::slice::from_ref(&file));
    let raw = read_jsonl(&file);

    let output = run_ok(kestrel(data.path()).args(["aggregate", "--terms", "verb"]));
    let table = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["VERB", "COUNT"], "{table}");
    for (verb, count) in top(&raw, "verb", 10).0 {
        assert!(
            lines.contains(&vec![verb.as_str(), &count.to_string()]),
            "{verb} {count} in {table}"
        );
    }
    assert!(String::from_utf8_lossy(&output.stderr).contains("114 matching events"));

    let output =
        run_ok(kestrel(data.path()).args(["aggregate", "--histogram", "--interval", "1d"]));
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(
        table.starts_with("@TIMESTAMP") && table.contains("per 1d"),
        "{table}"
    );
    assert!(table.contains("2018-10-26T00:00:00Z"), "{table}");

    for (args, message) in [
        (vec!["--terms", "message"], "\"message\""),
        (vec!["--stats", "verb"], "numeric fields"),
        (vec!["--histogram", "--interval", "1y"], "invalid interval"),
        (
            vec!["--terms", "objectRef.name", "--memory-limit", "1KiB"],
            "memory limit of 1 KiB",
        ),
        (vec!["--terms", "verb", "verb:(get"], "position"),
    ] {
        let output = kestrel(data.path())
            .arg("aggregate")
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    // One aggregation kind is required, and only one.
    for args in [vec![], vec!["--terms", "verb", "--histogram"]] {
        let output = kestrel(data.path())
            .arg("aggregate")
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
    }
}
