//! End to end through a real Kafka-compatible broker (Tansu, started by these tests on
//! 127.0.0.1 with SQLite storage so it can be restarted): collectors publish, indexers in one
//! consumer group index, processes and the broker are killed with SIGKILL, and every line ends
//! up indexed exactly once.
//!
//! The broker binary is `$TANSU_BINARY`, else `tansu` on the PATH or in `~/.cargo/bin`
//! (`bash tests/run.sh` installs it). Without it these tests fail: they never skip.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use kestrel_bus::rdkafka::consumer::{BaseConsumer, Consumer};
use kestrel_bus::rdkafka::message::Headers;
use kestrel_bus::rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use kestrel_bus::rdkafka::{ClientConfig, Message};

const TOPIC: &str = "events";
const DEAD_LETTER_TOPIC: &str = "dead-letters";

fn tansu_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("TANSU_BINARY") {
        return PathBuf::from(path);
    }
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join("tansu"))
                .collect()
        })
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(Path::new(&home).join(".cargo/bin/tansu"));
    }
    candidates.into_iter().find(|p| p.is_file()).expect(
        "the Kafka tests need the Tansu broker: run `bash tests/run.sh` (it installs it) \
         or set TANSU_BINARY to its binary",
    )
}

/// A Tansu broker on a free port, storing in SQLite under its directory.
struct Broker {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl Broker {
    fn start(dir: &Path) -> Broker {
        std::fs::create_dir_all(dir).unwrap();
        let mut broker = Broker {
            child: None,
            port: free_port(),
            dir: dir.to_owned(),
        };
        broker.restart();
        broker
    }

    fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts the broker again on the same port and storage.
    fn restart(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("tansu.log"))
            .unwrap();
        let child = Command::new(tansu_binary())
            .current_dir(&self.dir)
            .args(["broker", "--listener-url", &url])
            .args(["--advertised-listener-url", &url])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("tansu starts");
        self.child = Some(child);
        let up = wait_for(Duration::from_secs(30), || {
            TcpStream::connect(("127.0.0.1", self.port)).ok()
        });
        assert!(up.is_some(), "tansu did not listen on {}", self.port);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("kill -9 tansu");
            child.wait().unwrap();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A `kestrel` process in one role; its stderr goes to a log file.
struct Role {
    child: Child,
    log: PathBuf,
}

impl Role {
    fn start(config: &Path, role: &str, log: PathBuf) -> Role {
        Role::start_with(config, role, log, &[])
    }

    /// Starts with extra environment variables (configuration overrides).
    fn start_with(config: &Path, role: &str, log: PathBuf, env: &[(&str, &str)]) -> Role {
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_kestrel"))
            .arg("--config")
            .arg(config)
            .arg(role)
            .env("RUST_LOG", "info")
            .env_remove("KESTREL_CONFIG")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("kestrel starts");
        Role { child, log }
    }

    fn kill(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().unwrap();
    }

    /// SIGTERM, which must end the process cleanly (exit 0).
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let status = self.child.wait().unwrap();
        assert!(
            status.success(),
            "graceful stop exits 0, got {status}: {}",
            self.log()
        );
    }

    /// Waits until the process owns Kafka partitions.
    fn wait_for_assignment(&self) {
        let assigned = wait_for(Duration::from_secs(60), || {
            self.log()
                .contains("kafka partition assigned")
                .then_some(())
        });
        assert!(assigned.is_some(), "never assigned: {}", self.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_config(dir: &Path, logs: &Path, brokers: &str, group: &str) -> PathBuf {
    write_kestrel_config(
        dir,
        &format!(
            r#"
[collector]
poll_interval = "50ms"
batch_max_events = 200

[[collector.sources]]
name = "docker"
paths = ["{logs}/*-json.log"]
format = "docker"

[bus]
kind = "kafka"

[bus.kafka]
brokers = "{brokers}"
topic = "{TOPIC}"
dead_letter_topic = "{DEAD_LETTER_TOPIC}"
group_id = "{group}"
partitions = 4

[bus.kafka.properties]
"session.timeout.ms" = "3000"
"heartbeat.interval.ms" = "500"

[indexer]
commit_interval = "200ms"
commit_max_events = 500
writer_memory_mb = 15
writer_threads = 1

[query]
enabled = false
"#,
            logs = logs.display(),
        ),
    )
}

/// Log files of 8 containers (so their keys spread over the partitions).
struct Writers {
    files: Vec<std::fs::File>,
    written: usize,
}

impl Writers {
    fn create(logs: &Path) -> Writers {
        std::fs::create_dir_all(logs).unwrap();
        let files = (0..8)
            .map(|c| {
                let id = format!("{c:x}").repeat(64);
                std::fs::File::create(logs.join(format!("{id}-json.log"))).unwrap()
            })
            .collect();
        Writers { files, written: 0 }
    }

    /// Appends `n` numbered lines, round-robin over the files.
    fn write(&mut self, n: usize) {
        for _ in 0..n {
            let line = self.written;
            let file = &mut self.files[line % 8];
            writeln!(
                file,
                "{{\"log\":\"line {line:06} through kafka\\n\",\"stream\":\"stdout\",\"time\":\"2024-05-01T10:{:02}:{:02}.{:09}Z\"}}",
                line / 60_000 % 60,
                line / 1000 % 60,
                line
            )
            .unwrap();
            self.written += 1;
        }
        for file in &mut self.files {
            file.flush().unwrap();
        }
    }
}

fn total(data: &Path) -> u64 {
    search(data, "*", 0)["total"].as_u64().expect("total")
}

/// Waits until the index holds `expected` events, then checks it holds each line exactly once
/// and that nothing more arrives.
fn assert_each_line_once(data: &Path, expected: usize) {
    let reached = wait_for(Duration::from_secs(120), || {
        (total(data) >= expected as u64).then_some(())
    });
    assert!(
        reached.is_some(),
        "expected {expected} events, the index holds {}",
        total(data)
    );
    std::thread::sleep(Duration::from_secs(1));
    let body = search(data, "*", expected + 10);
    let mut messages: Vec<String> = body["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["message"].as_str().unwrap().to_owned())
        .collect();
    messages.sort();
    let wanted: Vec<String> = (0..expected)
        .map(|n| format!("line {n:06} through kafka"))
        .collect();
    assert_eq!(messages.len(), expected, "total {}", body["total"]);
    assert_eq!(messages, wanted, "each line exactly once, byte for byte");
}

#[test]
fn indexer_killed_repeatedly_indexes_each_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(&dir.path().join("broker"));
    let logs = dir.path().join("logs");
    let mut writers = Writers::create(&logs);
    let config = write_config(dir.path(), &logs, &broker.brokers(), "kill-indexer");
    let data = dir.path().join("data");
    let collector = Role::start(&config, "collector", dir.path().join("collector.log"));

    let total_lines = 9_000;
    writers.write(total_lines / 2);
    // Commits run every 500 events or 200 ms, so these kills land before, during and after
    // commits.
    for (round, delay_ms) in [900u64, 1600, 450, 2300, 1200, 700].into_iter().enumerate() {
        let indexer = Role::start(
            &config,
            "indexer",
            dir.path().join(format!("indexer-{round}.log")),
        );
        // Once its predecessor has expired from the group (session timeout) it owns the
        // partitions; then it is killed after a delay that varies from round to round.
        indexer.wait_for_assignment();
        if round == 2 {
            writers.write(total_lines / 2);
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        indexer.kill();
    }
    let indexer = Role::start(&config, "indexer", dir.path().join("indexer-last.log"));
    assert_each_line_once(&data, total_lines);
    // The restarts resumed from the offsets recorded in the index commits.
    let resumed = (1..6)
        .map(|round| dir.path().join(format!("indexer-{round}.log")))
        .chain(std::iter::once(dir.path().join("indexer-last.log")))
        .any(|log| {
            std::fs::read_to_string(log)
                .unwrap_or_default()
                .contains("resume_offset=Some(")
        });
    assert!(
        resumed,
        "no restart resumed from offsets recorded in the index"
    );
    drop(indexer);
    drop(collector);
}

#[test]
fn broker_restart_mid_stream_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Broker::start(&dir.path().join("broker"));
    let logs = dir.path().join("logs");
    let mut writers = Writers::create(&logs);
    let config = write_config(dir.path(), &logs, &broker.brokers(), "broker-restart");
    let data = dir.path().join("data");
    let kestrel = Role::start(&config, "run", dir.path().join("run.log"));

    writers.write(3000);
    wait_for(Duration::from_secs(60), || (total(&data) > 0).then_some(()))
        .expect("events flow before the broker restart");
    broker.kill();
    writers.write(3000);
    std::thread::sleep(Duration::from_secs(2));
    broker.restart();
    writers.write(3000);
    assert_each_line_once(&data, 9000);
    assert!(
        !kestrel.log().contains("panicked"),
        "kestrel log: {}",
        kestrel.log()
    );
}

#[test]
fn two_indexers_share_the_partitions_and_survive_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(&dir.path().join("broker"));
    let logs = dir.path().join("logs");
    let mut writers = Writers::create(&logs);
    let config = write_config(dir.path(), &logs, &broker.brokers(), "two-indexers");
    let data = dir.path().join("data");
    let collector = Role::start(&config, "collector", dir.path().join("collector.log"));
    let first = Role::start(&config, "indexer", dir.path().join("first.log"));
    let second = Role::start(&config, "indexer", dir.path().join("second.log"));

    writers.write(3000);
    let both_assigned = wait_for(Duration::from_secs(60), || {
        (first.log().contains("kafka partition assigned")
            && second.log().contains("kafka partition assigned"))
        .then_some(())
    });
    assert!(
        both_assigned.is_some(),
        "both indexers own partitions; first: {}\nsecond: {}",
        first.log(),
        second.log()
    );
    std::thread::sleep(Duration::from_millis(1500));
    second.kill();
    writers.write(3000);
    // The first indexer takes over the killed one's partitions once it expires.
    std::thread::sleep(Duration::from_secs(5));
    let second = Role::start(&config, "indexer", dir.path().join("second-again.log"));
    second.wait_for_assignment();
    writers.write(3000);
    assert_each_line_once(&data, 9000);
    drop((first, second, collector));
}

#[test]
fn a_poison_message_goes_to_the_dead_letter_topic_and_consumption_continues() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(&dir.path().join("broker"));
    let logs = dir.path().join("logs");
    let mut writers = Writers::create(&logs);
    let config = write_config(dir.path(), &logs, &broker.brokers(), "poison");
    let data = dir.path().join("data");
    let metrics_port = free_port();
    let metrics_listen = format!("127.0.0.1:{metrics_port}");
    let kestrel = Role::start_with(
        &config,
        "run",
        dir.path().join("run.log"),
        &[("KESTREL_METRICS__LISTEN", &metrics_listen)],
    );

    writers.write(200);
    wait_for(Duration::from_secs(60), || {
        (total(&data) == 200).then_some(())
    })
    .expect("the first events are indexed");
    let poison = b"{\"this is\": not an event";
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.brokers())
        .create()
        .unwrap();
    producer
        .send(
            BaseRecord::<[u8], [u8]>::to(TOPIC)
                .key(&b"poison"[..])
                .payload(&poison[..]),
        )
        .map_err(|(e, _)| e)
        .expect("poison enqueued");
    producer
        .flush(Duration::from_secs(10))
        .expect("poison sent");
    writers.write(300);
    assert_each_line_once(&data, 500);

    let reader: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.brokers())
        .set("group.id", "dead-letter-reader")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    reader.subscribe(&[DEAD_LETTER_TOPIC]).unwrap();
    let dead = wait_for(Duration::from_secs(30), || {
        let message = reader.poll(Duration::from_millis(500))?.ok()?;
        let source = message
            .headers()
            .and_then(|h| h.iter().find(|h| h.key == "kestrel.source"))
            .and_then(|h| h.value.map(|v| String::from_utf8_lossy(v).into_owned()));
        Some((message.payload().map(<[u8]>::to_vec), source))
    })
    .expect("the poison message reaches the dead-letter topic");
    assert_eq!(dead.0.as_deref(), Some(&poison[..]), "raw bytes kept");
    let source = dead.1.expect("source header");
    assert!(source.starts_with("events/"), "{source}");
    assert!(
        kestrel.log().contains("sent to the dead-letter topic"),
        "{}",
        kestrel.log()
    );

    // The indexer's metrics tell the same story (lag comes with the 5 s client statistics).
    let url = format!("http://{metrics_listen}/metrics");
    let wanted = [
        "kestrel_indexer_events_indexed_total 500",
        "kestrel_indexer_dead_letters_total 1",
        "kestrel_indexer_consumer_lag{topic=\"events\",partition=",
        "kestrel_indexer_segments{",
        "kestrel_indexer_commit_duration_seconds",
    ];
    let page = wait_for(Duration::from_secs(20), || {
        let page = ureq::get(&url)
            .call()
            .ok()?
            .body_mut()
            .read_to_string()
            .ok()?;
        wanted.iter().all(|w| page.contains(w)).then_some(page)
    });
    let last = ureq::get(&url)
        .call()
        .ok()
        .and_then(|mut r| r.body_mut().read_to_string().ok());
    assert!(page.is_some(), "metrics lack one of {wanted:?}: {last:?}");
}

/// The partitions under `tree` (`<kind>/<day>`), sorted.
fn partitions(tree: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for kind in ["container", "k8s_audit"] {
        let Ok(days) = std::fs::read_dir(tree.join(kind)) else {
            continue;
        };
        for day in days {
            let name = day.unwrap().file_name().to_string_lossy().into_owned();
            found.push(format!("{kind}/{name}"));
        }
    }
    found.sort();
    found
}

/// The shard trees `index/shards/<topic>-<n>`, sorted.
fn shard_trees(data: &Path) -> Vec<PathBuf> {
    let mut trees: Vec<PathBuf> = std::fs::read_dir(data.join("index/shards"))
        .expect("the indexer wrote shards")
        .map(|e| e.unwrap().path())
        .collect();
    trees.sort();
    trees
}

/// The first segment store file of a partition directory.
fn store_file(partition: &Path) -> PathBuf {
    let mut files: Vec<PathBuf> = std::fs::read_dir(partition)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "store"))
        .collect();
    files.sort();
    files.into_iter().next().expect("a segment store file")
}

/// `kestrel verify`: whether it passed, its report (stdout) and its uncovered partitions.
fn verify(data: &Path, config: &Path) -> (bool, String, Vec<String>) {
    let output = kestrel(data)
        .arg("--config")
        .arg(config)
        .arg("verify")
        .output()
        .unwrap();
    let uncovered = String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter_map(|l| l.strip_suffix(": not covered by a manifest yet"))
        .map(str::to_owned)
        .collect();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        uncovered,
    )
}

#[test]
fn each_shard_seals_its_past_days_in_its_own_chain_and_verify_checks_them() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(&dir.path().join("broker"));
    let data = dir.path().join("data");
    let key = dir.path().join("seal.pem");
    run_ok(
        kestrel(&data)
            .args(["seal", "keygen", "--out"])
            .arg(&key)
            .arg("--public-out")
            .arg(dir.path().join("seal.pub.pem")),
    );
    let generated = dir.path().join("generated");
    let events: u64 = 3000;
    run_ok(kestrel(&data).args([
        "generate",
        "--kind",
        "docker",
        "--events",
        &events.to_string(),
        "--span",
        "2d",
        "--start",
        "2024-01-01T00:00:00Z",
        "--seed",
        "11",
        generated.to_str().unwrap(),
    ]));
    let logs = generated.join("var/lib/docker/containers/*");
    let config = write_config(dir.path(), &logs, &broker.brokers(), "sealing");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!("\n[seal]\nkey_file = \"{}\"\n", key.display()));
    std::fs::write(&config, text).unwrap();

    let collector = Role::start(&config, "collector", dir.path().join("collector.log"));
    let indexer = Role::start(&config, "indexer", dir.path().join("indexer.log"));
    let reached = wait_for(Duration::from_secs(120), || {
        (total(&data) >= events).then_some(())
    });
    assert!(reached.is_some(), "the index holds {}", total(&data));
    drop(collector);
    indexer.stop();
    assert_eq!(total(&data), events);

    // Every shard sealed each of its partitions (both days are long past) in its own chain.
    let trees = shard_trees(&data);
    assert_eq!(trees.len(), 4, "{trees:?}");
    for tree in &trees {
        let held = partitions(tree);
        assert!(!held.is_empty(), "{} holds no partition", tree.display());
        for partition in &held {
            assert!(
                partition.ends_with("2024-01-01") || partition.ends_with("2024-01-02"),
                "{partition}"
            );
            assert!(
                tree.join("seal/sealed").join(partition).is_file(),
                "{} {partition} is not sealed",
                tree.display()
            );
        }
        let chains: Vec<PathBuf> = std::fs::read_dir(tree.join("seal/chains"))
            .expect("the shard has its chain")
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_dir())
            .collect();
        assert_eq!(chains.len(), 1, "{chains:?}");
        let entries = std::fs::read_dir(&chains[0]).unwrap().count();
        assert!(entries >= held.len(), "{entries} entries for {held:?}");
    }
    let (ok, output, uncovered) = verify(&data, &config);
    assert!(ok, "{output}");
    let summary = output.lines().last().unwrap();
    assert!(summary.starts_with("verified: 5 chains ("), "{output}");
    // Every partition is covered: the shards' by their chains, the root tree's own audit
    // trail (today's `kestrel_audit`, written by the processes' audit trail) by the root's
    // chain, which the indexer holding its lock keeps.
    assert!(uncovered.is_empty(), "{uncovered:?}\n{output}");
    assert!(summary.ends_with(", 0 uncovered"), "{output}");
    assert!(
        data.join("index/seal/chains/indexer").is_dir(),
        "the root tree has its chain"
    );

    // A restart over the sealed shards resumes from the sealed offsets: nothing comes twice,
    // nothing is written into the sealed partitions, and the store still verifies.
    let before: Vec<Vec<String>> = trees.iter().map(|t| partitions(t)).collect();
    let again = Role::start(&config, "indexer", dir.path().join("indexer-again.log"));
    let assigned = wait_for(Duration::from_secs(60), || {
        let log = again.log();
        (log.matches("kafka partition assigned").count() == 4).then_some(log)
    })
    .expect("the restarted indexer owns the 4 partitions");
    std::thread::sleep(Duration::from_secs(3));
    again.stop();
    // Each shard resumes at the offset its sealed commit recorded: together, past every event.
    let resumed: u64 = assigned
        .lines()
        .filter(|l| l.contains("kafka partition assigned"))
        .map(|l| {
            let offset = l.split("resume_offset=Some(").nth(1).expect(l);
            offset.split(')').next().unwrap().parse::<u64>().unwrap()
        })
        .sum();
    assert_eq!(resumed, events, "{assigned}");
    assert_eq!(total(&data), events);
    let after: Vec<Vec<String>> = trees.iter().map(|t| partitions(t)).collect();
    assert_eq!(after, before, "no late partition was written");
    let (ok, output, _) = verify(&data, &config);
    assert!(ok, "after the restart: {output}");

    // A flipped byte in one shard's segment is named, with that shard's path.
    let tree = &trees[1];
    let partition = tree.join(&partitions(tree)[0]);
    let file = store_file(&partition);
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&file, bytes).unwrap();
    let (ok, output, _) = verify(&data, &config);
    assert!(!ok, "verify passed:\n{output}");
    let line = format!(
        "{}: modified file: content differs from its manifest",
        file.display()
    );
    assert!(
        output.lines().any(|l| l.starts_with(&line)),
        "no line starting with {line:?} in:\n{output}"
    );
    drop(broker);
}
