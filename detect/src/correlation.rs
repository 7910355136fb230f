//! Sigma correlation rules: `event_count`, `value_count`, `temporal` and `temporal_ordered`
//! over the matches of other rules (or correlations), per group of field values, within a
//! time window measured on the events' own timestamps.
//!
//! State is bounded: windows keep only what the condition can still need, expired groups are
//! dropped, and at most [`MAX_GROUPS`] groups live per correlation (the stalest goes first).
//! It serializes, so it can be saved and restored across restarts.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::baseline::BaselineConfig;
use crate::compile::resolve;
use crate::error::RuleError;
use crate::rule::CorrelationRule;
use crate::value::text;

/// Most groups tracked per correlation.
pub const MAX_GROUPS: usize = 100_000;

/// Most matches remembered per group (and per rule, for temporal correlations).
const MAX_MATCHES: usize = 1_000;

/// The kind of correlation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorrelationKind {
    /// Number of matching events.
    EventCount,
    /// Number of distinct values of a field.
    ValueCount,
    /// Every referenced rule matched, in any order.
    Temporal,
    /// Every referenced rule matched, in the listed order.
    TemporalOrdered,
    /// Kestrel extension: matches per bin compared with a learned baseline
    /// ([`crate::baseline`]).
    VolumeBaseline,
}

/// A threshold: every bound given must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Threshold {
    gt: Option<f64>,
    gte: Option<f64>,
    lt: Option<f64>,
    lte: Option<f64>,
    eq: Option<f64>,
    neq: Option<f64>,
}

impl Threshold {
    fn holds(&self, n: f64) -> bool {
        self.gt.is_none_or(|b| n > b)
            && self.gte.is_none_or(|b| n >= b)
            && self.lt.is_none_or(|b| n < b)
            && self.lte.is_none_or(|b| n <= b)
            && self.eq.is_none_or(|b| n == b)
            && self.neq.is_none_or(|b| n != b)
    }

    /// The count from which no larger count can change the outcome (windows keep no more).
    fn cap(&self) -> usize {
        let bounds = [
            self.gt.map(|b| b + 1.0),
            self.gte,
            self.lt,
            self.lte,
            self.eq,
            self.neq,
        ];
        let max = bounds.into_iter().flatten().fold(0.0f64, f64::max);
        ((max as usize) + 1).clamp(1, MAX_MATCHES)
    }
}

/// A correlation rule ready to evaluate.
#[derive(Debug, Clone)]
pub struct CompiledCorrelation {
    /// Id, else name, else title.
    pub id: String,
    /// Name by which other correlations refer to it.
    pub name: Option<String>,
    /// Title.
    pub title: String,
    /// Level.
    pub level: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Kind.
    pub kind: CorrelationKind,
    /// Referenced rules (names or ids), in order.
    pub rules: Vec<String>,
    /// Group-by fields (alias names where aliases are defined).
    pub group_by: Vec<String>,
    /// Window in milliseconds.
    pub timespan_ms: i64,
    /// Whether the referenced rules also alert on their own.
    pub generate: bool,
    /// For volume_baseline: its settings.
    pub baseline: Option<BaselineConfig>,
    threshold: Threshold,
    /// For value_count: the field whose distinct values are counted.
    field: Option<String>,
    /// alias -> (rule reference -> field).
    aliases: HashMap<String, HashMap<String, String>>,
    /// Fields whose values in the completing events the alert lists (Sigma's `fields`).
    pub fields: Vec<String>,
}

impl CompiledCorrelation {
    /// Compiles a correlation rule; errors name the rule and the part at fault.
    pub fn compile(rule: &CorrelationRule) -> Result<CompiledCorrelation, RuleError> {
        let reference = rule
            .id
            .clone()
            .or_else(|| rule.name.clone())
            .unwrap_or_else(|| rule.title.clone());
        let error = |part: &str, message: String| RuleError::Detection {
            rule: reference.clone(),
            part: format!("correlation.{part}"),
            message,
        };
        let c = &rule.correlation;
        let kind = match c.kind.as_str() {
            "event_count" => CorrelationKind::EventCount,
            "value_count" => CorrelationKind::ValueCount,
            "temporal" => CorrelationKind::Temporal,
            "temporal_ordered" => CorrelationKind::TemporalOrdered,
            "volume_baseline" => CorrelationKind::VolumeBaseline,
            other => return Err(error("type", format!("unsupported type {other:?}"))),
        };
        if c.rules.is_empty() {
            return Err(error("rules", "at least one rule is required".into()));
        }
        let timespan_ms = parse_timespan(&c.timespan).map_err(|m| error("timespan", m))?;
        let baseline = match kind {
            CorrelationKind::VolumeBaseline => Some(
                BaselineConfig::parse(c.baseline.as_ref())
                    .map_err(|(field, message)| error(&field, message))?,
            ),
            _ if c.baseline.is_some() => {
                return Err(error(
                    "baseline",
                    "only a volume_baseline correlation takes baseline settings".into(),
                ))
            }
            _ => None,
        };
        let mut threshold = Threshold::default();
        let mut field = None;
        for (key, value) in c.condition.iter().flatten() {
            if key == "field" {
                field = value.as_str().map(str::to_owned);
                continue;
            }
            let n = value
                .as_f64()
                .ok_or_else(|| error("condition", format!("{key} needs a number")))?;
            let slot = match key.as_str() {
                "gt" => &mut threshold.gt,
                "gte" => &mut threshold.gte,
                "lt" => &mut threshold.lt,
                "lte" => &mut threshold.lte,
                "eq" => &mut threshold.eq,
                "neq" => &mut threshold.neq,
                other => return Err(error("condition", format!("unknown operator {other:?}"))),
            };
            *slot = Some(n);
        }
        let counting = matches!(
            kind,
            CorrelationKind::EventCount | CorrelationKind::ValueCount
        );
        if counting && threshold == Threshold::default() {
            return Err(error(
                "condition",
                "a threshold (gte, gt, ...) is required".into(),
            ));
        }
        if kind == CorrelationKind::ValueCount && field.is_none() {
            return Err(error(
                "condition",
                "value_count needs condition.field".into(),
            ));
        }
        let aliases = compile_aliases(c.aliases.as_ref(), &c.rules, &c.group_by)
            .map_err(|(part, message)| error(&part, message))?;
        Ok(CompiledCorrelation {
            id: reference.clone(),
            name: rule.name.clone(),
            title: rule.title.clone(),
            level: rule.level.clone().unwrap_or_else(|| "medium".into()),
            tags: rule.tags.clone(),
            kind,
            rules: c.rules.clone(),
            group_by: c.group_by.clone(),
            timespan_ms,
            generate: c.generate,
            baseline,
            threshold,
            field,
            aliases,
            fields: rule.fields.clone(),
        })
    }

    /// The group-by values of an event matched by `rule` (a reference in [`Self::rules`]).
    pub(crate) fn group_of(&self, rule: &str, event: &Value) -> Vec<String> {
        self.group_by
            .iter()
            .map(|name| {
                let field = self
                    .aliases
                    .get(name)
                    .and_then(|per_rule| per_rule.get(rule))
                    .map_or(name.as_str(), String::as_str);
                first_text(event, field)
            })
            .collect()
    }
}

/// The `aliases` of a correlation (Sigma's correlation spec): per alias, the field holding
/// its value in the events of each referenced rule (a rule it does not list has the field
/// named like the alias). Every alias must be a group-by field, keyed by rules of `rules`,
/// each mapped to a field name; errors give the part at fault.
fn compile_aliases(
    aliases: Option<&serde_json::Map<String, Value>>,
    rules: &[String],
    group_by: &[String],
) -> Result<HashMap<String, HashMap<String, String>>, (String, String)> {
    let mut compiled = HashMap::new();
    for (alias, per_rule) in aliases.into_iter().flatten() {
        let part = format!("aliases.{alias}");
        if !group_by.contains(alias) {
            return Err((part, "an alias must be one of the group-by fields".into()));
        }
        let per_rule = per_rule
            .as_object()
            .ok_or_else(|| (part.clone(), "must map each rule to a field".to_owned()))?;
        let mut map = HashMap::new();
        for (rule, field) in per_rule {
            if !rules.contains(rule) {
                return Err((
                    format!("{part}.{rule}"),
                    "not one of the correlated rules".into(),
                ));
            }
            let field = field
                .as_str()
                .filter(|f| !f.trim().is_empty())
                .ok_or_else(|| (format!("{part}.{rule}"), "must be a field name".to_owned()))?;
            map.insert(rule.clone(), field.to_owned());
        }
        compiled.insert(alias.clone(), map);
    }
    Ok(compiled)
}

fn first_text(event: &Value, field: &str) -> String {
    let mut found = Vec::new();
    resolve(event, field, &mut found);
    found.first().and_then(|v| text(v)).unwrap_or_default()
}

/// Parses `Ns`, `Nm`, `Nh`, `Nd` (and `Nw`) into milliseconds.
pub fn parse_timespan(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?} lacks a unit (s, m, h, d)"))?;
    let (number, unit) = text.split_at(split);
    let n: i64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration"))?;
    let unit_ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        other => return Err(format!("unknown unit {other:?} in {text:?} (s, m, h, d)")),
    };
    Ok(n * unit_ms)
}

/// One match fed to a correlation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Hit {
    at_ms: i64,
    event_id: String,
    value: Option<String>,
    /// The correlation's `fields` found in the event.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    fields: BTreeMap<String, String>,
}

/// The window of one group.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct GroupState {
    /// Matches, oldest first (counting correlations).
    hits: VecDeque<Hit>,
    /// Per referenced rule, its matches (temporal correlations).
    per_rule: BTreeMap<String, VecDeque<Hit>>,
    last_ms: i64,
}

/// What a correlation raised.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CorrelationHit {
    /// Which correlation.
    pub correlation: String,
    /// group-by field → value.
    pub group: BTreeMap<String, String>,
    /// Events counted (or distinct values for value_count).
    pub count: u64,
    /// Earliest event in the window, ms since the epoch.
    pub first_ms: i64,
    /// Latest event, ms since the epoch.
    pub last_ms: i64,
    /// Ids of the events in the window.
    pub event_ids: Vec<String>,
    /// The correlation's `fields` → their value in the events of the window (the earliest
    /// event holding one).
    pub fields: BTreeMap<String, String>,
}

/// The windows of every correlation, serializable to survive restarts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CorrelationState {
    /// correlation id → group key (values joined by U+001F) → window.
    groups: BTreeMap<String, HashMap<String, GroupState>>,
}

impl CorrelationState {
    /// Feeds one match of `rule` (a rule reference) at `at_ms` to `correlation`; returns the
    /// hit when its condition now holds (the group's window then starts afresh).
    pub fn observe(
        &mut self,
        correlation: &CompiledCorrelation,
        rule: &str,
        event: &Value,
        event_id: &str,
        at_ms: i64,
    ) -> Option<CorrelationHit> {
        let group = correlation.group_of(rule, event);
        let value = correlation.field.as_deref().map(|f| first_text(event, f));
        let key = group.join("\u{1f}");
        let groups = self.groups.entry(correlation.id.clone()).or_default();
        if groups.len() >= MAX_GROUPS && !groups.contains_key(&key) {
            evict_stalest(groups, at_ms - correlation.timespan_ms);
        }
        let state = groups.entry(key.clone()).or_default();
        state.last_ms = state.last_ms.max(at_ms);
        let hit = Hit {
            at_ms,
            event_id: event_id.to_owned(),
            value,
            fields: correlation
                .fields
                .iter()
                .map(|f| (f.clone(), first_text(event, f)))
                .filter(|(_, v)| !v.is_empty())
                .collect(),
        };
        let horizon = at_ms - correlation.timespan_ms;
        let fired = match correlation.kind {
            CorrelationKind::EventCount | CorrelationKind::ValueCount => {
                count_window(correlation, state, hit, horizon)
            }
            CorrelationKind::Temporal | CorrelationKind::TemporalOrdered => {
                temporal_window(correlation, state, rule, hit, horizon)
            }
            // Counted by the baseline state, never here.
            CorrelationKind::VolumeBaseline => None,
        }?;
        groups.remove(&key);
        let (count, mut hits) = fired;
        hits.sort_by_key(|h| h.at_ms);
        let mut fields = BTreeMap::new();
        for hit in &hits {
            for (name, value) in &hit.fields {
                fields.entry(name.clone()).or_insert_with(|| value.clone());
            }
        }
        Some(CorrelationHit {
            correlation: correlation.id.clone(),
            group: correlation.group_by.iter().cloned().zip(group).collect(),
            count,
            first_ms: hits.iter().map(|h| h.at_ms).min().unwrap_or(at_ms),
            last_ms: hits.iter().map(|h| h.at_ms).max().unwrap_or(at_ms),
            event_ids: hits.into_iter().map(|h| h.event_id).collect(),
            fields,
        })
    }

    /// Groups tracked, over all correlations.
    pub fn groups(&self) -> usize {
        self.groups.values().map(HashMap::len).sum()
    }

    /// Drops the groups whose last match is older than their window before `now_ms`.
    pub fn expire(&mut self, correlations: &[CompiledCorrelation], now_ms: i64) {
        for correlation in correlations {
            if let Some(groups) = self.groups.get_mut(&correlation.id) {
                groups.retain(|_, g| g.last_ms >= now_ms - correlation.timespan_ms);
            }
        }
    }
}

fn evict_stalest(groups: &mut HashMap<String, GroupState>, horizon: i64) {
    groups.retain(|_, g| g.last_ms >= horizon);
    if groups.len() < MAX_GROUPS {
        return;
    }
    if let Some(stalest) = groups
        .iter()
        .min_by_key(|(_, g)| g.last_ms)
        .map(|(k, _)| k.clone())
    {
        groups.remove(&stalest);
    }
}

fn count_window(
    correlation: &CompiledCorrelation,
    state: &mut GroupState,
    hit: Hit,
    horizon: i64,
) -> Option<(u64, Vec<Hit>)> {
    state.hits.retain(|h| h.at_ms > horizon);
    if correlation.kind == CorrelationKind::ValueCount {
        // One entry per distinct value, with its latest match.
        state.hits.retain(|h| h.value != hit.value);
    }
    state.hits.push_back(hit);
    let cap = correlation.threshold.cap();
    while state.hits.len() > cap {
        state.hits.pop_front();
    }
    let count = state.hits.len() as u64;
    correlation
        .threshold
        .holds(count as f64)
        .then(|| (count, state.hits.drain(..).collect()))
}

fn temporal_window(
    correlation: &CompiledCorrelation,
    state: &mut GroupState,
    rule: &str,
    hit: Hit,
    horizon: i64,
) -> Option<(u64, Vec<Hit>)> {
    for hits in state.per_rule.values_mut() {
        hits.retain(|h| h.at_ms > horizon);
    }
    let hits = state.per_rule.entry(rule.to_owned()).or_default();
    hits.push_back(hit);
    if hits.len() > MAX_MATCHES {
        hits.pop_front();
    }
    let chain = match correlation.kind {
        CorrelationKind::TemporalOrdered => ordered_chain(&correlation.rules, &state.per_rule)?,
        _ => correlation
            .rules
            .iter()
            .map(|r| state.per_rule.get(r).and_then(|h| h.back()).cloned())
            .collect::<Option<Vec<_>>>()?,
    };
    state.per_rule.clear();
    Some((chain.len() as u64, chain))
}

/// Matches of `rules` in that order (each no earlier than the previous), latest possible.
fn ordered_chain(rules: &[String], per_rule: &BTreeMap<String, VecDeque<Hit>>) -> Option<Vec<Hit>> {
    let mut chain: Vec<Hit> = Vec::with_capacity(rules.len());
    let mut not_after = i64::MAX;
    for rule in rules.iter().rev() {
        let hit = per_rule
            .get(rule)?
            .iter()
            .rev()
            .find(|h| h.at_ms <= not_after)?;
        not_after = hit.at_ms;
        chain.push(hit.clone());
    }
    chain.reverse();
    Some(chain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::{parse_rules, RuleDocument};
    use serde_json::json;

    fn correlation(yaml: &str) -> CompiledCorrelation {
        match parse_rules("test", yaml).unwrap().remove(0) {
            RuleDocument::Correlation(rule) => CompiledCorrelation::compile(&rule).unwrap(),
            _ => panic!("not a correlation"),
        }
    }

    fn feed(
        state: &mut CorrelationState,
        c: &CompiledCorrelation,
        rule: &str,
        event: Value,
        at_s: i64,
    ) -> Option<CorrelationHit> {
        let id = format!("e{at_s}");
        state.observe(c, rule, &event, &id, at_s * 1000)
    }

    #[test]
    fn event_count_fires_at_the_threshold_within_the_window_per_group() {
        let c = correlation(
            "title: burst\ncorrelation:\n  type: event_count\n  rules: [forbidden]\n  group-by: [sourceIPs]\n  timespan: 5m\n  condition: {gte: 3}\n",
        );
        let mut state = CorrelationState::default();
        let a = json!({"sourceIPs": ["1.2.3.4"]});
        let b = json!({"sourceIPs": ["5.6.7.8"]});
        assert!(feed(&mut state, &c, "forbidden", a.clone(), 0).is_none());
        assert!(feed(&mut state, &c, "forbidden", b.clone(), 10).is_none());
        assert!(feed(&mut state, &c, "forbidden", a.clone(), 200).is_none());
        // At 400 s the match at 0 has left the 5 minute window.
        assert!(feed(&mut state, &c, "forbidden", a.clone(), 400).is_none());
        assert!(feed(&mut state, &c, "forbidden", b.clone(), 30).is_none());
        let hit = feed(&mut state, &c, "forbidden", a.clone(), 410).expect("third within 5m");
        assert_eq!(hit.count, 3);
        assert_eq!(hit.group["sourceIPs"], "1.2.3.4");
        assert_eq!(hit.event_ids, ["e200", "e400", "e410"]);
        // The window restarts after an alert.
        assert!(feed(&mut state, &c, "forbidden", a, 420).is_none());
    }

    #[test]
    fn value_count_counts_distinct_values() {
        let c = correlation(
            "title: enum\ncorrelation:\n  type: value_count\n  rules: [secret_get]\n  group-by: [user.username]\n  timespan: 10m\n  condition: {field: objectRef.name, gte: 3}\n",
        );
        let mut state = CorrelationState::default();
        let get =
            |name: &str| json!({"user": {"username": "mallory"}, "objectRef": {"name": name}});
        assert!(feed(&mut state, &c, "secret_get", get("a"), 0).is_none());
        assert!(feed(&mut state, &c, "secret_get", get("a"), 1).is_none());
        assert!(feed(&mut state, &c, "secret_get", get("b"), 2).is_none());
        let hit = feed(&mut state, &c, "secret_get", get("c"), 3).expect("three names");
        assert_eq!(hit.count, 3);
    }

    #[test]
    fn temporal_ordered_needs_the_order_and_aliases_join_fields() {
        let c = correlation(
            "title: rbac then workload\ncorrelation:\n  type: temporal_ordered\n  rules: [rbac_change, workload_create]\n  group-by: [actor]\n  timespan: 5m\n  aliases:\n    actor:\n      rbac_change: user.username\n      workload_create: impersonatedUser.username\n",
        );
        let mut state = CorrelationState::default();
        let rbac = json!({"user": {"username": "eve"}});
        let work = json!({"impersonatedUser": {"username": "eve"}});
        // Workload first, then RBAC: wrong order.
        assert!(feed(&mut state, &c, "workload_create", work.clone(), 0).is_none());
        assert!(feed(&mut state, &c, "rbac_change", rbac.clone(), 10).is_none());
        let hit = feed(&mut state, &c, "workload_create", work.clone(), 20).expect("in order");
        assert_eq!(hit.group["actor"], "eve");
        assert_eq!(hit.event_ids, ["e10", "e20"]);
        // Too far apart.
        assert!(feed(&mut state, &c, "rbac_change", rbac, 100).is_none());
        assert!(feed(&mut state, &c, "workload_create", work, 500).is_none());
    }

    #[test]
    fn aliases_join_fields_of_other_names_and_fields_name_the_completing_events() {
        let c = correlation(
            "title: exec then shell\nfields: [user.username, falco.rule, missing.field]\ncorrelation:\n  type: temporal_ordered\n  rules: [exec, shell]\n  group-by: [kubernetes.namespace, kubernetes.pod.name]\n  timespan: 5m\n  aliases:\n    kubernetes.namespace:\n      exec: objectRef.namespace\n      shell: kubernetes.namespace\n    kubernetes.pod.name:\n      exec: objectRef.name\n",
        );
        let mut state = CorrelationState::default();
        let exec = |user: &str, pod: &str| json!({"user": {"username": user}, "objectRef": {"namespace": "prod", "name": pod}});
        let shell = |pod: &str| json!({"falco": {"rule": "Terminal shell in container"}, "kubernetes": {"namespace": "prod", "pod": {"name": pod}}});
        assert!(feed(&mut state, &c, "exec", exec("alice", "api-7"), 0).is_none());
        assert!(feed(&mut state, &c, "shell", shell("web-1"), 10).is_none());
        assert!(feed(&mut state, &c, "exec", exec("mallory", "api-7"), 20).is_none());
        let hit = feed(&mut state, &c, "shell", shell("api-7"), 30).expect("same pod");
        assert_eq!(hit.group["kubernetes.namespace"], "prod");
        assert_eq!(hit.group["kubernetes.pod.name"], "api-7");
        assert_eq!(hit.event_ids, ["e20", "e30"]);
        assert_eq!(hit.fields["user.username"], "mallory");
        assert_eq!(hit.fields["falco.rule"], "Terminal shell in container");
        assert!(!hit.fields.contains_key("missing.field"));
    }

    #[test]
    fn aliases_must_name_group_by_fields_and_correlated_rules() {
        let compile = |aliases: &str| {
            let yaml = format!(
                "title: t\ncorrelation:\n  type: temporal\n  rules: [a, b]\n  group-by: [pod]\n  timespan: 5m\n  aliases:\n{aliases}"
            );
            match parse_rules("test", &yaml).unwrap().remove(0) {
                RuleDocument::Correlation(rule) => CompiledCorrelation::compile(&rule)
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
                RuleDocument::Detection(_) | RuleDocument::Filter(_) => panic!("not a correlation"),
            }
        };
        assert_eq!(
            compile("    pod:\n      a: objectRef.name\n      b: kubernetes.pod.name\n"),
            Ok(())
        );
        let err = compile("    node:\n      a: x\n").unwrap_err();
        assert!(
            err.contains("correlation.aliases.node") && err.contains("group-by"),
            "{err}"
        );
        let err = compile("    pod:\n      c: x\n").unwrap_err();
        assert!(
            err.contains("correlation.aliases.pod.c")
                && err.contains("not one of the correlated rules"),
            "{err}"
        );
        let err = compile("    pod:\n      a: [x]\n").unwrap_err();
        assert!(
            err.contains("correlation.aliases.pod.a") && err.contains("field name"),
            "{err}"
        );
        let err = compile("    pod: objectRef.name\n").unwrap_err();
        assert!(err.contains("correlation.aliases.pod"), "{err}");
    }

    #[test]
    fn temporal_accepts_any_order() {
        let c = correlation(
            "title: both\ncorrelation:\n  type: temporal\n  rules: [a, b]\n  group-by: [host]\n  timespan: 1m\n",
        );
        let mut state = CorrelationState::default();
        let e = json!({"host": "n1"});
        assert!(feed(&mut state, &c, "b", e.clone(), 0).is_none());
        assert!(feed(&mut state, &c, "a", e, 30).is_some());
    }

    #[test]
    fn state_survives_serialization_and_stays_bounded() {
        let c = correlation(
            "title: burst\ncorrelation:\n  type: event_count\n  rules: [r]\n  group-by: [ip]\n  timespan: 1h\n  condition: {gte: 2}\n",
        );
        let mut state = CorrelationState::default();
        assert!(feed(&mut state, &c, "r", json!({"ip": "a"}), 0).is_none());
        let saved = serde_json::to_string(&state).unwrap();
        let mut restored: CorrelationState = serde_json::from_str(&saved).unwrap();
        assert!(feed(&mut restored, &c, "r", json!({"ip": "a"}), 1).is_some());
        for i in 0..(MAX_GROUPS as i64 + 10) {
            feed(&mut restored, &c, "r", json!({ "ip": i.to_string() }), 2);
        }
        assert!(restored.groups() <= MAX_GROUPS);
        restored.expire(&[c], 10_000_000);
        assert_eq!(restored.groups(), 0);
    }

    #[test]
    fn bad_correlations_are_explained() {
        let yaml = "title: x\ncorrelation:\n  type: event_count\n  rules: [r]\n  timespan: 5 minutes\n  condition: {gte: 1}\n";
        let RuleDocument::Correlation(rule) = parse_rules("t", yaml).unwrap().remove(0) else {
            panic!()
        };
        let err = CompiledCorrelation::compile(&rule).unwrap_err().to_string();
        assert!(err.contains("timespan"), "{err}");
    }
}
