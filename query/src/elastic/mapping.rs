//! The event schema as an Elasticsearch index mapping (`GET /{index}/_mapping`): Grafana lists
//! date fields for its time field picker and keyword and number fields for terms and metrics.

use kestrel_indexer::schema::FIELD_SPECS;
use kestrel_indexer::FieldKind;
use serde_json::{json, Map, Value};

/// `{"<index>": {"mappings": {"properties": {...}}}}` with one property per typed field of the
/// schema, nested by dotted path. Open-ended JSON objects (`json`, `container.labels`, ...) are
/// left out: their sub-fields are searchable but not typed.
pub fn mapping(index: &str) -> Value {
    let mut properties = Map::new();
    for spec in FIELD_SPECS {
        let Some(kind) = elastic_type(spec.kind) else {
            continue;
        };
        insert(&mut properties, spec.path, kind);
    }
    json!({ index: { "mappings": { "properties": properties } } })
}

fn elastic_type(kind: FieldKind) -> Option<&'static str> {
    match kind {
        FieldKind::Timestamp => Some("date"),
        FieldKind::Id | FieldKind::Keyword => Some("keyword"),
        FieldKind::Text => Some("text"),
        FieldKind::Integer => Some("long"),
        FieldKind::Ip => Some("ip"),
        FieldKind::Json => None,
    }
}

/// Inserts `path` (dotted) as a leaf of type `kind`; a path whose parent is already a leaf is
/// skipped (the schema has none).
fn insert(properties: &mut Map<String, Value>, path: &str, kind: &str) {
    let mut current = properties;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            current.insert(part.to_owned(), json!({ "type": kind }));
            return;
        }
        let entry = current
            .entry(part.to_owned())
            .or_insert_with(|| json!({ "properties": {} }));
        let Some(next) = entry.get_mut("properties").and_then(Value::as_object_mut) else {
            return;
        };
        current = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_fields_nest_by_path() {
        let m = mapping("logs");
        let p = &m["logs"]["mappings"]["properties"];
        assert_eq!(p["@timestamp"]["type"], "date");
        assert_eq!(p["verb"]["type"], "keyword");
        assert_eq!(p["message"]["type"], "text");
        assert_eq!(p["responseStatus"]["properties"]["code"]["type"], "long");
        assert_eq!(
            p["kubernetes"]["properties"]["pod"]["properties"]["owner"]["properties"]["kind"]
                ["type"],
            "keyword"
        );
        assert!(p.get("json").is_none());
    }
}
