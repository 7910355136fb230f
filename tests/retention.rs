//! End to end: the real audit events of the corpus (2018 to 2023) indexed with a retention
//! rule that keeps `get` requests for a century and a 30-day default. `kestrel hold` keeps
//! the 2020 partitions holding `create` requests, `kestrel retention plan` says so, `kestrel
//! retention apply` deletes exactly the rest of the default class; releasing the hold lets
//! them go. Then `kestrel run` serves the hold API, and its audit trail holds every hold
//! change (CLI and API) and every deletion.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const TOKEN: &str = "retention-admin-token-0123456789";

fn kestrel_with(config: &Path, args: &[&str]) -> std::process::Output {
    run_ok(
        std::process::Command::new(env!("CARGO_BIN_EXE_kestrel"))
            .arg("--config")
            .arg(config)
            .args(args)
            .env("RUST_LOG", "warn")
            .env_remove("KESTREL_CONFIG"),
    )
}

fn json_lines(output: &std::process::Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// Partition directories under the index, relative to it.
fn partitions(index: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for kind in std::fs::read_dir(index).unwrap().flatten() {
        let Ok(days) = std::fs::read_dir(kind.path()) else {
            continue;
        };
        for day in days.flatten() {
            if day.path().join("meta.json").exists() {
                found.insert(format!(
                    "{}/{}",
                    kind.file_name().to_string_lossy(),
                    day.file_name().to_string_lossy()
                ));
            }
        }
    }
    found
}

fn total(config: &Path, query: &str) -> u64 {
    let output = kestrel_with(
        config,
        &["search", "--format", "json", "--limit", "1", query],
    );
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    answer["total"].as_u64().expect("total")
}

fn call(method: &str, url: &str, body: Option<Value>) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let auth = format!("Bearer {TOKEN}");
    let mut response = match (method, body) {
        ("POST", Some(body)) => agent
            .post(url)
            .header("Authorization", &auth)
            .header("Content-Type", "application/json")
            .send(body.to_string().as_bytes())
            .unwrap(),
        ("DELETE", None) => agent
            .delete(url)
            .header("Authorization", &auth)
            .call()
            .unwrap(),
        ("GET", None) => agent
            .get(url)
            .header("Authorization", &auth)
            .call()
            .unwrap(),
        other => panic!("no way to send {other:?}"),
    };
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[test]
fn holds_keep_partitions_until_released_and_every_change_is_in_the_audit_trail() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_kestrel_config(
        dir.path(),
        &format!(
            "[collector]\nenabled = false\n[metrics]\nlisten = \"127.0.0.1:{}\"\n\
             [query]\nlisten = \"127.0.0.1:{port}\"\n[query.auth]\ntokens = [\"{TOKEN}\"]\n\
             [retention]\ndefault = \"30d\"\n\
             [[retention.rules]]\nname = \"reads\"\nmatch = \"verb:get\"\nkeep = \"36500d\"\n",
            free_port()
        ),
    );
    let corpus = corpus_file("combined/k8s_audit_events_all.jsonl");
    kestrel_with(&config, &["ingest", corpus.to_str().unwrap()]);
    let index = dir.path().join("data").join("index");
    let collected = |set: &BTreeSet<String>| -> BTreeSet<String> {
        set.iter()
            .filter(|p| !p.starts_with("kestrel_audit/"))
            .cloned()
            .collect()
    };
    let before = collected(&partitions(&index));
    let gets = total(&config, "verb:get");
    let creates_2020 = total(&config, "verb:create @timestamp:[2020-01-01 TO 2020-12-31]");
    assert!(gets > 0 && creates_2020 > 0, "{gets} {creates_2020}");
    assert!(
        before.iter().any(|p| p.ends_with(".keep-36500d")),
        "{before:?}"
    );
    assert!(
        before.iter().any(|p| p.ends_with(".keep-30d")),
        "{before:?}"
    );

    kestrel_with(
        &config,
        &[
            "hold",
            "create",
            "--name",
            "case-1",
            "--query",
            "verb:create",
            "--from",
            "2020-01-01",
            "--to",
            "2020-12-31T23:59:59Z",
            "--reason",
            "litigation 42",
            "--by",
            "legal",
        ],
    );
    let listed = json_lines(&kestrel_with(&config, &["hold", "list", "--json"]));
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["name"], "case-1");
    assert_eq!(listed[0]["created_by"], "legal");

    // The plan: the century class is kept, the default class is due except what case-1 holds.
    let plan = json_lines(&kestrel_with(&config, &["retention", "plan", "--json"]));
    let planned: BTreeSet<String> = plan
        .iter()
        .map(|p| p["partition"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(collected(&planned), collected(&before));
    let held: BTreeSet<String> = plan
        .iter()
        .filter(|p| p["held_by"] == "case-1")
        .map(|p| p["partition"].as_str().unwrap().to_owned())
        .collect();
    assert!(!held.is_empty());
    assert!(
        held.iter()
            .all(|p| p.contains("/2020-") && p.ends_with(".keep-30d")),
        "{held:?}"
    );
    for p in &plan {
        let name = p["partition"].as_str().unwrap();
        if name.ends_with(".keep-36500d") {
            assert_eq!(p["due"], false, "{p}");
            assert!(p["rule"].as_str().unwrap().contains("rules: reads"), "{p}");
        } else if name.starts_with("k8s_audit/") {
            assert_eq!(p["due"], true, "{p}");
        }
    }
    let kept: BTreeSet<String> = plan
        .iter()
        .filter(|p| p["due"] == false || p["held_by"].is_string())
        .map(|p| p["partition"].as_str().unwrap().to_owned())
        .collect();

    kestrel_with(&config, &["retention", "apply"]);
    let after = partitions(&index);
    assert_eq!(collected(&after), collected(&kept));
    assert_eq!(total(&config, "verb:get"), gets);
    assert_eq!(
        total(&config, "verb:create @timestamp:[2020-01-01 TO 2020-12-31]"),
        creates_2020
    );

    kestrel_with(
        &config,
        &[
            "hold",
            "release",
            "case-1",
            "--reason",
            "case closed",
            "--by",
            "legal",
        ],
    );
    kestrel_with(&config, &["retention", "apply"]);
    let left = collected(&partitions(&index));
    assert!(left.iter().all(|p| p.ends_with(".keep-36500d")), "{left:?}");
    assert_eq!(total(&config, "*"), gets);
    let deleted = before.len() - left.len();

    // The hold API, then the audit trail of it all.
    let server = KestrelServer::start(&config, port);
    let hold = json!({
        "name": "case-2", "query": "verb:get", "from": "2018-01-01", "to": "now",
        "reason": "regulator request"
    });
    let (status, created) = call("POST", &server.url("/api/v1/holds"), Some(hold.clone()));
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["name"], "case-2");
    let (status, _) = call("POST", &server.url("/api/v1/holds"), Some(hold));
    assert_eq!(status, 409);
    let (status, list) = call("GET", &server.url("/api/v1/holds"), None);
    assert_eq!(status, 200);
    let names: Vec<&str> = list["holds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["case-1", "case-2"]);
    let (status, _) = call("DELETE", &server.url("/api/v1/holds/case-2"), None);
    assert_eq!(status, 400, "a release needs a reason");
    let (status, released) = call(
        "DELETE",
        &server.url("/api/v1/holds/case-2?reason=answered"),
        None,
    );
    assert_eq!(status, 200, "{released}");
    assert_eq!(released["released"]["reason"], "answered");

    let trail = |query: &str| -> Vec<Value> {
        let found = wait_for(Duration::from_secs(10), || {
            let url = server.url(&format!(
                "/api/v1/audit?q={}&limit=1000&sort=asc",
                encode(query)
            ));
            let (status, body) = call("GET", &url, None);
            (status == 200).then_some(body)
        })
        .unwrap();
        found["hits"].as_array().unwrap().clone()
    };
    let changes = wait_for(Duration::from_secs(10), || {
        let hits = trail("kestrel.action:hold_create OR kestrel.action:hold_release");
        (hits.len() == 4).then_some(hits)
    })
    .expect("four hold changes in the audit trail");
    let summary: Vec<(String, String, String, String)> = changes
        .iter()
        .map(|h| {
            let k = &h["kestrel"];
            let text = |f: &str| k[f].as_str().unwrap_or_default().to_owned();
            (text("action"), text("hold"), text("reason"), text("route"))
        })
        .collect();
    let row = |a: &str, h: &str, r: &str, route: &str| {
        (a.to_owned(), h.to_owned(), r.to_owned(), route.to_owned())
    };
    assert_eq!(
        summary,
        [
            row(
                "hold_create",
                "case-1",
                "litigation 42",
                "kestrel hold create"
            ),
            row(
                "hold_release",
                "case-1",
                "case closed",
                "kestrel hold release"
            ),
            row(
                "hold_create",
                "case-2",
                "regulator request",
                "/api/v1/holds"
            ),
            row("hold_release", "case-2", "answered", "/api/v1/holds/{name}"),
        ]
    );
    assert_eq!(changes[0]["kestrel"]["who"], "legal");
    assert_eq!(changes[0]["kestrel"]["query"], "verb:create");
    let deletions = trail("kestrel.action:retention_delete");
    assert_eq!(deletions.len(), deleted);
    for d in &deletions {
        let k = &d["kestrel"];
        assert!(
            k["partition"].as_str().unwrap().ends_with(".keep-30d"),
            "{d}"
        );
        assert!(k["events"].as_u64().unwrap() > 0, "{d}");
        assert!(k["from"].is_string() && k["to"].is_string(), "{d}");
        assert_eq!(k["rule"], "class keep-30d (rules: default)");
    }
    server.stop();
}

#[test]
fn alerts_dead_letters_and_the_outbox_have_their_own_retention() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_kestrel_config(
        dir.path(),
        &format!(
            "[collector]\nenabled = false\n[metrics]\nlisten = \"127.0.0.1:{}\"\n\
             [query]\nlisten = \"127.0.0.1:{port}\"\n[query.auth]\ntokens = [\"{TOKEN}\"]\n\
             [retention]\nalerts = \"30d\"\ndead_letters = \"30d\"\noutbox = \"30d\"\n",
            free_port()
        ),
    );
    let data = dir.path().join("data");
    let now = chrono::Utc::now();
    let recent = (now - chrono::Duration::days(2)).to_rfc3339();
    let alerts = data.join("alerts");
    std::fs::create_dir_all(alerts.join("outbox").join("dead")).unwrap();
    std::fs::create_dir_all(alerts.join("outbox").join("pending")).unwrap();
    let lines = [
        json!({"id": "old", "first_seen": "2020-01-01T00:00:00Z", "last_seen": "2020-01-02T00:00:00Z"}),
        json!({"id": "new", "first_seen": recent, "last_seen": recent}),
    ];
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(alerts.join("alerts.ndjson"), text).unwrap();
    let letters = data.join("dead-letters");
    std::fs::create_dir_all(&letters).unwrap();
    let today = format!("{}.ndjson", now.date_naive());
    for name in ["2020-01-01.ndjson", today.as_str()] {
        std::fs::write(letters.join(name), "").unwrap();
    }
    let delivery = |id: &str| {
        json!({"id": id, "destination": "hook", "alert": {"id": id}, "attempts": 8, "next_at_ms": 0})
            .to_string()
    };
    let dead = alerts.join("outbox").join("dead");
    for id in ["old-hook", "new-hook"] {
        std::fs::write(dead.join(format!("{id}.json")), delivery(id)).unwrap();
    }
    std::fs::write(
        alerts
            .join("outbox")
            .join("pending")
            .join("waiting-hook.json"),
        delivery("waiting-hook"),
    )
    .unwrap();
    let long_ago = std::time::SystemTime::now() - Duration::from_secs(90 * 86_400);
    std::fs::File::options()
        .write(true)
        .open(dead.join("old-hook.json"))
        .unwrap()
        .set_modified(long_ago)
        .unwrap();

    let output = kestrel_with(&config, &["retention", "apply"]);
    assert!(
        String::from_utf8_lossy(&output.stdout)
            .contains("pruned 1 alerts, 1 dead-letter files, 1 dead outbox deliveries"),
        "{output:?}"
    );
    let kept = std::fs::read_to_string(alerts.join("alerts.ndjson")).unwrap();
    assert!(
        kept.contains("\"new\"") && !kept.contains("\"old\""),
        "{kept}"
    );
    assert!(!letters.join("2020-01-01.ndjson").exists());
    assert!(letters.join(&today).exists());
    assert!(!dead.join("old-hook.json").exists());
    assert!(dead.join("new-hook.json").exists());
    assert!(alerts
        .join("outbox")
        .join("pending")
        .join("waiting-hook.json")
        .exists());

    let server = KestrelServer::start(&config, port);
    let url = server.url("/api/v1/audit?q=kestrel.action:retention_prune&limit=10&sort=asc");
    let (status, body) = call("GET", &url, None);
    assert_eq!(status, 200, "{body}");
    let mut records: Vec<(String, u64, String)> = body["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let k = &h["kestrel"];
            (
                k["partition"].as_str().unwrap().to_owned(),
                k["events"].as_u64().unwrap(),
                k["rule"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    records.sort();
    let record = |store: &str, key: &str| (store.to_owned(), 1, format!("{key} 30d"));
    assert_eq!(
        records,
        [
            record("alerts", "retention.alerts"),
            record("dead-letters", "retention.dead_letters"),
            record("outbox", "retention.outbox"),
        ]
    );
    drop(server);
}
