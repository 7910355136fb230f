//! Real-time detection: the configured Sigma rules evaluated on every event the indexer
//! accepts; alerts stored at each commit, with the detector's state (correlation and
//! suppression windows, event time) saved beside them so a restart resumes them.
//!
//! Nothing derived from an event is lost or counted twice across a crash: before each index
//! commit the alerts are stored, their deliveries queued and the state saved together with the
//! ids of the events evaluated since the last commit. The bus redelivers whatever the commit did
//! not acknowledge; a redelivered event whose id the saved state lists is indexed again but not
//! evaluated again (its alerts and its effect on the windows are already in the saved state).
//!
//! Suppression windows close in event time. While events flow, event time is the latest
//! event's; when the stream idles, it moves on with the clock from the latest event's arrival,
//! so the last windows still close and their updates still go out.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use kestrel_alerting::{Destinations, Outbox};
use kestrel_config::Config;
use kestrel_detect::{load_rule_set, Alert, AlertStore, Detector, Placeholders, RuleDocument};
use kestrel_event::Event;
use kestrel_indexer::service::{IndexObserver, SharedObserver};

use crate::metrics_catalog::{DETECTION_ALERTS, DETECTION_EVENTS};

/// The detection stage fed by the indexer.
pub struct DetectionStage {
    detector: Detector,
    store: AlertStore,
    state_path: PathBuf,
    pending: Vec<Alert>,
    /// Alerts and suppression updates waiting to be queued for delivery (once stored).
    to_deliver: Vec<Alert>,
    delivery: Option<(Outbox, Destinations)>,
    /// When the latest event arrived (wall clock, ms).
    last_arrival_ms: i64,
    /// Ids of the events evaluated since the last commit.
    evaluated: Vec<String>,
    /// Events a previous run evaluated before it could commit them: when the bus redelivers
    /// them they are indexed but not evaluated again.
    replayed: HashSet<String>,
    /// Whether the current commit round met a replayed event.
    replay_seen: bool,
    /// Commit rounds in a row that added events without meeting a replayed one.
    rounds_past_replay: u32,
}

/// Rounds in a row without a replayed event after which the replay is taken as over (the bus
/// redelivers each partition from its last acknowledged position, before anything newer).
const ROUNDS_PAST_REPLAY: u32 = 3;

/// The ids of the events evaluated in a commit round that may not have completed, saved beside
/// the detector's state.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct UncommittedEvents {
    #[serde(default)]
    uncommitted_events: Vec<String>,
}

impl DetectionStage {
    /// Loads the rules (their placeholders with the pack's values overridden by
    /// `placeholders`, refined by the Sigma filters among them and at `filters`) and the saved
    /// correlation windows.
    pub fn open(
        rules: &Path,
        placeholders: &BTreeMap<String, Vec<String>>,
        filters: &[PathBuf],
        alerts_dir: &Path,
        delivery: Option<(Outbox, Destinations)>,
    ) -> anyhow::Result<DetectionStage> {
        let documents: Vec<_> = load_configured_rules(rules, placeholders, filters)?
            .into_iter()
            .map(|(_, d)| d)
            .collect();
        let mut detector = Detector::new(&documents)?;
        let store = AlertStore::open(alerts_dir)
            .with_context(|| format!("opening {}", alerts_dir.display()))?;
        let state_path = alerts_dir.join("correlation-state.json");
        let mut replayed = HashSet::new();
        match std::fs::read(&state_path) {
            Ok(bytes) => {
                if let Err(error) = detector.restore_state(&bytes) {
                    tracing::warn!(%error, path = %state_path.display(), "detector state unreadable; starting empty");
                }
                let uncommitted: UncommittedEvents =
                    serde_json::from_slice(&bytes).unwrap_or_default();
                replayed.extend(uncommitted.uncommitted_events);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("reading {}", state_path.display())),
        }
        let rule_ids = detector.rules().iter().map(|r| r.id.as_str());
        crate::metrics_catalog::register_rules(
            rule_ids.chain(detector.correlations().iter().map(|c| c.id.as_str())),
        );
        tracing::info!(
            rules = detector.rules().len(),
            correlations = detector.correlations().len(),
            "detection rules loaded"
        );
        Ok(DetectionStage {
            detector,
            store,
            state_path,
            pending: Vec::new(),
            to_deliver: Vec::new(),
            delivery,
            last_arrival_ms: now_ms(),
            evaluated: Vec::new(),
            replayed,
            replay_seen: false,
            rounds_past_replay: 0,
        })
    }

    /// Saves the detector's state with the ids of the events evaluated in the round not yet
    /// committed (and the replayed ones not met again yet), fsynced, replacing the file
    /// atomically.
    fn save_state(&self) -> std::io::Result<()> {
        let mut state: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&self.detector.save_state()?)?;
        let uncommitted = self
            .evaluated
            .iter()
            .chain(&self.replayed)
            .cloned()
            .map(serde_json::Value::String)
            .collect();
        state.insert(
            "uncommitted_events".into(),
            serde_json::Value::Array(uncommitted),
        );
        let bytes = serde_json::to_vec(&state)?;
        let tmp = self.state_path.with_extension("json.tmp");
        {
            use std::io::Write;
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
        }
        std::fs::rename(&tmp, &self.state_path)
    }
}

impl DetectionStage {
    /// Queues the new alerts for their destinations (only once they are stored).
    fn queue_deliveries(&mut self) {
        let Some((outbox, destinations)) = &self.delivery else {
            return;
        };
        while let Some(alert) = self.to_deliver.first() {
            let value = match serde_json::to_value(alert) {
                Ok(value) => value,
                Err(error) => {
                    tracing::error!(%error, "alert not serializable");
                    self.to_deliver.remove(0);
                    continue;
                }
            };
            if let Err(error) = destinations.enqueue(outbox, &value) {
                // Kept for the next commit.
                tracing::error!(%error, "queueing alert deliveries failed");
                return;
            }
            self.to_deliver.remove(0);
        }
    }
}

impl IndexObserver for DetectionStage {
    fn added(&mut self, event: &Event, value: &serde_json::Value) {
        self.last_arrival_ms = now_ms();
        if !self.replayed.is_empty() && self.replayed.remove(event.id()) {
            // Evaluated before the crash; its alerts and window effects were saved then.
            self.replay_seen = true;
            self.evaluated.push(event.id().to_owned());
            return;
        }
        metrics::counter!(DETECTION_EVENTS).increment(1);
        self.evaluated.push(event.id().to_owned());
        let alerts = self.detector.evaluate(value);
        self.raise(alerts);
    }

    fn before_commit(&mut self) {
        self.flush(true);
    }

    fn committed(&mut self) {
        let round_added = !self.evaluated.is_empty();
        self.evaluated.clear();
        // Rounds that add events without meeting a replayed one are past the replay: the
        // replayed ids left were events the crashed commit had made durable after all (the
        // index recognizes them, they are never added again).
        if self.replay_seen {
            self.rounds_past_replay = 0;
        } else if round_added {
            self.rounds_past_replay += 1;
        }
        self.replay_seen = false;
        if self.rounds_past_replay >= ROUNDS_PAST_REPLAY && !self.replayed.is_empty() {
            tracing::debug!(
                left = self.replayed.len(),
                "replay over; forgetting replayed event ids"
            );
            self.replayed.clear();
        }
    }

    fn idle(&mut self) {
        self.flush(false);
    }
}

impl DetectionStage {
    /// Event time now: the latest event's, plus the wall-clock time since it arrived.
    fn event_time_now(&self) -> i64 {
        let since_arrival = now_ms().saturating_sub(self.last_arrival_ms).max(0);
        self.detector.event_time_ms().saturating_add(since_arrival)
    }

    fn raise(&mut self, alerts: Vec<Alert>) {
        for alert in alerts {
            if alert.is_update() {
                tracing::info!(rule = %alert.rule_id, id = %alert.id, suppressed = alert.suppressed, "suppression window closed");
            } else {
                metrics::counter!(DETECTION_ALERTS, "rule" => alert.rule_id.clone()).increment(1);
                tracing::info!(rule = %alert.rule_id, level = %alert.level, count = alert.count, "alert");
            }
            if self.delivery.is_some() {
                self.to_deliver.push(alert.clone());
            }
            self.pending.push(alert);
        }
    }

    /// Closes the suppression windows event time has passed, stores the pending alerts,
    /// queues their deliveries and saves the detector's state (`always_save`: even when no
    /// window closed and no alert waits, as after a commit, which moved the windows).
    fn flush(&mut self, always_save: bool) {
        let updates = self.detector.close_windows(self.event_time_now());
        let waiting =
            !updates.is_empty() || !self.pending.is_empty() || !self.to_deliver.is_empty();
        self.raise(updates);
        if !always_save && !waiting {
            return;
        }
        if let Err(error) = self.store.append(&self.pending) {
            // Kept for the next commit: nothing is dropped.
            tracing::error!(%error, alerts = self.pending.len(), "storing alerts failed");
            return;
        }
        self.pending.clear();
        self.queue_deliveries();
        if let Err(error) = self.save_state() {
            tracing::error!(%error, "saving detector state failed");
        }
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The detection stage of the configuration, shared with the indexer, if rules are set.
pub fn observer(config: &Config) -> anyhow::Result<Option<SharedObserver>> {
    let Some(rules) = &config.detection.rules else {
        return Ok(None);
    };
    let delivery = delivery(config)?;
    let placeholders = &config.detection.placeholders;
    let filters = &config.detection.filters;
    let stage = DetectionStage::open(rules, placeholders, filters, &config.alerts_dir(), delivery)
        .with_context(|| format!("detection.rules: {}", rules.display()))?;
    Ok(Some(Arc::new(Mutex::new(stage))))
}

/// The rules at `rules`, the values of their placeholders those of the pack's
/// `placeholders.toml` with each name of `placeholders` (`[detection.placeholders]`) replacing
/// the pack's list, refined by the Sigma filters among the rule files and at `filters`
/// (`detection.filters`): what real-time detection, hunts and rule tests all load.
pub fn load_configured_rules(
    rules: &Path,
    placeholders: &BTreeMap<String, Vec<String>>,
    filters: &[PathBuf],
) -> Result<Vec<(PathBuf, RuleDocument)>, kestrel_detect::RuleError> {
    let placeholders = configured_placeholders(Some(rules), placeholders)?;
    let documents = load_rule_set(rules, filters, &placeholders)?;
    for (file, document) in &documents {
        if let RuleDocument::Detection(rule) = document {
            if !rule.filters.is_empty() {
                let names: Vec<&str> = rule.filters.iter().map(|f| f.reference()).collect();
                tracing::info!(rule = rule.reference(), file = %file.display(), filters = ?names, "rule refined by sigma filters");
            }
        }
    }
    Ok(documents)
}

/// The placeholder values of the configuration's rules (`detection.rules`' pack defaults, when
/// set, overridden by `[detection.placeholders]`), for rules posted to the hunt API.
pub fn placeholders(config: &Config) -> anyhow::Result<Placeholders> {
    // The error names the placeholders file it could not read.
    configured_placeholders(
        config.detection.rules.as_deref(),
        &config.detection.placeholders,
    )
    .context("detection.rules")
}

/// The filters of `detection.filters`, their placeholders taking the configured values: what
/// the hunt API applies to the rules posted to it.
pub fn configured_filters(config: &Config) -> anyhow::Result<Vec<kestrel_detect::SigmaFilter>> {
    let placeholders = placeholders(config)?;
    let filters = kestrel_detect::load_filter_files(&config.detection.filters, &placeholders)
        .context("detection.filters")?;
    Ok(filters.into_iter().map(|(_, filter)| filter).collect())
}

/// The pack defaults of the rules at `rules` (none without rules), each name of
/// `placeholders` replacing the pack's list.
fn configured_placeholders(
    rules: Option<&Path>,
    placeholders: &BTreeMap<String, Vec<String>>,
) -> Result<Placeholders, kestrel_detect::RuleError> {
    let defaults = match rules {
        Some(rules) => Placeholders::pack_defaults(rules)?,
        None => Placeholders::new(),
    };
    Ok(defaults.overridden_by(placeholders))
}

/// The outbox and destinations, when any destination is configured.
pub fn delivery(config: &Config) -> anyhow::Result<Option<(Outbox, Destinations)>> {
    if config.alerting.destinations.is_empty() {
        return Ok(None);
    }
    let outbox = Outbox::open(&outbox_dir(config))?;
    Ok(Some((
        outbox,
        Destinations(config.alerting.destinations.clone()),
    )))
}

/// `<data_dir>/alerts/outbox`.
pub fn outbox_dir(config: &Config) -> PathBuf {
    config.alerts_dir().join("outbox")
}

/// Starts the delivery worker on a thread of its own when destinations are configured; it
/// stops once `stop` is set.
pub fn start_delivery(
    config: &Config,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> anyhow::Result<Option<std::thread::JoinHandle<()>>> {
    let Some((outbox, destinations)) = delivery(config)? else {
        return Ok(None);
    };
    crate::metrics_catalog::register_destinations(destinations.0.iter().map(|d| d.name.as_str()));
    let handle = std::thread::Builder::new()
        .name("alert-delivery".into())
        .spawn(move || kestrel_alerting::run_worker(outbox, destinations, stop))
        .context("starting the alert delivery thread")?;
    Ok(Some(handle))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kestrel_detect::AlertFilter;
    use kestrel_event::EventKind;

    const RULES: &str = r#"
title: Exec into a pod
id: exec
name: exec
logsource: {product: kubernetes, service: audit}
detection:
  sel: {objectRef.subresource: exec}
  condition: sel
level: high
---
title: Two execs by one user
id: two-execs
correlation:
  type: event_count
  rules: [exec]
  group-by: [user.username]
  timespan: 1h
  condition: {gte: 2}
  generate: true
level: critical
"#;

    fn exec(n: u32) -> (Event, serde_json::Value) {
        let at = chrono::DateTime::parse_from_rfc3339(&format!("2026-01-01T00:00:0{n}Z"))
            .unwrap()
            .to_utc();
        let mut event = Event::new(EventKind::K8sAudit, format!("exec-{n}"), at, at);
        event.audit.insert(
            "objectRef".into(),
            serde_json::json!({"resource": "pods", "subresource": "exec", "namespace": "prod", "name": "api-7"}),
        );
        event
            .audit
            .insert("user".into(), serde_json::json!({"username": "alice"}));
        let value = serde_json::from_str(&event.to_json()).unwrap();
        (event, value)
    }

    fn open(dir: &Path) -> DetectionStage {
        let rules = dir.join("rules.yml");
        std::fs::write(&rules, RULES).unwrap();
        DetectionStage::open(&rules, &BTreeMap::new(), &[], &dir.join("alerts"), None).unwrap()
    }

    fn stored(dir: &Path) -> Vec<String> {
        let store = AlertStore::open(&dir.join("alerts")).unwrap();
        let filter = AlertFilter {
            limit: 100,
            ..AlertFilter::default()
        };
        let mut rules: Vec<String> = store
            .list(&filter)
            .unwrap()
            .iter()
            .map(|a| a["rule_id"].as_str().unwrap().to_owned())
            .collect();
        rules.sort();
        rules
    }

    #[test]
    fn alerts_are_durable_before_the_commit_and_a_replay_is_not_evaluated_twice() {
        let dir = tempfile::tempdir().unwrap();
        let (event, value) = exec(1);
        {
            let mut stage = open(dir.path());
            stage.added(&event, &value);
            stage.before_commit();
            // Killed during the index commit: committed() never runs.
        }
        assert_eq!(stored(dir.path()), ["exec"], "stored before the commit");

        // The bus redelivers the event: indexed again, not evaluated again (evaluating it
        // twice would count it twice and raise the two-exec correlation).
        let mut stage = open(dir.path());
        stage.added(&event, &value);
        stage.before_commit();
        stage.committed();
        assert_eq!(stored(dir.path()), ["exec"]);

        // The next exec is the second one of the window, as the restored state knows.
        let (second, value) = exec(2);
        stage.added(&second, &value);
        stage.before_commit();
        stage.committed();
        assert_eq!(stored(dir.path()), ["exec", "exec", "two-execs"]);
    }

    /// Real-time detection through the configuration: `detection.filters` refines the rules of
    /// `detection.rules`, and a rule's filtered matches feed no correlation either.
    #[test]
    fn configured_filters_refine_real_time_detection() {
        let filter = |user: &str| {
            format!(
                "title: Exec by {user}\nid: exec-by-{user}\nlogsource: {{product: kubernetes, service: audit}}\n\
                 filter:\n  rules: [exec]\n  user:\n    user.username: {user}\n  condition: not user\n"
            )
        };
        for (user, expected) in [
            ("alice", vec![]),
            ("bob", vec!["exec", "exec", "two-execs"]),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let rules = dir.path().join("rules.yml");
            std::fs::write(&rules, RULES).unwrap();
            let filters = dir.path().join("filters");
            std::fs::create_dir(&filters).unwrap();
            std::fs::write(filters.join("exec.yml"), filter(user)).unwrap();
            let mut config = Config::default().with_data_dir(dir.path().to_owned());
            config.detection.rules = Some(rules);
            config.detection.filters = vec![filters];
            let observer = observer(&config).unwrap().expect("rules are configured");
            let mut stage = observer.lock().unwrap();
            for n in 1..=2 {
                let (event, value) = exec(n);
                stage.added(&event, &value);
            }
            stage.before_commit();
            stage.committed();
            drop(stage);
            assert_eq!(stored(dir.path()), expected, "filter on {user}");
        }
    }

    #[test]
    fn replayed_ids_are_forgotten_once_the_replay_is_over() {
        let dir = tempfile::tempdir().unwrap();
        let (event, value) = exec(1);
        {
            let mut stage = open(dir.path());
            stage.added(&event, &value);
            stage.before_commit();
        }
        let mut stage = open(dir.path());
        assert_eq!(stage.replayed.len(), 1);
        // The crashed commit had made it durable after all: it is never added again, and new
        // events go on.
        for n in 2..=2 + ROUNDS_PAST_REPLAY {
            let (next, value) = exec(n);
            stage.added(&next, &value);
            stage.before_commit();
            stage.committed();
        }
        assert!(stage.replayed.is_empty());
        let saved: UncommittedEvents =
            serde_json::from_slice(&std::fs::read(&stage.state_path).unwrap()).unwrap();
        assert!(
            !saved.uncommitted_events.contains(&"exec-1".to_owned()),
            "{saved:?}"
        );
    }
}
