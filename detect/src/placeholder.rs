//! Sigma placeholders: `field|expand: '%name%'` stands for a list of values the user
//! configures (allowed users, namespaces, images...), as the Sigma specification's `expand`
//! modifier and pySigma's value-list placeholder transformation define it.
//!
//! - A placeholder is `%name%` inside a value of a field whose modifiers include `expand`;
//!   `name` is made of ASCII letters, digits and `_`. Any other `%` is literal text.
//! - The value stands for each value of the list (any of them); a value with several
//!   placeholders (`'%a%:%b%'`) for every combination.
//! - The values are Sigma strings: `*` and `?` are wildcards in them as in the rule (`\*`
//!   escapes), and the field's other modifiers apply to each (`expand|startswith`,
//!   `expand|contains|all`, `expand|cidr`...). With `all`, each value of the rule must match,
//!   a placeholder's own values being alternatives of that value.
//! - An empty list matches nothing (`field|expand: '%x%'` with `x = []` never matches, so
//!   `not` of it always does).
//! - An unknown placeholder is an error when the rules are loaded, naming the rule file, the
//!   rule and the placeholder. (pySigma's value-list transformation raises an error too; its
//!   other choice, a wildcard placeholder matching anything, would silently turn an
//!   allow-list rule off.)
//!
//! Placeholders are resolved once, when a rule is compiled, into the same matchers as a
//! literal list of values: no lookup happens per event.
//!
//! The values come from the rule pack's `placeholders.toml` (a table of name → list of
//! strings), the nearest one at or above the rules path, each name overridden as a whole by the
//! configuration's `[detection.placeholders]`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::RuleError;
use crate::value::{FieldSpec, Modifier};

/// The name of the file of a rule pack's default placeholder values.
pub const PLACEHOLDERS_FILE: &str = "placeholders.toml";

/// Combinations a single value may expand to, at most.
const MAX_EXPANSION: usize = 100_000;

/// Placeholder values: name (without `%`) → list of values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placeholders {
    values: BTreeMap<String, Vec<String>>,
}

impl Placeholders {
    /// No placeholders.
    pub fn new() -> Placeholders {
        Placeholders::default()
    }

    /// The values of `name`, when defined.
    pub fn get(&self, name: &str) -> Option<&[String]> {
        self.values.get(name).map(Vec::as_slice)
    }

    /// Defines (or redefines) `name`.
    pub fn insert(&mut self, name: impl Into<String>, values: Vec<String>) {
        self.values.insert(name.into(), values);
    }

    /// The names defined, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    /// These values with each name of `overrides` replaced by its list (the whole list: a
    /// configured name does not add to the pack's values, it replaces them).
    pub fn overridden_by(mut self, overrides: &BTreeMap<String, Vec<String>>) -> Placeholders {
        for (name, values) in overrides {
            self.values.insert(name.clone(), values.clone());
        }
        self
    }

    /// Parses a placeholders file: a TOML table of name → list of strings.
    pub fn parse_toml(origin: &str, text: &str) -> Result<Placeholders, RuleError> {
        let error = |message: String| RuleError::Placeholders {
            origin: origin.to_owned(),
            message,
        };
        let values: BTreeMap<String, Vec<String>> =
            toml::from_str(text).map_err(|e| error(e.to_string().trim_end().to_owned()))?;
        for name in values.keys() {
            check_name(name).map_err(error)?;
        }
        Ok(Placeholders { values })
    }

    /// The default values of the rule pack at `rules` (a rule file or directory): its nearest
    /// `placeholders.toml`, in the directory or any above it; none when there is no such file.
    pub fn pack_defaults(rules: &Path) -> Result<Placeholders, RuleError> {
        let Some(file) = defaults_file(rules) else {
            return Ok(Placeholders::new());
        };
        let text = std::fs::read_to_string(&file).map_err(|source| RuleError::Io {
            path: file.clone(),
            source,
        })?;
        Placeholders::parse_toml(&file.display().to_string(), &text)
    }

    /// Only the placeholders `names` (those a rule uses).
    pub(crate) fn subset<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Placeholders {
        let values = names
            .into_iter()
            .filter_map(|name| Some((name.to_owned(), self.values.get(name)?.clone())))
            .collect();
        Placeholders { values }
    }
}

/// The `placeholders.toml` that applies to the rules at `rules`, if any.
pub fn defaults_file(rules: &Path) -> Option<PathBuf> {
    let start = if rules.is_dir() {
        rules
    } else {
        rules.parent()?
    };
    let start = if start.as_os_str().is_empty() {
        Path::new(".")
    } else {
        start
    };
    let start = start.canonicalize().unwrap_or_else(|_| start.to_owned());
    start
        .ancestors()
        .map(|dir| dir.join(PLACEHOLDERS_FILE))
        .find(|file| file.is_file())
}

/// Whether `name` is a valid placeholder name: non-empty ASCII letters, digits and `_`.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a placeholder name must not be empty".into());
    }
    if let Some(c) = name.chars().find(|c| !is_name_char(*c)) {
        return Err(format!(
            "placeholder name {name:?}: {c:?} is not allowed (ASCII letters, digits and _)"
        ));
    }
    Ok(())
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// A value split into literal text and placeholders.
#[derive(Debug, PartialEq, Eq)]
enum Part<'a> {
    Text(&'a str),
    Placeholder(&'a str),
}

fn parts(value: &str) -> Vec<Part<'_>> {
    let mut parts = Vec::new();
    let mut literal_from = 0;
    let mut i = 0;
    let bytes = value.as_bytes();
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let name_len = value[i + 1..]
                .bytes()
                .take_while(|b| is_name_char(char::from(*b)))
                .count();
            let end = i + 1 + name_len;
            if name_len > 0 && bytes.get(end) == Some(&b'%') {
                if literal_from < i {
                    parts.push(Part::Text(&value[literal_from..i]));
                }
                parts.push(Part::Placeholder(&value[i + 1..end]));
                i = end + 1;
                literal_from = i;
                continue;
            }
        }
        i += 1;
    }
    if literal_from < value.len() || parts.is_empty() {
        parts.push(Part::Text(&value[literal_from..]));
    }
    parts
}

/// The placeholders named in `value`.
pub fn placeholder_names(value: &str) -> Vec<&str> {
    parts(value)
        .into_iter()
        .filter_map(|part| match part {
            Part::Placeholder(name) => Some(name),
            Part::Text(_) => None,
        })
        .collect()
}

/// Every value `value` stands for; an error names an unknown placeholder.
pub fn expand(value: &str, placeholders: &Placeholders) -> Result<Vec<String>, String> {
    let mut expanded = vec![String::new()];
    for part in parts(value) {
        match part {
            Part::Text(text) => expanded.iter_mut().for_each(|e| e.push_str(text)),
            Part::Placeholder(name) => {
                let values = placeholders
                    .get(name)
                    .ok_or_else(|| unknown_message(name))?;
                if expanded.len().saturating_mul(values.len()) > MAX_EXPANSION {
                    return Err(format!(
                        "{value:?} expands to more than {MAX_EXPANSION} values"
                    ));
                }
                expanded = expanded
                    .iter()
                    .flat_map(|prefix| values.iter().map(move |v| format!("{prefix}{v}")))
                    .collect();
            }
        }
    }
    Ok(expanded)
}

pub(crate) fn unknown_message(name: &str) -> String {
    format!(
        "unknown placeholder %{name}% (define it in the rule pack's {PLACEHOLDERS_FILE} or in \
         [detection.placeholders])"
    )
}

/// The placeholders of a detection section: (search identifier, name) of every `%name%` in
/// the values of `expand` fields.
pub(crate) fn used_in(detection: &Map<String, Value>) -> Vec<(String, String)> {
    let mut used = Vec::new();
    for (part, search) in detection {
        let maps: Vec<&Map<String, Value>> = match search {
            Value::Object(map) => vec![map],
            Value::Array(items) => items.iter().filter_map(Value::as_object).collect(),
            _ => continue,
        };
        for (key, values) in maps.into_iter().flatten() {
            let expands =
                FieldSpec::parse(key).is_ok_and(|s| s.modifiers.contains(&Modifier::Expand));
            if !expands {
                continue;
            }
            let strings: Vec<&str> = match values {
                Value::String(s) => vec![s.as_str()],
                Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
                _ => continue,
            };
            for name in strings.into_iter().flat_map(placeholder_names) {
                used.push((part.clone(), name.to_owned()));
            }
        }
    }
    used
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> Placeholders {
        let mut p = Placeholders::new();
        p.insert("a", vec!["x".into(), "y".into()]);
        p.insert("b", vec!["1".into(), "2".into()]);
        p.insert("none", vec![]);
        p
    }

    #[test]
    fn values_split_into_text_and_placeholders() {
        assert_eq!(parts("%a%"), [Part::Placeholder("a")]);
        assert_eq!(
            parts("pre-%a%:%b%"),
            [
                Part::Text("pre-"),
                Part::Placeholder("a"),
                Part::Text(":"),
                Part::Placeholder("b")
            ]
        );
        assert_eq!(parts("100%"), [Part::Text("100%")]);
        assert_eq!(parts("%not a name%"), [Part::Text("%not a name%")]);
        assert_eq!(parts("%%"), [Part::Text("%%")]);
        assert_eq!(parts(""), [Part::Text("")]);
    }

    #[test]
    fn expansion_is_every_combination() {
        assert_eq!(expand("%a%", &set()).unwrap(), ["x", "y"]);
        assert_eq!(
            expand("%a%-%b%", &set()).unwrap(),
            ["x-1", "x-2", "y-1", "y-2"]
        );
        assert_eq!(expand("plain", &set()).unwrap(), ["plain"]);
        assert!(expand("%none%", &set()).unwrap().is_empty());
        let err = expand("%missing%", &set()).unwrap_err();
        assert!(err.contains("%missing%"), "{err}");
    }

    #[test]
    fn overrides_replace_whole_lists() {
        let overrides = BTreeMap::from([("a".to_owned(), vec!["z".to_owned()])]);
        let p = set().overridden_by(&overrides);
        assert_eq!(p.get("a").unwrap(), ["z"]);
        assert_eq!(p.get("b").unwrap(), ["1", "2"]);
    }

    #[test]
    fn files_are_tables_of_string_lists() {
        let p = Placeholders::parse_toml("f", "users = [\"admin\", \"system:*\"]\nempty = []\n")
            .unwrap();
        assert_eq!(p.get("users").unwrap(), ["admin", "system:*"]);
        assert_eq!(p.get("empty").unwrap(), [] as [String; 0]);
        for bad in [
            "users = \"admin\"",
            "users = [1]",
            "\"bad name\" = []",
            "[t]\nx = []",
        ] {
            let err = Placeholders::parse_toml("pack/placeholders.toml", bad).unwrap_err();
            assert!(
                err.to_string().starts_with("pack/placeholders.toml: "),
                "{bad}: {err}"
            );
        }
    }

    const RULE: &str = "title: Disallowed user
id: r1
logsource: {product: kubernetes, service: audit}
detection:
  selection:
    verb: create
  allowed:
    user.username|expand: '%allowed_users%'
  condition: selection and not allowed
";

    fn pack(defaults: &str, rule: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("kubernetes")).unwrap();
        std::fs::write(dir.path().join(PLACEHOLDERS_FILE), defaults).unwrap();
        std::fs::write(dir.path().join("kubernetes/rule.yml"), rule).unwrap();
        dir
    }

    fn detector(rules: &[(PathBuf, crate::RuleDocument)]) -> crate::Detector {
        let documents: Vec<_> = rules.iter().map(|(_, d)| d.clone()).collect();
        crate::Detector::new(&documents).unwrap()
    }

    fn event(user: &str) -> Value {
        serde_json::json!({"event": {"kind": "k8s_audit"}, "verb": "create", "user": {"username": user}})
    }

    #[test]
    fn rules_load_with_the_pack_defaults_and_the_overrides() {
        let dir = pack("allowed_users = [\"admin\", \"system:*\"]\n", RULE);
        // The pack's file applies to the directory and to a file below it.
        for path in [
            dir.path().to_owned(),
            dir.path().join("kubernetes/rule.yml"),
        ] {
            let rules = crate::load_rules(&path).unwrap();
            let mut detector = detector(&rules);
            assert!(detector.evaluate(&event("alice")).len() == 1);
            assert!(detector.evaluate(&event("system:node:a")).is_empty());
        }
        let overrides = BTreeMap::from([("allowed_users".to_owned(), vec!["alice".to_owned()])]);
        let placeholders = Placeholders::pack_defaults(dir.path())
            .unwrap()
            .overridden_by(&overrides);
        let rules = crate::load_rules_with(dir.path(), &placeholders).unwrap();
        let mut detector = detector(&rules);
        assert!(detector.evaluate(&event("alice")).is_empty());
        assert!(detector.evaluate(&event("admin")).len() == 1);
        // An empty list allows nobody.
        let none = BTreeMap::from([("allowed_users".to_owned(), vec![])]);
        let rules =
            crate::load_rules_with(dir.path(), &Placeholders::new().overridden_by(&none)).unwrap();
        assert!(detector_evaluates(&rules, "admin"));
    }

    fn detector_evaluates(rules: &[(PathBuf, crate::RuleDocument)], user: &str) -> bool {
        !detector(rules).evaluate(&event(user)).is_empty()
    }

    #[test]
    fn an_unknown_placeholder_is_a_load_error_naming_file_rule_and_placeholder() {
        let dir = pack("other = []\n", RULE);
        let err = crate::load_rules(dir.path()).unwrap_err().to_string();
        assert!(err.contains("kubernetes/rule.yml"), "{err}");
        assert!(err.contains("\"r1\""), "{err}");
        assert!(err.contains("detection.allowed"), "{err}");
        assert!(err.contains("%allowed_users%"), "{err}");
        // Compiling a rule that was never given its values fails the same way.
        let rule = match crate::parse_rules("x", RULE).unwrap().remove(0) {
            crate::RuleDocument::Detection(rule) => rule,
            _ => unreachable!(),
        };
        let err = crate::CompiledRule::compile(&rule).unwrap_err().to_string();
        assert!(err.contains("%allowed_users%"), "{err}");
        // A broken defaults file names itself.
        let dir = pack("allowed_users = \"admin\"\n", RULE);
        let err = crate::load_rules(dir.path()).unwrap_err().to_string();
        assert!(err.contains(PLACEHOLDERS_FILE), "{err}");
    }
}
