//! The Docker API watcher: lists the containers when it connects, then follows the daemon's
//! container events (`create`, `start`, `rename`, `die`, `destroy`), and keeps
//! [`DockerCache`] (names, images, labels) and [`DiscoveredPaths`] (each container's
//! json-file `LogPath` and its rotated files) up to date.
//!
//! When the API is unreachable or the connection drops, it tries again with a growing delay
//! ([`RETRY_INITIAL`] doubling up to [`RETRY_MAX`]); each new connection lists the containers
//! again. Meanwhile the tailer goes on reading the files its globs find, and what it already
//! knows keeps enriching events.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::errors::Error as BollardError;
use bollard::models::{ContainerInspectResponse, EventMessage};
use bollard::query_parameters::{EventsOptions, ListContainersOptions};
use bollard::{Docker, API_DEFAULT_VERSION};
use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};

use crate::enrich::docker::{ContainerInfo, DockerCache, DockerEnricher, LOOKUP_QUEUE};
use crate::tail::DiscoveredPaths;

/// First delay before connecting again after a failure.
pub const RETRY_INITIAL: Duration = Duration::from_millis(250);
/// Longest delay between two connection attempts.
pub const RETRY_MAX: Duration = Duration::from_secs(5);
/// Time limit of one API request (not of the events stream).
const REQUEST_TIMEOUT_SECONDS: u64 = 10;
/// How often removed containers past their grace period are forgotten.
const PRUNE_EVERY: Duration = Duration::from_secs(10);
/// How long an id the daemon does not know is not asked about again.
const UNKNOWN_RETRY: Duration = Duration::from_secs(30);
/// The container events that change what is known about containers.
const EVENTS: [&str; 5] = ["create", "start", "rename", "die", "destroy"];

/// Why a connection to the Docker API ended.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// The host setting is not a supported address.
    #[error("unsupported docker host {0:?} (expected unix://, tcp:// or http://)")]
    Host(String),
    /// A request failed, or the connection was lost.
    #[error(transparent)]
    Api(#[from] BollardError),
    /// The daemon closed the events stream.
    #[error("the docker events stream ended")]
    StreamEnded,
}

/// Settings of the watcher.
#[derive(Debug, Clone)]
pub struct DockerOptions {
    /// `unix:///path/to/docker.sock`, `tcp://host:port` or `http://host:port`.
    pub host: String,
    /// How long a removed container's metadata is kept.
    pub deleted_grace: Duration,
}

/// A running watcher and what it feeds.
#[derive(Debug)]
pub struct DockerSource {
    /// The containers known.
    pub cache: Arc<DockerCache>,
    /// The containers' log files, by container id.
    pub paths: Arc<DiscoveredPaths>,
    /// The enricher reading `cache`.
    pub enricher: Arc<DockerEnricher>,
    attempted: watch::Receiver<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl DockerSource {
    /// Starts the watcher on the current Tokio runtime.
    pub fn start(options: DockerOptions) -> DockerSource {
        let cache = Arc::new(DockerCache::new());
        let paths = Arc::new(DiscoveredPaths::default());
        let (lookup_tx, lookups) = mpsc::channel(LOOKUP_QUEUE);
        let (attempted_tx, attempted) = watch::channel(false);
        let watcher = Watcher {
            options,
            cache: Arc::clone(&cache),
            paths: Arc::clone(&paths),
            lookups,
            unknown: HashMap::new(),
            attempted: attempted_tx,
        };
        DockerSource {
            enricher: Arc::new(DockerEnricher::new(Arc::clone(&cache), Some(lookup_tx))),
            cache,
            paths,
            attempted,
            task: tokio::spawn(watcher.run()),
        }
    }

    /// Waits, at most `limit`, until the first connection attempt is over: the containers are
    /// listed, or the API did not answer. Returns whether it is over.
    pub async fn first_attempt(&self, limit: Duration) -> bool {
        let mut attempted = self.attempted.clone();
        tokio::time::timeout(limit, attempted.wait_for(|done| *done))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

impl Drop for DockerSource {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Watcher {
    options: DockerOptions,
    cache: Arc<DockerCache>,
    paths: Arc<DiscoveredPaths>,
    lookups: mpsc::Receiver<String>,
    /// Ids the daemon did not know, and when it was asked.
    unknown: HashMap<String, Instant>,
    attempted: watch::Sender<bool>,
}

impl Watcher {
    async fn run(mut self) {
        let mut delay = RETRY_INITIAL;
        let mut failures = 0u64;
        loop {
            let mut listed = false;
            let error = self.session(&mut listed).await;
            metrics::gauge!("kestrel_collector_docker_connected").set(0.0);
            self.cache.set_connected(false);
            self.attempted.send_replace(true);
            if listed {
                delay = RETRY_INITIAL;
                failures = 0;
            }
            failures += 1;
            metrics::counter!("kestrel_collector_docker_disconnects_total").increment(1);
            // Once per outage at warn level; the attempts that follow at debug.
            if failures == 1 {
                tracing::warn!(
                    host = %self.options.host,
                    %error,
                    "docker api unavailable; files are still tailed, enrichment resumes once it is back"
                );
            } else {
                tracing::debug!(host = %self.options.host, %error, failures, "docker api still unavailable");
            }
            // Lookups asked while disconnected would only be answered late: drop them.
            while self.lookups.try_recv().is_ok() {}
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(RETRY_MAX);
        }
    }

    /// One connection: lists the containers, then follows the events until an error.
    async fn session(&mut self, listed: &mut bool) -> DockerError {
        let docker = match connect(&self.options.host) {
            Ok(docker) => docker,
            Err(error) => return error,
        };
        let docker = match docker.negotiate_version().await {
            Ok(docker) => docker,
            Err(error) => return error.into(),
        };
        // Events from a second before the listing are replayed, so that none between the
        // listing and the subscription is missed (handling one twice is harmless).
        let since = chrono::Utc::now().timestamp() - 1;
        if let Err(error) = self.list(&docker).await {
            return error;
        }
        *listed = true;
        self.cache.set_connected(true);
        metrics::gauge!("kestrel_collector_docker_connected").set(1.0);
        metrics::gauge!("kestrel_collector_docker_containers").set(self.cache.len() as f64);
        self.attempted.send_replace(true);
        tracing::info!(
            host = %self.options.host,
            containers = self.cache.len(),
            "docker api connected, containers listed"
        );
        let filters = HashMap::from([
            ("type".to_owned(), vec!["container".to_owned()]),
            (
                "event".to_owned(),
                EVENTS.iter().map(|e| (*e).to_owned()).collect(),
            ),
        ]);
        let mut events = docker.events(Some(EventsOptions {
            since: Some(since.to_string()),
            until: None,
            filters: Some(filters),
        }));
        let mut prune = tokio::time::interval(PRUNE_EVERY);
        loop {
            let result = tokio::select! {
                event = events.next() => match event {
                    Some(Ok(message)) => self.on_event(&docker, message).await,
                    Some(Err(error)) => Err(error.into()),
                    None => Err(DockerError::StreamEnded),
                },
                Some(id) = self.lookups.recv() => self.look_up(&docker, id).await,
                _ = prune.tick() => {
                    self.prune();
                    Ok(())
                }
            };
            if let Err(error) = result {
                return error;
            }
        }
    }

    /// Lists every container (running or not) and inspects each one.
    async fn list(&mut self, docker: &Docker) -> Result<(), DockerError> {
        let summaries = docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                ..ListContainersOptions::default()
            }))
            .await?;
        let mut alive = HashSet::new();
        for id in summaries.into_iter().filter_map(|s| s.id) {
            if let Some(info) = inspect(docker, &id).await? {
                self.remember(&info);
                alive.insert(info.id);
            }
        }
        let now = Instant::now();
        self.cache.mark_removed_unless(|id| alive.contains(id), now);
        self.paths.retain(|id| alive.contains(id));
        Ok(())
    }

    async fn on_event(&mut self, docker: &Docker, event: EventMessage) -> Result<(), DockerError> {
        let Some(id) = event.actor.and_then(|a| a.id) else {
            return Ok(());
        };
        let action = event.action.unwrap_or_default();
        tracing::debug!(container = %id, action, "docker event");
        if action == "destroy" {
            self.cache.mark_removed(&id, Instant::now());
            self.paths.remove(&id);
            return Ok(());
        }
        match inspect(docker, &id).await? {
            Some(info) => self.remember(&info),
            // Removed already (an event replayed, or a short-lived container).
            None => self.cache.mark_removed(&id, Instant::now()),
        }
        Ok(())
    }

    /// Inspects a container an event was read for but that is not known yet.
    async fn look_up(&mut self, docker: &Docker, id: String) -> Result<(), DockerError> {
        if self.cache.contains(&id)
            || self
                .unknown
                .get(&id)
                .is_some_and(|asked| asked.elapsed() < UNKNOWN_RETRY)
        {
            return Ok(());
        }
        match inspect(docker, &id).await? {
            Some(info) => self.remember(&info),
            None => {
                tracing::debug!(container = %id, "container unknown to the docker api");
                self.unknown.insert(id, Instant::now());
            }
        }
        Ok(())
    }

    fn remember(&mut self, info: &ContainerInfo) {
        self.cache.upsert(info);
        self.unknown.remove(&info.id);
        if let Some(log_path) = &info.log_path {
            // The log and its rotated files (`<id>-json.log.1`, ...).
            self.paths
                .insert(&info.id, format!("{}*", glob::Pattern::escape(log_path)));
        }
    }

    fn prune(&mut self) {
        let now = Instant::now();
        self.cache.prune(self.options.deleted_grace, now);
        self.unknown
            .retain(|_, asked| now.saturating_duration_since(*asked) < UNKNOWN_RETRY);
        metrics::gauge!("kestrel_collector_docker_containers").set(self.cache.len() as f64);
    }
}

/// A client for `host` (no request is made yet).
fn connect(host: &str) -> Result<Docker, DockerError> {
    if host.starts_with("unix://") {
        Ok(Docker::connect_with_unix(
            host,
            REQUEST_TIMEOUT_SECONDS,
            API_DEFAULT_VERSION,
        )?)
    } else if host.starts_with("tcp://") || host.starts_with("http://") {
        Ok(Docker::connect_with_http(
            host,
            REQUEST_TIMEOUT_SECONDS,
            API_DEFAULT_VERSION,
        )?)
    } else {
        Err(DockerError::Host(host.to_owned()))
    }
}

/// What the API tells about a container; `None` when it does not know it (any more).
async fn inspect(docker: &Docker, id: &str) -> Result<Option<ContainerInfo>, DockerError> {
    match docker.inspect_container(id, None).await {
        Ok(response) => Ok(container_info(response)),
        Err(BollardError::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

fn container_info(response: ContainerInspectResponse) -> Option<ContainerInfo> {
    let config = response.config.unwrap_or_default();
    Some(ContainerInfo {
        id: response.id?,
        name: response
            .name
            .map(|n| n.trim_start_matches('/').to_owned())
            .filter(|n| !n.is_empty()),
        image: config
            .image
            .filter(|i| !i.is_empty())
            .or(response.image.filter(|i| !i.is_empty())),
        labels: config.labels.unwrap_or_default().into_iter().collect(),
        log_path: response.log_path.filter(|p| !p.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::ContainerConfig;

    #[test]
    fn inspect_responses_become_container_info() {
        let response = ContainerInspectResponse {
            id: Some("abc".into()),
            name: Some("/web-1".into()),
            image: Some("sha256:0123".into()),
            log_path: Some("/data/containers/abc/abc-json.log".into()),
            config: Some(ContainerConfig {
                image: Some("nginx:1.27".into()),
                labels: Some(HashMap::from([("team".into(), "blue".into())])),
                ..ContainerConfig::default()
            }),
            ..ContainerInspectResponse::default()
        };
        let info = container_info(response).unwrap();
        assert_eq!(info.id, "abc");
        assert_eq!(info.name.as_deref(), Some("web-1"));
        assert_eq!(info.image.as_deref(), Some("nginx:1.27"));
        assert_eq!(info.labels["team"], "blue");
        assert_eq!(
            info.log_path.as_deref(),
            Some("/data/containers/abc/abc-json.log")
        );

        let bare = container_info(ContainerInspectResponse {
            id: Some("def".into()),
            image: Some("sha256:4567".into()),
            log_path: Some(String::new()),
            ..ContainerInspectResponse::default()
        })
        .unwrap();
        assert_eq!(bare.image.as_deref(), Some("sha256:4567"));
        assert_eq!(bare.log_path, None);
        assert!(container_info(ContainerInspectResponse::default()).is_none());
    }

    #[test]
    fn hosts_other_than_unix_tcp_and_http_are_refused() {
        assert!(matches!(
            connect("npipe:////./pipe/docker_engine"),
            Err(DockerError::Host(_))
        ));
        // A missing socket is an API error, tried again later.
        assert!(matches!(
            connect("unix:///nonexistent/docker.sock"),
            Err(DockerError::Api(_))
        ));
        assert!(connect("tcp://127.0.0.1:2375").is_ok());
    }

    #[tokio::test]
    async fn an_unreachable_api_ends_the_first_attempt_quickly() {
        let source = DockerSource::start(DockerOptions {
            host: "unix:///nonexistent/kestrel-test/docker.sock".into(),
            deleted_grace: Duration::from_secs(1),
        });
        assert!(source.first_attempt(Duration::from_secs(5)).await);
        assert!(source.cache.is_empty());
        assert!(source.paths.patterns().is_empty());
    }
}
