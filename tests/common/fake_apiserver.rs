//! A stand-in for the Kubernetes API server, for the tests of pod metadata: it answers the
//! pod list with the recorded `PodList` of `tests/fixtures/kubernetes/`, and the first pod
//! watch with the watch events the test pushes (newline-delimited `WatchEvent`s, as the
//! apiserver streams them); later watches answer the event queued for them, if any, and stay
//! open. It records every query.
//!
//! Shared by the collector's tests and the end-to-end tests (included with `#[path]`).

#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::sync::mpsc;

/// The recorded API responses.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join("tests/fixtures/kubernetes"))
        .find(|dir| dir.is_dir())
        .expect("tests/fixtures/kubernetes in the workspace")
}

/// A fixture file's text.
pub fn fixture(name: &str) -> String {
    let path = fixtures_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The recorded watch events, one JSON line each.
pub fn watch_events() -> Vec<String> {
    fixture("watch-events.jsonl")
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

struct Shared {
    pod_list: Mutex<String>,
    queries: Mutex<Vec<String>>,
    first_watch: Mutex<Option<mpsc::UnboundedReceiver<String>>>,
    later_watches: Mutex<std::collections::VecDeque<String>>,
    /// The senders of later watch streams, kept so that the streams stay open.
    open_watches: Mutex<Vec<mpsc::UnboundedSender<String>>>,
}

/// The running server; stops when dropped.
pub struct FakeApiServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    events: Mutex<Option<mpsc::UnboundedSender<String>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeApiServer {
    /// Serves `pod-list.json` on 127.0.0.1, from a thread of its own.
    pub fn start() -> FakeApiServer {
        let (events, receiver) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            pod_list: Mutex::new(fixture("pod-list.json")),
            queries: Mutex::new(Vec::new()),
            first_watch: Mutex::new(Some(receiver)),
            later_watches: Mutex::new(std::collections::VecDeque::new()),
            open_watches: Mutex::new(Vec::new()),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("local address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = Router::new()
            .route("/api/v1/pods", get(pods))
            .with_state(Arc::clone(&shared));
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.await;
                    })
                    .await;
            });
            // Open watch streams never end: drop them with the runtime.
            runtime.shutdown_timeout(Duration::from_millis(100));
        });
        FakeApiServer {
            addr,
            shared,
            events: Mutex::new(Some(events)),
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig file reaching this server, written into `dir`.
    pub fn write_kubeconfig(&self, dir: &Path) -> PathBuf {
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: {url}
contexts:
- name: fake
  context:
    cluster: fake
    user: collector
current-context: fake
users:
- name: collector
  user:
    token: fake-service-account-token
",
            url = self.url()
        );
        std::fs::write(&path, text).expect("kubeconfig written");
        path
    }

    /// Sends one watch event (a JSON line) on the first watch stream.
    pub fn push(&self, event: &str) {
        self.events
            .lock()
            .expect("events")
            .as_ref()
            .expect("watch stream open")
            .send(format!("{}\n", event.trim_end()))
            .expect("watch stream open");
    }

    /// Ends the first watch stream, as an apiserver does at its watch timeout.
    pub fn end_watch(&self) {
        self.events.lock().expect("events").take();
    }

    /// Queues the one event a later watch call answers (before staying open and silent), e.g.
    /// the `410 Expired` error of a watch from a version the apiserver no longer has.
    pub fn answer_next_watch_with(&self, event: &str) {
        self.shared
            .later_watches
            .lock()
            .expect("later watches")
            .push_back(format!("{}\n", event.trim_end()));
    }

    /// Replaces the `PodList` answered to later list calls.
    pub fn set_pod_list(&self, pod_list: String) {
        *self.shared.pod_list.lock().expect("pod list") = pod_list;
    }

    /// The query strings of the pod requests so far, in order.
    pub fn queries(&self) -> Vec<String> {
        self.shared.queries.lock().expect("queries").clone()
    }

    /// Waits until a watch request has come (so the list before it was applied).
    pub fn wait_for_watch(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.queries().iter().any(|q| is_watch(q)) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The query's parameters, percent-decoded.
pub fn params(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

/// The value of one parameter.
pub fn param(query: &str, name: &str) -> Option<String> {
    params(query)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

fn is_watch(query: &str) -> bool {
    matches!(param(query, "watch").as_deref(), Some("true" | "1"))
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(byte) => {
                        out.push(byte);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn pods(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    let query = query.unwrap_or_default();
    shared.queries.lock().expect("queries").push(query.clone());
    if !is_watch(&query) {
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            shared.pod_list.lock().expect("pod list").clone(),
        )
            .into_response();
    }
    let receiver = shared
        .first_watch
        .lock()
        .expect("watch")
        .take()
        .or_else(|| {
            // Later watches: the queued answer, if any, then open and silent, like an apiserver
            // with nothing new to tell.
            let (sender, receiver) = mpsc::unbounded_channel();
            if let Some(line) = shared.later_watches.lock().expect("later").pop_front() {
                let _ = sender.send(line);
            }
            shared.open_watches.lock().expect("open").push(sender);
            Some(receiver)
        });
    let stream = futures::stream::unfold(receiver, |receiver| async move {
        let mut receiver = receiver?;
        let line = receiver.recv().await?;
        Some((Ok::<_, Infallible>(Bytes::from(line)), Some(receiver)))
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response()
}
