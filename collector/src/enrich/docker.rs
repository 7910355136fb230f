//! What the Docker API says about containers, kept in memory and added to their events.
//!
//! [`DockerCache`] is filled by the API watcher ([`crate::discovery::docker`]) and read by
//! [`DockerEnricher`] on the tailer's thread: a lookup by `container.id` under a read lock,
//! never a network call. An event whose container is unknown is published as it is (counted as
//! a miss) and the watcher is asked to look the container up, for the events after it.
//!
//! Removed containers are kept for a grace period, for the lines of their logs still to be read.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use kestrel_event::{
    ComposeMeta, ContainerMeta, Event, KubernetesContainer, KubernetesMeta, KubernetesPod,
};
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use super::Enricher;

/// Kubernetes' labels on the Docker containers of its pods (dockershim, cri-dockerd).
const POD_NAMESPACE_LABEL: &str = "io.kubernetes.pod.namespace";
const POD_NAME_LABEL: &str = "io.kubernetes.pod.name";
const POD_UID_LABEL: &str = "io.kubernetes.pod.uid";
const CONTAINER_NAME_LABEL: &str = "io.kubernetes.container.name";
/// Docker Compose's labels on the containers it creates.
const COMPOSE_PROJECT_LABEL: &str = "com.docker.compose.project";
const COMPOSE_SERVICE_LABEL: &str = "com.docker.compose.service";

/// How many unknown container ids may wait for the watcher to look them up; more are dropped
/// (the next event of the same container asks again).
pub const LOOKUP_QUEUE: usize = 256;

/// What the Docker API tells about one container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerInfo {
    /// Full container id (64 hex digits).
    pub id: String,
    /// Name, without Docker's leading `/`.
    pub name: Option<String>,
    /// Image as the container was created from it (`nginx:1.27`), else the image id.
    pub image: Option<String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Its json-file log, when it has one.
    pub log_path: Option<String>,
}

/// The fields a container adds to its events, built once per container.
#[derive(Debug)]
struct Enrichment {
    name: Option<String>,
    image: Option<String>,
    compose: Option<ComposeMeta>,
    labels: Map<String, Value>,
    kubernetes: Option<KubernetesMeta>,
}

impl Enrichment {
    fn of(info: &ContainerInfo) -> Enrichment {
        let label = |key: &str| info.labels.get(key).filter(|v| !v.is_empty()).cloned();
        let (namespace, pod_name, pod_uid, container_name) = (
            label(POD_NAMESPACE_LABEL),
            label(POD_NAME_LABEL),
            label(POD_UID_LABEL),
            label(CONTAINER_NAME_LABEL),
        );
        let kubernetes = (namespace.is_some() || pod_name.is_some() || container_name.is_some())
            .then(|| KubernetesMeta {
                namespace,
                pod: (pod_name.is_some() || pod_uid.is_some()).then_some(KubernetesPod {
                    name: pod_name,
                    uid: pod_uid,
                    ..KubernetesPod::default()
                }),
                container: container_name.map(|name| KubernetesContainer { name: Some(name) }),
                ..KubernetesMeta::default()
            });
        let (project, service) = (label(COMPOSE_PROJECT_LABEL), label(COMPOSE_SERVICE_LABEL));
        let compose =
            (project.is_some() || service.is_some()).then_some(ComposeMeta { project, service });
        Enrichment {
            name: info.name.clone(),
            image: info.image.clone(),
            compose,
            labels: info
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
            kubernetes,
        }
    }

    /// Fills what the event does not say yet (what its file path told stays).
    fn apply(&self, event: &mut Event) {
        let container = event.container.get_or_insert_with(ContainerMeta::default);
        if container.name.is_none() {
            container.name.clone_from(&self.name);
        }
        if container.image.is_none() {
            container.image.clone_from(&self.image);
        }
        if container.compose.is_none() {
            container.compose.clone_from(&self.compose);
        }
        for (key, value) in &self.labels {
            if !container.labels.contains_key(key) {
                container.labels.insert(key.clone(), value.clone());
            }
        }
        let Some(from_labels) = &self.kubernetes else {
            return;
        };
        let kubernetes = event.kubernetes.get_or_insert_with(KubernetesMeta::default);
        if kubernetes.namespace.is_none() {
            kubernetes.namespace.clone_from(&from_labels.namespace);
        }
        if let Some(pod) = &from_labels.pod {
            let target = kubernetes.pod.get_or_insert_with(KubernetesPod::default);
            if target.name.is_none() {
                target.name.clone_from(&pod.name);
            }
            if target.uid.is_none() {
                target.uid.clone_from(&pod.uid);
            }
        }
        if kubernetes.container.is_none() {
            kubernetes.container.clone_from(&from_labels.container);
        }
    }
}

#[derive(Debug)]
struct Entry {
    enrichment: Arc<Enrichment>,
    /// When the container was seen removed.
    removed: Option<Instant>,
}

/// The metadata of known containers, by id.
#[derive(Debug, Default)]
pub struct DockerCache {
    entries: RwLock<HashMap<String, Entry>>,
    /// Whether the API answers (set by the watcher).
    connected: AtomicBool,
}

impl DockerCache {
    /// An empty cache.
    pub fn new() -> DockerCache {
        DockerCache::default()
    }

    /// Adds or replaces a container (live again if it was marked removed).
    pub fn upsert(&self, info: &ContainerInfo) {
        let entry = Entry {
            enrichment: Arc::new(Enrichment::of(info)),
            removed: None,
        };
        self.write().insert(info.id.clone(), entry);
    }

    /// Marks a container removed: its metadata stays until [`DockerCache::prune`] finds it
    /// older than the grace period.
    pub fn mark_removed(&self, id: &str, now: Instant) {
        if let Some(entry) = self.write().get_mut(id) {
            entry.removed.get_or_insert(now);
        }
    }

    /// Marks removed every live container whose id `alive` rejects (after a new listing).
    pub fn mark_removed_unless(&self, alive: impl Fn(&str) -> bool, now: Instant) {
        for (id, entry) in self.write().iter_mut() {
            if !alive(id) {
                entry.removed.get_or_insert(now);
            }
        }
    }

    /// Forgets containers removed more than `grace` before `now`.
    pub fn prune(&self, grace: Duration, now: Instant) {
        self.write().retain(|_, entry| {
            entry
                .removed
                .is_none_or(|removed| now.saturating_duration_since(removed) < grace)
        });
    }

    /// Records whether the API answers: only then is an unknown container worth waiting for.
    pub fn set_connected(&self, connected: bool) {
        self.connected.store(connected, Ordering::Relaxed);
    }

    /// Whether the API answered last time it was asked.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    /// Whether the container is known (live or within its grace period).
    pub fn contains(&self, id: &str) -> bool {
        self.read().contains_key(id)
    }

    /// Number of containers known.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether no container is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lookup(&self, id: &str) -> Option<Arc<Enrichment>> {
        self.read().get(id).map(|e| Arc::clone(&e.enrichment))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Entry>> {
        self.entries.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Entry>> {
        self.entries.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Adds `container.name`, `container.image`, `container.labels.*` and the `kubernetes.*`
/// fields of Kubernetes' labels to the events of containers in a [`DockerCache`].
#[derive(Debug)]
pub struct DockerEnricher {
    cache: Arc<DockerCache>,
    lookups: Option<mpsc::Sender<String>>,
    hits: metrics::Counter,
    misses: metrics::Counter,
}

impl DockerEnricher {
    /// An enricher reading `cache`; ids it does not know are sent to `lookups` (without
    /// waiting: dropped when the queue is full).
    pub fn new(cache: Arc<DockerCache>, lookups: Option<mpsc::Sender<String>>) -> DockerEnricher {
        DockerEnricher {
            cache,
            lookups,
            hits: metrics::counter!("kestrel_collector_enrichment_total", "source" => "docker", "result" => "hit"),
            misses: metrics::counter!("kestrel_collector_enrichment_total", "source" => "docker", "result" => "miss"),
        }
    }
}

impl Enricher for DockerEnricher {
    fn enrich(&self, event: &mut Event) {
        let Some(id) = event.container.as_ref().and_then(|c| c.id.as_deref()) else {
            return;
        };
        match self.cache.lookup(id) {
            Some(enrichment) => {
                self.hits.increment(1);
                enrichment.apply(event);
            }
            None => {
                self.misses.increment(1);
                self.look_up(id);
            }
        }
    }

    /// A new file of a container the API has not described yet, while the API answers: its
    /// `create` event is on its way (or the container is looked up now).
    fn expects(&self, path: &str) -> bool {
        let Some(id) = crate::normalize::PathMeta::parse(path).container_id else {
            return false;
        };
        if !self.cache.connected() || self.cache.contains(&id) {
            return false;
        }
        self.look_up(&id);
        true
    }
}

impl DockerEnricher {
    /// Asks the watcher to look a container up, without waiting.
    fn look_up(&self, id: &str) {
        if let Some(lookups) = &self.lookups {
            let _ = lookups.try_send(id.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kestrel_event::EventKind;

    const ID: &str = "b75ad5eba8ddde3687e11d07b5f1d13b59c6168d5183621ac2792482b99e7155";

    fn event(id: Option<&str>) -> Event {
        let now = chrono::Utc::now();
        let mut event = Event::new(EventKind::Container, "e1".into(), now, now);
        event.container = id.map(|id| ContainerMeta {
            id: Some(id.to_owned()),
            ..ContainerMeta::default()
        });
        event
    }

    fn info() -> ContainerInfo {
        ContainerInfo {
            id: ID.to_owned(),
            name: Some("web-1".into()),
            image: Some("nginx:1.27".into()),
            labels: BTreeMap::from([
                ("team".to_owned(), "blue".to_owned()),
                ("com.docker.compose.service".to_owned(), "web".to_owned()),
                (POD_NAMESPACE_LABEL.to_owned(), "shop".to_owned()),
                (POD_NAME_LABEL.to_owned(), "web-7d9f".to_owned()),
                (POD_UID_LABEL.to_owned(), "uid-1".to_owned()),
                (CONTAINER_NAME_LABEL.to_owned(), "nginx".to_owned()),
            ]),
            log_path: None,
        }
    }

    #[test]
    fn known_containers_get_name_image_labels_and_kubernetes_fields() {
        let cache = Arc::new(DockerCache::new());
        cache.upsert(&info());
        let enricher = DockerEnricher::new(Arc::clone(&cache), None);
        let mut e = event(Some(ID));
        enricher.enrich(&mut e);
        let container = e.container.as_ref().unwrap();
        assert_eq!(container.name.as_deref(), Some("web-1"));
        assert_eq!(container.image.as_deref(), Some("nginx:1.27"));
        assert_eq!(container.labels["team"], "blue");
        assert_eq!(container.labels["com.docker.compose.service"], "web");
        let compose = container.compose.as_ref().unwrap();
        assert_eq!(compose.service.as_deref(), Some("web"));
        assert_eq!(compose.project, None);
        let kubernetes = e.kubernetes.as_ref().unwrap();
        assert_eq!(kubernetes.namespace.as_deref(), Some("shop"));
        let pod = kubernetes.pod.as_ref().unwrap();
        assert_eq!(pod.name.as_deref(), Some("web-7d9f"));
        assert_eq!(pod.uid.as_deref(), Some("uid-1"));
        assert_eq!(
            kubernetes.container.as_ref().unwrap().name.as_deref(),
            Some("nginx")
        );
    }

    #[test]
    fn what_the_event_says_is_kept() {
        let cache = Arc::new(DockerCache::new());
        cache.upsert(&info());
        let mut e = event(Some(ID));
        e.kubernetes = Some(KubernetesMeta {
            namespace: Some("from-path".into()),
            ..KubernetesMeta::default()
        });
        DockerEnricher::new(cache, None).enrich(&mut e);
        let kubernetes = e.kubernetes.unwrap();
        assert_eq!(kubernetes.namespace.as_deref(), Some("from-path"));
        assert_eq!(kubernetes.pod.unwrap().name.as_deref(), Some("web-7d9f"));
    }

    #[test]
    fn unknown_containers_are_left_alone_and_looked_up() {
        let cache = Arc::new(DockerCache::new());
        let (tx, mut rx) = mpsc::channel(1);
        let enricher = DockerEnricher::new(cache, Some(tx));
        let mut e = event(Some(ID));
        enricher.enrich(&mut e);
        enricher.enrich(&mut e);
        assert_eq!(e.container.as_ref().unwrap().name, None);
        assert_eq!(rx.try_recv().unwrap(), ID, "asked once");
        assert!(rx.try_recv().is_err(), "a full queue drops, never blocks");
        let mut no_container = event(None);
        enricher.enrich(&mut no_container);
        assert!(no_container.container.is_none());
    }

    #[test]
    fn new_files_of_unknown_containers_are_waited_for_only_while_connected() {
        let cache = Arc::new(DockerCache::new());
        let (tx, mut rx) = mpsc::channel(4);
        let enricher = DockerEnricher::new(Arc::clone(&cache), Some(tx));
        let path = format!("/data/containers/{ID}/{ID}-json.log");
        assert!(!enricher.expects(&path), "api down: nothing to wait for");
        cache.set_connected(true);
        assert!(enricher.expects(&path));
        assert_eq!(rx.try_recv().unwrap(), ID, "looked up at once");
        assert!(!enricher.expects("/var/log/other.log"));
        cache.upsert(&info());
        assert!(!enricher.expects(&path), "known already");
    }

    #[test]
    fn removed_containers_stay_for_their_grace_period() {
        let cache = DockerCache::new();
        cache.upsert(&info());
        let start = Instant::now();
        cache.mark_removed(ID, start);
        cache.prune(Duration::from_secs(60), start + Duration::from_secs(59));
        assert!(cache.contains(ID));
        cache.prune(Duration::from_secs(60), start + Duration::from_secs(60));
        assert!(!cache.contains(ID));

        cache.upsert(&info());
        cache.mark_removed_unless(|id| id != ID, start);
        cache.upsert(&info());
        cache.prune(Duration::from_secs(1), start + Duration::from_secs(10));
        assert!(cache.contains(ID), "seen again: live");
    }
}
