//! Pod metadata from the Kubernetes API: the labels, controller and node of the pods of this
//! node, added to the events of their log files.
//!
//! [`start`] connects to the API (a kubeconfig file, else the in-cluster service account) and
//! spawns a task that watches the pods whose `spec.nodeName` is this node into a [`PodCache`];
//! the [`PodEnricher`] answers from that cache on the tailer's thread without touching the
//! network. Deleted pods are kept for a grace period, so that lines read after a pod is gone
//! are still enriched.

mod cache;
mod enricher;
mod watch;

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};
use kube::Client;

pub use cache::{PodCache, PodCounts, PodMeta};
pub use enricher::{PodEnricher, SharedPodCache};

/// Why the pod watch could not start.
#[derive(Debug, thiserror::Error)]
pub enum KubernetesError {
    /// The kubeconfig file could not be read or used.
    #[error("kubeconfig {path}: {source}")]
    Kubeconfig {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: KubeconfigError,
    },
    /// No kubeconfig was given and this process does not run in a pod.
    #[error("in-cluster kubernetes configuration: {0}")]
    InCluster(#[source] kube::config::InClusterError),
    /// The client could not be built from the configuration.
    #[error("kubernetes client: {0}")]
    Client(#[source] kube::Error),
}

/// What [`start`] needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodWatchSettings {
    /// Only pods with this `spec.nodeName` are watched.
    pub node_name: String,
    /// The kubeconfig file; `None` for the in-cluster configuration.
    pub kubeconfig: Option<PathBuf>,
    /// How long deleted pods stay in the cache.
    pub deleted_pod_grace: Duration,
}

/// A running pod watch: its enricher, and the task, which is stopped when this is dropped.
#[derive(Debug)]
pub struct PodWatch {
    enricher: Arc<PodEnricher>,
    listed: tokio::sync::watch::Receiver<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl PodWatch {
    /// The enricher answering from the watched pods.
    pub fn enricher(&self) -> Arc<PodEnricher> {
        Arc::clone(&self.enricher)
    }

    /// Waits until the first list of the node's pods is in the cache, at most `timeout`;
    /// returns whether it is. Lets the collector enrich the lines already on disk at start.
    pub async fn wait_until_listed(&self, timeout: Duration) -> bool {
        let mut listed = self.listed.clone();
        let outcome = tokio::time::timeout(timeout, listed.wait_for(|listed| *listed)).await;
        matches!(outcome, Ok(Ok(_)))
    }
}

impl Drop for PodWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Connects to the Kubernetes API and starts watching this node's pods (call from within a
/// tokio runtime). Fails only on configuration errors: an unreachable API is retried in the
/// background with backoff, and events are enriched once the pods are known.
pub async fn start(settings: PodWatchSettings) -> Result<PodWatch, KubernetesError> {
    let config = match &settings.kubeconfig {
        Some(path) => {
            let kubeconfig_error = |source| KubernetesError::Kubeconfig {
                path: path.clone(),
                source,
            };
            let kubeconfig = Kubeconfig::read_from(path).map_err(kubeconfig_error)?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .map_err(kubeconfig_error)?
        }
        None => kube::Config::incluster().map_err(KubernetesError::InCluster)?,
    };
    let client = Client::try_from(config).map_err(KubernetesError::Client)?;
    let cache: SharedPodCache = Arc::new(RwLock::new(PodCache::new(settings.deleted_pod_grace)));
    let enricher = Arc::new(PodEnricher::new(Arc::clone(&cache)));
    let (listed_tx, listed) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(watch::run(client, settings.node_name, cache, listed_tx));
    Ok(PodWatch {
        enricher,
        listed,
        task,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watch_is_restricted_to_the_node_and_lists_from_the_apiserver_cache() {
        let config = watch::watcher_config("node-a");
        assert_eq!(
            config.field_selector.as_deref(),
            Some("spec.nodeName=node-a")
        );
        assert_eq!(
            config.list_semantic,
            kube::runtime::watcher::ListSemantic::Any
        );
        assert_eq!(config.page_size, None);
    }
}
