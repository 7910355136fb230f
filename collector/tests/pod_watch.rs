//! The Kubernetes pod watch against a stand-in API server serving recorded responses: the
//! list and watch requests it makes, and the metadata events get from the list, from ADDED and
//! MODIFIED events, and after a DELETED event until the grace period ends.

#[path = "../../tests/common/fake_apiserver.rs"]
mod fake_apiserver;

use std::time::{Duration, Instant};

use fake_apiserver::{param, watch_events, FakeApiServer};
use kestrel_collector::enrich::kubernetes::{self, PodEnricher, PodWatchSettings};
use kestrel_collector::enrich::Enricher;
use kestrel_collector::normalize::PathMeta;
use kestrel_event::{parse_timestamp, Event, EventKind};
use serde_json::{json, Value};

const NODE: &str = "kind-worker";
const WEB: &str =
    "/var/log/pods/shop_web-5d4f8b7c9-x7k2p_6f1a7c52-1b9e-4c1e-9a57-2b8f0c3d4e5f/web/0.log";
const EXPORTER: &str = "/var/log/containers/node-exporter-8xq2n_monitoring_node-exporter-\
                        0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.log";
const REPORT: &str =
    "/var/log/pods/shop_report-28461930-qz8vd_9c3e2f71-5a4b-4d6c-8e9f-0a1b2c3d4e5f/report/0.log";

/// An event read from `path`, enriched.
fn enriched(enricher: &PodEnricher, path: &str) -> Event {
    let ts = parse_timestamp("2026-11-25T09:40:00Z").expect("timestamp");
    let mut event = Event::new(EventKind::Container, "id".into(), ts, ts).with_file_path(path);
    PathMeta::parse(path).apply(&mut event);
    enricher.enrich(&mut event);
    event
}

fn field(event: &Event, path: &str) -> Option<Value> {
    event.field(path)
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_are_listed_watched_and_kept_for_the_grace_period_after_deletion() {
    let server = FakeApiServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let grace = Duration::from_millis(1500);
    let watch = kubernetes::start(PodWatchSettings {
        node_name: NODE.into(),
        kubeconfig: Some(server.write_kubeconfig(dir.path())),
        deleted_pod_grace: grace,
    })
    .await
    .expect("watch starts");
    let enricher = watch.enricher();
    assert!(watch.wait_until_listed(Duration::from_secs(10)).await);
    assert_eq!(enricher.counts().live, 2);
    eventually("the watch request", || {
        server.queries().iter().any(|q| param(q, "watch").is_some())
    })
    .await;

    // One list of this node's pods from the apiserver cache, then a watch from its version.
    let queries = server.queries();
    let list = &queries[0];
    assert_eq!(
        param(list, "fieldSelector").as_deref(),
        Some("spec.nodeName=kind-worker")
    );
    assert_eq!(
        param(list, "resourceVersion").as_deref(),
        Some("0"),
        "{list}"
    );
    assert_eq!(
        param(list, "resourceVersionMatch").as_deref(),
        Some("NotOlderThan")
    );
    assert_eq!(param(list, "limit"), None, "unpaginated: {list}");
    assert_eq!(param(list, "watch"), None);
    let watch_query = &queries[1];
    assert_eq!(param(watch_query, "watch").as_deref(), Some("true"));
    assert_eq!(
        param(watch_query, "fieldSelector").as_deref(),
        Some("spec.nodeName=kind-worker")
    );
    assert_eq!(
        param(watch_query, "resourceVersion").as_deref(),
        Some("48213")
    );
    assert_eq!(
        param(watch_query, "allowWatchBookmarks").as_deref(),
        Some("true")
    );

    // Listed pods, by uid (pod directories) and by namespace and name (container links).
    let web = enriched(&enricher, WEB);
    assert_eq!(field(&web, "kubernetes.pod.labels.app"), Some(json!("web")));
    assert_eq!(
        field(&web, "kubernetes.pod.labels.app.kubernetes.io/part-of"),
        Some(json!("shop"))
    );
    assert_eq!(
        field(&web, "kubernetes.pod.owner.kind"),
        Some(json!("ReplicaSet"))
    );
    assert_eq!(
        field(&web, "kubernetes.pod.owner.name"),
        Some(json!("web-5d4f8b7c9"))
    );
    assert_eq!(field(&web, "kubernetes.node.name"), Some(json!(NODE)));
    let exporter = enriched(&enricher, EXPORTER);
    assert_eq!(
        field(&exporter, "kubernetes.pod.owner.kind"),
        Some(json!("DaemonSet"))
    );
    assert_eq!(
        field(&exporter, "kubernetes.pod.uid"),
        Some(json!("0b7d4a10-3c55-4f0e-8d2a-6e9f1b2c3d4e"))
    );
    assert_eq!(
        field(&enriched(&enricher, REPORT), "kubernetes.node.name"),
        None
    );

    let events = watch_events();
    let [added, modified, bookmark, deleted] = &events[..] else {
        panic!("four recorded watch events, got {}", events.len());
    };
    // ADDED: a Job's pod.
    server.push(added);
    eventually("the added pod", || {
        field(&enriched(&enricher, REPORT), "kubernetes.pod.owner.kind") == Some(json!("Job"))
    })
    .await;
    let report = enriched(&enricher, REPORT);
    assert_eq!(
        field(&report, "kubernetes.pod.labels.job-name"),
        Some(json!("report-28461930"))
    );
    // MODIFIED: a label added to the web pod.
    server.push(modified);
    eventually("the modified labels", || {
        field(&enriched(&enricher, WEB), "kubernetes.pod.labels.tier") == Some(json!("frontend"))
    })
    .await;
    // BOOKMARK then DELETED: the web pod is gone, its late lines are still enriched...
    server.push(bookmark);
    server.push(deleted);
    eventually("the deletion", || enricher.counts().deleted == 1).await;
    let deleted_at = Instant::now();
    assert_eq!(enricher.counts().live, 2);
    let late = enriched(&enricher, WEB);
    assert!(
        deleted_at.elapsed() < grace,
        "checked inside the grace period"
    );
    assert_eq!(
        field(&late, "kubernetes.pod.labels.tier"),
        Some(json!("frontend"))
    );
    assert_eq!(
        field(&late, "kubernetes.pod.owner.name"),
        Some(json!("web-5d4f8b7c9"))
    );
    // ...until the grace period ends.
    eventually("the end of the grace period", || {
        field(&enriched(&enricher, WEB), "kubernetes.node.name").is_none()
    })
    .await;
    assert!(deleted_at.elapsed() + Duration::from_millis(100) >= grace);
    // The watch did not restart: one list, one watch.
    assert_eq!(server.queries().len(), 2, "{:?}", server.queries());
    drop(watch);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_watch_is_followed_by_a_new_list_whose_missing_pods_count_as_deleted() {
    let server = FakeApiServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let watch = kubernetes::start(PodWatchSettings {
        node_name: NODE.into(),
        kubeconfig: Some(server.write_kubeconfig(dir.path())),
        deleted_pod_grace: Duration::from_secs(60),
    })
    .await
    .expect("watch starts");
    assert!(watch.wait_until_listed(Duration::from_secs(10)).await);
    let enricher = watch.enricher();
    eventually("the watch request", || server.queries().len() == 2).await;

    // The node-exporter pod went away while no watch was open.
    let mut list: Value =
        serde_json::from_str(&fake_apiserver::fixture("pod-list.json")).expect("pod list");
    list["metadata"]["resourceVersion"] = json!("48400");
    list["items"]
        .as_array_mut()
        .expect("items")
        .retain(|pod| pod["metadata"]["name"] != "node-exporter-8xq2n");
    server.set_pod_list(list.to_string());
    // The watch ends (the apiserver's timeout); resumed from its version, it is told that
    // version is gone (410 Expired), so the pods are listed anew after a backoff.
    server.answer_next_watch_with(&fake_apiserver::fixture("watch-expired.jsonl"));
    server.end_watch();
    eventually("the new list", || enricher.counts().deleted == 1).await;
    assert_eq!(enricher.counts().live, 1);
    eventually("the last watch", || server.queries().len() == 5).await;
    let queries = server.queries();
    let resumed = &queries[2];
    assert_eq!(param(resumed, "watch").as_deref(), Some("true"));
    assert_eq!(param(resumed, "resourceVersion").as_deref(), Some("48213"));
    let relist = &queries[3];
    assert_eq!(param(relist, "watch"), None);
    assert_eq!(param(relist, "resourceVersion").as_deref(), Some("0"));
    assert_eq!(
        param(&queries[4], "resourceVersion").as_deref(),
        Some("48400")
    );
    // Its lines are still enriched for the grace period; the listed pod is unchanged.
    let exporter = enriched(&enricher, EXPORTER);
    assert_eq!(
        field(&exporter, "kubernetes.pod.owner.name"),
        Some(json!("node-exporter"))
    );
    let web = enriched(&enricher, WEB);
    assert_eq!(field(&web, "kubernetes.pod.labels.app"), Some(json!("web")));
}

#[tokio::test]
async fn a_missing_kubeconfig_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("nope");
    let error = kubernetes::start(PodWatchSettings {
        node_name: NODE.into(),
        kubeconfig: Some(missing.clone()),
        deleted_pod_grace: Duration::from_secs(60),
    })
    .await
    .expect_err("no kubeconfig");
    assert!(
        error.to_string().contains(&missing.display().to_string()),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_api_is_retried_in_the_background() {
    // A port nothing listens on: start succeeds, nothing is enriched, the task keeps trying.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:{port}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: t\n"
        ),
    )
    .expect("kubeconfig written");
    let watch = kubernetes::start(PodWatchSettings {
        node_name: NODE.into(),
        kubeconfig: Some(kubeconfig),
        deleted_pod_grace: Duration::from_secs(60),
    })
    .await
    .expect("starts without the API");
    assert!(!watch.wait_until_listed(Duration::from_millis(300)).await);
    let enricher = watch.enricher();
    assert_eq!(enricher.counts().live, 0);
    assert_eq!(
        field(&enriched(&enricher, WEB), "kubernetes.node.name"),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_api_gets_a_rustls_client() {
    // The TLS connector (rustls with ring, no OpenSSL) is built when the watch starts.
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n    insecure-skip-tls-verify: true\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: t\n",
    )
    .expect("kubeconfig written");
    let watch = kubernetes::start(PodWatchSettings {
        node_name: NODE.into(),
        kubeconfig: Some(kubeconfig),
        deleted_pod_grace: Duration::from_secs(60),
    })
    .await
    .expect("an https client is built");
    assert!(!watch.wait_until_listed(Duration::from_millis(100)).await);
}
