//! Typed configuration for Kestrel.
//!
//! A [`Config`] is built in three layers, each overriding the one before:
//!
//! 1. the built-in defaults ([`Config::default()`]; every field documents its
//!    default, and `config/kestrel.example.toml` lists them all),
//! 2. an optional TOML file,
//! 3. environment variables named `KESTREL_<KEY>`, where `__` separates
//!    nesting levels: `KESTREL_DATA_DIR=/x` sets `data_dir`,
//!    `KESTREL_QUERY__LISTEN=0.0.0.0:8000` sets `query.listen`.
//!
//! and is then checked by [`Config::validate()`]. [`load()`] does all of it.
//!
//! Unknown keys are errors, in the file and in `KESTREL_*` variables alike.
//! Every error names where the bad value came from (the file or the
//! environment variable), the key path and the problem, for example
//! `config.toml: query.listen: invalid socket address "localhost:x" (...)`.
//!
//! Durations are written the [`humantime`] way: `"250ms"`, `"5s"`,
//! `"1h 30m"`, `"7days"`.

#![warn(missing_docs)]

mod error;
mod load;
mod serde_helpers;
mod validate;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use error::ConfigError;
pub use load::load;

/// Largest compiled program of a regular expression taken from the configuration
/// (`multiline_start`, redaction patterns and allow-lists): 1 MiB, like the query language's.
/// A short pattern with large repetitions (`\d{200000}`) is refused when the configuration is
/// validated, instead of costing seconds and megabytes to compile.
pub const MAX_REGEX_PROGRAM_BYTES: usize = 1 << 20;

/// Compiles a regular expression of the configuration under [`MAX_REGEX_PROGRAM_BYTES`].
pub fn compile_regex(pattern: &str) -> Result<regex::Regex, regex::Error> {
    regex::RegexBuilder::new(pattern)
        .size_limit(MAX_REGEX_PROGRAM_BYTES)
        .build()
}

/// Default port of the query API.
pub const DEFAULT_QUERY_PORT: u16 = 7700;

/// Minimum length, in characters, of a bearer token in `query.auth`.
pub const MIN_TOKEN_LEN: usize = 16;

/// The whole Kestrel configuration.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Directory holding all of Kestrel's state: the index, dead letters and
    /// collector checkpoints (see [`Config::index_dir()`] and friends).
    /// Default: `./data`.
    pub data_dir: PathBuf,
    /// Name of this node, stamped on every collected event. Default: `None`,
    /// meaning the operating system's host name, see [`Config::host_name()`].
    pub host_name: Option<String>,
    /// The collector tails log files and turns them into events.
    pub collector: CollectorConfig,
    /// The bus carries events from collectors to indexers.
    pub bus: BusConfig,
    /// The indexer writes events into the full-text index.
    pub indexer: IndexerConfig,
    /// The query service answers searches over HTTP.
    pub query: QueryConfig,
    /// Kestrel's own diagnostic logging.
    pub log: LogConfig,
    /// Prometheus metrics.
    pub metrics: MetricsConfig,
    /// Real-time detection.
    pub detection: DetectionConfig,
    /// Where alerts are delivered.
    pub alerting: AlertingConfig,
    /// The key that signs sealed partitions and exports.
    pub seal: SealConfig,
    /// How long events, alerts, dead letters and the audit trail are kept.
    pub retention: RetentionConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./data"),
            host_name: None,
            collector: CollectorConfig::default(),
            bus: BusConfig::default(),
            indexer: IndexerConfig::default(),
            query: QueryConfig::default(),
            log: LogConfig::default(),
            metrics: MetricsConfig::default(),
            detection: DetectionConfig::default(),
            alerting: AlertingConfig::default(),
            seal: SealConfig::default(),
            retention: RetentionConfig::default(),
        }
    }
}

/// How long Kestrel keeps what it stores (`[retention]`).
///
/// Collected events are routed when indexed to the partition of their retention class: the
/// longest `keep` among the rules they match, or the default class when they match none. A
/// rule change thus applies to events indexed after it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// How long events no rule matches are kept. Default: unset, keep forever.
    #[serde(with = "serde_helpers::option_duration")]
    pub default: Option<Duration>,
    /// Rules: events matching one are kept its `keep`; among several, the longest wins.
    /// Default: none.
    pub rules: Vec<RetentionRule>,
    /// How long Kestrel's own audit trail (`kestrel_audit` partitions) is kept; never shorter
    /// than `default`. Default: `400d`.
    #[serde(with = "serde_helpers::duration")]
    pub audit: Duration,
    /// How long alerts (`alerts/alerts.ndjson`) are kept after they were raised. Default:
    /// unset, keep forever.
    #[serde(with = "serde_helpers::option_duration")]
    pub alerts: Option<Duration>,
    /// How long dead letters (events that could not be indexed) are kept. Default: unset,
    /// keep forever.
    #[serde(with = "serde_helpers::option_duration")]
    pub dead_letters: Option<Duration>,
    /// How long the alert outbox keeps delivered and dead entries after their last attempt
    /// (pending ones are kept until delivered). Default: unset, keep forever.
    #[serde(with = "serde_helpers::option_duration")]
    pub outbox: Option<Duration>,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            default: None,
            rules: Vec::new(),
            audit: Duration::from_secs(400 * 86_400),
            alerts: None,
            dead_letters: None,
            outbox: None,
        }
    }
}

/// One retention rule (`[[retention.rules]]`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionRule {
    /// Name, unique among the rules; deletions and `kestrel retention plan` name it.
    pub name: String,
    /// The events it keeps, in Kestrel's query language (`event.kind:k8s_audit`).
    #[serde(rename = "match")]
    pub query: String,
    /// How long they are kept after their day ends, in whole days (`400d`).
    #[serde(with = "serde_helpers::duration")]
    pub keep: Duration,
}

impl Config {
    /// Lifetime of the default retention class: `retention.default`, or the deprecated
    /// `indexer.retention`.
    pub fn default_retention(&self) -> Option<Duration> {
        self.retention.default.or(self.indexer.retention)
    }

    /// Lifetime of Kestrel's own audit trail: `retention.audit`, or the deprecated
    /// `indexer.audit_retention` when set and `retention.audit` is left at its default.
    pub fn audit_retention(&self) -> Duration {
        if self.retention.audit != RetentionConfig::default().audit {
            return self.retention.audit;
        }
        self.indexer.audit_retention.unwrap_or(self.retention.audit)
    }

    /// Warnings about deprecated keys in use, for the log at start.
    pub fn deprecations(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        match (self.indexer.retention, self.retention.default) {
            (Some(_), Some(_)) => warnings.push(
                "indexer.retention is deprecated and ignored: retention.default is set".to_owned(),
            ),
            (Some(_), None) => {
                warnings.push("indexer.retention is deprecated: use retention.default".to_owned())
            }
            _ => {}
        }
        if self.indexer.audit_retention.is_some() {
            warnings.push(
                "indexer.audit_retention is deprecated: use retention.audit (which wins when set)"
                    .to_owned(),
            );
        }
        warnings
    }
}

/// The Ed25519 key that signs the manifests of sealed partitions and of exports
/// (`[seal]`). Keep it where the indexer's data volume cannot reach it: validation refuses a
/// key file inside `data_dir`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SealConfig {
    /// A PKCS#8 PEM private key file (`openssl genpkey -algorithm ed25519`). Default: unset.
    pub key_file: Option<PathBuf>,
    /// An environment variable holding the PEM text; when set, it is used instead of
    /// `key_file`. Default: unset.
    pub key_env: Option<String>,
    /// Public keys (PEM) of earlier signing keys, so that what they signed still verifies
    /// after a rotation. Default: none.
    pub public_keys: Vec<PathBuf>,
    /// How long after its UTC day ends a partition stays open for late events before it is
    /// sealed. Default: `1h`.
    #[serde(with = "serde_helpers::duration")]
    pub grace: Duration,
    /// How often the open partitions and the alert files get a manifest (what was
    /// committed since the last one is not covered yet). Default: `1h`.
    #[serde(with = "serde_helpers::duration")]
    pub checkpoint_interval: Duration,
}

impl Default for SealConfig {
    fn default() -> Self {
        SealConfig {
            key_file: None,
            key_env: None,
            public_keys: Vec::new(),
            grace: Duration::from_secs(3600),
            checkpoint_interval: Duration::from_secs(3600),
        }
    }
}

impl SealConfig {
    /// Whether a signing key is configured (partitions are sealed).
    pub fn enabled(&self) -> bool {
        self.key_file.is_some() || self.key_env.is_some()
    }
}

impl Config {
    /// Checks the values against each other and against their allowed ranges.
    ///
    /// Every problem found is reported: one as a [`ConfigError::Invalid`],
    /// several as a [`ConfigError::Multiple`]. This does not touch the file
    /// system (`query.auth.token_files` are read by [`load()`], or by
    /// [`Config::read_token_files()`]).
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate::validate(self)
    }

    /// Returns the configuration with `data_dir` replaced, e.g. from a
    /// command-line flag.
    pub fn with_data_dir(mut self, dir: PathBuf) -> Self {
        self.data_dir = dir;
        self
    }

    /// Directory of the full-text index: `<data_dir>/index`.
    pub fn index_dir(&self) -> PathBuf {
        self.data_dir.join("index")
    }

    /// Directory where events that could not be indexed are kept:
    /// `<data_dir>/dead-letters`.
    pub fn dead_letter_dir(&self) -> PathBuf {
        self.data_dir.join("dead-letters")
    }

    /// Directory of the collector's read positions: `<data_dir>/checkpoints`.
    pub fn checkpoint_dir(&self) -> PathBuf {
        self.data_dir.join("checkpoints")
    }

    /// The node name to stamp on events: `host_name` if set, else the
    /// `HOSTNAME` environment variable, else the contents of `/etc/hostname`,
    /// else `"localhost"` (empty values are skipped at each step).
    pub fn host_name(&self) -> String {
        if let Some(name) = non_empty(self.host_name.as_deref()) {
            return name.to_owned();
        }
        os_host_name(
            std::env::var("HOSTNAME").ok().as_deref(),
            Path::new("/etc/hostname"),
        )
    }

    /// Reads every file in `query.auth.token_files` and appends the tokens
    /// found there to `query.auth.tokens` (skipping ones already present);
    /// the same for `collector.falco.token_files` and `collector.falco.tokens`; and reads
    /// `collector.forward.shared_key_file` into `collector.forward.shared_key`.
    ///
    /// A token file holds one token per line; blank lines and lines starting
    /// with `#` are ignored. [`load()`] calls this before validating.
    pub fn read_token_files(&mut self) -> Result<(), ConfigError> {
        validate::read_token_files(self)
    }
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// Host name from the `HOSTNAME` value, then the file, then `"localhost"`.
fn os_host_name(env_value: Option<&str>, etc_hostname: &Path) -> String {
    if let Some(name) = non_empty(env_value) {
        return name.to_owned();
    }
    if let Ok(contents) = std::fs::read_to_string(etc_hostname) {
        if let Some(name) = non_empty(contents.lines().next()) {
            return name.to_owned();
        }
    }
    "localhost".to_owned()
}

/// Settings of the collector, which tails container and audit log files.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CollectorConfig {
    /// Whether this process runs a collector. Default: `true`.
    pub enabled: bool,
    /// The files to tail. Default: one `docker` source
    /// (`/var/lib/docker/containers/*/*-json.log`), one `cri` source
    /// (`/var/log/pods/*/*/*.log`) and one `k8s-audit` source
    /// (`/var/log/kubernetes/audit/*.log` and the `*.log.gz` files of compressed
    /// rotations).
    pub sources: Vec<SourceConfig>,
    /// How often to look for new files and new data. Default: `250ms`.
    #[serde(with = "serde_helpers::duration")]
    pub poll_interval: Duration,
    /// Largest event, in bytes; longer lines are truncated. Default: 1 MiB
    /// (`1048576`). At least 1024.
    pub max_event_bytes: usize,
    /// How long to wait for the rest of a partial (split) line before emitting
    /// what was read so far. Default: `5s`.
    #[serde(with = "serde_helpers::duration")]
    pub partial_flush_timeout: Duration,
    /// Most events sent to the bus in one batch. Default: `1000`.
    pub batch_max_events: usize,
    /// Pod metadata from the Kubernetes API.
    pub kubernetes: KubernetesConfig,
    /// Containers discovered and described through the Docker API.
    pub docker: DockerConfig,
    /// The endpoint of the apiserver's audit webhook backend.
    pub webhook: WebhookConfig,
    /// Falco alerts posted to the webhook listener.
    pub falco: FalcoConfig,
    /// Who may post to the collector's push endpoints (Elasticsearch bulk, OTLP logs).
    pub ingest: IngestConfig,
    /// The Elasticsearch-compatible bulk API on the webhook listener.
    pub elasticsearch: ElasticsearchConfig,
    /// OpenTelemetry logs exported over OTLP/HTTP to the webhook listener.
    pub otlp: OtlpConfig,
    /// The Fluentd Forward protocol input (Docker's `fluentd` logging driver, Fluent Bit and
    /// Fluentd `forward` outputs).
    pub forward: ForwardConfig,
    /// Secrets replaced by markers before events leave the node.
    pub redaction: RedactionConfig,
}

/// The sources an allow-list of `collector.redaction.allow` can name (`all`: every one).
pub const REDACTION_SOURCES: [&str; 7] = [
    "all",
    "files",
    "webhook",
    "falco",
    "elasticsearch",
    "otlp",
    "forward",
];

/// Redaction of secrets in the collector: every source's events and dead letters, before they
/// are published or stored. Each secret becomes `[REDACTED:<kind>:<8 hex>]`, the hex digits
/// those of HMAC-SHA256(key, secret).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedactionConfig {
    /// Whether secrets are redacted. Default: `true`.
    pub enabled: bool,
    /// A file holding the HMAC key (at least 16 bytes, surrounding whitespace ignored).
    /// Default: unset: `<data_dir>/redaction.key`, created with a random key (mode 0600) on
    /// first start.
    pub key_file: Option<PathBuf>,
    /// An environment variable holding the key; when set, it is used instead of `key_file`.
    /// Default: unset.
    pub key_env: Option<String>,
    /// Extra patterns, named in their markers. Default: none.
    pub patterns: Vec<RedactionPattern>,
    /// Values that stay, by source (`files`, `webhook`, `falco`, `elasticsearch`, `otlp`,
    /// `forward`, or `all`). Default: none.
    pub allow: BTreeMap<String, RedactionAllow>,
}

impl Default for RedactionConfig {
    fn default() -> Self {
        RedactionConfig {
            enabled: true,
            key_file: None,
            key_env: None,
            patterns: Vec::new(),
            allow: BTreeMap::new(),
        }
    }
}

impl fmt::Debug for RedactionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedactionConfig")
            .field("enabled", &self.enabled)
            .field("key_file", &self.key_file)
            .field("key_env", &self.key_env)
            .field("patterns", &self.patterns)
            .field("allow", &format_args!("{} lists", self.allow.len()))
            .finish()
    }
}

/// An extra pattern of `collector.redaction.patterns`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedactionPattern {
    /// The kind named in the markers: lowercase ASCII letters, digits and `_`.
    pub name: String,
    /// A regular expression; its first capture group is the secret if it has one, else the
    /// whole match.
    pub regex: String,
}

/// An allow-list of `collector.redaction.allow`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedactionAllow {
    /// Values kept as they are. Default: none.
    pub values: Vec<String>,
    /// Regular expressions; a value one of them matches entirely is kept. Default: none.
    pub patterns: Vec<String>,
}

/// The Fluentd Forward protocol input: a TCP (or TLS) listener for Docker's `fluentd` logging
/// driver and the `forward` outputs of Fluent Bit and Fluentd.
///
/// Listening on an address other than loopback requires a way to tell senders apart:
/// `shared_key` (or `shared_key_file`), or `tls.client_ca`. Its `Debug` output hides the key
/// and the passwords.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ForwardConfig {
    /// Address to listen on, `IP:PORT` (Fluentd's port is 24224). Default: unset (no forward
    /// input).
    #[serde(deserialize_with = "serde_helpers::optional_socket_addr")]
    pub listen: Option<SocketAddr>,
    /// The key senders prove they know in the `HELO`/`PING`/`PONG` handshake (Fluent Bit's
    /// `Shared_Key`, Fluentd's `<security> shared_key`). After [`load()`] this also holds the
    /// key read from `shared_key_file`. Default: unset (no handshake).
    pub shared_key: Option<String>,
    /// A file holding the shared key (its first non-blank line), read when the configuration
    /// is loaded. Default: unset.
    pub shared_key_file: Option<PathBuf>,
    /// Users a sender must also name in the handshake (Fluentd's `<user>`, Fluent Bit's
    /// `Username`/`Password`); needs a shared key. Default: none (no user check).
    pub users: Vec<ForwardUser>,
    /// Serve over TLS; with `client_ca`, only senders holding a certificate signed by it are
    /// served. Default: unset (plain TCP).
    pub tls: Option<TlsConfig>,
    /// Largest forward message (one chunk as sent, and once decompressed), in bytes; a larger
    /// one is refused (dead letter) and its connection closed. Default: 32 MiB (`33554432`).
    /// At least 1024.
    pub max_chunk_bytes: usize,
    /// Most connections served at once; more wait to be accepted. Default: `1024`.
    pub max_connections: usize,
}

/// A user of the forward input's handshake.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardUser {
    /// The name the sender gives.
    pub username: String,
    /// The password whose salted SHA-512 digest the sender gives.
    pub password: String,
}

impl Default for ForwardConfig {
    fn default() -> Self {
        ForwardConfig {
            listen: None,
            shared_key: None,
            shared_key_file: None,
            users: Vec::new(),
            tls: None,
            max_chunk_bytes: 32 * 1024 * 1024,
            max_connections: 1024,
        }
    }
}

impl fmt::Debug for ForwardConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let users: Vec<&str> = self.users.iter().map(|u| u.username.as_str()).collect();
        f.debug_struct("ForwardConfig")
            .field("listen", &self.listen)
            .field(
                "shared_key",
                &self.shared_key.as_ref().map(|_| "[redacted]"),
            )
            .field("shared_key_file", &self.shared_key_file)
            .field("users", &users)
            .field("tls", &self.tls)
            .field("max_chunk_bytes", &self.max_chunk_bytes)
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

/// The receiving end of the Kubernetes apiserver's audit webhook.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookConfig {
    /// Address to listen on, `IP:PORT`. Default: unset (no webhook endpoint).
    #[serde(deserialize_with = "serde_helpers::optional_socket_addr")]
    pub listen: Option<SocketAddr>,
    /// The path the apiserver posts to. Default: `/audit/webhook`.
    pub path: String,
    /// Largest request body, in bytes; larger ones are answered 413. Default:
    /// 32 MiB (`33554432`), room for 400 large events. At least 1024.
    pub max_body_bytes: usize,
    /// Serve over HTTPS (as the apiserver expects); with `client_ca`, only
    /// clients holding a certificate signed by it are served. Default: unset
    /// (plain HTTP).
    pub tls: Option<TlsConfig>,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            listen: None,
            path: "/audit/webhook".to_owned(),
            max_body_bytes: 32 * 1024 * 1024,
            tls: None,
        }
    }
}

/// Falco runtime alerts (Falco's `http_output` with `json_output: true`, or falcosidekick's
/// `webhook` output) posted to `path` on the listener of [`WebhookConfig`]
/// (`collector.webhook.listen`, with its TLS settings), when `enabled`.
///
/// A request is accepted when the listener verifies client certificates
/// (`collector.webhook.tls.client_ca`: the TLS layer already refused every client without a
/// certificate that CA signed) or when it carries one of `tokens` as
/// `Authorization: Bearer <token>`. Enabling it without either is a configuration error
/// (every request would be refused).
///
/// Its `Debug` output hides the tokens.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FalcoConfig {
    /// Whether the endpoint is served; it needs `collector.webhook.listen`. Default: `false`.
    pub enabled: bool,
    /// The path Falco posts to. Default: `/falco`.
    pub path: String,
    /// Accepted bearer tokens, each at least [`MIN_TOKEN_LEN`] characters,
    /// without whitespace. After [`load()`] this also holds the tokens read
    /// from `token_files`. Default: none.
    pub tokens: Vec<String>,
    /// Files holding more tokens, one per line (blank lines and `#` comments
    /// ignored), read when the configuration is loaded. Default: none.
    pub token_files: Vec<PathBuf>,
}

impl Default for FalcoConfig {
    fn default() -> Self {
        FalcoConfig {
            enabled: false,
            path: "/falco".to_owned(),
            tokens: Vec::new(),
            token_files: Vec::new(),
        }
    }
}

impl fmt::Debug for FalcoConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FalcoConfig")
            .field("enabled", &self.enabled)
            .field("path", &self.path)
            .field("tokens", &format_args!("[{} redacted]", self.tokens.len()))
            .field("token_files", &self.token_files)
            .finish()
    }
}

/// The credentials accepted by the collector's push endpoints (the Elasticsearch-compatible
/// bulk API and OTLP logs): each request carries one of `tokens` as
/// `Authorization: Bearer <token>`, as the password of `Authorization: Basic` (the user name
/// only names the sender in the log), or as the key of `Authorization: ApiKey
/// base64(<id>:<key>)`. Requests are also accepted without a token when the listener verifies
/// client certificates (`collector.webhook.tls.client_ca`).
///
/// Its `Debug` output hides the tokens.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Accepted tokens, each at least [`MIN_TOKEN_LEN`] characters, without
    /// whitespace. After [`load()`] this also holds the tokens read from
    /// `token_files`. Default: none.
    pub tokens: Vec<String>,
    /// Files holding more tokens, one per line (blank lines and `#` comments
    /// ignored), read when the configuration is loaded. Default: none.
    pub token_files: Vec<PathBuf>,
}

impl fmt::Debug for IngestConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IngestConfig")
            .field("tokens", &format_args!("[{} redacted]", self.tokens.len()))
            .field("token_files", &self.token_files)
            .finish()
    }
}

/// The Elasticsearch-compatible ingest API (`POST /_bulk`, `GET /` and the calls shippers make
/// at start), served on the listener of [`WebhookConfig`] (`collector.webhook.listen`, with its
/// TLS settings and `max_body_bytes`, which also bounds a gzip body once decompressed), when
/// `enabled`. Requests are authenticated by [`IngestConfig`]; enabling it without a token or
/// client certificates is a configuration error (every request would be refused).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ElasticsearchConfig {
    /// Whether the API is served; it needs `collector.webhook.listen`. Default: `false`.
    pub enabled: bool,
    /// How many of the most recent document `_id`s this process remembers, to answer `409`
    /// to a `create` whose `_id` it already stored (a retried batch); `0` remembers none.
    /// Documents are stored once either way: their event id comes from `_id`. Default:
    /// `100000`.
    pub recent_ids: usize,
}

impl Default for ElasticsearchConfig {
    fn default() -> Self {
        ElasticsearchConfig {
            enabled: false,
            recent_ids: 100_000,
        }
    }
}

/// OpenTelemetry log records exported over OTLP/HTTP (the OpenTelemetry Collector's `otlphttp`
/// exporter, the OpenTelemetry SDKs), posted to `path` on the listener of [`WebhookConfig`]
/// (`collector.webhook.listen`, with its TLS settings and `max_body_bytes`), when `enabled`.
///
/// Requests are accepted with the credentials of [`IngestConfig`] (`collector.ingest.tokens`)
/// or, when the listener verifies client certificates (`collector.webhook.tls.client_ca`),
/// from every client holding one; enabling it with neither is a configuration error (every
/// request would be refused).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtlpConfig {
    /// Whether the endpoint is served; it needs `collector.webhook.listen`. Default: `false`.
    pub enabled: bool,
    /// The path exporters post to. Default: `/v1/logs` (the OTLP/HTTP default, so an
    /// exporter's `endpoint` can name the listener alone).
    pub path: String,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig {
            enabled: false,
            path: "/v1/logs".to_owned(),
        }
    }
}

impl Default for CollectorConfig {
    fn default() -> Self {
        CollectorConfig {
            enabled: true,
            sources: vec![
                SourceConfig::new(
                    SourceFormat::Docker,
                    "/var/lib/docker/containers/*/*-json.log",
                ),
                SourceConfig::new(SourceFormat::Cri, "/var/log/pods/*/*/*.log"),
                SourceConfig {
                    paths: vec![
                        "/var/log/kubernetes/audit/*.log".to_owned(),
                        "/var/log/kubernetes/audit/*.log.gz".to_owned(),
                    ],
                    ..SourceConfig::new(SourceFormat::K8sAudit, "")
                },
            ],
            poll_interval: Duration::from_millis(250),
            max_event_bytes: 1024 * 1024,
            partial_flush_timeout: Duration::from_secs(5),
            batch_max_events: 1000,
            webhook: WebhookConfig::default(),
            falco: FalcoConfig::default(),
            ingest: IngestConfig::default(),
            elasticsearch: ElasticsearchConfig::default(),
            otlp: OtlpConfig::default(),
            forward: ForwardConfig::default(),
            kubernetes: KubernetesConfig::default(),
            docker: DockerConfig::default(),
            redaction: RedactionConfig::default(),
        }
    }
}

/// The Docker source: containers listed and followed through the Docker Engine API, their
/// json-file logs (`LogPath`) tailed and their events given `container.name`,
/// `container.image`, `container.labels.*` and the `kubernetes.*` fields of their labels.
/// Files keep being tailed (by the `sources` globs) while the API is unreachable; events are
/// enriched again once it is back.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DockerConfig {
    /// Whether to use the Docker API. Default: `false`.
    pub enabled: bool,
    /// Address of the Docker Engine API: `unix:///path/to/docker.sock`,
    /// `tcp://host:port` or `http://host:port`. Default:
    /// `unix:///var/run/docker.sock`.
    pub host: String,
    /// How long the metadata of a removed container is kept, for the lines of its log
    /// still to be read. Default: `5m`.
    #[serde(with = "serde_helpers::duration")]
    pub deleted_grace: Duration,
}

impl Default for DockerConfig {
    fn default() -> Self {
        DockerConfig {
            enabled: false,
            host: "unix:///var/run/docker.sock".to_owned(),
            deleted_grace: Duration::from_secs(300),
        }
    }
}

/// Environment variable naming the node when `collector.kubernetes.node_name` is unset; a
/// DaemonSet sets it from the downward API (`spec.nodeName`).
pub const NODE_NAME_ENV: &str = "NODE_NAME";

/// Pod metadata (labels, controller, node) from the Kubernetes API, added to the events of
/// `/var/log/pods` and `/var/log/containers` files.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KubernetesConfig {
    /// Whether to watch the pods of this node. Default: `false`.
    pub enabled: bool,
    /// Name of this node as Kubernetes knows it: only pods with this
    /// `spec.nodeName` are watched. Default: `None`, meaning the `NODE_NAME`
    /// environment variable, see [`KubernetesConfig::node_name()`].
    pub node_name: Option<String>,
    /// Kubeconfig file to reach the API with. Default: `None`, meaning the
    /// in-cluster configuration (the pod's service account).
    pub kubeconfig: Option<PathBuf>,
    /// How long a deleted pod's metadata is kept, so that lines read after the
    /// deletion are still enriched. Default: `5m`.
    #[serde(with = "serde_helpers::duration")]
    pub deleted_pod_grace: Duration,
}

impl Default for KubernetesConfig {
    fn default() -> Self {
        KubernetesConfig {
            enabled: false,
            node_name: None,
            kubeconfig: None,
            deleted_pod_grace: Duration::from_secs(300),
        }
    }
}

impl KubernetesConfig {
    /// The node whose pods are watched: `node_name` if set, else the
    /// `NODE_NAME` environment variable; `None` when neither is set (empty
    /// values are skipped).
    pub fn node_name(&self) -> Option<String> {
        resolve_node_name(
            self.node_name.as_deref(),
            std::env::var(NODE_NAME_ENV).ok().as_deref(),
        )
    }
}

/// `node_name` from the configured value, then the environment's.
fn resolve_node_name(configured: Option<&str>, env_value: Option<&str>) -> Option<String> {
    non_empty(configured)
        .or_else(|| non_empty(env_value))
        .map(str::to_owned)
}

/// One group of files to tail.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourceConfig {
    /// Name used in logs and checkpoints; must be unique among sources.
    /// Default: none.
    pub name: Option<String>,
    /// Glob patterns of the files to tail (`*`, `**`, `?`, `[...]`). Must not
    /// be empty.
    pub paths: Vec<String>,
    /// Glob patterns of files to skip even though `paths` matches them.
    /// Default: none.
    pub exclude: Vec<String>,
    /// How the lines are encoded. Default: `auto`.
    pub format: SourceFormat,
    /// Where to start in a file seen for the first time (files with a
    /// checkpoint resume from it): `end` skips what the files present at
    /// start already hold; files that appear later are read whole. Default:
    /// `beginning`.
    pub read_from: ReadFrom,
    /// Multi-line records (stack traces) in container logs. Default: `none`.
    pub multiline: Multiline,
    /// A regular expression matching the lines that start a record; the
    /// others join the record before them (overrides `multiline`). Default:
    /// unset.
    pub multiline_start: Option<String>,
}

/// How container lines are grouped into multi-line records; written in
/// kebab-case.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Multiline {
    /// One line, one event.
    #[default]
    None,
    /// A line starting with a `YYYY-MM-DD` date starts a record; the lines
    /// after it (a Java, Python or Go stack trace of an application that
    /// dates its log lines) join it.
    DatePrefix,
    /// A line starting with a space or a tab joins the record before it
    /// (Java's `\tat ...` frames, Go's indented frames).
    Indented,
}

impl SourceConfig {
    /// A source of the given format reading the given glob, other fields
    /// default.
    pub fn new(format: SourceFormat, path: impl Into<String>) -> Self {
        SourceConfig {
            paths: vec![path.into()],
            format,
            ..SourceConfig::default()
        }
    }
}

/// Line format of a source; written in kebab-case (`k8s-audit`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceFormat {
    /// Detect per line among the formats below.
    #[default]
    Auto,
    /// Docker's `json-file` logging driver.
    Docker,
    /// The CRI log format used by containerd and CRI-O (`/var/log/pods`).
    Cri,
    /// Kubernetes API server audit events, one JSON object per line.
    K8sAudit,
}

/// Where to start reading a file that has no checkpoint yet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReadFrom {
    /// Read the whole file.
    #[default]
    Beginning,
    /// Of the files present when the collector starts, only read what is
    /// written afterwards (files that appear later are read whole).
    End,
}

/// Settings of the bus between collectors and indexers.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BusConfig {
    /// Which bus to use. Default: `embedded`.
    pub kind: BusKind,
    /// Bound of the embedded in-process queue, in events. Default: `10000`.
    pub capacity: usize,
    /// Kafka settings, used when `kind = "kafka"`.
    pub kafka: KafkaConfig,
}

impl Default for BusConfig {
    fn default() -> Self {
        BusConfig {
            kind: BusKind::Embedded,
            capacity: 10_000,
            kafka: KafkaConfig::default(),
        }
    }
}

/// Kind of bus.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BusKind {
    /// A bounded in-process queue: collector, indexer and query run in one
    /// process.
    #[default]
    Embedded,
    /// Apache Kafka: collectors and indexers may run on different machines.
    Kafka,
}

/// Kafka settings.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    /// Comma-separated `host:port` list of bootstrap brokers. Default: empty;
    /// required when `bus.kind = "kafka"`.
    pub brokers: String,
    /// Topic the events are written to. Default: `kestrel-events`.
    pub topic: String,
    /// Topic for events that could not be indexed. Default:
    /// `kestrel-dead-letters`.
    pub dead_letter_topic: String,
    /// Consumer group of the indexers. Default: `kestrel-indexers`.
    pub group_id: String,
    /// Number of partitions when Kestrel creates the topic. Default: `6`.
    pub partitions: i32,
    /// Replication factor when Kestrel creates the topics; `-1` takes the
    /// brokers' `default.replication.factor`. Default: `-1`.
    pub replication_factor: i32,
    /// Extra librdkafka properties passed through as they are, e.g.
    /// `security.protocol`, `sasl.mechanism`, `sasl.username`. Dotted names
    /// may be written as quoted keys (`"security.protocol" = "SASL_SSL"`) or as
    /// nested TOML keys (`security.protocol = "SASL_SSL"`): both end up as
    /// `security.protocol`. Numbers and booleans are turned into strings.
    /// Default: none.
    #[serde(deserialize_with = "serde_helpers::properties")]
    pub properties: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: String::new(),
            topic: "kestrel-events".to_owned(),
            dead_letter_topic: "kestrel-dead-letters".to_owned(),
            group_id: "kestrel-indexers".to_owned(),
            partitions: 6,
            replication_factor: -1,
            properties: BTreeMap::new(),
        }
    }
}

/// Settings of the indexer.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IndexerConfig {
    /// Whether this process runs an indexer. Default: `true`.
    pub enabled: bool,
    /// Longest time between index commits (new events become searchable on
    /// commit). Default: `1s` (alerts are stored and delivered at commits).
    #[serde(with = "serde_helpers::duration")]
    pub commit_interval: Duration,
    /// Commit after this many events even if `commit_interval` has not passed.
    /// Default: `50000`.
    pub commit_max_events: usize,
    /// Memory budget of the index writer, in MiB. Default: `64`; at least 15.
    pub writer_memory_mb: usize,
    /// Indexing threads per index writer; `0` picks the number of cores, at most 4.
    /// Default: `0`.
    pub writer_threads: usize,
    /// Deprecated alias of `retention.default`. Default: unset.
    #[serde(with = "serde_helpers::option_duration")]
    pub retention: Option<Duration>,
    /// Deprecated alias of `retention.audit`. Default: unset.
    #[serde(with = "serde_helpers::option_duration")]
    pub audit_retention: Option<Duration>,
}

impl Default for IndexerConfig {
    fn default() -> Self {
        IndexerConfig {
            enabled: true,
            commit_interval: Duration::from_secs(1),
            commit_max_events: 50_000,
            writer_memory_mb: 64,
            writer_threads: 0,
            retention: None,
            audit_retention: None,
        }
    }
}

/// Settings of the query service (HTTP API).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueryConfig {
    /// Whether this process serves queries. Default: `true`.
    pub enabled: bool,
    /// Address to listen on, `IP:PORT`. Default: `127.0.0.1:7700`. A
    /// non-loopback address requires `auth.tokens` or `auth.token_files`.
    #[serde(deserialize_with = "serde_helpers::socket_addr")]
    pub listen: SocketAddr,
    /// Result limit when a query gives none. Default: `100`.
    pub default_limit: usize,
    /// Largest limit a query may ask for. Default: `10000`; at least
    /// `default_limit`.
    pub max_limit: usize,
    /// Memory one aggregation request may use, in MiB; beyond it the request fails
    /// (HTTP 422) instead of the process running out of memory. Default: `256`; at least 1.
    pub aggregation_memory_mb: usize,
    /// Who may query.
    pub auth: AuthConfig,
    /// Serve HTTPS instead of HTTP. Default: `None` (plain HTTP).
    pub tls: Option<TlsConfig>,
    /// Limits of one request.
    pub limits: QueryLimitsConfig,
}

/// Limits of one query API request (`[query.limits]`); a request past one is refused with an
/// error naming the key and its value.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueryLimitsConfig {
    /// Largest request body, in bytes (HTTP 413 beyond). Default: `1048576`; at least 1024.
    pub max_body_bytes: usize,
    /// Longest query text (`q`), in bytes (HTTP 422 beyond). Default: `16384`; at least 64.
    pub max_query_bytes: usize,
    /// Most leaf clauses (terms, phrases, patterns, ranges, set members) in one query
    /// (HTTP 422 beyond). Default: `1024`; at least 1.
    pub max_clauses: usize,
    /// Largest compiled program of one regular expression or wildcard, in bytes (HTTP 422
    /// beyond). Default: `1048576`; at least 1024, at most 1048576 (the query language refuses
    /// larger programs itself, HTTP 400).
    pub max_regex_bytes: usize,
    /// Most index terms one wildcard or regular expression may match in one index segment
    /// (HTTP 422 beyond). Default: `100000`; at least 1.
    pub max_expansion_terms: usize,
    /// Time budget of one search, aggregation, hunt page, export page, context lookup or
    /// Elasticsearch search: past it matching stops and the request is answered HTTP 503.
    /// Default: `30s`.
    #[serde(with = "serde_helpers::duration")]
    pub request_timeout: Duration,
}

impl Default for QueryLimitsConfig {
    fn default() -> Self {
        QueryLimitsConfig {
            max_body_bytes: 1024 * 1024,
            max_query_bytes: 16 * 1024,
            max_clauses: 1024,
            max_regex_bytes: 1024 * 1024,
            max_expansion_terms: 100_000,
            request_timeout: Duration::from_secs(30),
        }
    }
}

impl Default for QueryConfig {
    fn default() -> Self {
        QueryConfig {
            enabled: true,
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_QUERY_PORT)),
            default_limit: 100,
            max_limit: 10_000,
            aggregation_memory_mb: 256,
            auth: AuthConfig::default(),
            tls: None,
            limits: QueryLimitsConfig::default(),
        }
    }
}

/// Bearer-token authentication of the query API. With no tokens at all the
/// API is open, which is only allowed on a loopback address.
///
/// Its `Debug` output hides the tokens.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Accepted bearer tokens, each at least [`MIN_TOKEN_LEN`] characters,
    /// without whitespace. After [`load()`] this also holds the tokens read
    /// from `token_files`. Default: none.
    pub tokens: Vec<String>,
    /// Files holding more tokens, one per line (blank lines and `#` comments
    /// ignored), read when the configuration is loaded; handy for mounted
    /// secrets. Relative paths are relative to the working directory.
    /// Default: none.
    pub token_files: Vec<PathBuf>,
    /// Require credentials even when `tokens` is empty: the tokens of the
    /// token store (`kestrel token create`). Authentication is also on as
    /// soon as the store holds a token. Default: `false`.
    pub required: bool,
    /// Requests per identity (token name) and second, with a burst; beyond
    /// it requests are answered 429 with `Retry-After`. Default: unset (no
    /// limit).
    pub rate_limit: Option<RateLimitConfig>,
    /// Also accept OIDC bearer JWTs of this issuer. Default: unset.
    pub oidc: Option<OidcConfig>,
}

/// OIDC bearer JWTs: keys from the issuer's JWKS, claims checked, a claim mapped to roles.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcConfig {
    /// Expected `iss` (also the base of discovery). Required.
    pub issuer: String,
    /// Expected `aud`. Required.
    pub audience: String,
    /// URL of the JWKS. Default: unset (the `jwks_uri` of
    /// `issuer/.well-known/openid-configuration`).
    pub jwks_url: Option<String>,
    /// Accepted signature algorithms; `none` and HMAC (`HS*`) are refused.
    /// Default: `["RS256", "ES256"]`.
    pub algorithms: Vec<String>,
    /// Clock skew allowed on `exp` and `nbf`; at most 5 minutes. Default: `60s`.
    #[serde(with = "serde_helpers::duration")]
    pub leeway: Duration,
    /// The claim mapped to roles. Default: `groups`.
    pub claim: String,
    /// Claim values to roles and namespaces; the first matching mapping, in this
    /// order, wins. Default: none (every JWT refused).
    pub mappings: Vec<OidcMappingConfig>,
}

impl Default for OidcConfig {
    fn default() -> Self {
        OidcConfig {
            issuer: String::new(),
            audience: String::new(),
            jwks_url: None,
            algorithms: vec!["RS256".to_owned(), "ES256".to_owned()],
            leeway: Duration::from_secs(60),
            claim: "groups".to_owned(),
            mappings: Vec::new(),
        }
    }
}

/// One claim value mapped to a role.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcMappingConfig {
    /// The claim value (e.g. a group). Required.
    pub value: String,
    /// `viewer`, `analyst`, `admin`, `ingest` or `metrics`. Required.
    pub role: String,
    /// Namespaces the identity is limited to. Default: none (every namespace).
    pub namespaces: Vec<String>,
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("tokens", &format_args!("[{} redacted]", self.tokens.len()))
            .field("token_files", &self.token_files)
            .field("required", &self.required)
            .field("rate_limit", &self.rate_limit)
            .field("oidc", &self.oidc)
            .finish()
    }
}

/// A per-identity rate limit (a token bucket).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Sustained requests per second; at least 1. Required.
    pub per_second: u32,
    /// Requests allowed at once above the sustained rate; at least 1.
    /// Default: `per_second`.
    #[serde(default)]
    pub burst: Option<u32>,
}

/// TLS certificate and key of a listener, PEM files; optionally the CA that
/// client certificates must be signed by (mutual TLS).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Certificate chain (PEM). Required.
    pub cert: PathBuf,
    /// Private key (PEM). Required.
    pub key: PathBuf,
    /// CA certificates (PEM) that sign the clients' certificates; when set,
    /// clients without such a certificate are refused. Default: unset.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
}

/// Real-time detection: Sigma rules evaluated on every event as it is indexed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectionConfig {
    /// A Sigma rule file or a directory of them. Default: unset (no
    /// real-time detection).
    pub rules: Option<PathBuf>,
    /// Values of the rules' Sigma placeholders (`field|expand: '%name%'`):
    /// name (without the `%`) → list of strings, each a Sigma value (`*` and
    /// `?` are wildcards, `\*` escapes). A name set here replaces the rule
    /// pack's default list (its `placeholders.toml`) as a whole; names not set
    /// keep the pack's values. An empty list matches nothing (an allow-list
    /// rule then alerts on every event it selects). Names are ASCII letters,
    /// digits and `_`; from the environment,
    /// `KESTREL_DETECTION__PLACEHOLDERS__NAME='["a", "b"]'` sets `name` (lower
    /// case). The same values apply to real-time detection, `kestrel hunt`,
    /// `POST /api/v1/hunt` and `kestrel rules test --config`. Default: empty
    /// (the pack's values).
    pub placeholders: BTreeMap<String, Vec<String>>,
    /// Sigma filter files, or directories of them (`.yml` / `.yaml`), refining the rules
    /// without changing them: each filter names the rules it refines (by id or name) and the
    /// events to leave out, as the Sigma filters specification defines. Filter documents among
    /// the rule files apply too. A filter naming a rule that does not exist stops the load.
    /// Applies to real-time detection, `kestrel hunt` and `kestrel rules test --config`. From
    /// the environment: `KESTREL_DETECTION__FILTERS='["/etc/kestrel/filters"]'`. Default:
    /// none.
    pub filters: Vec<PathBuf>,
}

/// Alert delivery: every new alert goes, through a persistent outbox, to each destination
/// whose `min_level` it reaches.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertingConfig {
    /// The destinations. Default: none.
    pub destinations: Vec<DestinationConfig>,
}

/// Kind of alert destination.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DestinationKind {
    /// A JSON POST signed per the Standard Webhooks specification.
    #[default]
    Webhook,
    /// A Slack incoming webhook.
    Slack,
    /// PagerDuty Events API v2.
    Pagerduty,
    /// An Alertmanager-compatible `/api/v2/alerts` endpoint.
    Alertmanager,
}

/// One alert destination.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DestinationConfig {
    /// Unique name, used in the outbox and in metrics. Required.
    pub name: String,
    /// Kind. Default: `webhook`.
    pub kind: DestinationKind,
    /// URL to POST to. Required.
    pub url: String,
    /// Webhook signing secrets (`whsec_` + base64). Every listed secret
    /// signs each request, so a receiver can rotate: add the new secret,
    /// switch the receiver, remove the old one. Default: none (unsigned).
    pub secrets: Vec<String>,
    /// PagerDuty routing key (required for `pagerduty`).
    pub routing_key: Option<String>,
    /// Lowest level delivered: `informational`, `low`, `medium`, `high`,
    /// `critical`. Default: `low` (informational alerts, such as the pack's activity
    /// rules, are stored and listed but not pushed).
    pub min_level: String,
    /// A minijinja template of the request body, with the alert as `alert`.
    /// Default: unset (each kind's own payload).
    pub template: Option<String>,
    /// Attempts before an alert goes to the dead-letter list. Default: `8`.
    pub max_attempts: u32,
    /// Timeout of one request. Default: `10s`.
    #[serde(with = "serde_helpers::duration")]
    pub timeout: Duration,
    /// First retry delay; each later one doubles, with jitter, up to one
    /// hour (a `Retry-After` answer takes precedence). Default: `5s`.
    #[serde(with = "serde_helpers::duration")]
    pub retry_initial: Duration,
}

impl Default for DestinationConfig {
    fn default() -> Self {
        DestinationConfig {
            name: String::new(),
            kind: DestinationKind::Webhook,
            url: String::new(),
            secrets: Vec::new(),
            routing_key: None,
            min_level: "low".to_owned(),
            template: None,
            max_attempts: 8,
            timeout: Duration::from_secs(10),
            retry_initial: Duration::from_secs(5),
        }
    }
}

impl Config {
    /// Directory of the alert store and the correlation state:
    /// `<data_dir>/alerts`.
    pub fn alerts_dir(&self) -> PathBuf {
        self.data_dir.join("alerts")
    }
}

/// Prometheus metrics. The query API serves them on `/metrics` (with its
/// authentication); `listen` adds a listener of their own, for processes
/// without the query API (`kestrel collector`, `kestrel indexer`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Address of a plain HTTP listener serving `/metrics`, `IP:PORT`.
    /// Default: unset (no listener; the query API serves them). Set it to a loopback address
    /// (`127.0.0.1:9464`) unless a scraper on another host must reach it.
    #[serde(deserialize_with = "serde_helpers::optional_socket_addr")]
    pub listen: Option<SocketAddr>,
    /// Require a token on `listen`: a token of the token store with the
    /// `metrics` or `admin` role, or one of `query.auth.tokens`. Required off
    /// loopback. Default: `false`.
    pub require_token: bool,
}

/// Kestrel's own logging.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// Filter in `tracing` `EnvFilter` syntax: a level (`off`, `error`,
    /// `warn`, `info`, `debug`, `trace`) and/or comma-separated
    /// `target=level` directives, e.g. `"info,kestrel_collector=debug"`. A
    /// bare target without `=level` is rejected (it would mean `trace`, which
    /// is rarely intended). Default: `info`.
    pub level: String,
    /// Output format. Default: `text`.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".to_owned(),
            format: LogFormat::Text,
        }
    }
}

/// Format of Kestrel's own log lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// Human-readable text.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}
