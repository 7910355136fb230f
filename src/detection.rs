//! Real-time detection: the configured Sigma rules evaluated on every event the indexer
//! accepts; alerts stored at each commit, with the detector's state (correlation and
//! suppression windows, event time) saved beside them so a restart resumes them.
//!
//! Suppression windows close in event time. While events flow, event time is the latest
//! event's; when the stream idles, it moves on with the clock from the latest event's arrival,
//! so the last windows still close and their updates still go out.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use kestrel_alerting::{Destinations, Outbox};
use kestrel_config::Config;
use kestrel_detect::{load_rules_with, Alert, AlertStore, Detector, Placeholders, RuleDocument};
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
}

impl DetectionStage {
    /// Loads the rules (their placeholders with the pack's values overridden by
    /// `placeholders`) and the saved correlation windows.
    pub fn open(
        rules: &Path,
        placeholders: &BTreeMap<String, Vec<String>>,
        alerts_dir: &Path,
        delivery: Option<(Outbox, Destinations)>,
    ) -> anyhow::Result<DetectionStage> {
        let documents: Vec<_> = load_configured_rules(rules, placeholders)?
            .into_iter()
            .map(|(_, d)| d)
            .collect();
        let mut detector = Detector::new(&documents)?;
        let store = AlertStore::open(alerts_dir)
            .with_context(|| format!("opening {}", alerts_dir.display()))?;
        let state_path = alerts_dir.join("correlation-state.json");
        match std::fs::read(&state_path) {
            Ok(bytes) => {
                if let Err(error) = detector.restore_state(&bytes) {
                    tracing::warn!(%error, path = %state_path.display(), "detector state unreadable; starting empty");
                }
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
        })
    }

    fn save_state(&self) -> std::io::Result<()> {
        let bytes = self.detector.save_state()?;
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
    fn added(&mut self, _event: &Event, value: &serde_json::Value) {
        metrics::counter!(DETECTION_EVENTS).increment(1);
        self.last_arrival_ms = now_ms();
        let alerts = self.detector.evaluate(value);
        self.raise(alerts);
    }

    fn committed(&mut self) {
        self.flush(true);
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
    let stage = DetectionStage::open(rules, placeholders, &config.alerts_dir(), delivery)
        .with_context(|| format!("detection.rules: {}", rules.display()))?;
    Ok(Some(Arc::new(Mutex::new(stage))))
}

/// The rules at `rules`, the values of their placeholders those of the pack's
/// `placeholders.toml` with each name of `placeholders` (`[detection.placeholders]`) replacing
/// the pack's list: what real-time detection, hunts and rule tests all load.
pub fn load_configured_rules(
    rules: &Path,
    placeholders: &BTreeMap<String, Vec<String>>,
) -> Result<Vec<(PathBuf, RuleDocument)>, kestrel_detect::RuleError> {
    load_rules_with(rules, &configured_placeholders(Some(rules), placeholders)?)
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
