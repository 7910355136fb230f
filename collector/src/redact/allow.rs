//! Allow-lists: values (exact) or patterns (matching the whole value) that stay as they are,
//! per source.

use std::collections::HashSet;

use regex::RegexSet;

use super::error::RedactError;

/// What an allow-list holds, as configured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowSettings {
    /// Values kept as they are.
    pub values: Vec<String>,
    /// Regular expressions; a value they match entirely is kept.
    pub patterns: Vec<String>,
}

/// A compiled allow-list.
#[derive(Debug, Default)]
pub struct AllowList {
    values: HashSet<String>,
    patterns: Option<RegexSet>,
}

impl AllowList {
    /// Compiles `settings`; `key` names them in errors (`collector.redaction.allow.files`).
    pub fn new(settings: &AllowSettings, key: &str) -> Result<AllowList, RedactError> {
        let mut anchored = Vec::with_capacity(settings.patterns.len());
        for (i, pattern) in settings.patterns.iter().enumerate() {
            let whole = format!("^(?:{pattern})$");
            regex::Regex::new(&whole).map_err(|source| RedactError::Pattern {
                key: format!("{key}.patterns[{i}]"),
                pattern: pattern.clone(),
                source: Box::new(source),
            })?;
            anchored.push(whole);
        }
        let patterns = match anchored.is_empty() {
            true => None,
            false => Some(
                RegexSet::new(&anchored).map_err(|source| RedactError::Pattern {
                    key: format!("{key}.patterns"),
                    pattern: settings.patterns.join(" | "),
                    source: Box::new(source),
                })?,
            ),
        };
        Ok(AllowList {
            values: settings.values.iter().cloned().collect(),
            patterns,
        })
    }

    /// Whether `value` stays.
    pub fn allows(&self, value: &str) -> bool {
        self.values.contains(value) || self.patterns.as_ref().is_some_and(|p| p.is_match(value))
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty() && self.patterns.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_whole_value_patterns() {
        let list = AllowList::new(
            &AllowSettings {
                values: vec!["AKIAIOSFODNN7EXAMPLE".into()],
                patterns: vec!["sk_test_[0-9a-zA-Z]+".into()],
            },
            "collector.redaction.allow.files",
        )
        .unwrap();
        assert!(list.allows("AKIAIOSFODNN7EXAMPLE"));
        assert!(list.allows("sk_test_abc123"));
        assert!(!list.allows("xsk_test_abc123"));
        assert!(!list.allows("AKIAIOSFODNN7EXAMPLF"));
    }

    #[test]
    fn a_bad_pattern_names_its_key() {
        let error = AllowList::new(
            &AllowSettings {
                values: vec![],
                patterns: vec!["ok".into(), "(".into()],
            },
            "collector.redaction.allow.webhook",
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.starts_with(
                "collector.redaction.allow.webhook.patterns[1]: invalid regular expression \"(\""
            ),
            "{error}"
        );
    }
}
