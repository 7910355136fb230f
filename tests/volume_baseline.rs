//! Learned log-volume baselines (rules/containers/log_volume_spike.yml) measured on generated
//! container logs with injected spikes and dips: recall and false alerts against the ground
//! truth.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use kestrel_detect::{load_rules, Alert, Detector};
use kestrel_generate::{generate, GenerateOptions, GroundTruth, Kind};
use serde_json::{json, Value};

const MINUTE_MS: i64 = 60_000;

/// The shipped rules' `min_volume` (spike per container, per namespace, dip): anomalies of
/// containers logging less are not expected to alert.
const SPIKE_MIN: f64 = 60.0;
const DIP_MIN: f64 = 20.0;

fn ms(time: &str) -> i64 {
    kestrel_event::parse_timestamp(time)
        .map(|t| t.timestamp_millis())
        .unwrap_or_default()
}

/// (time, event) of every complete CRI line under `root`, with the metadata of its path
/// (`var/log/pods/<ns>_<pod>_<uid>/<container>/0.log`).
fn cri_events(root: &Path) -> Vec<(String, Value)> {
    let mut events = Vec::new();
    let pods = root.join("var/log/pods");
    for pod_dir in std::fs::read_dir(&pods).expect("pods").flatten() {
        let dir_name = pod_dir.file_name().to_string_lossy().into_owned();
        let mut parts = dir_name.splitn(3, '_');
        let (Some(namespace), Some(pod)) = (parts.next(), parts.next()) else {
            continue;
        };
        for container_dir in std::fs::read_dir(pod_dir.path()).expect("pod").flatten() {
            let container = container_dir.file_name().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(container_dir.path().join("0.log")).expect("log");
            for (i, line) in text.lines().enumerate() {
                let mut fields = line.splitn(4, ' ');
                let (Some(time), Some(stream), Some(tag)) =
                    (fields.next(), fields.next(), fields.next())
                else {
                    continue;
                };
                if tag != "F" {
                    continue;
                }
                let event = json!({
                    "@timestamp": time,
                    "event": {"kind": "container", "id": format!("{dir_name}/{container}/{}", i + 1)},
                    "stream": stream,
                    "message": fields.next().unwrap_or_default(),
                    "container": {"name": container},
                    "kubernetes": {"namespace": namespace, "pod": {"name": pod}},
                });
                events.push((time.to_owned(), event));
            }
        }
    }
    events.sort_by(|a, b| a.0.cmp(&b.0));
    events
}

/// `namespace/pod/container` of a ground-truth entry or an alert group.
fn truth_key(truth: &GroundTruth) -> String {
    truth
        .indicator
        .split_once(" of ")
        .map_or(String::new(), |(_, k)| k.to_owned())
}

fn alert_key(alert: &Alert) -> String {
    let g = |f: &str| alert.group.get(f).cloned().unwrap_or_default();
    format!(
        "{}/{}/{}",
        g("kubernetes.namespace"),
        g("kubernetes.pod.name"),
        g("container.name")
    )
}

/// Whether `alert`'s bin falls within `truth`'s range (one bin of slack after it).
fn overlaps(alert: &Alert, truth: &GroundTruth) -> bool {
    let (from, until) = (
        ms(truth.from.as_deref().unwrap_or_default()),
        ms(truth.until.as_deref().unwrap_or_default()),
    );
    let start = ms(&alert.first_seen);
    start + MINUTE_MS > from && start < until + MINUTE_MS
}

struct Figures {
    truths: usize,
    eligible: usize,
    found: usize,
    found_eligible: usize,
    alerts: usize,
    false_alerts: usize,
}

fn measure(
    alerts: &[Alert],
    truths: &[&GroundTruth],
    rule: &str,
    matches: impl Fn(&Alert, &GroundTruth) -> bool,
    eligible: impl Fn(&GroundTruth) -> bool,
) -> Figures {
    let alerts: Vec<&Alert> = alerts.iter().filter(|a| a.rule_id == rule).collect();
    let found: Vec<&&GroundTruth> = truths
        .iter()
        .filter(|t| alerts.iter().any(|a| matches(a, t)))
        .collect();
    Figures {
        truths: truths.len(),
        eligible: truths.iter().filter(|t| eligible(t)).count(),
        found: found.len(),
        found_eligible: found.iter().filter(|t| eligible(t)).count(),
        alerts: alerts.len(),
        false_alerts: alerts
            .iter()
            .filter(|a| !truths.iter().any(|t| matches(a, t)))
            .count(),
    }
}

#[test]
fn learned_baselines_find_injected_spikes_and_dips_with_few_false_alerts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    let options = GenerateOptions {
        kind: Kind::Cri,
        events: 1_500_000,
        seed: 7,
        span: std::time::Duration::from_secs(2 * 86_400),
        attack_rate: 0.0,
        volume_anomalies: 40,
        ..GenerateOptions::default()
    };
    let summary = generate(&options, &out).expect("generate");
    let truth_text = std::fs::read_to_string(&summary.ground_truth).expect("ground truth");
    let truths: Vec<GroundTruth> = truth_text
        .lines()
        .map(|l| serde_json::from_str(l).expect("truth line"))
        .collect();
    let events = cri_events(&out);
    let span_minutes = (2 * 86_400 / 60) as f64;
    let mut per_key: BTreeMap<String, f64> = BTreeMap::new();
    for (_, e) in &events {
        let key = format!(
            "{}/{}/{}",
            e["kubernetes"]["namespace"].as_str().unwrap_or_default(),
            e["kubernetes"]["pod"]["name"].as_str().unwrap_or_default(),
            e["container"]["name"].as_str().unwrap_or_default()
        );
        *per_key.entry(key).or_default() += 1.0 / span_minutes;
    }

    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/containers/log_volume_spike.yml");
    let rules: Vec<_> = load_rules(&path)
        .expect("rules")
        .into_iter()
        .map(|(_, d)| d)
        .collect();
    let mut detector = Detector::new(&rules).expect("detector");
    let mut alerts = Vec::new();
    for (_, event) in &events {
        alerts.extend(detector.evaluate(event));
    }
    alerts.extend(detector.close_windows(detector.event_time_ms() + 2 * MINUTE_MS));

    let spikes: Vec<&GroundTruth> = truths
        .iter()
        .filter(|t| t.pattern == "volume-spike")
        .collect();
    let dips: Vec<&GroundTruth> = truths
        .iter()
        .filter(|t| t.pattern == "volume-dip")
        .collect();
    let rate = |t: &GroundTruth| per_key.get(&truth_key(t)).copied().unwrap_or_default();
    let same = |a: &Alert, t: &GroundTruth| alert_key(a) == truth_key(t) && overlaps(a, t);
    let same_namespace = |a: &Alert, t: &GroundTruth| {
        truth_key(t).split('/').next() == a.group.get("kubernetes.namespace").map(String::as_str)
            && overlaps(a, t)
    };
    let figures = [
        (
            "spike per container",
            measure(
                &alerts,
                &spikes,
                "kestrel-container-log-volume-spike",
                same,
                |t| rate(t) * 10.0 >= SPIKE_MIN,
            ),
        ),
        (
            "spike per namespace",
            measure(
                &alerts,
                &spikes,
                "kestrel-namespace-log-volume-spike",
                same_namespace,
                |t| rate(t) * 10.0 >= SPIKE_MIN,
            ),
        ),
        (
            "dip per container",
            measure(
                &alerts,
                &dips,
                "kestrel-container-log-volume-dip",
                same,
                |t| rate(t) >= 2.0 * DIP_MIN,
            ),
        ),
    ];
    println!(
        "{} lines, {} containers, {} anomalies injected",
        events.len(),
        per_key.len(),
        truths.len()
    );
    for (name, f) in &figures {
        println!(
            "{name}: recall {}/{} ({:.0} %), on containers loud enough {}/{}; alerts {}, false {} (precision {:.0} %)",
            f.found,
            f.truths,
            100.0 * f.found as f64 / f.truths.max(1) as f64,
            f.found_eligible,
            f.eligible,
            f.alerts,
            f.false_alerts,
            100.0 * (f.alerts - f.false_alerts) as f64 / f.alerts.max(1) as f64,
        );
    }
    // Bounds a little under the figures measured with seed 7 (spikes: all found on loud
    // containers, no false alert; dips: 3 of the 4 on containers loud enough, 3 false alerts
    // over two days of 29 containers).
    let bounds = [(0.9, 2), (0.9, 2), (0.7, 5)];
    for ((name, f), (recall, false_alerts)) in figures.iter().zip(bounds) {
        assert!(f.truths > 0 && f.eligible > 0, "{name}: nothing injected");
        let measured = f.found_eligible as f64 / f.eligible as f64;
        assert!(
            measured >= recall,
            "{name}: recall {measured:.2} on loud containers"
        );
        assert!(
            f.false_alerts <= false_alerts,
            "{name}: {} false alerts",
            f.false_alerts
        );
    }
}

mod restart {
    //! A learned baseline survives SIGKILL and restart of `kestrel run`.

    use std::io::Write;
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use crate::common::*;
    use serde_json::Value;

    const RULES: &str = r#"
title: line
name: line
logsource: {product: kubernetes, service: container}
detection:
  sel: {kubernetes.container.name|exists: true}
  condition: sel
---
title: spike
id: test-volume-spike
correlation:
  type: volume_baseline
  rules: [line]
  group-by: [kubernetes.container.name]
  timespan: 1m
  baseline: {buckets: 1, warmup: 3, min_volume: 5, direction: spike}
level: low
"#;

    const CONTAINER: &str = "prod_api-0_0f0e0d0c-0000-4000-8000-000000000001/api";

    fn alerts(port: u16) -> Vec<Value> {
        http_get(
            &format!("http://127.0.0.1:{port}/api/v1/alerts?limit=1000"),
            None,
        )
        .ok()
        .map(|(_, body)| body["alerts"].as_array().cloned().unwrap_or_default())
        .unwrap_or_default()
    }

    /// `n` CRI lines of container api in minute `minute` of 2024-01-01T00.
    fn append(pods: &Path, minute: u32, n: u32) {
        let dir = pods.join(CONTAINER);
        std::fs::create_dir_all(&dir).unwrap();
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("0.log"))
            .unwrap();
        for i in 0..n {
            writeln!(
                file,
                "2024-01-01T00:{minute:02}:{:02}.000000000Z stdout F GET /items/{i} 200",
                i % 60
            )
            .unwrap();
        }
        file.flush().unwrap();
    }

    /// A directory with the rules, a pods directory and a config; (config, pods, data, port).
    fn setup(dir: &Path) -> (PathBuf, PathBuf, PathBuf, u16) {
        let rules = dir.join("rules");
        let pods = dir.join("pods");
        std::fs::create_dir_all(&rules).unwrap();
        std::fs::create_dir_all(&pods).unwrap();
        std::fs::write(rules.join("volume.yml"), RULES).unwrap();
        let port = free_port();
        let config = write_kestrel_config(
            dir,
            &format!(
                r#"[collector]
poll_interval = "50ms"
[[collector.sources]]
paths = ["{pods}/*/*/*.log"]
format = "cri"
[indexer]
commit_interval = "200ms"
[detection]
rules = "{rules}"
[query]
listen = "127.0.0.1:{port}"
"#,
                pods = pods.display(),
                rules = rules.display(),
            ),
        );
        (config, pods, dir.join("data"), port)
    }

    fn up(port: u16) {
        wait_for(Duration::from_secs(30), || {
            http_get(&format!("http://127.0.0.1:{port}/healthz"), None).ok()
        })
        .expect("api up");
    }

    fn spikes(port: u16) -> usize {
        alerts(port)
            .iter()
            .filter(|a| a["rule_id"] == "test-volume-spike")
            .count()
    }

    #[test]
    fn a_learned_baseline_survives_sigkill_and_a_fresh_one_stays_in_warm_up() {
        let dir = tempfile::tempdir().unwrap();
        let (config, pods, data, port) = setup(dir.path());
        let kestrel = KestrelRun::start(&config);
        up(port);
        for minute in 0..6 {
            append(&pods, minute, 10);
        }
        append(&pods, 6, 1);
        let state = data.join("alerts/correlation-state.json");
        wait_for(Duration::from_secs(30), || {
            let text = std::fs::read_to_string(&state).ok()?;
            let saved: Value = serde_json::from_str(&text).ok()?;
            let learned = saved["baselines"].to_string().contains("\"seen\":6");
            learned.then_some(())
        })
        .unwrap_or_else(|| {
            let text = std::fs::read_to_string(&state).unwrap_or_default();
            panic!("the baseline is not saved: {text}")
        });
        assert_eq!(spikes(port), 0, "steady lines raise nothing");
        drop(kestrel);

        let _kestrel = KestrelRun::start(&config);
        up(port);
        append(&pods, 7, 200);
        append(&pods, 8, 1);
        let found = wait_for(Duration::from_secs(30), || {
            (spikes(port) == 1).then_some(())
        });
        assert!(found.is_some(), "the restored baseline flags the spike");

        // The same spike on a fresh data dir: still in warm-up, nothing.
        let fresh = tempfile::tempdir().unwrap();
        let (config, pods, _, port) = setup(fresh.path());
        let _fresh = KestrelRun::start(&config);
        up(port);
        append(&pods, 7, 200);
        append(&pods, 8, 1);
        std::thread::sleep(Duration::from_secs(4));
        assert_eq!(spikes(port), 0, "no baseline learned: no alert");
    }
}
