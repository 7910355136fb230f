//! OTLP/HTTP log export bodies (Json): decoded, then each record mapped to an event.
#![no_main]

mod common;

use kestrel_collector::otlp::decode::{decode, Encoding};
use kestrel_collector::otlp::mapping::to_event;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(batches) = decode(data, Encoding::Json) else {
        return;
    };
    for batch in batches {
        for record in batch.records.iter().flatten() {
            if let Ok(event) = to_event(
                &batch.resource,
                &batch.scope,
                record,
                "fuzz-node",
                common::ingested(),
            ) {
                let _ = serde_json::to_vec(&event);
            }
        }
    }
});
