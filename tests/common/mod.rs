//! Helpers shared by the end-to-end tests: the `kestrel` binary, the corpus, HTTP calls.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The third-party corpus; the tests fail loudly when it is missing.
pub fn corpus() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    assert!(
        path.join("MANIFEST.tsv").exists(),
        "the test corpus is missing at {} (CI provides it next to the repository)",
        path.display()
    );
    path
}

/// A corpus file.
pub fn corpus_file(relative: &str) -> PathBuf {
    let path = corpus().join(relative);
    assert!(path.exists(), "corpus file missing: {}", path.display());
    path
}

/// `kestrel` with `--data-dir dir` and the given arguments, with logs quiet.
pub fn kestrel(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kestrel"));
    command
        .arg("--data-dir")
        .arg(data_dir)
        .env("RUST_LOG", "warn")
        .env_remove("KESTREL_CONFIG");
    command
}

/// Runs a command and returns its output, failing the test with stderr when it fails.
pub fn run_ok(command: &mut Command) -> Output {
    let output = command.output().expect("kestrel runs");
    assert!(
        output.status.success(),
        "{command:?} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Ingests files into `data_dir`; returns stdout (the summary).
pub fn ingest(data_dir: &Path, files: &[PathBuf]) -> String {
    let output = run_ok(kestrel(data_dir).arg("ingest").args(files));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Searches through the CLI with `--format json` and returns the response.
pub fn search(data_dir: &Path, query: &str, limit: usize) -> Value {
    let output = run_ok(kestrel(data_dir).args([
        "search",
        "--format",
        "json",
        "--limit",
        &limit.to_string(),
        query,
    ]));
    serde_json::from_slice(&output.stdout).expect("search prints json")
}

/// The `event.id`s of a search response's hits.
pub fn hit_ids(response: &Value) -> Vec<String> {
    response["hits"]
        .as_array()
        .expect("hits is an array")
        .iter()
        .map(|hit| {
            hit["event"]["id"]
                .as_str()
                .expect("hit has an id")
                .to_owned()
        })
        .collect()
}

/// Writes `DIR/kestrel.toml`: data under `DIR/data`, host name `test-node`, then `settings`
/// (the test's own TOML); returns its path.
pub fn write_kestrel_config(dir: &Path, settings: &str) -> PathBuf {
    let config = dir.join("kestrel.toml");
    let text = format!(
        "data_dir = \"{}\"\nhost_name = \"test-node\"\n{settings}",
        dir.join("data").display()
    );
    std::fs::write(&config, text).expect("test configuration written");
    config
}

/// A TCP port free on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Polls `probe` until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return Some(value);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// GET `url` with an optional bearer token; returns status and JSON body (Null if none).
pub fn http_get(url: &str, token: Option<&str>) -> Result<(u16, Value), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut request = agent.get(url);
    if let Some(token) = token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    let mut response = request.call().map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .read_to_string()
        .map_err(|e| e.to_string())?;
    let value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    Ok((status, value))
}

/// Percent-encodes a query-string value.
pub fn encode(value: &str) -> String {
    let mut out = String::new();
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Reads a JSON-lines file into values, skipping blank lines.
pub fn read_jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("readable jsonl")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("valid json line"))
        .collect()
}

/// Follows a dotted path through nested objects.
pub fn path<'a>(value: &'a Value, dotted: &str) -> Option<&'a Value> {
    dotted.split('.').try_fold(value, |v, key| v.get(key))
}

/// A `kestrel query` process serving a data directory on a free port; killed on drop.
pub struct QueryServer {
    /// The process.
    pub child: std::process::Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl QueryServer {
    /// Starts `binary query` over `data` with extra environment variables and waits until
    /// it answers.
    pub fn start(binary: &Path, data: &Path, env: &[(&str, &str)]) -> QueryServer {
        let port = free_port();
        let child = Command::new(binary)
            .arg("--data-dir")
            .arg(data)
            .arg("query")
            .env("KESTREL_QUERY__LISTEN", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("kestrel query starts");
        let server = QueryServer { child, port };
        wait_for(Duration::from_secs(30), || {
            http_get(&server.url("/healthz"), None).ok()
        })
        .expect("kestrel query answers");
        server
    }

    /// The URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// GET `path`: status and JSON body.
    pub fn get(&self, path: &str) -> (u16, Value) {
        http_get(&self.url(path), None).expect("the server answers")
    }
}

impl Drop for QueryServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `kestrel --config FILE run`, with logs quiet; killed (SIGKILL) on drop.
pub struct KestrelRun(std::process::Child);

impl KestrelRun {
    /// Starts the process.
    pub fn start(config: &Path) -> KestrelRun {
        KestrelRun(
            Command::new(env!("CARGO_BIN_EXE_kestrel"))
                .arg("--config")
                .arg(config)
                .arg("run")
                .env("RUST_LOG", "warn")
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("kestrel run starts"),
        )
    }
}

impl Drop for KestrelRun {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `kestrel --config FILE run` serving its API on `127.0.0.1:port`, started and healthy;
/// killed with SIGKILL when dropped.
pub struct KestrelServer {
    child: std::process::Child,
    port: u16,
}

impl KestrelServer {
    /// Starts the process and waits until `/healthz` answers.
    pub fn start(config: &Path, port: u16) -> KestrelServer {
        let child = Command::new(env!("CARGO_BIN_EXE_kestrel"))
            .arg("--config")
            .arg(config)
            .arg("run")
            .env("RUST_LOG", "warn")
            .env_remove("KESTREL_CONFIG")
            .env_remove("NODE_NAME")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("kestrel run starts");
        let kestrel = KestrelServer { child, port };
        let healthy = wait_for(Duration::from_secs(30), || {
            http_get(&kestrel.url("/healthz"), None)
                .ok()
                .filter(|(s, _)| *s == 200)
        });
        assert!(healthy.is_some(), "kestrel run did not become healthy");
        kestrel
    }

    /// A URL of its API.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// `GET /api/v1/search`: the status and the body.
    pub fn try_search(&self, query: &str, limit: usize, token: Option<&str>) -> (u16, Value) {
        http_get(
            &self.url(&format!("/api/v1/search?q={}&limit={limit}", encode(query))),
            token,
        )
        .expect("api answers")
    }

    /// `GET /api/v1/search`, which must succeed: the body.
    pub fn search(&self, query: &str, limit: usize) -> Value {
        let (status, body) = self.try_search(query, limit, None);
        assert_eq!(status, 200, "{query}: {body}");
        body
    }

    /// Waits until `query` finds `count` events and returns them.
    pub fn wait_for_hits(&self, query: &str, count: u64) -> Vec<Value> {
        let found = wait_for(Duration::from_secs(20), || {
            let body = self.search(query, 10_000);
            (body["total"].as_u64() == Some(count)).then_some(body)
        });
        let body = found.unwrap_or_else(|| {
            panic!(
                "{query}: expected {count} events, got {}",
                self.search(query, 10_000)
            )
        });
        body["hits"].as_array().cloned().unwrap_or_default()
    }

    /// `GET /api/v1/export`: every event `query` finds (any number), as the stream sent them.
    pub fn export(&self, query: &str) -> Vec<Value> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        let response = agent
            .get(&self.url(&format!("/api/v1/export?q={}", encode(query))))
            .call()
            .expect("export answers");
        let reader = std::io::BufReader::new(response.into_body().into_reader());
        std::io::BufRead::lines(reader)
            .map(|line| {
                let line = line.expect("export body is text");
                serde_json::from_str(&line).expect("export lines are json")
            })
            .collect()
    }

    /// Its Prometheus metrics.
    pub fn metrics(&self) -> String {
        match http_get(&self.url("/metrics"), None) {
            Ok((200, Value::String(text))) => text,
            other => panic!("metrics: {other:?}"),
        }
    }

    /// SIGKILL: no chance to flush or checkpoint anything.
    pub fn kill(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reaped");
    }

    /// SIGTERM, which must end the process cleanly.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "graceful stop exits 0, got {status}");
    }
}

impl Drop for KestrelServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of a series (its name with its labels, as printed) in a Prometheus scrape.
pub fn scraped_value(scrape: &str, series: &str) -> Option<f64> {
    scrape.lines().find_map(|line| {
        let rest = line.strip_prefix(series)?.strip_prefix(' ')?;
        rest.trim().parse().ok()
    })
}

/// Waits (20 s at most) until 127.0.0.1:`port` accepts connections; panics with `what`
/// otherwise.
pub fn wait_for_listener(port: u16, what: &str) {
    wait_for(Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    })
    .unwrap_or_else(|| panic!("{what}: nothing listens on 127.0.0.1:{port}"));
}
