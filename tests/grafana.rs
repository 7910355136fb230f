//! End to end: Grafana's Elasticsearch data source against `kestrel query`. Generated events
//! are ingested, the request bodies Grafana sends (tests/fixtures/grafana, time range rewritten
//! to the data's) are replayed on `/api/v1/elastic/_msearch`, and every answer is compared with
//! Kestrel's own search and aggregation API over the same query; the keys Grafana's response
//! parser reads are checked on the way.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use common::*;
use serde_json::{json, Value};

/// Time bounds of Grafana's own request fixtures, replaced by the test's range.
const FIXTURE_FROM: &str = "1668422437218";
const FIXTURE_TO: &str = "1668422625668";
/// The generated data: 2 hours from this instant.
const START: &str = "2024-01-01T00:00:00Z";
/// The range queried: 10 to 100 minutes into the data, in epoch milliseconds.
const FROM_MS: i64 = 1_704_067_200_000 + 10 * 60_000;
const TO_MS: i64 = 1_704_067_200_000 + 100 * 60_000;
const TOKEN: &str = "grafana-token-0123456789abcdef";
/// `Basic` credentials: base64 of `grafana:` followed by [`TOKEN`].
const BASIC: &str = "Basic Z3JhZmFuYTpncmFmYW5hLXRva2VuLTAxMjM0NTY3ODlhYmNkZWY=";

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kestrel"))
}

/// Generates 20 000 mixed events over two hours into `work/raw` and ingests them into
/// `work/data`.
fn generate_and_ingest(work: &Path) {
    let raw = work.join("raw");
    run_ok(
        Command::new(binary())
            .args([
                "generate", "--kind", "mixed", "--seed", "7", "--events", "20000",
            ])
            .args(["--start", START, "--span", "2h"])
            .arg(&raw)
            .env("RUST_LOG", "warn"),
    );
    let mut files = Vec::new();
    collect(&raw.join("var"), &mut files);
    let summary = ingest(&work.join("data"), &files);
    assert!(summary.contains("20000 events"), "{summary}");
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// A fixture with its time range rewritten to [`FROM_MS`, `TO_MS`].
fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/grafana")
        .join(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .replace(FIXTURE_FROM, &FROM_MS.to_string())
        .replace(FIXTURE_TO, &TO_MS.to_string())
}

fn rfc3339(millis: i64) -> String {
    Utc.timestamp_millis_opt(millis)
        .single()
        .unwrap()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn millis(rfc3339: &str) -> i64 {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap_or_else(|e| panic!("{rfc3339}: {e}"))
        .timestamp_millis()
}

/// POST `body` (NDJSON to the Elasticsearch routes, JSON to the others).
fn post(port: u16, path: &str, body: &str, authorization: Option<&str>) -> (u16, Value) {
    let content_type = if path.starts_with("/api/v1/elastic/") {
        "application/x-ndjson"
    } else {
        "application/json"
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into();
    let mut request = agent
        .post(&format!("http://127.0.0.1:{port}{path}"))
        .header("Content-Type", content_type);
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    let mut response = request.send(body).expect("the server answers");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn get(port: u16, path: &str, authorization: Option<&str>) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent.get(&format!("http://127.0.0.1:{port}{path}"));
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    let mut response = request.call().expect("the server answers");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// `_msearch` as Grafana posts it; the responses, each checked for the keys Grafana reads.
fn msearch(port: u16, body: &str) -> Vec<Value> {
    let (status, answer) = post(
        port,
        "/api/v1/elastic/_msearch?max_concurrent_shard_requests=5",
        body,
        None,
    );
    assert_eq!(status, 200, "{answer}");
    let responses = answer["responses"].as_array().expect("responses").clone();
    for response in &responses {
        if response.get("error").is_some() {
            assert!(response["error"]["reason"].is_string(), "{response}");
            assert!(
                response["error"]["root_cause"][0]["type"].is_string(),
                "{response}"
            );
            assert!(response["status"].as_u64().unwrap() >= 400, "{response}");
            continue;
        }
        assert_eq!(response["status"], 200, "{response}");
        assert_eq!(response["timed_out"], false);
        assert!(response["took"].is_u64());
        assert!(response["hits"]["total"]["value"].is_u64(), "{response}");
        assert_eq!(response["hits"]["total"]["relation"], "eq");
        assert!(response["hits"]["hits"].is_array());
    }
    responses
}

fn kestrel_search(port: u16, query: &str, limit: usize, search_after: Option<&str>) -> Value {
    let mut body =
        json!({"q": query, "from": rfc3339(FROM_MS), "to": rfc3339(TO_MS), "limit": limit});
    if let Some(cursor) = search_after {
        body["search_after"] = json!(cursor);
    }
    let (status, answer) = post(port, "/api/v1/search", &body.to_string(), None);
    assert_eq!(status, 200, "{answer}");
    answer
}

fn kestrel_aggregate(port: u16, query: &str, aggs: Value) -> Value {
    let body = json!({"q": query, "from": rfc3339(FROM_MS), "to": rfc3339(TO_MS), "aggs": aggs});
    let (status, answer) = post(port, "/api/v1/aggregate", &body.to_string(), None);
    assert_eq!(status, 200, "{answer}");
    answer
}

/// `(key in epoch ms, doc_count)` of Elasticsearch date histogram buckets, checking
/// `key_as_string`.
fn es_histogram(result: &Value) -> Vec<(i64, u64)> {
    result["buckets"]
        .as_array()
        .expect("buckets")
        .iter()
        .map(|b| {
            let key = b["key"].as_i64().expect("numeric key");
            assert_eq!(b["key_as_string"], key.to_string());
            (key, b["doc_count"].as_u64().expect("doc_count"))
        })
        .collect()
}

/// `(key in epoch ms, count)` of Kestrel date histogram buckets.
fn kestrel_histogram(result: &Value) -> Vec<(i64, u64)> {
    result["buckets"]
        .as_array()
        .expect("buckets")
        .iter()
        .map(|b| {
            (
                millis(b["key"].as_str().unwrap()),
                b["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn hit_ids_es(response: &Value) -> Vec<String> {
    response["hits"]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["_id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn grafana_requests_answer_as_kestrels_own_api() {
    let work = tempfile::tempdir().unwrap();
    generate_and_ingest(work.path());
    let server = QueryServer::start(binary(), &work.path().join("data"), &[]);
    let port = server.port;

    cluster_endpoints(port);
    logs_query(port);
    raw_data_query(port);
    date_histogram_count(port);
    terms_then_date_histogram(port);
    terms_then_date_histogram_with_metrics(port);
    logs_volume(port);
    terms_ordered_by_a_metric(port);
    unsupported_parts_are_per_response_errors(port);
    drop(server);
    basic_and_bearer_authentication(work.path());
}

fn cluster_endpoints(port: u16) {
    let (status, info) = get(port, "/api/v1/elastic", None);
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["version"]["build_flavor"], "default");
    let number = info["version"]["number"].as_str().unwrap();
    let major: u32 = number.split('.').next().unwrap().parse().unwrap();
    assert!(major >= 8, "Grafana requires 7.16 or later: {number}");
    let (status, health) = get(
        port,
        "/api/v1/elastic/_cluster/health?wait_for_status=yellow",
        None,
    );
    assert_eq!((status, health["status"].as_str()), (200, Some("green")));
    let (status, mapping) = get(port, "/api/v1/elastic/kestrel/_mapping", None);
    assert_eq!(status, 200);
    let properties = &mapping["kestrel"]["mappings"]["properties"];
    assert_eq!(properties["@timestamp"]["type"], "date");
    assert_eq!(
        properties["kubernetes"]["properties"]["namespace"]["type"],
        "keyword"
    );
    assert_eq!(
        properties["responseStatus"]["properties"]["code"]["type"],
        "long"
    );
    assert_eq!(properties["message"]["type"], "text");
}

fn logs_query(port: u16) {
    let responses = msearch(port, &fixture("logs.ndjson"));
    assert_eq!(responses.len(), 1);
    let es = &responses[0];
    let kestrel = kestrel_search(
        port,
        "kubernetes.namespace:kube-system OR stream:stderr",
        500,
        None,
    );
    let total = kestrel["total"].as_u64().unwrap();
    assert!(
        total > 500,
        "the query should match more than a page: {total}"
    );
    assert_eq!(es["hits"]["total"]["value"], total);
    assert_eq!(hit_ids_es(es), hit_ids(&kestrel), "same hits, same order");
    for hit in es["hits"]["hits"].as_array().unwrap() {
        let timestamp = hit["_source"]["@timestamp"].as_str().unwrap();
        assert_eq!(hit["_index"], "kestrel");
        assert_eq!(hit["_id"], hit["_source"]["event"]["id"]);
        assert_eq!(hit["sort"][0], millis(timestamp), "{hit}");
        assert_eq!(hit["fields"]["@timestamp"][0], timestamp);
        let ms = millis(timestamp);
        assert!((FROM_MS..=TO_MS + 1).contains(&ms), "{timestamp}");
    }
    // Next page: search_after with the last hit's sort values, as Grafana's infinite scroll.
    let last = es["hits"]["hits"].as_array().unwrap().last().unwrap()["sort"].clone();
    let mut body = fixture("logs.ndjson");
    body = body.replacen(
        "\"size\":500",
        &format!("\"size\":500,\"search_after\":{last}"),
        1,
    );
    let page = &msearch(port, &body)[0];
    let next = kestrel_search(
        port,
        "kubernetes.namespace:kube-system OR stream:stderr",
        500,
        kestrel["next"].as_str(),
    );
    assert!(!hit_ids(&next).is_empty());
    assert_eq!(hit_ids_es(page), hit_ids(&next));
}

fn raw_data_query(port: u16) {
    let es = &msearch(port, &fixture("raw_data.ndjson"))[0];
    // Elasticsearch's query_string ORs juxtaposed clauses by default.
    let kestrel = kestrel_search(port, "verb:get OR responseStatus.code:>=400", 500, None);
    let both = kestrel_search(port, "verb:get AND responseStatus.code:>=400", 0, None);
    assert!(
        kestrel["total"].as_u64() > both["total"].as_u64(),
        "{}",
        kestrel["total"]
    );
    assert_eq!(es["hits"]["total"]["value"], kestrel["total"]);
    assert_eq!(hit_ids_es(es), hit_ids(&kestrel));
}

fn date_histogram_count(port: u16) {
    let es = &msearch(port, &fixture("date_histogram_count.ndjson"))[0];
    let query = "verb:(get OR list) AND NOT objectRef.resource:pods";
    let kestrel = kestrel_aggregate(
        port,
        query,
        json!({"h": {"date_histogram": {"field": "@timestamp", "interval": "1m", "min_count": 0}}}),
    );
    let buckets = es_histogram(&es["aggregations"]["2"]);
    assert_eq!(buckets, kestrel_histogram(&kestrel["aggregations"]["h"]));
    assert_eq!(
        buckets.len(),
        91,
        "one bucket per minute of the 90-minute range, both ends"
    );
    assert_eq!(buckets[0].0, FROM_MS);
    let sum: u64 = buckets.iter().map(|b| b.1).sum();
    assert_eq!(es["hits"]["total"]["value"], sum);
    assert_eq!(es["hits"]["total"]["value"], kestrel["total"]);
    assert!(sum > 0);
}

fn terms_then_date_histogram(port: u16) {
    let es = &msearch(port, &fixture("terms_date_histogram.ndjson"))[0];
    let kestrel = kestrel_aggregate(
        port,
        "*",
        json!({"ns": {"terms": {"field": "kubernetes.namespace", "size": 1000},
                      "aggs": {"h": {"date_histogram": {"interval": "5m", "min_count": 0}}}}}),
    );
    let mut expected: Vec<&Value> = kestrel["aggregations"]["ns"]["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    assert!(expected.len() > 1, "several namespaces in the data");
    expected.sort_by(|a, b| b["key"].as_str().cmp(&a["key"].as_str()));
    let all: u64 = expected.iter().map(|b| b["count"].as_u64().unwrap()).sum();
    expected.truncate(10);
    let result = &es["aggregations"]["3"];
    let buckets = result["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), expected.len());
    for (es_bucket, kestrel_bucket) in buckets.iter().zip(&expected) {
        assert_eq!(es_bucket["key"], kestrel_bucket["key"]);
        assert_eq!(es_bucket["doc_count"], kestrel_bucket["count"]);
        assert_eq!(
            es_histogram(&es_bucket["2"]),
            kestrel_histogram(&kestrel_bucket["aggs"]["h"]),
            "{}",
            es_bucket["key"]
        );
    }
    let kept: u64 = expected.iter().map(|b| b["count"].as_u64().unwrap()).sum();
    assert_eq!(result["sum_other_doc_count"], all - kept);
    assert_eq!(es["hits"]["total"]["value"], kestrel["total"]);
}

fn terms_then_date_histogram_with_metrics(port: u16) {
    let es = &msearch(port, &fixture("terms_date_histogram_metrics.ndjson"))[0];
    // The counts, as Kestrel nests them in one pass.
    let nested = kestrel_aggregate(
        port,
        "*",
        json!({"verbs": {"terms": {"field": "verb", "size": 5},
                         "aggs": {"h": {"date_histogram": {"interval": "10m", "min_count": 0}}}}}),
    );
    let expected = nested["aggregations"]["verbs"]["buckets"]
        .as_array()
        .unwrap();
    let buckets = es["aggregations"]["4"]["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 5);
    assert_eq!(
        es["aggregations"]["4"]["sum_other_doc_count"],
        nested["aggregations"]["verbs"]["other_count"]
    );
    for (es_bucket, kestrel_bucket) in buckets.iter().zip(expected) {
        let verb = kestrel_bucket["key"].as_str().unwrap();
        assert_eq!(es_bucket["key"], verb);
        assert_eq!(es_bucket["doc_count"], kestrel_bucket["count"]);
        let histogram = es_histogram(&es_bucket["2"]);
        assert_eq!(
            histogram,
            kestrel_histogram(&kestrel_bucket["aggs"]["h"]),
            "{verb}"
        );
        // The metrics per interval, from Kestrel over that verb's events.
        let own = kestrel_aggregate(
            port,
            &format!("verb:\"{verb}\""),
            json!({"h": {"date_histogram": {"interval": "10m", "min_count": 0},
                         "aggs": {"max": {"max": {"field": "responseStatus.code"}},
                                  "min": {"min": {"field": "responseStatus.code"}}}}}),
        );
        let own = own["aggregations"]["h"]["buckets"].as_array().unwrap();
        let es_buckets = es_bucket["2"]["buckets"].as_array().unwrap();
        assert_eq!(es_buckets.len(), own.len());
        for (e, k) in es_buckets.iter().zip(own) {
            assert_eq!(e["1"]["value"], k["aggs"]["max"]["value"], "{verb} {e}");
            assert_eq!(e["3"]["value"], k["aggs"]["min"]["value"], "{verb} {e}");
        }
        assert!(
            es_buckets.iter().any(|b| b["1"]["value"].is_number()),
            "{verb}"
        );
    }
}

/// A logs volume bucket: the level, its events, its `(interval start in ms, events)`.
type LevelBucket = (Value, u64, Vec<(i64, u64)>);

/// Grafana's logs volume: events per level and interval, events without a level under
/// `unknown`, most frequent level first.
fn logs_volume(port: u16) {
    let es = &msearch(port, &fixture("logs_volume.ndjson"))[0];
    let histogram = json!({"h": {"date_histogram": {"interval": "10m", "min_count": 0}}});
    let nested = kestrel_aggregate(
        port,
        "*",
        json!({"levels": {"terms": {"field": "level", "size": 1000}, "aggs": histogram}}),
    );
    let mut expected: Vec<LevelBucket> = nested["aggregations"]["levels"]["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["key"].clone(),
                b["count"].as_u64().unwrap(),
                kestrel_histogram(&b["aggs"]["h"]),
            )
        })
        .collect();
    let unknown = kestrel_aggregate(port, "NOT level:*", histogram);
    let unknown_count = unknown["total"].as_u64().unwrap();
    assert!(unknown_count > 0, "container logs have no level");
    expected.push((
        json!("unknown"),
        unknown_count,
        kestrel_histogram(&unknown["aggregations"]["h"]),
    ));
    expected.sort_by(|a, b| {
        b.1.cmp(&a.1)
            .then_with(|| a.0.as_str().unwrap().cmp(b.0.as_str().unwrap()))
    });
    let buckets = es["aggregations"]["3"]["buckets"].as_array().unwrap();
    let actual: Vec<LevelBucket> = buckets
        .iter()
        .map(|b| {
            (
                b["key"].clone(),
                b["doc_count"].as_u64().unwrap(),
                es_histogram(&b["2"]),
            )
        })
        .collect();
    assert_eq!(actual, expected);
    assert_eq!(es["aggregations"]["3"]["sum_other_doc_count"], 0);
    let sum: u64 = actual.iter().map(|b| b.1).sum();
    assert_eq!(es["hits"]["total"]["value"], sum);
}

/// Terms ordered by a metric sub-aggregation (Grafana's "Order by: Average"), ascending counts
/// too: every value read, then sorted and cut.
fn terms_ordered_by_a_metric(port: u16) {
    let header = r#"{"index":"kestrel","ignore_unavailable":true}"#;
    let range = format!(
        r#"{{"bool":{{"filter":{{"range":{{"@timestamp":{{"format":"epoch_millis","gte":{FROM_MS},"lte":{TO_MS}}}}}}}}}}}"#
    );
    let by_avg = format!(
        r#"{{"size":0,"query":{range},"aggs":{{"2":{{"terms":{{"field":"verb","size":3,"order":{{"1":"desc"}},"min_doc_count":1}},"aggs":{{"1":{{"avg":{{"field":"responseStatus.code"}}}}}}}}}}}}"#
    );
    let by_count = format!(
        r#"{{"size":0,"query":{range},"aggs":{{"2":{{"terms":{{"field":"verb","size":3,"order":{{"_count":"asc"}}}}}}}}}}"#
    );
    let responses = msearch(port, &format!("{header}\n{by_avg}\n{header}\n{by_count}\n"));
    let all = kestrel_aggregate(
        port,
        "*",
        json!({"verbs": {"terms": {"field": "verb", "size": 1000},
                         "aggs": {"avg": {"avg": {"field": "responseStatus.code"}}}}}),
    );
    let verbs = all["aggregations"]["verbs"]["buckets"].as_array().unwrap();
    assert!(verbs.len() > 3, "more verbs than buckets asked");
    let key = |b: &Value| b["key"].as_str().unwrap().to_owned();

    let mut by_avg: Vec<&Value> = verbs.iter().collect();
    by_avg.sort_by(|a, b| {
        let (x, y) = (
            a["aggs"]["avg"]["value"].as_f64(),
            b["aggs"]["avg"]["value"].as_f64(),
        );
        y.partial_cmp(&x).unwrap().then_with(|| key(a).cmp(&key(b)))
    });
    let buckets = responses[0]["aggregations"]["2"]["buckets"]
        .as_array()
        .unwrap();
    let actual: Vec<(String, Value, Value)> = buckets
        .iter()
        .map(|b| (key(b), b["doc_count"].clone(), b["1"]["value"].clone()))
        .collect();
    let expected: Vec<(String, Value, Value)> = by_avg[..3]
        .iter()
        .map(|b| {
            (
                key(b),
                b["count"].clone(),
                b["aggs"]["avg"]["value"].clone(),
            )
        })
        .collect();
    assert_eq!(actual, expected);

    let mut by_count: Vec<&Value> = verbs.iter().collect();
    by_count.sort_by(|a, b| {
        a["count"]
            .as_u64()
            .cmp(&b["count"].as_u64())
            .then_with(|| key(a).cmp(&key(b)))
    });
    let buckets = responses[1]["aggregations"]["2"]["buckets"]
        .as_array()
        .unwrap();
    let actual: Vec<(String, Value)> = buckets
        .iter()
        .map(|b| (key(b), b["doc_count"].clone()))
        .collect();
    let expected: Vec<(String, Value)> = by_count[..3]
        .iter()
        .map(|b| (key(b), b["count"].clone()))
        .collect();
    assert_eq!(actual, expected);
}

fn unsupported_parts_are_per_response_errors(port: u16) {
    let header = r#"{"index":"kestrel","ignore_unavailable":true}"#;
    let good = fixture("date_histogram_count.ndjson");
    let extended = r#"{"size":0,"aggs":{"1":{"extended_stats":{"field":"responseStatus.code"}}}}"#;
    let fuzzy = r#"{"size":10,"query":{"query_string":{"query":"verb:gte~2"}}}"#;
    let body = format!("{good}{header}\n{extended}\n{header}\n{fuzzy}\n");
    let responses = msearch(port, &body);
    assert_eq!(responses.len(), 3);
    assert_eq!(responses[0]["status"], 200);
    assert_eq!(responses[1]["status"], 400);
    assert_eq!(responses[1]["error"]["type"], "illegal_argument_exception");
    let reason = responses[1]["error"]["reason"].as_str().unwrap();
    assert!(reason.contains("extended_stats"), "{reason}");
    assert_eq!(responses[2]["error"]["type"], "query_shard_exception");
    let reason = responses[2]["error"]["reason"].as_str().unwrap();
    assert!(reason.contains("fuzzy"), "{reason}");

    let (status, answer) = post(
        port,
        "/api/v1/elastic/_msearch",
        "{\"index\":\"x\"}\n{not json\n",
        None,
    );
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"]["reason"]
            .as_str()
            .unwrap()
            .contains("line 2"),
        "{answer}"
    );
}

fn basic_and_bearer_authentication(work: &Path) {
    let config = write_kestrel_config(work, &format!("[query.auth]\ntokens = [\"{TOKEN}\"]\n"));
    let port = free_port();
    let mut child = Command::new(binary())
        .arg("--config")
        .arg(&config)
        .arg("query")
        .env("KESTREL_QUERY__LISTEN", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .env_remove("KESTREL_CONFIG")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("kestrel query starts");
    let up = wait_for(Duration::from_secs(30), || {
        http_get(&format!("http://127.0.0.1:{port}/healthz"), None).ok()
    });
    assert!(up.is_some(), "kestrel query answers");
    assert_eq!(get(port, "/api/v1/elastic", None).0, 401);
    assert_eq!(get(port, "/api/v1/elastic", Some(BASIC)).0, 200);
    let wrong = "Basic Z3JhZmFuYTp3cm9uZw=="; // grafana:wrong
    assert_eq!(get(port, "/api/v1/elastic", Some(wrong)).0, 401);
    assert_eq!(
        get(
            port,
            "/api/v1/elastic/_mapping",
            Some(&format!("Bearer {TOKEN}"))
        )
        .0,
        200
    );
    let (status, answer) = post(
        port,
        "/api/v1/elastic/_msearch",
        &fixture("date_histogram_count.ndjson"),
        Some(BASIC),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["responses"][0]["status"], 200);
    // The rest of the API takes the same credentials.
    assert_eq!(get(port, "/api/v1/search?q=*&limit=1", Some(BASIC)).0, 200);
    let _ = child.kill();
    let _ = child.wait();
}
