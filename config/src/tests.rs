//! Tests of defaults, layering, error messages and validation.
//!
//! Environment variables are process-wide and tests run in parallel, so every
//! test that sets variables uses its own prefix through `load_with`, and tests
//! that want no environment at all use a prefix nobody sets. Only
//! `public_load_reads_kestrel_prefix` touches `KESTREL_*`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Format, Toml};
use figment::Figment;

use crate::load::load_with;
use crate::*;

const NO_ENV: &str = "KTEST_UNSET_PREFIX_";
const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/kestrel.example.toml");
const GOOD_TOKEN: &str = "0123456789abcdef-good-token";

struct TempConfig {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl TempConfig {
    fn new(contents: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, contents).unwrap();
        TempConfig { _dir: dir, path }
    }

    fn dir(&self) -> &Path {
        self._dir.path()
    }

    fn load(&self) -> Result<Config, ConfigError> {
        load_with(Some(&self.path), NO_ENV)
    }

    /// The message expected for an error in this file.
    fn msg(&self, rest: &str) -> String {
        format!("{}: {rest}", self.path.display())
    }
}

fn load_toml(toml: &str) -> (TempConfig, ConfigError) {
    let file = TempConfig::new(toml);
    let err = file.load().expect_err("configuration should be rejected");
    (file, err)
}

/// Sets `prefix`-ed environment variables for the life of the guard.
struct EnvGuard(Vec<String>);

impl EnvGuard {
    fn set(prefix: &str, vars: &[(&str, &str)]) -> Self {
        let mut names = Vec::new();
        for (k, v) in vars {
            let name = format!("{prefix}{k}");
            std::env::set_var(&name, v);
            names.push(name);
        }
        EnvGuard(names)
    }
}

impl Drop for EnvGuard {
    fn drop(&mut self) {
        for name in &self.0 {
            std::env::remove_var(name);
        }
    }
}

/// The single validation error of `config`, as text.
fn invalid(config: &Config) -> String {
    let err = config
        .validate()
        .expect_err("configuration should be invalid");
    assert!(
        matches!(err, ConfigError::Invalid { .. }),
        "expected one Invalid error, got {err:?}"
    );
    err.to_string()
}

// ---------------------------------------------------------------- defaults

#[test]
fn defaults_are_as_documented() {
    let c = Config::default();
    assert_eq!(c.data_dir, PathBuf::from("./data"));
    assert_eq!(c.host_name, None);

    assert!(c.collector.enabled);
    let sources: Vec<(SourceFormat, Vec<&str>)> = c
        .collector
        .sources
        .iter()
        .map(|s| (s.format, s.paths.iter().map(String::as_str).collect()))
        .collect();
    assert_eq!(
        sources,
        vec![
            (
                SourceFormat::Docker,
                vec!["/var/lib/docker/containers/*/*-json.log"]
            ),
            (SourceFormat::Cri, vec!["/var/log/pods/*/*/*.log"]),
            (
                SourceFormat::K8sAudit,
                vec![
                    "/var/log/kubernetes/audit/*.log",
                    "/var/log/kubernetes/audit/*.log.gz"
                ]
            ),
        ]
    );
    for s in &c.collector.sources {
        assert_eq!(s.name, None);
        assert!(s.exclude.is_empty());
        assert_eq!(s.read_from, ReadFrom::Beginning);
    }
    assert_eq!(c.collector.poll_interval, Duration::from_millis(250));
    assert_eq!(c.collector.max_event_bytes, 1 << 20);
    assert_eq!(c.collector.partial_flush_timeout, Duration::from_secs(5));
    assert_eq!(c.collector.batch_max_events, 1000);

    assert_eq!(c.bus.kind, BusKind::Embedded);
    assert_eq!(c.bus.capacity, 10_000);
    assert_eq!(c.bus.kafka.brokers, "");
    assert_eq!(c.bus.kafka.topic, "kestrel-events");
    assert_eq!(c.bus.kafka.dead_letter_topic, "kestrel-dead-letters");
    assert_eq!(c.bus.kafka.group_id, "kestrel-indexers");
    assert_eq!(c.bus.kafka.partitions, 6);
    assert!(c.bus.kafka.properties.is_empty());

    assert!(c.indexer.enabled);
    assert_eq!(c.indexer.commit_interval, Duration::from_secs(1));
    assert_eq!(c.indexer.commit_max_events, 50_000);
    assert_eq!(c.indexer.writer_memory_mb, 64);
    assert_eq!(c.indexer.retention, None);

    assert!(c.query.enabled);
    assert_eq!(
        c.query.listen,
        "127.0.0.1:7700".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(c.query.default_limit, 100);
    assert_eq!(c.query.max_limit, 10_000);
    assert!(c.query.auth.tokens.is_empty());
    assert!(c.query.auth.token_files.is_empty());
    assert_eq!(c.query.tls, None);

    assert_eq!(c.log.level, "info");
    assert_eq!(c.log.format, LogFormat::Text);

    c.validate().expect("defaults are valid");
}

#[test]
fn load_without_file_gives_defaults() {
    assert_eq!(load_with(None, NO_ENV).unwrap(), Config::default());
}

#[test]
fn empty_file_gives_defaults() {
    assert_eq!(TempConfig::new("").load().unwrap(), Config::default());
}

#[test]
fn path_helpers_and_with_data_dir() {
    let c = Config::default().with_data_dir(PathBuf::from("/srv/kestrel"));
    assert_eq!(c.data_dir, PathBuf::from("/srv/kestrel"));
    assert_eq!(c.index_dir(), PathBuf::from("/srv/kestrel/index"));
    assert_eq!(
        c.dead_letter_dir(),
        PathBuf::from("/srv/kestrel/dead-letters")
    );
    assert_eq!(
        c.checkpoint_dir(),
        PathBuf::from("/srv/kestrel/checkpoints")
    );
}

#[test]
fn host_name_prefers_config_then_env_then_file() {
    let c = Config {
        host_name: Some("node-7".into()),
        ..Config::default()
    };
    assert_eq!(c.host_name(), "node-7");
    assert!(!Config::default().host_name().is_empty());

    let dir = tempfile::tempdir().unwrap();
    let etc = dir.path().join("hostname");
    let missing = dir.path().join("missing");
    assert_eq!(os_host_name(Some("from-env"), &etc), "from-env");
    std::fs::write(&etc, "from-file\n").unwrap();
    assert_eq!(os_host_name(None, &etc), "from-file");
    assert_eq!(os_host_name(Some("  "), &etc), "from-file");
    assert_eq!(os_host_name(None, &missing), "localhost");
    std::fs::write(&etc, "\n").unwrap();
    assert_eq!(os_host_name(None, &etc), "localhost");
}

#[test]
fn debug_output_hides_tokens() {
    let mut c = Config::default();
    c.query.auth.tokens = vec![GOOD_TOKEN.into()];
    let debug = format!("{c:?}");
    assert!(!debug.contains(GOOD_TOKEN), "{debug}");
    assert!(debug.contains("1 redacted"), "{debug}");
}

// ----------------------------------------------------------- example file

#[test]
fn example_file_equals_defaults() {
    let config = load_with(Some(Path::new(EXAMPLE)), NO_ENV).unwrap();
    assert_eq!(config, Config::default());
}

/// The example with its commented-out settings (`#key = ...`, `#[table]`,
/// `#"quoted.key" = ...`) turned on.
fn example_with_optional_settings() -> String {
    std::fs::read_to_string(EXAMPLE)
        .unwrap()
        .lines()
        .map(|line| match line.strip_prefix('#') {
            Some(rest)
                if rest.starts_with(|c: char| c.is_ascii_lowercase() || c == '[' || c == '"') =>
            {
                rest
            }
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn example_optional_settings_are_valid() {
    let file = TempConfig::new(&example_with_optional_settings());
    let mut config = file.load().unwrap();

    // These are exactly the settings that are off by default.
    assert_eq!(config.host_name.take().as_deref(), Some("node-1"));
    assert_eq!(
        config.collector.sources[0].name.take().as_deref(),
        Some("docker")
    );
    assert_eq!(
        config.collector.sources[0]
            .multiline_start
            .take()
            .as_deref(),
        Some(r"^\[?\d{4}-\d{2}-\d{2}")
    );
    assert_eq!(
        config.indexer.retention.take(),
        Some(Duration::from_secs(30 * 86_400))
    );
    assert_eq!(
        config.indexer.audit_retention.take(),
        Some(Duration::from_secs(400 * 86_400))
    );
    let retention = &mut config.retention;
    assert_eq!(
        retention.default.take(),
        Some(Duration::from_secs(30 * 86_400))
    );
    assert_eq!(
        retention.alerts.take(),
        Some(Duration::from_secs(400 * 86_400))
    );
    assert_eq!(
        retention.dead_letters.take(),
        Some(Duration::from_secs(30 * 86_400))
    );
    assert_eq!(
        retention.outbox.take(),
        Some(Duration::from_secs(30 * 86_400))
    );
    assert_eq!(
        std::mem::take(&mut retention.rules),
        [RetentionRule {
            name: "audit".into(),
            query: "event.kind:k8s_audit".into(),
            keep: Duration::from_secs(400 * 86_400),
        }]
    );
    let tls = config.query.tls.take().unwrap();
    assert_eq!(tls.cert, PathBuf::from("/etc/kestrel/tls/tls.crt"));
    assert_eq!(tls.key, PathBuf::from("/etc/kestrel/tls/tls.key"));
    assert_eq!(
        tls.client_ca,
        Some(PathBuf::from("/etc/kestrel/tls/clients-ca.crt"))
    );
    let webhook = &mut config.collector.webhook;
    assert_eq!(webhook.listen.take(), Some("0.0.0.0:8443".parse().unwrap()));
    let webhook_tls = webhook.tls.take().unwrap();
    assert_eq!(
        webhook_tls.client_ca,
        Some(PathBuf::from("/etc/kestrel/tls/apiserver-ca.crt"))
    );
    let forward = &mut config.collector.forward;
    assert_eq!(
        forward.listen.take(),
        Some("0.0.0.0:24224".parse().unwrap())
    );
    assert_eq!(
        forward.shared_key.take().as_deref(),
        Some("change-this-shared-key")
    );
    let forward_tls = forward.tls.take().unwrap();
    assert_eq!(
        forward_tls.client_ca,
        Some(PathBuf::from("/etc/kestrel/tls/forward-clients-ca.crt"))
    );
    let props = std::mem::take(&mut config.bus.kafka.properties);
    assert_eq!(props.get("security.protocol").unwrap(), "SASL_SSL");
    assert_eq!(props.len(), 4);
    let destinations = std::mem::take(&mut config.alerting.destinations);
    assert_eq!(destinations.len(), 1);
    assert_eq!(destinations[0].name, "soc");
    assert_eq!(
        config.detection.rules.take(),
        Some(PathBuf::from("/etc/kestrel/rules"))
    );
    assert_eq!(
        std::mem::take(&mut config.detection.filters),
        [PathBuf::from("/etc/kestrel/filters")]
    );
    assert_eq!(
        std::mem::take(&mut config.detection.placeholders),
        BTreeMap::from([(
            "allowed_k8s_users".to_owned(),
            vec!["kubernetes-admin".to_owned(), "ci-deployer".to_owned()]
        )])
    );
    assert_eq!(
        config.collector.kubernetes.node_name.take().as_deref(),
        Some("node-1")
    );
    assert_eq!(
        config.collector.kubernetes.kubeconfig.take(),
        Some(PathBuf::from("/etc/kestrel/kubeconfig"))
    );
    assert_eq!(
        config.metrics.listen.take(),
        Some("127.0.0.1:9464".parse().unwrap())
    );
    assert_eq!(
        config.query.auth.rate_limit.take(),
        Some(crate::RateLimitConfig {
            per_second: 50,
            burst: Some(100)
        })
    );
    let oidc = config.query.auth.oidc.take().unwrap();
    assert_eq!(oidc.issuer, "https://login.example.com/realms/ops");
    assert_eq!(oidc.mappings[0].namespaces, ["payments"]);
    let redaction = std::mem::take(&mut config.collector.redaction);
    assert_eq!(
        redaction.key_file,
        Some(PathBuf::from("/etc/kestrel/redaction.key"))
    );
    assert_eq!(redaction.key_env.as_deref(), Some("KESTREL_REDACTION_KEY"));
    assert_eq!(redaction.patterns.len(), 1);
    assert_eq!(redaction.patterns[0].name, "internal_ticket_token");
    assert_eq!(
        redaction.allow["files"].values,
        ["AKIAIOSFODNN7EXAMPLE".to_owned()]
    );
    config.collector.redaction.enabled = redaction.enabled;
    let seal = std::mem::take(&mut config.seal);
    assert_eq!(
        seal.key_file,
        Some(PathBuf::from("/etc/kestrel/seal/seal.pem"))
    );
    assert_eq!(seal.key_env.as_deref(), Some("KESTREL_SEAL_KEY"));
    assert_eq!(config, Config::default());
}

/// Field names of the struct at `table`, from the unknown-field error.
fn field_names(table: &str) -> Vec<&'static str> {
    let toml = match table {
        "" => "zz_probe = 1".to_owned(),
        "collector.sources" => "[[collector.sources]]\nzz_probe = 1".to_owned(),
        "alerting.destinations" => "[[alerting.destinations]]\nzz_probe = 1".to_owned(),
        "query.auth.oidc.mappings" => "[[query.auth.oidc.mappings]]\nzz_probe = 1".to_owned(),
        "collector.redaction.patterns" => {
            "[[collector.redaction.patterns]]\nzz_probe = 1".to_owned()
        }
        "retention.rules" => "[[retention.rules]]\nzz_probe = 1".to_owned(),
        t => format!("[{t}]\nzz_probe = 1"),
    };
    let err = Figment::from(Toml::string(&toml))
        .extract::<Config>()
        .unwrap_err();
    match err.kind {
        figment::error::Kind::UnknownField(_, expected) => expected.to_vec(),
        other => panic!("no unknown-field error for {table:?}: {other:?}"),
    }
}

#[test]
fn example_documents_every_key() {
    let text = example_with_optional_settings();
    let mut sections = BTreeSet::from([String::new()]);
    let mut keys = BTreeSet::new();
    let mut section = String::new();
    let mut previous = "";
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line.trim_matches(|c| c == '[' || c == ']').to_owned();
            sections.insert(section.clone());
        } else if let Some((key, _)) = line.split_once('=').filter(|_| !line.starts_with('#')) {
            let key = key.trim().to_owned();
            // A key's first appearance must come with a comment.
            if !keys.contains(&(section.clone(), key.clone())) && section != "bus.kafka.properties"
            {
                assert!(
                    previous.starts_with('#'),
                    "{section}.{key} in the example has no comment above it"
                );
            }
            keys.insert((section.clone(), key));
        }
        previous = line;
    }

    let tables = [
        "",
        "collector",
        "collector.sources",
        "collector.kubernetes",
        "collector.docker",
        "collector.falco",
        "collector.ingest",
        "collector.elasticsearch",
        "collector.otlp",
        "collector.redaction",
        "collector.redaction.patterns",
        "bus",
        "bus.kafka",
        "indexer",
        "query",
        "query.auth",
        "query.auth.rate_limit",
        "query.auth.oidc",
        "query.auth.oidc.mappings",
        "query.limits",
        "query.tls",
        "log",
        "metrics",
        "detection",
        "alerting",
        "alerting.destinations",
        "retention",
        "retention.rules",
    ];
    for table in tables {
        assert!(sections.contains(table), "example lacks [{table}]");
        for field in field_names(table) {
            let nested = if table.is_empty() {
                field.to_owned()
            } else {
                format!("{table}.{field}")
            };
            assert!(
                keys.contains(&(table.to_owned(), field.to_owned())) || sections.contains(&nested),
                "example does not document {nested}"
            );
        }
    }
}

// ------------------------------------------------------------- file layer

#[test]
fn file_values_override_defaults() {
    let file = TempConfig::new(
        r#"
data_dir = "/var/lib/kestrel"
host_name = "worker-3"

[collector]
poll_interval = "1s"
partial_flush_timeout = "1m 30s"

[[collector.sources]]
name = "apps"
paths = ["/logs/**/*.log"]
exclude = ["/logs/noisy/*"]
format = "k8s-audit"
read_from = "end"

[bus]
kind = "kafka"

[bus.kafka]
brokers = "k1:9092,k2:9092"
properties = { "security.protocol" = "SASL_SSL", sasl.mechanism = "PLAIN", "socket.timeout.ms" = 60000, "linger.ms" = 5 }

[indexer]
retention = "7days"

[query]
listen = "[::1]:9000"

[query.tls]
cert = "/tls/cert.pem"
key = "/tls/key.pem"

[log]
level = "warn,kestrel_collector=debug"
format = "json"
"#,
    );
    let c = file.load().unwrap();
    assert_eq!(c.data_dir, PathBuf::from("/var/lib/kestrel"));
    assert_eq!(c.host_name(), "worker-3");
    assert_eq!(c.collector.poll_interval, Duration::from_secs(1));
    assert_eq!(c.collector.partial_flush_timeout, Duration::from_secs(90));
    assert_eq!(
        c.collector.sources,
        vec![SourceConfig {
            name: Some("apps".into()),
            paths: vec!["/logs/**/*.log".into()],
            exclude: vec!["/logs/noisy/*".into()],
            format: SourceFormat::K8sAudit,
            read_from: ReadFrom::End,
            multiline: Multiline::None,
            multiline_start: None,
        }]
    );
    assert_eq!(c.bus.kind, BusKind::Kafka);
    assert_eq!(c.bus.kafka.brokers, "k1:9092,k2:9092");
    assert_eq!(
        c.bus.kafka.topic, "kestrel-events",
        "untouched keys keep defaults"
    );
    let expected: BTreeMap<String, String> = [
        ("linger.ms", "5"),
        ("sasl.mechanism", "PLAIN"),
        ("security.protocol", "SASL_SSL"),
        ("socket.timeout.ms", "60000"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(c.bus.kafka.properties, expected);
    assert_eq!(c.indexer.retention, Some(Duration::from_secs(7 * 86_400)));
    assert_eq!(c.query.listen, "[::1]:9000".parse::<SocketAddr>().unwrap());
    assert_eq!(
        c.query.tls,
        Some(TlsConfig {
            cert: "/tls/cert.pem".into(),
            key: "/tls/key.pem".into(),
            client_ca: None,
        })
    );
    assert_eq!(c.log.format, LogFormat::Json);
}

#[test]
fn missing_file_is_an_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.toml");
    let err = load_with(Some(&path), NO_ENV).unwrap_err();
    assert!(matches!(err, ConfigError::FileNotFound { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("{}: configuration file not found", path.display())
    );
}

#[test]
fn directory_instead_of_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = load_with(Some(dir.path()), NO_ENV).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }), "{err:?}");
    assert!(err
        .to_string()
        .starts_with(&dir.path().display().to_string()));
}

#[test]
fn toml_syntax_error_names_the_file() {
    let (file, err) = load_toml("[query\nlisten = 1");
    assert!(matches!(err, ConfigError::Parse { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.starts_with(&file.msg("")), "{text}");
    assert!(text.contains("line 1"), "{text}");
}

#[test]
fn unknown_keys_are_errors_naming_the_key() {
    let (file, err) = load_toml("data_dirr = \"/x\"");
    assert_eq!(err.key(), Some("data_dirr"));
    assert!(
        err.to_string().starts_with(
            &file.msg("data_dirr: unknown key (expected one of: data_dir, host_name,")
        ),
        "{err}"
    );

    let (file, err) = load_toml("[query.auth]\ntoken = \"x\"");
    assert_eq!(err.key(), Some("query.auth.token"));
    assert_eq!(
        err.to_string(),
        file.msg("query.auth.token: unknown key (expected one of: tokens, token_files, required, rate_limit, oidc)")
    );

    let (_, err) = load_toml(
        "[[collector.sources]]\npaths = [\"/a\"]\n[[collector.sources]]\npath = [\"/b\"]",
    );
    assert_eq!(err.key(), Some("collector.sources[1].path"));

    let (_, err) = load_toml("[bus.kafka]\ntopics = \"t\"");
    assert_eq!(err.key(), Some("bus.kafka.topics"));

    let (_, err) = load_toml("[query.tls]\ncert = \"c\"\nkey = \"k\"\npassword = \"p\"");
    assert_eq!(err.key(), Some("query.tls.password"));
}

#[test]
fn invalid_socket_address_is_quoted() {
    let (file, err) = load_toml("[query]\nlisten = \"localhost:x\"");
    assert!(matches!(err, ConfigError::Parse { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with(&file.msg("query.listen: invalid socket address \"localhost:x\"")),
        "{err}"
    );
}

#[test]
fn invalid_duration_is_an_error() {
    let (file, err) = load_toml("[collector]\npoll_interval = \"fast\"");
    assert_eq!(err.key(), Some("collector.poll_interval"));
    assert!(
        err.to_string()
            .starts_with(&file.msg("collector.poll_interval: invalid duration \"fast\"")),
        "{err}"
    );

    // A bare number has no unit: rejected rather than guessed.
    let (_, err) = load_toml("[indexer]\ncommit_interval = 5");
    assert_eq!(err.key(), Some("indexer.commit_interval"));
    assert!(
        err.to_string().contains("expected a duration string"),
        "{err}"
    );

    let (_, err) = load_toml("[indexer]\nretention = \"soon\"");
    assert_eq!(err.key(), Some("indexer.retention"));
}

#[test]
fn unknown_enum_value_lists_the_choices() {
    let (file, err) = load_toml("[[collector.sources]]\npaths = [\"/a\"]\nformat = \"syslog\"");
    assert_eq!(
        err.to_string(),
        file.msg(
            "collector.sources[0].format: unknown value \"syslog\" (expected one of: auto, docker, cri, k8s-audit)"
        )
    );
    let (_, err) = load_toml("[bus]\nkind = \"nats\"");
    assert_eq!(err.key(), Some("bus.kind"));
}

#[test]
fn wrong_type_and_missing_required_key() {
    let (file, err) = load_toml("[bus]\ncapacity = \"lots\"");
    assert_eq!(err.key(), Some("bus.capacity"));
    assert!(
        err.to_string()
            .starts_with(&file.msg("bus.capacity: invalid type")),
        "{err}"
    );

    let (file, err) = load_toml("[query.tls]\ncert = \"/c.pem\"");
    assert_eq!(
        err.to_string(),
        file.msg("query.tls.key: required key is missing")
    );
}

// ------------------------------------------------------ environment layer

#[test]
fn env_overrides_file_and_defaults() {
    let prefix = "KTEST_OVERRIDE_";
    let _env = EnvGuard::set(
        prefix,
        &[
            ("DATA_DIR", "/from/env"),
            ("QUERY__LISTEN", "0.0.0.0:8000"),
            (
                "QUERY__AUTH__TOKENS",
                "[0123456789abcdef0123, tok-abcdefghijklmnop]",
            ),
            ("COLLECTOR__POLL_INTERVAL", "500ms"),
            ("COLLECTOR__ENABLED", "false"),
            ("INDEXER__COMMIT_MAX_EVENTS", "77"),
            ("BUS__KAFKA__GROUP_ID", "00042"),
            ("BUS__KAFKA__PROPERTIES__SASL__MECHANISM", "PLAIN"),
            ("LOG__FORMAT", "json"),
        ],
    );
    let file = TempConfig::new(
        "data_dir = \"/from/file\"\n[indexer]\ncommit_max_events = 5\nwriter_memory_mb = 32\n",
    );
    let c = load_with(Some(&file.path), prefix).unwrap();
    assert_eq!(c.data_dir, PathBuf::from("/from/env"));
    assert_eq!(
        c.query.listen,
        "0.0.0.0:8000".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(
        c.query.auth.tokens,
        vec!["0123456789abcdef0123", "tok-abcdefghijklmnop"]
    );
    assert_eq!(c.collector.poll_interval, Duration::from_millis(500));
    assert!(!c.collector.enabled);
    assert_eq!(c.indexer.commit_max_events, 77);
    assert_eq!(c.indexer.writer_memory_mb, 32, "file value kept");
    assert_eq!(c.bus.kafka.group_id, "00042", "strings stay strings");
    assert_eq!(c.bus.kafka.properties["sasl.mechanism"], "PLAIN");
    assert_eq!(c.log.format, LogFormat::Json);
}

#[test]
fn public_load_reads_kestrel_prefix() {
    let _env = EnvGuard::set("KESTREL_", &[("INDEXER__WRITER_MEMORY_MB", "128")]);
    let c = load(None).unwrap();
    assert_eq!(c.indexer.writer_memory_mb, 128);
}

#[test]
fn unknown_env_key_names_the_variable() {
    let prefix = "KTEST_UNKNOWN_";
    let _env = EnvGuard::set(prefix, &[("QUERY__LISTN", "0.0.0.0:1")]);
    let err = load_with(None, prefix).unwrap_err();
    assert_eq!(err.key(), Some("query.listn"));
    assert!(
        err.to_string().starts_with(
            "environment variable KTEST_UNKNOWN_QUERY__LISTN: query.listn: unknown key"
        ),
        "{err}"
    );
}

#[test]
fn bad_env_value_names_the_variable() {
    let prefix = "KTEST_BADVALUE_";
    let _env = EnvGuard::set(prefix, &[("QUERY__LISTEN", "localhost:x")]);
    let err = load_with(None, prefix).unwrap_err();
    assert!(
        err.to_string().starts_with(
            "environment variable KTEST_BADVALUE_QUERY__LISTEN: query.listen: invalid socket address \"localhost:x\""
        ),
        "{err}"
    );
}

#[test]
fn kubernetes_service_link_variables_are_ignored() {
    let prefix = "KTEST_K8S_";
    let _env = EnvGuard::set(
        prefix,
        &[
            ("SERVICE_HOST", "10.0.0.1"),
            ("SERVICE_PORT", "7700"),
            ("SERVICE_PORT_HTTP", "7700"),
            ("PORT", "tcp://10.0.0.1:7700"),
            ("PORT_7700_TCP_ADDR", "10.0.0.1"),
        ],
    );
    assert_eq!(load_with(None, prefix).unwrap(), Config::default());
}

/// Every variable Kubernetes injects for the Services of deploy/ (`kestrel-query`,
/// `kestrel-audit-webhook`, `kestrel-indexer`), as a pod of the namespace sees them.
#[test]
fn service_links_of_any_kestrel_service_are_ignored() {
    let prefix = "KTEST_K8S_NAMED_";
    let mut vars = Vec::new();
    for (service, port, name) in [
        ("QUERY", "443", "HTTPS"),
        ("AUDIT_WEBHOOK", "8443", "HTTPS"),
        ("INDEXER", "9464", "METRICS"),
    ] {
        vars.push((format!("{service}_SERVICE_HOST"), "10.0.0.1".to_owned()));
        vars.push((format!("{service}_SERVICE_PORT"), port.to_owned()));
        vars.push((format!("{service}_SERVICE_PORT_{name}"), port.to_owned()));
        vars.push((format!("{service}_PORT"), format!("tcp://10.0.0.1:{port}")));
        let tcp = format!("{service}_PORT_{port}_TCP");
        vars.push((tcp.clone(), format!("tcp://10.0.0.1:{port}")));
        vars.push((format!("{tcp}_PROTO"), "tcp".to_owned()));
        vars.push((format!("{tcp}_PORT"), port.to_owned()));
        vars.push((format!("{tcp}_ADDR"), "10.0.0.1".to_owned()));
    }
    let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let _env = EnvGuard::set(prefix, &pairs);
    assert_eq!(load_with(None, prefix).unwrap(), Config::default());
}

/// Only the exact service-link shapes are skipped: a misspelt key that merely contains `port`
/// is still refused.
#[test]
fn near_service_link_names_are_still_unknown_keys() {
    for (i, key) in [
        "QUERY_PORT_HTTPS",
        "QUERY_PORT_443_TCP_HOST",
        "QUERY_PORTS",
        "QUERY_HOST",
    ]
    .into_iter()
    .enumerate()
    {
        let prefix = format!("KTEST_K8S_NEAR_{i}_");
        let _env = EnvGuard::set(&prefix, &[(key, "x")]);
        let err = load_with(None, &prefix).unwrap_err();
        assert!(
            err.to_string().contains(&format!("{prefix}{key}")),
            "{key}: {err}"
        );
    }
}

// ------------------------------------------------------------- validation

#[test]
fn validation_error_names_origin_from_file() {
    let (file, err) = load_toml("[indexer]\ncommit_max_events = 0");
    assert!(matches!(err, ConfigError::Invalid { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        file.msg("indexer.commit_max_events: must be at least 1, got 0")
    );
}

#[test]
fn validation_error_names_origin_from_env() {
    let prefix = "KTEST_VALIDATE_ENV_";
    let _env = EnvGuard::set(prefix, &[("QUERY__LISTEN", "0.0.0.0:7700")]);
    let err = load_with(None, prefix).unwrap_err();
    assert_eq!(
        err.to_string(),
        "environment variable KTEST_VALIDATE_ENV_QUERY__LISTEN: query.listen: listening on 0.0.0.0:7700 \
         (not loopback) requires query.auth.tokens, query.auth.token_files or query.auth.required = true"
    );
}

#[test]
fn commit_max_events_must_be_positive() {
    let mut c = Config::default();
    c.indexer.commit_max_events = 0;
    assert_eq!(
        invalid(&c),
        "indexer.commit_max_events: must be at least 1, got 0"
    );
}

#[test]
fn source_paths_must_not_be_empty() {
    let (file, err) = load_toml(
        "[[collector.sources]]\npaths = [\"/a/*.log\"]\n\
         [[collector.sources]]\npaths = [\"/b/*.log\"]\n\
         [[collector.sources]]\nformat = \"cri\"\n",
    );
    assert_eq!(
        err.to_string(),
        file.msg("collector.sources[2].paths: must not be empty")
    );
}

#[test]
fn sources_must_not_be_empty_when_collector_enabled() {
    let mut c = Config::default();
    c.collector.sources.clear();
    assert_eq!(
        invalid(&c),
        "collector.sources: must not be empty when collector.enabled = true \
         (unless collector.webhook.listen or collector.forward.listen is set)"
    );
    c.collector.enabled = false;
    c.validate().unwrap();
}

#[test]
fn a_webhook_only_collector_needs_no_sources() {
    let mut c = Config::default();
    c.collector.sources.clear();
    c.collector.webhook.listen = Some("127.0.0.1:8443".parse().unwrap());
    c.validate().unwrap();
}

#[test]
fn glob_patterns_are_checked() {
    let mut c = Config::default();
    c.collector.sources[1].paths.push("/var/log/[abc".into());
    assert!(
        invalid(&c)
            .starts_with("collector.sources[1].paths[1]: invalid glob pattern \"/var/log/[abc\""),
        "{}",
        invalid(&c)
    );

    let mut c = Config::default();
    c.collector.sources[0].exclude = vec!["/x/a**b".into()];
    assert!(invalid(&c).starts_with("collector.sources[0].exclude[0]: invalid glob pattern"));

    let mut c = Config::default();
    c.collector.sources[0].paths = vec!["  ".into()];
    assert_eq!(
        invalid(&c),
        "collector.sources[0].paths[0]: must not be empty"
    );
}

#[test]
fn source_names_must_be_unique_and_non_empty() {
    let mut c = Config::default();
    c.collector.sources[0].name = Some("pods".into());
    c.collector.sources[2].name = Some("pods".into());
    assert_eq!(
        invalid(&c),
        "collector.sources[2].name: duplicate source name \"pods\""
    );
    c.collector.sources[2].name = Some("".into());
    assert_eq!(invalid(&c), "collector.sources[2].name: must not be empty");
}

#[test]
fn collector_limits() {
    let mut c = Config::default();
    c.collector.poll_interval = Duration::ZERO;
    assert_eq!(
        invalid(&c),
        "collector.poll_interval: must be greater than 0s"
    );

    let mut c = Config::default();
    c.collector.partial_flush_timeout = Duration::ZERO;
    assert_eq!(
        invalid(&c),
        "collector.partial_flush_timeout: must be greater than 0s"
    );

    let mut c = Config::default();
    c.collector.max_event_bytes = 100;
    assert_eq!(
        invalid(&c),
        "collector.max_event_bytes: must be at least 1024, got 100"
    );

    let mut c = Config::default();
    c.collector.batch_max_events = 0;
    assert_eq!(
        invalid(&c),
        "collector.batch_max_events: must be at least 1, got 0"
    );

    let mut c = Config::default();
    c.query.limits.max_regex_bytes = 4 << 20;
    assert_eq!(
        invalid(&c),
        "query.limits.max_regex_bytes: must be at most 1048576 (the query language's own \
         ceiling), got 4194304"
    );
}

#[test]
fn kafka_brokers_required_for_kafka_bus() {
    // The key is set nowhere, so the message names no origin.
    let (_, err) = load_toml("[bus]\nkind = \"kafka\"");
    assert_eq!(
        err.to_string(),
        "bus.kafka.brokers: required when bus.kind = \"kafka\""
    );

    let mut c = Config::default();
    c.bus.kind = BusKind::Kafka;
    c.bus.kafka.brokers = " , ".into();
    assert_eq!(
        invalid(&c),
        "bus.kafka.brokers: required when bus.kind = \"kafka\""
    );
    c.bus.kafka.brokers = "kafka:9092".into();
    c.validate().unwrap();
}

#[test]
fn kafka_settings_checked_only_for_kafka_bus() {
    let mut c = Config::default();
    c.bus.kafka.partitions = 0;
    c.bus.kafka.topic = "bad topic".into();
    c.validate().expect("unused kafka section is not checked");

    c.bus.kind = BusKind::Kafka;
    c.bus.kafka.brokers = "kafka:9092".into();
    let err = c.validate().unwrap_err();
    let messages: Vec<String> = err.errors().iter().map(|e| e.to_string()).collect();
    assert_eq!(
        messages,
        vec![
            "bus.kafka.topic: invalid character ' ' in topic name \"bad topic\" (allowed: letters, digits, '.', '_', '-')",
            "bus.kafka.partitions: must be at least 1, got 0",
        ]
    );
}

#[test]
fn kafka_topics_and_properties() {
    let mut c = Config::default();
    c.bus.kind = BusKind::Kafka;
    c.bus.kafka.brokers = "kafka:9092".into();
    c.bus.kafka.dead_letter_topic = c.bus.kafka.topic.clone();
    assert_eq!(
        invalid(&c),
        "bus.kafka.dead_letter_topic: must differ from bus.kafka.topic (\"kestrel-events\")"
    );

    c.bus.kafka.dead_letter_topic = "x".repeat(250);
    assert_eq!(
        invalid(&c),
        "bus.kafka.dead_letter_topic: must be at most 249 characters, got 250"
    );

    c.bus.kafka.dead_letter_topic = "dlq".into();
    c.bus.kafka.group_id = "".into();
    assert_eq!(invalid(&c), "bus.kafka.group_id: must not be empty");

    c.bus.kafka.group_id = "g".into();
    c.bus
        .kafka
        .properties
        .insert("bootstrap.servers".into(), "other:9092".into());
    assert_eq!(
        invalid(&c),
        "bus.kafka.properties: \"bootstrap.servers\" must not be set here; use bus.kafka.brokers"
    );
}

#[test]
fn bus_capacity_must_be_positive() {
    let mut c = Config::default();
    c.bus.capacity = 0;
    assert_eq!(invalid(&c), "bus.capacity: must be at least 1, got 0");
}

#[test]
fn indexer_limits() {
    let mut c = Config::default();
    c.indexer.commit_interval = Duration::ZERO;
    assert_eq!(
        invalid(&c),
        "indexer.commit_interval: must be greater than 0s"
    );

    let mut c = Config::default();
    c.indexer.writer_memory_mb = 8;
    assert_eq!(
        invalid(&c),
        "indexer.writer_memory_mb: must be at least 15, got 8"
    );

    let mut c = Config::default();
    c.indexer.retention = Some(Duration::ZERO);
    assert_eq!(
        invalid(&c),
        "indexer.retention: must be greater than 0s (leave it out to keep events forever)"
    );

    let mut c = Config::default();
    c.indexer.retention = Some(Duration::from_secs(500 * 86_400));
    assert!(invalid(&c)
        .starts_with("retention.audit: 400d is shorter than the default retention (500d)"));
    c.indexer.audit_retention = Some(Duration::from_secs(500 * 86_400));
    c.validate().unwrap();
    assert_eq!(c.audit_retention(), Duration::from_secs(500 * 86_400));
}

fn rule(name: &str, query: &str, keep_days: u64) -> RetentionRule {
    RetentionRule {
        name: name.into(),
        query: query.into(),
        keep: Duration::from_secs(keep_days * 86_400),
    }
}

#[test]
fn retention_is_validated_naming_the_key() {
    let mut c = Config::default();
    c.retention.default = Some(Duration::ZERO);
    assert_eq!(
        invalid(&c),
        "retention.default: must be greater than 0s (leave it out to keep events forever)"
    );

    let mut c = Config::default();
    c.retention.default = Some(Duration::from_secs(500 * 86_400));
    assert!(invalid(&c)
        .starts_with("retention.audit: 400d is shorter than the default retention (500d)"));
    c.retention.audit = Duration::from_secs(500 * 86_400);
    c.validate().unwrap();

    let mut c = Config::default();
    c.retention.rules = vec![
        rule("audit", "event.kind:k8s_audit", 400),
        rule("audit", "x", 1),
    ];
    assert_eq!(
        invalid(&c),
        "retention.rules[1].name: duplicate rule name \"audit\""
    );
    c.retention.rules[1] = rule("payments", " ", 365);
    assert_eq!(invalid(&c), "retention.rules[1].match: must not be empty");
    c.retention.rules[1] = rule("payments", "kubernetes.namespace:payments", 365);
    c.retention.rules[1].keep = Duration::from_secs(36 * 3600);
    assert_eq!(
        invalid(&c),
        "retention.rules[1].keep: must be a whole number of days such as \"400d\" (a partition's \
         lifetime counts whole days), got 1day 12h"
    );
    c.retention.rules[1].keep = Duration::from_secs(365 * 86_400);
    c.validate().unwrap();

    let mut c = Config::default();
    c.retention.outbox = Some(Duration::ZERO);
    assert_eq!(
        invalid(&c),
        "retention.outbox: must be greater than 0s (leave it out to keep forever)"
    );
}

#[test]
fn retention_rules_load_from_toml_and_bad_durations_name_the_rule() {
    let file = TempConfig::new(
        "[retention]\ndefault = \"30d\"\n[[retention.rules]]\nname = \"audit\"\n\
         match = \"event.kind:k8s_audit\"\nkeep = \"400d\"\n",
    );
    let c = file.load().unwrap();
    assert_eq!(
        c.retention.rules,
        [rule("audit", "event.kind:k8s_audit", 400)]
    );
    assert_eq!(
        c.default_retention(),
        Some(Duration::from_secs(30 * 86_400))
    );
    assert!(c.deprecations().is_empty());

    let (_, err) =
        load_toml("[[retention.rules]]\nname = \"a\"\nmatch = \"*\"\nkeep = \"forever\"");
    assert_eq!(err.key(), Some("retention.rules[0].keep"));
    assert!(
        err.to_string().contains("invalid duration \"forever\""),
        "{err}"
    );
}

#[test]
fn deprecated_retention_keys_still_work_with_a_warning() {
    let mut c = Config::default();
    c.indexer.retention = Some(Duration::from_secs(7 * 86_400));
    c.indexer.audit_retention = Some(Duration::from_secs(500 * 86_400));
    assert_eq!(c.default_retention(), Some(Duration::from_secs(7 * 86_400)));
    assert_eq!(c.audit_retention(), Duration::from_secs(500 * 86_400));
    assert_eq!(
        c.deprecations(),
        [
            "indexer.retention is deprecated: use retention.default",
            "indexer.audit_retention is deprecated: use retention.audit (which wins when set)"
        ]
    );
    c.retention.default = Some(Duration::from_secs(86_400));
    assert_eq!(c.default_retention(), Some(Duration::from_secs(86_400)));
    assert_eq!(
        c.deprecations()[0],
        "indexer.retention is deprecated and ignored: retention.default is set"
    );
}

#[test]
fn non_loopback_listen_requires_auth() {
    let mut c = Config::default();
    c.query.listen = "0.0.0.0:7700".parse().unwrap();
    assert_eq!(
        invalid(&c),
        "query.listen: listening on 0.0.0.0:7700 (not loopback) requires query.auth.tokens, query.auth.token_files or query.auth.required = true"
    );
    c.query.listen = "[::]:7700".parse().unwrap();
    assert!(invalid(&c).starts_with("query.listen: listening on [::]:7700 (not loopback)"));

    // A disabled query service listens nowhere.
    c.query.enabled = false;
    c.validate().unwrap();
    c.query.enabled = true;

    c.query.auth.tokens = vec![GOOD_TOKEN.into()];
    c.validate().unwrap();

    // Loopback may be open.
    let mut c = Config::default();
    c.query.listen = "[::1]:7700".parse().unwrap();
    c.validate().unwrap();
}

#[test]
fn short_or_malformed_tokens_are_rejected_without_echoing_them() {
    let mut c = Config::default();
    c.query.auth.tokens = vec![GOOD_TOKEN.into(), "secret123".into()];
    let text = invalid(&c);
    assert_eq!(
        text,
        "query.auth.tokens[1]: token too short (9 characters); use at least 16"
    );
    assert!(!text.contains("secret123"));

    c.query.auth.tokens = vec!["0123456789 abcdef".into()];
    assert_eq!(
        invalid(&c),
        "query.auth.tokens[0]: token must not contain whitespace or control characters"
    );

    // Exactly the minimum is fine.
    c.query.auth.tokens = vec!["x".repeat(MIN_TOKEN_LEN)];
    c.validate().unwrap();
}

#[test]
fn max_limit_must_be_at_least_default_limit() {
    let mut c = Config::default();
    c.query.max_limit = 50;
    assert_eq!(
        invalid(&c),
        "query.max_limit: must be at least query.default_limit (100), got 50"
    );

    let mut c = Config::default();
    c.query.default_limit = 0;
    assert_eq!(
        invalid(&c),
        "query.default_limit: must be at least 1, got 0"
    );
}

#[test]
fn multiline_settings_load_and_bad_patterns_are_named() {
    let file = TempConfig::new(
        "[[collector.sources]]\npaths = [\"/a/*.log\"]\nmultiline = \"date-prefix\"\n",
    );
    let c = file.load().unwrap();
    assert_eq!(c.collector.sources[0].multiline, Multiline::DatePrefix);
    let mut c = Config::default();
    c.collector.sources[1].multiline_start = Some("^(unclosed".into());
    let message = invalid(&c);
    assert!(
        message.starts_with("collector.sources[1].multiline_start: invalid regular expression"),
        "{message}"
    );
}

#[test]
fn configured_patterns_compiling_to_large_programs_are_refused_quickly() {
    // 11 bytes of pattern, about 200 MiB of program under the regex crate's own limit: refused
    // by the 1 MiB bound in milliseconds, not compiled for a second.
    let mut c = Config::default();
    c.collector.sources[1].multiline_start = Some(r"\d{200000}".into());
    let started = std::time::Instant::now();
    let message = invalid(&c);
    assert!(
        message.starts_with("collector.sources[1].multiline_start: invalid regular expression"),
        "{message}"
    );
    assert!(message.contains("size limit"), "{message}");
    assert!(
        started.elapsed() < std::time::Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    assert!(crate::compile_regex(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}").is_ok());
}

#[test]
fn tls_paths_must_not_be_empty() {
    let mut c = Config::default();
    c.query.tls = Some(TlsConfig {
        cert: PathBuf::new(),
        key: "/k.pem".into(),
        client_ca: None,
    });
    assert_eq!(invalid(&c), "query.tls.cert: must not be empty");
}

#[test]
fn data_dir_and_host_name_must_not_be_empty() {
    let c = Config::default().with_data_dir(PathBuf::new());
    assert_eq!(invalid(&c), "data_dir: must not be empty");

    let c = Config {
        host_name: Some(" ".into()),
        ..Config::default()
    };
    assert!(invalid(&c).starts_with("host_name: must not be empty"));
}

#[test]
fn log_level_must_be_a_filter() {
    for good in [
        "info",
        "TRACE",
        "off",
        "3",
        "warn,kestrel_collector=debug",
        "kestrel::bus=trace, tantivy=warn,",
        "info,my_crate[span_name{field=value}]=debug",
        "[{request_id}]=trace",
    ] {
        validate::check_log_filter(good).unwrap_or_else(|e| panic!("{good:?}: {e}"));
    }
    for bad in [
        "",
        " ",
        "verbose",
        "kestrel=loud",
        "=info",
        "kestrel",
        "a b=info",
        "x[y=info",
    ] {
        assert!(validate::check_log_filter(bad).is_err(), "{bad:?} accepted");
    }

    let mut c = Config::default();
    c.log.level = "inof".into();
    assert_eq!(
        invalid(&c),
        "log.level: invalid filter directive \"inof\": expected a level (off, error, warn, info, debug, trace) or TARGET=LEVEL"
    );
}

#[test]
fn all_problems_are_reported_together() {
    let (file, err) = load_toml(
        "[indexer]\ncommit_max_events = 0\nwriter_memory_mb = 1\n[query]\nmax_limit = 1\n",
    );
    assert!(matches!(err, ConfigError::Multiple(_)), "{err:?}");
    let lines: Vec<String> = err.to_string().lines().map(str::to_owned).collect();
    assert_eq!(
        lines,
        vec![
            file.msg("indexer.commit_max_events: must be at least 1, got 0"),
            file.msg("indexer.writer_memory_mb: must be at least 15, got 1"),
            file.msg("query.max_limit: must be at least query.default_limit (100), got 1"),
        ]
    );
    assert_eq!(err.errors().len(), 3);
}

// ------------------------------------------------------------ token files

#[test]
fn token_files_are_read_at_load_time() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(
        &tokens,
        format!("# operators\n{GOOD_TOKEN}\n\n  abcdefghijklmnopqrstuvwx  \n"),
    )
    .unwrap();
    let file = TempConfig::new(&format!(
        "[query]\nlisten = \"0.0.0.0:7700\"\n[query.auth]\ntokens = [\"{GOOD_TOKEN}\"]\ntoken_files = [{:?}]\n",
        tokens.display().to_string()
    ));
    let c = file.load().unwrap();
    assert_eq!(
        c.query.auth.tokens,
        vec![GOOD_TOKEN, "abcdefghijklmnopqrstuvwx"],
        "file tokens appended, duplicates skipped"
    );
}

#[test]
fn unreadable_empty_or_weak_token_files_are_errors() {
    let file = TempConfig::new("");
    let missing = file.dir().join("missing");
    let empty = file.dir().join("empty");
    let weak = file.dir().join("weak");
    std::fs::write(&empty, "# nothing here\n\n").unwrap();
    std::fs::write(&weak, format!("{GOOD_TOKEN}\nshort\n")).unwrap();
    std::fs::write(
        &file.path,
        format!(
            "[query.auth]\ntoken_files = [{:?}, {:?}, {:?}]\n",
            missing.display().to_string(),
            empty.display().to_string(),
            weak.display().to_string()
        ),
    )
    .unwrap();
    let err = file.load().unwrap_err();
    let lines: Vec<String> = err.to_string().lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert!(
        lines[0].starts_with(&file.msg(&format!(
            "query.auth.token_files[0]: cannot read {}: ",
            missing.display()
        ))),
        "{}",
        lines[0]
    );
    assert_eq!(
        lines[1],
        file.msg(&format!(
            "query.auth.token_files[1]: {}: contains no token",
            empty.display()
        ))
    );
    assert_eq!(
        lines[2],
        file.msg(&format!(
            "query.auth.token_files[2]: {}:2: token too short (5 characters); use at least 16",
            weak.display()
        ))
    );
}

#[test]
fn token_files_from_env_array() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("t");
    std::fs::write(&tokens, format!("{GOOD_TOKEN}\n")).unwrap();
    let prefix = "KTEST_TOKENFILES_";
    let _env = EnvGuard::set(
        prefix,
        &[
            ("QUERY__LISTEN", "0.0.0.0:7700"),
            (
                "QUERY__AUTH__TOKEN_FILES",
                &format!("[{}]", tokens.display()),
            ),
        ],
    );
    let c = load_with(None, prefix).unwrap();
    assert_eq!(c.query.auth.token_files, vec![tokens]);
    assert_eq!(c.query.auth.tokens, vec![GOOD_TOKEN]);
}

#[test]
fn falco_tokens_and_token_files_are_read_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("falco-tokens");
    std::fs::write(&tokens, "# falcosidekick\nfalcosidekick-token-0123456789\n").unwrap();
    let file = TempConfig::new(&format!(
        "[collector.falco]\ntokens = [\"{GOOD_TOKEN}\"]\ntoken_files = [{:?}]\n",
        tokens.display().to_string()
    ));
    let c = file.load().unwrap();
    assert_eq!(c.collector.falco.path, "/falco");
    assert_eq!(
        c.collector.falco.tokens,
        vec![GOOD_TOKEN, "falcosidekick-token-0123456789"]
    );
    assert!(c.query.auth.tokens.is_empty(), "query tokens untouched");
    let debug = format!("{c:?}");
    assert!(!debug.contains(GOOD_TOKEN), "{debug}");

    let weak = TempConfig::new("[collector.falco]\ntokens = [\"short\"]\n");
    let err = weak.load().unwrap_err().to_string();
    assert!(
        err.contains("collector.falco.tokens[0]: token too short"),
        "{err}"
    );
    assert!(!err.contains("\"short\""), "{err}");
    let clash = TempConfig::new("[collector.falco]\npath = \"/audit/webhook\"\n");
    let err = clash.load().unwrap_err().to_string();
    assert!(
        err.contains("collector.falco.path: must differ from collector.webhook.path"),
        "{err}"
    );
    let missing = TempConfig::new("[collector.falco]\ntoken_files = [\"/nonexistent/falco\"]\n");
    let err = missing.load().unwrap_err().to_string();
    assert!(
        err.contains("collector.falco.token_files[0]: cannot read /nonexistent/falco"),
        "{err}"
    );
}

#[test]
fn an_enabled_falco_endpoint_needs_the_webhook_listener_and_a_way_in() {
    assert!(!FalcoConfig::default().enabled, "off by default");
    let alone = TempConfig::new(&format!(
        "[collector.falco]\nenabled = true\ntokens = [\"{GOOD_TOKEN}\"]\n"
    ));
    let err = alone.load().unwrap_err().to_string();
    assert!(
        err.contains("collector.falco.enabled: needs collector.webhook.listen"),
        "{err}"
    );
    let open = TempConfig::new(
        "[collector.webhook]\nlisten = \"127.0.0.1:9443\"\n[collector.falco]\nenabled = true\n",
    );
    let err = open.load().unwrap_err().to_string();
    assert!(
        err.contains("collector.falco.tokens: no token (tokens, token_files) and no collector.webhook.tls.client_ca"),
        "{err}"
    );
    assert!(!err.contains("collector.falco.enabled"), "{err}");
    let good = TempConfig::new(&format!(
        "[collector.webhook]\nlisten = \"127.0.0.1:9443\"\n[collector.falco]\nenabled = true\ntokens = [\"{GOOD_TOKEN}\"]\n"
    ));
    let c = good.load().unwrap();
    assert!(c.collector.falco.enabled);
    // Disabled, nothing is required of it.
    let off = TempConfig::new("[collector.falco]\npath = \"/runtime\"\n");
    assert_eq!(off.load().unwrap().collector.falco.path, "/runtime");
}

#[test]
fn an_enabled_elasticsearch_api_needs_the_webhook_listener_and_a_way_in() {
    let defaults = ElasticsearchConfig::default();
    assert!(!defaults.enabled, "off by default");
    assert_eq!(defaults.recent_ids, 100_000);
    let alone = TempConfig::new(&format!(
        "[collector.elasticsearch]\nenabled = true\n[collector.ingest]\ntokens = [\"{GOOD_TOKEN}\"]\n"
    ));
    let err = alone.load().unwrap_err().to_string();
    assert!(
        err.contains("collector.elasticsearch.enabled: needs collector.webhook.listen"),
        "{err}"
    );
    let open = TempConfig::new(
        "[collector.webhook]\nlisten = \"127.0.0.1:9443\"\n[collector.elasticsearch]\nenabled = true\n",
    );
    let err = open.load().unwrap_err().to_string();
    assert!(
        err.contains("collector.ingest.tokens: no token (tokens, token_files) and no collector.webhook.tls.client_ca"),
        "{err}"
    );
    assert!(!err.contains("collector.elasticsearch.enabled"), "{err}");
    let good = TempConfig::new(&format!(
        "[collector.webhook]\nlisten = \"127.0.0.1:9443\"\n[collector.elasticsearch]\nenabled = true\nrecent_ids = 0\n[collector.ingest]\ntokens = [\"{GOOD_TOKEN}\"]\n"
    ));
    let c = good.load().unwrap();
    assert!(c.collector.elasticsearch.enabled);
    assert_eq!(c.collector.elasticsearch.recent_ids, 0);
    let unknown = TempConfig::new("[collector.elasticsearch]\nversion = \"8\"\n");
    let err = unknown.load().unwrap_err().to_string();
    assert!(err.contains("version"), "{err}");
}

// ------------------------------------------------------- collector.kubernetes

#[test]
fn kubernetes_is_off_by_default_with_a_five_minute_grace() {
    let k = KubernetesConfig::default();
    assert!(!k.enabled);
    assert_eq!(k.node_name, None);
    assert_eq!(k.kubeconfig, None);
    assert_eq!(k.deleted_pod_grace, Duration::from_secs(300));
}

#[test]
fn kubernetes_node_name_prefers_config_then_env() {
    assert_eq!(
        resolve_node_name(Some("node-a"), Some("node-b")).as_deref(),
        Some("node-a")
    );
    assert_eq!(
        resolve_node_name(None, Some("node-b")).as_deref(),
        Some("node-b")
    );
    assert_eq!(
        resolve_node_name(Some(" "), Some("node-b")).as_deref(),
        Some("node-b")
    );
    assert_eq!(resolve_node_name(None, Some("")), None);
    assert_eq!(resolve_node_name(None, None), None);
}

#[test]
fn kubernetes_settings_are_validated() {
    let mut c = Config::default();
    c.collector.kubernetes.enabled = true;
    c.collector.kubernetes.node_name = Some("node-a".into());
    c.collector.kubernetes.kubeconfig = Some(PathBuf::from("/etc/kestrel/kubeconfig"));
    c.validate().unwrap();

    c.collector.kubernetes.deleted_pod_grace = Duration::ZERO;
    assert!(invalid(&c).contains("collector.kubernetes.deleted_pod_grace"));
    c.collector.kubernetes.deleted_pod_grace = Duration::from_secs(60);

    c.collector.kubernetes.node_name = Some("  ".into());
    assert!(invalid(&c).contains("collector.kubernetes.node_name"));
    c.collector.kubernetes.node_name = Some("node-a".into());

    c.collector.kubernetes.kubeconfig = Some(PathBuf::new());
    assert!(invalid(&c).contains("collector.kubernetes.kubeconfig"));
}

#[test]
fn kubernetes_table_loads_from_a_file() {
    let file = TempConfig::new(
        r#"
[collector.kubernetes]
enabled = true
node_name = "worker-3"
kubeconfig = "/tmp/kubeconfig"
deleted_pod_grace = "90s"
"#,
    );
    let k = file.load().unwrap().collector.kubernetes;
    assert!(k.enabled);
    assert_eq!(k.node_name().as_deref(), Some("worker-3"));
    assert_eq!(k.kubeconfig, Some(PathBuf::from("/tmp/kubeconfig")));
    assert_eq!(k.deleted_pod_grace, Duration::from_secs(90));
}

// ------------------------------------------------------------ docker source

#[test]
fn docker_source_is_off_by_default_and_set_from_file_and_env() {
    let defaults = Config::default().collector.docker;
    assert!(!defaults.enabled);
    assert_eq!(defaults.host, "unix:///var/run/docker.sock");
    assert_eq!(defaults.deleted_grace, Duration::from_secs(300));

    let file = TempConfig::new(
        "[collector.docker]\nenabled = true\nhost = \"unix:///run/docker.sock\"\ndeleted_grace = \"30s\"\n",
    );
    let c = file.load().unwrap();
    assert!(c.collector.docker.enabled);
    assert_eq!(c.collector.docker.host, "unix:///run/docker.sock");
    assert_eq!(c.collector.docker.deleted_grace, Duration::from_secs(30));

    let prefix = "KTEST_DOCKER_";
    let _env = EnvGuard::set(
        prefix,
        &[
            ("COLLECTOR__DOCKER__ENABLED", "true"),
            ("COLLECTOR__DOCKER__HOST", "tcp://127.0.0.1:2375"),
        ],
    );
    let c = load_with(None, prefix).unwrap();
    assert!(c.collector.docker.enabled);
    assert_eq!(c.collector.docker.host, "tcp://127.0.0.1:2375");
}

#[test]
fn docker_source_rejects_bad_hosts_and_zero_grace() {
    for host in [
        "",
        "/var/run/docker.sock",
        "unix://",
        "npipe:////./pipe/docker",
    ] {
        let mut c = Config::default();
        c.collector.docker.host = host.into();
        let message = invalid(&c);
        assert!(
            message.starts_with("collector.docker.host: "),
            "{host:?}: {message}"
        );
    }
    let mut c = Config::default();
    c.collector.docker.deleted_grace = Duration::ZERO;
    assert_eq!(
        invalid(&c),
        "collector.docker.deleted_grace: must be greater than 0s"
    );
}

// ---------------------------------------------------------------- detection placeholders

#[test]
fn detection_placeholders_are_lists_of_strings_by_name() {
    let file = TempConfig::new(
        "[detection.placeholders]\nallowed_k8s_users = [\"admin\", \"system:*\"]\nnone = []\n",
    );
    let config = file.load().unwrap();
    assert_eq!(
        config.detection.placeholders,
        BTreeMap::from([
            (
                "allowed_k8s_users".to_owned(),
                vec!["admin".to_owned(), "system:*".to_owned()]
            ),
            ("none".to_owned(), vec![]),
        ])
    );
    assert!(Config::default().detection.placeholders.is_empty());
}

#[test]
fn detection_placeholders_must_be_lists_with_valid_names() {
    // A value that is not a list of strings.
    for bad in ["users = \"admin\"", "users = [1]", "users = { a = 1 }"] {
        let (_, err) = load_toml(&format!("[detection.placeholders]\n{bad}"));
        assert!(
            err.to_string().contains("detection.placeholders.users"),
            "{bad}: {err}"
        );
    }
    let (file, err) = load_toml("[detection.placeholders]\n\"allowed users\" = []");
    assert_eq!(
        err.to_string(),
        file.msg(
            "detection.placeholders.allowed users: ' ' is not allowed in a placeholder name \
             (ASCII letters, digits and _)"
        )
    );
    let (_, err) = load_toml("[detection.placeholders]\n\"\" = [\"x\"]");
    assert!(
        err.to_string()
            .contains("a placeholder name must not be empty"),
        "{err}"
    );
    // The detection table still refuses unknown keys.
    let (_, err) = load_toml("[detection]\nplaceholder = {}");
    assert_eq!(err.key(), Some("detection.placeholder"));
}

#[test]
fn detection_placeholders_from_the_environment_replace_the_file_s_list() {
    let prefix = "KTEST_PLACEHOLDERS_";
    let _env = EnvGuard::set(
        prefix,
        &[(
            "DETECTION__PLACEHOLDERS__ALLOWED_K8S_USERS",
            "[\"alice\", \"ci-*\"]",
        )],
    );
    let file = TempConfig::new(
        "[detection.placeholders]\nallowed_k8s_users = [\"admin\"]\nallowed_namespaces = [\"prod\"]\n",
    );
    let config = load_with(Some(&file.path), prefix).unwrap();
    assert_eq!(
        config.detection.placeholders["allowed_k8s_users"],
        ["alice", "ci-*"]
    );
    assert_eq!(
        config.detection.placeholders["allowed_namespaces"],
        ["prod"]
    );
}

// ---------------------------------------------------------------- detection filters

#[test]
fn detection_filters_are_paths_from_the_file_or_the_environment() {
    let file =
        TempConfig::new("[detection]\nfilters = [\"/etc/kestrel/filters\", \"local.yml\"]\n");
    let config = file.load().unwrap();
    assert_eq!(
        config.detection.filters,
        [
            PathBuf::from("/etc/kestrel/filters"),
            PathBuf::from("local.yml")
        ]
    );
    assert!(Config::default().detection.filters.is_empty());

    let prefix = "KTEST_FILTERS_";
    let _env = EnvGuard::set(prefix, &[("DETECTION__FILTERS", "[\"/srv/filters\"]")]);
    let config = load_with(Some(&file.path), prefix).unwrap();
    assert_eq!(config.detection.filters, [PathBuf::from("/srv/filters")]);
}

#[test]
fn detection_filters_must_be_distinct_non_empty_paths() {
    let (file, err) = load_toml("[detection]\nfilters = [\"a.yml\", \"\", \"a.yml\"]");
    let message = err.to_string();
    assert!(
        message.contains(&file.msg("detection.filters[1]: must not be empty")),
        "{message}"
    );
    assert!(
        message.contains("detection.filters[2]: a.yml is listed twice"),
        "{message}"
    );
    let (_, err) = load_toml("[detection]\nfilters = \"a.yml\"");
    assert!(err.to_string().contains("detection.filters"), "{err}");
}

#[test]
fn ingest_tokens_and_token_files_are_read_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("ingest-tokens");
    std::fs::write(&tokens, "# fluent-bit\nfluent-bit-token-0123456789\n").unwrap();
    let file = TempConfig::new(&format!(
        "[collector.ingest]\ntokens = [\"{GOOD_TOKEN}\"]\ntoken_files = [{:?}]\n",
        tokens.display().to_string()
    ));
    let c = file.load().unwrap();
    assert_eq!(
        c.collector.ingest.tokens,
        vec![GOOD_TOKEN, "fluent-bit-token-0123456789"]
    );
    assert!(
        c.collector.falco.tokens.is_empty(),
        "falco tokens untouched"
    );
    assert!(!format!("{c:?}").contains(GOOD_TOKEN));

    let weak = TempConfig::new("[collector.ingest]\ntokens = [\"short\"]\n");
    let err = weak.load().unwrap_err().to_string();
    assert!(
        err.contains("collector.ingest.tokens[0]: token too short"),
        "{err}"
    );
    let missing = TempConfig::new("[collector.ingest]\ntoken_files = [\"/nonexistent/t\"]\n");
    let err = missing.load().unwrap_err().to_string();
    assert!(
        err.contains("collector.ingest.token_files[0]: cannot read /nonexistent/t"),
        "{err}"
    );
}

#[test]
fn an_enabled_otlp_endpoint_needs_the_webhook_listener_and_a_way_in() {
    assert!(!OtlpConfig::default().enabled, "off by default");
    assert_eq!(OtlpConfig::default().path, "/v1/logs");
    let no_listener = TempConfig::new(&format!(
        "[collector.ingest]\ntokens = [\"{GOOD_TOKEN}\"]\n[collector.otlp]\nenabled = true\n"
    ));
    let err = no_listener.load().unwrap_err().to_string();
    assert!(
        err.contains("collector.otlp.enabled: needs collector.webhook.listen"),
        "{err}"
    );
    let no_token = TempConfig::new(
        "[collector.webhook]\nlisten = \"127.0.0.1:9443\"\n[collector.otlp]\nenabled = true\n",
    );
    let err = no_token.load().unwrap_err().to_string();
    assert!(
        err.contains("collector.otlp.enabled: no collector.ingest.tokens (tokens, token_files) and no collector.webhook.tls.client_ca"),
        "{err}"
    );
    // Falco's tokens do not let OTLP exporters in.
    let falco_token = TempConfig::new(&format!(
        "[collector.webhook]\nlisten = \"127.0.0.1:9443\"\n[collector.falco]\ntokens = [\"{GOOD_TOKEN}\"]\n[collector.otlp]\nenabled = true\n"
    ));
    assert!(falco_token.load().is_err());
    let good = TempConfig::new(&format!(
        "[collector.webhook]\nlisten = \"127.0.0.1:9443\"\n[collector.ingest]\ntokens = [\"{GOOD_TOKEN}\"]\n[collector.otlp]\nenabled = true\npath = \"/otlp/v1/logs\"\n"
    ));
    let c = good.load().unwrap();
    assert!(c.collector.otlp.enabled);
    assert_eq!(c.collector.otlp.path, "/otlp/v1/logs");

    let relative = TempConfig::new("[collector.otlp]\npath = \"v1/logs\"\n");
    let err = relative.load().unwrap_err().to_string();
    assert!(
        err.contains("collector.otlp.path: must start with '/'"),
        "{err}"
    );
    let clash = TempConfig::new("[collector.otlp]\npath = \"/falco\"\n");
    let err = clash.load().unwrap_err().to_string();
    assert!(
        err.contains("collector.otlp.path: must differ from collector.falco.path"),
        "{err}"
    );
    let unknown = TempConfig::new("[collector.otlp]\ntokens = []\n");
    let err = unknown.load().unwrap_err().to_string();
    assert!(err.contains("tokens"), "{err}");
}

#[test]
fn push_endpoint_paths_must_not_shadow_the_elasticsearch_api() {
    let file = TempConfig::new(&format!(
        "[collector.webhook]\nlisten = \"127.0.0.1:9000\"\npath = \"/_bulk\"\n\
         [collector.elasticsearch]\nenabled = true\n\
         [collector.otlp]\nenabled = true\npath = \"/logs/_bulk\"\n\
         [collector.ingest]\ntokens = [\"{GOOD_TOKEN}\"]\n"
    ));
    let err = file.load().unwrap_err().to_string();
    assert!(
        err.contains("collector.webhook.path: \"/_bulk\" is a path of the Elasticsearch API"),
        "{err}"
    );
    assert!(
        err.contains("collector.otlp.path: \"/logs/_bulk\""),
        "{err}"
    );
    let fine = TempConfig::new(&format!(
        "[collector.webhook]\nlisten = \"127.0.0.1:9000\"\n\
         [collector.elasticsearch]\nenabled = true\n\
         [collector.otlp]\nenabled = true\n\
         [collector.ingest]\ntokens = [\"{GOOD_TOKEN}\"]\n"
    ));
    fine.load().unwrap();
}

#[test]
fn the_forward_input_is_off_by_default_and_loads_its_keys() {
    let c = Config::default();
    assert_eq!(c.collector.forward.listen, None);
    assert_eq!(c.collector.forward.max_chunk_bytes, 32 * 1024 * 1024);
    let file = TempConfig::new(
        "[collector.forward]\nlisten = \"0.0.0.0:24224\"\nshared_key = \"forward-secret\"\n\
         max_chunk_bytes = 2048\n[[collector.forward.users]]\nusername = \"bit\"\npassword = \"pw\"\n",
    );
    let c = file.load().unwrap();
    let forward = &c.collector.forward;
    assert_eq!(forward.listen, Some("0.0.0.0:24224".parse().unwrap()));
    assert_eq!(forward.shared_key.as_deref(), Some("forward-secret"));
    assert_eq!(forward.users[0].username, "bit");
    assert_eq!(forward.max_chunk_bytes, 2048);
    let debug = format!("{c:?}");
    assert!(!debug.contains("forward-secret"), "{debug}");
    assert!(!debug.contains("\"pw\""), "{debug}");
}

#[test]
fn a_forward_only_collector_needs_no_sources() {
    let mut c = Config::default();
    c.collector.sources.clear();
    c.collector.forward.listen = Some("127.0.0.1:24224".parse().unwrap());
    c.validate().unwrap();
}

#[test]
fn an_open_forward_listener_off_loopback_is_refused() {
    let mut c = Config::default();
    c.collector.forward.listen = Some("0.0.0.0:24224".parse().unwrap());
    assert!(
        invalid(&c).starts_with(
            "collector.forward.listen: listening on 0.0.0.0:24224 (not loopback) requires collector.forward.shared_key"
        ),
        "{}",
        invalid(&c)
    );
    c.collector.forward.tls = Some(TlsConfig {
        cert: "/c.pem".into(),
        key: "/k.pem".into(),
        client_ca: None,
    });
    assert!(
        invalid(&c).starts_with("collector.forward.listen"),
        "TLS alone is not enough"
    );
    c.collector.forward.tls.as_mut().unwrap().client_ca = Some("/ca.pem".into());
    c.validate().unwrap();
    c.collector.forward.tls = None;
    c.collector.forward.shared_key = Some("forward-secret".into());
    c.validate().unwrap();
    c.collector.forward.listen = Some("127.0.0.1:24224".parse().unwrap());
    c.collector.forward.shared_key = None;
    c.validate().unwrap();
}

#[test]
fn forward_limits_and_users_are_checked_by_key() {
    let mut c = Config::default();
    c.collector.forward.max_chunk_bytes = 10;
    assert_eq!(
        invalid(&c),
        "collector.forward.max_chunk_bytes: must be at least 1024, got 10"
    );
    let mut c = Config::default();
    c.collector.forward.users.push(ForwardUser {
        username: "bit".into(),
        password: "pw".into(),
    });
    assert!(
        invalid(&c).starts_with("collector.forward.users: needs collector.forward.shared_key"),
        "{}",
        invalid(&c)
    );
    c.collector.forward.shared_key = Some(" ".into());
    assert!(invalid(&c).starts_with("collector.forward.shared_key: must not be empty"));
}

#[test]
fn the_forward_shared_key_file_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("forward.key");
    std::fs::write(&key, "# the fleet's key\n\nkey-from-a-file\n").unwrap();
    let file = TempConfig::new(&format!(
        "[collector.forward]\nlisten = \"0.0.0.0:24224\"\nshared_key_file = {:?}\n",
        key.display().to_string()
    ));
    let c = file.load().unwrap();
    assert_eq!(
        c.collector.forward.shared_key.as_deref(),
        Some("key-from-a-file")
    );
    let missing =
        TempConfig::new("[collector.forward]\nshared_key_file = \"/nonexistent/forward.key\"\n");
    let err = missing.load().unwrap_err().to_string();
    assert!(
        err.contains("collector.forward.shared_key_file: cannot read /nonexistent/forward.key"),
        "{err}"
    );
    let both = TempConfig::new(&format!(
        "[collector.forward]\nshared_key = \"x\"\nshared_key_file = {:?}\n",
        key.display().to_string()
    ));
    let err = both.load().unwrap_err().to_string();
    assert!(
        err.contains("collector.forward.shared_key_file: set either"),
        "{err}"
    );
}

#[test]
fn a_metrics_listener_off_loopback_requires_a_token() {
    let mut c = Config::default();
    c.metrics.listen = Some("0.0.0.0:9464".parse().unwrap());
    let error = c.validate().unwrap_err().to_string();
    assert!(
        error.contains("metrics.require_token: metrics.listen = 0.0.0.0:9464 (not loopback) requires metrics.require_token = true"),
        "{error}"
    );
    c.metrics.require_token = true;
    c.validate().unwrap();
}

#[test]
fn rate_limits_are_at_least_one() {
    let mut c = Config::default();
    c.query.auth.rate_limit = Some(crate::RateLimitConfig {
        per_second: 0,
        burst: Some(0),
    });
    let error = c.validate().unwrap_err().to_string();
    assert!(
        error.contains("query.auth.rate_limit.per_second: must be at least 1, got 0"),
        "{error}"
    );
    assert!(
        error.contains("query.auth.rate_limit.burst: must be at least 1, got 0"),
        "{error}"
    );
}

#[test]
fn oidc_refuses_none_hmac_and_long_leeways() {
    let mut c = Config::default();
    c.query.auth.oidc = Some(crate::OidcConfig {
        issuer: "https://issuer".into(),
        audience: "kestrel".into(),
        algorithms: vec!["RS256".into(), "none".into(), "HS256".into()],
        leeway: Duration::from_secs(600),
        mappings: vec![crate::OidcMappingConfig {
            value: "sre".into(),
            role: "root".into(),
            namespaces: Vec::new(),
        }],
        ..Default::default()
    });
    let error = c.validate().unwrap_err().to_string();
    for expected in [
        "query.auth.oidc.algorithms[1]: \"none\" refused",
        "query.auth.oidc.algorithms[2]: \"HS256\" refused",
        "query.auth.oidc.leeway: at most 5 minutes",
        "query.auth.oidc.mappings[0].role: unknown role \"root\"",
    ] {
        assert!(error.contains(expected), "{expected} not in {error}");
    }
}

// ---------------------------------------------------------------- redaction

#[test]
fn redaction_is_on_by_default_and_configurable_from_a_file() {
    assert!(Config::default().collector.redaction.enabled);
    let file = TempConfig::new(
        r#"
[collector.redaction]
enabled = false
key_file = "/etc/kestrel/redaction.key"

[[collector.redaction.patterns]]
name = "ticket"
regex = 'TCK-([0-9]{6})'

[collector.redaction.allow]
webhook = { values = ["AKIAIOSFODNN7EXAMPLE"] }
all = { patterns = ["sk_test_[a-z0-9]+"] }
"#,
    );
    let c = file.load().unwrap().collector.redaction;
    assert!(!c.enabled);
    assert_eq!(c.patterns[0].regex, "TCK-([0-9]{6})");
    assert_eq!(c.allow["webhook"].values, ["AKIAIOSFODNN7EXAMPLE"]);
    assert_eq!(c.allow["all"].patterns, ["sk_test_[a-z0-9]+"]);
}

#[test]
fn redaction_errors_name_the_key() {
    let mut c = Config::default();
    c.collector
        .redaction
        .patterns
        .push(crate::RedactionPattern {
            name: "ticket".into(),
            regex: "TCK-([0-9]{6}".into(),
        });
    let err = invalid(&c);
    assert!(
        err.starts_with("collector.redaction.patterns[0].regex: invalid regular expression"),
        "{err}"
    );

    let mut c = Config::default();
    c.collector
        .redaction
        .patterns
        .push(crate::RedactionPattern {
            name: "Bad Name".into(),
            regex: "x".into(),
        });
    let err = invalid(&c);
    assert!(
        err.starts_with("collector.redaction.patterns[0].name: 'B' is not allowed"),
        "{err}"
    );

    let mut c = Config::default();
    for _ in 0..2 {
        c.collector
            .redaction
            .patterns
            .push(crate::RedactionPattern {
                name: "twice".into(),
                regex: "x".into(),
            });
    }
    let err = invalid(&c);
    assert!(
        err.starts_with("collector.redaction.patterns[1].name: duplicate"),
        "{err}"
    );

    let mut c = Config::default();
    c.collector
        .redaction
        .allow
        .insert("kafka".into(), crate::RedactionAllow::default());
    let err = invalid(&c);
    assert!(
        err.starts_with("collector.redaction.allow.kafka: unknown source \"kafka\""),
        "{err}"
    );

    let mut c = Config::default();
    c.collector.redaction.allow.insert(
        "otlp".into(),
        crate::RedactionAllow {
            values: vec![],
            patterns: vec!["(".into()],
        },
    );
    let err = invalid(&c);
    assert!(
        err.starts_with("collector.redaction.allow.otlp.patterns[0]: invalid regular expression"),
        "{err}"
    );
}

#[test]
fn the_audit_webhook_off_loopback_needs_client_certificates_or_an_ingest_token() {
    let mut c = Config::default();
    c.collector.webhook.listen = Some("0.0.0.0:8443".parse().unwrap());
    assert_eq!(
        invalid(&c),
        "collector.webhook.listen: listening on 0.0.0.0:8443 (not loopback) requires \
         collector.webhook.tls.client_ca or collector.ingest.tokens (or token_files)"
    );

    // TLS without a client CA authenticates nobody.
    c.collector.webhook.tls = Some(tls_config("/tls.crt", "/tls.key", None));
    assert!(invalid(&c).starts_with("collector.webhook.listen: listening on 0.0.0.0:8443"));
    c.collector.webhook.tls = Some(tls_config(
        "/tls.crt",
        "/tls.key",
        Some("/apiserver-ca.crt"),
    ));
    c.validate().unwrap();

    c.collector.webhook.tls = None;
    c.collector.ingest.tokens = vec!["webhook-token-0123456789".into()];
    c.validate().unwrap();
    c.collector.ingest.tokens.clear();
    c.collector.ingest.token_files = vec!["/run/secrets/ingest".into()];
    c.validate().unwrap();

    // Loopback needs neither.
    let mut c = Config::default();
    c.collector.webhook.listen = Some("[::1]:8443".parse().unwrap());
    c.validate().unwrap();
}

fn tls_config(cert: &str, key: &str, client_ca: Option<&str>) -> crate::TlsConfig {
    crate::TlsConfig {
        cert: cert.into(),
        key: key.into(),
        client_ca: client_ca.map(Into::into),
    }
}

#[test]
fn kafka_properties_cannot_weaken_the_delivery_guarantees() {
    for property in [
        "enable.idempotence",
        "acks",
        "delivery.timeout.ms",
        "message.timeout.ms",
    ] {
        let mut c = Config::default();
        c.bus.kind = BusKind::Kafka;
        c.bus.kafka.brokers = "kafka:9092".into();
        c.bus.kafka.properties.insert(property.into(), "1".into());
        let err = invalid(&c);
        assert!(
            err.starts_with(&format!(
                "bus.kafka.properties.\"{property}\": cannot be overridden: "
            )),
            "{err}"
        );
    }
}

// ---------------------------------------------------------------- seal

#[test]
fn the_seal_key_is_read_from_a_file_outside_the_data_directory() {
    let file = TempConfig::new(
        "data_dir = \"/var/lib/kestrel\"\n[seal]\nkey_file = \"/etc/kestrel/seal.pem\"\npublic_keys = [\"/etc/kestrel/seal-2025.pub.pem\"]\n",
    );
    let c = file.load().unwrap().seal;
    assert_eq!(
        c.key_file.as_deref(),
        Some(Path::new("/etc/kestrel/seal.pem"))
    );
    assert_eq!(c.public_keys.len(), 1);

    for inside in [
        "/var/lib/kestrel/seal.pem",
        "/var/lib/kestrel/./keys/seal.pem",
    ] {
        let mut c = Config {
            data_dir: PathBuf::from("/var/lib/kestrel"),
            ..Config::default()
        };
        c.seal.key_file = Some(PathBuf::from(inside));
        let err = invalid(&c);
        assert!(
            err.starts_with("seal.key_file: ") && err.contains("inside data_dir"),
            "{err}"
        );
    }
    let mut c = Config::default();
    c.seal.key_file = Some(PathBuf::from("data/seal.pem"));
    assert!(invalid(&c).contains("inside data_dir"));
    c.seal.key_file = Some(PathBuf::from("/etc/kestrel/data/seal.pem"));
    c.validate().unwrap();
}
