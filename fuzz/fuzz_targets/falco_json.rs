//! Falco alert bodies (JSON, one alert or JSON lines) as posted to the Falco endpoint.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (events, _letters) =
        kestrel_collector::falco::normalize_body(data, "fuzz-node", common::ingested());
    for event in events {
        let _ = serde_json::to_vec(&event);
    }
});
