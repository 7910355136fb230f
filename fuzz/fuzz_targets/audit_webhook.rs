//! Bodies posted to the audit webhook (an `EventList`, an `Event` or an array of them).
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok((events, _letters)) =
        kestrel_collector::webhook::decode_body(data, "fuzz-node", common::ingested())
    {
        for event in events {
            let _ = serde_json::to_vec(&event);
        }
    }
});
