// Shared by the targets: a fixed context, so that a crash reproduces.
#![allow(dead_code)]

use kestrel_collector::{normalize_bytes, Format, SourceContext};
use kestrel_event::Timestamp;

/// A fixed instant.
pub fn ingested() -> Timestamp {
    chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default()
}

/// Normalizes `data` as a file of `format`, every output checked to serialize.
pub fn normalize(format: Format, data: &[u8]) {
    let context = SourceContext {
        path: "/var/log/fuzz.log".to_owned(),
        content_id: None,
        host_name: "fuzz-node".to_owned(),
        ingested: ingested(),
    };
    if let Ok(outputs) = normalize_bytes(format, context, data) {
        for output in outputs {
            if let kestrel_collector::Output::Event(event) = output {
                let _ = serde_json::to_vec(&event);
            }
        }
    }
}
