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

/// Whether a rule of this log source applies to events of `kind` (`event.kind`): the kind
/// its log source names (see [`event_kind`]), else every kind.
pub fn covers(logsource: &LogSource, kind: &str) -> bool {
    event_kind(logsource).is_none_or(|own| own == kind)
}

/// The event kind a log source names, if any: `k8s_audit` for `product: kubernetes` with
/// `service: audit`; `falco` for `product: falco` (or `service: falco`), Falco's runtime
/// alerts; `container` for `docker`, `container` or `containers` as product or service.
pub fn event_kind(logsource: &LogSource) -> Option<&'static str> {
    if is_kubernetes_audit(logsource) {
        return Some("k8s_audit");
    }
    let names = || {
        [&logsource.product, &logsource.service]
            .into_iter()
            .flatten()
    };
    if names().any(|v| v == "falco") {
        return Some("falco");
    }
    let container = ["docker", "container", "containers"];
    if names().any(|v| container.contains(&v.as_str())) {
        return Some("container");
    }
    None
}

fn is_kubernetes_audit(logsource: &LogSource) -> bool {
    logsource.product.as_deref() == Some("kubernetes")
        && logsource.service.as_deref() == Some("audit")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(product: Option<&str>, service: Option<&str>) -> LogSource {
        LogSource {
            product: product.map(str::to_owned),
            service: service.map(str::to_owned),
            ..LogSource::default()
        }
    }

    #[test]
    fn each_log_source_covers_its_own_kind() {
        let audit = source(Some("kubernetes"), Some("audit"));
        assert!(covers(&audit, "k8s_audit") && !covers(&audit, "falco"));
        let falco = source(Some("falco"), None);
        assert_eq!(event_kind(&falco), Some("falco"));
        assert!(covers(&falco, "falco"));
        assert!(!covers(&falco, "k8s_audit") && !covers(&falco, "container"));
        assert_eq!(event_kind(&source(None, Some("falco"))), Some("falco"));
        let docker = source(Some("docker"), None);
        assert!(covers(&docker, "container") && !covers(&docker, "falco"));
        let any = source(Some("linux"), None);
        assert_eq!(event_kind(&any), None);
        assert!(covers(&any, "falco") && covers(&any, "container"));
    }
}
