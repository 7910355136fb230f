//! Sigma rule documents (YAML, several separated by `---`): parsed, then compiled into a
//! detector and run on one event.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(documents) = kestrel_detect::parse_rules("fuzz.yml", text) else {
        return;
    };
    let Ok(mut detector) = kestrel_detect::Detector::new(&documents) else {
        return;
    };
    let event = serde_json::json!({
        "@timestamp": "2024-01-01T00:00:00Z",
        "event": {"kind": "k8s_audit", "id": "0123456789abcdef0123456789abcdef"},
        "verb": "create",
        "user": {"username": "system:anonymous"},
        "objectRef": {"resource": "pods", "namespace": "default"},
        "message": "fuzz",
    });
    let _ = detector.evaluate(&event);
});
