//! Falco end to end: `kestrel run` serving the Falco endpoint on the webhook listener, next to
//! the audit webhook. Falco's `http_output` JSON, falcosidekick's webhook payloads, NDJSON and
//! array bodies are posted with and without the bearer token; malformed items go to the
//! dead-letter store while the rest of their body is kept; the alerts are searchable through
//! the API by `falco.*` and the shared `kubernetes.*` / `container.*` fields; over mutual TLS
//! the client certificate stands for the token (Falco's own `http_output`); an audited
//! `kubectl exec` followed by Falco's shell alert in the same pod raises the rule pack's
//! correlation alert once, naming the user, the pod and Falco's rule.

mod common;
#[path = "common/tls.rs"]
mod tls;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use common::KestrelServer as Kestrel;
use common::*;
use serde_json::{json, Value};
use tls::{issue_certificates, mutual_tls_listener_config, post_tls, TestCertificates};

const TOKEN: &str = "falco-token-3f9a1c7e5b2d4e6f";
const CORRELATION: &str = "kestrel-k8s-exec-then-falco-shell";
const SIDEKICK_UUID: &str = "1b5b7ae6-9e58-4cbb-8f3e-7a0e4c2f0a11";

fn at(base: DateTime<Utc>, seconds: i64) -> String {
    (base + chrono::Duration::seconds(seconds)).to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// Falco's "Terminal shell in container" as `http_output` with `json_output: true` posts it
/// (the shape of collector/src/falco.rs's unit tests), in `namespace`/`pod`.
fn terminal_shell(time: &str, namespace: &str, pod: &str, container: &str) -> Value {
    json!({
        "hostname": "node-1",
        "output": format!("10:20:05.408091526: Notice A shell was spawned in a container with an attached terminal (evt_type=execve user=root user_uid=0 user_loginuid=-1 process=bash proc_exepath=/usr/bin/bash parent=runc command=bash terminal=34816 exe_flags=EXE_WRITABLE container_id={container} container_image=registry.example/api container_image_tag=1.4 container_name=api k8s_ns={namespace} k8s_pod_name={pod})"),
        "priority": "Notice",
        "rule": "Terminal shell in container",
        "source": "syscall",
        "tags": ["T1059", "container", "maturity_stable", "mitre_execution", "shell"],
        "time": time,
        "output_fields": {
            "container.id": container,
            "container.image.repository": "registry.example/api",
            "container.image.tag": "1.4",
            "container.name": "api",
            "evt.time": 1699179605408091526u64,
            "evt.type": "execve",
            "k8s.ns.name": namespace,
            "k8s.pod.name": pod,
            "proc.cmdline": "bash",
            "proc.exepath": "/usr/bin/bash",
            "user.name": "root",
            "user.uid": 0
        }
    })
}

/// Falco's JSON output without `hostname`, `source` or `tags` (older versions).
fn write_below_binary_dir(time: &str) -> Value {
    json!({
        "output": "16:31:56.746609046: Error File below a known binary directory opened for writing (user=root command=touch /bin/hack file=/bin/hack)",
        "priority": "Error",
        "rule": "Write below binary dir",
        "time": time,
        "output_fields": {"user.name": "root", "evt.time": 1507591916746609046u64, "fd.name": "/bin/hack", "proc.cmdline": "touch /bin/hack"}
    })
}

/// Older Falco writes `<NA>` for fields without a value.
fn sensitive_mount(time: &str) -> Value {
    json!({
        "output": "16:26:12.425643773: Notice Container with sensitive mount started (user=<NA> command=container:8cff1c1639fc k8s.ns=<NA> k8s.pod=<NA> container=8cff1c1639fc image=busybox:latest)",
        "priority": "Notice",
        "rule": "Launch Sensitive Mount Container",
        "time": time,
        "output_fields": {"container.id": "8cff1c1639fc", "container.image.repository": "busybox", "container.image.tag": "latest", "k8s.ns.name": "<NA>", "k8s.pod.name": "<NA>", "user.name": "<NA>"}
    })
}

/// falcosidekick's webhook payload: Falco's alert plus a `uuid`.
fn sidekick_read_sensitive(time: &str) -> Value {
    json!({
        "uuid": SIDEKICK_UUID,
        "output": "10:21:00.000000000: Warning Sensitive file opened for reading by non-trusted program (file=/etc/shadow command=cat /etc/shadow k8s_ns=prod k8s_pod_name=api-7)",
        "priority": "Warning",
        "rule": "Read sensitive file untrusted",
        "time": time,
        "source": "syscall",
        "hostname": "node-2",
        "tags": ["filesystem", "mitre_credential_access"],
        "output_fields": {"container.id": "4a4021c50439", "fd.name": "/etc/shadow", "k8s.ns.name": "prod", "k8s.pod.name": "api-7", "proc.cmdline": "cat /etc/shadow"}
    })
}

/// An accepted `kubectl exec` by `user` into `namespace`/`pod`, as the apiserver audits it.
fn exec_event(n: u32, user: &str, namespace: &str, pod: &str, time: &str) -> Value {
    json!({
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": format!("7c1e0f4e-0000-4000-8000-{n:012}"),
        "stage": "ResponseStarted",
        "requestURI": format!("/api/v1/namespaces/{namespace}/pods/{pod}/exec?command=bash&container=api&stdin=true&stdout=true&tty=true"),
        "verb": "create",
        "user": {"username": user, "groups": ["system:authenticated"]},
        "sourceIPs": ["203.0.113.9"],
        "userAgent": "kubectl/v1.31.0",
        "objectRef": {"resource": "pods", "namespace": namespace, "name": pod, "apiVersion": "v1", "subresource": "exec"},
        "responseStatus": {"metadata": {}, "code": 101},
        "requestReceivedTimestamp": time,
        "stageTimestamp": time,
    })
}

fn ndjson(items: &[Value]) -> String {
    items
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Posts `body` to the listener at `path`; the status and the body of the answer.
fn post(port: u16, path: &str, body: &str, authorization: Option<&str>) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into();
    let mut request = agent
        .post(&format!("http://127.0.0.1:{port}{path}"))
        .header("Content-Type", "application/json");
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    let mut response = request.send(body).expect("the listener answers");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (status, text)
}

fn post_falco(port: u16, body: &str) -> (u16, String) {
    post(port, "/falco", body, Some(&format!("Bearer {TOKEN}")))
}

fn alerts(kestrel: &Kestrel) -> Vec<Value> {
    match http_get(&kestrel.url("/api/v1/alerts?limit=1000"), None) {
        Ok((200, body)) => body["alerts"].as_array().cloned().unwrap_or_default(),
        other => panic!("alerts: {other:?}"),
    }
}

fn alerts_of<'a>(all: &'a [Value], rule: &str) -> Vec<&'a Value> {
    all.iter().filter(|a| a["rule_id"] == rule).collect()
}

fn config(dir: &Path, webhook_port: u16, api_port: u16) -> std::path::PathBuf {
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    write_kestrel_config(
        dir,
        &format!(
            r#"[collector]
sources = []
[collector.webhook]
listen = "127.0.0.1:{webhook_port}"
[collector.falco]
enabled = true
tokens = ["{TOKEN}"]
[indexer]
commit_interval = "200ms"
[detection]
rules = "{rules}"
[query]
listen = "127.0.0.1:{api_port}"
"#,
            rules = rules.display(),
        ),
    )
}

#[test]
fn falco_alerts_are_stored_searchable_and_correlated_with_the_audited_exec() {
    let dir = tempfile::tempdir().unwrap();
    let (webhook, api) = (free_port(), free_port());
    let kestrel = Kestrel::start(&config(dir.path(), webhook, api), api);
    wait_for_listener(webhook, "the webhook listener accepts connections");
    let base = Utc::now() - chrono::Duration::minutes(10);

    // Refused without the token, with another token, or with it outside the Bearer scheme.
    let shell = terminal_shell(&at(base, 60), "prod", "api-7", "4a4021c50439").to_string();
    for authorization in [
        None,
        Some("Bearer falco-token-0000000000000000"),
        Some(TOKEN),
    ] {
        let (status, _) = post(webhook, "/falco", &shell, authorization);
        assert_eq!(status, 401, "{authorization:?}");
    }

    // mallory's accepted exec into prod/api-7, through the audit webhook.
    let exec = json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {},
        "items": [exec_event(1, "mallory@example.com", "prod", "api-7", &at(base, 0))]});
    let (status, body) = post(webhook, "/audit/webhook", &exec.to_string(), None);
    assert_eq!(status, 200, "{body}");

    // http_output: one alert per request; a minute after the exec, a shell in that pod.
    let (status, body) = post_falco(webhook, &shell);
    assert_eq!(status, 200, "{body}");
    // NDJSON (Falco's file/program outputs forwarded as lines).
    let lines = ndjson(&[
        write_below_binary_dir(&at(base, 61)),
        sensitive_mount(&at(base, 62)),
    ]);
    let (status, body) = post_falco(webhook, &format!("{lines}\n"));
    assert_eq!(status, 200, "{body}");
    // An array of falcosidekick payloads: a shell in another pod (no exec there), and a
    // sensitive read in prod/api-7.
    let array = json!([
        terminal_shell(&at(base, 70), "prod", "web-1", "9d8e7f6a5b4c"),
        sidekick_read_sensitive(&at(base, 80)),
    ]);
    let (status, body) = post_falco(webhook, &array.to_string());
    assert_eq!(status, 200, "{body}");
    // Two malformed items between good lines: kept as dead letters, the rest stored.
    let no_rule = json!({"output": "x", "priority": "Critical", "time": at(base, 91)}).to_string();
    let privileged = json!({"output": "Privileged container started", "priority": "Info",
        "rule": "Launch Privileged Container", "time": at(base, 90),
        "output_fields": {"container.id": "0f1e2d3c4b5a", "k8s.ns.name": "kube-system", "k8s.pod.name": "cni-x"}});
    let mixed = format!("{privileged}\nnot json at all\n{no_rule}\n");
    let (status, body) = post_falco(webhook, &mixed);
    assert_eq!(status, 200, "{body}");
    // Nothing usable at all: 400, and the item is a dead letter too.
    let (status, body) = post_falco(webhook, "{\"rule\": 42}");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("`rule`"), "{body}");

    // Stored and searchable.
    let falco = kestrel.wait_for_hits("event.kind:falco", 6);
    let shells = kestrel.wait_for_hits(
        r#"event.kind:falco AND falco.rule:"Terminal shell in container""#,
        2,
    );
    let mut pods: Vec<&str> = shells
        .iter()
        .filter_map(|e| e["kubernetes"]["pod"]["name"].as_str())
        .collect();
    pods.sort_unstable();
    assert_eq!(pods, ["api-7", "web-1"]);
    let first = shells
        .iter()
        .find(|e| e["kubernetes"]["pod"]["name"] == "api-7")
        .unwrap();
    assert_eq!(first["falco"]["priority"], "Notice");
    assert_eq!(first["container"]["image"], "registry.example/api:1.4");
    assert_eq!(first["host"]["name"], "node-1");
    assert!(first["message"]
        .as_str()
        .unwrap()
        .contains("A shell was spawned in a container"));
    for (query, count) in [
        ("falco.priority:Notice", 3),
        ("falco.tags:shell", 2),
        ("falco.tags:shell AND kubernetes.pod.name:api-7", 1),
        ("event.kind:falco AND kubernetes.namespace:prod", 3),
        ("container.id:4a4021c50439", 2),
        ("falco.output_fields.proc.cmdline:bash", 2),
        (r#"falco.output_fields.fd.name:"/etc/shadow""#, 1),
        (&format!("falco.uuid:\"{SIDEKICK_UUID}\""), 1),
        ("host.name:node-2 AND falco.rule:\"Read sensitive file untrusted\"", 1),
        ("falco.rule:\"Launch Sensitive Mount Container\" AND container.image:\"busybox:latest\"", 1),
        ("falco.rule:\"Launch Privileged Container\" AND kubernetes.namespace:kube-system", 1),
        // <NA> is no pod; the alert without hostname takes the receiver's host name.
        ("event.kind:falco AND kubernetes.pod.name:*", 4),
        ("falco.rule:\"Write below binary dir\" AND host.name:test-node", 1),
        // The exec is an audit event, searchable next to them.
        ("objectRef.name:api-7 AND objectRef.subresource:exec", 1),
    ] {
        let body = kestrel.search(query, 100);
        assert_eq!(body["total"], count, "{query}: {body}");
    }
    assert!(falco.iter().all(|e| e["log"]["file"]["path"] == "falco"));

    // The dead letters: the two malformed items and the unusable body, with their bytes.
    let store = kestrel_bus::DeadLetterStore::open(dir.path().join("data/dead-letters")).unwrap();
    let letters: Vec<_> = store
        .read_all()
        .unwrap()
        .into_iter()
        .filter(|l| l.source == "falco")
        .collect();
    assert_eq!(letters.len(), 3, "{letters:?}");
    assert_eq!(letters[0].raw, b"not json at all");
    assert!(
        letters[0].error.starts_with("item 1: not JSON"),
        "{letters:?}"
    );
    assert_eq!(letters[1].raw, no_rule.as_bytes());
    assert!(letters[1].error.contains("`rule`"), "{letters:?}");

    // The correlation: one high alert for prod/api-7 naming mallory and Falco's rule; none
    // for prod/web-1 (a shell without an exec).
    let found = wait_for(Duration::from_secs(30), || {
        let all = alerts(&kestrel);
        (!alerts_of(&all, CORRELATION).is_empty()).then_some(all)
    })
    .expect("the correlation alert is stored");
    let correlated = alerts_of(&found, CORRELATION);
    assert_eq!(correlated.len(), 1, "{correlated:#?}");
    let alert = correlated[0];
    assert_eq!(alert["level"], "high");
    assert_eq!(
        alert["group"],
        json!({"kubernetes.namespace": "prod", "kubernetes.pod.name": "api-7"})
    );
    assert_eq!(alert["fields"]["user.username"], "mallory@example.com");
    assert_eq!(alert["fields"]["falco.rule"], "Terminal shell in container");
    assert_eq!(alert["fields"]["falco.priority"], "Notice");
    assert_eq!(alert["fields"]["container.id"], "4a4021c50439");
    assert_eq!(alert["fields"]["sourceIPs"], "203.0.113.9");
    let first_seen = DateTime::parse_from_rfc3339(alert["first_seen"].as_str().unwrap()).unwrap();
    assert_eq!(
        first_seen.timestamp_millis(),
        base.timestamp_millis(),
        "{alert}"
    );
    let ids = alert["event_ids"].as_array().unwrap();
    assert_eq!(ids.len(), 2, "{alert}");
    // The alert's query finds the exec and the Falco alert.
    let body = kestrel.search(alert["query"].as_str().unwrap(), 10);
    let mut kinds: Vec<&str> = body["hits"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["event"]["kind"].as_str())
        .collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["falco", "k8s_audit"], "{body}");
    // The pack's own Falco rule alerts on both shells.
    let standalone = alerts_of(&found, "kestrel-falco-shell-in-container");
    assert_eq!(standalone.len(), 2, "{standalone:#?}");

    // Falco retries: the same alerts posted again are stored once and alert once.
    let (status, body) = post_falco(webhook, &shell);
    assert_eq!(status, 200, "{body}");
    let (status, body) = post_falco(webhook, &array.to_string());
    assert_eq!(status, 200, "{body}");
    wait_for(Duration::from_secs(20), || {
        let scrape = kestrel.metrics();
        (scraped_value(&scrape, "kestrel_indexer_duplicates_total")? >= 3.0).then_some(())
    })
    .expect("the reposted alerts reach the indexer as duplicates");
    assert_eq!(kestrel.search("event.kind:falco", 100)["total"], 6);
    let again = alerts(&kestrel);
    assert_eq!(alerts_of(&again, CORRELATION).len(), 1, "{again:#?}");
    assert_eq!(
        alerts_of(&again, "kestrel-falco-shell-in-container").len(),
        2
    );

    // The endpoint's counters.
    let scrape = kestrel.metrics();
    let value = |series: &str| scraped_value(&scrape, series).unwrap_or_else(|| panic!("{series}"));
    assert_eq!(value("kestrel_collector_falco_unauthorized_total"), 3.0);
    assert_eq!(value("kestrel_collector_falco_requests_total"), 10.0);
    assert_eq!(value("kestrel_collector_falco_rejected_total"), 1.0);
    assert_eq!(value("kestrel_collector_falco_events_total"), 9.0);
    assert_eq!(
        value("kestrel_collector_dead_letters_total{source=\"falco\"}"),
        3.0
    );
}

#[test]
fn an_enabled_falco_endpoint_without_the_webhook_listener_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_kestrel_config(
        dir.path(),
        &format!("[collector.falco]\nenabled = true\ntokens = [\"{TOKEN}\"]\n"),
    );
    let output = Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .arg("--config")
        .arg(&config)
        .arg("run")
        .env_remove("KESTREL_CONFIG")
        .output()
        .expect("kestrel runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("collector.falco.enabled: needs collector.webhook.listen"),
        "{stderr}"
    );
}

/// Posts `body_file` to the Falco endpoint over HTTPS (as Falco's libcurl-based `http_output`
/// does); the status, or `None` when no TLS session was made.
fn post_falco_tls(
    port: u16,
    certs: &TestCertificates,
    body_file: &Path,
    client: Option<&(PathBuf, PathBuf)>,
    headers: &[&str],
) -> Option<u16> {
    let headers = [&["Content-Type: application/json"], headers].concat();
    post_tls(port, "/falco", certs, body_file, client, &headers).map(|(status, _)| status)
}

#[test]
fn with_client_certificates_falco_needs_no_token() {
    let dir = tempfile::tempdir().unwrap();
    let certs = issue_certificates(dir.path(), "falco");
    let (webhook, api) = (free_port(), free_port());
    let config = mutual_tls_listener_config(
        dir.path(),
        &certs,
        webhook,
        api,
        "[collector.falco]\nenabled = true",
    );
    let kestrel = Kestrel::start(&config, api);
    wait_for_listener(webhook, "the webhook listener accepts connections");
    let now = Utc::now();
    let alert = dir.path().join("alert.json");
    std::fs::write(
        &alert,
        terminal_shell(&at(now, 0), "prod", "api-7", "4a4021c50439").to_string(),
    )
    .unwrap();

    // Falco's certificate is enough; no certificate, or one from another CA, gets no session.
    assert_eq!(
        post_falco_tls(webhook, &certs, &alert, Some(&certs.client), &[]),
        Some(200)
    );
    assert_eq!(post_falco_tls(webhook, &certs, &alert, None, &[]), None);
    assert_eq!(
        post_falco_tls(webhook, &certs, &alert, Some(&certs.stranger), &[]),
        None
    );
    // A body over collector.webhook.max_body_bytes: 413 (answered before it is sent over
    // HTTP/1.1 with 100-continue).
    let large = dir.path().join("large.json");
    std::fs::write(
        &large,
        json!({"rule": "r", "priority": "Notice", "time": at(now, 1), "output": "x".repeat(100_000)})
            .to_string(),
    )
    .unwrap();
    assert_eq!(
        post_falco_tls(
            webhook,
            &certs,
            &large,
            Some(&certs.client),
            &["Expect: 100-continue"]
        ),
        Some(413)
    );

    let hits = kestrel.wait_for_hits("event.kind:falco", 1);
    assert_eq!(hits[0]["falco"]["rule"], "Terminal shell in container");
    assert_eq!(hits[0]["kubernetes"]["pod"]["name"], "api-7");
}
