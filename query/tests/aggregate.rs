//! Aggregations over the third-party corpus (`../shared/corpus`), compared with values computed
//! here, independently, from the raw audit events and from the events Kestrel stored.
//!
//! The corpus is indexed with the real normalizers and indexer: all 114 audit events, the
//! fluent-bit Kubernetes Docker logs and a CRI log, the container logs given `/var/log/pods/…`
//! paths so that `kubernetes.namespace` is set.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{DateTime, Datelike, Timelike, Utc};
use http_body_util::BodyExt;
use kestrel_collector::normalize::{normalize_bytes, Format, Output, SourceContext};
use kestrel_event::{parse_timestamp, Event, EventKind};
use kestrel_indexer::{AddOutcome, Indexer, IndexerOptions};
use kestrel_query::aggregate::{AggregateParams, AggregateRequest, AggregationLimits};
use kestrel_query::api::{router, ApiSettings};
use kestrel_query::{SearchEngine, SearchError};
use serde_json::{json, Value};
use tempfile::TempDir;
use tower::ServiceExt;

fn corpus() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus");
    assert!(
        path.join("MANIFEST.tsv").exists(),
        "the test corpus is missing at {} (CI provides it next to the repository)",
        path.display()
    );
    path
}

/// An index of the corpus and what was put in it.
struct Corpus {
    dir: TempDir,
    engine: Arc<SearchEngine>,
    /// The raw audit events of `combined/k8s_audit_events_all.jsonl`.
    audit: Vec<Value>,
    /// Every indexed event, as stored (JSON).
    events: Vec<Value>,
}

fn options() -> IndexerOptions {
    IndexerOptions {
        writer_memory_bytes: 15_000_000,
        max_open_partitions: 4,
        writer_threads: 1,
        classifier: None,
    }
}

impl Corpus {
    fn build() -> Corpus {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("index");
        let mut indexer = Indexer::open(&root, options()).unwrap();
        let mut events = Vec::new();
        let mut add = |format: Format, path: String, file: &Path| {
            let bytes = std::fs::read(file).unwrap();
            let context = SourceContext {
                content_id: None,
                path,
                host_name: "node-1".into(),
                ingested: parse_timestamp("2024-05-01T00:00:00Z").unwrap(),
            };
            for output in normalize_bytes(format, context, &bytes).unwrap() {
                if let Output::Event(event) = output {
                    if indexer.add(&event).unwrap() == AddOutcome::Added {
                        events.push(serde_json::from_str::<Value>(&event.to_json()).unwrap());
                    }
                }
            }
        };
        let audit_file = corpus().join("combined/k8s_audit_events_all.jsonl");
        add(
            Format::K8sAudit,
            "/var/log/kubernetes/audit.log".into(),
            &audit_file,
        );
        let logs = corpus().join("fluent_bit_container_logs/runtime/data/kubernetes/log");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&logs)
            .unwrap()
            .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
            .map(|f| f.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
            .collect();
        files.sort();
        assert!(files.len() > 20, "fluent-bit logs: {}", files.len());
        for (i, file) in files.iter().enumerate() {
            let namespace = file
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_str()
                .unwrap();
            let pod = file
                .file_stem()
                .unwrap()
                .to_str()
                .unwrap()
                .replace('_', "-")
                .to_lowercase();
            let path = format!("/var/log/pods/{namespace}_{pod}_uid-{i}/app/0.log");
            add(Format::Docker, path, file);
        }
        add(
            Format::Cri,
            "/var/log/pods/ingress_nginx-ingress_uid-cri/controller/0.log".into(),
            &corpus().join("crowdsec_hub/tests/cri-logs/cri-logs.log"),
        );
        indexer.commit().unwrap();
        drop(indexer);
        let audit: Vec<Value> = std::fs::read_to_string(&audit_file)
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(audit.len(), 114);
        assert!(events.len() > 114 + 50, "{} events", events.len());
        Corpus {
            engine: SearchEngine::new(&root),
            dir,
            audit,
            events,
        }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("index")
    }

    fn run(&self, body: Value) -> Value {
        run(&self.engine, body).unwrap_or_else(|e| panic!("{e}"))
    }

    fn containers(&self) -> impl Iterator<Item = &Value> {
        self.events
            .iter()
            .filter(|e| e["event"]["kind"] == "container")
    }
}

fn run(engine: &SearchEngine, body: Value) -> Result<Value, SearchError> {
    let params: AggregateParams = serde_json::from_value(body).unwrap();
    let request = AggregateRequest::from_params(
        &params,
        engine.schema(),
        engine.aggregation_limits(),
        Utc::now(),
    )?;
    Ok(serde_json::to_value(engine.aggregate(&request)?).unwrap())
}

fn path<'a>(value: &'a Value, dotted: &str) -> Option<&'a Value> {
    dotted.split('.').try_fold(value, |v, key| v.get(key))
}

/// Distinct values of a (possibly multi-valued) field of one event.
fn values_of(event: &Value, dotted: &str) -> Vec<Value> {
    let mut values: Vec<Value> = match path(event, dotted) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(other) => vec![other.clone()],
    };
    values.sort_by_key(|v| v.to_string());
    values.dedup();
    values
}

/// Events per value, as JSON keys (strings stay strings, numbers numbers).
fn counts<'a>(events: impl Iterator<Item = &'a Value>, dotted: &str) -> Vec<(Value, u64)> {
    let mut counts: BTreeMap<String, (Value, u64)> = BTreeMap::new();
    for event in events {
        for value in values_of(event, dotted) {
            counts.entry(value.to_string()).or_insert((value, 0)).1 += 1;
        }
    }
    counts.into_values().collect()
}

/// The expected terms result: most frequent first, ties by key ascending, `size` of them.
fn expected_terms(mut counts: Vec<(Value, u64)>, size: usize) -> Value {
    let key_order = |a: &Value, b: &Value| match (a.as_i64(), b.as_i64()) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => a.as_str().unwrap_or("").cmp(b.as_str().unwrap_or("")),
    };
    counts.sort_by(|(ka, ca), (kb, cb)| cb.cmp(ca).then_with(|| key_order(ka, kb)));
    let other: u64 = counts.iter().skip(size).map(|(_, c)| c).sum();
    counts.truncate(size);
    json!({
        "buckets": counts.into_iter().map(|(key, count)| json!({"key": key, "count": count})).collect::<Vec<_>>(),
        "other_count": other,
    })
}

fn timestamp(event: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(event["@timestamp"].as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

fn instant(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

#[test]
fn terms_count_every_value_exactly() {
    let corpus = Corpus::build();
    let audit = || corpus.audit.iter();
    let cases: Vec<(&str, usize, Value)> = vec![
        ("verb", 100, expected_terms(counts(audit(), "verb"), 100)),
        ("verb", 3, expected_terms(counts(audit(), "verb"), 3)),
        (
            "responseStatus.code",
            4,
            expected_terms(counts(audit(), "responseStatus.code"), 4),
        ),
        (
            "user.groups",
            5,
            expected_terms(counts(audit(), "user.groups"), 5),
        ),
        (
            "objectRef.name",
            7,
            expected_terms(counts(audit(), "objectRef.name"), 7),
        ),
        (
            "kubernetes.namespace",
            10,
            expected_terms(counts(corpus.containers(), "kubernetes.namespace"), 10),
        ),
        (
            "stream",
            10,
            expected_terms(counts(corpus.containers(), "stream"), 10),
        ),
        (
            "event.kind",
            10,
            expected_terms(counts(corpus.events.iter(), "event.kind"), 10),
        ),
    ];
    for (field, size, expected) in cases {
        let response =
            corpus.run(json!({"aggs": {"t": {"terms": {"field": field, "size": size}}}}));
        assert_eq!(
            response["aggregations"]["t"], expected,
            "terms of {field}, size {size}"
        );
        assert_eq!(response["total"], corpus.events.len() as u64);
    }
    // Some of the cases above leave values out.
    let some = corpus.run(json!({"aggs": {"t": {"terms": {"field": "verb", "size": 3}}}}));
    assert!(some["aggregations"]["t"]["other_count"].as_u64().unwrap() > 0);
}

#[test]
fn sub_aggregations_count_per_namespace_then_per_verb() {
    let corpus = Corpus::build();
    let response = corpus.run(json!({
        "q": "event.kind:k8s_audit",
        "aggs": {"ns": {
            "terms": {"field": "objectRef.namespace", "size": 4},
            "aggs": {
                "verbs": {"terms": {"field": "verb", "size": 2}},
                "n": {"count": {}},
                "codes": {"max": {"field": "responseStatus.code"}}
            }
        }}
    }));
    let mut expected = expected_terms(counts(corpus.audit.iter(), "objectRef.namespace"), 4);
    for bucket in expected["buckets"].as_array_mut().unwrap() {
        let in_bucket: Vec<&Value> = corpus
            .audit
            .iter()
            .filter(|e| path(e, "objectRef.namespace") == Some(&bucket["key"]))
            .collect();
        let max = in_bucket
            .iter()
            .filter_map(|e| path(e, "responseStatus.code").and_then(Value::as_i64))
            .max();
        bucket["aggs"] = json!({
            "verbs": expected_terms(counts(in_bucket.iter().copied(), "verb"), 2),
            "n": {"value": in_bucket.len()},
            "codes": {"value": max},
        });
    }
    assert_eq!(response["aggregations"]["ns"], expected);
    assert_eq!(response["total"], 114);
}

#[test]
fn date_histograms_match_the_stored_timestamps() {
    let corpus = Corpus::build();
    let per = |events: &mut dyn Iterator<Item = &Value>,
               bucket: &dyn Fn(DateTime<Utc>) -> String| {
        let mut map: BTreeMap<String, u64> = BTreeMap::new();
        for event in events {
            *map.entry(bucket(timestamp(event))).or_default() += 1;
        }
        map
    };
    let day =
        |t: DateTime<Utc>| format!("{:04}-{:02}-{:02}T00:00:00Z", t.year(), t.month(), t.day());
    let buckets = |response: &Value, name: &str| -> Vec<(String, u64)> {
        response["aggregations"][name]["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b["key"].as_str().unwrap().to_owned(),
                    b["count"].as_u64().unwrap(),
                )
            })
            .collect()
    };

    // Per day over everything: a gap-free series from the first to the last day.
    let expected = per(&mut corpus.events.iter(), &day);
    let response = corpus.run(json!({"aggs": {
        "d": {"date_histogram": {"field": "@timestamp", "interval": "1d"}},
        "nonempty": {"date_histogram": {"interval": "1d", "min_count": 1}},
    }}));
    assert_eq!(response["aggregations"]["d"]["interval"], "1d");
    let days = buckets(&response, "d");
    let first = instant(expected.keys().next().unwrap());
    let last = instant(expected.keys().next_back().unwrap());
    assert_eq!(days.len() as i64, (last - first).num_days() + 1);
    for (i, (key, count)) in days.iter().enumerate() {
        assert_eq!(
            instant(key),
            first + chrono::Duration::days(i as i64),
            "contiguous"
        );
        assert_eq!(*count, expected.get(key).copied().unwrap_or(0), "day {key}");
    }
    let nonempty: BTreeMap<String, u64> = buckets(&response, "nonempty").into_iter().collect();
    assert_eq!(nonempty, expected);

    // Per hour of one day: the whole requested day, 24 buckets.
    let (from, to) = ("2018-10-26T00:00:00Z", "2018-10-26T23:59:59.999999999Z");
    let hour = |t: DateTime<Utc>| {
        format!(
            "{:04}-{:02}-{:02}T{:02}:00:00Z",
            t.year(),
            t.month(),
            t.day(),
            t.hour()
        )
    };
    let in_range = |e: &&Value| (instant(from)..=instant(to)).contains(&timestamp(e));
    let expected = per(&mut corpus.events.iter().filter(in_range), &hour);
    let response = corpus.run(json!({"from": from, "to": to,
        "aggs": {"h": {"date_histogram": {"interval": "1h"}}}}));
    let hours = buckets(&response, "h");
    assert_eq!(hours.len(), 24);
    assert_eq!(hours[0].0, from.replace(".999999999", ""));
    for (key, count) in &hours {
        assert_eq!(
            *count,
            expected.get(key).copied().unwrap_or(0),
            "hour {key}"
        );
    }
    assert_eq!(response["total"], expected.values().sum::<u64>());
    // `from` and `to` bound @timestamp, not when the events were read.
    let response = corpus.run(json!({"from": from, "to": to,
        "aggs": {"i": {"date_histogram": {"field": "event.ingested", "interval": "1d"}}}}));
    assert_eq!(
        response["aggregations"]["i"]["buckets"],
        json!([{"key": "2024-05-01T00:00:00Z", "count": expected.values().sum::<u64>()}])
    );

    // auto: at most ~100 buckets over [from, to], or over the data when unbounded.
    let (from, to) = ("2018-10-25T00:00:00Z", "2018-10-26T23:59:59.999999999Z");
    let response = corpus.run(json!({"from": from, "to": to,
        "aggs": {"a": {"date_histogram": {"interval": "auto"}}}}));
    assert_eq!(response["aggregations"]["a"]["interval"], "30m");
    let auto = buckets(&response, "a");
    assert_eq!(auto.len(), 96, "two days of half hours");
    let half_hour = |t: DateTime<Utc>| {
        let t = t.with_minute(t.minute() / 30 * 30).unwrap();
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:00Z",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute()
        )
    };
    let in_range = |e: &&Value| (instant(from)..=instant(to)).contains(&timestamp(e));
    let expected = per(&mut corpus.events.iter().filter(in_range), &half_hour);
    for (key, count) in &auto {
        assert_eq!(*count, expected.get(key).copied().unwrap_or(0), "{key}");
    }
    let response = corpus.run(json!({"aggs": {"a": {"date_histogram": {}}}}));
    let auto = buckets(&response, "a");
    assert!(
        auto.len() <= 100 && auto.len() > 10,
        "{} buckets",
        auto.len()
    );
    assert_eq!(response["aggregations"]["a"]["interval"], "30d");
    assert_eq!(
        auto.iter().map(|(_, c)| c).sum::<u64>(),
        corpus.events.len() as u64
    );
}

#[test]
fn histogram_buckets_are_exact_at_nanosecond_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let mut indexer = Indexer::open(dir.path(), options()).unwrap();
    let stamps = [
        "2024-03-01T23:59:59.999999999Z",
        "2024-03-02T00:00:00.000000000Z",
        "2024-03-02T00:59:59.999999999Z",
        "2024-03-02T01:00:00.000000001Z",
    ];
    for (i, stamp) in stamps.iter().enumerate() {
        let ts = parse_timestamp(stamp).unwrap();
        let event = Event::new(EventKind::Container, format!("{i:016x}"), ts, ts);
        assert_eq!(indexer.add(&event).unwrap(), AddOutcome::Added);
    }
    indexer.commit().unwrap();
    // The premise: in f64, the last nanosecond of a day is its next midnight.
    let last_ns = parse_timestamp(stamps[0])
        .unwrap()
        .timestamp_nanos_opt()
        .unwrap();
    assert_eq!(last_ns as f64, (last_ns + 1) as f64);
    let engine = SearchEngine::new(dir.path());
    let response = run(
        &engine,
        json!({"aggs": {
            "h": {"date_histogram": {"interval": "1h"}},
            "d": {"date_histogram": {"interval": "1d"}},
            "first": {"min": {"field": "@timestamp"}},
        }}),
    )
    .unwrap();
    let series = |name: &str| -> Vec<(String, u64)> {
        response["aggregations"][name]["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b["key"].as_str().unwrap().to_owned(),
                    b["count"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let owned = |pairs: &[(&str, u64)]| -> Vec<(String, u64)> {
        pairs.iter().map(|(k, c)| (k.to_string(), *c)).collect()
    };
    assert_eq!(
        series("h"),
        owned(&[
            ("2024-03-01T23:00:00Z", 1),
            ("2024-03-02T00:00:00Z", 2),
            ("2024-03-02T01:00:00Z", 1),
        ])
    );
    assert_eq!(
        series("d"),
        owned(&[("2024-03-01T00:00:00Z", 1), ("2024-03-02T00:00:00Z", 3)])
    );
    // Metrics are f64: timestamps come back to the microsecond.
    assert_eq!(
        response["aggregations"]["first"]["value"],
        "2024-03-02T00:00:00Z"
    );
}

#[test]
fn cardinality_estimates_are_close_to_the_exact_distinct_counts() {
    let corpus = Corpus::build();
    for (field, events) in [
        ("sourceIPs", corpus.audit.iter().collect::<Vec<_>>()),
        ("user.username", corpus.audit.iter().collect()),
        ("objectRef.name", corpus.audit.iter().collect()),
        ("log.file.path", corpus.events.iter().collect()),
        ("responseStatus.code", corpus.audit.iter().collect()),
    ] {
        let exact = counts(events.into_iter(), field).len() as f64;
        let response = corpus.run(json!({"aggs": {"c": {"cardinality": {"field": field}}}}));
        let estimate = response["aggregations"]["c"]["value"].as_f64().unwrap();
        let error = (estimate - exact).abs() / exact;
        assert!(error <= 0.03, "{field}: estimate {estimate}, exact {exact}");
        println!("cardinality of {field}: exact {exact}, estimate {estimate}");
    }
}

#[test]
fn cardinality_of_thousands_of_values_across_partitions_is_within_a_few_percent() {
    let dir = tempfile::tempdir().unwrap();
    let mut indexer = Indexer::open(dir.path(), options()).unwrap();
    let start = parse_timestamp("2024-03-01T00:00:00Z").unwrap();
    // 6000 events over three days (three partitions), 4000 distinct hosts seen on several days.
    for i in 0..6000i64 {
        let ts = start + chrono::Duration::seconds(i * 43);
        let event = Event::new(EventKind::Container, format!("{i:016x}"), ts, ts)
            .with_host_name(format!("node-{}", i % 4000));
        indexer.add(&event).unwrap();
    }
    indexer.commit().unwrap();
    let engine = SearchEngine::new(dir.path());
    let response = run(
        &engine,
        json!({"aggs": {"hosts": {"cardinality": {"field": "host.name"}},
            "top": {"terms": {"field": "host.name", "size": 2}}}}),
    )
    .unwrap();
    let estimate = response["aggregations"]["hosts"]["value"].as_f64().unwrap();
    assert!(
        (estimate - 4000.0).abs() / 4000.0 < 0.05,
        "estimate {estimate}"
    );
    println!("cardinality of 4000 hosts: estimate {estimate}");
    // Exact terms over the same partitions: hosts 0..2000 appear twice.
    assert_eq!(
        response["aggregations"]["top"],
        json!({"buckets": [{"key": "node-0", "count": 2}, {"key": "node-1", "count": 2}],
            "other_count": 6000 - 4})
    );
}

#[test]
fn metrics_match_the_raw_values() {
    let corpus = Corpus::build();
    let mut codes: Vec<i64> = corpus
        .audit
        .iter()
        .filter_map(|e| path(e, "responseStatus.code").and_then(Value::as_i64))
        .collect();
    codes.sort();
    let (min, max) = (codes[0], codes[codes.len() - 1]);
    let sum: i64 = codes.iter().sum();
    let avg = sum as f64 / codes.len() as f64;
    let response = corpus.run(json!({"aggs": {
        "min": {"min": {"field": "responseStatus.code"}},
        "max": {"max": {"field": "responseStatus.code"}},
        "avg": {"avg": {"field": "responseStatus.code"}},
        "sum": {"sum": {"field": "responseStatus.code"}},
        "stats": {"stats": {"field": "responseStatus.code"}},
        "p": {"percentiles": {"field": "responseStatus.code", "percents": [50, 95, 99]}},
        "n": {"count": {}},
        "first": {"min": {"field": "@timestamp"}},
        "last": {"max": {"field": "@timestamp"}},
    }}));
    let aggs = &response["aggregations"];
    assert_eq!(aggs["min"], json!({"value": min}));
    assert_eq!(aggs["max"], json!({"value": max}));
    assert_eq!(aggs["sum"], json!({"value": sum}));
    assert!((aggs["avg"]["value"].as_f64().unwrap() - avg).abs() < 1e-9);
    assert_eq!(aggs["stats"]["count"], codes.len() as u64);
    assert_eq!(
        (
            &aggs["stats"]["min"],
            &aggs["stats"]["max"],
            &aggs["stats"]["sum"]
        ),
        (&json!(min), &json!(max), &json!(sum))
    );
    assert!((aggs["stats"]["avg"].as_f64().unwrap() - avg).abs() < 1e-9);
    assert_eq!(aggs["n"], json!({"value": corpus.events.len()}));
    // Percentiles are a sketch: within 2% of the exact value at that rank.
    let values = aggs["p"]["values"].as_array().unwrap();
    assert_eq!(values.len(), 3);
    for (entry, percent) in values.iter().zip([50.0, 95.0, 99.0]) {
        assert_eq!(entry["percent"], percent);
        let rank = percent / 100.0 * (codes.len() - 1) as f64;
        let (low, high) = (
            codes[rank.floor() as usize] as f64,
            codes[rank.ceil() as usize] as f64,
        );
        let value = entry["value"].as_f64().unwrap();
        assert!(
            value >= low * 0.98 && value <= high * 1.02,
            "p{percent}: {value} not near [{low}, {high}]"
        );
    }
    let stamps: Vec<DateTime<Utc>> = corpus.events.iter().map(timestamp).collect();
    let within_a_microsecond = |got: &Value, want: DateTime<Utc>| {
        let got = instant(got.as_str().unwrap());
        assert!(
            (got - want).num_nanoseconds().unwrap().abs() <= 1_000,
            "{got} vs {want}"
        );
    };
    within_a_microsecond(&aggs["first"]["value"], *stamps.iter().min().unwrap());
    within_a_microsecond(&aggs["last"]["value"], *stamps.iter().max().unwrap());
}

#[test]
fn the_time_range_restricts_events_and_opens_only_its_partitions() {
    let corpus = Corpus::build();
    let (from, to) = ("2018-10-25T00:00:00Z", "2018-10-26T23:59:59.999999999Z");
    let in_range: Vec<&Value> = corpus
        .events
        .iter()
        .filter(|e| (instant(from)..=instant(to)).contains(&timestamp(e)))
        .collect();
    assert!(!in_range.is_empty() && in_range.len() < corpus.events.len());
    // A broken partition outside the range: the aggregation must not open it.
    let broken = corpus.root().join("k8s_audit/2030-01-01");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("meta.json"), "not an index").unwrap();
    let body = json!({"from": from, "to": to, "q": "*",
        "aggs": {"verbs": {"terms": {"field": "verb"}}}});
    let response = corpus.run(body.clone());
    assert_eq!(response["total"], in_range.len() as u64);
    assert_eq!(
        response["aggregations"]["verbs"],
        expected_terms(counts(in_range.iter().copied(), "verb"), 10)
    );
    let unbounded = run(
        &corpus.engine,
        json!({"aggs": {"verbs": {"terms": {"field": "verb"}}}}),
    );
    assert!(
        unbounded.is_err(),
        "the broken partition is opened without a range"
    );

    // The query applies too.
    let response = corpus.run(json!({"from": from, "to": to, "q": "verb:create",
        "aggs": {"ns": {"terms": {"field": "objectRef.namespace"}}}}));
    let creates: Vec<&Value> = in_range
        .iter()
        .copied()
        .filter(|e| e["verb"] == "create")
        .collect();
    assert_eq!(response["total"], creates.len() as u64);
    assert_eq!(
        response["aggregations"]["ns"],
        expected_terms(counts(creates.into_iter(), "objectRef.namespace"), 10)
    );
}

#[test]
fn fields_that_cannot_be_aggregated_are_refused_by_name() {
    let corpus = Corpus::build();
    for (body, words) in [
        (
            json!({"aggs": {"x": {"terms": {"field": "no.such.field"}}}}),
            vec!["\"no.such.field\"", "verb"],
        ),
        (
            json!({"aggs": {"x": {"terms": {"field": "message"}}}}),
            vec!["\"message\"", "text field", "fast"],
        ),
        (
            json!({"aggs": {"x": {"avg": {"field": "user.username"}}}}),
            vec!["\"user.username\"", "keyword", "responseStatus.code"],
        ),
        (
            json!({"aggs": {"x": {"date_histogram": {"field": "responseStatus.code"}}}}),
            vec!["timestamp fields", "@timestamp"],
        ),
    ] {
        let error = run(&corpus.engine, body).unwrap_err();
        assert!(matches!(error, SearchError::BadAggregation(_)), "{error:?}");
        let text = error.to_string();
        for word in words {
            assert!(text.contains(word), "{word:?} not in {text}");
        }
    }
}

#[test]
fn memory_and_bucket_limits_fail_the_request_cleanly() {
    let corpus = Corpus::build();
    let tiny = SearchEngine::with_aggregation_limits(
        corpus.root(),
        AggregationLimits {
            memory_limit_bytes: 2048,
            ..AggregationLimits::default()
        },
    );
    let error = run(
        &tiny,
        json!({"aggs": {"names": {"terms": {"field": "objectRef.name"},
            "aggs": {"p": {"percentiles": {"field": "responseStatus.code"}}}}}}),
    )
    .unwrap_err();
    assert!(
        matches!(error, SearchError::AggregationLimit(_)),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(
        text.contains("memory limit of 2 KiB") && text.contains("narrow the time range"),
        "{text}"
    );
    // The same request within the default limit.
    run(
        &corpus.engine,
        json!({"aggs": {"names": {"terms": {"field": "objectRef.name"},
            "aggs": {"p": {"percentiles": {"field": "responseStatus.code"}}}}}}),
    )
    .unwrap();

    let few_buckets = SearchEngine::with_aggregation_limits(
        corpus.root(),
        AggregationLimits {
            max_buckets: 100,
            ..AggregationLimits::default()
        },
    );
    let error = run(
        &few_buckets,
        json!({"aggs": {"d": {"date_histogram": {"interval": "1d"}}}}),
    )
    .unwrap_err();
    assert!(
        matches!(error, SearchError::AggregationLimit(_)),
        "{error:?}"
    );
    assert!(error.to_string().contains("limit of 100"), "{error}");
    // Days per verb: each level within the limit, beyond it together (4 verbs × 31 days).
    let error = run(
        &few_buckets,
        json!({"from": "2018-10-01T00:00:00Z", "to": "2018-10-31T23:59:59Z",
            "aggs": {"v": {"terms": {"field": "verb", "size": 50},
            "aggs": {"d": {"date_histogram": {"interval": "1d"}}}}}}),
    )
    .unwrap_err();
    assert!(
        matches!(error, SearchError::AggregationLimit(_)),
        "{error:?}"
    );
    let error = run(
        &few_buckets,
        json!({"aggs": {"v": {"terms": {"field": "verb", "size": 101}}}}),
    )
    .unwrap_err();
    assert!(error.to_string().contains("between 1 and 100"), "{error}");
}

async fn post(app: &axum::Router, body: &str) -> (StatusCode, Value) {
    let response = app
        .clone()
        .oneshot(
            Request::post("/api/v1/aggregate")
                .header("content-type", "application/json")
                .body(Body::from(body.to_owned()))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn settings() -> ApiSettings {
    ApiSettings {
        default_limit: 100,
        max_limit: 1000,
        auth: std::sync::Arc::new(kestrel_query::authenticate::Authenticator::open()),
        metrics: None,
        alerts: None,
        placeholders: kestrel_detect::Placeholders::new(),
        filters: Vec::new(),
        limits: kestrel_query::limits::QueryLimits::default(),
        holds: None,
    }
}

#[tokio::test]
async fn the_api_answers_aggregations_and_their_errors() {
    let corpus = Corpus::build();
    let app = router(Arc::clone(&corpus.engine), settings());
    let body = json!({"q": "event.kind:k8s_audit", "from": "2000-01-01T00:00:00Z", "to": "now",
        "aggs": {"verbs": {"terms": {"field": "verb", "size": 3}},
                 "per_day": {"date_histogram": {"field": "@timestamp", "interval": "1d", "min_count": 1}},
                 "ips": {"cardinality": {"field": "sourceIPs"}}}});
    let (status, response) = post(&app, &body.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{response}");
    assert_eq!(response["total"], 114);
    assert!(response["took_ms"].is_u64());
    assert_eq!(
        response["aggregations"]["verbs"],
        expected_terms(counts(corpus.audit.iter(), "verb"), 3)
    );
    let names: Vec<&String> = response["aggregations"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(names, ["verbs", "per_day", "ips"], "request order");
    let days = response["aggregations"]["per_day"]["buckets"]
        .as_array()
        .unwrap();
    assert_eq!(
        days.iter()
            .map(|b| b["count"].as_u64().unwrap())
            .sum::<u64>(),
        114
    );

    // Any content type (`curl -d` sends a form type).
    let plain = app
        .clone()
        .oneshot(
            Request::post("/api/v1/aggregate")
                .body(Body::from(r#"{"aggs": {"n": {"count": {}}}}"#))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(plain.status(), StatusCode::OK);

    let (status, response) = post(
        &app,
        r#"{"aggs": {"x": {"terms": {"field": "requestObject.spec"}}}}"#,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        response["error"]
            .as_str()
            .unwrap()
            .contains("requestObject.spec"),
        "{response}"
    );
    let (status, response) = post(&app, r#"{"aggs": {"x": {"terms": {"field": "verb"}}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{response}");
    let (status, response) = post(&app, r#"{"aggs": {}, "size": 3}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        response["error"].as_str().unwrap().contains("size"),
        "{response}"
    );
    let (status, response) =
        post(&app, r#"{"q": "verb:(get", "aggs": {"n": {"count": {}}}}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        response["error"].as_str().unwrap().contains("position"),
        "{response}"
    );

    let tiny = SearchEngine::with_aggregation_limits(
        corpus.root(),
        AggregationLimits {
            memory_limit_bytes: 1024,
            ..AggregationLimits::default()
        },
    );
    let app = router(tiny, settings());
    let (status, response) = post(
        &app,
        r#"{"aggs": {"x": {"terms": {"field": "objectRef.name"}}}}"#,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        response["error"]
            .as_str()
            .unwrap()
            .contains("memory limit of 1 KiB"),
        "{response}"
    );
}
