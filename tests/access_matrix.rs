//! The README's access table is the contract: a real `kestrel run` over generated data, one
//! token per role (unscoped and scoped to a namespace) created by `kestrel token create`, no
//! token, a revoked and an expired one, each calling every route of every `query`, `metrics`
//! and `webhook` row of the table; every status must be what the table says. Then a token
//! revoked while the server runs is refused, and a new one accepted, without a restart.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

const ROLES: [&str; 5] = ["viewer", "analyst", "admin", "ingest", "metrics"];
/// The static ingest token the configuration needs to enable the push endpoints.
const STATIC_INGEST: &str = "static-ingest-token-0123456789";

/// One row of the README's table.
#[derive(Debug)]
struct Row {
    listener: String,
    method: String,
    route: String,
    /// `None`: public.
    roles: Option<Vec<String>>,
    scoped: bool,
}

/// The testable rows of the "Who may use what" table of README.md: every row whose roles
/// are `public` or role names (client-certificate and local rows are not token-based).
fn readme_rows() -> Vec<Row> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let table = readme
        .split("| Listener | Route or command | Roles | Scoped |")
        .nth(1)
        .expect("the access table is in README.md");
    let mut rows = Vec::new();
    for line in table.lines().skip(2) {
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        assert_eq!(cells.len(), 4, "malformed access table row: {line}");
        let (listener, route, roles, scoped) = (cells[0], cells[1], cells[2], cells[3]);
        if listener == "CLI" {
            assert!(roles.starts_with("local: "), "{line}");
            continue;
        }
        // The roles, without a parenthetical remark.
        let roles = roles.split(" (").next().unwrap_or("");
        let roles = match roles {
            "public" => None,
            list => {
                let names: Vec<String> = list.split(',').map(|r| r.trim().to_owned()).collect();
                if !names.iter().all(|n| ROLES.contains(&n.as_str())) {
                    // Not token-based (client certificates).
                    continue;
                }
                Some(names)
            }
        };
        let (method, path) = route
            .trim_matches('`')
            .split_once(' ')
            .unwrap_or_else(|| panic!("route without method: {line}"));
        rows.push(Row {
            listener: listener.to_owned(),
            method: method.to_owned(),
            route: path.to_owned(),
            roles,
            scoped: match scoped {
                "yes" => true,
                "no" => false,
                other => panic!("scoped must be yes or no, got {other:?}: {line}"),
            },
        });
    }
    assert!(rows.len() >= 25, "only {} rows parsed", rows.len());
    rows
}

/// A caller of the matrix.
#[derive(Debug, Clone)]
struct Caller {
    label: String,
    token: Option<String>,
    /// `None` for no, revoked and expired tokens.
    role: Option<&'static str>,
    scoped: bool,
}

/// What the table says `caller` gets on `row`: `Ok(())` allowed, `Err(status)` refused.
fn expected(row: &Row, caller: &Caller) -> Result<(), u16> {
    let Some(roles) = &row.roles else {
        return Ok(());
    };
    // The push endpoints answer 401 to every refusal.
    let forbidden = if row.listener == "webhook" { 401 } else { 403 };
    let Some(role) = caller.role else {
        return Err(401);
    };
    if !roles.iter().any(|r| r == role) {
        return Err(forbidden);
    }
    if caller.scoped && !row.scoped {
        return Err(forbidden);
    }
    Ok(())
}

/// An HTTP call: status and body.
fn call(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<&(String, Vec<u8>)>,
) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let auth = token.map(|t| format!("Bearer {t}"));
    let result = match (method, body) {
        ("GET", _) => {
            let mut request = agent.get(url);
            if let Some(auth) = &auth {
                request = request.header("Authorization", auth);
            }
            request.call()
        }
        ("DELETE", _) => {
            let mut request = agent.delete(url);
            if let Some(auth) = &auth {
                request = request.header("Authorization", auth);
            }
            request.call()
        }
        ("POST", Some((content_type, bytes))) => {
            let mut request = agent.post(url).header("Content-Type", content_type);
            if let Some(auth) = &auth {
                request = request.header("Authorization", auth);
            }
            request.send(&bytes[..])
        }
        other => panic!("no way to send {other:?}"),
    };
    let mut response = result.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (status, text)
}

fn json_body(value: Value) -> Option<(String, Vec<u8>)> {
    Some(("application/json".into(), value.to_string().into_bytes()))
}

/// The request the matrix sends for a route of the table: concrete path and body. A route
/// without one fails the test (a new row needs a request here).
fn sample(row: &Row, event_id: &str, unique: &mut u32) -> (String, Option<(String, Vec<u8>)>) {
    let key = format!("{} {} {}", row.listener, row.method, row.route);
    let ndjson = |text: &str| Some(("application/x-ndjson".to_owned(), text.as_bytes().to_vec()));
    match key.as_str() {
        "query GET /api/v1/search" => ("/api/v1/search?q=*&limit=1".into(), None),
        "query POST /api/v1/search" => ("/api/v1/search".into(), json_body(json!({"q": "*", "limit": 1}))),
        "query GET /api/v1/events/{id}/context" => {
            (format!("/api/v1/events/{event_id}/context?before=1&after=1"), None)
        }
        "query POST /api/v1/aggregate" => (
            "/api/v1/aggregate".into(),
            json_body(json!({"aggs": {"n": {"count": {}}}})),
        ),
        "query GET /api/v1/export" => ("/api/v1/export?q=verb:get".into(), None),
        "query POST /api/v1/hunt" => (
            "/api/v1/hunt".into(),
            json_body(json!({"rules": "title: Denied request\nid: denied\nlogsource: {product: kubernetes, service: audit}\ndetection:\n  sel: {responseStatus.code: [401, 403]}\n  condition: sel\nlevel: low\n"})),
        ),
        "query GET /api/v1/alerts" => ("/api/v1/alerts".into(), None),
        "query GET /api/v1/elastic/{index}/_mapping" => ("/api/v1/elastic/kestrel/_mapping".into(), None),
        "query POST /api/v1/elastic/_msearch" => (
            row.route.clone(),
            ndjson("{\"index\":\"kestrel\"}\n{\"size\":1,\"query\":{\"match_all\":{}}}\n"),
        ),
        "query POST /api/v1/elastic/{index}/_msearch" => (
            "/api/v1/elastic/kestrel/_msearch".into(),
            ndjson("{}\n{\"size\":1,\"query\":{\"match_all\":{}}}\n"),
        ),
        "query POST /api/v1/tokens" => {
            *unique += 1;
            ("/api/v1/tokens".into(), json_body(json!({"name": format!("made-{unique}"), "role": "viewer"})))
        }
        "query DELETE /api/v1/tokens/{name}" => ("/api/v1/tokens/nobody".into(), None),
        "query POST /api/v1/holds" => {
            *unique += 1;
            (
                "/api/v1/holds".into(),
                json_body(json!({
                    "name": format!("hold-{unique}"),
                    "query": "kubernetes.namespace:payments",
                    "from": "now-1d",
                    "to": "now",
                    "reason": "access matrix"
                })),
            )
        }
        "query DELETE /api/v1/holds/{name}" => ("/api/v1/holds/nobody?reason=matrix".into(), None),
        "webhook POST /falco" => ("/falco".into(), json_body(falco_alert())),
        "webhook POST /_bulk" => (
            "/_bulk".into(),
            ndjson("{\"index\":{\"_index\":\"logs\"}}\n{\"@timestamp\":\"2024-01-01T00:00:00Z\",\"message\":\"matrix\"}\n"),
        ),
        "webhook POST /v1/logs" => ("/v1/logs".into(), json_body(json!({"resourceLogs": []}))),
        "webhook POST /audit/webhook" => {
            *unique += 1;
            ("/audit/webhook".into(), json_body(audit_event_list(*unique)))
        }
        _ if row.method == "GET" && !row.route.contains('{') => (row.route.clone(), None),
        _ => panic!("no sample request for the README row {key}: add one to tests/access_matrix.rs"),
    }
}

/// An `EventList` of one audit event, as the apiserver's webhook backend posts it.
fn audit_event_list(n: u32) -> Value {
    json!({
        "kind": "EventList",
        "apiVersion": "audit.k8s.io/v1",
        "items": [{
            "kind": "Event",
            "apiVersion": "audit.k8s.io/v1",
            "level": "Metadata",
            "auditID": format!("00000000-0000-4000-8000-{n:012}"),
            "stage": "ResponseComplete",
            "requestURI": "/api/v1/namespaces/payments/pods",
            "verb": "list",
            "user": {"username": "matrix"},
            "objectRef": {"resource": "pods", "namespace": "payments", "apiVersion": "v1"},
            "responseStatus": {"code": 200},
            "requestReceivedTimestamp": "2024-01-01T00:00:00.000000Z",
            "stageTimestamp": "2024-01-01T00:00:00.000000Z"
        }]
    })
}

/// Falco's "Terminal shell in container" as `http_output` posts it.
fn falco_alert() -> Value {
    json!({
        "hostname": "node-1",
        "output": "10:20:05.408091526: Notice A shell was spawned in a container with an attached terminal (evt_type=execve user=root process=bash command=bash container_id=0a1b2c3d4e5f container_name=api k8s_ns=payments k8s_pod_name=api-0)",
        "priority": "Notice",
        "rule": "Terminal shell in container",
        "source": "syscall",
        "tags": ["T1059", "container", "shell"],
        "time": "2024-01-01T00:10:05.408091526Z",
        "output_fields": {
            "container.id": "0a1b2c3d4e5f",
            "container.name": "api",
            "evt.time": 1704067805408091526u64,
            "evt.type": "execve",
            "k8s.ns.name": "payments",
            "k8s.pod.name": "api-0",
            "proc.cmdline": "bash",
            "user.name": "root",
            "user.uid": 0
        }
    })
}

/// `kestrel --config CONFIG token ARGS`: stdout.
fn token_command(config: &Path, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .arg("--config")
        .arg(config)
        .arg("token")
        .args(args)
        .env("RUST_LOG", "warn")
        .env_remove("KESTREL_CONFIG")
        .output()
        .expect("kestrel token runs");
    assert!(
        output.status.success(),
        "token {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

fn create_token(
    config: &Path,
    name: &str,
    role: &str,
    namespaces: Option<&str>,
    expires: Option<&str>,
) -> String {
    let mut args = vec!["create", "--name", name, "--role", role];
    if let Some(ns) = namespaces {
        args.extend(["--namespaces", ns]);
    }
    if let Some(e) = expires {
        args.extend(["--expires", e]);
    }
    let token = token_command(config, &args).trim().to_owned();
    assert!(token.starts_with("kst_"), "{token}");
    token
}

/// Every file `kestrel generate` wrote, but its ground truth.
fn generated_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if !path.ends_with("ground-truth.jsonl") {
                files.push(path);
            }
        }
    }
    files
}

struct Server {
    child: Child,
    log: PathBuf,
}

impl Server {
    fn log(&self) -> String {
        let mut text = String::new();
        std::fs::File::open(&self.log)
            .and_then(|mut f| f.read_to_string(&mut text))
            .expect("server log");
        text
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn every_route_answers_every_identity_as_the_readme_table_says() {
    let dir = tempfile::tempdir().unwrap();
    let generated = dir.path().join("generated");
    run_ok(kestrel(&dir.path().join("unused")).args([
        "generate",
        "--events",
        "2000",
        "--seed",
        "13",
        "--span",
        "2h",
        generated.to_str().unwrap(),
    ]));
    let (api, metrics, webhook) = (free_port(), free_port(), free_port());
    let config = write_kestrel_config(
        dir.path(),
        &format!(
            r#"[collector]
sources = []
[collector.webhook]
listen = "127.0.0.1:{webhook}"
[collector.ingest]
tokens = ["{STATIC_INGEST}"]
[collector.falco]
enabled = true
tokens = ["{STATIC_INGEST}"]
[collector.elasticsearch]
enabled = true
[collector.otlp]
enabled = true
[indexer]
commit_interval = "200ms"
[query]
listen = "127.0.0.1:{api}"
[metrics]
listen = "127.0.0.1:{metrics}"
require_token = true
"#
        ),
    );
    let files = generated_files(&generated);
    run_ok(
        Command::new(env!("CARGO_BIN_EXE_kestrel"))
            .arg("--config")
            .arg(&config)
            .arg("ingest")
            .args(&files)
            .env("RUST_LOG", "warn"),
    );

    // One token per role, unscoped and scoped; a revoked one and an expired one.
    let mut callers = vec![Caller {
        label: "no token".into(),
        token: None,
        role: None,
        scoped: false,
    }];
    for role in ROLES {
        for scoped in [false, true] {
            let name = format!("{role}-{}", if scoped { "scoped" } else { "all" });
            let token = create_token(&config, &name, role, scoped.then_some("payments"), None);
            callers.push(Caller {
                label: name,
                token: Some(token),
                role: Some(role),
                scoped,
            });
        }
    }
    let revoked = create_token(&config, "revoked", "admin", None, None);
    token_command(&config, &["revoke", "revoked"]);
    let expired = create_token(&config, "expired", "admin", None, Some("1s"));
    callers.push(Caller {
        label: "revoked".into(),
        token: Some(revoked),
        role: None,
        scoped: false,
    });
    callers.push(Caller {
        label: "expired".into(),
        token: Some(expired),
        role: None,
        scoped: false,
    });
    std::thread::sleep(Duration::from_millis(1100));

    let log = dir.path().join("server.log");
    let server = Server {
        child: Command::new(env!("CARGO_BIN_EXE_kestrel"))
            .arg("--config")
            .arg(&config)
            .arg("run")
            .env("RUST_LOG", "warn")
            .env_remove("KESTREL_CONFIG")
            .env_remove("NODE_NAME")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("kestrel run starts"),
        log,
    };
    let base = |listener: &str| match listener {
        "query" => format!("http://127.0.0.1:{api}"),
        "metrics" => format!("http://127.0.0.1:{metrics}"),
        "webhook" => format!("http://127.0.0.1:{webhook}"),
        other => panic!("unknown listener {other}"),
    };
    for listener in ["query", "metrics"] {
        wait_for(Duration::from_secs(30), || {
            http_get(&format!("{}/healthz", base(listener)), None).ok()
        })
        .unwrap_or_else(|| panic!("{listener} listener never answered"));
    }
    wait_for_listener(webhook, "webhook listener");
    let admin = callers
        .iter()
        .find(|c| c.label == "admin-all")
        .and_then(|c| c.token.clone())
        .unwrap();
    // A container line's id in the scoped tokens' namespace, for the context route.
    let (status, page) = http_get(
        &format!(
            "{}/api/v1/search?q=kubernetes.namespace:payments&limit=200",
            base("query")
        ),
        Some(&admin),
    )
    .unwrap();
    assert_eq!(status, 200, "{page}");
    let event_id = page["hits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["log"]["offset"].is_u64())
        .and_then(|h| h["event"]["id"].as_str())
        .expect("a container line of payments among the first 200 hits")
        .to_owned();

    let rows = readme_rows();
    let mut unique = 0;
    let mut differences = Vec::new();
    let mut checked = 0;
    for row in &rows {
        for caller in &callers {
            let (path, body) = sample(row, &event_id, &mut unique);
            let url = format!("{}{path}", base(&row.listener));
            let (status, text) = call(&row.method, &url, caller.token.as_deref(), body.as_ref());
            checked += 1;
            let want = expected(row, caller);
            let ok = match want {
                Err(refused) => status == refused,
                // The token and hold APIs' revoke or release of an unknown name is answered by
                // their handler.
                Ok(()) if row.method == "DELETE" => {
                    status == 404
                        && (text.contains("no token named") || text.contains("no hold named"))
                }
                Ok(()) => (200..300).contains(&status),
            };
            if !ok {
                differences.push(format!(
                    "{} {} {} as {}: got {status}, table says {}; body {}",
                    row.listener,
                    row.method,
                    row.route,
                    caller.label,
                    match want {
                        Ok(()) => "allowed".to_owned(),
                        Err(s) => s.to_string(),
                    },
                    &text[..text.len().min(200)]
                ));
            }
            if want.is_err() && row.listener == "query" {
                // The body never says why.
                for word in ["revoked", "expired", "role", "scope", "namespace", "admin"] {
                    assert!(!text.contains(word), "refusal body tells {word:?}: {text}");
                }
            }
        }
    }
    assert!(
        differences.is_empty(),
        "{} of {checked} calls differ from the README table:\n{}",
        differences.len(),
        differences.join("\n")
    );
    eprintln!(
        "{checked} calls, {} rows, {} callers: as the README table says",
        rows.len(),
        callers.len()
    );

    // A scoped token's search counts exactly the events of its namespace, as an unscoped
    // search for that namespace does (query/tests/scope.rs checks every route in detail).
    let scoped_viewer = callers
        .iter()
        .find(|c| c.label == "viewer-scoped")
        .and_then(|c| c.token.clone())
        .unwrap();
    let total = |query: &str, token: &str| {
        let url = format!("{}/api/v1/search?q={query}&limit=0", base("query"));
        let (status, page) = http_get(&url, Some(token)).unwrap();
        assert_eq!(status, 200, "{page}");
        page["total"].as_u64().unwrap()
    };
    let visible = total("*", &scoped_viewer);
    let by_hand = total(
        "kubernetes.namespace:payments%20OR%20objectRef.namespace:payments",
        &admin,
    );
    assert!(visible > 0 && visible < total("*", &admin), "{visible}");
    assert_eq!(visible, by_hand);

    // The reasons are in the server's log and in the denial counter, never in the answers.
    let log = server.log();
    for reason in [
        "no_credentials",
        "revoked_token",
        "expired_token",
        "role",
        "scope",
    ] {
        let logged = log.contains(&format!("reason=\"{reason}\""))
            || log.contains(&format!("reason={reason} "));
        assert!(
            log.contains("request denied") && logged,
            "no denial for {reason} in the log:\n{}",
            &log[..log.len().min(3000)]
        );
    }
    let (status, scrape) = call(
        "GET",
        &format!("{}/metrics", base("query")),
        Some(&admin),
        None,
    );
    assert_eq!(status, 200);
    for reason in [
        "no_credentials",
        "revoked_token",
        "expired_token",
        "role",
        "scope",
    ] {
        let series = format!("kestrel_query_requests_denied_total{{reason=\"{reason}\"}}");
        let count = scraped_value(&scrape, &series).unwrap_or(0.0);
        assert!(count >= 1.0, "{series} = {count}");
    }

    // Revocation and new tokens take effect without a restart.
    let search = format!("{}/api/v1/search?q=*&limit=1", base("query"));
    let live = create_token(&config, "live", "viewer", None, None);
    let started = Instant::now();
    let seen = wait_for(Duration::from_secs(5), || {
        (call("GET", &search, Some(&live), None).0 == 200).then_some(())
    });
    assert!(
        seen.is_some(),
        "a new token was not accepted without a restart"
    );
    eprintln!("new token accepted after {:?}", started.elapsed());
    token_command(&config, &["revoke", "live"]);
    let started = Instant::now();
    let refused = wait_for(Duration::from_secs(5), || {
        (call("GET", &search, Some(&live), None).0 == 401).then_some(())
    });
    assert!(refused.is_some(), "a revoked token was still accepted");
    let delay = started.elapsed();
    eprintln!("revoked token refused after {delay:?}");
    assert!(delay < Duration::from_secs(3), "revocation took {delay:?}");
}

/// `kestrel token`: bad arguments are named, the secret is printed once and stored nowhere,
/// the list shows every token with its status and never a secret.
#[test]
fn token_commands_name_bad_arguments_and_list_every_token() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_kestrel_config(dir.path(), "");
    let refused = |args: &[&str], expected: &str| {
        let output = Command::new(env!("CARGO_BIN_EXE_kestrel"))
            .arg("--config")
            .arg(&config)
            .arg("token")
            .args(args)
            .env_remove("KESTREL_CONFIG")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    };
    refused(
        &["create", "--name", "a", "--role", "root"],
        "error: --role: unknown role \"root\"",
    );
    refused(
        &[
            "create",
            "--name",
            "a",
            "--role",
            "viewer",
            "--namespaces",
            "Bad_NS",
        ],
        "error: --namespaces: \"Bad_NS\" is not a namespace name",
    );
    refused(
        &[
            "create",
            "--name",
            "a",
            "--role",
            "viewer",
            "--expires",
            "later",
        ],
        "error: --expires: \"later\" is not a duration",
    );
    refused(
        &["create", "--name", "a b", "--role", "viewer"],
        "error: --name: ",
    );
    refused(&["revoke", "nobody"], "error: no token named \"nobody\"");

    let first = create_token(&config, "ops", "admin", None, None);
    create_token(
        &config,
        "web-viewer",
        "viewer",
        Some("web,shop"),
        Some("90d"),
    );
    refused(
        &["create", "--name", "ops", "--role", "viewer"],
        "error: --name: a token named \"ops\" exists already",
    );
    token_command(&config, &["revoke", "ops"]);
    let store = std::fs::read_to_string(dir.path().join("data/access/tokens.json")).unwrap();
    assert!(!store.contains(&first), "the secret is stored");
    let list = token_command(&config, &["list", "--json"]);
    assert!(!list.contains(&first));
    let tokens: Vec<Value> = list
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(tokens.len(), 2);
    assert_eq!(tokens[0]["name"], "ops");
    assert_eq!(tokens[0]["status"], "revoked");
    assert_eq!(tokens[1]["status"], "active");
    assert_eq!(tokens[1]["namespaces"], json!(["shop", "web"]));
    assert!(tokens[1]["expires_at"].is_string());
    let table = token_command(&config, &["list"]);
    assert!(
        table.contains("web-viewer") && table.contains("shop,web") && table.contains("revoked"),
        "{table}"
    );
}
