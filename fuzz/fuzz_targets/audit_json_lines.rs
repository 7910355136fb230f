//! The K8sAudit normalizer on arbitrary file content.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    common::normalize(kestrel_collector::Format::K8sAudit, data);
});
