//! Sigma filters through the binary: a filter file configured with `detection.filters` (the
//! one in `tests/fixtures/sigma_filters`) silences the pack's disallowed-namespace rule for
//! Argo CD's controller only, in `kestrel hunt` and in `kestrel rules test`, and the hunt API
//! applies a filter posted with the rule; a filter naming a rule that does not exist stops the
//! load with its file named.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::{json, Value};

const NAMESPACE_RULE: &str = "kestrel-k8s-disallowed-namespace";
const ARGO: &str = "system:serviceaccount:argocd:argocd-application-controller";

fn pack() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")
}

fn argo_filter() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sigma_filters/argocd_namespaces.yml")
}

/// An accepted namespace creation by `user`, as the API server audits it.
fn namespace_created(second: u32, user: &str, name: &str) -> Value {
    let at = format!("2026-03-01T10:00:{second:02}Z");
    json!({
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Request",
        "auditID": format!("00000000-0000-0000-0000-0000000000{second:02}"),
        "stage": "ResponseComplete",
        "requestURI": "/api/v1/namespaces",
        "verb": "create",
        "user": {"username": user, "groups": ["system:authenticated"]},
        "sourceIPs": ["10.0.0.7"],
        "objectRef": {"resource": "namespaces", "name": name, "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": 201},
        "requestObject": {"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": name}},
        "requestReceivedTimestamp": at,
        "stageTimestamp": at,
    })
}

/// A data dir holding two namespaces created by Argo CD and one by alice.
fn indexed(dir: &Path) -> PathBuf {
    let events = [
        namespace_created(1, ARGO, "shop"),
        namespace_created(2, "alice", "crypto"),
        namespace_created(3, ARGO, "billing"),
    ];
    let file = dir.join("audit.jsonl");
    let lines: Vec<String> = events.iter().map(Value::to_string).collect();
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let data = dir.join("data");
    ingest(&data, &[file]);
    data
}

fn hunt(data: &Path, config: Option<&Path>) -> Vec<Value> {
    let mut command = kestrel(data);
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    let output = run_ok(command.arg("hunt").arg("--rules").arg(pack()));
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("alert is json"))
        .collect()
}

/// The creators of the namespaces the namespace rule's alerts show (through their query).
fn namespace_alert_users(data: &Path, alerts: &[Value]) -> Vec<String> {
    alert_users(data, alerts, NAMESPACE_RULE)
}

/// The creators of the namespaces the alerts of `rule_id` show (through their query), sorted.
fn alert_users(data: &Path, alerts: &[Value], rule_id: &str) -> Vec<String> {
    let mut users: Vec<String> = alerts
        .iter()
        .filter(|a| a["rule_id"] == rule_id)
        .flat_map(|a| {
            let shown = search(data, a["query"].as_str().unwrap(), 10);
            shown["hits"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["user"]["username"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    users.sort();
    users
}

fn config_with_filters(dir: &Path, filters: &[&Path]) -> PathBuf {
    let list: Vec<String> = filters
        .iter()
        .map(|p| format!("{:?}", p.display().to_string()))
        .collect();
    write_kestrel_config(
        dir,
        &format!("[detection]\nfilters = [{}]\n", list.join(", ")),
    )
}

#[test]
fn a_configured_filter_silences_the_rule_for_the_filtered_principal_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = indexed(dir.path());

    let shipped = hunt(&data, None);
    assert_eq!(
        namespace_alert_users(&data, &shipped),
        ["alice", ARGO, ARGO],
        "{shipped:#?}"
    );

    let config = config_with_filters(dir.path(), &[&argo_filter()]);
    let filtered = hunt(&data, Some(&config));
    assert_eq!(namespace_alert_users(&data, &filtered), ["alice"]);
    let alert = filtered
        .iter()
        .find(|a| a["rule_id"] == NAMESPACE_RULE)
        .unwrap();
    assert_eq!(alert["filters"], json!(["local-argocd-namespaces"]));
    // The other rules' alerts are the same with and without the filter.
    let others = |alerts: &[Value]| -> Vec<Value> {
        alerts
            .iter()
            .filter(|a| a["rule_id"] != NAMESPACE_RULE)
            .cloned()
            .collect()
    };
    assert_eq!(others(&filtered), others(&shipped));
    assert!(others(&shipped).iter().all(|a| a.get("filters").is_none()));
}

/// `kestrel --config CONFIG rules test` over the pack.
fn rules_test(config: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .arg("--config")
        .arg(config)
        .args(["rules", "test"])
        .arg(pack())
        .env("RUST_LOG", "warn")
        .env_remove("KESTREL_CONFIG")
        .output()
        .unwrap()
}

#[test]
fn rules_test_runs_the_filter_s_tests_and_the_rule_s_own_as_shipped() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_filters(dir.path(), &[&argo_filter()]);
    let output = rules_test(&config);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("ok    filter: Argo CD creates")
                && l.ends_with(&format!("[refines: {NAMESPACE_RULE}]"))),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("ok    Namespace Created Outside")
                && l.ends_with("[refined by: local-argocd-namespaces]")),
        "{stdout}"
    );
    let summary = stdout.lines().last().unwrap();
    assert!(summary.contains(" rules and 1 filter, "), "{summary}");
    assert!(summary.contains(", 0 failed, "), "{summary}");

    // A filter that silences the wrong events fails its tests.
    let inverted = dir.path().join("inverted.yml");
    let text = std::fs::read_to_string(argo_filter()).unwrap();
    std::fs::write(
        &inverted,
        text.replace("condition: not selection", "condition: selection"),
    )
    .unwrap();
    let config = config_with_filters(dir.path(), &[&inverted]);
    let output = rules_test(&config);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL  filter: Argo CD creates"), "{stdout}");
    assert!(
        stdout.contains("should still match once filtered"),
        "{stdout}"
    );
}

#[test]
fn a_filter_naming_a_missing_rule_stops_the_hunt_with_its_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = indexed(dir.path());
    let filter = dir.path().join("typo.yml");
    let text = std::fs::read_to_string(argo_filter()).unwrap();
    std::fs::write(
        &filter,
        text.replace(NAMESPACE_RULE, "kestrel-k8s-disallowed-namespaces"),
    )
    .unwrap();
    let config = config_with_filters(dir.path(), &[&filter]);
    let output = kestrel(&data)
        .arg("--config")
        .arg(&config)
        .arg("hunt")
        .arg("--rules")
        .arg(pack())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "{}: filter \"local-argocd-namespaces\": filter.rules: no detection rule has the id \
             or name \"kestrel-k8s-disallowed-namespaces\"",
            filter.display()
        )),
        "{stderr}"
    );
}

#[test]
fn the_hunt_api_applies_the_filters_posted_with_the_rules() {
    let dir = tempfile::tempdir().unwrap();
    let data = indexed(dir.path());
    let rules_env = pack().display().to_string();
    let server = QueryServer::start(
        Path::new(env!("CARGO_BIN_EXE_kestrel")),
        &data,
        &[("KESTREL_DETECTION__RULES", rules_env.as_str())],
    );
    let rule =
        std::fs::read_to_string(pack().join("kubernetes/create_disallowed_namespace.yml")).unwrap();
    let filter = std::fs::read_to_string(argo_filter()).unwrap();
    let post = |rules: String| {
        ureq::post(&server.url("/api/v1/hunt"))
            .config()
            .http_status_as_error(false)
            .build()
            .send_json(json!({ "rules": rules }))
            .unwrap()
    };
    let alerts = |mut response: ureq::http::Response<ureq::Body>| -> Vec<Value> {
        assert_eq!(response.status(), 200);
        let text = response.body_mut().read_to_string().unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let shipped = alerts(post(rule.clone()));
    assert_eq!(
        namespace_alert_users(&data, &shipped),
        ["alice", ARGO, ARGO]
    );
    let filtered = alerts(post(format!("{rule}\n---\n{filter}")));
    assert_eq!(namespace_alert_users(&data, &filtered), ["alice"]);
    assert_eq!(filtered[0]["filters"], json!(["local-argocd-namespaces"]));

    let mut refused = post(format!(
        "{rule}\n---\n{}",
        filter.replace(NAMESPACE_RULE, "no-such-rule")
    ));
    assert_eq!(refused.status(), 400);
    let message = refused.body_mut().read_to_string().unwrap();
    let message: Value = serde_json::from_str(&message).unwrap();
    assert_eq!(
        message["error"],
        "rules: filter \"local-argocd-namespaces\": filter.rules: no detection rule has the id \
         or name \"no-such-rule\""
    );
}

/// The configured filters (`detection.filters`) refine the rules posted to the hunt API that
/// they name; a posted set without the rules a filter names is hunted as posted (a hunt holds
/// only some of the pack's rules, so a configured filter's other rules are not an error there).
#[test]
fn the_hunt_api_applies_the_configured_filters_to_the_posted_rules_they_name() {
    let dir = tempfile::tempdir().unwrap();
    let data = indexed(dir.path());
    let rules_env = pack().display().to_string();
    let filters_env = format!("[{:?}]", argo_filter().display().to_string());
    let server = QueryServer::start(
        Path::new(env!("CARGO_BIN_EXE_kestrel")),
        &data,
        &[
            ("KESTREL_DETECTION__RULES", rules_env.as_str()),
            ("KESTREL_DETECTION__FILTERS", filters_env.as_str()),
        ],
    );
    let post = |rules: String| -> Vec<Value> {
        let mut response = ureq::post(&server.url("/api/v1/hunt"))
            .send_json(json!({ "rules": rules }))
            .unwrap();
        let text = response.body_mut().read_to_string().unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let rule =
        std::fs::read_to_string(pack().join("kubernetes/create_disallowed_namespace.yml")).unwrap();
    let refined = post(rule.clone());
    assert_eq!(namespace_alert_users(&data, &refined), ["alice"]);
    assert_eq!(refined[0]["filters"], json!(["local-argocd-namespaces"]));

    // The same rule under another id and name is not the one the filter names.
    let renamed = rule.replace(NAMESPACE_RULE, "local-namespace-copy");
    let unrefined = post(renamed);
    assert_eq!(
        alert_users(&data, &unrefined, "local-namespace-copy"),
        ["alice", ARGO, ARGO],
        "{unrefined:?}"
    );
    assert!(unrefined.iter().all(|a| a.get("filters").is_none()));
}
