//! End to end: `kestrel run` tails files, indexes them and answers the API; killed with SIGKILL
//! at arbitrary moments and restarted, it ends with every line indexed exactly once.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::KestrelServer as Kestrel;
use common::*;
use serde_json::Value;

fn write_config(dir: &Path, logs: &Path, port: u16, extra: &str) -> PathBuf {
    let sources = format!(
        r#"
[[collector.sources]]
name = "docker"
paths = ["{}/*-json.log"]
format = "docker"
"#,
        logs.display()
    );
    write_config_with_sources(dir, &sources, port, extra)
}

fn write_config_with_sources(dir: &Path, sources: &str, port: u16, extra: &str) -> PathBuf {
    write_kestrel_config(
        dir,
        &format!(
            r#"
[collector]
poll_interval = "50ms"
batch_max_events = 50
{sources}
[indexer]
commit_interval = "200ms"

[query]
listen = "127.0.0.1:{port}"
{extra}
"#,
        ),
    )
}

fn docker_line(n: usize, stream: &str) -> String {
    format!(
        "{{\"log\":\"line {n:05} from the test writer\\n\",\"stream\":\"{stream}\",\"time\":\"2024-05-01T10:00:{:02}.{:09}Z\"}}\n",
        n / 1000 % 60,
        n
    )
}

#[test]
fn every_line_is_indexed_exactly_once_across_sigkills() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let port = free_port();
    let config = write_config(dir.path(), &logs, port, "");
    let log_file = logs.join("abc-json.log");
    let mut writer = std::fs::File::create(&log_file).unwrap();

    let total = 3000;
    let per_round = total / 5;
    // Deterministic "random" kill delays, different every round.
    let delays_ms = [30u64, 170, 5, 420, 90];
    let mut written = 0;
    for delay_ms in delays_ms {
        let kestrel = Kestrel::start(&config, port);
        for _ in 0..per_round {
            let stream = if written % 3 == 0 { "stderr" } else { "stdout" };
            writer
                .write_all(docker_line(written, stream).as_bytes())
                .unwrap();
            written += 1;
        }
        writer.flush().unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        kestrel.kill();
    }

    let kestrel = Kestrel::start(&config, port);
    let indexed = wait_for(Duration::from_secs(60), || {
        let (_, body) = kestrel.try_search("*", 1, None);
        (body["total"].as_u64() == Some(total as u64)).then_some(())
    });
    let (_, body) = kestrel.try_search("*", 10_000, None);
    assert!(
        indexed.is_some(),
        "expected {total} events, index holds {}",
        body["total"]
    );
    let mut messages: Vec<String> = body["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["message"].as_str().unwrap().to_owned())
        .collect();
    messages.sort();
    let expected: Vec<String> = (0..total)
        .map(|n| format!("line {n:05} from the test writer"))
        .collect();
    assert_eq!(messages, expected, "each line exactly once, byte for byte");
    // Nothing arrives late as a duplicate either.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(kestrel.try_search("*", 1, None).1["total"], total as u64);
    let stderr_lines = kestrel.try_search("stream:stderr", 1, None).1;
    assert_eq!(
        stderr_lines["total"],
        (0..total).filter(|n| n % 3 == 0).count() as u64
    );
    kestrel.stop();
}

#[test]
fn api_requires_a_token_when_configured_and_explains_bad_queries() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(logs.join("abc-json.log"), docker_line(1, "stdout")).unwrap();
    let port = free_port();
    let token = "test-token-0123456789abcdef";
    let config = write_config(
        dir.path(),
        &logs,
        port,
        &format!("[query.auth]\ntokens = [\"{token}\"]\n"),
    );
    let kestrel = Kestrel::start(&config, port);

    let (status, body) = kestrel.try_search("*", 10, None);
    assert_eq!(status, 401, "{body}");
    let (status, _) = kestrel.try_search("*", 10, Some("wrong-token-0123456789"));
    assert_eq!(status, 401);
    let found = wait_for(Duration::from_secs(20), || {
        let (status, body) = kestrel.try_search("test AND writer", 10, Some(token));
        (status == 200 && body["total"] == 1).then_some(body)
    })
    .expect("the line becomes searchable");
    assert_eq!(found["hits"][0]["host"]["name"], "test-node");
    assert!(found["took_ms"].is_u64());

    let (status, body) = kestrel.try_search("verb:(get OR", 10, Some(token));
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("position"),
        "{body}"
    );
    let (status, body) = http_get(
        &kestrel.url("/api/v1/search?q=*&from=yesterday"),
        Some(token),
    )
    .unwrap();
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("from"), "{body}");
    let (status, _) = http_get(&kestrel.url("/healthz"), None).unwrap();
    assert_eq!(status, 200, "health needs no token");
    kestrel.stop();
}

#[test]
fn api_serves_tls_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(logs.join("abc-json.log"), docker_line(7, "stdout")).unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let port = free_port();
    let config = write_config(
        dir.path(),
        &logs,
        port,
        &format!(
            "[query.tls]\ncert = \"{}\"\nkey = \"{}\"\n",
            cert.display(),
            key.display()
        ),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .arg("--config")
        .arg(&config)
        .arg("run")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let curl = |extra: &[&str], path: &str| {
        Command::new("curl")
            .args(["-sS", "--max-time", "5"])
            .args(extra)
            .arg(format!("https://localhost:{port}{path}"))
            .output()
            .expect("curl runs")
    };
    let cacert = cert.to_str().unwrap();
    let found = wait_for(Duration::from_secs(30), || {
        let output = curl(&["--cacert", cacert], "/api/v1/search?q=line&limit=5");
        let body: Value = serde_json::from_slice(&output.stdout).ok()?;
        (body["total"] == 1).then_some(body)
    });
    let refused = curl(&[], "/healthz");
    let plain = Command::new("curl")
        .args(["-sS", "--max-time", "5"])
        .arg(format!("http://127.0.0.1:{port}/healthz"))
        .output()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(found.is_some(), "search over https with the CA works");
    assert!(
        !refused.status.success(),
        "an untrusted certificate is refused by the client"
    );
    assert!(
        !plain.status.success() || !String::from_utf8_lossy(&plain.stdout).contains("ok"),
        "plain http is not served"
    );
}

/// One audit event per line, told apart by its audit ID.
fn audit_line(n: usize) -> String {
    format!(
        concat!(
            r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"audit-{n:06}","#,
            r#""stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/pods/p{n}","verb":"get","#,
            r#""user":{{"username":"tester"}},"sourceIPs":["10.0.0.1"],"#,
            r#""objectRef":{{"resource":"pods","namespace":"default","name":"p{n}","apiVersion":"v1"}},"#,
            r#""responseStatus":{{"code":200}},"requestReceivedTimestamp":"2024-05-01T10:00:00.000000Z","#,
            r#""stageTimestamp":"2024-05-01T10:{m:02}:{s:02}.000000Z"}}"#,
            "\n"
        ),
        n = n,
        m = n / 60 % 60,
        s = n % 60
    )
}

fn gzip_file(path: &Path) {
    let status = Command::new("gzip").arg("-f").arg(path).status().unwrap();
    assert!(status.success(), "gzip {}", path.display());
}

/// How log rotation moves the current file away.
#[derive(Clone, Copy, Debug)]
enum Rotation {
    /// Renamed (kube-apiserver's `--audit-log-path` rotation), then gzip-compressed and the
    /// plain file deleted every other time (`--audit-log-compress`).
    RenameAndCompress,
    /// Copied, then truncated in place (logrotate's `copytruncate`).
    CopyTruncate,
}

/// Writes `total` audit lines in rounds while `kestrel run` is SIGKILLed and restarted, rotating
/// the log between (and during) runs, some rotations happening while the collector is down.
/// At the end the index holds every audit ID exactly once.
fn rotated_audit_log_is_indexed_exactly_once(rotation: Rotation) {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("audit");
    std::fs::create_dir_all(&logs).unwrap();
    let port = free_port();
    let sources = format!(
        r#"
[[collector.sources]]
name = "audit"
paths = ["{logs}/audit*.log", "{logs}/audit*.log.gz", "{logs}/audit.log.*"]
format = "k8s-audit"
"#,
        logs = logs.display()
    );
    let config = write_config_with_sources(dir.path(), &sources, port, "");
    let current = logs.join("audit.log");
    let total = 2400;
    let rounds = 8;
    let per_round = total / rounds;
    let delays_ms = [40u64, 260, 5, 120, 330, 15, 75, 180];
    let mut written = 0;
    let mut rotations = 0;
    let rotate = |rotations: &mut usize| {
        *rotations += 1;
        match rotation {
            Rotation::RenameAndCompress => {
                let rotated = logs.join(format!("audit-{:03}.log", rotations));
                std::fs::rename(&current, &rotated).unwrap();
                if (*rotations).is_multiple_of(2) {
                    gzip_file(&rotated);
                }
            }
            Rotation::CopyTruncate => {
                let copy = logs.join(format!("audit.log.{}", rotations));
                std::fs::copy(&current, &copy).unwrap();
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&current)
                    .unwrap()
                    .set_len(0)
                    .unwrap();
            }
        }
    };
    let append = |from: usize, to: usize| {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&current)
            .unwrap();
        let text: String = (from..to).map(audit_line).collect();
        file.write_all(text.as_bytes()).unwrap();
    };
    for (round, delay_ms) in delays_ms.into_iter().enumerate() {
        let kestrel = Kestrel::start(&config, port);
        let half = written + per_round / 2;
        append(written, half);
        std::thread::sleep(Duration::from_millis(delay_ms));
        // Rotated while the collector reads.
        rotate(&mut rotations);
        append(half, written + per_round);
        written += per_round;
        std::thread::sleep(Duration::from_millis(delay_ms / 2));
        kestrel.kill();
        // Every other round, rotated while the collector is down.
        if round % 2 == 1 {
            rotate(&mut rotations);
        }
    }

    let kestrel = Kestrel::start(&config, port);
    let indexed = wait_for(Duration::from_secs(60), || {
        let (_, body) = kestrel.try_search("*", 1, None);
        (body["total"].as_u64() == Some(total as u64)).then_some(())
    });
    let (_, body) = kestrel.try_search("*", 10_000, None);
    let mut ids: Vec<String> = body["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            path(h, "auditID")
                .or_else(|| path(h, "audit.auditID"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    ids.sort();
    let duplicates = ids.windows(2).filter(|w| w[0] == w[1]).count();
    let expected: Vec<String> = (0..total).map(|n| format!("audit-{n:06}")).collect();
    let missing = expected
        .iter()
        .filter(|id| ids.binary_search(id).is_err())
        .count();
    assert!(
        indexed.is_some() && ids == expected,
        "{rotation:?}: expected {total} audit events, index holds {} ({missing} missing, {duplicates} duplicated)",
        body["total"]
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(kestrel.try_search("*", 1, None).1["total"], total as u64);
    kestrel.stop();
    // No line was read from its middle (it would have become a dead letter).
    let letters: Vec<Value> = std::fs::read_dir(dir.path().join("data/dead-letters"))
        .map(|entries| {
            entries
                .flatten()
                .flat_map(|e| read_jsonl(&e.path()))
                .collect()
        })
        .unwrap_or_default();
    assert!(letters.is_empty(), "{rotation:?}: dead letters {letters:?}");
}

#[test]
fn audit_log_rotated_by_rename_and_compression_is_indexed_exactly_once_across_sigkills() {
    rotated_audit_log_is_indexed_exactly_once(Rotation::RenameAndCompress);
}

#[test]
fn audit_log_rotated_by_copytruncate_is_indexed_exactly_once_across_sigkills() {
    rotated_audit_log_is_indexed_exactly_once(Rotation::CopyTruncate);
}

/// The value of an unlabelled metric in Prometheus text, if present.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (key, value) = line.rsplit_once(' ')?;
            (key == name).then(|| value.parse().ok())?
        })
}

#[test]
fn collector_reports_health_readiness_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let lines = 250;
    let text: String = (0..lines).map(|n| docker_line(n, "stdout")).collect();
    let mut long = docker_line(lines, "stdout");
    // One record in two 16 KB-style chunks: a partial merge.
    long = long.replace("line ", "first half, ").replace("\\n\"", "\"");
    std::fs::write(
        logs.join("abc-json.log"),
        format!("{text}{long}\n{}", docker_line(lines + 1, "stdout")),
    )
    .unwrap();
    let (port, metrics_port) = (free_port(), free_port());
    let config = write_config(
        dir.path(),
        &logs,
        port,
        &format!("[metrics]\nlisten = \"127.0.0.1:{metrics_port}\"\n"),
    );
    let kestrel = Kestrel::start(&config, port);
    let base = format!("http://127.0.0.1:{metrics_port}");
    assert_eq!(http_get(&format!("{base}/healthz"), None).unwrap().0, 200);
    assert_eq!(http_get(&format!("{base}/readyz"), None).unwrap().0, 200);
    let settled = wait_for(Duration::from_secs(30), || {
        let (_, body) = http_get(&format!("{base}/metrics"), None).ok()?;
        let text = body.as_str()?.to_owned();
        let done = metric(&text, "kestrel_collector_lines_total")? >= (lines + 2) as f64
            && metric(&text, "kestrel_collector_checkpoint_age_seconds")? == 0.0;
        done.then_some(text)
    });
    let text = settled.expect("collector metrics settle");
    let size = std::fs::metadata(logs.join("abc-json.log")).unwrap().len() as f64;
    assert_eq!(metric(&text, "kestrel_collector_bytes_total"), Some(size));
    assert_eq!(metric(&text, "kestrel_collector_files_watched"), Some(1.0));
    assert_eq!(
        metric(&text, "kestrel_collector_partial_merges_total"),
        Some(1.0)
    );
    let lag = text
        .lines()
        .find(|l| l.starts_with("kestrel_collector_lag_bytes{"))
        .expect("lag per file");
    assert!(lag.contains("abc-json.log") && lag.ends_with(" 0"), "{lag}");
    kestrel.stop();
}

#[test]
fn stack_traces_are_merged_per_source_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let lines = [
        "2024-05-01 10:00:00 ERROR request failed",
        "java.lang.IllegalStateException: boom",
        "\tat com.example.Foo.bar(Foo.java:10)",
        "Caused by: java.io.IOException: disk full",
        "\t... 3 more",
        "2024-05-01 10:00:01 INFO next request",
        "2024-05-01 10:00:02 ERROR in python",
        "Traceback (most recent call last):",
        "  File \"app.py\", line 1, in <module>",
        "ValueError: bad value",
        "2024-05-01 10:00:03 ERROR in go",
        "panic: runtime error: index out of range",
        "goroutine 1 [running]:",
        "main.main()",
        "\t/app/main.go:5 +0x1d",
        "2024-05-01 10:00:04 INFO last line",
    ];
    let text: String = lines
        .iter()
        .enumerate()
        .map(|(n, line)| {
            let log = serde_json::to_string(&format!("{line}\n")).unwrap();
            format!(
                "{{\"log\":{log},\"stream\":\"stdout\",\"time\":\"2024-05-01T10:00:00.{n:09}Z\"}}\n"
            )
        })
        .collect();
    std::fs::write(logs.join("app-json.log"), text).unwrap();
    let sources = format!(
        r#"partial_flush_timeout = "300ms"
[[collector.sources]]
paths = ["{}/*-json.log"]
format = "docker"
multiline = "date-prefix"
"#,
        logs.display()
    );
    let port = free_port();
    let config = write_config_with_sources(dir.path(), &sources, port, "");
    let kestrel = Kestrel::start(&config, port);
    let hits = kestrel.wait_for_hits("*", 5);
    let mut messages: Vec<&str> = hits
        .iter()
        .map(|h| h["message"].as_str().unwrap())
        .collect();
    messages.sort();
    assert_eq!(
        messages,
        [
            lines[0..5].join("\n").as_str(),
            lines[5],
            &lines[6..10].join("\n"),
            &lines[10..15].join("\n"),
            lines[15],
        ],
        "one event per record, stack traces joined"
    );
    kestrel.stop();
}

#[test]
fn read_from_end_skips_what_files_held_at_start_and_reads_later_files_whole() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let line = |n: usize| {
        format!(
            "{{\"log\":\"line {n}\\n\",\"stream\":\"stdout\",\"time\":\"2024-05-01T10:00:00.{n:09}Z\"}}\n"
        )
    };
    let old: String = (0..20).map(line).collect();
    std::fs::write(logs.join("present-json.log"), old).unwrap();
    let sources = format!(
        r#"
[[collector.sources]]
paths = ["{}/*-json.log"]
format = "docker"
read_from = "end"
"#,
        logs.display()
    );
    let port = free_port();
    let config = write_config_with_sources(dir.path(), &sources, port, "");
    let kestrel = Kestrel::start(&config, port);
    // Let the first discovery pass, then write to the old file and create new ones (one by
    // rename, as a rotation would).
    std::thread::sleep(Duration::from_millis(500));
    let mut present = std::fs::OpenOptions::new()
        .append(true)
        .open(logs.join("present-json.log"))
        .unwrap();
    present
        .write_all((20..25).map(line).collect::<String>().as_bytes())
        .unwrap();
    std::fs::write(
        logs.join("created-json.log"),
        (100..110).map(line).collect::<String>(),
    )
    .unwrap();
    let staged = dir.path().join("staged");
    std::fs::write(&staged, (200..203).map(line).collect::<String>()).unwrap();
    std::fs::rename(&staged, logs.join("moved-json.log")).unwrap();

    let hits = kestrel.wait_for_hits("*", 18);
    let mut numbers: Vec<usize> = hits
        .iter()
        .filter_map(|h| h["message"].as_str()?.strip_prefix("line ")?.parse().ok())
        .collect();
    numbers.sort_unstable();
    let expected: Vec<usize> = (20..25).chain(100..110).chain(200..203).collect();
    assert_eq!(
        numbers, expected,
        "what the file held at start is skipped; later lines and later files are read whole"
    );
    kestrel.stop();
}
