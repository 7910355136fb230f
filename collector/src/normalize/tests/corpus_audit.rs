//! Kubernetes audit files of the corpus.

use kestrel_event::{event_id, parse_timestamp, EventKind, RecordPosition, Timestamp};
use serde_json::{Map, Value};

use super::{corpus_file, corpus_files, dead_letters, events, raw_lines, run};
use crate::normalize::{detect_format, Format};

/// `@timestamp` as the spec defines it, read from a raw event.
fn expected_time(event: &Map<String, Value>) -> Timestamp {
    let text = ["stageTimestamp", "requestReceivedTimestamp", "timestamp"]
        .iter()
        .find_map(|k| event.get(*k).and_then(Value::as_str))
        .or_else(|| event["metadata"]["creationTimestamp"].as_str())
        .expect("raw event has a timestamp");
    parse_timestamp(text).unwrap()
}

/// The summary as the spec defines it, read from a raw event.
fn expected_summary(event: &Map<String, Value>) -> String {
    let mut parts = Vec::new();
    if let Some(v) = event.get("verb").and_then(Value::as_str) {
        parts.push(v.to_owned());
    }
    if let Some(v) = event.get("requestURI").and_then(Value::as_str) {
        parts.push(v.to_owned());
    }
    if let Some(v) = event
        .get("user")
        .and_then(|u| u.get("username"))
        .and_then(Value::as_str)
    {
        parts.push(format!("by {v}"));
    }
    if let Some(v) = event.get("responseStatus").and_then(|s| s.get("code")) {
        parts.push(format!("-> {v}"));
    }
    parts.join(" ")
}

/// Checks one-event-per-line files: every non-blank line is one event equal to the line.
fn check_jsonl(relative: &str) -> usize {
    let (path, bytes) = corpus_file(relative);
    assert_eq!(
        detect_format(path.as_ref(), &bytes),
        Some(Format::K8sAudit),
        "{relative}"
    );
    let outs = run(Format::K8sAudit, &path, &bytes);
    assert!(
        dead_letters(&outs).is_empty(),
        "{relative}: {:?}",
        dead_letters(&outs)
    );
    let lines = raw_lines(&bytes);
    let got = events(&outs);
    assert_eq!(got.len(), lines.len(), "{relative}");
    for (event, (_, offset, line)) in got.iter().zip(&lines) {
        let raw: Map<String, Value> = serde_json::from_slice(line).unwrap();
        assert_eq!(event.kind(), EventKind::K8sAudit);
        assert_eq!(event.timestamp, expected_time(&raw), "{relative}");
        assert_eq!(event.message, expected_summary(&raw), "{relative}");
        assert_eq!(
            event.audit, raw,
            "{relative}: audit fields are kept unchanged"
        );
        assert_eq!(
            event.event.id,
            event_id(
                &path,
                RecordPosition::Offset {
                    offset: *offset,
                    index: 0
                }
            )
        );
        assert_eq!(event.log.as_ref().unwrap().file.path, path);
        assert!(event.stream.is_none() && event.json.is_none());
    }
    got.len()
}

#[test]
fn combined_audit_events_all_normalize() {
    let n = check_jsonl("combined/k8s_audit_events_all.jsonl");
    assert_eq!(n, 114);
    // The serialized event carries the apiserver's fields at the top level.
    let (path, bytes) = corpus_file("combined/k8s_audit_events_all.jsonl");
    let outs = run(Format::K8sAudit, &path, &bytes);
    let first = events(&outs)[0];
    let raw: Value = serde_json::from_slice(raw_lines(&bytes)[0].2).unwrap();
    let json: Value = serde_json::from_str(&first.to_json()).unwrap();
    for key in [
        "verb",
        "user",
        "objectRef",
        "requestURI",
        "auditID",
        "stage",
    ] {
        assert_eq!(json[key], raw[key], "{key}");
    }
    assert_eq!(json["event"]["kind"], "k8s_audit");
}

#[test]
fn audit2rbac_demo_log_has_37_events() {
    assert_eq!(check_jsonl("audit2rbac/demo.log"), 37);
    let (path, bytes) = corpus_file("audit2rbac/demo.log");
    let outs = run(Format::K8sAudit, &path, &bytes);
    let forbidden = events(&outs)
        .iter()
        .filter(|e| e.message.ends_with("-> 403"))
        .count();
    assert_eq!(forbidden, 11, "SOURCES.md: 11x 403 Forbidden");
    assert!(events(&outs)
        .iter()
        .all(|e| e.audit.contains_key("impersonatedUser")));
}

#[test]
fn falco_traces_normalize_and_fal_01_003_is_dead_lettered() {
    let files = corpus_files("falco_k8s_audit_traces", ".json");
    assert_eq!(files.len(), 47, "46 traces and fal_01_003.json");
    let mut total = 0;
    for relative in &files {
        if relative.ends_with("/fal_01_003.json") {
            let (path, bytes) = corpus_file(relative);
            assert_eq!(
                detect_format(path.as_ref(), &bytes),
                Some(Format::K8sAudit),
                "path hint"
            );
            let outs = run(Format::K8sAudit, &path, &bytes);
            assert_eq!(outs.len(), 1);
            let letter = dead_letters(&outs)[0];
            assert_eq!(
                letter.error,
                "line 1: not a Kubernetes audit event: kind is 0 (not a string)"
            );
            assert_eq!(letter.raw, bytes.trim_ascii());
            assert_eq!((letter.line, letter.offset), (Some(1), Some(0)));
            continue;
        }
        total += check_jsonl(relative);
    }
    assert_eq!(total, 51, "SOURCES.md: 51 events");
}

#[test]
fn crowdsec_k8s_audit_logs_normalize() {
    let files: Vec<String> = corpus_files("crowdsec_hub/tests", ".log")
        .into_iter()
        .filter(|f| f.starts_with("crowdsec_hub/tests/k8s-audit-"))
        .collect();
    assert_eq!(files.len(), 2);
    let total: usize = files.iter().map(|f| check_jsonl(f)).sum();
    assert_eq!(total, 2);
    let (path, bytes) =
        corpus_file("crowdsec_hub/tests/k8s-audit-pod-exec-file/k8s-audit-pod-exec-file.log");
    let outs = run(Format::K8sAudit, &path, &bytes);
    assert_eq!(
        events(&outs)[0].field("objectRef.subresource"),
        Some(Value::from("exec"))
    );
}

#[test]
fn sysdig_aks_exports_match_the_unwrapped_events() {
    let (_, inner) = corpus_file("sysdig_aks_audit_samples/aks_inner_audit_events.jsonl");
    let inner: Vec<Map<String, Value>> = raw_lines(&inner)
        .iter()
        .map(|(_, _, line)| serde_json::from_slice(line).unwrap())
        .collect();
    assert_eq!(inner.len(), 24);
    assert_eq!(
        check_jsonl("sysdig_aks_audit_samples/aks_inner_audit_events.jsonl"),
        24
    );
    let mut all = Vec::new();
    for (file, count) in [
        ("event.json", 22),
        ("sample_EventHubs_event.json", 1),
        ("sample_KubeAuditLog_event.json", 1),
    ] {
        let relative = format!("sysdig_aks_audit_samples/{file}");
        let (path, bytes) = corpus_file(&relative);
        assert_eq!(
            detect_format(path.as_ref(), &bytes),
            Some(Format::K8sAudit),
            "{file}"
        );
        let head = &bytes[..bytes.len().min(4096)];
        assert_eq!(
            detect_format(path.as_ref(), head),
            Some(Format::K8sAudit),
            "{file}: 4 KiB head"
        );
        assert_eq!(
            detect_format("/some/where.json".as_ref(), head),
            Some(Format::K8sAudit),
            "{file}: content alone"
        );
        let outs = run(Format::K8sAudit, &path, &bytes);
        assert!(
            dead_letters(&outs).is_empty(),
            "{file}: {:?}",
            dead_letters(&outs)
        );
        let got = events(&outs);
        assert_eq!(got.len(), count, "{file}");
        // Each file is one document starting at offset 0; its records are told apart by index.
        for (index, event) in got.iter().enumerate() {
            let position = RecordPosition::Offset {
                offset: 0,
                index: index as u32,
            };
            assert_eq!(event.event.id, event_id(&path, position), "{file}");
        }
        all.extend(got.into_iter().cloned());
    }
    assert_eq!(all.len(), 24);
    for (event, raw) in all.iter().zip(&inner) {
        assert_eq!(&event.audit, raw);
        assert_eq!(event.timestamp, expected_time(raw));
        assert_eq!(event.message, expected_summary(raw));
    }
}

#[test]
fn admission_reviews_are_all_dead_letters() {
    let relative = "kube_audit_rest_admissionreview/kube-audit-rest.log";
    let (path, bytes) = corpus_file(relative);
    let lines = raw_lines(&bytes);
    // The brief says 58 (the file's newline count); the last line has no newline: 59 objects.
    assert_eq!(lines.len(), 59);
    assert_eq!(
        detect_format(path.as_ref(), &bytes),
        Some(Format::K8sAudit),
        "path hint"
    );
    assert_eq!(
        detect_format("/tmp/x.log".as_ref(), &bytes),
        None,
        "not audit content"
    );
    let outs = run(Format::K8sAudit, &path, &bytes);
    assert!(events(&outs).is_empty());
    let letters = dead_letters(&outs);
    assert_eq!(letters.len(), lines.len());
    for (letter, (number, offset, raw)) in letters.iter().zip(&lines) {
        assert_eq!(
            letter.error,
            format!("line {number}: not a Kubernetes audit event: kind is AdmissionReview")
        );
        assert_eq!((letter.line, letter.offset), (Some(*number), Some(*offset)));
        assert_eq!(&letter.raw, raw);
    }
}
