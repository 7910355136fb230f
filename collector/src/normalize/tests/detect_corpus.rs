//! Format detection on every corpus file the normalizer tests use.

use super::{corpus_file, corpus_files};
use crate::normalize::{detect_format, Format};

#[test]
fn every_corpus_log_is_detected() {
    let mut cases: Vec<(String, Format)> = Vec::new();
    let mut add = |files: Vec<String>, format| cases.extend(files.into_iter().map(|f| (f, format)));
    add(
        corpus_files("fluent_bit_container_logs/runtime/data/tail/log", ".log"),
        Format::Docker,
    );
    add(
        corpus_files("fluent_bit_container_logs/runtime/data/kubernetes", ".log"),
        Format::Docker,
    );
    add(
        vec!["beats_docker_json/docker_corrupted.log".into()],
        Format::Docker,
    );
    add(
        vec!["crowdsec_hub/tests/docker-logs/docker-logs.log".into()],
        Format::Docker,
    );
    add(
        vec!["crowdsec_hub/tests/cri-logs/cri-logs.log".into()],
        Format::Cri,
    );
    add(
        vec!["fluent_bit_container_logs/internal/data/avro/multiline_cri_lines.log".into()],
        Format::Cri,
    );
    let crowdsec = corpus_files("crowdsec_hub/tests", ".log");
    add(
        crowdsec
            .iter()
            .filter(|f| f.contains("/envoy-"))
            .cloned()
            .collect(),
        Format::Cri,
    );
    add(
        crowdsec
            .iter()
            .filter(|f| f.contains("/k8s-audit-"))
            .cloned()
            .collect(),
        Format::K8sAudit,
    );
    add(
        corpus_files("falco_k8s_audit_traces", ".json"),
        Format::K8sAudit,
    );
    add(
        corpus_files("sysdig_aks_audit_samples", ".json"),
        Format::K8sAudit,
    );
    add(
        corpus_files("sysdig_aks_audit_samples", ".jsonl"),
        Format::K8sAudit,
    );
    add(
        vec![
            "audit2rbac/demo.log".into(),
            "combined/k8s_audit_events_all.jsonl".into(),
        ],
        Format::K8sAudit,
    );
    add(
        vec!["kube_audit_rest_admissionreview/kube-audit-rest.log".into()],
        Format::K8sAudit,
    );
    assert!(cases.len() > 120, "{}", cases.len());
    for (relative, want) in &cases {
        let (path, bytes) = corpus_file(relative);
        assert_eq!(
            detect_format(path.as_ref(), &bytes),
            Some(*want),
            "{relative}"
        );
        let head = &bytes[..bytes.len().min(4096)];
        assert_eq!(
            detect_format(path.as_ref(), head),
            Some(*want),
            "{relative} (4 KiB head)"
        );
        // Content alone, without the help of the path (these two are told by their path).
        let by_path_only =
            relative.ends_with("fal_01_003.json") || relative.contains("kube-audit-rest");
        let anonymous = detect_format("/data/file".as_ref(), head);
        if by_path_only {
            assert_eq!(anonymous, None, "{relative}");
        } else {
            assert_eq!(anonymous, Some(*want), "{relative} (content only)");
        }
    }
}
