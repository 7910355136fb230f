//! End to end over HTTP: `kestrel query` serving an ingested data directory — search, the
//! context of a log line, NDJSON export.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use serde_json::Value;

fn server(data: &Path) -> QueryServer {
    QueryServer::start(Path::new(env!("CARGO_BIN_EXE_kestrel")), data, &[])
}

/// (time, offset, stream, log) of each valid line of a Docker json-file log, read here.
fn raw_docker_lines(file: &Path) -> Vec<(String, u64, String, String)> {
    let bytes = std::fs::read(file).unwrap();
    let mut offset = 0u64;
    let mut lines = Vec::new();
    for line in bytes.split_inclusive(|b| *b == b'\n') {
        if let Ok(value) = serde_json::from_slice::<Value>(line) {
            let time = chrono::DateTime::parse_from_rfc3339(value["time"].as_str().unwrap())
                .unwrap()
                .with_timezone(&chrono::Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
            let log = value["log"].as_str().unwrap();
            lines.push((
                time,
                offset,
                value["stream"].as_str().unwrap().to_owned(),
                log.strip_suffix('\n').unwrap_or(log).to_owned(),
            ));
        }
        offset += line.len() as u64;
    }
    lines
}

#[test]
fn context_returns_the_neighbouring_lines_of_the_same_stream_in_order() {
    let data = tempfile::tempdir().unwrap();
    let file = corpus_file("beats_docker_json/docker_corrupted.log");
    ingest(data.path(), std::slice::from_ref(&file));
    let server = server(data.path());

    let mut raw = raw_docker_lines(&file);
    raw.sort();
    assert_eq!(raw.len(), 20);
    let all = server.get("/api/v1/search?q=*&limit=100").1;
    let by_offset = |offset: u64| -> String {
        all["hits"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["log"]["offset"] == offset)
            .map(|h| h["event"]["id"].as_str().unwrap().to_owned())
            .expect("event at offset")
    };
    for anchor_index in [0usize, 5, 10, 19] {
        let anchor = &raw[anchor_index];
        let same_stream: Vec<&(String, u64, String, String)> =
            raw.iter().filter(|l| l.2 == anchor.2).collect();
        let position = same_stream.iter().position(|l| l.1 == anchor.1).unwrap();
        let expected_before: Vec<&str> = same_stream[position.saturating_sub(3)..position]
            .iter()
            .map(|l| l.3.as_str())
            .collect();
        let expected_after: Vec<&str> = same_stream
            [position + 1..(position + 4).min(same_stream.len())]
            .iter()
            .map(|l| l.3.as_str())
            .collect();
        let id = by_offset(anchor.1);
        let (status, context) =
            server.get(&format!("/api/v1/events/{id}/context?before=3&after=3"));
        assert_eq!(status, 200, "{context}");
        assert_eq!(context["event"]["message"], anchor.3.as_str());
        let messages = |key: &str| -> Vec<String> {
            context[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h["message"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(
            messages("before"),
            expected_before,
            "before line {anchor_index}"
        );
        assert_eq!(
            messages("after"),
            expected_after,
            "after line {anchor_index}"
        );
    }
    let (status, body) = server.get("/api/v1/events/0123456789abcdef0123456789abcdef/context");
    assert_eq!(status, 404, "{body}");
}

#[test]
fn export_streams_every_match_once_as_ndjson() {
    let data = tempfile::tempdir().unwrap();
    ingest(
        data.path(),
        &[
            corpus_file("combined/k8s_audit_events_all.jsonl"),
            corpus_file("beats_docker_json/docker_corrupted.log"),
        ],
    );
    let server = server(data.path());
    for (query, expected) in [
        ("*", 134u64),
        ("event.kind:k8s_audit", 114),
        ("verb:get", 0),
    ] {
        let expected = if expected == 0 {
            server
                .get(&format!("/api/v1/search?q={}&limit=0", encode(query)))
                .1["total"]
                .as_u64()
                .unwrap()
        } else {
            expected
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let mut response = agent
            .get(&server.url(&format!("/api/v1/export?q={}", encode(query))))
            .call()
            .unwrap();
        assert_eq!(
            response.headers().get("content-type").unwrap(),
            "application/x-ndjson"
        );
        let body = response.body_mut().read_to_string().unwrap();
        let events: Vec<Value> = body
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(events.len() as u64, expected, "{query}");
        let mut ids: Vec<&str> = events
            .iter()
            .map(|e| e["event"]["id"].as_str().unwrap())
            .collect();
        let stamps: Vec<&str> = events
            .iter()
            .map(|e| e["@timestamp"].as_str().unwrap())
            .collect();
        let mut sorted = stamps.clone();
        sorted.sort();
        assert_eq!(stamps, sorted, "oldest first");
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len() as u64, expected, "each event once");
    }
}
