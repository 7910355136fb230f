//! Seeded generator of realistic Kestrel input: Docker json-file logs, CRI logs and Kubernetes
//! audit logs, laid out like the files of real nodes, for benchmarks and large tests.
//!
//! [`generate`] writes [`GenerateOptions::events`] events (records after split lines are
//! re-joined: exactly what `kestrel_collector::normalize::normalize_bytes` returns) into an
//! empty directory. The same options give byte-identical files: everything is drawn from one
//! ChaCha8 stream seeded with [`GenerateOptions::seed`] (`rand_chacha::ChaCha8Rng::seed_from_u64`),
//! with samplers written on top of its raw `u64`s.
//!
//! # Layout
//!
//! | [`Kind`] | files |
//! |---|---|
//! | `docker` | `var/lib/docker/containers/<id>/<id>-json.log` (`<id>`: 64 hex digits), one per container |
//! | `cri` | `var/log/pods/<namespace>_<pod>_<pod uid>/<container>/0.log`, one per container |
//! | `audit` | `var/log/kubernetes/audit/audit.log` |
//! | `mixed` | all three: 40 % of the events in the audit log, 60 % in container logs (half Docker, half CRI) |
//!
//! and always `ground-truth.jsonl` (see [`GroundTruth`]).
//!
//! # Time
//!
//! Every file's records spread over [`GenerateOptions::span`] from
//! [`GenerateOptions::start`]: record `i` of a file's `n` falls at a uniformly random point of
//! the `i`-th of `n` equal shares of the traffic, and traffic follows a daily curve
//! (`1 + 0.5 cos(2π (hour − 14) / 24)`: 3 times more at 14:00 UTC than at 02:00). Lines that
//! belong together (stack-trace lines, the chunks of a split line, attack bursts) follow the
//! previous line by microseconds to seconds, so a burst may end a little after the span.
//! Timestamps strictly increase within a file: nanoseconds in container logs (written like Go's
//! `RFC3339Nano`, trailing zeros trimmed, as Docker and containerd do), microseconds in the
//! audit log (`requestReceivedTimestamp` is `stageTimestamp` minus the request's latency; for
//! watches that is the watch's `timeoutSeconds`, 5–10 minutes).
//!
//! # Container logs
//!
//! A cluster of 6 nodes and 29 containers in 27 pods across 8 namespaces with workloads
//! (`ingress-nginx`, `shop`, `payments`, `auth`, `data`, `kube-system`, `monitoring`,
//! `backoffice`). A file's share of the events is Zipf-like: the container of rank `k` (ranks
//! in a seeded random order) gets a share proportional to `1 / k^1.1`, so the busiest container
//! writes about a quarter of the lines and the quietest about 1 %. What each writes:
//!
//! | container | stdout | stderr |
//! |---|---|---|
//! | ingress-nginx controller | 93 % access lines in ingress-nginx's `log-format-upstream` (combined log format plus request length and time, upstream name, address, length, time, status and request id), client addresses from 2 000 public IPs with Zipf skew | 4 % nginx `[error]`/`[warn]` lines, 3 % klog (`I0101 ...`/`W0101 ...`) |
//! | nginx (front end) | 97 % combined log format, clients are the ingress pods | 3 % nginx errors |
//! | Go services (zap) | JSON `{"level","ts","caller","msg","request_id",...}` at info/warn | error-level JSON with a `stacktrace` field; 0.2 % `http: panic serving` followed by a 17-line goroutine trace |
//! | Spring Boot services | logback console pattern at INFO/WARN | `ERROR` lines, each followed by a Java stack trace (9–31 lines, `Caused by:` half of the time) |
//! | Python (gunicorn + Flask) | 60 % gunicorn access lines | `logging` lines, tracebacks (6–14 lines) after errors, gunicorn worker messages |
//! | Celery worker | — | task lines, tracebacks after errors |
//! | PostgreSQL | — | `LOG`, `ERROR` + `DETAIL` + `STATEMENT` groups, `FATAL` |
//! | Redis | save cycles and notices | — |
//! | CoreDNS | `log` plugin query lines (cluster names, search-path `NXDOMAIN`s, external names) | — |
//! | Prometheus and helpers | — | logfmt lines |
//!
//! Each line of a stack trace is its own event (the normalizers' default, no multi-line
//! grouping). Application levels are info 82 %, warn 13 %, error 5 %. Overall about 62 % of the
//! container lines go to stdout and 38 % to stderr. Access-log paths are those of a web shop
//! (pages, static files, a JSON API, health checks); over all access logs the status codes are
//! 2xx ≈ 87 %, 3xx ≈ 5 %, 4xx ≈ 7 %, 5xx ≈ 1.4 % (static files: 200 77 %, 304 19 %, 404 3 %;
//! POST answers 201 60 % of the time it succeeds). Response sizes are log-uniform (API
//! 60 B–25 KB, pages 1.5–60 KB, static files 2–600 KB). 12 user agents (browsers, mobile app,
//! bots, curl) with fixed weights. Lines average about 320 bytes in Docker files and 220 bytes
//! in CRI files.
//!
//! 0.1 % of the records of the Go, Java and Python services are one line of 17–64 KB, which
//! Docker writes as 16 KiB chunks without a trailing `\n` (exactly like its json-file driver:
//! a line of 16 384 bytes or more is cut every 16 384 bytes, the last chunk carries the `\n`)
//! and CRI as `P` lines of 16 384 bytes before an `F` line. Docker lines escape `<`, `>` and `&`
//! as `\u003c`... like Go's `encoding/json`.
//!
//! # Audit log
//!
//! `audit.k8s.io/v1` events, one per line, fields in the apiserver's order, all
//! `stage: ResponseComplete`, about 1 KB each. The users are the kubelets
//! (`system:node:<node>`, 36 % of the events: leases, node status, pod status, projected
//! service-account tokens, named watches of configmaps and secrets), nine
//! kube-controller-manager controllers (`system:serviceaccount:kube-system:<controller>`, 20 %,
//! including the namespace controller's `deletecollection`s), `system:kube-controller-manager`,
//! `system:kube-scheduler` and `system:apiserver` (11 %), operators with pod-bound tokens
//! (Prometheus, ingress-nginx, cert-manager, Argo CD, CoreDNS, kube-proxy) and a Helm deployer
//! (23 %), four people through kubectl (`alice@example.com`, `bob@example.com`,
//! `carol@example.com`, `dave@example.com`: 10 %, from VPN addresses and now and then a public
//! one), anonymous health checks (0.2 %) and expired tokens (0.1 %, 401 with an empty `user`).
//! Verbs: update 30 %, get 23 %, watch 16 %, create 12 %, patch 10 %, list 6 %, delete 2.5 %,
//! deletecollection 0.6 %. Every verb (get list watch create
//! update patch delete deletecollection) and the resources pods (also exec, attach,
//! portforward, log, status, binding), secrets, configmaps, services, serviceaccounts (and
//! token), namespaces, nodes (and status), events, deployments, replicasets, daemonsets,
//! cronjobs, jobs, roles, rolebindings, clusterroles, clusterrolebindings,
//! certificatesigningrequests (and approval), mutatingwebhookconfigurations, leases,
//! endpointslices, ingresses and non-resource URLs (`/livez`, `/metrics`, ...) occur.
//! Response codes: 200 86 %, 201 11 %, 409 1.9 % (updates of modified objects, creates of
//! existing ones), 404 0.7 %, 101 0.4 % (exec, attach, port-forward), 403 0.3 %, 401 0.15 %,
//! 422 rarely. Half of the successful creates of pods, configmaps, deployments, services,
//! service accounts and RBAC objects are logged at `RequestResponse` level with a
//! `requestObject` (about 1 % of the events); the rest is `Metadata`. `auditID`s are random
//! version-4 UUIDs.
//!
//! # Attacks
//!
//! About [`GenerateOptions::attack_rate`] of the events (0.1 % by default) belong to attacks a
//! Kubernetes rule pack should find; each attack's lines are listed in `ground-truth.jsonl`.
//! Container logs: `web-path-traversal`, `web-sql-injection` and `web-log4shell` probes in
//! access logs (bursts of 1–4 from one address with a scanner's user agent), SQL injection and
//! Log4Shell strings in the login failures of Go and Java services, `reverse-shell` commands
//! on stderr. Audit log: `exec-shell` (1–3 `pods/exec` with a shell), `anonymous-access-allowed`
//! (1–5 reads by `system:anonymous` answered 200), `secret-enumeration` (10–40 secret lists and
//! gets by one user within seconds), `privileged-pod`, `hostpath-pod`, `cluster-admin-binding`
//! (one create each, with its `requestObject`), `auth-failure-burst` (15–50 401/403 from one
//! public address). Ordinary traffic never uses those shells, bodies or payloads.

#![warn(missing_docs)]

mod audit;
mod cluster;
mod container;
mod output;
mod rng;
mod text;
mod timeline;
mod volume;

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::AuditFile;
use crate::cluster::{allocate, Cluster};
use crate::container::ContainerFile;
use crate::output::{Sink, Truth};
use crate::rng::Rng;
use crate::timeline::Timeline;

pub use crate::container::SPLIT_BYTES;

/// Name of the ground-truth file in the output directory.
pub const GROUND_TRUTH_FILE: &str = "ground-truth.jsonl";

/// Path of the audit log in the output directory.
pub const AUDIT_LOG: &str = "var/log/kubernetes/audit/audit.log";

/// Share of the events that [`Kind::Mixed`] puts in the audit log.
pub const MIXED_AUDIT_SHARE: f64 = 0.4;

/// Which files to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Docker json-file logs.
    Docker,
    /// CRI logs under `/var/log/pods`.
    Cri,
    /// A Kubernetes audit log.
    Audit,
    /// All three ([`MIXED_AUDIT_SHARE`] audit, the rest container logs split evenly).
    Mixed,
}

impl Kind {
    /// The kind's name: `docker`, `cri`, `audit` or `mixed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Docker => "docker",
            Kind::Cri => "cri",
            Kind::Audit => "audit",
            Kind::Mixed => "mixed",
        }
    }

    /// How `events` are split: (Docker, CRI, audit).
    pub fn split(self, events: u64) -> (u64, u64, u64) {
        match self {
            Kind::Docker => (events, 0, 0),
            Kind::Cri => (0, events, 0),
            Kind::Audit => (0, 0, events),
            Kind::Mixed => {
                let audit = (events as f64 * MIXED_AUDIT_SHARE).round() as u64;
                let container = events - audit;
                (container / 2, container - container / 2, audit)
            }
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = GenerateError;

    fn from_str(text: &str) -> Result<Kind, GenerateError> {
        match text {
            "docker" => Ok(Kind::Docker),
            "cri" => Ok(Kind::Cri),
            "audit" => Ok(Kind::Audit),
            "mixed" => Ok(Kind::Mixed),
            other => Err(GenerateError::InvalidOptions(format!(
                "unknown kind {other:?}: expected docker, cri, audit or mixed"
            ))),
        }
    }
}

/// The format of one generated file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    /// A Docker json-file log.
    Docker,
    /// A CRI log.
    Cri,
    /// A Kubernetes audit log.
    Audit,
}

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateOptions {
    /// Which files.
    pub kind: Kind,
    /// Number of events, counted after split lines are re-joined.
    pub events: u64,
    /// Seed of the random stream: the same options give the same bytes.
    pub seed: u64,
    /// Start of the time range.
    pub start: DateTime<Utc>,
    /// Length of the time range (more than zero).
    pub span: Duration,
    /// Share of the events that belong to attacks (`0..=1`; 0 for none).
    pub attack_rate: f64,
    /// Log-volume anomalies to inject into container logs (up to this many: ones that would
    /// overlap on one container are left out), alternately spikes (one container writing
    /// each line 10–50 times for 2–5 minutes) and dips (one container silent for 5–15
    /// minutes), in the second half of the span; see [`GroundTruth`].
    pub volume_anomalies: u64,
}

impl Default for GenerateOptions {
    /// Mixed, 10 000 events, seed 0, one day from 2024-01-01T00:00:00Z, 0.1 % attacks.
    fn default() -> GenerateOptions {
        GenerateOptions {
            kind: Kind::Mixed,
            events: 10_000,
            seed: 0,
            start: Utc
                .with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
                .single()
                .expect("valid date"),
            span: Duration::from_secs(86_400),
            attack_rate: 0.001,
            volume_anomalies: 0,
        }
    }
}

/// One generated file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSummary {
    /// Path relative to the output directory, `/`-separated.
    pub path: String,
    /// Its format.
    pub kind: FileKind,
    /// Events in it.
    pub events: u64,
    /// Lines in it (more than events when lines were split).
    pub lines: u64,
    /// Its size.
    pub bytes: u64,
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerateSummary {
    /// The log files, in the order they were written.
    pub files: Vec<FileSummary>,
    /// Events in all files.
    pub events: u64,
    /// Events in container logs.
    pub container_events: u64,
    /// Events in the audit log.
    pub audit_events: u64,
    /// Bytes of all log files (without the ground truth).
    pub bytes: u64,
    /// Attacks written.
    pub attacks: u64,
    /// Events that belong to attacks (lines of the ground truth).
    pub attack_events: u64,
    /// The ground-truth file.
    pub ground_truth: PathBuf,
}

/// One line of `ground-truth.jsonl`: an event that belongs to an attack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroundTruth {
    /// The attack's number (1, 2, ...); an attack's events share it.
    pub attack: u64,
    /// The pattern: `volume-spike`, `volume-dip` (injected volume anomalies, see `from`),
    /// `exec-shell`, `anonymous-access-allowed`, `secret-enumeration`,
    /// `privileged-pod`, `hostpath-pod`, `cluster-admin-binding`, `auth-failure-burst`,
    /// `web-path-traversal`, `web-sql-injection`, `web-log4shell` or `reverse-shell`.
    pub pattern: String,
    /// The file's format.
    pub kind: FileKind,
    /// The file, relative to the output directory.
    pub file: String,
    /// 1-based number of the event's (first) line.
    pub line: u64,
    /// The event's time (Docker/CRI line time, audit `stageTimestamp`), RFC 3339.
    pub time: String,
    /// Text found in the event: in the `log` of a Docker line, the message of a CRI line, the
    /// raw line of an audit event.
    pub indicator: String,
    /// For `volume-spike` and `volume-dip`: start of the anomaly (RFC 3339). `line` and
    /// `time` are those of the first line of the spike, or of the first line after the dip
    /// (a dip has no line of its own); `indicator` names the container
    /// (`volume-dip of namespace/pod/container`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// For volume anomalies: their end (exclusive, RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

/// Why [`generate`] failed.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The options are not usable.
    #[error("invalid options: {0}")]
    InvalidOptions(String),
    /// The output directory already holds files.
    #[error("output directory {0} is not empty: generate into a new or empty directory")]
    NotEmpty(PathBuf),
}

impl GenerateError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> GenerateError {
        GenerateError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Parses a span such as `1d`, `12h`, `90m`, `1h30m`, `45s` or `2w` (units `w`, `d`, `h`, `m`,
/// `s`, `ms`; a bare number is seconds).
pub fn parse_span(text: &str) -> Result<Duration, GenerateError> {
    let invalid = || {
        GenerateError::InvalidOptions(format!(
            "invalid span {text:?}: expected a number with a unit (w, d, h, m, s, ms), e.g. 1d or 1h30m"
        ))
    };
    let text = text.trim();
    if text.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let number: u64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let unit = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let millis: u64 = match &rest[..unit] {
            "w" => 7 * 86_400_000,
            "d" => 86_400_000,
            "h" => 3_600_000,
            "m" => 60_000,
            "s" | "" => 1_000,
            "ms" => 1,
            _ => return Err(invalid()),
        };
        rest = &rest[unit..];
        total = number
            .checked_mul(millis)
            .and_then(|n| total.checked_add(n))
            .ok_or_else(invalid)?;
    }
    Ok(Duration::from_millis(total))
}

fn validate(options: &GenerateOptions) -> Result<(i64, i64), GenerateError> {
    let invalid = |text: String| Err(GenerateError::InvalidOptions(text));
    if !(0.0..=1.0).contains(&options.attack_rate) {
        return invalid(format!(
            "attack rate {} is not between 0 and 1",
            options.attack_rate
        ));
    }
    let span = i64::try_from(options.span.as_nanos()).unwrap_or(i64::MAX);
    if span <= 0 || span > 100 * 366 * 86_400 * 1_000_000_000 {
        return invalid(format!(
            "span {:?} must be more than zero and at most 100 years",
            options.span
        ));
    }
    let start = options.start.timestamp_nanos_opt().unwrap_or(-1);
    if !(0..=4_102_444_800_000_000_000).contains(&start) {
        return invalid(format!(
            "start {} must be between 1970 and 2100",
            options.start.to_rfc3339()
        ));
    }
    Ok((start, span))
}

/// Writes the files described by `options` into `out_dir`, which must be empty or not exist
/// (it is created). Same options, same bytes.
pub fn generate(
    options: &GenerateOptions,
    out_dir: &Path,
) -> Result<GenerateSummary, GenerateError> {
    let (start, span) = validate(options)?;
    if out_dir.exists() {
        let mut entries = fs::read_dir(out_dir).map_err(|e| GenerateError::io(out_dir, e))?;
        if entries.next().is_some() {
            return Err(GenerateError::NotEmpty(out_dir.to_path_buf()));
        }
    }
    fs::create_dir_all(out_dir).map_err(|e| GenerateError::io(out_dir, e))?;

    let mut master = Rng::new(options.seed);
    let cluster = Cluster::new(&mut master);
    let timeline = Timeline::new(start, span);
    let mut truth = Truth::default();
    let mut files = Vec::new();
    let (docker, cri, audit) = options.kind.split(options.events);
    let mut anomalies = volume::plan(
        options.seed,
        options.volume_anomalies,
        cluster.containers.len(),
        start,
        span,
    );
    // Anomalies go into the CRI files when there are any, else the Docker ones.
    let anomalous_kind = if cri > 0 {
        FileKind::Cri
    } else {
        FileKind::Docker
    };

    for (kind, total) in [(FileKind::Docker, docker), (FileKind::Cri, cri)] {
        if total == 0 {
            continue;
        }
        let shares = allocate(&mut master, total, cluster.containers.len());
        for (index, (c, &events)) in cluster.containers.iter().zip(&shares).enumerate() {
            let rng = master.fork();
            if events == 0 {
                continue;
            }
            let relative = match kind {
                FileKind::Docker => {
                    format!("var/lib/docker/containers/{0}/{0}-json.log", c.id)
                }
                _ => format!(
                    "var/log/pods/{}_{}_{}/{}/0.log",
                    c.namespace, c.pod, c.pod_uid, c.name
                ),
            };
            let sink = Sink::create(out_dir, relative, kind)?;
            let file = ContainerFile::new(
                &cluster,
                c,
                kind,
                sink,
                rng,
                &timeline,
                events,
                &mut truth,
                options.attack_rate,
            );
            let injected = match kind == anomalous_kind {
                true => std::mem::take(&mut anomalies[index]),
                false => Vec::new(),
            };
            files.push(file.with_anomalies(injected).run(events)?);
        }
    }
    if audit > 0 {
        let sink = Sink::create(out_dir, AUDIT_LOG.to_owned(), FileKind::Audit)?;
        let file = AuditFile::new(
            &cluster,
            sink,
            master.fork(),
            &timeline,
            audit,
            &mut truth,
            options.attack_rate,
        );
        files.push(file.run(audit)?);
    }
    let (_, ground_truth) = truth.write(out_dir)?;
    let count = |kind: Option<FileKind>| {
        files
            .iter()
            .filter(|f| kind.is_none_or(|k| f.kind == k))
            .map(|f| f.events)
            .sum::<u64>()
    };
    Ok(GenerateSummary {
        events: count(None),
        container_events: count(Some(FileKind::Docker)) + count(Some(FileKind::Cri)),
        audit_events: count(Some(FileKind::Audit)),
        bytes: files.iter().map(|f| f.bytes).sum(),
        attacks: truth.attacks(),
        attack_events: truth.entries.len() as u64,
        ground_truth,
        files,
    })
}
