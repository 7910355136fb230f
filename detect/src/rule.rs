//! The Sigma rule format: detection rules and correlation rules.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::RuleError;
use crate::filter::{apply_filters, SigmaFilter};
use crate::placeholder::{unknown_message, used_in, Placeholders};

/// Where a rule's events come from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct LogSource {
    /// e.g. `application`.
    #[serde(default)]
    pub category: Option<String>,
    /// e.g. `kubernetes`.
    #[serde(default)]
    pub product: Option<String>,
    /// e.g. `audit`.
    #[serde(default)]
    pub service: Option<String>,
}

/// A Sigma detection rule, as written.
#[derive(Debug, Clone, Deserialize)]
pub struct SigmaRule {
    /// Short title.
    pub title: String,
    /// Unique id (UUID).
    #[serde(default)]
    pub id: Option<String>,
    /// Name by which correlation rules refer to it.
    #[serde(default)]
    pub name: Option<String>,
    /// `stable`, `test`, `experimental`...
    #[serde(default)]
    pub status: Option<String>,
    /// What it detects.
    #[serde(default)]
    pub description: Option<String>,
    /// Tags, among them MITRE ATT&CK techniques (`attack.t1609`).
    #[serde(default)]
    pub tags: Vec<String>,
    /// `informational`, `low`, `medium`, `high` or `critical`.
    #[serde(default)]
    pub level: Option<String>,
    /// Which events it applies to.
    #[serde(default)]
    pub logsource: LogSource,
    /// Search identifiers and the condition.
    pub detection: Map<String, Value>,
    /// Known benign causes.
    #[serde(default)]
    pub falsepositives: Vec<String>,
    /// Kestrel's extension: how repeated matches are folded into one alert.
    #[serde(default)]
    pub suppression: Option<Suppression>,
    /// Kestrel's extension: events the rule must and must not match (`kestrel rules test`).
    #[serde(default)]
    pub tests: Option<RuleTests>,
    /// The values of the placeholders its `expand` fields name, set when it is loaded (see
    /// [`load_rules_with`]); not part of the rule's text.
    #[serde(skip)]
    pub placeholders: Placeholders,
    /// The Sigma filters that refine it (see [`crate::filter`]), attached when the rules are
    /// loaded; not part of the rule's text.
    #[serde(skip)]
    pub filters: Vec<SigmaFilter>,
}

/// Test events of a rule (a custom attribute): partial events, completed with `event.kind`
/// from the log source, a `@timestamp` one second apart and an `event.id` when missing.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleTests {
    /// Events a detection rule must match.
    #[serde(default, rename = "match")]
    pub must_match: Vec<Value>,
    /// Events a detection rule must not match.
    #[serde(default)]
    pub no_match: Vec<Value>,
    /// Events fed in order to a correlation (with the other rules of its file).
    #[serde(default)]
    pub sequence: Vec<Value>,
    /// Alerts the correlation must raise on `sequence` (default 1).
    #[serde(default)]
    pub alerts: Option<u64>,
    /// For a `volume_baseline` correlation: settings replacing those of its `baseline` for
    /// the sequence test only (a short `warmup`, so the sequence stays short).
    #[serde(default)]
    pub baseline: Option<Map<String, Value>>,
}

/// Suppression of repeated alerts (a custom attribute, which Sigma allows): matches of the
/// rule with the same values of `by` within `window` of the first are counted on its alert
/// instead of raising new ones.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Suppression {
    /// Fields whose values identify a repeat (none: every match of the rule).
    #[serde(default)]
    pub by: Vec<String>,
    /// How long after an alert repeats are folded into it (`10m`).
    pub window: String,
}

impl SigmaRule {
    /// The id if any, else the name, else the title: how errors and alerts name the rule.
    pub fn reference(&self) -> &str {
        self.id
            .as_deref()
            .or(self.name.as_deref())
            .unwrap_or(&self.title)
    }
}

/// A Sigma correlation rule: a condition over the matches of other rules in a time window.
#[derive(Debug, Clone, Deserialize)]
pub struct CorrelationRule {
    /// Short title.
    pub title: String,
    /// Unique id.
    #[serde(default)]
    pub id: Option<String>,
    /// Name by which other correlations refer to it.
    #[serde(default)]
    pub name: Option<String>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Level of its alerts.
    #[serde(default)]
    pub level: Option<String>,
    /// Fields worth showing with an alert (Sigma's `fields`): a correlation's alert lists
    /// under `fields` each one's value in the events that completed it.
    #[serde(default)]
    pub fields: Vec<String>,
    /// The correlation itself.
    pub correlation: Correlation,
    /// Suppression of repeated alerts.
    #[serde(default)]
    pub suppression: Option<Suppression>,
    /// Test events (`sequence`, `alerts`).
    #[serde(default)]
    pub tests: Option<RuleTests>,
}

/// The `correlation` section.
#[derive(Debug, Clone, Deserialize)]
pub struct Correlation {
    /// `event_count`, `value_count`, `temporal` or `temporal_ordered`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The rules correlated, by name or id.
    pub rules: Vec<String>,
    /// Fields whose values group the matches.
    #[serde(rename = "group-by", default)]
    pub group_by: Vec<String>,
    /// The window, `Ns`, `Nm`, `Nh` or `Nd`.
    pub timespan: String,
    /// Thresholds (`gte: 10`, and `field` for `value_count`).
    #[serde(default)]
    pub condition: Option<Map<String, Value>>,
    /// Per-rule names of a group-by field.
    #[serde(default)]
    pub aliases: Option<Map<String, Value>>,
    /// Whether the correlated rules also raise alerts of their own.
    #[serde(default)]
    pub generate: bool,
    /// Settings of a `volume_baseline` correlation (a Kestrel extension): `buckets`,
    /// `alpha`, `deviations`, `min_volume`, `warmup`, `direction` (see
    /// [`crate::baseline::BaselineConfig`]).
    #[serde(default)]
    pub baseline: Option<Map<String, Value>>,
}

/// One YAML document of a rule file.
#[derive(Debug, Clone)]
pub enum RuleDocument {
    /// A detection rule.
    Detection(SigmaRule),
    /// A correlation rule.
    Correlation(CorrelationRule),
    /// A Sigma filter: already attached to the rules it refines when the rules are loaded
    /// (see [`crate::filter`]), kept for its tests.
    Filter(SigmaFilter),
}

/// Parses every rule and filter of one YAML text (documents separated by `---`), each filter
/// attached to the rules of the text it refines (see [`crate::filter`]); `origin` names the
/// text in errors.
pub fn parse_rules(origin: &str, text: &str) -> Result<Vec<RuleDocument>, RuleError> {
    with_filters_applied(origin, parse_documents(origin, text)?)
}

/// Parses the rules of `text` as [`parse_rules`] does, the placeholders of their `expand`
/// fields (and of their filters') taking the values of `placeholders` (see
/// [`resolve_placeholders`]).
pub fn parse_rules_with(
    origin: &str,
    text: &str,
    placeholders: &Placeholders,
) -> Result<Vec<RuleDocument>, RuleError> {
    with_filters_applied(origin, parse_documents_with(origin, text, placeholders)?)
}

fn with_filters_applied(
    origin: &str,
    documents: Vec<RuleDocument>,
) -> Result<Vec<RuleDocument>, RuleError> {
    let mut located: Vec<(PathBuf, RuleDocument)> = documents
        .into_iter()
        .map(|d| (PathBuf::from(origin), d))
        .collect();
    apply_filters(&mut located)?;
    Ok(located.into_iter().map(|(_, d)| d).collect())
}

/// The documents of one YAML text, filters not yet applied.
fn parse_documents(origin: &str, text: &str) -> Result<Vec<RuleDocument>, RuleError> {
    let mut rules = Vec::new();
    for (index, document) in yaml_serde::Deserializer::from_str(text).enumerate() {
        let format = |message: String| RuleError::Format {
            origin: origin.to_owned(),
            document: index + 1,
            message,
        };
        let value = Value::deserialize(document).map_err(|e| format(e.to_string()))?;
        if value.is_null() {
            continue;
        }
        let rule = if value.get("correlation").is_some() {
            serde_json::from_value(value)
                .map(RuleDocument::Correlation)
                .map_err(|e| e.to_string())
        } else if value.get("filter").is_some() {
            SigmaFilter::from_value(origin, value).map(RuleDocument::Filter)
        } else {
            serde_json::from_value(value)
                .map(RuleDocument::Detection)
                .map_err(|e| e.to_string())
        };
        rules.push(rule.map_err(format)?);
    }
    Ok(rules)
}

/// [`parse_documents`] with the placeholders of rules and filters resolved.
fn parse_documents_with(
    origin: &str,
    text: &str,
    placeholders: &Placeholders,
) -> Result<Vec<RuleDocument>, RuleError> {
    let mut rules = parse_documents(origin, text)?;
    for rule in &mut rules {
        match rule {
            RuleDocument::Detection(rule) => resolve_placeholders(origin, rule, placeholders)?,
            RuleDocument::Filter(filter) => filter.resolve_placeholders(placeholders)?,
            RuleDocument::Correlation(_) => {}
        }
    }
    Ok(rules)
}

/// Loads the rules of a file, or of every `.yml` / `.yaml` file under a directory (sorted by
/// path, so the order is stable), with the rule pack's default placeholder values (its
/// `placeholders.toml`, see [`Placeholders::pack_defaults`]). Filters among the files refine
/// the rules they name.
pub fn load_rules(path: &Path) -> Result<Vec<(PathBuf, RuleDocument)>, RuleError> {
    load_rules_with(path, &Placeholders::pack_defaults(path)?)
}

/// Loads the rules as [`load_rules`] does, the placeholders of their `expand` fields taking
/// the values of `placeholders`; a placeholder without values is an error naming the file,
/// the rule and the placeholder.
pub fn load_rules_with(
    path: &Path,
    placeholders: &Placeholders,
) -> Result<Vec<(PathBuf, RuleDocument)>, RuleError> {
    load_rule_set(path, &[], placeholders)
}

/// Loads the rules at `rules` as [`load_rules_with`] does, with the filters of the files (or
/// directories) `filters`, which hold filter documents only; every filter, among the rule
/// files or not, is attached to the rules it refines (see [`crate::filter`]) and listed after
/// the rules' documents.
pub fn load_rule_set(
    rules: &Path,
    filters: &[PathBuf],
    placeholders: &Placeholders,
) -> Result<Vec<(PathBuf, RuleDocument)>, RuleError> {
    let mut documents = load_documents(rules, placeholders)?;
    for (file, filter) in load_filter_files(filters, placeholders)? {
        documents.push((file, RuleDocument::Filter(filter)));
    }
    apply_filters(&mut documents)?;
    Ok(documents)
}

/// The filters of the files (or directories) `paths`, which hold filter documents only (a
/// rule among them is an error naming its file), their placeholders resolved.
pub fn load_filter_files(
    paths: &[PathBuf],
    placeholders: &Placeholders,
) -> Result<Vec<(PathBuf, SigmaFilter)>, RuleError> {
    let mut filters = Vec::new();
    for path in paths {
        for (file, document) in load_documents(path, placeholders)? {
            let title = match document {
                RuleDocument::Filter(filter) => {
                    filters.push((file, filter));
                    continue;
                }
                RuleDocument::Detection(rule) => rule.title,
                RuleDocument::Correlation(rule) => rule.title,
            };
            return Err(RuleError::NotAFilter {
                origin: file.display().to_string(),
                title,
            });
        }
    }
    Ok(filters)
}

/// The documents of the file or directory at `path`, filters not yet applied.
fn load_documents(
    path: &Path,
    placeholders: &Placeholders,
) -> Result<Vec<(PathBuf, RuleDocument)>, RuleError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| RuleError::Io { path, source }
    };
    let mut files = Vec::new();
    if path.is_dir() {
        collect_rule_files(path, &mut files).map_err(io(path))?;
        files.sort();
    } else {
        files.push(path.to_owned());
    }
    let mut rules = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(io(&file))?;
        let origin = file.display().to_string();
        for rule in parse_documents_with(&origin, &text, placeholders)? {
            rules.push((file.clone(), rule));
        }
    }
    Ok(rules)
}

/// Checks that every placeholder the rule names has values and gives it those values.
pub fn resolve_placeholders(
    origin: &str,
    rule: &mut SigmaRule,
    placeholders: &Placeholders,
) -> Result<(), RuleError> {
    let used = used_in(&rule.detection);
    if let Some((part, name)) = used
        .iter()
        .find(|(_, name)| placeholders.get(name).is_none())
    {
        return Err(RuleError::Placeholder {
            origin: origin.to_owned(),
            rule: rule.reference().to_owned(),
            part: part.clone(),
            message: unknown_message(name),
        });
    }
    rule.placeholders = placeholders.subset(used.iter().map(|(_, name)| name.as_str()));
    Ok(())
}

fn collect_rule_files(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_rule_files(&path, files)?;
        } else if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            files.push(path);
        }
    }
    Ok(())
}
