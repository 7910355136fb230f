//! End to end: `kestrel run` records each API call in its own audit trail (`kestrel_audit`),
//! readable at `/api/v1/audit`, never returned by a search of collected events.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use serde_json::Value;

const TOKEN: &str = "audit-trail-token-0123456789";

/// GET `path` with an optional bearer token: status and body bytes.
fn get(server: &KestrelServer, path: &str, token: Option<&str>) -> (u16, Vec<u8>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut request = agent.get(&server.url(path));
    if let Some(token) = token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    let mut response = request.call().expect("api answers");
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_vec().expect("body");
    (status, body)
}

#[test]
fn every_api_call_is_recorded_once_and_only_admins_read_the_trail() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    ingest(&data, &[corpus_file("combined/k8s_audit_events_all.jsonl")]);
    let port = free_port();
    let config = write_kestrel_config(
        dir.path(),
        &format!(
            "[collector]\nenabled = false\n[metrics]\nlisten = \"127.0.0.1:{}\"\n\
             [query]\nlisten = \"127.0.0.1:{port}\"\n[query.auth]\ntokens = [\"{TOKEN}\"]\n",
            free_port()
        ),
    );
    let cli = search(&data, "verb:get", 3);
    for args in [
        &[
            "create",
            "--name",
            "oncall",
            "--role",
            "viewer",
            "--namespaces",
            "payments",
        ][..],
        &["revoke", "oncall"][..],
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_kestrel"))
            .arg("--config")
            .arg(&config)
            .arg("token")
            .args(args)
            .env_remove("KESTREL_CONFIG")
            .output()
            .expect("kestrel token runs");
        assert!(output.status.success(), "token {args:?}: {output:?}");
    }
    let server = KestrelServer::start(&config, port);

    // (path, token, expected status, expected reason when refused)
    let calls: Vec<(&str, Option<&str>, u16, Option<&str>)> = vec![
        ("/api/v1/search?q=verb:get&limit=5", Some(TOKEN), 200, None),
        (
            "/api/v1/search?q=verb:get",
            Some("wrong-token-0123456789"),
            401,
            Some("invalid_token"),
        ),
        (
            "/api/v1/search?q=verb:get",
            None,
            401,
            Some("no_credentials"),
        ),
        ("/api/v1/export?q=verb:create", Some(TOKEN), 200, None),
        ("/api/v1/events/0123abcd/context", Some(TOKEN), 404, None),
        ("/api/v1/alerts", Some(TOKEN), 200, None),
        ("/api/v1/elastic/_mapping", Some(TOKEN), 200, None),
        (
            "/metrics",
            Some("wrong-token-0123456789"),
            401,
            Some("invalid_token"),
        ),
    ];
    let mut bodies = Vec::new();
    for (path, token, status, _) in &calls {
        let (got, body) = get(&server, path, *token);
        assert_eq!(got, *status, "{path}");
        bodies.push(body);
    }

    // The trail, without the health checks of start-up and the reads of the trail itself.
    let recorded = |server: &KestrelServer| -> Vec<Value> {
        let (status, body) = get(server, "/api/v1/audit?limit=1000&sort=asc", Some(TOKEN));
        assert_eq!(status, 200);
        let answer: Value = serde_json::from_slice(&body).unwrap();
        answer["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|hit| hit["kestrel"].clone())
            .filter(|k| k["action"] == "request")
            .filter(|k| k["route"] != "/healthz" && k["route"] != "/api/v1/audit")
            .collect()
    };
    let events = wait_for(Duration::from_secs(20), || {
        let events = recorded(&server);
        (events.len() >= calls.len()).then_some(events)
    })
    .unwrap_or_else(|| {
        let (_, raw) = get(&server, "/api/v1/audit?limit=1000&sort=asc", Some(TOKEN));
        panic!("audit trail: {}", String::from_utf8_lossy(&raw))
    });
    assert_eq!(events.len(), calls.len(), "one event per call: {events:#?}");

    let mut by_call: BTreeMap<usize, &Value> = BTreeMap::new();
    for (i, (path, token, status, reason)) in calls.iter().enumerate() {
        let route = path.split('?').next().unwrap();
        let route = if route.contains("/events/") {
            "/api/v1/events/{id}/context"
        } else {
            route
        };
        let event = &events[i];
        assert_eq!(event["route"], route, "call {i}: {event}");
        assert_eq!(event["method"], "GET");
        assert_eq!(event["status"], *status, "call {i}");
        assert_eq!(event["bytes"], bodies[i].len() as u64, "call {i}");
        assert_eq!(event["allowed"], reason.is_none(), "call {i}");
        assert_eq!(event["reason"].as_str(), *reason, "call {i}");
        let address = event["source_address"].as_str().unwrap();
        assert!(address.starts_with("127.0.0.1:"), "{address}");
        if token == &Some(TOKEN) {
            assert_eq!(event["who"], "static");
            assert_eq!(event["role"], "admin");
        }
        by_call.insert(i, event);
    }
    let search: Value = serde_json::from_slice(&bodies[0]).unwrap();
    assert_eq!(by_call[&0]["total"], search["total"]);
    assert_eq!(by_call[&0]["hits"], 5);
    assert_eq!(by_call[&0]["query"], "verb:get");
    let exported = bodies[3].iter().filter(|b| **b == b'\n').count();
    assert!(exported > 0 && by_call[&3]["bytes"].as_u64().unwrap() > 1_000);

    // The CLI query of before the start.
    let (_, body) = get(
        &server,
        "/api/v1/audit?q=kestrel.action:cli_query",
        Some(TOKEN),
    );
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer["total"], 1, "{answer}");
    let event = &answer["hits"][0]["kestrel"];
    assert_eq!(event["route"], "kestrel search");
    assert_eq!(event["query"], "verb:get");
    assert_eq!(event["hits"], 3);
    assert_eq!(event["total"], cli["total"]);

    // The token changes made before the start, and the start of each role.
    let (_, body) = get(
        &server,
        "/api/v1/audit?q=kestrel.action:token_create%20OR%20kestrel.action:token_revoke&sort=asc",
        Some(TOKEN),
    );
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer["total"], 2, "{answer}");
    let created = &answer["hits"][0]["kestrel"];
    assert_eq!(created["action"], "token_create");
    assert_eq!(
        created["query"],
        "name=oncall role=viewer namespaces=payments expires=never"
    );
    assert_eq!(answer["hits"][1]["kestrel"]["query"], "name=oncall");
    let started = wait_for(Duration::from_secs(10), || {
        let (_, body) = get(&server, "/api/v1/audit?q=kestrel.action:start", Some(TOKEN));
        let answer: Value = serde_json::from_slice(&body).ok()?;
        let mut components: Vec<String> = answer["hits"]
            .as_array()?
            .iter()
            .filter_map(|hit| hit["kestrel"]["component"].as_str().map(str::to_owned))
            .collect();
        components.sort();
        (components.len() == 2).then_some(components)
    })
    .expect("start events of the indexer and query roles");
    assert_eq!(started, ["indexer", "query"]);

    // Searches of collected events never return the trail.
    let (_, body) = get(&server, "/api/v1/search?q=*&limit=0", Some(TOKEN));
    let everything: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(everything["total"], 114);
    let (_, body) = get(
        &server,
        "/api/v1/search?q=event.kind:kestrel_audit",
        Some(TOKEN),
    );
    let audit: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(audit["total"], 0);
    server.stop();
}
