//! `kestrel_generate::generate`: determinism, what the normalizers make of the files, the
//! distributions, and the ground truth of attacks.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use kestrel_collector::normalize::{is_partial, normalize_bytes, Format, Output, SourceContext};
use kestrel_event::{parse_timestamp, Event};
use kestrel_generate::{
    generate, parse_span, FileKind, GenerateError, GenerateOptions, GenerateSummary, GroundTruth,
    Kind, GROUND_TRUTH_FILE,
};
use serde_json::Value;

fn options(kind: Kind, events: u64, seed: u64) -> GenerateOptions {
    GenerateOptions {
        kind,
        events,
        seed,
        ..GenerateOptions::default()
    }
}

fn run(options: &GenerateOptions) -> (tempfile::TempDir, GenerateSummary) {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    let summary = generate(options, &out).expect("generate");
    (dir, summary)
}

fn out(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("out")
}

/// Every file under `root`, relative path to bytes.
fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                files.insert(relative, std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

/// Normalizes one generated file (format detected from content and path).
fn normalize(root: &Path, relative: &str) -> Vec<Output> {
    let path = root.join(relative);
    let bytes = std::fs::read(&path).unwrap();
    let ctx = SourceContext {
        content_id: None,
        path: path.to_string_lossy().into_owned(),
        host_name: "node-1".to_owned(),
        ingested: parse_timestamp("2030-01-01T00:00:00Z").unwrap(),
    };
    normalize_bytes(Format::Auto, ctx, &bytes).expect("format detected")
}

fn events(outputs: Vec<Output>) -> Vec<Event> {
    outputs
        .into_iter()
        .map(|o| match o {
            Output::Event(event) => event,
            Output::DeadLetter(letter) => {
                panic!("dead letter: {} ({:?})", letter.error, letter.source)
            }
        })
        .collect()
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let (a, summary_a) = run(&options(Kind::Mixed, 6_000, 7));
    let (b, summary_b) = run(&options(Kind::Mixed, 6_000, 7));
    let (c, _) = run(&options(Kind::Mixed, 6_000, 8));
    assert_eq!(summary_a.files, summary_b.files);
    let (tree_a, tree_b, tree_c) = (tree(&out(&a)), tree(&out(&b)), tree(&out(&c)));
    assert!(tree_a.len() > 10);
    assert_eq!(
        tree_a.keys().collect::<Vec<_>>(),
        tree_b.keys().collect::<Vec<_>>()
    );
    for (path, bytes) in &tree_a {
        assert!(tree_b[path] == *bytes, "{path} differs between two runs");
    }
    let audit = "var/log/kubernetes/audit/audit.log";
    assert_ne!(tree_a[audit], tree_c[audit]);
    assert_ne!(
        tree_a.keys().collect::<Vec<_>>(),
        tree_c.keys().collect::<Vec<_>>(),
        "container ids and pod uids come from the seed"
    );
}

#[test]
fn every_kind_normalizes_to_exactly_the_requested_events() {
    for (kind, n) in [
        (Kind::Docker, 9_001),
        (Kind::Cri, 9_002),
        (Kind::Audit, 3_003),
        (Kind::Mixed, 20_000),
    ] {
        let mut opts = options(kind, n, 11);
        opts.attack_rate = 0.01;
        let (dir, summary) = run(&opts);
        let root = out(&dir);
        assert_eq!(summary.events, n);
        let mut total = 0;
        let start = opts.start;
        let end = start + chrono::Duration::hours(25);
        for file in &summary.files {
            let events = events(normalize(&root, &file.path));
            assert_eq!(events.len() as u64, file.events, "{}", file.path);
            total += events.len() as u64;
            let mut previous = None;
            for event in &events {
                assert!(!is_partial(event), "{}: partial event", file.path);
                assert!(event.timestamp >= start && event.timestamp < end);
                if let Some(previous) = previous {
                    assert!(event.timestamp > previous, "{}: time goes back", file.path);
                }
                previous = Some(event.timestamp);
                match file.kind {
                    FileKind::Docker => {
                        let id = event.container.as_ref().and_then(|c| c.id.as_deref());
                        assert_eq!(id.map(str::len), Some(64));
                    }
                    FileKind::Cri => {
                        let k8s = event.kubernetes.as_ref().expect("kubernetes metadata");
                        assert!(k8s.namespace.is_some() && k8s.pod.is_some());
                    }
                    FileKind::Audit => {
                        assert_eq!(event.audit["stage"], "ResponseComplete");
                    }
                }
            }
        }
        assert_eq!(total, n, "{kind}");
        for file in summary.files.iter().filter(|f| f.kind == FileKind::Audit) {
            assert_eq!(file.lines, file.events);
        }
    }
}

#[test]
fn long_lines_are_split_like_the_runtimes_do() {
    let (dir, summary) = run(&options(Kind::Mixed, 40_000, 3));
    let root = out(&dir);
    let mut docker_chunks = 0;
    let mut cri_partials = 0;
    for file in summary.files.iter().filter(|f| f.lines > f.events) {
        let text = std::fs::read_to_string(root.join(&file.path)).unwrap();
        for line in text.lines() {
            match file.kind {
                FileKind::Docker => {
                    let value: Value = serde_json::from_str(line).unwrap();
                    let log = value["log"].as_str().unwrap();
                    if !log.ends_with('\n') {
                        assert_eq!(log.len(), kestrel_generate::SPLIT_BYTES);
                        docker_chunks += 1;
                    }
                }
                FileKind::Cri => {
                    let mut parts = line.splitn(4, ' ');
                    let (_, _, tag, message) = (
                        parts.next(),
                        parts.next(),
                        parts.next().unwrap(),
                        parts.next().unwrap_or(""),
                    );
                    if tag == "P" {
                        assert_eq!(message.len(), kestrel_generate::SPLIT_BYTES);
                        cri_partials += 1;
                    }
                }
                FileKind::Audit => unreachable!(),
            }
        }
    }
    assert!(
        docker_chunks > 0 && cri_partials > 0,
        "{docker_chunks} {cri_partials}"
    );
}

#[test]
fn distributions_roughly_hold() {
    let n = 30_000;
    let (dir, summary) = run(&options(Kind::Mixed, n, 5));
    let root = out(&dir);
    assert_eq!(summary.audit_events, 12_000);
    assert_eq!(summary.container_events, 18_000);
    let docker: u64 = summary
        .files
        .iter()
        .filter(|f| f.kind == FileKind::Docker)
        .map(|f| f.events)
        .sum();
    assert_eq!(docker, 9_000);

    let mut levels: HashMap<String, u64> = HashMap::new();
    let mut streams: HashMap<&str, u64> = HashMap::new();
    let mut statuses: HashMap<u64, u64> = HashMap::new();
    let mut per_file = Vec::new();
    let mut verbs = BTreeSet::new();
    let mut resources = BTreeSet::new();
    let mut codes: HashMap<i64, u64> = HashMap::new();
    let mut users = BTreeSet::new();
    let mut audit_ids = HashSet::new();
    let mut public_sources = 0;
    let mut request_objects = 0;
    let access = regex_lite_access();
    for file in &summary.files {
        let events = events(normalize(&root, &file.path));
        per_file.push(events.len());
        for event in &events {
            if let Some(stream) = event.stream {
                *streams.entry(stream.as_str()).or_default() += 1;
            }
            if let Some(level) = event.json.as_ref().and_then(|j| j.get("level")) {
                *levels
                    .entry(level.as_str().unwrap().to_owned())
                    .or_default() += 1;
            }
            if let Some(status) = access(&event.message) {
                *statuses.entry(status / 100).or_default() += 1;
            }
            if file.kind == FileKind::Audit {
                let a = &event.audit;
                verbs.insert(a["verb"].as_str().unwrap().to_owned());
                if let Some(object) = a.get("objectRef") {
                    let mut resource = object["resource"].as_str().unwrap().to_owned();
                    if let Some(sub) = object.get("subresource").and_then(Value::as_str) {
                        resource = format!("{resource}/{sub}");
                    }
                    resources.insert(resource);
                }
                *codes
                    .entry(a["responseStatus"]["code"].as_i64().unwrap())
                    .or_default() += 1;
                if let Some(user) = a["user"].get("username").and_then(Value::as_str) {
                    let kind = if user.starts_with("system:serviceaccount:") {
                        "serviceaccount"
                    } else if user.starts_with("system:node:") {
                        "node"
                    } else {
                        user
                    };
                    users.insert(kind.to_owned());
                }
                assert!(audit_ids.insert(a["auditID"].as_str().unwrap().to_owned()));
                let ip = a["sourceIPs"][0].as_str().unwrap();
                if !(ip.starts_with("10.") || ip == "::1") {
                    public_sources += 1;
                }
                if a.contains_key("requestObject") {
                    assert_eq!(a["level"], "RequestResponse");
                    request_objects += 1;
                }
            }
        }
    }
    // Zipf-like skew across containers.
    let container_files: Vec<usize> = summary
        .files
        .iter()
        .zip(&per_file)
        .filter(|(f, _)| f.kind == FileKind::Cri)
        .map(|(_, n)| *n)
        .collect();
    let (max, min) = (
        *container_files.iter().max().unwrap(),
        *container_files.iter().min().unwrap(),
    );
    assert!(
        container_files.len() >= 25 && max > 10 * min,
        "{container_files:?}"
    );
    // Application levels: info > warn > error.
    let (info, warn, error) = (levels["info"], levels["warn"], levels["error"]);
    assert!(info > 4 * warn && warn > error && error > 0, "{levels:?}");
    // Both streams, stdout most.
    assert!(
        streams["stdout"] > streams["stderr"] && streams["stderr"] > 1_000,
        "{streams:?}"
    );
    // Access logs: 2xx dominate, every class present.
    let total: u64 = statuses.values().sum();
    assert!(statuses[&2] * 100 / total >= 80, "{statuses:?}");
    for class in [3, 4, 5] {
        assert!(statuses[&class] > 0, "{statuses:?}");
    }
    // Audit: every verb, the listed resources, realistic codes and users.
    for verb in [
        "get",
        "list",
        "watch",
        "create",
        "update",
        "patch",
        "delete",
        "deletecollection",
    ] {
        assert!(verbs.contains(verb), "{verb} missing: {verbs:?}");
    }
    for resource in [
        "pods",
        "secrets",
        "configmaps",
        "deployments",
        "services",
        "serviceaccounts",
        "roles",
        "rolebindings",
        "clusterroles",
        "clusterrolebindings",
        "namespaces",
        "nodes",
        "events",
        "cronjobs",
        "daemonsets",
        "pods/exec",
        "pods/attach",
        "pods/portforward",
        "serviceaccounts/token",
        "certificatesigningrequests",
        "mutatingwebhookconfigurations",
    ] {
        assert!(
            resources.contains(resource),
            "{resource} missing: {resources:?}"
        );
    }
    let audit_total: u64 = codes.values().sum();
    let ok = codes.get(&200).unwrap_or(&0) + codes.get(&201).unwrap_or(&0);
    assert!(ok * 100 / audit_total >= 90, "{codes:?}");
    for code in [101, 401, 403, 404, 409] {
        assert!(codes.contains_key(&code), "{code} missing: {codes:?}");
    }
    for user in [
        "serviceaccount",
        "node",
        "system:kube-controller-manager",
        "system:kube-scheduler",
        "alice@example.com",
        "system:anonymous",
    ] {
        assert!(users.contains(user), "{user} missing: {users:?}");
    }
    assert!(public_sources > 0 && public_sources * 20 < audit_total);
    assert!(request_objects > 0);
}

/// The status of a combined-log-format line.
fn regex_lite_access() -> impl Fn(&str) -> Option<u64> {
    |message: &str| {
        let after = message.split("HTTP/").nth(1)?;
        let status = after.split(' ').nth(1)?;
        if !message.contains(" - - [") {
            return None;
        }
        status.parse().ok()
    }
}

#[test]
fn ground_truth_points_at_the_attacks() {
    let n = 50_000;
    let mut opts = options(Kind::Mixed, n, 21);
    opts.attack_rate = 0.02;
    let (dir, summary) = run(&opts);
    let root = out(&dir);
    let text = std::fs::read_to_string(root.join(GROUND_TRUTH_FILE)).unwrap();
    let truth: Vec<GroundTruth> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(truth.len() as u64, summary.attack_events);
    let expected = opts.attack_rate * n as f64;
    let got = truth.len() as f64;
    assert!(
        got > expected * 0.5 && got < expected * 2.0,
        "{got} vs {expected}"
    );
    let ids: BTreeSet<u64> = truth.iter().map(|t| t.attack).collect();
    assert_eq!(ids.len() as u64, summary.attacks);

    let mut files: HashMap<&str, Vec<String>> = HashMap::new();
    let mut marked: HashSet<(String, u64)> = HashSet::new();
    let mut patterns = BTreeSet::new();
    for entry in &truth {
        let lines = files.entry(entry.file.as_str()).or_insert_with(|| {
            std::fs::read_to_string(root.join(&entry.file))
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect()
        });
        let line = &lines[entry.line as usize - 1];
        let content = content(entry.kind, line);
        assert!(
            content.contains(&entry.indicator),
            "{} line {}: {:?} not in {content}",
            entry.file,
            entry.line,
            entry.indicator
        );
        assert!(line.contains(&entry.time[..19]) || entry.kind == FileKind::Audit);
        marked.insert((entry.file.clone(), entry.line));
        patterns.insert(entry.pattern.clone());
    }
    for pattern in [
        "exec-shell",
        "anonymous-access-allowed",
        "secret-enumeration",
        "privileged-pod",
        "hostpath-pod",
        "cluster-admin-binding",
        "auth-failure-burst",
        "web-path-traversal",
        "web-sql-injection",
        "web-log4shell",
        "reverse-shell",
    ] {
        assert!(
            patterns.contains(pattern),
            "{pattern} missing: {patterns:?}"
        );
    }
    // Ordinary traffic never carries an attack's payload.
    let unmistakable = [
        "${jndi:",
        "/dev/tcp/",
        "etc/passwd",
        "OR 1=1",
        "\"privileged\":true",
        "\"hostPath\"",
        "\"name\":\"cluster-admin\"}",
        "command=bash",
        "command=%2Fbin%2F",
    ];
    for file in &summary.files {
        let text = std::fs::read_to_string(root.join(&file.path)).unwrap();
        for (i, line) in text.lines().enumerate() {
            let content = content(file.kind, line);
            if let Some(found) = unmistakable.iter().find(|s| content.contains(*s)) {
                assert!(
                    marked.contains(&(file.path.clone(), i as u64 + 1)),
                    "{} line {}: {found} outside the ground truth",
                    file.path,
                    i + 1
                );
            }
        }
    }
}

/// What an indicator is looked for in.
fn content(kind: FileKind, line: &str) -> String {
    match kind {
        FileKind::Docker => {
            let value: Value = serde_json::from_str(line).unwrap();
            value["log"].as_str().unwrap().to_owned()
        }
        FileKind::Cri => line.splitn(4, ' ').nth(3).unwrap_or("").to_owned(),
        FileKind::Audit => line.to_owned(),
    }
}

#[test]
fn zero_attack_rate_writes_no_attacks() {
    let mut opts = options(Kind::Mixed, 3_000, 1);
    opts.attack_rate = 0.0;
    let (dir, summary) = run(&opts);
    assert_eq!(summary.attacks, 0);
    let truth = std::fs::read(out(&dir).join(GROUND_TRUTH_FILE)).unwrap();
    assert!(truth.is_empty());
}

#[test]
fn start_and_span_place_the_events() {
    let mut opts = options(Kind::Audit, 2_000, 9);
    opts.start = parse_timestamp("2025-06-01T12:00:00Z").unwrap();
    opts.span = Duration::from_secs(3600);
    let (dir, summary) = run(&opts);
    let events = events(normalize(&out(&dir), &summary.files[0].path));
    let first = events.first().unwrap().timestamp;
    let last = events.last().unwrap().timestamp;
    assert!(first >= opts.start && first < opts.start + chrono::Duration::seconds(60));
    let end = opts.start + chrono::Duration::seconds(3600);
    assert!(
        last > end - chrono::Duration::seconds(60) && last < end + chrono::Duration::seconds(120)
    );
}

#[test]
fn bad_options_and_used_directories_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("x"), b"x").unwrap();
    let err = generate(&options(Kind::Docker, 10, 0), dir.path()).unwrap_err();
    assert!(matches!(err, GenerateError::NotEmpty(_)), "{err}");
    let mut bad = options(Kind::Docker, 10, 0);
    bad.attack_rate = 1.5;
    let fresh = dir.path().join("fresh");
    assert!(matches!(
        generate(&bad, &fresh),
        Err(GenerateError::InvalidOptions(_))
    ));
    bad.attack_rate = 0.0;
    bad.span = Duration::ZERO;
    assert!(matches!(
        generate(&bad, &fresh),
        Err(GenerateError::InvalidOptions(_))
    ));
    assert_eq!(parse_span("1d").unwrap(), Duration::from_secs(86_400));
    assert_eq!(parse_span("1h30m").unwrap(), Duration::from_secs(5_400));
    assert_eq!(parse_span("2w").unwrap(), Duration::from_secs(14 * 86_400));
    assert_eq!(parse_span("250ms").unwrap(), Duration::from_millis(250));
    assert!(parse_span("").is_err() && parse_span("1y").is_err() && parse_span("d").is_err());
    assert_eq!("cri".parse::<Kind>().unwrap(), Kind::Cri);
    assert!("syslog".parse::<Kind>().is_err());
}
