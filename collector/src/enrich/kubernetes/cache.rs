//! The pods of this node as the Kubernetes API last described them, looked up by uid or by
//! namespace and name; deleted pods stay for a grace period so that lines read late are still
//! enriched.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kestrel_event::KubernetesOwner;
use serde_json::{Map, Value};

/// What events are enriched with about one pod.
#[derive(Debug, Clone, PartialEq)]
pub struct PodMeta {
    /// `metadata.uid`.
    pub uid: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.labels`, as JSON strings (the form events carry them in).
    pub labels: Map<String, Value>,
    /// The owner reference marked `controller: true`, if any.
    pub owner: Option<KubernetesOwner>,
    /// `spec.nodeName`.
    pub node_name: Option<String>,
}

impl PodMeta {
    /// The metadata of an API object; `None` without a uid, namespace or name (which the API
    /// always sets on stored pods).
    pub fn from_pod(pod: &Pod) -> Option<PodMeta> {
        let meta = &pod.metadata;
        let labels = meta
            .labels
            .iter()
            .flatten()
            .map(|(key, value)| (key.clone(), Value::String(value.clone())))
            .collect();
        let owner = meta
            .owner_references
            .iter()
            .flatten()
            .find(|owner| owner.controller == Some(true))
            .map(|owner| KubernetesOwner {
                kind: owner.kind.clone(),
                name: owner.name.clone(),
            });
        Some(PodMeta {
            uid: meta.uid.clone().filter(|s| !s.is_empty())?,
            namespace: meta.namespace.clone().filter(|s| !s.is_empty())?,
            name: meta.name.clone().filter(|s| !s.is_empty())?,
            labels,
            owner,
            node_name: pod.spec.as_ref().and_then(|spec| spec.node_name.clone()),
        })
    }
}

/// A deleted pod, kept until `expires`.
#[derive(Debug)]
struct Tombstone {
    pod: Arc<PodMeta>,
    expires: Instant,
}

/// uid by namespace, then name: looked up with borrowed strings, without allocating.
type NameIndex = HashMap<String, HashMap<String, String>>;

fn index_insert(index: &mut NameIndex, pod: &PodMeta) {
    index
        .entry(pod.namespace.clone())
        .or_default()
        .insert(pod.name.clone(), pod.uid.clone());
}

/// Removes `namespace/name` from the index if it points at `uid` (a newer pod of the same name
/// keeps its entry).
fn index_remove(index: &mut NameIndex, pod: &PodMeta) {
    if let Some(names) = index.get_mut(&pod.namespace) {
        if names.get(&pod.name) == Some(&pod.uid) {
            names.remove(&pod.name);
        }
        if names.is_empty() {
            index.remove(&pod.namespace);
        }
    }
}

fn index_get<'a>(index: &'a NameIndex, namespace: &str, name: &str) -> Option<&'a String> {
    index.get(namespace)?.get(name)
}

/// How many pods the cache holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PodCounts {
    /// Pods that exist.
    pub live: usize,
    /// Deleted pods still inside their grace period.
    pub deleted: usize,
}

/// The pods of this node, kept up to date from watch events.
///
/// A resync (a new list after the watch broke) is framed by [`PodCache::begin_resync`] and
/// [`PodCache::finish_resync`]: pods the new list lacks were deleted meanwhile and become
/// tombstones like any other deleted pod.
#[derive(Debug)]
pub struct PodCache {
    grace: Duration,
    live: HashMap<String, Arc<PodMeta>>,
    live_names: NameIndex,
    deleted: HashMap<String, Tombstone>,
    deleted_names: NameIndex,
    resync: Option<HashSet<String>>,
}

impl PodCache {
    /// An empty cache keeping deleted pods for `grace`.
    pub fn new(grace: Duration) -> PodCache {
        PodCache {
            grace,
            live: HashMap::new(),
            live_names: NameIndex::new(),
            deleted: HashMap::new(),
            deleted_names: NameIndex::new(),
            resync: None,
        }
    }

    /// Adds or replaces a pod that exists.
    pub fn apply(&mut self, pod: PodMeta) {
        if let Some(seen) = self.resync.as_mut() {
            seen.insert(pod.uid.clone());
        }
        if let Some(tombstone) = self.deleted.remove(&pod.uid) {
            index_remove(&mut self.deleted_names, &tombstone.pod);
        }
        if let Some(old) = self.live.get(&pod.uid) {
            if old.namespace != pod.namespace || old.name != pod.name {
                let old = Arc::clone(old);
                index_remove(&mut self.live_names, &old);
            }
        }
        index_insert(&mut self.live_names, &pod);
        self.live.insert(pod.uid.clone(), Arc::new(pod));
    }

    /// Marks the pod with this uid deleted at `now`: it stays found until `now + grace`.
    pub fn delete(&mut self, uid: &str, now: Instant) {
        let Some(pod) = self.live.remove(uid) else {
            return;
        };
        index_remove(&mut self.live_names, &pod);
        index_insert(&mut self.deleted_names, &pod);
        self.deleted.insert(
            pod.uid.clone(),
            Tombstone {
                pod,
                expires: now + self.grace,
            },
        );
    }

    /// A new full list starts: pods applied until [`PodCache::finish_resync`] are the ones that
    /// exist. Lookups keep answering from what was known meanwhile.
    pub fn begin_resync(&mut self) {
        self.resync = Some(HashSet::new());
    }

    /// The full list is complete: pods it lacked were deleted, at `now` as far as anyone knows.
    pub fn finish_resync(&mut self, now: Instant) {
        let Some(seen) = self.resync.take() else {
            return;
        };
        let gone: Vec<String> = self
            .live
            .keys()
            .filter(|uid| !seen.contains(*uid))
            .cloned()
            .collect();
        for uid in gone {
            self.delete(&uid, now);
        }
    }

    /// Forgets deleted pods whose grace period is over.
    pub fn purge(&mut self, now: Instant) {
        let expired: Vec<String> = self
            .deleted
            .iter()
            .filter(|(_, tombstone)| tombstone.expires <= now)
            .map(|(uid, _)| uid.clone())
            .collect();
        for uid in expired {
            if let Some(tombstone) = self.deleted.remove(&uid) {
                index_remove(&mut self.deleted_names, &tombstone.pod);
            }
        }
    }

    /// The pod with this uid, live or deleted less than the grace period before `now`.
    pub fn by_uid(&self, uid: &str, now: Instant) -> Option<Arc<PodMeta>> {
        if let Some(pod) = self.live.get(uid) {
            return Some(Arc::clone(pod));
        }
        self.deleted
            .get(uid)
            .filter(|tombstone| tombstone.expires > now)
            .map(|tombstone| Arc::clone(&tombstone.pod))
    }

    /// The pod of this namespace and name: the live one, else the last deleted one still inside
    /// its grace period.
    pub fn by_name(&self, namespace: &str, name: &str, now: Instant) -> Option<Arc<PodMeta>> {
        if let Some(uid) = index_get(&self.live_names, namespace, name) {
            if let Some(pod) = self.live.get(uid) {
                return Some(Arc::clone(pod));
            }
        }
        let uid = index_get(&self.deleted_names, namespace, name)?;
        self.by_uid(uid, now)
    }

    /// How many pods are held.
    pub fn counts(&self) -> PodCounts {
        PodCounts {
            live: self.live.len(),
            deleted: self.deleted.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cache holds `live` pods and `deleted` ones inside their grace period.
    #[track_caller]
    fn assert_counts(cache: &PodCache, live: usize, deleted: usize) {
        assert_eq!(cache.counts(), PodCounts { live, deleted });
    }

    const GRACE: Duration = Duration::from_secs(300);

    fn pod(uid: &str, namespace: &str, name: &str, app: &str) -> PodMeta {
        let mut labels = Map::new();
        labels.insert("app".into(), Value::String(app.into()));
        PodMeta {
            uid: uid.into(),
            namespace: namespace.into(),
            name: name.into(),
            labels,
            owner: Some(KubernetesOwner {
                kind: "StatefulSet".into(),
                name: "db".into(),
            }),
            node_name: Some("node-a".into()),
        }
    }

    fn app(found: Option<Arc<PodMeta>>) -> Option<String> {
        found.map(|p| p.labels["app"].as_str().unwrap_or_default().to_owned())
    }

    #[test]
    fn finds_pods_by_uid_and_by_name() {
        let now = Instant::now();
        let mut cache = PodCache::new(GRACE);
        cache.apply(pod("u1", "shop", "web-1", "web"));
        cache.apply(pod("u2", "shop", "db-0", "db"));
        assert_eq!(app(cache.by_uid("u1", now)).as_deref(), Some("web"));
        assert_eq!(
            app(cache.by_name("shop", "db-0", now)).as_deref(),
            Some("db")
        );
        assert!(cache.by_uid("u3", now).is_none());
        assert!(cache.by_name("other", "db-0", now).is_none());
        assert!(cache.by_name("shop", "db-1", now).is_none());
        // A modification replaces the metadata.
        cache.apply(pod("u1", "shop", "web-1", "web-v2"));
        assert_eq!(app(cache.by_uid("u1", now)).as_deref(), Some("web-v2"));
        assert_counts(&cache, 2, 0);
    }

    #[test]
    fn deleted_pods_are_found_until_the_grace_period_ends() {
        let start = Instant::now();
        let mut cache = PodCache::new(GRACE);
        cache.apply(pod("u1", "shop", "web-1", "web"));
        cache.delete("u1", start);
        assert_counts(&cache, 0, 1);
        let late = start + GRACE - Duration::from_secs(1);
        assert_eq!(app(cache.by_uid("u1", late)).as_deref(), Some("web"));
        assert_eq!(
            app(cache.by_name("shop", "web-1", late)).as_deref(),
            Some("web")
        );
        // Past the grace period nothing is found, even before a purge...
        let expired = start + GRACE;
        assert!(cache.by_uid("u1", expired).is_none());
        assert!(cache.by_name("shop", "web-1", expired).is_none());
        // ...which then frees the memory, and only of expired pods.
        cache.apply(pod("u2", "shop", "web-2", "web"));
        cache.delete("u2", late);
        cache.purge(expired);
        assert_counts(&cache, 0, 1);
        assert!(cache.by_uid("u2", expired).is_some());
        // Deleting what is unknown or already deleted changes nothing.
        cache.delete("u2", expired);
        cache.delete("nope", expired);
        assert_counts(&cache, 0, 1);
    }

    #[test]
    fn a_recreated_pod_of_the_same_name_wins_the_name_lookup() {
        let now = Instant::now();
        let mut cache = PodCache::new(GRACE);
        cache.apply(pod("old", "shop", "db-0", "db-old"));
        cache.delete("old", now);
        assert_eq!(
            app(cache.by_name("shop", "db-0", now)).as_deref(),
            Some("db-old")
        );
        cache.apply(pod("new", "shop", "db-0", "db-new"));
        assert_eq!(
            app(cache.by_name("shop", "db-0", now)).as_deref(),
            Some("db-new")
        );
        // The old one's late lines still carry its own metadata.
        assert_eq!(app(cache.by_uid("old", now)).as_deref(), Some("db-old"));
        // Deleting the new one leaves the latest deletion under the name.
        let later = now + Duration::from_secs(1);
        cache.delete("new", later);
        assert_eq!(
            app(cache.by_name("shop", "db-0", later)).as_deref(),
            Some("db-new")
        );
        cache.purge(now + GRACE);
        assert!(cache.by_uid("old", now + GRACE).is_none());
        assert_eq!(
            app(cache.by_name("shop", "db-0", now + GRACE)).as_deref(),
            Some("db-new")
        );
        cache.purge(later + GRACE);
        assert_eq!(cache.counts(), PodCounts::default());
        assert!(cache.live_names.is_empty() && cache.deleted_names.is_empty());
    }

    #[test]
    fn a_resync_turns_pods_missing_from_the_new_list_into_tombstones() {
        let now = Instant::now();
        let mut cache = PodCache::new(GRACE);
        cache.apply(pod("u1", "shop", "web-1", "web"));
        cache.apply(pod("u2", "shop", "web-2", "web"));
        cache.begin_resync();
        cache.apply(pod("u2", "shop", "web-2", "web"));
        cache.apply(pod("u3", "shop", "web-3", "web"));
        // Until the list is complete, nothing is taken for deleted.
        assert_counts(&cache, 3, 0);
        cache.finish_resync(now);
        assert_counts(&cache, 2, 1);
        assert!(cache.by_uid("u1", now).is_some());
        assert!(cache.by_uid("u1", now + GRACE).is_none());
        // A pod that comes back is live again.
        cache.apply(pod("u1", "shop", "web-1", "web"));
        assert_counts(&cache, 3, 0);
        // Ending a resync that never began changes nothing.
        cache.finish_resync(now);
        assert_counts(&cache, 3, 0);
    }

    #[test]
    fn api_objects_give_labels_controller_and_node() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": "web-5d4f8b7c9-x7k2p",
                "namespace": "shop",
                "uid": "6f1a7c52-1b9e-4c1e-9a57-2b8f0c3d4e5f",
                "labels": {"app": "web", "app.kubernetes.io/part-of": "shop"},
                "ownerReferences": [
                    {"apiVersion": "v1", "kind": "Node", "name": "n", "uid": "a"},
                    {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5d4f8b7c9",
                     "uid": "b", "controller": true, "blockOwnerDeletion": true}
                ]
            },
            "spec": {"nodeName": "node-a", "containers": [{"name": "web"}]}
        }))
        .unwrap();
        let meta = PodMeta::from_pod(&pod).unwrap();
        assert_eq!(meta.uid, "6f1a7c52-1b9e-4c1e-9a57-2b8f0c3d4e5f");
        assert_eq!(meta.labels["app.kubernetes.io/part-of"], "shop");
        let owner = meta.owner.unwrap();
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str()),
            ("ReplicaSet", "web-5d4f8b7c9")
        );
        assert_eq!(meta.node_name.as_deref(), Some("node-a"));

        let bare: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "n", "uid": "u"}
        }))
        .unwrap();
        let meta = PodMeta::from_pod(&bare).unwrap();
        assert!(meta.labels.is_empty() && meta.owner.is_none() && meta.node_name.is_none());
        let no_uid: Pod =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "p"}})).unwrap();
        assert!(PodMeta::from_pod(&no_uid).is_none());
    }
}
