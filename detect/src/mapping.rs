//! Field names of a log source mapped to the fields of Kestrel events, and which events a log
//! source covers.
//!
//! Kubernetes audit events keep the apiserver's field names, so most Sigma fields need no
//! mapping. The community rules also use a few short names that the Kubernetes audit schema
//! nests deeper (`hostPath`, `capabilities`, `apiGroup`); they map to every place a pod
//! template can hold them.

use crate::rule::LogSource;

/// Where a pod spec can sit in an audit event's request object: a pod, a workload template,
/// a CronJob's job template.
const POD_SPECS: [&str; 3] = [
    "requestObject.spec",
    "requestObject.spec.template.spec",
    "requestObject.spec.jobTemplate.spec.template.spec",
];

/// The event fields a rule's field stands for (any of them may match).
pub fn field_paths(logsource: &LogSource, field: &str) -> Vec<String> {
    if !is_kubernetes_audit(logsource) {
        return vec![field.to_owned()];
    }
    match field {
        "apiGroup" => vec!["objectRef.apiGroup".to_owned()],
        "hostPath" => POD_SPECS
            .iter()
            .map(|spec| format!("{spec}.volumes.hostPath"))
            .collect(),
        "capabilities" => POD_SPECS
            .iter()
            .flat_map(|spec| {
                ["containers", "initContainers", "ephemeralContainers"]
                    .map(|c| format!("{spec}.{c}.securityContext.capabilities"))
            })
            .collect(),
        other => vec![other.to_owned()],
    }
}

/// Whether a rule of this log source applies to events of `kind` (`event.kind`).
pub fn covers(logsource: &LogSource, kind: &str) -> bool {
    if is_kubernetes_audit(logsource) {
        return kind == "k8s_audit";
    }
    let container = ["docker", "container", "containers"];
    let is_container = [&logsource.product, &logsource.service]
        .into_iter()
        .flatten()
        .any(|v| container.contains(&v.as_str()));
    if is_container {
        return kind == "container";
    }
    true
}

fn is_kubernetes_audit(logsource: &LogSource) -> bool {
    logsource.product.as_deref() == Some("kubernetes")
        && logsource.service.as_deref() == Some("audit")
}
