//! Real-time detection: the configured Sigma rules evaluated on every event the indexer
//! accepts; alerts stored at each commit, with the correlation windows saved beside them so a
//! restart resumes them.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use kestrel_config::Config;
use kestrel_detect::correlation::CorrelationState;
use kestrel_detect::{load_rules, Alert, AlertStore, Detector};
use kestrel_event::Event;
use kestrel_indexer::service::{IndexObserver, SharedObserver};

/// The detection stage fed by the indexer.
pub struct DetectionStage {
    detector: Detector,
    store: AlertStore,
    state_path: PathBuf,
    pending: Vec<Alert>,
}

impl DetectionStage {
    /// Loads the rules and the saved correlation windows.
    pub fn open(rules: &Path, alerts_dir: &Path) -> anyhow::Result<DetectionStage> {
        let documents: Vec<_> = load_rules(rules)?.into_iter().map(|(_, d)| d).collect();
        let mut detector = Detector::new(&documents)?;
        let store = AlertStore::open(alerts_dir)
            .with_context(|| format!("opening {}", alerts_dir.display()))?;
        let state_path = alerts_dir.join("correlation-state.json");
        match std::fs::read(&state_path) {
            Ok(bytes) => match serde_json::from_slice::<CorrelationState>(&bytes) {
                Ok(state) => detector.restore(state),
                Err(error) => {
                    tracing::warn!(%error, path = %state_path.display(), "correlation state unreadable; starting empty")
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("reading {}", state_path.display())),
        }
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
        })
    }

    fn save_state(&self) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(self.detector.state())?;
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

impl IndexObserver for DetectionStage {
    fn added(&mut self, event: &Event) {
        let value = match serde_json::to_value(event) {
            Ok(value) => value,
            Err(error) => {
                tracing::warn!(%error, event_id = event.id(), "event not evaluated");
                return;
            }
        };
        metrics::counter!("kestrel_detection_events_total").increment(1);
        for alert in self.detector.evaluate(&value) {
            metrics::counter!("kestrel_detection_alerts_total", "rule" => alert.rule_id.clone())
                .increment(1);
            tracing::info!(rule = %alert.rule_id, level = %alert.level, count = alert.count, "alert");
            self.pending.push(alert);
        }
    }

    fn committed(&mut self) {
        let now_ms = chrono::Utc::now().timestamp_millis();
        self.pending.extend(self.detector.close_windows(now_ms));
        if let Err(error) = self.store.append(&self.pending) {
            // Kept for the next commit: nothing is dropped.
            tracing::error!(%error, alerts = self.pending.len(), "storing alerts failed");
            return;
        }
        self.pending.clear();
        if let Err(error) = self.save_state() {
            tracing::error!(%error, "saving correlation state failed");
        }
    }
}

/// The detection stage of the configuration, shared with the indexer, if rules are set.
pub fn observer(config: &Config) -> anyhow::Result<Option<SharedObserver>> {
    let Some(rules) = &config.detection.rules else {
        return Ok(None);
    };
    let stage = DetectionStage::open(rules, &config.alerts_dir())
        .with_context(|| format!("detection.rules: {}", rules.display()))?;
    Ok(Some(Arc::new(Mutex::new(stage))))
}
