//! Container and Kubernetes metadata encoded in log file paths.
//!
//! Three layouts are recognized (only the last path components matter, so that host
//! directories mounted elsewhere, e.g. `/host/var/log/...`, work too):
//!
//! * Kubernetes' per-container symlinks: `/var/log/containers/<pod>_<namespace>_<container>-<id>.log`
//!   (`<id>`: 64 hex digits);
//! * Kubernetes' per-pod directories: `/var/log/pods/<namespace>_<pod>_<pod uid>/<container>/<N>.log`
//!   (also rotated files such as `0.log.20240101-000000`);
//! * Docker's own files: `/var/lib/docker/containers/<id>/<id>-json.log` (also `-json.log.1`).

use kestrel_event::{ContainerMeta, Event, KubernetesContainer, KubernetesMeta, KubernetesPod};

/// What a path says about the container that wrote the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathMeta {
    /// `container.id`.
    pub container_id: Option<String>,
    /// `kubernetes.namespace`.
    pub namespace: Option<String>,
    /// `kubernetes.pod.name`.
    pub pod_name: Option<String>,
    /// `kubernetes.pod.uid`.
    pub pod_uid: Option<String>,
    /// `kubernetes.container.name`.
    pub container_name: Option<String>,
}

impl PathMeta {
    /// Parses `path` (`/` separated); fields the path does not tell stay `None`.
    pub fn parse(path: &str) -> PathMeta {
        let mut parts = path.rsplit('/');
        let file = parts.next().unwrap_or("");
        let parent = parts.next().unwrap_or("");
        let grandparent = parts.next().unwrap_or("");
        containers_link(file)
            .or_else(|| pods_dir(file, parent, grandparent))
            .or_else(|| docker_dir(file, parent))
            .unwrap_or_default()
    }

    /// Whether the path told nothing.
    pub fn is_empty(&self) -> bool {
        self == &PathMeta::default()
    }

    /// The `container.*` part of an event, if any.
    pub fn container(&self) -> Option<ContainerMeta> {
        self.container_id.as_ref().map(|id| ContainerMeta {
            id: Some(id.clone()),
            ..ContainerMeta::default()
        })
    }

    /// The `kubernetes.*` part of an event, if any.
    pub fn kubernetes(&self) -> Option<KubernetesMeta> {
        if self.namespace.is_none() && self.pod_name.is_none() && self.container_name.is_none() {
            return None;
        }
        let pod = (self.pod_name.is_some() || self.pod_uid.is_some()).then(|| KubernetesPod {
            name: self.pod_name.clone(),
            uid: self.pod_uid.clone(),
            ..KubernetesPod::default()
        });
        let container = self
            .container_name
            .as_ref()
            .map(|name| KubernetesContainer {
                name: Some(name.clone()),
            });
        Some(KubernetesMeta {
            namespace: self.namespace.clone(),
            pod,
            container,
            node: None,
        })
    }

    /// Sets `container.*` and `kubernetes.*` on `event`.
    pub fn apply(&self, event: &mut Event) {
        event.container = self.container();
        event.kubernetes = self.kubernetes();
    }
}

fn is_container_id(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `<pod>_<namespace>_<container>-<64 hex>.log`. Pod, namespace and container names are DNS
/// labels/subdomains, which cannot contain `_`, so the split is unambiguous.
fn containers_link(file: &str) -> Option<PathMeta> {
    let stem = file.strip_suffix(".log")?;
    let dash = stem.len().checked_sub(65)?;
    let (names, id) = (stem.get(..dash)?, stem.get(dash..)?);
    let id = id.strip_prefix('-')?;
    if !is_container_id(id) {
        return None;
    }
    let (pod, namespace, container) = three_parts(names)?;
    Some(PathMeta {
        container_id: Some(id.to_owned()),
        namespace: Some(namespace.to_owned()),
        pod_name: Some(pod.to_owned()),
        pod_uid: None,
        container_name: Some(container.to_owned()),
    })
}

/// `<namespace>_<pod>_<uid>/<container>/<N>.log[.<rotation suffix>]`.
fn pods_dir(file: &str, container: &str, pod_dir: &str) -> Option<PathMeta> {
    let digits = file.bytes().take_while(u8::is_ascii_digit).count();
    let rest = file.get(digits..)?;
    if digits == 0 || !(rest == ".log" || rest.starts_with(".log.")) {
        return None;
    }
    if container.is_empty() || container.contains('_') {
        return None;
    }
    let (namespace, pod, uid) = three_parts(pod_dir)?;
    Some(PathMeta {
        container_id: None,
        namespace: Some(namespace.to_owned()),
        pod_name: Some(pod.to_owned()),
        pod_uid: Some(uid.to_owned()),
        container_name: Some(container.to_owned()),
    })
}

/// `<id>/<id>-json.log[.N]`.
fn docker_dir(file: &str, dir: &str) -> Option<PathMeta> {
    if !is_container_id(dir) {
        return None;
    }
    let rest = file.strip_prefix(dir)?;
    if !(rest == "-json.log" || rest.starts_with("-json.log.")) {
        return None;
    }
    Some(PathMeta {
        container_id: Some(dir.to_owned()),
        ..PathMeta::default()
    })
}

/// Splits `a_b_c` into three non-empty parts.
fn three_parts(text: &str) -> Option<(&str, &str, &str)> {
    let mut parts = text.split('_');
    let (a, b, c) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || a.is_empty() || b.is_empty() || c.is_empty() {
        return None;
    }
    Some((a, b, c))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "b75ad5eba8ddde3687e11d07b5f1d13b59c6168d5183621ac2792482b99e7155";

    #[test]
    fn kubernetes_container_links() {
        let meta = PathMeta::parse(&format!(
            "/var/log/containers/session-db-fdd649d68-cq5sp_socks_istio-proxy-{ID}.log"
        ));
        assert_eq!(meta.pod_name.as_deref(), Some("session-db-fdd649d68-cq5sp"));
        assert_eq!(meta.namespace.as_deref(), Some("socks"));
        assert_eq!(meta.container_name.as_deref(), Some("istio-proxy"));
        assert_eq!(meta.container_id.as_deref(), Some(ID));
        assert_eq!(meta.pod_uid, None);
    }

    #[test]
    fn kubernetes_pod_directories() {
        let meta = PathMeta::parse(
            "/var/log/pods/kube-system_coredns-5d78c9869d-abcde_0f6d0f5e-1111-2222-3333-444455556666/coredns/3.log",
        );
        assert_eq!(meta.namespace.as_deref(), Some("kube-system"));
        assert_eq!(meta.pod_name.as_deref(), Some("coredns-5d78c9869d-abcde"));
        assert_eq!(
            meta.pod_uid.as_deref(),
            Some("0f6d0f5e-1111-2222-3333-444455556666")
        );
        assert_eq!(meta.container_name.as_deref(), Some("coredns"));
        assert_eq!(meta.container_id, None);
        let rotated = PathMeta::parse("/host/var/log/pods/ns_pod_uid/c/0.log.20240101-000000");
        assert_eq!(rotated.container_name.as_deref(), Some("c"));
    }

    #[test]
    fn docker_container_directories() {
        let meta = PathMeta::parse(&format!("/var/lib/docker/containers/{ID}/{ID}-json.log"));
        assert_eq!(meta.container_id.as_deref(), Some(ID));
        assert!(meta.kubernetes().is_none());
        assert_eq!(meta.container().and_then(|c| c.id).as_deref(), Some(ID));
        let rotated = PathMeta::parse(&format!("/x/{ID}/{ID}-json.log.3"));
        assert_eq!(rotated.container_id.as_deref(), Some(ID));
    }

    #[test]
    fn other_paths_tell_nothing() {
        for path in [
            "",
            "/",
            "x.log",
            "/var/log/containers/core_base_fluent-bit.log",
            "/var/log/containers/a_b-0123.log",
            &format!("/var/log/containers/a_b_c_d-{ID}.log"),
            &format!("/var/log/containers/_b_c-{ID}.log"),
            "/var/log/pods/ns_pod/c/0.log",
            "/var/log/pods/ns_pod_uid/c/x.log",
            &format!("/var/lib/docker/containers/{ID}/other-json.log"),
            "/var/log/ünïcödé_ß_€-ab.log",
        ] {
            assert!(PathMeta::parse(path).is_empty(), "{path}");
        }
    }
}
