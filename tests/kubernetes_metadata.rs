//! End to end: `kestrel run` with `[collector.kubernetes]` pointed (through a kubeconfig file)
//! at a stand-in API server serving recorded responses. CRI lines of pods under a temporary
//! `pods/<ns>_<pod>_<uid>/<container>/0.log` tree come out of the search API with the pods'
//! labels, controllers and node, also lines written after their pod was deleted.

mod common;
#[path = "common/fake_apiserver.rs"]
mod fake_apiserver;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::KestrelServer as Kestrel;
use common::{free_port, wait_for, write_kestrel_config};
use fake_apiserver::{watch_events, FakeApiServer};
use serde_json::Value;

const WEB_DIR: &str = "shop_web-5d4f8b7c9-x7k2p_6f1a7c52-1b9e-4c1e-9a57-2b8f0c3d4e5f/web";
const REPORT_DIR: &str = "shop_report-28461930-qz8vd_9c3e2f71-5a4b-4d6c-8e9f-0a1b2c3d4e5f/report";

fn write_config(dir: &Path, pods: &Path, kubeconfig: &Path, port: u16) -> PathBuf {
    write_kestrel_config(
        dir,
        &format!(
            r#"
[collector]
poll_interval = "50ms"

[[collector.sources]]
name = "pods"
paths = ["{pods}/*/*/*.log"]
format = "cri"

[collector.kubernetes]
enabled = true
node_name = "kind-worker"
kubeconfig = "{kubeconfig}"
deleted_pod_grace = "10m"

[indexer]
commit_interval = "200ms"

[query]
listen = "127.0.0.1:{port}"
"#,
            pods = pods.display(),
            kubeconfig = kubeconfig.display(),
        ),
    )
}

/// Appends CRI lines (`<time> <stream> F <message>`) to a pod's container log.
fn append(pods: &Path, container_dir: &str, messages: &[&str]) {
    let dir = pods.join(container_dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("0.log"))
        .unwrap();
    for (i, message) in messages.iter().enumerate() {
        writeln!(file, "2026-11-25T09:40:0{i}.000000001Z stdout F {message}").unwrap();
    }
    file.flush().unwrap();
}

fn text<'a>(hit: &'a Value, dotted: &str) -> Option<&'a str> {
    kestrel_event::lookup_path(hit, dotted).and_then(Value::as_str)
}

#[test]
fn cri_events_carry_pod_labels_owner_and_node_also_after_the_pod_is_deleted() {
    let server = FakeApiServer::start();
    let dir = tempfile::tempdir().unwrap();
    let pods = dir.path().join("pods");
    std::fs::create_dir_all(&pods).unwrap();
    let kubeconfig = server.write_kubeconfig(dir.path());
    let port = free_port();
    let config = write_config(dir.path(), &pods, &kubeconfig, port);
    let kestrel = Kestrel::start(&config, port);
    assert!(
        server.wait_for_watch(Duration::from_secs(20)),
        "no watch request: {:?}",
        server.queries()
    );

    // A pod from the initial list.
    append(&pods, WEB_DIR, &["GET /cart 200", "GET /checkout 200"]);
    let hits = kestrel.wait_for_hits("kubernetes.pod.labels.app:web", 2);
    for hit in &hits {
        assert_eq!(text(hit, "kubernetes.pod.owner.kind"), Some("ReplicaSet"));
        assert_eq!(
            text(hit, "kubernetes.pod.owner.name"),
            Some("web-5d4f8b7c9")
        );
        assert_eq!(text(hit, "kubernetes.node.name"), Some("kind-worker"));
        assert_eq!(
            text(hit, "kubernetes.pod.labels.pod-template-hash"),
            Some("5d4f8b7c9")
        );
        assert_eq!(text(hit, "kubernetes.namespace"), Some("shop"));
        assert_eq!(text(hit, "host.name"), Some("test-node"));
    }

    // ADDED (a Job's pod), MODIFIED (a label on the web pod), BOOKMARK, DELETED (the web pod).
    for event in watch_events() {
        server.push(&event);
    }
    let deleted = wait_for(Duration::from_secs(20), || {
        kestrel
            .metrics()
            .contains("kestrel_collector_kubernetes_pods{state=\"deleted\"} 1")
            .then_some(())
    });
    assert!(
        deleted.is_some(),
        "deletion not seen: {}",
        kestrel.metrics()
    );

    // Lines written after the deletion, inside the grace period, and from the added pod.
    append(&pods, WEB_DIR, &["shutting down"]);
    append(&pods, REPORT_DIR, &["report written"]);
    let late = kestrel.wait_for_hits("kubernetes.pod.labels.tier:frontend", 1);
    assert_eq!(late[0]["message"], "shutting down");
    assert_eq!(
        text(&late[0], "kubernetes.pod.owner.name"),
        Some("web-5d4f8b7c9")
    );
    assert_eq!(text(&late[0], "kubernetes.node.name"), Some("kind-worker"));
    let job = kestrel.wait_for_hits("kubernetes.pod.owner.kind:Job", 1);
    assert_eq!(job[0]["message"], "report written");
    assert_eq!(
        text(&job[0], "kubernetes.pod.labels.job-name"),
        Some("report-28461930")
    );
    assert_eq!(
        text(&job[0], "kubernetes.pod.owner.name"),
        Some("report-28461930")
    );

    // Keyword fields: exact, case-insensitive; everything on the node is found by it.
    kestrel.wait_for_hits("kubernetes.node.name:kind-worker", 4);
    kestrel.wait_for_hits("kubernetes.pod.owner.name:web-5d4f8b7c9", 3);
    kestrel.wait_for_hits("kubernetes.pod.owner.kind:replicaset", 3);
    let metrics = kestrel.metrics();
    assert!(
        metrics
            .contains("kestrel_collector_enrichment_total{source=\"kubernetes\",result=\"hit\"} 4"),
        "{metrics}"
    );
    kestrel.stop();
}
