//! Large-volume end-to-end tests on generated data: deep pagination over 100k events, and the
//! export of 1M events in bounded memory.
//!
//! The 1M-event test is `#[ignore]`d in the default debug run; `tests/run.sh` runs it against the
//! release binary (`RELEASE_BINARY=target/release/kestrel cargo test --test large -- --ignored`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::Value;

/// The binary under test: `RELEASE_BINARY` when set (the release build), else this build's.
fn binary() -> PathBuf {
    std::env::var_os("RELEASE_BINARY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_kestrel")))
}

fn kestrel_bin(data: &Path) -> Command {
    let mut command = Command::new(binary());
    command.arg("--data-dir").arg(data).env("RUST_LOG", "warn");
    command
}

/// Generates `events` mixed events and ingests them; returns the raw directory.
fn generate_and_ingest(work: &Path, events: u64) -> PathBuf {
    let raw = work.join("raw");
    run_ok(
        kestrel_bin(work)
            .args(["generate", "--kind", "mixed", "--seed", "11", "--events"])
            .arg(events.to_string())
            .arg(&raw),
    );
    let mut files = Vec::new();
    collect(&raw.join("var"), &mut files);
    let output = run_ok(kestrel_bin(&work.join("data")).arg("ingest").args(&files));
    let summary = String::from_utf8_lossy(&output.stdout);
    assert!(
        summary.contains(&format!("{events} events ({events} new")),
        "{summary}"
    );
    raw
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

type Server = QueryServer;

fn start_server(data: &Path) -> Server {
    QueryServer::start(&binary(), data, &[("KESTREL_QUERY__MAX_LIMIT", "10000")])
}

/// What the large tests need of the server beyond [`QueryServer`].
trait LargeServer {
    fn anon_rss(pid: u32) -> u64;
    fn peak_anon_during<T>(&self, work: impl FnOnce() -> T) -> (T, u64);
    fn export(&self, query: &str) -> (u64, u64);
}

impl LargeServer for QueryServer {
    /// Anonymous (heap) resident memory of the server now, bytes. Index files are
    /// memory-mapped: their pages count in RSS but are cache the kernel can drop, so they are
    /// not what "bounded memory" is about.
    fn anon_rss(pid: u32) -> u64 {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|status| {
                status
                    .lines()
                    .find(|l| l.starts_with("RssAnon:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|kb| kb.parse::<u64>().ok())
            })
            .unwrap_or(0)
            * 1024
    }

    /// Runs `work` while sampling the server's anonymous memory; returns its result and the
    /// highest sample.
    fn peak_anon_during<T>(&self, work: impl FnOnce() -> T) -> (T, u64) {
        let pid = self.child.id();
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sampler = {
            let done = std::sync::Arc::clone(&done);
            std::thread::spawn(move || {
                let mut peak = 0;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    peak = peak.max(<QueryServer as LargeServer>::anon_rss(pid));
                    std::thread::sleep(Duration::from_millis(20));
                }
                peak
            })
        };
        let value = work();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        (value, sampler.join().unwrap())
    }

    /// Streams an export, counting lines and distinct ids without keeping the events.
    fn export(&self, query: &str) -> (u64, u64) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(1800)))
            .build()
            .into();
        let response = agent
            .get(&self.url(&format!("/api/v1/export?q={}", encode(query))))
            .call()
            .unwrap();
        let reader = std::io::BufReader::new(response.into_body().into_reader());
        let mut ids = std::collections::HashSet::new();
        let mut lines = 0u64;
        for line in std::io::BufRead::lines(reader) {
            let event: Value = serde_json::from_str(&line.unwrap()).unwrap();
            ids.insert(event["event"]["id"].as_str().unwrap().to_owned());
            lines += 1;
        }
        (lines, ids.len() as u64)
    }
}

#[test]
fn deep_pagination_over_100k_events_returns_each_event_exactly_once() {
    let work = tempfile::tempdir().unwrap();
    let total = 100_000u64;
    generate_and_ingest(work.path(), total);
    let server = start_server(&work.path().join("data"));
    let mut seen = std::collections::HashSet::new();
    let mut previous: Option<(String, String)> = None;
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut url = "/api/v1/search?q=*&limit=5000&fields=event.id,@timestamp".to_owned();
        if let Some(c) = &cursor {
            url.push_str(&format!("&search_after={}", encode(c)));
        }
        let (status, page) = http_get(&server.url(&url), None).unwrap();
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["total"], total);
        pages += 1;
        for hit in page["hits"].as_array().unwrap() {
            let key = (
                hit["@timestamp"].as_str().unwrap().to_owned(),
                hit["event"]["id"].as_str().unwrap().to_owned(),
            );
            if let Some(prev) = &previous {
                assert!(key < *prev, "strictly newest first: {key:?} after {prev:?}");
            }
            assert!(seen.insert(key.1.clone()), "event {} twice", key.1);
            previous = Some(key);
        }
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len() as u64, total);
    assert_eq!(pages, 20);
}

#[test]
#[ignore = "1M events: run by tests/run.sh with the release binary"]
fn export_of_a_million_events_runs_in_bounded_memory() {
    let work = tempfile::tempdir().unwrap();
    let total = 1_000_000u64;
    generate_and_ingest(work.path(), total);
    let server = start_server(&work.path().join("data"));
    // A small export first: the memory the server needs whatever the size.
    let ((small, small_ids), small_peak) = server.peak_anon_during(|| server.export("verb:create"));
    assert!(small > 0 && small == small_ids);
    let started = std::time::Instant::now();
    let ((lines, ids), all_peak) = server.peak_anon_during(|| server.export("*"));
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(lines, total, "every event exported");
    assert_eq!(ids, total, "each event once");
    eprintln!(
        "export: peak heap {} MiB for {small} events, {} MiB for {total} events ({:.0} events/s)",
        small_peak >> 20,
        all_peak >> 20,
        total as f64 / seconds
    );
    assert!(
        all_peak < small_peak + (64 << 20),
        "exporting {total} events needed {} MiB of heap, {small} events {} MiB",
        all_peak >> 20,
        small_peak >> 20
    );
}
