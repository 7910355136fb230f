//! The Docker source against a real Docker daemon (`tests/run.sh` starts one and exports
//! `DOCKER_HOST`): busybox containers write known lines while `kestrel run` tails their
//! json-file logs with Docker enrichment on and is SIGKILLed and restarted; at the end every
//! line is indexed exactly once, byte for byte, with the container's name, image and labels.
//!
//! These tests fail, never skip, when Docker is not there.

mod common;
#[path = "common/docker.rs"]
mod docker_helpers;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::KestrelServer as Kestrel;
use common::*;
use docker_helpers::{docker_host, docker_ready, Containers, IMAGE};
use serde_json::Value;

/// Held by the tests that must not share the CPU with each other: the high-rate writer would
/// stretch the restarts of the SIGKILL test past the time Docker keeps its rotated files.
fn heavy_test_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Containers with the labels the enrichment checks read.
fn labelled_containers() -> Containers {
    Containers::labelled(&[
        "team=blue",
        "io.kubernetes.pod.namespace=shop",
        "com.docker.compose.service=writer",
    ])
}

/// A configuration tailing `<data root>/containers/*/*-json.log*`.
fn write_config(dir: &Path, docker_host: &str, port: u16) -> PathBuf {
    write_config_with_glob(dir, docker_host, port, &containers_glob())
}

/// Where the daemon's json-file logs and their rotated files are.
fn containers_glob() -> String {
    format!(
        "{}/*/*-json.log*",
        docker_ready().join("containers").display()
    )
}

fn write_config_with_glob(dir: &Path, docker_host: &str, port: u16, glob: &str) -> PathBuf {
    write_config_polling(dir, docker_host, port, glob, "50ms")
}

fn write_config_polling(
    dir: &Path,
    docker_host: &str,
    port: u16,
    glob: &str,
    poll_interval: &str,
) -> PathBuf {
    write_kestrel_config(
        dir,
        &format!(
            r#"
[collector]
poll_interval = "{poll_interval}"
batch_max_events = 50
max_event_bytes = 4194304

[collector.docker]
enabled = true
host = "{docker_host}"

[[collector.sources]]
name = "docker"
paths = ["{glob}"]
format = "docker"

[indexer]
commit_interval = "200ms"

[query]
listen = "127.0.0.1:{port}"
"#,
        ),
    )
}

/// `text` repeated and cut to `len` bytes (what `yes TEXT | tr -d '\n' | head -c LEN` writes).
fn repeated(text: &str, len: usize) -> String {
    text.repeat(len / text.len() + 1)[..len].to_owned()
}

/// What one container is expected to have written, and what its events must carry.
struct Expected {
    id: String,
    name: String,
    /// `(stream, message)`, sorted.
    lines: Vec<(String, String)>,
}

impl Expected {
    fn new(
        (id, name): (String, String),
        lines: impl IntoIterator<Item = (&'static str, String)>,
    ) -> Expected {
        let mut lines: Vec<(String, String)> =
            lines.into_iter().map(|(s, m)| (s.to_owned(), m)).collect();
        lines.sort();
        Expected { id, name, lines }
    }

    /// Checks the indexed events: every line once, byte for byte, each enriched. `None` when
    /// they are all there, else what differs.
    fn check(&self, kestrel: &Kestrel) -> Result<(), String> {
        let hits = events_of(kestrel, &self.id);
        let mut lines: Vec<(String, String)> = hits
            .iter()
            .map(|h| {
                (
                    h["stream"].as_str().unwrap_or_default().to_owned(),
                    h["message"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        lines.sort();
        if lines != self.lines {
            let missing = self.lines.iter().filter(|l| !lines.contains(l)).count();
            let duplicated = lines.windows(2).filter(|w| w[0] == w[1]).count();
            return Err(format!(
                "{}: expected {} lines, index holds {} ({missing} missing, {duplicated} duplicated)",
                self.name,
                self.lines.len(),
                lines.len()
            ));
        }
        for hit in &hits {
            let container = &hit["container"];
            if container["name"] != self.name.as_str()
                || container["image"] != IMAGE
                || container["labels"]["team"] != "blue"
                || container["compose"]["service"] != "writer"
                || hit["kubernetes"]["namespace"] != "shop"
            {
                return Err(format!(
                    "{}: event not enriched: container {container}, kubernetes {}",
                    self.name, hit["kubernetes"]
                ));
            }
        }
        Ok(())
    }
}

#[test]
fn container_lines_are_indexed_once_and_enriched_across_sigkills() {
    let _alone = heavy_test_lock();
    let mut containers = labelled_containers();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), &docker_host(), port);

    // Exits at once, before the collector ever runs.
    let quick = Expected::new(
        containers.run("quick", &[], "echo quick line"),
        [("stdout", "quick line".to_owned())],
    );
    // stdout and stderr interleaved, in bursts over about 6 s.
    let interleaved = Expected::new(
        containers.run(
            "interleaved",
            &[],
            "for i in $(seq 1 400); do echo \"out $i\"; echo \"err $i\" >&2; \
             if [ $((i % 20)) = 0 ]; then sleep 0.3; fi; done",
        ),
        (1..=400).flat_map(|i| {
            [
                ("stdout", format!("out {i}")),
                ("stderr", format!("err {i}")),
            ]
        }),
    );
    // Lines over 16 KB (split by Docker into partial records) and over 1 MB.
    let long = Expected::new(
        containers.run(
            "long",
            &[],
            "sleep 0.5; yes 0123456789 | tr -d '\\n' | head -c 20000; echo; sleep 1; \
             yes abcdefghij | tr -d '\\n' | head -c 1100000; echo; sleep 1; echo after long lines",
        ),
        [
            ("stdout", repeated("0123456789", 20_000)),
            ("stdout", repeated("abcdefghij", 1_100_000)),
            ("stdout", "after long lines".to_owned()),
        ],
    );
    // Bursts of 5 lines into a log rotated every 1 KB, three files kept (about 12 lines a
    // file, 3.5 s of writing kept): slow enough for the collector to follow across its
    // restarts (a file deleted while the collector is down is lost to any tailer).
    let rotated = Expected::new(
        containers.run(
            "rotated",
            &["--log-opt", "max-size=1k", "--log-opt", "max-file=3"],
            "for i in $(seq 1 100); do echo \"burst line $i\"; \
             if [ $((i % 5)) = 0 ]; then sleep 0.5; fi; done",
        ),
        (1..=100).map(|i| ("stdout", format!("burst line {i}"))),
    );

    let delays_ms = [700u64, 1300, 350, 1900, 900, 1500];
    let mut late = None;
    for (round, delay_ms) in delays_ms.into_iter().enumerate() {
        let kestrel = Kestrel::start(&config, port);
        std::thread::sleep(Duration::from_millis(delay_ms));
        kestrel.kill();
        if round == 2 {
            // Starts and exits while the collector is down.
            late = Some(Expected::new(
                containers.run("late", &[], "echo late line; echo late error >&2"),
                [
                    ("stdout", "late line".to_owned()),
                    ("stderr", "late error".to_owned()),
                ],
            ));
        }
    }
    // Restarted at once: the containers still write, and Docker deletes rotated files.
    let kestrel = Kestrel::start(&config, port);
    containers.wait_all();
    let expected = [quick, interleaved, long, rotated, late.expect("started")];
    let complete = wait_for(Duration::from_secs(60), || {
        expected
            .iter()
            .all(|e| e.check(&kestrel).is_ok())
            .then_some(())
    });
    if complete.is_none() {
        let problems: Vec<String> = expected
            .iter()
            .filter_map(|e| e.check(&kestrel).err())
            .collect();
        panic!("{}", problems.join("\n"));
    }
    // Nothing arrives late as a duplicate either.
    std::thread::sleep(Duration::from_millis(600));
    for e in &expected {
        if let Err(problem) = e.check(&kestrel) {
            panic!("after settling: {problem}");
        }
    }
    let long_hits = events_of(&kestrel, &expected[2].id);
    assert!(
        long_hits.iter().all(|h| h["log"]["flags"].is_null()),
        "long lines are whole, not cut: {:?}",
        long_hits.iter().map(|h| &h["log"]).collect::<Vec<_>>()
    );
}

#[test]
fn files_are_tailed_while_the_api_is_unreachable_and_enriched_once_it_is_back() {
    let mut containers = labelled_containers();
    let dir = tempfile::tempdir().unwrap();
    let real_socket = docker_host()
        .strip_prefix("unix://")
        .map(PathBuf::from)
        .expect("DOCKER_HOST is a unix:// socket");
    // The configured socket does not exist until it is linked to the real one.
    let socket = dir.path().join("docker.sock");
    let port = free_port();
    let config = write_config(dir.path(), &format!("unix://{}", socket.display()), port);
    let kestrel = Kestrel::start(&config, port);

    let (early_id, _) = containers.run("early", &[], "echo written while the api is away");
    let early = wait_for(Duration::from_secs(30), || {
        events_of(&kestrel, &early_id).into_iter().next()
    })
    .expect("lines are collected without the docker api");
    assert_eq!(early["message"], "written while the api is away");
    assert!(
        early["container"]["name"].is_null(),
        "no name without the api: {}",
        early["container"]
    );

    std::os::unix::fs::symlink(&real_socket, &socket).unwrap();
    let connected = wait_for(Duration::from_secs(30), || {
        let (_, body) = http_get(&kestrel.url("/metrics"), None).ok()?;
        body.as_str()?
            .lines()
            .any(|l| l == "kestrel_collector_docker_connected 1")
            .then_some(())
    });
    assert!(connected.is_some(), "the collector reconnects to the api");
    let late = [
        Expected::new(
            containers.run("back", &[], "sleep 0.2; echo written once the api is back"),
            [("stdout", "written once the api is back".to_owned())],
        ),
        // Its file is globbed at once: known from its `create` event before it is read.
        Expected::new(
            containers.run("instant", &[], "echo instant line"),
            [("stdout", "instant line".to_owned())],
        ),
    ];
    let enriched = wait_for(Duration::from_secs(30), || {
        late.iter().all(|e| e.check(&kestrel).is_ok()).then_some(())
    });
    if enriched.is_none() {
        panic!(
            "events are enriched once the api is back: {:?}",
            late.iter().map(|e| e.check(&kestrel)).collect::<Vec<_>>()
        );
    }
    // The early container's events were misses, the later ones hits.
    let (_, metrics) = http_get(&kestrel.url("/metrics"), None).unwrap();
    let metrics = metrics.as_str().unwrap_or_default().to_owned();
    for result in ["hit", "miss"] {
        let prefix =
            format!("kestrel_collector_enrichment_total{{source=\"docker\",result=\"{result}\"}} ");
        let count = metrics
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        assert!(count >= 1.0, "{result} counted: {metrics}");
    }
}

#[test]
fn logs_are_found_through_the_api_when_no_glob_matches_them() {
    let mut containers = labelled_containers();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let nowhere = dir.path().join("no-such-dir/*.log");
    let config = write_config_with_glob(
        dir.path(),
        &docker_host(),
        port,
        &nowhere.display().to_string(),
    );
    let before = Expected::new(
        containers.run("listed", &[], "echo listed at start"),
        [("stdout", "listed at start".to_owned())],
    );
    containers.wait_all();
    let kestrel = Kestrel::start(&config, port);
    let after = Expected::new(
        containers.run(
            "followed",
            &["--log-opt", "max-size=1k", "--log-opt", "max-file=2"],
            // Rotated every 12 lines or so, at a pace the collector can follow.
            "sleep 0.3; for i in $(seq 1 30); do echo \"followed line $i\"; \
             if [ $((i % 4)) = 0 ]; then sleep 0.2; fi; done",
        ),
        (1..=30).map(|i| ("stdout", format!("followed line {i}"))),
    );
    // Writes and exits at once while the collector runs: known from its `create` event
    // before its first line is read.
    let instant = Expected::new(
        containers.run("instant", &[], "echo instant line"),
        [("stdout", "instant line".to_owned())],
    );
    let all = [before, after, instant];
    let found = wait_for(Duration::from_secs(30), || {
        all.iter().all(|e| e.check(&kestrel).is_ok()).then_some(())
    });
    assert!(
        found.is_some(),
        "LogPaths from the api are tailed: {:?}",
        all.iter().map(|e| e.check(&kestrel)).collect::<Vec<_>>()
    );
}

/// Docker's `max-size`/`max-file` rotation at a high rate: a container writes 100 000 lines
/// of 120 bytes as fast as it can (10-20 MB/s here) into a log rotated every 2 MiB with two
/// files kept, so that Docker deletes each file a few hundred milliseconds after creating it.
/// Discovery polls only every 5 s here: the files are opened as they appear (inotify) and read
/// through their handles once rotated away or deleted. Every line is indexed exactly once.
#[test]
fn logs_rotated_by_docker_at_a_high_rate_lose_no_line() {
    let _alone = heavy_test_lock();
    const LINES: usize = 100_000;
    let pad = "0".repeat(100);
    let mut containers = labelled_containers();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config_polling(dir.path(), &docker_host(), port, &containers_glob(), "5s");
    let kestrel = Kestrel::start(&config, port);
    let started = std::time::Instant::now();
    let (id, name) = containers.run(
        "highrate",
        &["--log-opt", "max-size=2m", "--log-opt", "max-file=2"],
        &format!(
            "sleep 1; i=0; while [ $i -lt {LINES} ]; do i=$((i+1)); echo \"high rate line $i {pad}\"; done"
        ),
    );
    containers.wait_all();
    let written_in = started.elapsed();
    let log_dir = docker_ready().join("containers").join(&id);
    let kept: Vec<String> = std::fs::read_dir(&log_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("-json.log"))
        .collect();
    assert_eq!(
        kept.len(),
        2,
        "docker rotated the log and kept two files: {kept:?}"
    );

    let query = format!("container.id:{id}");
    let complete = wait_for(Duration::from_secs(90), || {
        (kestrel.search(&query, 0)["total"].as_u64() >= Some(LINES as u64)).then_some(())
    });
    // Late duplicates would show after a while.
    std::thread::sleep(Duration::from_millis(600));
    let events = kestrel.export(&query);
    let suffix = format!(" {pad}");
    let mut numbers: Vec<usize> = events
        .iter()
        .filter_map(|e| {
            let message = e["message"].as_str()?.strip_prefix("high rate line ")?;
            message.strip_suffix(&suffix)?.parse().ok()
        })
        .collect();
    numbers.sort_unstable();
    let distinct = {
        let mut d = numbers.clone();
        d.dedup();
        d.len()
    };
    assert!(
        complete.is_some() && numbers.len() == LINES && distinct == LINES,
        "{name}: {LINES} lines written in {written_in:?}, index holds {} events, {} of them \
         intact lines, {distinct} distinct (first missing: {:?})",
        events.len(),
        numbers.len(),
        (1..=LINES).find(|n| numbers.binary_search(n).is_err())
    );
    assert!(numbers.iter().copied().eq(1..=LINES), "every line once");
    let enriched = events
        .iter()
        .filter(|e| e["container"]["name"] == name.as_str())
        .count();
    assert_eq!(enriched, LINES, "every event carries its container's name");
}

/// The hits of one container's events.
fn events_of(kestrel: &Kestrel, id: &str) -> Vec<Value> {
    let body = kestrel.search(&format!("container.id:{id}"), 10_000);
    body["hits"].as_array().cloned().unwrap_or_default()
}
