//! Which rules can match an event, found without evaluating them: every rule whose detection
//! requires one field to hold one of a few exact values is filed under that field and those
//! values; an event then looks up each indexed field once. The cost grows with the number of
//! distinct indexed fields, not with the number of rules.

use std::collections::HashMap;

use serde_json::Value;

use crate::compile::{CompiledRule, Prefilter};
use crate::view::EventView;

/// The rules of a rule set, filed by event kind and by a required field value.
#[derive(Debug, Default)]
pub struct RuleIndex {
    /// Per event kind: the rules to evaluate.
    kinds: HashMap<String, KindIndex>,
}

#[derive(Debug, Default)]
struct KindIndex {
    /// field → lowercase value → rules.
    keyed: Vec<(String, HashMap<String, Vec<usize>>)>,
    /// Rules with no usable key: always evaluated.
    always: Vec<usize>,
}

const KINDS: [&str; 3] = ["k8s_audit", "container", "falco"];

impl RuleIndex {
    /// Files `rules`.
    pub fn new(rules: &[CompiledRule]) -> RuleIndex {
        let required: Vec<Vec<(String, Vec<String>)>> = rules
            .iter()
            .map(|r| required_values(&r.prefilter()))
            .collect();
        // Fields required by many rules are preferred keys, so few fields get indexed.
        let mut popularity: HashMap<&str, usize> = HashMap::new();
        for sets in &required {
            for (field, _) in sets {
                *popularity.entry(field.as_str()).or_default() += 1;
            }
        }
        let mut index = RuleIndex::default();
        for kind in KINDS {
            let mut kind_index = KindIndex::default();
            for (i, rule) in rules.iter().enumerate() {
                if !rule.covers(kind) {
                    continue;
                }
                let key = required[i].iter().max_by_key(|(field, values)| {
                    (popularity[field.as_str()], usize::MAX - values.len())
                });
                let Some((field, values)) = key else {
                    kind_index.always.push(i);
                    continue;
                };
                let slot = match kind_index.keyed.iter().position(|(f, _)| f == field) {
                    Some(slot) => slot,
                    None => {
                        kind_index.keyed.push((field.clone(), HashMap::new()));
                        kind_index.keyed.len() - 1
                    }
                };
                for value in values {
                    kind_index.keyed[slot]
                        .1
                        .entry(value.clone())
                        .or_default()
                        .push(i);
                }
            }
            index.kinds.insert(kind.to_owned(), kind_index);
        }
        index
    }

    /// The rules that may match `event` of `kind`, in rule order, each once.
    pub fn candidates(&self, kind: &str, event: &Value, out: &mut Vec<usize>) {
        self.candidates_in(kind, &mut EventView::new(event), out);
    }

    /// [`RuleIndex::candidates`] on a view, whose resolved fields the rules then reuse.
    pub fn candidates_in<'a, 'r>(
        &'r self,
        kind: &str,
        view: &mut EventView<'a, 'r>,
        out: &mut Vec<usize>,
    ) {
        out.clear();
        let Some(index) = self.kinds.get(kind) else {
            return;
        };
        out.extend_from_slice(&index.always);
        for (field, by_value) in &index.keyed {
            let range = view.field(field);
            for value in view.leaves(range).1.iter().flatten() {
                if let Some(rules) = by_value.get(value.as_ref()) {
                    out.extend_from_slice(rules);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
    }
}

/// Fields that must hold one of a few exact values for the pre-filter to pass.
fn required_values(prefilter: &Prefilter) -> Vec<(String, Vec<String>)> {
    match prefilter {
        Prefilter::Equals { field, value } => vec![(field.clone(), vec![value.to_lowercase()])],
        Prefilter::Number { field, value } if value.fract() == 0.0 => {
            vec![(field.clone(), vec![format!("{}", *value as i64)])]
        }
        Prefilter::And(parts) => parts.iter().flat_map(required_values).collect(),
        Prefilter::Or(parts) => {
            let sets: Vec<Vec<(String, Vec<String>)>> = parts.iter().map(required_values).collect();
            // Usable only when every branch requires the same single field.
            let Some(field) = sets.first().and_then(|s| s.first()).map(|(f, _)| f.clone()) else {
                return Vec::new();
            };
            let mut values = Vec::new();
            for set in &sets {
                let Some((_, branch)) = set.iter().find(|(f, _)| *f == field) else {
                    return Vec::new();
                };
                values.extend(branch.iter().cloned());
            }
            vec![(field, values)]
        }
        _ => Vec::new(),
    }
}
