//! Elasticsearch `_bulk` bodies: the NDJSON items, then each source document's event.
#![no_main]

mod common;

use kestrel_collector::elasticsearch::bulk::{parse, Item};
use kestrel_collector::elasticsearch::document::{to_event, DocumentContext};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    for item in parse(data, Some("logs")) {
        let Item::Operation(operation) = item else {
            continue;
        };
        let Some(source) = operation.source else {
            continue;
        };
        let context = DocumentContext {
            index: operation.index.as_deref().unwrap_or("logs"),
            id: operation.id.as_deref(),
            unique: "fuzz",
            host_name: "fuzz-node",
            ingested: common::ingested(),
        };
        if let Ok(event) = to_event(source, &context) {
            let _ = serde_json::to_vec(&event);
        }
    }
});
