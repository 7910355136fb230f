//! The `_bulk` request body: NDJSON pairs of an action/metadata line and, for `create`,
//! `index` and `update`, a source line (`delete` has none).
//!
//! Parsing never fails as a whole: a line that is not an action is reported as a
//! [`Item::Malformed`] together with the line after it (taken as its source, so that the items
//! stay in step with what the client sent), and the rest of the body goes on.

use serde_json::{Map, Value};

use crate::normalize::k8s_audit::type_name;

/// What an action line asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Store a new document; a `_id` already stored is a conflict (`409`).
    Create,
    /// Store a document (replacing one with the same `_id` in Elasticsearch; kept once here).
    Index,
    /// Delete a document: refused, events are append-only.
    Delete,
    /// Update a document: refused, events are append-only.
    Update,
}

impl Action {
    /// The action's name, the key of its line and of its response item.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Index => "index",
            Action::Delete => "delete",
            Action::Update => "update",
        }
    }

    fn parse(name: &str) -> Option<Action> {
        match name {
            "create" => Some(Action::Create),
            "index" => Some(Action::Index),
            "delete" => Some(Action::Delete),
            "update" => Some(Action::Update),
            _ => None,
        }
    }

    /// Whether a source line follows the action line.
    fn has_source(self) -> bool {
        !matches!(self, Action::Delete)
    }
}

/// One operation of the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation<'a> {
    /// The action.
    pub action: Action,
    /// `_index` of the action line, else the index of the path, if any.
    pub index: Option<String>,
    /// `_id` of the action line, if any.
    pub id: Option<String>,
    /// The source line; `None` for `delete`, or when the body ends after the action line.
    pub source: Option<&'a [u8]>,
    /// The 1-based line number of the action line.
    pub line: u64,
}

/// One item of the body, answered by one item of the response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item<'a> {
    /// A well-formed action line (and its source line).
    Operation(Operation<'a>),
    /// A line that is not an action, with the line taken as its source.
    Malformed {
        /// The 1-based line number.
        line: u64,
        /// Why it is not an action.
        reason: String,
        /// The line and its source line, joined by `'\n'`.
        raw: Vec<u8>,
    },
}

/// The items of a body, `path_index` (the `{index}` of `/{index}/_bulk`) applying to actions
/// without `_index`.
pub fn parse<'a>(body: &'a [u8], path_index: Option<&str>) -> Vec<Item<'a>> {
    let mut lines = body
        .split(|b| *b == b'\n')
        .enumerate()
        .map(|(i, line)| (i as u64 + 1, line.strip_suffix(b"\r").unwrap_or(line)))
        .filter(|(_, line)| !line.trim_ascii().is_empty());
    let mut items = Vec::new();
    while let Some((number, line)) = lines.next() {
        match metadata(line) {
            Ok((action, index, id)) => {
                let source = if action.has_source() {
                    lines.next().map(|(_, source)| source)
                } else {
                    None
                };
                items.push(Item::Operation(Operation {
                    action,
                    index: index.or_else(|| path_index.map(str::to_owned)),
                    id,
                    source,
                    line: number,
                }));
            }
            Err(reason) => {
                let mut raw = line.to_vec();
                if let Some((_, source)) = lines.next() {
                    raw.push(b'\n');
                    raw.extend_from_slice(source);
                }
                items.push(Item::Malformed {
                    line: number,
                    reason: format!("line {number}: {reason}"),
                    raw,
                });
            }
        }
    }
    items
}

/// The action, `_index` and `_id` of an action line.
fn metadata(line: &[u8]) -> Result<(Action, Option<String>, Option<String>), String> {
    let object: Map<String, Value> = match serde_json::from_slice(line) {
        Ok(Value::Object(object)) => object,
        Ok(other) => {
            return Err(format!(
                "malformed action/metadata line: expected an object, found {}",
                type_name(&other)
            ))
        }
        Err(error) => return Err(format!("malformed action/metadata line: {error}")),
    };
    let mut entries = object.into_iter();
    let (Some((name, meta)), None) = (entries.next(), entries.next()) else {
        return Err(
            "malformed action/metadata line: expected one action (create, index, delete or update)"
                .to_owned(),
        );
    };
    let action = Action::parse(&name).ok_or_else(|| {
        format!("unknown action [{name}]: expected create, index, delete or update")
    })?;
    let Value::Object(meta) = meta else {
        return Err(format!(
            "malformed action/metadata line: [{name}] is {}, expected an object",
            type_name(&meta)
        ));
    };
    let text = |key: &str| -> Result<Option<String>, String> {
        match meta.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) if text.is_empty() => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(Value::Number(number)) => Ok(Some(number.to_string())),
            Some(other) => Err(format!(
                "malformed action/metadata line: [{key}] is {}, expected a string",
                type_name(other)
            )),
        }
    };
    Ok((action, text("_index")?, text("_id")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operation<'a>(item: &'a Item<'a>) -> &'a Operation<'a> {
        match item {
            Item::Operation(operation) => operation,
            Item::Malformed { reason, .. } => panic!("malformed: {reason}"),
        }
    }

    #[test]
    fn pairs_of_action_and_source_lines() {
        let body = b"{\"create\":{\"_index\":\"logs\"}}\n{\"message\":\"a\"}\n\
            {\"index\":{\"_index\":\"other\",\"_type\":\"_doc\",\"_id\":\"7\"}}\r\n{\"message\":\"b\"}\r\n\
            {\"delete\":{\"_index\":\"logs\",\"_id\":\"1\"}}\n\
            {\"update\":{\"_id\":1}}\n{\"doc\":{}}\n";
        let items = parse(body, Some("path-index"));
        assert_eq!(items.len(), 4);
        let create = operation(&items[0]);
        assert_eq!(create.action, Action::Create);
        assert_eq!(create.index.as_deref(), Some("logs"));
        assert_eq!(create.id, None);
        assert_eq!(create.source, Some(&b"{\"message\":\"a\"}"[..]));
        assert_eq!(create.line, 1);
        let index = operation(&items[1]);
        assert_eq!(
            (index.action, index.id.as_deref(), index.line),
            (Action::Index, Some("7"), 3)
        );
        assert_eq!(index.source, Some(&b"{\"message\":\"b\"}"[..]));
        let delete = operation(&items[2]);
        assert_eq!((delete.action, delete.source), (Action::Delete, None));
        let update = operation(&items[3]);
        assert_eq!(update.action, Action::Update);
        assert_eq!(update.index.as_deref(), Some("path-index"));
        assert_eq!(update.id.as_deref(), Some("1"));
    }

    #[test]
    fn a_malformed_action_takes_its_source_with_it_and_the_rest_goes_on() {
        let body = b"{\"create\":{}}\n{\"message\":\"a\"}\n\
            not json\n{\"message\":\"b\"}\n\
            {\"create\":{},\"index\":{}}\n{\"message\":\"c\"}\n\
            {\"upsert\":{}}\n{}\n\
            {\"create\":{\"_id\":[1]}}\n{}\n\
            \n\n{\"index\":{}}\n{\"message\":\"d\"}\n{\"create\":{}}";
        let items = parse(body, None);
        assert_eq!(items.len(), 7, "{items:?}");
        let Item::Malformed { line, reason, raw } = &items[1] else {
            panic!("{items:?}")
        };
        assert_eq!(*line, 3);
        assert!(
            reason.starts_with("line 3: malformed action/metadata line"),
            "{reason}"
        );
        assert_eq!(raw, b"not json\n{\"message\":\"b\"}");
        let reasons: Vec<_> = items[2..5]
            .iter()
            .map(|item| match item {
                Item::Malformed { reason, .. } => reason.clone(),
                Item::Operation(o) => panic!("{o:?}"),
            })
            .collect();
        assert!(reasons[0].contains("expected one action"), "{reasons:?}");
        assert!(
            reasons[1].contains("unknown action [upsert]"),
            "{reasons:?}"
        );
        assert!(reasons[2].contains("[_id] is an array"), "{reasons:?}");
        assert_eq!(
            operation(&items[5]).source,
            Some(&b"{\"message\":\"d\"}"[..])
        );
        assert_eq!(operation(&items[5]).line, 13);
        // The body ends after an action line: no source.
        assert_eq!(operation(&items[6]).source, None);
    }
}
