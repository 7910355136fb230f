//! The task that keeps the pod cache up to date: a kube-rs watcher of this node's pods
//! (`fieldSelector=spec.nodeName=<node>`, lists served from the apiserver's cache with
//! `resourceVersion=0`), reconnecting with exponential backoff.

use std::pin::pin;
use std::sync::PoisonError;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Client};

use super::cache::{PodCache, PodMeta};
use super::enricher::SharedPodCache;

/// How often deleted pods past their grace period are forgotten.
const PURGE_INTERVAL: Duration = Duration::from_secs(10);

/// The watcher settings: this node's pods, listed from the apiserver's cache.
///
/// Unpaginated: kube-rs leaves `resourceVersion=0` out of paginated lists (the apiserver's cache
/// cannot page), and a node holds a few hundred pods at most.
pub(super) fn watcher_config(node_name: &str) -> watcher::Config {
    let mut config = watcher::Config::default()
        .fields(&format!("spec.nodeName={node_name}"))
        .any_semantic();
    config.page_size = None;
    config
}

/// Watches this node's pods until the task is aborted, applying every change to `cache`;
/// `listed` becomes true once the first full list is in.
pub(super) async fn run(
    client: Client,
    node_name: String,
    cache: SharedPodCache,
    listed: tokio::sync::watch::Sender<bool>,
) {
    let api: Api<Pod> = Api::all(client);
    let mut events = pin!(watcher(api, watcher_config(&node_name)).default_backoff());
    let mut purge = tokio::time::interval(PURGE_INTERVAL);
    purge.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tracing::info!(node = %node_name, "watching kubernetes pods");
    loop {
        tokio::select! {
            event = events.next() => match event {
                Some(Ok(event)) => {
                    let list_complete = matches!(event, Event::InitDone);
                    update(&cache, event);
                    if list_complete {
                        listed.send_replace(true);
                    }
                }
                Some(Err(error)) => {
                    tracing::warn!(%error, node = %node_name, "kubernetes pod watch failed, retrying with backoff");
                }
                None => {
                    tracing::warn!(node = %node_name, "kubernetes pod watch ended");
                    return;
                }
            },
            _ = purge.tick() => {
                let mut cache = cache.write().unwrap_or_else(PoisonError::into_inner);
                cache.purge(Instant::now());
                record_counts(&cache);
            }
        }
    }
}

/// What one watcher event does to the cache, worked out before taking the lock.
enum Change {
    BeginResync,
    Apply(PodMeta),
    Delete(String),
    FinishResync,
    Nothing,
}

impl Change {
    fn of(event: Event<Pod>) -> Change {
        match event {
            Event::Init => Change::BeginResync,
            Event::InitApply(pod) | Event::Apply(pod) => match PodMeta::from_pod(&pod) {
                Some(meta) => Change::Apply(meta),
                None => {
                    tracing::debug!("kubernetes pod without uid, namespace or name skipped");
                    Change::Nothing
                }
            },
            Event::Delete(pod) => pod.metadata.uid.map_or(Change::Nothing, Change::Delete),
            Event::InitDone => Change::FinishResync,
        }
    }
}

/// Applies one watcher event; the lock is held only for the update.
fn update(cache: &SharedPodCache, event: Event<Pod>) {
    let change = Change::of(event);
    let now = Instant::now();
    let mut cache = cache.write().unwrap_or_else(PoisonError::into_inner);
    match change {
        Change::BeginResync => cache.begin_resync(),
        Change::Apply(meta) => cache.apply(meta),
        Change::Delete(uid) => cache.delete(&uid, now),
        Change::FinishResync => {
            cache.finish_resync(now);
            tracing::info!(pods = cache.counts().live, "kubernetes pods listed");
        }
        Change::Nothing => {}
    }
    record_counts(&cache);
}

/// `kestrel_collector_kubernetes_pods{state="live"|"deleted"}`: the pods held in the cache.
fn record_counts(cache: &PodCache) {
    let counts = cache.counts();
    metrics::gauge!("kestrel_collector_kubernetes_pods", "state" => "live").set(counts.live as f64);
    metrics::gauge!("kestrel_collector_kubernetes_pods", "state" => "deleted")
        .set(counts.deleted as f64);
}
