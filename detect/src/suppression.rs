//! Suppression of repeated alerts: the first alert of a rule and key (the values of the rule's
//! `suppression.by` fields) passes and opens a window; later alerts inside the window are
//! counted on it. When the window closes (in event time) an alert that counted repeats is
//! raised again as an update: same `id`, final `suppressed` and `last_seen`. Nothing is
//! silent, and open windows serialize with the detector's state, so a restart resumes them.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::compile::resolve;
use crate::correlation::parse_timespan;
use crate::engine::Alert;
use crate::error::RuleError;
use crate::rule::Suppression;
use crate::value::text;

/// A rule's suppression, compiled.
#[derive(Debug, Clone)]
struct RuleSuppression {
    by: Vec<String>,
    window_ms: i64,
}

/// An open window: the alert that opened it, with the repeats counted so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenWindow {
    /// The alert, `suppressed` counting the repeats.
    pub alert: Alert,
    /// Event time (ms) after which repeats open a new window.
    pub until_ms: i64,
}

/// The suppression of every rule of a set, with the open windows.
#[derive(Debug, Default)]
pub struct SuppressionWindows {
    rules: HashMap<String, RuleSuppression>,
    open: HashMap<String, OpenWindow>,
}

impl SuppressionWindows {
    /// Registers the suppression of rule (or correlation) `rule_id`.
    pub fn add_rule(&mut self, rule_id: &str, suppression: &Suppression) -> Result<(), RuleError> {
        let window_ms =
            parse_timespan(&suppression.window).map_err(|message| RuleError::Detection {
                rule: rule_id.to_owned(),
                part: "suppression.window".into(),
                message,
            })?;
        self.rules.insert(
            rule_id.to_owned(),
            RuleSuppression {
                by: suppression.by.clone(),
                window_ms,
            },
        );
        Ok(())
    }

    /// Applies the alert's rule suppression at event time `at_ms`, pushing onto `out` what
    /// is raised now: the alert itself unless a window of its key holds it, preceded by the
    /// update of that key's expired window when it counted repeats.
    pub fn apply(&mut self, alert: Alert, event: &Value, at_ms: i64, out: &mut Vec<Alert>) {
        let Some(rule) = self.rules.get(&alert.rule_id) else {
            out.push(alert);
            return;
        };
        let values: Vec<String> = rule
            .by
            .iter()
            .map(|field| first_text(event, field))
            .collect();
        let key = format!("{}\u{1f}{}", alert.rule_id, values.join("\u{1f}"));
        let window_ms = rule.window_ms;
        if let Some(open) = self.open.get_mut(&key) {
            if at_ms <= open.until_ms {
                open.alert.suppressed += alert.count.max(1);
                open.alert.last_seen = alert.last_seen;
                return;
            }
        }
        let mut alert = alert;
        for (field, value) in rule.by.iter().zip(values) {
            alert.group.entry(field.clone()).or_insert(value);
        }
        let window = OpenWindow {
            alert: alert.clone(),
            until_ms: at_ms.saturating_add(window_ms),
        };
        if let Some(expired) = self.open.insert(key, window) {
            if expired.alert.suppressed > 0 {
                out.push(expired.alert);
            }
        }
        out.push(alert);
    }

    /// Closes the windows that ended before `now_ms` (event time; `i64::MAX`: all) and
    /// returns the updates of those that counted repeats, oldest first.
    pub fn close(&mut self, now_ms: i64) -> Vec<Alert> {
        let mut updates = Vec::new();
        self.open.retain(|_, open| {
            if open.until_ms >= now_ms {
                return true;
            }
            if open.alert.suppressed > 0 {
                updates.push(open.alert.clone());
            }
            false
        });
        updates.sort_by(|a, b| a.first_seen.cmp(&b.first_seen));
        updates
    }

    /// The open windows, by rule and key (to save them).
    pub fn open_windows(&self) -> &HashMap<String, OpenWindow> {
        &self.open
    }

    /// Replaces the open windows (restored after a restart). Windows of rules no longer in
    /// the set are kept until they close, so their updates still go out.
    pub fn restore(&mut self, open: HashMap<String, OpenWindow>) {
        self.open = open;
    }
}

fn first_text(event: &Value, field: &str) -> String {
    let mut found = Vec::new();
    resolve(event, field, &mut found);
    found.first().and_then(|v| text(v)).unwrap_or_default()
}
