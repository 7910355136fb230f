//! A Fluentd Forward stream: msgpack frames cut by `complete_len`, each decoded as a message
//! (Message, Forward, PackedForward, CompressedPackedForward) and its entries mapped to events.
#![no_main]

mod common;

use kestrel_collector::forward::mapping::{record_event, Origin};
use kestrel_collector::forward::{complete_len, protocol};

/// The largest decompressed chunk accepted (`collector.forward.max_chunk_bytes` is larger;
/// smaller here keeps executions fast).
const MAX_BYTES: usize = 1 << 20;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Some(len)) = complete_len(rest) {
        if len == 0 || len > rest.len() {
            panic!("complete_len returned {len} for {} bytes", rest.len());
        }
        let (frame, tail) = rest.split_at(len);
        rest = tail;
        let Ok(value) = rmpv::decode::read_value(&mut &frame[..]) else {
            continue;
        };
        let Ok(message) = protocol::decode_message(value, MAX_BYTES) else {
            continue;
        };
        for entry in message.entries.into_iter().flatten() {
            let origin = Origin {
                tag: &message.tag,
                time: entry.time,
                id: "0".repeat(32),
                host_name: "fuzz-node",
                ingested: common::ingested(),
            };
            let _ = serde_json::to_vec(&record_event(origin, entry.record));
        }
    }
});
