//! The Forward protocol input against the real Docker daemon (`tests/run.sh` starts one and
//! exports `DOCKER_HOST`): busybox containers log through Docker's `fluentd` logging driver to
//! `kestrel run`; every line is indexed exactly once, with the container's id, name, image and
//! stream, also when `kestrel run` is SIGKILLed and restarted while the containers write.
//!
//! The mutual-TLS test sends forward messages with `openssl s_client`, as a TLS sender would.
//!
//! These tests fail, never skip, when Docker is not there.

mod common;
#[path = "common/docker.rs"]
mod docker_helpers;
#[path = "common/tls.rs"]
mod tls;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::KestrelServer as Kestrel;
use common::*;
use docker_helpers::{docker_host, Containers, IMAGE};
use rmpv::Value as Msgpack;
use serde_json::Value;
use tls::{issue_certificates, TestCertificates};

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

/// A Forward-mode message of `lines` under `tag`, with `chunk` as its chunk id.
fn forward_message(tag: &str, lines: &[&str], chunk: &str) -> Vec<u8> {
    let now = chrono::Utc::now().timestamp();
    let entries = lines
        .iter()
        .map(|line| {
            Msgpack::Array(vec![
                Msgpack::from(now),
                Msgpack::Map(vec![("log".into(), (*line).into())]),
            ])
        })
        .collect();
    let message = Msgpack::Array(vec![
        tag.into(),
        Msgpack::Array(entries),
        Msgpack::Map(vec![("chunk".into(), chunk.into())]),
    ]);
    let mut bytes = Vec::new();
    rmpv::encode::write_value(&mut bytes, &message).expect("encoded in memory");
    bytes
}

/// Sends `message` over TLS with `openssl s_client` (with `client` as its certificate) and
/// returns what the server answered within `wait`: the connection stays open until then, as a
/// sender waiting for its ack keeps it.
fn send_over_tls(
    port: u16,
    certs: &TestCertificates,
    client: Option<&(PathBuf, PathBuf)>,
    message: &[u8],
    wait: Duration,
) -> Vec<u8> {
    use std::io::{Read, Write};
    use std::process::{Command, Stdio};

    let mut command = Command::new("openssl");
    command
        .args(["s_client", "-quiet", "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .args([
            "-servername",
            "localhost",
            "-verify_return_error",
            "-CAfile",
        ])
        .arg(&certs.ca);
    if let Some((cert, key)) = client {
        command.arg("-cert").arg(cert).arg("-key").arg(key);
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl runs (tests/run.sh installs it)");
    let _ = child.stdin.as_mut().expect("piped").write_all(message);
    let mut stdout = child.stdout.take().expect("piped");
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || sender.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + wait;
    let mut answer = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match receiver.recv_timeout(left) {
            Ok(bytes) => answer.extend(bytes),
            Err(_) => break,
        }
        if rmpv::decode::read_value(&mut answer.as_slice()).is_ok() {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    answer
}

#[test]
fn over_mutual_tls_only_senders_with_a_trusted_certificate_are_served_and_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let certs = issue_certificates(dir.path(), "fluent-bit");
    let (api_port, forward_port) = (free_port(), free_port());
    let config = write_kestrel_config(
        dir.path(),
        &format!(
            r#"
[collector]
sources = []

[collector.forward]
listen = "127.0.0.1:{forward_port}"

[collector.forward.tls]
cert = "{cert}"
key = "{key}"
client_ca = "{ca}"

[indexer]
commit_interval = "100ms"

[query]
listen = "127.0.0.1:{api_port}"
"#,
            cert = certs.server_cert.display(),
            key = certs.server_key.display(),
            ca = certs.ca.display(),
        ),
    );
    let kestrel = Kestrel::start(&config, api_port);
    wait_for_listener(forward_port, "the forward listener accepts connections");

    let message = forward_message("app.tls", &["first over tls", "second over tls"], "c1");
    let answer = send_over_tls(
        forward_port,
        &certs,
        Some(&certs.client),
        &message,
        Duration::from_secs(20),
    );
    let ack = rmpv::decode::read_value(&mut answer.as_slice()).expect("an ack in msgpack");
    assert_eq!(
        ack,
        Msgpack::Map(vec![("ack".into(), "c1".into())]),
        "acknowledged once stored"
    );
    let hits = kestrel.wait_for_hits("fluent.tag:\"app.tls\"", 2);
    let mut messages: Vec<&str> = hits.iter().filter_map(|h| h["message"].as_str()).collect();
    messages.sort_unstable();
    assert_eq!(messages, ["first over tls", "second over tls"]);

    // Without a certificate, or with one another CA signed: no session, no ack, nothing stored.
    for (tag, client) in [
        ("app.anonymous", None),
        ("app.stranger", Some(&certs.stranger)),
    ] {
        let message = forward_message(tag, &["refused"], tag);
        let answer = send_over_tls(
            forward_port,
            &certs,
            client,
            &message,
            Duration::from_secs(3),
        );
        assert!(answer.is_empty(), "{tag}: answered {answer:?}");
    }
    // A later trusted sender is stored: the refused ones would have been committed by then.
    let message = forward_message("app.tls.after", &["after the refusals"], "c2");
    let answer = send_over_tls(
        forward_port,
        &certs,
        Some(&certs.client),
        &message,
        Duration::from_secs(20),
    );
    assert!(!answer.is_empty(), "the trusted sender is acknowledged");
    kestrel.wait_for_hits("fluent.tag:\"app.tls.after\"", 1);
    assert!(kestrel.export("message:refused").is_empty());
}
