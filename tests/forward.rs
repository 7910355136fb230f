//! The Forward protocol input against the real Docker daemon (`tests/run.sh` starts one and
//! exports `DOCKER_HOST`): busybox containers log through Docker's `fluentd` logging driver to
//! `kestrel run`; every line is indexed exactly once, with the container's id, name, image and
//! stream, also when `kestrel run` is SIGKILLed and restarted while the containers write.
//!
//! These tests fail, never skip, when Docker is not there.

mod common;
#[path = "common/docker.rs"]
mod docker_helpers;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::KestrelServer as Kestrel;
use common::*;
use docker_helpers::{docker_host, Containers, IMAGE};
use serde_json::Value;

/// `kestrel run` with the forward input on `forward_port`, the API on `api_port`, Docker
/// enrichment on, no files tailed, commits every 100 ms.
fn write_config(dir: &Path, api_port: u16, forward_port: u16) -> PathBuf {
    write_kestrel_config(
        dir,
        &format!(
            r#"
[collector]
sources = []

[collector.forward]
listen = "127.0.0.1:{forward_port}"

[collector.docker]
enabled = true
host = "{}"

[indexer]
commit_interval = "100ms"

[query]
listen = "127.0.0.1:{api_port}"
"#,
            docker_host()
        ),
    )
}

/// The log options under which Docker's `fluentd` driver delivers every line of a running
/// container: lines queued in the daemon and sent one at a time by one sender
/// (`fluentd-async=true`), each acknowledged once stored (`fluentd-request-ack=true`), and
/// resent (same chunk id) after a lost connection while Kestrel is away (`fluentd-retry-wait`,
/// `fluentd-max-retries`).
fn driver_options(port: u16, tag: &str) -> Vec<String> {
    vec![
        "--log-driver=fluentd".to_owned(),
        format!("--log-opt=fluentd-address=tcp://127.0.0.1:{port}"),
        "--log-opt=fluentd-async=true".to_owned(),
        "--log-opt=fluentd-buffer-limit=100000".to_owned(),
        "--log-opt=fluentd-request-ack=true".to_owned(),
        "--log-opt=fluentd-retry-wait=200ms".to_owned(),
        "--log-opt=fluentd-max-retries=1000".to_owned(),
        "--log-opt=fluentd-sub-second-precision=true".to_owned(),
        format!("--log-opt=tag={tag}"),
    ]
}

/// A script writing `count` numbered lines `<prefix>-out-<i>` to stdout and
/// `<prefix>-err-<i>` to stderr, interleaved, then staying up as a service does: in async mode
/// Docker's driver drops the lines still queued when a container stops (it sets
/// `ForceStopAsyncSend`), so a container that exits at once would lose lines whatever the
/// receiver does (the tests remove the containers when done).
fn writer_script(prefix: &str, count: usize) -> String {
    format!(
        "for i in $(seq 1 {count}); do echo {prefix}-out-$i; echo {prefix}-err-$i >&2; done; sleep 600"
    )
}

/// Every event of `container.name:<name>`, once `expected` are there (or the wait is over).
fn events_of(kestrel: &Kestrel, name: &str, expected: usize, wait: Duration) -> Vec<Value> {
    let query = format!("container.name:\"{name}\"");
    let deadline = Instant::now() + wait;
    loop {
        let events = kestrel.export(&query);
        if events.len() >= expected || Instant::now() > deadline {
            return events;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Asserts each line of `prefix` (`count` per stream) is there once, with its stream and the
/// container's fields, and nothing else is.
fn assert_every_line_once(events: &[Value], prefix: &str, count: usize, id: &str, name: &str) {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for event in events {
        let message = event["message"].as_str().expect("message").to_owned();
        let stream = if message.contains("-out-") {
            "stdout"
        } else {
            "stderr"
        };
        assert_eq!(event["stream"], stream, "{event}");
        assert_eq!(event["container"]["id"], id, "{event}");
        assert_eq!(event["container"]["name"], name, "{event}");
        assert_eq!(
            event["container"]["image"], IMAGE,
            "enriched by the Docker API: {event}"
        );
        assert_eq!(event["event"]["kind"], "container");
        assert_eq!(event["fluent"]["tag"], format!("kestrel.{name}"));
        *seen.entry(message).or_default() += 1;
    }
    let mut missing = Vec::new();
    for i in 1..=count {
        for stream in ["out", "err"] {
            let line = format!("{prefix}-{stream}-{i}");
            match seen.remove(&line) {
                Some(1) => {}
                Some(n) => panic!("{line} indexed {n} times"),
                None => missing.push(line),
            }
        }
    }
    assert!(
        missing.is_empty(),
        "{} lines missing: {missing:?}",
        missing.len()
    );
    assert!(seen.is_empty(), "unexpected lines: {seen:?}");
}

#[test]
fn docker_fluentd_driver_lines_are_indexed_once_with_their_container() {
    let dir = tempfile::tempdir().unwrap();
    let (api_port, forward_port) = (free_port(), free_port());
    let kestrel = Kestrel::start(&write_config(dir.path(), api_port, forward_port), api_port);
    let mut containers = Containers::new();
    let count = 40;
    let mut started = Vec::new();
    for name in ["fwd-a", "fwd-b"] {
        let prefix = format!("{name}-{}", containers.run);
        let tag = format!("kestrel.{prefix}");
        let options = driver_options(forward_port, &tag);
        let options: Vec<&str> = options.iter().map(String::as_str).collect();
        let (id, full_name) = containers.run(name, &options, &writer_script(&prefix, count));
        assert_eq!(full_name, prefix);
        started.push((id, full_name));
    }
    for (id, name) in &started {
        let events = events_of(&kestrel, name, 2 * count, Duration::from_secs(120));
        assert_every_line_once(&events, name, count, id, name);
    }
    let metrics = kestrel.metrics();
    let acks = metric_value(&metrics, "kestrel_collector_forward_acks_total");
    assert!(acks >= (4 * count) as f64, "acks {acks}\n{metrics}");
    assert_eq!(
        metric_value(&metrics, "kestrel_collector_forward_rejected_total"),
        0.0
    );
}

#[test]
fn lines_survive_sigkills_of_kestrel_while_containers_write() {
    let dir = tempfile::tempdir().unwrap();
    let (api_port, forward_port) = (free_port(), free_port());
    let config = write_config(dir.path(), api_port, forward_port);
    let mut kestrel = Kestrel::start(&config, api_port);
    let mut containers = Containers::new();
    let count = 100;
    let prefix = format!("fwd-kill-{}", containers.run);
    let options = driver_options(forward_port, &format!("kestrel.{prefix}"));
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    let (id, name) = containers.run("fwd-kill", &options, &writer_script(&prefix, count));
    for round in 0..3 {
        std::thread::sleep(Duration::from_millis(1500 + 500 * round));
        kestrel.kill();
        std::thread::sleep(Duration::from_millis(700));
        kestrel = Kestrel::start(&config, api_port);
    }
    let events = events_of(&kestrel, &name, 2 * count, Duration::from_secs(120));
    assert_every_line_once(&events, &prefix, count, &id, &name);
}

/// The value of a label-less series in a Prometheus text exposition.
fn metric_value(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| {
            let rest = line.strip_prefix(name)?;
            rest.strip_prefix(' ')?.trim().parse().ok()
        })
        .unwrap_or_else(|| panic!("{name} not in the metrics:\n{metrics}"))
}
