//! Semantic checks of a [`Config`], and reading of token files.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use crate::{
    BusKind, CollectorConfig, Config, ConfigError, KubernetesConfig, MIN_TOKEN_LEN, NODE_NAME_ENV,
};

/// Smallest accepted `collector.max_event_bytes`.
const MIN_EVENT_BYTES: usize = 1024;
/// Smallest accepted `indexer.writer_memory_mb` (tantivy's per-thread floor).
const MIN_WRITER_MEMORY_MB: usize = 15;
/// librdkafka properties that have their own keys.
const RESERVED_KAFKA_PROPERTIES: &[(&str, &str)] = &[
    ("bootstrap.servers", "bus.kafka.brokers"),
    ("metadata.broker.list", "bus.kafka.brokers"),
    ("group.id", "bus.kafka.group_id"),
];
/// librdkafka producer properties that Kestrel's delivery guarantees rest on (no event lost
/// or duplicated by a retry, publishing waits out an outage): never overridden.
const GUARANTEED_KAFKA_PROPERTIES: &[(&str, &str)] = &[
    (
        "enable.idempotence",
        "the producer is idempotent, so a retried batch is never stored twice",
    ),
    (
        "acks",
        "every in-sync replica acknowledges (acks = all) before an event counts as accepted",
    ),
    (
        "delivery.timeout.ms",
        "publishing waits out an outage instead of dropping events after a timeout",
    ),
    (
        "message.timeout.ms",
        "publishing waits out an outage instead of dropping events after a timeout",
    ),
];

#[derive(Default)]
struct Errors(Vec<ConfigError>);

impl Errors {
    fn add(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigError::invalid(key, message));
    }

    fn at_least(&mut self, key: &str, value: usize, min: usize) {
        if value < min {
            self.add(key, format!("must be at least {min}, got {value}"));
        }
    }

    fn positive_duration(&mut self, key: &str, value: Duration) {
        if value.is_zero() {
            self.add(key, "must be greater than 0s");
        }
    }

    fn not_blank(&mut self, key: &str, value: &str) -> bool {
        if value.trim().is_empty() {
            self.add(key, "must not be empty");
            false
        } else {
            true
        }
    }
}

pub(crate) fn validate(config: &Config) -> Result<(), ConfigError> {
    let mut errors = Errors::default();

    if config.data_dir.as_os_str().is_empty() {
        errors.add("data_dir", "must not be empty");
    }
    if let Some(name) = &config.host_name {
        if name.trim().is_empty() {
            errors.add(
                "host_name",
                "must not be empty (leave it out to use the operating system's host name)",
            );
        }
    }

    validate_collector(config, &mut errors);
    validate_bus(config, &mut errors);
    validate_indexer(config, &mut errors);
    validate_retention(config, &mut errors);
    validate_query(config, &mut errors);
    validate_alerting(config, &mut errors);
    validate_detection(config, &mut errors);
    validate_seal(config, &mut errors);

    if let Err(message) = check_log_filter(&config.log.level) {
        errors.add("log.level", message);
    }

    ConfigError::from_list(errors.0)
}

/// `seal`: names that are not blank, a key file outside the data directory.
fn validate_seal(config: &Config, errors: &mut Errors) {
    let seal = &config.seal;
    errors.positive_duration("seal.checkpoint_interval", seal.checkpoint_interval);
    if let Some(name) = &seal.key_env {
        errors.not_blank("seal.key_env", name);
    }
    let Some(file) = &seal.key_file else {
        return;
    };
    if file.as_os_str().is_empty() {
        errors.add("seal.key_file", "must not be empty");
        return;
    }
    if lexically_inside(file, &config.data_dir) {
        errors.add(
            "seal.key_file",
            format!(
                "{} is inside data_dir ({}): keep the signing key where the data volume cannot reach it",
                file.display(),
                config.data_dir.display()
            ),
        );
    }
}

/// Whether `path` lies under `dir`, comparing their components after removing `.` (without
/// touching the file system: relative paths are taken from the same working directory).
fn lexically_inside(path: &std::path::Path, dir: &std::path::Path) -> bool {
    use std::path::Component;
    fn clean(p: &std::path::Path) -> Vec<Component<'_>> {
        p.components().filter(|c| *c != Component::CurDir).collect()
    }
    let (path, dir) = (clean(path), clean(dir));
    path.len() > dir.len() && path.starts_with(&dir)
}

fn validate_detection(config: &Config, errors: &mut Errors) {
    let mut filters = HashSet::new();
    for (i, path) in config.detection.filters.iter().enumerate() {
        let key = format!("detection.filters[{i}]");
        if path.as_os_str().is_empty() {
            errors.add(key, "must not be empty");
        } else if !filters.insert(path) {
            errors.add(key, format!("{} is listed twice", path.display()));
        }
    }
    for name in config.detection.placeholders.keys() {
        if name.is_empty() {
            errors.add(
                "detection.placeholders",
                "a placeholder name must not be empty",
            );
        } else if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
        {
            errors.add(
                format!("detection.placeholders.{name}"),
                format!("{c:?} is not allowed in a placeholder name (ASCII letters, digits and _)"),
            );
        }
    }
}

fn validate_alerting(config: &Config, errors: &mut Errors) {
    let levels = ["informational", "low", "medium", "high", "critical"];
    let mut names = HashSet::new();
    for (i, d) in config.alerting.destinations.iter().enumerate() {
        let key = format!("alerting.destinations[{i}]");
        if errors.not_blank(&format!("{key}.name"), &d.name) && !names.insert(d.name.trim()) {
            errors.add(
                format!("{key}.name"),
                format!("duplicate destination name {:?}", d.name),
            );
        }
        if !(d.url.starts_with("http://") || d.url.starts_with("https://")) {
            errors.add(format!("{key}.url"), "must be an http:// or https:// URL");
        }
        for (j, secret) in d.secrets.iter().enumerate() {
            let valid = secret.strip_prefix("whsec_").is_some_and(|b| {
                !b.is_empty()
                    && b.bytes()
                        .all(|c| c.is_ascii_alphanumeric() || b"+/=".contains(&c))
            });
            if !valid {
                errors.add(
                    format!("{key}.secrets[{j}]"),
                    "must be whsec_ followed by base64",
                );
            }
        }
        if d.kind == crate::DestinationKind::Pagerduty
            && d.routing_key.as_deref().is_none_or(str::is_empty)
        {
            errors.add(
                format!("{key}.routing_key"),
                "required for kind = \"pagerduty\"",
            );
        }
        if !levels.contains(&d.min_level.as_str()) {
            errors.add(
                format!("{key}.min_level"),
                format!("must be one of {levels:?}"),
            );
        }
        if d.max_attempts == 0 {
            errors.add(format!("{key}.max_attempts"), "must be at least 1");
        }
    }
}

fn validate_collector(config: &Config, errors: &mut Errors) {
    let c = &config.collector;
    // A collector with no files to tail is only useful as the receiver of the audit webhook
    // or of the forward input.
    if c.enabled && c.sources.is_empty() && c.webhook.listen.is_none() && c.forward.listen.is_none()
    {
        errors.add(
            "collector.sources",
            "must not be empty when collector.enabled = true (unless collector.webhook.listen or collector.forward.listen is set)",
        );
    }
    let mut names = HashSet::new();
    for (i, source) in c.sources.iter().enumerate() {
        let key = format!("collector.sources[{i}]");
        if let Some(name) = &source.name {
            if errors.not_blank(&format!("{key}.name"), name) && !names.insert(name.trim()) {
                errors.add(
                    format!("{key}.name"),
                    format!("duplicate source name {name:?}"),
                );
            }
        }
        if source.paths.is_empty() {
            errors.add(format!("{key}.paths"), "must not be empty");
        }
        if let Some(pattern) = &source.multiline_start {
            if let Err(e) = crate::compile_regex(pattern) {
                errors.add(
                    format!("{key}.multiline_start"),
                    format!("invalid regular expression {pattern:?}: {e}"),
                );
            }
        }
        for (field, patterns) in [("paths", &source.paths), ("exclude", &source.exclude)] {
            for (j, pattern) in patterns.iter().enumerate() {
                let key = format!("{key}.{field}[{j}]");
                if errors.not_blank(&key, pattern) {
                    if let Err(e) = glob::Pattern::new(pattern) {
                        errors.add(
                            key,
                            format!(
                                "invalid glob pattern {pattern:?}: {} at position {}",
                                e.msg, e.pos
                            ),
                        );
                    }
                }
            }
        }
    }
    errors.positive_duration("collector.poll_interval", c.poll_interval);
    errors.at_least(
        "collector.max_event_bytes",
        c.max_event_bytes,
        MIN_EVENT_BYTES,
    );
    errors.positive_duration("collector.partial_flush_timeout", c.partial_flush_timeout);
    errors.at_least("collector.batch_max_events", c.batch_max_events, 1);
    errors.at_least(
        "collector.webhook.max_body_bytes",
        c.webhook.max_body_bytes,
        1024,
    );
    if !c.webhook.path.starts_with('/') {
        errors.add(
            "collector.webhook.path",
            format!("must start with '/', got {:?}", c.webhook.path),
        );
    }
    if !c.falco.path.starts_with('/') {
        errors.add(
            "collector.falco.path",
            format!("must start with '/', got {:?}", c.falco.path),
        );
    } else if c.falco.path == c.webhook.path {
        errors.add(
            "collector.falco.path",
            format!(
                "must differ from collector.webhook.path ({:?})",
                c.webhook.path
            ),
        );
    }
    if c.falco.enabled {
        check_falco_listener(c, errors);
    }
    if c.elasticsearch.enabled {
        check_elasticsearch_listener(c, errors);
    }
    for (i, token) in c.falco.tokens.iter().enumerate() {
        if let Err(message) = check_token(token) {
            errors.add(format!("collector.falco.tokens[{i}]"), message);
        }
    }
    for (i, file) in c.falco.token_files.iter().enumerate() {
        if file.as_os_str().is_empty() {
            errors.add(
                format!("collector.falco.token_files[{i}]"),
                "must not be empty",
            );
        }
    }
    for (i, token) in c.ingest.tokens.iter().enumerate() {
        if let Err(message) = check_token(token) {
            errors.add(format!("collector.ingest.tokens[{i}]"), message);
        }
    }
    for (i, file) in c.ingest.token_files.iter().enumerate() {
        if file.as_os_str().is_empty() {
            errors.add(
                format!("collector.ingest.token_files[{i}]"),
                "must not be empty",
            );
        }
    }
    check_otlp(c, errors);
    check_webhook_exposure(c, errors);
    validate_forward(&c.forward, errors);
    let docker = &c.docker;
    if errors.not_blank("collector.docker.host", &docker.host)
        && !["unix://", "tcp://", "http://"]
            .iter()
            .any(|scheme| docker.host.starts_with(scheme) && docker.host.len() > scheme.len())
    {
        errors.add(
            "collector.docker.host",
            format!(
                "expected unix:///path/to/docker.sock, tcp://host:port or http://host:port, got {:?}",
                docker.host
            ),
        );
    }
    errors.positive_duration("collector.docker.deleted_grace", docker.deleted_grace);
    validate_kubernetes(&c.kubernetes, errors);
    validate_redaction(&c.redaction, errors);
}

/// `collector.redaction`: names and patterns that compile, allow-lists of known sources.
fn validate_redaction(r: &crate::RedactionConfig, errors: &mut Errors) {
    if let Some(path) = &r.key_file {
        if path.as_os_str().is_empty() {
            errors.add("collector.redaction.key_file", "must not be empty");
        }
    }
    if let Some(name) = &r.key_env {
        errors.not_blank("collector.redaction.key_env", name);
    }
    let mut names = HashSet::new();
    for (i, pattern) in r.patterns.iter().enumerate() {
        let key = format!("collector.redaction.patterns[{i}]");
        if let Err(message) = check_pattern_name(&pattern.name) {
            errors.add(format!("{key}.name"), message);
        } else if !names.insert(pattern.name.as_str()) {
            errors.add(
                format!("{key}.name"),
                format!("duplicate pattern name {:?}", pattern.name),
            );
        }
        if errors.not_blank(&format!("{key}.regex"), &pattern.regex) {
            check_regex(&format!("{key}.regex"), &pattern.regex, errors);
        }
    }
    for (source, list) in &r.allow {
        let key = format!("collector.redaction.allow.{source}");
        if !crate::REDACTION_SOURCES.contains(&source.as_str()) {
            errors.add(
                key,
                format!(
                    "unknown source {source:?} (expected one of {})",
                    crate::REDACTION_SOURCES.join(", ")
                ),
            );
            continue;
        }
        for (i, pattern) in list.patterns.iter().enumerate() {
            check_regex(&format!("{key}.patterns[{i}]"), pattern, errors);
        }
    }
}

/// A pattern's name appears in markers, searched as words: lowercase letters, digits and `_`.
fn check_pattern_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("must not be empty".to_owned());
    }
    match name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        Some(c) => Err(format!(
            "{c:?} is not allowed in a pattern name (lowercase ASCII letters, digits and _)"
        )),
        None => Ok(()),
    }
}

fn check_regex(key: &str, pattern: &str, errors: &mut Errors) {
    if let Err(e) = crate::compile_regex(pattern) {
        errors.add(key, format!("invalid regular expression {pattern:?}: {e}"));
    }
}

/// An endpoint served on the webhook listener (`key` is its `enabled` key, `what` names it)
/// needs that listener, and the collector that runs it.
fn check_served_on_webhook_listener(
    c: &CollectorConfig,
    key: &str,
    what: &str,
    errors: &mut Errors,
) {
    if c.webhook.listen.is_none() {
        errors.add(
            key,
            format!("needs collector.webhook.listen: {what} is served on the webhook listener"),
        );
    }
    if !c.enabled {
        errors.add(
            key,
            "needs collector.enabled = true: the webhook listener runs with the collector",
        );
    }
}

/// Whether the webhook listener verifies client certificates (`collector.webhook.tls.client_ca`).
fn verifies_client_certificates(c: &CollectorConfig) -> bool {
    c.webhook
        .tls
        .as_ref()
        .is_some_and(|tls| tls.client_ca.is_some())
}

/// The audit webhook listening off loopback must authenticate its clients: TLS with a client CA
/// (`collector.webhook.tls.client_ca`) or an ingest token (`collector.ingest.tokens`, also read
/// from `token_files`), which the webhook route then requires.
fn check_webhook_exposure(c: &CollectorConfig, errors: &mut Errors) {
    let Some(listen) = c.webhook.listen else {
        return;
    };
    if !c.enabled || listen.ip().is_loopback() {
        return;
    }
    let has_tokens = !c.ingest.tokens.is_empty() || !c.ingest.token_files.is_empty();
    if !has_tokens && !verifies_client_certificates(c) {
        errors.add(
            "collector.webhook.listen",
            format!(
                "listening on {listen} (not loopback) requires collector.webhook.tls.client_ca or collector.ingest.tokens (or token_files)"
            ),
        );
    }
}

/// `collector.falco.enabled` needs the webhook listener it is served on, and a way to let
/// Falco in (tokens or client certificates).
fn check_falco_listener(c: &CollectorConfig, errors: &mut Errors) {
    check_served_on_webhook_listener(c, "collector.falco.enabled", "the Falco endpoint", errors);
    if c.falco.tokens.is_empty() && !verifies_client_certificates(c) {
        errors.add(
            "collector.falco.tokens",
            "no token (tokens, token_files) and no collector.webhook.tls.client_ca: every Falco request would be refused",
        );
    }
}

/// `collector.elasticsearch.enabled` needs the webhook listener it is served on, a way to let
/// shippers in (`collector.ingest` tokens or client certificates), and the listener's other
/// paths out of the API's way.
fn check_elasticsearch_listener(c: &CollectorConfig, errors: &mut Errors) {
    check_served_on_webhook_listener(
        c,
        "collector.elasticsearch.enabled",
        "the Elasticsearch API",
        errors,
    );
    if c.ingest.tokens.is_empty() && !verifies_client_certificates(c) {
        errors.add(
            "collector.ingest.tokens",
            "no token (tokens, token_files) and no collector.webhook.tls.client_ca: every Elasticsearch bulk request would be refused",
        );
    }
    let paths = [
        ("collector.webhook.path", &c.webhook.path, true),
        ("collector.falco.path", &c.falco.path, c.falco.enabled),
        ("collector.otlp.path", &c.otlp.path, c.otlp.enabled),
    ];
    for (key, path, served) in paths {
        if served && is_elasticsearch_path(path) {
            errors.add(
                key,
                format!("{path:?} is a path of the Elasticsearch API (collector.elasticsearch.enabled): choose another"),
            );
        }
    }
}

/// Whether `path` is one the Elasticsearch API serves: `/`, `/_...` and `.../_bulk`.
fn is_elasticsearch_path(path: &str) -> bool {
    let path = path.trim_end_matches('/');
    path.is_empty() || path.starts_with("/_") || path.ends_with("/_bulk")
}

/// `collector.otlp.path` is a path of its own on the webhook listener; `collector.otlp.enabled`
/// needs that listener and a way to let exporters in (ingest tokens or client certificates).
fn check_otlp(c: &CollectorConfig, errors: &mut Errors) {
    let path = &c.otlp.path;
    if !path.starts_with('/') {
        errors.add(
            "collector.otlp.path",
            format!("must start with '/', got {path:?}"),
        );
    } else if let Some(other) = [
        ("collector.webhook.path", &c.webhook.path),
        ("collector.falco.path", &c.falco.path),
    ]
    .into_iter()
    .find(|(_, other)| *other == path)
    {
        errors.add(
            "collector.otlp.path",
            format!("must differ from {} ({:?})", other.0, other.1),
        );
    }
    if !c.otlp.enabled {
        return;
    }
    check_served_on_webhook_listener(c, "collector.otlp.enabled", "the OTLP endpoint", errors);
    if c.ingest.tokens.is_empty() && !verifies_client_certificates(c) {
        errors.add(
            "collector.otlp.enabled",
            "no collector.ingest.tokens (tokens, token_files) and no collector.webhook.tls.client_ca: every OTLP request would be refused",
        );
    }
}

/// Smallest accepted `collector.forward.max_chunk_bytes`.
const MIN_FORWARD_CHUNK_BYTES: usize = 1024;

/// `[collector.forward]`: limits, keys, and no open listener off loopback.
fn validate_forward(f: &crate::ForwardConfig, errors: &mut Errors) {
    errors.at_least(
        "collector.forward.max_chunk_bytes",
        f.max_chunk_bytes,
        MIN_FORWARD_CHUNK_BYTES,
    );
    errors.at_least("collector.forward.max_connections", f.max_connections, 1);
    if let Some(key) = &f.shared_key {
        if key.trim().is_empty() {
            errors.add("collector.forward.shared_key", "must not be empty");
        }
    }
    if f.shared_key_file
        .as_ref()
        .is_some_and(|file| file.as_os_str().is_empty())
    {
        errors.add("collector.forward.shared_key_file", "must not be empty");
    }
    let keyed = f.shared_key.is_some() || f.shared_key_file.is_some();
    for (i, user) in f.users.iter().enumerate() {
        errors.not_blank(
            &format!("collector.forward.users[{i}].username"),
            &user.username,
        );
        errors.not_blank(
            &format!("collector.forward.users[{i}].password"),
            &user.password,
        );
    }
    if !f.users.is_empty() && !keyed {
        errors.add(
            "collector.forward.users",
            "needs collector.forward.shared_key (or shared_key_file): users are checked in the shared-key handshake",
        );
    }
    if let Some(tls) = &f.tls {
        if tls.cert.as_os_str().is_empty() {
            errors.add("collector.forward.tls.cert", "must not be empty");
        }
        if tls.key.as_os_str().is_empty() {
            errors.add("collector.forward.tls.key", "must not be empty");
        }
    }
    let client_certificates = f.tls.as_ref().is_some_and(|tls| tls.client_ca.is_some());
    if let Some(listen) = f.listen {
        if !listen.ip().is_loopback() && !keyed && !client_certificates {
            errors.add(
                "collector.forward.listen",
                format!(
                    "listening on {listen} (not loopback) requires collector.forward.shared_key (or shared_key_file) or collector.forward.tls.client_ca: anyone reaching the port could write events"
                ),
            );
        }
    }
}

fn validate_kubernetes(k: &KubernetesConfig, errors: &mut Errors) {
    if let Some(name) = &k.node_name {
        errors.not_blank("collector.kubernetes.node_name", name);
    }
    if let Some(path) = &k.kubeconfig {
        if path.as_os_str().is_empty() {
            errors.add(
                "collector.kubernetes.kubeconfig",
                "must not be empty (leave it out to use the in-cluster configuration)",
            );
        }
    }
    if k.enabled && k.node_name.is_none() && k.node_name().is_none() {
        errors.add(
            "collector.kubernetes.node_name",
            format!(
                "must be set, or the {NODE_NAME_ENV} environment variable, when \
                 collector.kubernetes.enabled = true"
            ),
        );
    }
    errors.positive_duration(
        "collector.kubernetes.deleted_pod_grace",
        k.deleted_pod_grace,
    );
}

fn validate_bus(config: &Config, errors: &mut Errors) {
    let bus = &config.bus;
    errors.at_least("bus.capacity", bus.capacity, 1);
    if bus.kind != BusKind::Kafka {
        return;
    }
    let k = &bus.kafka;
    if k.brokers.split(',').all(|b| b.trim().is_empty()) {
        errors.add("bus.kafka.brokers", "required when bus.kind = \"kafka\"");
    }
    for (key, topic) in [
        ("bus.kafka.topic", &k.topic),
        ("bus.kafka.dead_letter_topic", &k.dead_letter_topic),
    ] {
        if let Err(message) = check_topic_name(topic) {
            errors.add(key, message);
        }
    }
    if k.topic == k.dead_letter_topic {
        errors.add(
            "bus.kafka.dead_letter_topic",
            format!("must differ from bus.kafka.topic ({:?})", k.topic),
        );
    }
    errors.not_blank("bus.kafka.group_id", &k.group_id);
    if k.partitions < 1 {
        errors.add(
            "bus.kafka.partitions",
            format!("must be at least 1, got {}", k.partitions),
        );
    }
    for (property, replacement) in RESERVED_KAFKA_PROPERTIES {
        if k.properties.contains_key(*property) {
            errors.add(
                "bus.kafka.properties",
                format!("\"{property}\" must not be set here; use {replacement}"),
            );
        }
    }
    for (property, reason) in GUARANTEED_KAFKA_PROPERTIES {
        if k.properties.contains_key(*property) {
            errors.add(
                format!("bus.kafka.properties.\"{property}\""),
                format!("cannot be overridden: {reason}"),
            );
        }
    }
}

/// Kafka's rules: 1 to 249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.
fn check_topic_name(topic: &str) -> Result<(), String> {
    if topic.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if topic.len() > 249 {
        return Err(format!(
            "must be at most 249 characters, got {}",
            topic.len()
        ));
    }
    if topic == "." || topic == ".." {
        return Err(format!("{topic:?} is not a valid topic name"));
    }
    if let Some(c) = topic
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "invalid character {c:?} in topic name {topic:?} (allowed: letters, digits, '.', '_', '-')"
        ));
    }
    Ok(())
}

fn validate_indexer(config: &Config, errors: &mut Errors) {
    let ix = &config.indexer;
    errors.positive_duration("indexer.commit_interval", ix.commit_interval);
    errors.at_least("indexer.commit_max_events", ix.commit_max_events, 1);
    errors.at_least(
        "indexer.writer_memory_mb",
        ix.writer_memory_mb,
        MIN_WRITER_MEMORY_MB,
    );
}

fn days(d: Duration) -> String {
    if d.as_secs().is_multiple_of(86_400) {
        format!("{}d", d.as_secs() / 86_400)
    } else {
        humantime::format_duration(d).to_string()
    }
}

fn validate_retention(config: &Config, errors: &mut Errors) {
    let r = &config.retention;
    let ix = &config.indexer;
    for (key, value) in [
        ("retention.default", r.default),
        ("indexer.retention", ix.retention),
    ] {
        if value.is_some_and(|d| d.is_zero()) {
            errors.add(
                key,
                "must be greater than 0s (leave it out to keep events forever)",
            );
        }
    }
    let audit_key = match ix.audit_retention {
        Some(_) if r.audit == crate::RetentionConfig::default().audit => "indexer.audit_retention",
        _ => "retention.audit",
    };
    let audit = config.audit_retention();
    errors.positive_duration(audit_key, audit);
    if let Some(default) = config.default_retention().filter(|d| audit < *d) {
        errors.add(
            audit_key,
            format!(
                "{} is shorter than the default retention ({}): Kestrel's audit trail must be \
                 kept at least as long as the events it records access to",
                days(audit),
                days(default)
            ),
        );
    }
    for (key, value) in [
        ("retention.alerts", r.alerts),
        ("retention.dead_letters", r.dead_letters),
        ("retention.outbox", r.outbox),
    ] {
        if value.is_some_and(|d| d.is_zero()) {
            errors.add(
                key,
                "must be greater than 0s (leave it out to keep forever)",
            );
        }
    }
    let mut names = HashSet::new();
    for (i, rule) in r.rules.iter().enumerate() {
        let key = |field: &str| format!("retention.rules[{i}].{field}");
        if errors.not_blank(&key("name"), &rule.name) && !names.insert(rule.name.trim()) {
            errors.add(key("name"), format!("duplicate rule name {:?}", rule.name));
        }
        errors.not_blank(&key("match"), &rule.query);
        if rule.keep.is_zero()
            || !rule.keep.as_secs().is_multiple_of(86_400)
            || rule.keep.subsec_nanos() != 0
        {
            errors.add(
                key("keep"),
                format!(
                    "must be a whole number of days such as \"400d\" (a partition's lifetime \
                     counts whole days), got {}",
                    days(rule.keep)
                ),
            );
        }
    }
}

fn validate_query(config: &Config, errors: &mut Errors) {
    let q = &config.query;
    errors.at_least("query.default_limit", q.default_limit, 1);
    errors.at_least("query.aggregation_memory_mb", q.aggregation_memory_mb, 1);
    if q.max_limit < q.default_limit {
        errors.add(
            "query.max_limit",
            format!(
                "must be at least query.default_limit ({}), got {}",
                q.default_limit, q.max_limit
            ),
        );
    }
    for (i, token) in q.auth.tokens.iter().enumerate() {
        if let Err(message) = check_token(token) {
            errors.add(format!("query.auth.tokens[{i}]"), message);
        }
    }
    for (i, file) in q.auth.token_files.iter().enumerate() {
        if file.as_os_str().is_empty() {
            errors.add(format!("query.auth.token_files[{i}]"), "must not be empty");
        }
    }
    if q.enabled
        && !q.listen.ip().is_loopback()
        && q.auth.tokens.is_empty()
        && q.auth.token_files.is_empty()
        && !q.auth.required
        && q.auth.oidc.is_none()
    {
        errors.add(
            "query.listen",
            format!(
                "listening on {} (not loopback) requires query.auth.tokens, query.auth.token_files or query.auth.required = true",
                q.listen
            ),
        );
    }
    if let Some(oidc) = &q.auth.oidc {
        validate_oidc(oidc, errors);
    }
    if let Some(limit) = &q.auth.rate_limit {
        errors.at_least(
            "query.auth.rate_limit.per_second",
            limit.per_second as usize,
            1,
        );
        if let Some(burst) = limit.burst {
            errors.at_least("query.auth.rate_limit.burst", burst as usize, 1);
        }
    }
    if let Some(listen) = config.metrics.listen {
        if !listen.ip().is_loopback() && !config.metrics.require_token {
            errors.add(
                "metrics.require_token",
                format!(
                    "metrics.listen = {listen} (not loopback) requires metrics.require_token = true: anyone reaching the port could read the metrics"
                ),
            );
        }
    }
    let limits = &q.limits;
    errors.at_least("query.limits.max_body_bytes", limits.max_body_bytes, 1024);
    errors.at_least("query.limits.max_query_bytes", limits.max_query_bytes, 64);
    errors.at_least("query.limits.max_clauses", limits.max_clauses, 1);
    errors.at_least("query.limits.max_regex_bytes", limits.max_regex_bytes, 1024);
    // The query language refuses larger programs itself (`MAX_PATTERN_PROGRAM_BYTES` of the
    // query crate): a larger limit here would promise what is never reached.
    if limits.max_regex_bytes > 1 << 20 {
        errors.add(
            "query.limits.max_regex_bytes",
            format!(
                "must be at most 1048576 (the query language's own ceiling), got {}",
                limits.max_regex_bytes
            ),
        );
    }
    errors.at_least(
        "query.limits.max_expansion_terms",
        limits.max_expansion_terms,
        1,
    );
    errors.positive_duration("query.limits.request_timeout", limits.request_timeout);
    if let Some(tls) = &q.tls {
        if tls.cert.as_os_str().is_empty() {
            errors.add("query.tls.cert", "must not be empty");
        }
        if tls.key.as_os_str().is_empty() {
            errors.add("query.tls.key", "must not be empty");
        }
    }
}

/// Signature algorithms accepted for OIDC JWTs: asymmetric ones only.
const OIDC_ALGORITHMS: [&str; 9] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// `[query.auth.oidc]`: issuer, audience, algorithms, leeway, mappings.
fn validate_oidc(oidc: &crate::OidcConfig, errors: &mut Errors) {
    if oidc.issuer.trim().is_empty() {
        errors.add("query.auth.oidc.issuer", "required");
    }
    if oidc.audience.trim().is_empty() {
        errors.add("query.auth.oidc.audience", "required");
    }
    if oidc.algorithms.is_empty() {
        errors.add("query.auth.oidc.algorithms", "must not be empty");
    }
    for (i, alg) in oidc.algorithms.iter().enumerate() {
        if !OIDC_ALGORITHMS.contains(&alg.as_str()) {
            errors.add(
                format!("query.auth.oidc.algorithms[{i}]"),
                format!(
                    "{alg:?} refused: expected one of {} (never none, never HMAC)",
                    OIDC_ALGORITHMS.join(", ")
                ),
            );
        }
    }
    if oidc.leeway > Duration::from_secs(300) {
        errors.add("query.auth.oidc.leeway", "at most 5 minutes");
    }
    if oidc.claim.trim().is_empty() {
        errors.add("query.auth.oidc.claim", "must not be empty");
    }
    const ROLES: [&str; 5] = ["viewer", "analyst", "admin", "ingest", "metrics"];
    for (i, mapping) in oidc.mappings.iter().enumerate() {
        if mapping.value.is_empty() {
            errors.add(format!("query.auth.oidc.mappings[{i}].value"), "required");
        }
        if !ROLES.contains(&mapping.role.as_str()) {
            errors.add(
                format!("query.auth.oidc.mappings[{i}].role"),
                format!(
                    "unknown role {:?}: expected one of {}",
                    mapping.role,
                    ROLES.join(", ")
                ),
            );
        }
    }
}

/// Checks one bearer token without ever echoing it.
fn check_token(token: &str) -> Result<(), String> {
    let len = token.chars().count();
    if len < MIN_TOKEN_LEN {
        return Err(format!(
            "token too short ({len} characters); use at least {MIN_TOKEN_LEN}"
        ));
    }
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("token must not contain whitespace or control characters".to_owned());
    }
    Ok(())
}

/// Checks a `tracing_subscriber::EnvFilter`-style directive list.
///
/// Accepted: comma-separated directives, each `LEVEL` or `TARGET=LEVEL`, where
/// TARGET is a module path optionally followed by a `[span{field=value}]`
/// filter, and LEVEL is `off|error|warn|info|debug|trace` (any case) or `0`-`5`.
pub(crate) fn check_log_filter(filter: &str) -> Result<(), String> {
    if filter.trim().is_empty() {
        return Err("must not be empty (e.g. \"info\")".to_owned());
    }
    for directive in filter.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        check_directive(directive)
            .map_err(|why| format!("invalid filter directive {directive:?}: {why}"))?;
    }
    Ok(())
}

fn check_directive(directive: &str) -> Result<(), String> {
    // The last `=` outside `[...]` separates the target from the level.
    let mut depth = 0usize;
    let mut split = None;
    for (i, c) in directive.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| "unbalanced ']'".to_owned())?
            }
            '=' if depth == 0 => split = Some(i),
            _ => {}
        }
    }
    if depth != 0 {
        return Err("unbalanced '['".to_owned());
    }
    let Some(i) = split else {
        return if is_level(directive) {
            Ok(())
        } else {
            Err(
                "expected a level (off, error, warn, info, debug, trace) or TARGET=LEVEL"
                    .to_owned(),
            )
        };
    };
    let (target, level) = (&directive[..i], &directive[i + 1..]);
    if !is_level(level) {
        return Err(format!(
            "unknown level {level:?} (expected off, error, warn, info, debug or trace)"
        ));
    }
    let (name, span) = match target.find('[') {
        Some(open) => (&target[..open], &target[open..]),
        None => (target, ""),
    };
    if name.is_empty() && span.is_empty() {
        return Err("missing target before '='".to_owned());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '-' | '.')))
    {
        return Err(format!("invalid character {c:?} in target {name:?}"));
    }
    if !span.is_empty() && !span.ends_with(']') {
        return Err("span filter must end with ']'".to_owned());
    }
    Ok(())
}

fn is_level(s: &str) -> bool {
    ["off", "error", "warn", "info", "debug", "trace"]
        .iter()
        .any(|l| s.eq_ignore_ascii_case(l))
        || matches!(s, "0" | "1" | "2" | "3" | "4" | "5")
}

/// Reads the token files of `query.auth`, `collector.falco` and `collector.ingest` into their `tokens`; see
/// [`Config::read_token_files()`].
pub(crate) fn read_token_files(config: &mut Config) -> Result<(), ConfigError> {
    let mut errors = Errors::default();
    let query = &mut config.query.auth;
    read_token_files_into(
        &mut query.tokens,
        &query.token_files,
        "query.auth.token_files",
        &mut errors,
    );
    let falco = &mut config.collector.falco;
    read_token_files_into(
        &mut falco.tokens,
        &falco.token_files,
        "collector.falco.token_files",
        &mut errors,
    );
    let ingest = &mut config.collector.ingest;
    read_token_files_into(
        &mut ingest.tokens,
        &ingest.token_files,
        "collector.ingest.token_files",
        &mut errors,
    );
    read_shared_key_file(&mut config.collector.forward, &mut errors);
    ConfigError::from_list(errors.0)
}

/// Reads `collector.forward.shared_key_file` (its first line that is neither blank nor a `#`
/// comment) into `collector.forward.shared_key`; setting both is an error.
fn read_shared_key_file(forward: &mut crate::ForwardConfig, errors: &mut Errors) {
    const KEY: &str = "collector.forward.shared_key_file";
    let Some(file) = &forward.shared_key_file else {
        return;
    };
    if file.as_os_str().is_empty() {
        return;
    }
    if forward.shared_key.is_some() {
        errors.add(
            KEY,
            "set either collector.forward.shared_key or shared_key_file, not both",
        );
        return;
    }
    match read_token_file(file) {
        Ok(lines) => match lines.into_iter().next() {
            Some((_, key)) => forward.shared_key = Some(key),
            None => errors.add(KEY, format!("{}: contains no key", file.display())),
        },
        Err(e) => errors.add(KEY, format!("cannot read {}: {e}", file.display())),
    }
}

/// Appends the tokens of `files` (the key `key`) to `tokens`, skipping ones already present;
/// nothing is appended when any file of the list is at fault.
fn read_token_files_into(
    tokens: &mut Vec<String>,
    files: &[std::path::PathBuf],
    key: &str,
    errors: &mut Errors,
) {
    let before = errors.0.len();
    let mut found = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let key = format!("{key}[{i}]");
        match read_token_file(file) {
            Ok(list) if list.is_empty() => {
                errors.add(key, format!("{}: contains no token", file.display()));
            }
            Ok(list) => {
                for (line, token) in list {
                    match check_token(&token) {
                        Ok(()) => found.push(token),
                        Err(message) => {
                            errors.add(&key, format!("{}:{line}: {message}", file.display()))
                        }
                    }
                }
            }
            Err(e) => errors.add(key, format!("cannot read {}: {e}", file.display())),
        }
    }
    if errors.0.len() > before {
        return;
    }
    for token in found {
        if !tokens.contains(&token) {
            tokens.push(token);
        }
    }
}

/// `(line number, token)` for each non-blank, non-comment line.
fn read_token_file(path: &Path) -> std::io::Result<Vec<(usize, String)>> {
    let contents = std::fs::read_to_string(path)?;
    Ok(contents
        .lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line.trim()))
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
        .map(|(n, line)| (n, line.to_owned()))
        .collect())
}
