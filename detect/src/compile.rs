//! A detection rule compiled to matchers, and its evaluation on an event.

use serde_json::{Map, Value};

use crate::condition::{parse_condition, Condition};
use crate::error::RuleError;
use crate::filter::SigmaFilter;
use crate::mapping::{covers, field_paths};
use crate::placeholder::Placeholders;
use crate::rule::{LogSource, SigmaRule};
use crate::value::{text, wildcard_pattern, FieldSpec, LiteralSet, Pattern, ValueTest};
use crate::view::EventView;

/// A detection rule ready to evaluate.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    /// The rule's id (else its name, else its title).
    pub id: String,
    /// Name by which correlations refer to it.
    pub name: Option<String>,
    /// Title.
    pub title: String,
    /// Level (`medium` when unset).
    pub level: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Its log source.
    pub logsource: LogSource,
    /// The filters that refine it (their ids, else names, else titles), in the order they
    /// apply.
    pub filters: Vec<String>,
    searches: Vec<Search>,
    condition: Condition,
}

#[derive(Debug, Clone)]
enum Search {
    /// Maps: any map matches when all its fields match.
    Maps(Vec<Vec<FieldCheck>>),
    /// Keywords: any matches any text of the event.
    Keywords(Vec<Pattern>, Option<LiteralSet>),
}

#[derive(Debug, Clone)]
struct FieldCheck {
    paths: Vec<String>,
    test: ValueTest,
}

impl CompiledRule {
    /// Compiles a rule refined by its filters ([`SigmaRule::filters`]); errors name the rule
    /// (or the filter) and the search identifier at fault.
    pub fn compile(rule: &SigmaRule) -> Result<CompiledRule, RuleError> {
        CompiledRule::compile_with_filters(rule, &rule.filters)
    }

    /// Compiles a rule as shipped, without the filters attached to it.
    pub fn compile_unfiltered(rule: &SigmaRule) -> Result<CompiledRule, RuleError> {
        CompiledRule::compile_with_filters(rule, &[])
    }

    /// Compiles a rule refined by `filters` (whatever its own [`SigmaRule::filters`]): its
    /// condition becomes `(<rule condition>) and (<filter condition>)...`, each filter's search
    /// identifiers compiled in the rule's log source, with the filter's placeholder values.
    pub fn compile_with_filters(
        rule: &SigmaRule,
        filters: &[SigmaFilter],
    ) -> Result<CompiledRule, RuleError> {
        let error = |part: &str, message: String| RuleError::Detection {
            rule: rule.reference().to_owned(),
            part: part.to_owned(),
            message,
        };
        let searches_of = rule
            .detection
            .iter()
            .filter(|(name, _)| *name != "condition" && *name != "timeframe");
        let (names, mut searches) = compile_searches(rule, &rule.placeholders, searches_of)
            .map_err(|(name, message)| error(&name, message))?;
        let condition_text = match rule.detection.get("condition") {
            Some(Value::String(text)) => text.clone(),
            // A list of conditions: any of them.
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(|c| format!("({c})"))
                .collect::<Vec<_>>()
                .join(" or "),
            _ => return Err(error("condition", "missing".into())),
        };
        let mut condition = parse_condition(&condition_text, &names)
            .map_err(|message| error("condition", message))?;
        if !filters.is_empty() {
            let mut parts = vec![condition];
            for filter in filters {
                parts.push(compile_filter(rule, filter, &mut searches)?);
            }
            condition = Condition::And(parts);
        }
        Ok(CompiledRule {
            id: rule.reference().to_owned(),
            name: rule.name.clone(),
            title: rule.title.clone(),
            level: rule.level.clone().unwrap_or_else(|| "medium".into()),
            tags: rule.tags.clone(),
            logsource: rule.logsource.clone(),
            filters: filters.iter().map(|f| f.reference().to_owned()).collect(),
            searches,
            condition,
        })
    }

    /// Whether the rule's log source covers events of `kind` (`event.kind`).
    pub fn covers(&self, kind: &str) -> bool {
        covers(&self.logsource, kind)
    }

    /// A coarse filter that every matching event passes (it may let others through): what an
    /// index can pre-select before the rule is evaluated exactly.
    pub fn prefilter(&self) -> Prefilter {
        condition_prefilter(&self.condition, &self.searches).simplify()
    }

    /// Whether `event` (an event as JSON) matches the rule's detection.
    pub fn matches(&self, event: &Value) -> bool {
        self.matches_view(&mut EventView::new(event))
    }

    /// Whether the event of `view` matches; fields resolved for an earlier rule are reused.
    pub fn matches_view<'a, 'r>(&'r self, view: &mut EventView<'a, 'r>) -> bool {
        // Each search is evaluated at most once, whatever the condition repeats: bit i of
        // `known` says search i was evaluated, bit i of `found` its result.
        if self.searches.len() <= 64 {
            let (mut known, mut found) = (0u64, 0u64);
            return self.condition.eval(&mut |i| {
                let bit = 1u64 << i;
                if known & bit == 0 {
                    known |= bit;
                    if self.searches[i].matches(view) {
                        found |= bit;
                    }
                }
                found & bit != 0
            });
        }
        let mut results: Vec<Option<bool>> = vec![None; self.searches.len()];
        self.condition
            .eval(&mut |i| *results[i].get_or_insert_with(|| self.searches[i].matches(view)))
    }
}

/// Compiles the search identifiers `named` of `rule` (or of one of its filters, with that
/// filter's `placeholders`) in the rule's log source; the error names the identifier.
fn compile_searches<'a>(
    rule: &SigmaRule,
    placeholders: &Placeholders,
    named: impl Iterator<Item = (&'a String, &'a Value)>,
) -> Result<(Vec<String>, Vec<Search>), (String, String)> {
    let mut names = Vec::new();
    let mut searches = Vec::new();
    for (name, value) in named {
        let search = compile_search(&rule.logsource, placeholders, value)
            .map_err(|message| (name.clone(), message))?;
        names.push(name.clone());
        searches.push(search);
    }
    Ok((names, searches))
}

/// Compiles `filter`'s searches for `rule`, appended to `searches`, and returns its condition
/// over them (its identifiers are its own: indexes past the rule's).
fn compile_filter(
    rule: &SigmaRule,
    filter: &SigmaFilter,
    searches: &mut Vec<Search>,
) -> Result<Condition, RuleError> {
    let error = |part: &str, message: String| {
        filter.error(
            part,
            format!("(refining rule {:?}) {message}", rule.reference()),
        )
    };
    let (names, own) = compile_searches(rule, &filter.placeholders, filter.searches.iter())
        .map_err(|(name, message)| error(&name, message))?;
    let condition = parse_condition(&filter.condition, &names)
        .map_err(|message| error("condition", message))?;
    let offset = searches.len();
    searches.extend(own);
    Ok(condition.shifted(offset))
}

/// A filter that lets through at least every event a rule matches.
#[derive(Debug, Clone, PartialEq)]
pub enum Prefilter {
    /// Anything (no pre-selection possible).
    All,
    /// Every part must hold.
    And(Vec<Prefilter>),
    /// One part must hold.
    Or(Vec<Prefilter>),
    /// The field equals the text (case-insensitively).
    Equals {
        /// Dotted path.
        field: String,
        /// Value (lowercase unless the rule is cased).
        value: String,
    },
    /// The field matches a pattern with `*` wildcards (case-insensitively).
    Wildcard {
        /// Dotted path.
        field: String,
        /// The pattern.
        pattern: String,
    },
    /// The field equals the number.
    Number {
        /// Dotted path.
        field: String,
        /// The number.
        value: f64,
    },
    /// The field is present.
    Exists {
        /// Dotted path.
        field: String,
    },
}

impl Prefilter {
    fn simplify(self) -> Prefilter {
        match self {
            Prefilter::And(parts) => {
                let parts: Vec<Prefilter> = parts
                    .into_iter()
                    .map(Prefilter::simplify)
                    .filter(|p| *p != Prefilter::All)
                    .collect();
                match parts.len() {
                    0 => Prefilter::All,
                    1 => parts.into_iter().next().unwrap_or(Prefilter::All),
                    _ => Prefilter::And(parts),
                }
            }
            Prefilter::Or(parts) => {
                let parts: Vec<Prefilter> = parts.into_iter().map(Prefilter::simplify).collect();
                if parts.is_empty() || parts.contains(&Prefilter::All) {
                    return Prefilter::All;
                }
                if parts.len() == 1 {
                    return parts.into_iter().next().unwrap_or(Prefilter::All);
                }
                Prefilter::Or(parts)
            }
            leaf => leaf,
        }
    }
}

fn condition_prefilter(condition: &Condition, searches: &[Search]) -> Prefilter {
    match condition {
        Condition::Search(i) => searches.get(*i).map_or(Prefilter::All, Search::prefilter),
        Condition::And(parts) => Prefilter::And(
            parts
                .iter()
                .map(|c| condition_prefilter(c, searches))
                .collect(),
        ),
        Condition::Or(parts) => Prefilter::Or(
            parts
                .iter()
                .map(|c| condition_prefilter(c, searches))
                .collect(),
        ),
        // The complement of a superset is not a superset.
        Condition::Not(_) => Prefilter::All,
    }
}

impl Search {
    fn prefilter(&self) -> Prefilter {
        match self {
            Search::Maps(maps) => Prefilter::Or(
                maps.iter()
                    .map(|checks| {
                        Prefilter::And(checks.iter().map(FieldCheck::prefilter).collect())
                    })
                    .collect(),
            ),
            Search::Keywords(..) => Prefilter::All,
        }
    }

    fn matches<'a, 'r>(&'r self, view: &mut EventView<'a, 'r>) -> bool {
        match self {
            Search::Maps(maps) => maps
                .iter()
                .any(|checks| checks.iter().all(|check| check.matches(view))),
            Search::Keywords(patterns, literals) => {
                let range = view.texts();
                let (leaves, lowered) = view.leaves(range);
                leaves.iter().zip(lowered).any(|(leaf, lowered)| {
                    let Some(lowered) = lowered.as_deref() else {
                        return false;
                    };
                    match literals {
                        Some(set) => set.matches(lowered, leaf.as_str().unwrap_or_default()),
                        None => patterns
                            .iter()
                            .any(|p| crate::value::pattern_matches(p, leaf, Some(lowered))),
                    }
                })
            }
        }
    }
}

impl FieldCheck {
    fn prefilter(&self) -> Prefilter {
        let per_path = |field: &String| -> Prefilter {
            match &self.test {
                ValueTest::Exists(true) => Prefilter::Exists {
                    field: field.clone(),
                },
                ValueTest::Values {
                    values,
                    all,
                    negate: false,
                    ..
                } => {
                    let per_value = values.iter().map(|alternatives| {
                        Prefilter::Or(
                            alternatives
                                .iter()
                                .map(|p| pattern_prefilter(field, p))
                                .collect(),
                        )
                    });
                    if *all {
                        Prefilter::And(per_value.collect())
                    } else {
                        Prefilter::Or(per_value.collect())
                    }
                }
                _ => Prefilter::All,
            }
        };
        Prefilter::Or(self.paths.iter().map(per_path).collect())
    }

    fn matches<'a, 'r>(&'r self, view: &mut EventView<'a, 'r>) -> bool {
        let range = view.fields(&self.paths);
        let event = view.event();
        let (leaves, lowered) = view.leaves(range);
        self.test.matches(leaves, lowered, |other| {
            let mut found = Vec::new();
            resolve(event, other, &mut found);
            found
        })
    }
}

fn pattern_prefilter(field: &str, pattern: &Pattern) -> Prefilter {
    let field = field.to_owned();
    match pattern {
        Pattern::Exact(value) => Prefilter::Equals {
            field,
            value: value.clone(),
        },
        Pattern::Prefix(s) => Prefilter::Wildcard {
            field,
            pattern: format!("{s}*"),
        },
        Pattern::Suffix(s) => Prefilter::Wildcard {
            field,
            pattern: format!("*{s}"),
        },
        Pattern::Contains(s) => Prefilter::Wildcard {
            field,
            pattern: format!("*{s}*"),
        },
        Pattern::Number(value) => Prefilter::Number {
            field,
            value: *value,
        },
        Pattern::Any => Prefilter::Exists { field },
        Pattern::Regex(_) | Pattern::Re(_) | Pattern::Compare(..) | Pattern::Cidr(_) => {
            Prefilter::All
        }
    }
}

fn compile_search(
    logsource: &LogSource,
    placeholders: &Placeholders,
    value: &Value,
) -> Result<Search, String> {
    match value {
        Value::Object(map) => Ok(Search::Maps(vec![compile_map(
            logsource,
            placeholders,
            map,
        )?])),
        Value::Array(items) if items.iter().all(Value::is_object) => {
            let maps = items
                .iter()
                .filter_map(Value::as_object)
                .map(|map| compile_map(logsource, placeholders, map))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Search::Maps(maps))
        }
        Value::Array(items) => items
            .iter()
            .map(keyword_pattern)
            .collect::<Result<Vec<_>, _>>()
            .map(keywords),
        scalar => Ok(keywords(vec![keyword_pattern(scalar)?])),
    }
}

fn keywords(patterns: Vec<Pattern>) -> Search {
    let alternatives: Vec<Vec<Pattern>> = patterns.iter().map(|p| vec![p.clone()]).collect();
    let literals = LiteralSet::build(&alternatives);
    Search::Keywords(patterns, literals)
}

fn keyword_pattern(value: &Value) -> Result<Pattern, String> {
    let keyword = text(value).ok_or_else(|| format!("unsupported keyword {value}"))?;
    let wrapped = match (keyword.starts_with('*'), keyword.ends_with('*')) {
        (true, true) => keyword,
        (true, false) => format!("{keyword}*"),
        (false, true) => format!("*{keyword}"),
        (false, false) => format!("*{keyword}*"),
    };
    wildcard_pattern(&wrapped, false)
}

fn compile_map(
    logsource: &LogSource,
    placeholders: &Placeholders,
    map: &Map<String, Value>,
) -> Result<Vec<FieldCheck>, String> {
    map.iter()
        .map(|(key, values)| {
            let spec = FieldSpec::parse(key)?;
            let test = ValueTest::compile_with(&spec, values, placeholders)
                .map_err(|e| format!("{key}: {e}"))?;
            Ok(FieldCheck {
                paths: field_paths(logsource, &spec.field),
                test,
            })
        })
        .collect()
}

/// Objects with at most this many keys are searched by comparing keys rather than hashing.
const SMALL_OBJECT: usize = 16;

/// Collects the values at a dotted `path`, descending into every element of arrays on the way
/// and yielding the elements of an array found at the end. Keys that themselves contain dots
/// (`app.kubernetes.io/name`) are found too.
pub fn resolve<'a>(value: &'a Value, path: &str, out: &mut Vec<&'a Value>) {
    match value {
        Value::Array(items) => {
            for item in items {
                resolve(item, path, out);
            }
        }
        // Small objects are scanned: comparing a few keys costs less than hashing the path.
        Value::Object(map) if map.len() <= SMALL_OBJECT => {
            if let Some((_, found)) = map.iter().find(|(key, _)| key.as_str() == path) {
                push_leaf(found, out);
                return;
            }
            for (key, child) in map {
                let rest = path
                    .strip_prefix(key.as_str())
                    .and_then(|rest| rest.strip_prefix('.'));
                if let Some(rest) = rest {
                    resolve(child, rest, out);
                }
            }
        }
        Value::Object(map) => {
            if let Some(found) = map.get(path) {
                push_leaf(found, out);
                return;
            }
            let mut split = path.match_indices('.').map(|(i, _)| i);
            for dot in split.by_ref() {
                if let Some(child) = map.get(&path[..dot]) {
                    resolve(child, &path[dot + 1..], out);
                }
            }
        }
        _ => {}
    }
}

fn push_leaf<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
    match value {
        Value::Array(items) => out.extend(items.iter()),
        other => out.push(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resolved(event: &Value, path: &str) -> Vec<Value> {
        let mut out = Vec::new();
        resolve(event, path, &mut out);
        out.into_iter().cloned().collect()
    }

    /// The same lookups on an object small enough to be scanned and on one large enough to be
    /// hashed.
    #[test]
    fn resolve_is_the_same_on_small_and_large_objects() {
        let mut small = json!({
            "a": {"b": [{"c": 1}, {"c": 2}]},
            "labels": {"app.kubernetes.io/name": "web"},
            "x.y": {"z": "dotted"},
            "k": "plain",
        });
        let mut large = small.clone();
        for i in 0..(SMALL_OBJECT + 4) {
            large[format!("filler{i}")] = json!(i);
            large["labels"][format!("filler{i}")] = json!(i);
        }
        for event in [&mut small, &mut large] {
            assert_eq!(resolved(event, "a.b.c"), [json!(1), json!(2)]);
            assert_eq!(
                resolved(event, "labels.app.kubernetes.io/name"),
                [json!("web")]
            );
            assert_eq!(resolved(event, "x.y.z"), [json!("dotted")]);
            assert_eq!(resolved(event, "k"), [json!("plain")]);
            assert!(resolved(event, "a.missing").is_empty());
            assert!(resolved(event, "k.deeper").is_empty());
        }
    }
}
