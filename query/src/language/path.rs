//! Resolution of dotted field paths (`user.username`) in JSON events.

use serde_json::Value;

/// Collects the values found at `path` in `event`.
///
/// * Each `.` may separate two levels or be part of a key: at every object
///   the longest key that is a prefix of the remaining path is tried first
///   (`container.labels.app.kubernetes.io/name` finds the label key
///   `app.kubernetes.io/name`), shorter ones only if it yields nothing.
/// * Arrays are transparent: the rest of the path is resolved in every
///   element, and an array found at the end contributes its elements.
pub(crate) fn resolve<'a>(event: &'a Value, path: &str) -> Vec<&'a Value> {
    let mut out = Vec::new();
    resolve_into(event, path, &mut out);
    out
}

fn resolve_into<'a>(value: &'a Value, path: &str, out: &mut Vec<&'a Value>) {
    match value {
        Value::Array(items) => {
            for item in items {
                resolve_into(item, path, out);
            }
        }
        _ if path.is_empty() => out.push(value),
        Value::Object(map) => {
            // Candidate split points, longest key first: the whole path, then
            // each dot from the right.
            let dots = path.rmatch_indices('.').map(|(i, _)| i);
            for end in std::iter::once(path.len()).chain(dots) {
                let Some(child) = map.get(&path[..end]) else {
                    continue;
                };
                let rest = path.get(end + 1..).unwrap_or("");
                let before = out.len();
                resolve_into(child, rest, out);
                if out.len() > before {
                    return;
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_arrays_and_dotted_keys() {
        let event = json!({
            "a": {"b": [{"c": 1}, {"c": [2, 3]}, {"d": 4}]},
            "labels": {"app.kubernetes.io/name": "web", "app": {"kubernetes": "no"}},
            "x.y": {"z": "dotted"},
            "x": {"y": {"z": "nested"}},
        });
        assert_eq!(resolve(&event, "a.b.c"), [&json!(1), &json!(2), &json!(3)]);
        assert_eq!(
            resolve(&event, "labels.app.kubernetes.io/name"),
            [&json!("web")]
        );
        assert_eq!(resolve(&event, "x.y.z"), [&json!("dotted")]);
        assert!(resolve(&event, "a.b.c.d").is_empty());
        assert!(resolve(&event, "missing").is_empty());
        assert!(resolve(&event, "a..b").is_empty());
    }
}
