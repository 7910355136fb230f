//! The detector: every rule and correlation of a rule set evaluated on each event, in event
//! time, producing alerts, with repeats folded by suppression (and counted, never dropped).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::baseline::{BaselineHit, BaselineRef, BaselineState};
use crate::compile::CompiledRule;
use crate::correlation::{CompiledCorrelation, CorrelationHit, CorrelationKind, CorrelationState};
use crate::error::RuleError;
use crate::index::RuleIndex;
use crate::rule::RuleDocument;
use crate::suppression::{OpenWindow, SuppressionWindows};
use crate::view::EventView;

/// An alert: what fired, on which events, and how to find them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Stable id of the alert (rule, group and first event), for idempotent storage.
    pub id: String,
    /// The rule or correlation.
    pub rule_id: String,
    /// Its title.
    pub title: String,
    /// Its level.
    pub level: String,
    /// Its tags (ATT&CK techniques as `attack.tNNNN`).
    pub tags: Vec<String>,
    /// Time of the first triggering event (RFC 3339).
    pub first_seen: String,
    /// Time of the last triggering or suppressed event (RFC 3339).
    pub last_seen: String,
    /// Group-by field → value (correlations and suppression keys).
    pub group: BTreeMap<String, String>,
    /// Events that triggered it.
    pub count: u64,
    /// Later matches folded into this alert by suppression. Above zero only on the update
    /// raised when the suppression window closes (see [`Alert::is_update`]).
    pub suppressed: u64,
    /// Ids of the triggering events.
    pub event_ids: Vec<String>,
    /// A search query showing the triggering events.
    pub query: String,
    /// Extra figures of the alert: for a volume baseline, `baseline.direction`,
    /// `baseline.count`, `baseline.mean` and `baseline.deviation`; for another correlation,
    /// its `fields` with their values in the events that completed it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, Value>,
    /// The Sigma filters that refine the rule (ids, else names, else titles): its matches
    /// are those the filters left.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<String>,
}

/// How many event ids an alert lists at most.
const MAX_EVENT_IDS: usize = 100;

impl Alert {
    /// Whether this is the update of an alert raised earlier (same `id`): its suppression
    /// window closed after counting repeats.
    pub fn is_update(&self) -> bool {
        self.suppressed > 0
    }
}

/// What a detector remembers between events, saved at each commit and restored after a
/// restart: correlation windows, suppression windows and the event time reached.
#[derive(Debug, Serialize)]
struct SavedStateRef<'a> {
    correlations: &'a CorrelationState,
    suppression: &'a HashMap<String, OpenWindow>,
    event_time_ms: i64,
    baselines: &'a BaselineState,
}

#[derive(Debug, Deserialize)]
struct SavedState {
    correlations: CorrelationState,
    #[serde(default)]
    suppression: HashMap<String, OpenWindow>,
    #[serde(default)]
    event_time_ms: i64,
    #[serde(default)]
    baselines: BaselineState,
}

/// Rules and correlations compiled together, with their correlation windows and suppression
/// state.
pub struct Detector {
    rules: Vec<CompiledRule>,
    correlations: Vec<CompiledCorrelation>,
    /// Rule or correlation reference → correlations it feeds.
    feeds: HashMap<String, Vec<usize>>,
    /// References of rules that only feed correlations (`generate: false`).
    silent: std::collections::HashSet<String>,
    suppression: SuppressionWindows,
    state: CorrelationState,
    /// Learned volume baselines (`volume_baseline` correlations).
    baselines: BaselineState,
    /// Latest event time seen (ms): how far event time has gone.
    event_time_ms: i64,
    index: RuleIndex,
    candidates: Vec<usize>,
}

impl Detector {
    /// Compiles a rule set.
    pub fn new(documents: &[RuleDocument]) -> Result<Detector, RuleError> {
        let mut rules = Vec::new();
        let mut correlations = Vec::new();
        let mut suppression = SuppressionWindows::default();
        for document in documents {
            match document {
                RuleDocument::Detection(rule) => {
                    let compiled = CompiledRule::compile(rule)?;
                    if let Some(s) = &rule.suppression {
                        suppression.add_rule(&compiled.id, s)?;
                    }
                    rules.push(compiled);
                }
                RuleDocument::Correlation(rule) => {
                    let compiled = CompiledCorrelation::compile(rule)?;
                    if let Some(s) = &rule.suppression {
                        suppression.add_rule(&compiled.id, s)?;
                    }
                    correlations.push(compiled);
                }
                // Already attached to the rules it refines when they were loaded.
                RuleDocument::Filter(_) => {}
            }
        }
        let mut feeds: HashMap<String, Vec<usize>> = HashMap::new();
        let mut silent = std::collections::HashSet::new();
        for (i, correlation) in correlations.iter().enumerate() {
            for reference in &correlation.rules {
                feeds.entry(reference.clone()).or_default().push(i);
                if !correlation.generate {
                    silent.insert(reference.clone());
                }
            }
        }
        Ok(Detector {
            correlations,
            feeds,
            silent,
            suppression,
            state: CorrelationState::default(),
            baselines: BaselineState::default(),
            event_time_ms: i64::MIN,
            index: RuleIndex::new(&rules),
            candidates: Vec::new(),
            rules,
        })
    }

    /// Detection rules in the set.
    pub fn rules(&self) -> &[CompiledRule] {
        &self.rules
    }

    /// Correlation rules in the set.
    pub fn correlations(&self) -> &[CompiledCorrelation] {
        &self.correlations
    }

    /// The correlation windows (to save them, or to look at their size).
    pub fn state(&self) -> &CorrelationState {
        &self.state
    }

    /// Replaces the correlation windows (restored after a restart).
    pub fn restore(&mut self, state: CorrelationState) {
        self.state = state;
    }

    /// The latest event time seen (ms since the epoch; `i64::MIN` before any event).
    pub fn event_time_ms(&self) -> i64 {
        self.event_time_ms
    }

    /// Everything the detector remembers (correlation windows, open suppression windows,
    /// event time), as JSON to save.
    pub fn save_state(&self) -> serde_json::Result<Vec<u8>> {
        serde_json::to_vec(&SavedStateRef {
            correlations: &self.state,
            suppression: self.suppression.open_windows(),
            event_time_ms: self.event_time_ms,
            baselines: &self.baselines,
        })
    }

    /// Restores what [`Detector::save_state`] saved (or, from older versions, the
    /// correlation windows alone).
    pub fn restore_state(&mut self, bytes: &[u8]) -> serde_json::Result<()> {
        let saved = match serde_json::from_slice::<SavedState>(bytes) {
            Ok(saved) => saved,
            Err(error) => match serde_json::from_slice::<CorrelationState>(bytes) {
                Ok(correlations) => SavedState {
                    correlations,
                    suppression: HashMap::new(),
                    event_time_ms: i64::MIN,
                    baselines: BaselineState::default(),
                },
                Err(_) => return Err(error),
            },
        };
        self.state = saved.correlations;
        self.baselines = saved.baselines;
        self.suppression.restore(saved.suppression);
        self.event_time_ms = self.event_time_ms.max(saved.event_time_ms);
        Ok(())
    }

    /// Evaluates one event (as JSON, with `@timestamp`, `event.id` and `event.kind`); returns
    /// the alerts it raises now: new ones, and updates ([`Alert::is_update`]) of suppressed
    /// alerts whose window this event found expired.
    pub fn evaluate(&mut self, event: &Value) -> Vec<Alert> {
        let kind = event["event"]["kind"].as_str().unwrap_or_default();
        let event_id = event["event"]["id"].as_str().unwrap_or_default();
        let timestamp = event["@timestamp"].as_str().unwrap_or_default();
        let at_ms = kestrel_event::parse_timestamp(timestamp)
            .map(|t| t.timestamp_millis())
            .unwrap_or_default();
        self.event_time_ms = self.event_time_ms.max(at_ms);
        let mut alerts = Vec::new();
        self.advance_baselines(self.event_time_ms, &mut alerts);
        let mut candidates = std::mem::take(&mut self.candidates);
        let mut matched = Vec::new();
        {
            let mut view = EventView::new(event);
            self.index.candidates_in(kind, &mut view, &mut candidates);
            matched.extend(
                candidates
                    .iter()
                    .copied()
                    .filter(|&i| self.rules[i].matches_view(&mut view)),
            );
        }
        for i in matched {
            let rule = &self.rules[i];
            let mut references: Vec<String> = std::iter::once(rule.id.clone())
                .chain(rule.name.clone())
                .collect();
            references.dedup();
            let silent = references.iter().any(|r| self.silent.contains(r));
            if !silent {
                let alert = single_alert(rule, event_id, at_ms);
                self.suppression.apply(alert, event, at_ms, &mut alerts);
            }
            for reference in references {
                self.feed_correlations(&reference, event, event_id, at_ms, &mut alerts, 0);
            }
        }
        self.candidates = candidates;
        alerts
    }

    fn feed_correlations(
        &mut self,
        reference: &str,
        event: &Value,
        event_id: &str,
        at_ms: i64,
        alerts: &mut Vec<Alert>,
        depth: usize,
    ) {
        // Chains deeper than the number of correlations would be a cycle.
        if depth > self.correlations.len() {
            return;
        }
        let Some(targets) = self.feeds.get(reference).cloned() else {
            return;
        };
        for index in targets {
            let correlation = &self.correlations[index];
            if correlation.kind == CorrelationKind::VolumeBaseline {
                self.observe_baseline(index, reference, event, event_id, at_ms, alerts);
                continue;
            }
            let Some(hit) = self
                .state
                .observe(correlation, reference, event, event_id, at_ms)
            else {
                continue;
            };
            let correlation = &self.correlations[index];
            let alert = correlation_alert(correlation, &hit);
            let mut references: Vec<String> = std::iter::once(correlation.id.clone())
                .chain(correlation.name.clone())
                .collect();
            references.dedup();
            self.suppression.apply(alert, event, at_ms, alerts);
            for reference in references {
                self.feed_correlations(&reference, event, event_id, at_ms, alerts, depth + 1);
            }
        }
    }

    /// Alerts whose suppression window counted repeats, with their final `suppressed` and
    /// `last_seen` (same `id` as when first raised), for windows closed before `now_ms`, an
    /// event time (`i64::MAX`: all; see [`Detector::event_time_ms`]). Call periodically, and
    /// at the end of a hunt.
    /// Also closes the bins of volume baselines that ended by `now_ms` (so a container gone
    /// silent is noticed without events); `i64::MAX` closes no bin.
    pub fn close_windows(&mut self, now_ms: i64) -> Vec<Alert> {
        let mut alerts = self.suppression.close(now_ms);
        if now_ms != i64::MAX {
            self.advance_baselines(now_ms, &mut alerts);
        }
        alerts
    }

    /// The learned volume baselines.
    pub fn baselines(&self) -> &BaselineState {
        &self.baselines
    }

    fn advance_baselines(&mut self, now_ms: i64, alerts: &mut Vec<Alert>) {
        let mut hits = Vec::new();
        for correlation in &self.correlations {
            if let Some(baseline) = baseline_ref(correlation) {
                self.baselines.advance(baseline, now_ms, &mut hits);
            }
        }
        self.raise_baseline_hits(hits, alerts);
    }

    fn observe_baseline(
        &mut self,
        index: usize,
        reference: &str,
        event: &Value,
        event_id: &str,
        at_ms: i64,
        alerts: &mut Vec<Alert>,
    ) {
        let values = self.correlations[index].group_of(reference, event);
        let mut hits = Vec::new();
        if let Some(baseline) = baseline_ref(&self.correlations[index]) {
            self.baselines
                .observe(baseline, values, event_id, at_ms, &mut hits);
        }
        self.raise_baseline_hits(hits, alerts);
    }

    fn raise_baseline_hits(&self, hits: Vec<BaselineHit>, alerts: &mut Vec<Alert>) {
        for hit in hits {
            let Some(correlation) = self.correlations.iter().find(|c| c.id == hit.correlation)
            else {
                continue;
            };
            // Baseline alerts are already one per episode: no suppression window.
            alerts.push(baseline_alert(correlation, &hit));
        }
    }
}

fn baseline_ref(correlation: &CompiledCorrelation) -> Option<BaselineRef<'_>> {
    Some(BaselineRef {
        id: &correlation.id,
        timespan_ms: correlation.timespan_ms,
        group_by: &correlation.group_by,
        config: correlation.baseline.as_ref()?,
    })
}

fn baseline_alert(correlation: &CompiledCorrelation, hit: &BaselineHit) -> Alert {
    let mut ids = hit.event_ids.clone();
    ids.truncate(MAX_EVENT_IDS);
    let first = format!("{}@{}", hit.direction.as_str(), hit.start_ms);
    let query = if ids.is_empty() {
        hit.group
            .iter()
            .map(|(k, v)| format!("{k}:{v:?}"))
            .collect::<Vec<_>>()
            .join(" AND ")
    } else {
        ids_query(&ids)
    };
    let round = |x: f64| serde_json::json!((x * 100.0).round() / 100.0);
    let fields = BTreeMap::from([
        (
            "baseline.direction".to_owned(),
            serde_json::json!(hit.direction.as_str()),
        ),
        ("baseline.count".to_owned(), serde_json::json!(hit.count)),
        ("baseline.mean".to_owned(), round(hit.mean)),
        ("baseline.deviation".to_owned(), round(hit.deviation)),
    ]);
    Alert {
        id: alert_id(&correlation.id, &hit.group, &first),
        rule_id: correlation.id.clone(),
        title: correlation.title.clone(),
        level: correlation.level.clone(),
        tags: correlation.tags.clone(),
        first_seen: format_ms(hit.start_ms),
        last_seen: format_ms(hit.end_ms),
        group: hit.group.clone(),
        count: hit.count,
        suppressed: 0,
        query,
        event_ids: ids,
        fields,
        filters: Vec::new(),
    }
}

fn format_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| kestrel_event::format_timestamp(&t))
        .unwrap_or_default()
}

fn ids_query(ids: &[String]) -> String {
    format!("event.id:IN [{}]", ids.join(" "))
}

fn alert_id(rule: &str, group: &BTreeMap<String, String>, first_event: &str) -> String {
    let mut key = format!("{rule}\u{1f}{first_event}");
    for (k, v) in group {
        key.push_str(&format!("\u{1f}{k}={v}"));
    }
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(key.as_bytes()))
}

fn single_alert(rule: &CompiledRule, event_id: &str, at_ms: i64) -> Alert {
    let ids = vec![event_id.to_owned()];
    Alert {
        id: alert_id(&rule.id, &BTreeMap::new(), event_id),
        rule_id: rule.id.clone(),
        title: rule.title.clone(),
        level: rule.level.clone(),
        tags: rule.tags.clone(),
        first_seen: format_ms(at_ms),
        last_seen: format_ms(at_ms),
        group: BTreeMap::new(),
        count: 1,
        suppressed: 0,
        query: ids_query(&ids),
        event_ids: ids,
        fields: BTreeMap::new(),
        filters: rule.filters.clone(),
    }
}

fn correlation_alert(correlation: &CompiledCorrelation, hit: &CorrelationHit) -> Alert {
    let mut ids = hit.event_ids.clone();
    ids.truncate(MAX_EVENT_IDS);
    Alert {
        id: alert_id(
            &correlation.id,
            &hit.group,
            ids.first().map_or("", String::as_str),
        ),
        rule_id: correlation.id.clone(),
        title: correlation.title.clone(),
        level: correlation.level.clone(),
        tags: correlation.tags.clone(),
        first_seen: format_ms(hit.first_ms),
        last_seen: format_ms(hit.last_ms),
        group: hit.group.clone(),
        count: hit.count,
        suppressed: 0,
        query: ids_query(&ids),
        event_ids: ids,
        fields: hit
            .fields
            .iter()
            .map(|(name, value)| (name.clone(), Value::String(value.clone())))
            .collect(),
        filters: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::parse_rules;
    use serde_json::json;

    const RULES: &str = r#"
title: Forbidden request
id: forbidden
name: forbidden
logsource: {product: kubernetes, service: audit}
detection:
  sel: {responseStatus.code: [401, 403]}
  condition: sel
level: low
tags: [attack.t1613]
---
title: Burst of forbidden requests from one source
id: forbidden-burst
correlation:
  type: event_count
  rules: [forbidden]
  group-by: [sourceIPs]
  timespan: 1m
  condition: {gte: 3}
level: high
tags: [attack.t1613]
---
title: Exec into a pod
id: exec
logsource: {product: kubernetes, service: audit}
detection:
  sel: {verb: create, objectRef.subresource: exec}
  condition: sel
suppression: {by: [user.username], window: 10m}
"#;

    fn event(id: u32, second: u32, body: Value) -> Value {
        let mut event = json!({
            "@timestamp": format!("2024-05-01T10:00:{second:02}Z"),
            "event": {"kind": "k8s_audit", "id": format!("e{id}")},
        });
        for (k, v) in body.as_object().unwrap() {
            event[k] = v.clone();
        }
        event
    }

    #[test]
    fn correlated_rules_stay_silent_and_the_correlation_alerts_with_its_events() {
        let mut detector = Detector::new(&parse_rules("t", RULES).unwrap()).unwrap();
        let denied = |id, s| {
            event(
                id,
                s,
                json!({"responseStatus": {"code": 403}, "sourceIPs": ["9.9.9.9"]}),
            )
        };
        assert!(detector.evaluate(&denied(1, 0)).is_empty());
        assert!(detector.evaluate(&denied(2, 1)).is_empty());
        let alerts = detector.evaluate(&denied(3, 2));
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        let alert = &alerts[0];
        assert_eq!(alert.rule_id, "forbidden-burst");
        assert_eq!(alert.level, "high");
        assert_eq!(alert.count, 3);
        assert_eq!(alert.group["sourceIPs"], "9.9.9.9");
        assert_eq!(alert.event_ids, ["e1", "e2", "e3"]);
        assert_eq!(alert.query, "event.id:IN [e1 e2 e3]");
        assert_eq!(alert.first_seen, "2024-05-01T10:00:00.000000000Z");
        assert_eq!(alert.last_seen, "2024-05-01T10:00:02.000000000Z");
    }

    #[test]
    fn suppression_counts_repeats_on_the_first_alert() {
        let mut detector = Detector::new(&parse_rules("t", RULES).unwrap()).unwrap();
        let exec = |id, s, user: &str| {
            event(
                id,
                s,
                json!({"verb": "create", "objectRef": {"subresource": "exec"}, "user": {"username": user}}),
            )
        };
        let first = detector.evaluate(&exec(1, 0, "alice"));
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].group["user.username"], "alice");
        assert!(detector.evaluate(&exec(2, 5, "alice")).is_empty());
        assert!(detector.evaluate(&exec(3, 6, "alice")).is_empty());
        assert_eq!(detector.evaluate(&exec(4, 7, "bob")).len(), 1, "other key");
        let updates = detector.close_windows(i64::MAX);
        assert_eq!(updates.len(), 1);
        assert_eq!(updates[0].id, first[0].id);
        assert_eq!(updates[0].suppressed, 2);
        assert_eq!(updates[0].last_seen, "2024-05-01T10:00:06.000000000Z");
    }

    #[test]
    fn a_repeat_after_the_window_ends_raises_the_update_then_a_new_alert() {
        let mut detector = Detector::new(&parse_rules("t", RULES).unwrap()).unwrap();
        let exec = |id, minute: u32| {
            let mut e = event(
                id,
                0,
                json!({"verb": "create", "objectRef": {"subresource": "exec"}, "user": {"username": "alice"}}),
            );
            e["@timestamp"] = json!(format!("2024-05-01T10:{minute:02}:00Z"));
            e
        };
        let first = detector.evaluate(&exec(1, 0));
        assert!(detector.evaluate(&exec(2, 3)).is_empty());
        let later = detector.evaluate(&exec(3, 11));
        assert_eq!(later.len(), 2, "{later:?}");
        assert!(later[0].is_update());
        assert_eq!(
            (later[0].id.as_str(), later[0].suppressed),
            (first[0].id.as_str(), 1)
        );
        assert!(!later[1].is_update());
        assert_ne!(later[1].id, first[0].id);
        assert!(
            detector.close_windows(i64::MAX).is_empty(),
            "the new window counted nothing"
        );
    }

    #[test]
    fn suppression_windows_and_event_time_survive_a_save_and_restore() {
        let rules = parse_rules("t", RULES).unwrap();
        let mut detector = Detector::new(&rules).unwrap();
        let exec = |id, s| {
            event(
                id,
                s,
                json!({"verb": "create", "objectRef": {"subresource": "exec"}, "user": {"username": "alice"}}),
            )
        };
        let first = detector.evaluate(&exec(1, 0));
        assert!(detector.evaluate(&exec(2, 5)).is_empty());
        let saved = detector.save_state().unwrap();

        let mut restarted = Detector::new(&rules).unwrap();
        restarted.restore_state(&saved).unwrap();
        assert_eq!(restarted.event_time_ms(), detector.event_time_ms());
        assert!(
            restarted.evaluate(&exec(3, 9)).is_empty(),
            "still suppressed"
        );
        let updates = restarted.close_windows(i64::MAX);
        assert_eq!(updates.len(), 1);
        assert_eq!(
            (updates[0].id.as_str(), updates[0].suppressed),
            (first[0].id.as_str(), 2)
        );
    }

    #[test]
    fn state_saved_before_suppression_was_saved_still_restores_correlations() {
        let rules = parse_rules("t", RULES).unwrap();
        let mut detector = Detector::new(&rules).unwrap();
        let denied = |id, s| {
            event(
                id,
                s,
                json!({"responseStatus": {"code": 403}, "sourceIPs": ["9.9.9.9"]}),
            )
        };
        detector.evaluate(&denied(1, 0));
        detector.evaluate(&denied(2, 1));
        let old_format = serde_json::to_vec(detector.state()).unwrap();
        let mut restarted = Detector::new(&rules).unwrap();
        restarted.restore_state(&old_format).unwrap();
        assert_eq!(restarted.evaluate(&denied(3, 2)).len(), 1);
        assert!(restarted.restore_state(b"{\"nope\": 1}").is_err());
    }

    const BASELINE_RULES: &str = r#"
title: line
name: line
logsource: {product: kubernetes, service: container}
detection:
  sel: {container.name|exists: true}
  condition: sel
---
title: spike
id: spike
correlation:
  type: volume_baseline
  rules: [line]
  group-by: [container.name]
  timespan: 1m
  baseline: {buckets: 1, warmup: 5, min_volume: 5}
level: low
"#;

    /// `n` lines of container api in minute `minute`.
    fn lines(detector: &mut Detector, minute: u32, n: u32) -> Vec<Alert> {
        (0..n)
            .flat_map(|i| {
                let e = json!({
                    "@timestamp": format!("2024-05-01T10:{minute:02}:{:02}Z", i % 60),
                    "event": {"kind": "container", "id": format!("m{minute}-{i}")},
                    "container": {"name": "api"},
                });
                detector.evaluate(&e)
            })
            .collect()
    }

    #[test]
    fn a_restored_detector_keeps_its_learned_baseline() {
        let rules = parse_rules("t", BASELINE_RULES).unwrap();
        let mut detector = Detector::new(&rules).unwrap();
        for minute in 0..10 {
            assert!(lines(&mut detector, minute, 10).is_empty());
        }
        let saved = detector.save_state().unwrap();
        let mut restarted = Detector::new(&rules).unwrap();
        restarted.restore_state(&saved).unwrap();
        assert!(lines(&mut restarted, 10, 100).is_empty(), "bin still open");
        let alerts = restarted.close_windows(11 * 60_000 + 1_714_557_600_000);
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert_eq!(alerts[0].rule_id, "spike");
        assert_eq!(alerts[0].count, 100);
        assert_eq!(alerts[0].fields["baseline.mean"], json!(10.0));
        let mut fresh = Detector::new(&rules).unwrap();
        assert!(lines(&mut fresh, 10, 100).is_empty());
        assert!(fresh.close_windows(i64::MAX - 1).is_empty(), "warm-up");
    }

    #[test]
    fn rules_only_see_the_events_of_their_log_source() {
        let mut detector = Detector::new(&parse_rules("t", RULES).unwrap()).unwrap();
        let mut container = event(
            1,
            0,
            json!({"verb": "create", "objectRef": {"subresource": "exec"}}),
        );
        container["event"]["kind"] = json!("container");
        assert!(detector.evaluate(&container).is_empty());
    }
}
