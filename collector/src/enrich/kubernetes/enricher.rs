//! Adds a pod's labels, controller and node to the events of its log files.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Instant;

use kestrel_event::{Event, KubernetesMeta, KubernetesNode};
use metrics::Counter;

use super::cache::{PodCache, PodCounts, PodMeta};
use crate::enrich::Enricher;

/// The cache shared by the watch task (writer) and the enricher (reader).
pub type SharedPodCache = Arc<RwLock<PodCache>>;

/// The enricher of events from Kubernetes pods: finds the event's pod by `kubernetes.pod.uid`
/// (from `/var/log/pods/<ns>_<pod>_<uid>/...` paths), else by `kubernetes.namespace` and
/// `kubernetes.pod.name` (`/var/log/containers/...` links), and adds `kubernetes.pod.labels.*`,
/// `kubernetes.pod.owner.*` and `kubernetes.node.name`.
///
/// Each lookup of an event from a pod counts in `kestrel_collector_enrichment_total`
/// (`source="kubernetes"`, `result="hit"` or `"miss"`); other events are left alone.
#[derive(Debug)]
pub struct PodEnricher {
    cache: SharedPodCache,
    hits: Counter,
    misses: Counter,
}

impl PodEnricher {
    /// An enricher reading `cache`.
    pub fn new(cache: SharedPodCache) -> PodEnricher {
        PodEnricher {
            cache,
            hits: metrics::counter!(
                "kestrel_collector_enrichment_total",
                "source" => "kubernetes",
                "result" => "hit"
            ),
            misses: metrics::counter!(
                "kestrel_collector_enrichment_total",
                "source" => "kubernetes",
                "result" => "miss"
            ),
        }
    }

    /// How many pods the cache holds.
    pub fn counts(&self) -> PodCounts {
        self.cache
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .counts()
    }

    fn lookup(&self, k8s: &KubernetesMeta) -> Option<Arc<PodMeta>> {
        let pod = k8s.pod.as_ref()?;
        let cache = self.cache.read().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        match (&pod.uid, &k8s.namespace, &pod.name) {
            (Some(uid), _, _) => cache.by_uid(uid, now),
            (None, Some(namespace), Some(name)) => cache.by_name(namespace, name, now),
            _ => None,
        }
    }
}

impl Enricher for PodEnricher {
    fn enrich(&self, event: &mut Event) {
        let Some(k8s) = event.kubernetes.as_mut() else {
            return;
        };
        if k8s.pod.is_none() {
            return;
        }
        match self.lookup(k8s) {
            Some(pod) => {
                self.hits.increment(1);
                apply(k8s, &pod);
            }
            None => self.misses.increment(1),
        }
    }
}

/// Copies what the API knows about `pod` into the event, keeping what the path told.
fn apply(k8s: &mut KubernetesMeta, pod: &PodMeta) {
    k8s.namespace.get_or_insert_with(|| pod.namespace.clone());
    let target = k8s.pod.get_or_insert_with(Default::default);
    target.name.get_or_insert_with(|| pod.name.clone());
    target.uid.get_or_insert_with(|| pod.uid.clone());
    target.labels = pod.labels.clone();
    target.owner = pod.owner.clone();
    k8s.node = pod
        .node_name
        .as_ref()
        .map(|name| KubernetesNode { name: name.clone() });
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use kestrel_event::{parse_timestamp, EventKind, KubernetesOwner, KubernetesPod};
    use serde_json::{json, Map, Value};

    use super::*;

    fn cache_with_web_pod() -> SharedPodCache {
        let mut cache = PodCache::new(Duration::from_secs(60));
        let mut labels = Map::new();
        labels.insert("app".into(), Value::String("web".into()));
        cache.apply(PodMeta {
            uid: "u1".into(),
            namespace: "shop".into(),
            name: "web-1".into(),
            labels,
            owner: Some(KubernetesOwner {
                kind: "ReplicaSet".into(),
                name: "web-5d4f8b7c9".into(),
            }),
            node_name: Some("node-a".into()),
        });
        Arc::new(RwLock::new(cache))
    }

    fn event(namespace: Option<&str>, name: Option<&str>, uid: Option<&str>) -> Event {
        let ts = parse_timestamp("2024-05-01T10:00:00Z").unwrap_or_else(|e| panic!("{e}"));
        let mut event = Event::new(EventKind::Container, "id".into(), ts, ts);
        event.kubernetes = Some(KubernetesMeta {
            namespace: namespace.map(Into::into),
            pod: Some(KubernetesPod {
                name: name.map(Into::into),
                uid: uid.map(Into::into),
                ..KubernetesPod::default()
            }),
            ..KubernetesMeta::default()
        });
        event
    }

    #[test]
    fn events_get_labels_owner_and_node_by_uid_or_name() {
        let enricher = PodEnricher::new(cache_with_web_pod());
        for mut e in [
            event(Some("shop"), Some("web-1"), Some("u1")),
            event(Some("shop"), Some("web-1"), None),
        ] {
            enricher.enrich(&mut e);
            assert_eq!(e.field("kubernetes.pod.labels.app"), Some(json!("web")));
            assert_eq!(
                e.field("kubernetes.pod.owner.kind"),
                Some(json!("ReplicaSet"))
            );
            assert_eq!(
                e.field("kubernetes.pod.owner.name"),
                Some(json!("web-5d4f8b7c9"))
            );
            assert_eq!(e.field("kubernetes.node.name"), Some(json!("node-a")));
            assert_eq!(e.field("kubernetes.pod.uid"), Some(json!("u1")));
        }
    }

    #[test]
    fn unknown_pods_and_other_events_are_left_alone() {
        let enricher = PodEnricher::new(cache_with_web_pod());
        // A uid decides: a pod of the same name but another uid is another pod.
        let mut other_uid = event(Some("shop"), Some("web-1"), Some("u2"));
        let before = other_uid.clone();
        enricher.enrich(&mut other_uid);
        assert_eq!(other_uid, before);
        let mut no_name = event(Some("shop"), None, None);
        enricher.enrich(&mut no_name);
        assert_eq!(no_name.field("kubernetes.node.name"), None);
        let ts = parse_timestamp("2024-05-01T10:00:00Z").unwrap_or_else(|e| panic!("{e}"));
        let mut docker = Event::new(EventKind::Container, "id".into(), ts, ts);
        enricher.enrich(&mut docker);
        assert!(docker.kubernetes.is_none());
    }
}
