//! Turning an event into a Tantivy document, following the mapping in [`crate::schema`].

use kestrel_event::{parse_timestamp, Event};
use serde_json::{Map, Value};
use tantivy::schema::OwnedValue;
use tantivy::TantivyDocument;

use crate::schema::{EventSchema, FieldKind};

/// Nanoseconds since the Unix epoch of an event timestamp, saturating far outside ±292 years.
pub fn timestamp_nanos(ts: &kestrel_event::Timestamp) -> i64 {
    ts.timestamp_nanos_opt().unwrap_or(if ts.timestamp() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

/// Builds the document of one event. `source` is the event's JSON text, stored as `_source`.
pub fn to_document(schema: &EventSchema, event: &Event, source: String) -> TantivyDocument {
    // An `Event` always serializes to a JSON object (see kestrel_event::Event::to_json).
    let value = serde_json::to_value(event).unwrap_or(Value::Null);
    value_to_document(schema, &value, source)
}

/// Builds the document of one event given as JSON (`value`, the event serialized).
pub fn value_to_document(schema: &EventSchema, value: &Value, source: String) -> TantivyDocument {
    let mut doc = TantivyDocument::new();
    let mut other = Map::new();
    if let Value::Object(root) = value {
        let mut path = String::new();
        for (key, child) in root {
            walk(schema, &mut doc, &mut other, &mut path, key, child);
        }
    }
    if !other.is_empty() {
        doc.add_field_value(schema.other_field(), &OwnedValue::from(other));
    }
    doc.add_text(schema.source_field(), source);
    doc
}

fn walk(
    schema: &EventSchema,
    doc: &mut TantivyDocument,
    other: &mut Map<String, Value>,
    path: &mut String,
    key: &str,
    value: &Value,
) {
    let parent_len = path.len();
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
    match schema.typed(path) {
        Some((spec, field)) if spec.kind == FieldKind::Json => {
            if let Value::Object(map) = value {
                doc.add_field_value(field, &OwnedValue::from(map.clone()));
            } else {
                other.insert(path.clone(), value.clone());
            }
        }
        Some((spec, field)) => {
            add_leaves(doc, field, spec.kind, value, other, path);
            if let Some(companion) = schema.ip_companion(path) {
                add_addresses(doc, companion.field, value);
            }
        }
        None => match value {
            Value::Object(map) => {
                for (child_key, child) in map {
                    walk(schema, doc, other, path, child_key, child);
                }
            }
            Value::Null => {}
            _ => {
                other.insert(path.clone(), value.clone());
            }
        },
    }
    path.truncate(parent_len);
}

/// Adds every value that parses as an IP address to an IP field (IPv4 mapped into IPv6).
fn add_addresses(doc: &mut TantivyDocument, field: tantivy::schema::Field, value: &Value) {
    match value {
        Value::Array(items) => items.iter().for_each(|v| add_addresses(doc, field, v)),
        Value::String(text) => {
            if let Ok(address) = text.trim().parse::<std::net::IpAddr>() {
                doc.add_ip_addr(field, to_ipv6(address));
            }
        }
        _ => {}
    }
}

/// An address as Tantivy stores it: IPv4 mapped into IPv6.
pub fn to_ipv6(address: std::net::IpAddr) -> std::net::Ipv6Addr {
    match address {
        std::net::IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        std::net::IpAddr::V6(v6) => v6,
    }
}

/// Adds a leaf (or each element of an array of leaves) to a typed field. A value of the wrong
/// type for the field goes to the catch-all field instead, so that it stays searchable.
fn add_leaves(
    doc: &mut TantivyDocument,
    field: tantivy::schema::Field,
    kind: FieldKind,
    value: &Value,
    other: &mut Map<String, Value>,
    path: &str,
) {
    match value {
        Value::Array(items) => {
            for item in items {
                add_leaves(doc, field, kind, item, other, path);
            }
        }
        Value::Null => {}
        _ => {
            if !add_leaf(doc, field, kind, value) {
                other.insert(path.to_owned(), value.clone());
            }
        }
    }
}

fn add_leaf(
    doc: &mut TantivyDocument,
    field: tantivy::schema::Field,
    kind: FieldKind,
    value: &Value,
) -> bool {
    match (kind, value) {
        (FieldKind::Timestamp, Value::String(text)) => match parse_timestamp(text) {
            Ok(ts) => {
                doc.add_i64(field, timestamp_nanos(&ts));
                true
            }
            Err(_) => false,
        },
        (FieldKind::Integer, Value::Number(n)) => match n.as_i64() {
            Some(i) => {
                doc.add_i64(field, i);
                true
            }
            None => false,
        },
        (FieldKind::Integer, Value::String(text)) => match text.parse::<i64>() {
            Ok(i) => {
                doc.add_i64(field, i);
                true
            }
            Err(_) => false,
        },
        (FieldKind::Id | FieldKind::Keyword | FieldKind::Text, Value::String(text)) => {
            doc.add_text(field, text);
            true
        }
        (FieldKind::Id | FieldKind::Keyword | FieldKind::Text, Value::Number(n)) => {
            doc.add_text(field, n.to_string());
            true
        }
        (FieldKind::Keyword | FieldKind::Text, Value::Bool(b)) => {
            doc.add_text(field, if *b { "true" } else { "false" });
            true
        }
        _ => false,
    }
}
