//! Keeping only some fields of an event (`fields=` of a search).

use kestrel_event::lookup_path;
use serde_json::{Map, Value};

/// A copy of `event` holding only the given dotted paths, nested as in the event. Paths that
/// are absent are left out.
pub fn project(event: &Value, paths: &[String]) -> Value {
    let mut out = Map::new();
    for path in paths {
        if let Some(value) = lookup_path(event, path) {
            insert_path(&mut out, path, value.clone());
        }
    }
    Value::Object(out)
}

fn insert_path(object: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            object.insert(path.to_owned(), value);
        }
        Some((head, rest)) => {
            let child = object
                .entry(head.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            match child {
                Value::Object(map) => insert_path(map, rest, value),
                // A leaf already sits where a parent is needed: keep the full path as a key.
                _ => {
                    object.insert(path.to_owned(), value);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_only_the_requested_paths_nested() {
        let event =
            json!({"@timestamp": "t", "user": {"username": "a", "groups": ["g"]}, "verb": "get"});
        let projected = project(
            &event,
            &["user.username".into(), "verb".into(), "missing.x".into()],
        );
        assert_eq!(projected, json!({"user": {"username": "a"}, "verb": "get"}));
    }
}
