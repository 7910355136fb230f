//! Command-line interface.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Kestrel: a pipeline for container logs and Kubernetes audit events.
#[derive(Debug, Parser)]
#[command(name = "kestrel", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Configuration file (TOML); KESTREL_* environment variables override it.
    #[arg(long, global = true, env = "KESTREL_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory (overrides the configuration's data_dir).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run collector, bus (embedded unless Kafka is configured), indexer and query API in one
    /// process.
    Run,
    /// Run the collector alone, publishing to Kafka.
    Collector,
    /// Run an indexer alone, a member of the indexers' Kafka consumer group.
    Indexer,
    /// Serve the query API over the data directory's indexes.
    Query,
    /// Ingest files once through the normalizers and the indexer, then exit.
    Ingest(IngestArgs),
    /// Search the indexes.
    Search(SearchArgs),
    /// Aggregate the matching events: counts per value or per time interval, distinct counts,
    /// statistics.
    Aggregate(AggregateArgs),
    /// Run Sigma rules (correlations included) over indexed history; prints alerts as NDJSON.
    Hunt(HuntArgs),
    /// Export the matching events, oldest first, for an auditor: zstd NDJSON chunks and a
    /// manifest signed with the [seal] key.
    Export(ExportArgs),
    /// Write seeded, realistic container and audit logs (for benchmarks and large tests).
    Generate(GenerateArgs),
    /// Where the index's bytes go: per file type (store, term dictionaries, postings,
    /// positions, columns, norms) and per field, over every partition.
    Footprint(FootprintArgs),
    /// Benchmark the pipeline on generated data, each figure next to its baseline.
    Bench(BenchArgs),
    /// Alert delivery tools: the dead-letter list and redelivery.
    Alerts {
        #[command(subcommand)]
        command: AlertsCommand,
    },
    /// Detection rule tools.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Access tokens of the query API, the ingest endpoints and the metrics listener (the
    /// token store of the data directory).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Legal holds: partitions holding matching events are not deleted by retention while
    /// the hold stands.
    Hold {
        #[command(subcommand)]
        command: HoldCommand,
    },
    /// Retention tools.
    Retention {
        #[command(subcommand)]
        command: RetentionCommand,
    },
    /// Signing keys of sealed partitions.
    Seal {
        #[command(subcommand)]
        command: SealCommand,
    },
    /// Verify the sealed partitions (every hash chain, every partition's files, the alert
    /// files: each modified, missing or added file, broken link, unknown key, bad signature
    /// and partition deleted other than by retention is named), or an export (--export DIR).
    /// Exits 1 on any problem.
    Verify(VerifyArgs),
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum HoldCommand {
    /// Place a hold: events matching the query in the range are kept while it stands.
    Create {
        /// Unique name (ASCII letters, digits, '.', '_', '-'; at most 64), never reused.
        #[arg(long)]
        name: String,
        /// The events to keep, in the query language.
        #[arg(long)]
        query: String,
        /// Start of the held range: RFC 3339, a date, or relative (now-90d).
        #[arg(long)]
        from: String,
        /// End of the held range.
        #[arg(long)]
        to: String,
        /// Why (recorded in the audit trail).
        #[arg(long)]
        reason: String,
        /// Who places it (default: the OS user).
        #[arg(long)]
        by: Option<String>,
    },
    /// List the holds, released ones included.
    List {
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Release a hold: retention may delete what it kept at its next pass.
    Release {
        /// The hold's name.
        name: String,
        /// Why (recorded in the audit trail).
        #[arg(long)]
        reason: String,
        /// Who releases it (default: the OS user).
        #[arg(long)]
        by: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// What retention would delete and when: each partition's rule and expiry, and the
    /// holds that keep expired ones.
    Plan {
        /// The instant to plan at (RFC 3339, a date or now+30d); default: now.
        #[arg(long)]
        at: Option<String>,
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Apply retention once, now, as the indexer does every minute: deletes the expired
    /// partitions no hold keeps and records each deletion. Only while no indexer runs on the
    /// data directory.
    Apply,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Format of the files.
    #[arg(long, value_enum, default_value_t = InputFormat::Auto)]
    pub format: InputFormat,
    /// Files to ingest.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum InputFormat {
    Auto,
    Docker,
    Cri,
    #[value(name = "k8s-audit")]
    K8sAudit,
}

#[derive(Debug, Args)]
pub struct HuntArgs {
    /// A Sigma rule file, or a directory of them.
    #[arg(long)]
    pub rules: PathBuf,
    /// Earliest @timestamp: RFC 3339 or relative (now-7d).
    #[arg(long)]
    pub from: Option<String>,
    /// Latest @timestamp.
    #[arg(long)]
    pub to: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The query (Lucene-style; empty or "*" exports every event).
    #[arg(long, default_value = "", allow_hyphen_values = true)]
    pub query: String,
    /// Earliest @timestamp: RFC 3339 or relative (now-30d).
    #[arg(long)]
    pub from: Option<String>,
    /// Latest @timestamp (inclusive).
    #[arg(long)]
    pub to: Option<String>,
    /// Output directory: created if missing; refused unless empty.
    #[arg(long)]
    pub out: PathBuf,
    /// Events per chunk file.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub chunk_events: u64,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Earliest @timestamp: RFC 3339 or relative (now-15m).
    #[arg(long)]
    pub from: Option<String>,
    /// Latest @timestamp.
    #[arg(long)]
    pub to: Option<String>,
    /// Maximum number of hits.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Order by @timestamp: desc (newest first) or asc.
    #[arg(long, default_value = "desc")]
    pub sort: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Continue after this cursor (the `next` of a previous JSON answer).
    #[arg(long)]
    pub search_after: Option<String>,
    /// Comma-separated dotted paths to keep in each hit.
    #[arg(long)]
    pub fields: Option<String>,
    /// The query (Lucene-style; empty matches everything).
    #[arg(
        default_value = "",
        allow_hyphen_values = true,
        trailing_var_arg = true
    )]
    pub query: Vec<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum OutputFormat {
    /// One JSON document: {"total", "hits", "took_ms"}.
    Json,
    /// One event per line.
    Ndjson,
    /// A table for people.
    Table,
}

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// List the deliveries that gave up (NDJSON).
    Dead,
    /// Queue dead deliveries again (all, or one by id); a running process sends them.
    Redeliver {
        /// Only this delivery.
        #[arg(long)]
        id: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Run every rule's test events (correlations included); exit 1 if any fails. Placeholders
    /// take the rule pack's values (placeholders.toml), overridden by the configuration's
    /// [detection.placeholders] when --config is given.
    Test {
        /// A rule file or a directory of them.
        #[arg(default_value = "rules")]
        path: PathBuf,
    },
    /// Measure the pack's precision and recall: over its own test events run through the
    /// whole pack, or over traffic written by `kestrel generate` (--generated DIR), joined to
    /// its ground truth. Placeholders as for `rules test` (--config applies the
    /// configuration's [detection.placeholders]).
    Measure {
        /// A rule file or a directory of them.
        #[arg(default_value = "rules")]
        path: PathBuf,
        /// A directory written by `kestrel generate`.
        #[arg(long)]
        generated: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it, once: only its SHA-256 is stored.
    Create {
        /// Unique name (ASCII letters, digits, '.', '_', '-'; at most 64).
        #[arg(long)]
        name: String,
        /// viewer, analyst, admin, ingest or metrics.
        #[arg(long)]
        role: String,
        /// Limit the token to these namespaces (comma-separated); default: every namespace.
        #[arg(long)]
        namespaces: Option<String>,
        /// Lifetime: 90d, 12h, 1w... (at most 10 years); default: no expiry.
        #[arg(long)]
        expires: Option<String>,
        /// Who creates it (default: the OS user).
        #[arg(long)]
        creator: Option<String>,
    },
    /// List the tokens (never their secrets), revoked and expired ones included.
    List {
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token: running servers refuse it within a second.
    Revoke {
        /// The token's name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum SealCommand {
    /// Make an Ed25519 key pair: the private key (PKCS#8 PEM, mode 0600) to FILE, the public
    /// key printed (and written to --public-out).
    Keygen {
        /// Where to write the private key (refused if it exists).
        #[arg(long)]
        out: PathBuf,
        /// Where to write the public key too.
        #[arg(long)]
        public_out: Option<PathBuf>,
    },
    /// Seal now every partition past its day and grace, and checkpoint the open ones, as the
    /// indexer does every minute (for a store written without a key, or offline). Refused
    /// while an indexer appends to the same chain.
    Now,
}

/// `kestrel footprint`.
#[derive(Debug, Args)]
pub struct FootprintArgs {
    /// Fields listed, largest first.
    #[arg(long, default_value_t = 15)]
    pub top: usize,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// `kestrel verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Only partitions of days after this: RFC 3339 or relative (now-30d).
    #[arg(long)]
    pub from: Option<String>,
    /// Only partitions of days up to this.
    #[arg(long)]
    pub to: Option<String>,
    /// Public keys (PEM) to verify with, repeated for several; default: [seal] public_keys
    /// and the configured key. With --export, required.
    #[arg(long = "public-key", value_name = "FILE")]
    pub public_keys: Vec<PathBuf>,
    /// Verify an export directory written by `kestrel export` instead of the store, with
    /// nothing but the directory and the public keys (no configuration is read).
    #[arg(long, value_name = "DIR")]
    pub export: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Load and validate a configuration file (and the environment); print the problems.
    Check {
        /// The file to check.
        file: PathBuf,
    },
}

/// `kestrel aggregate`: one aggregation of the events matching a query.
#[derive(Debug, Args)]
#[command(group(
    clap::ArgGroup::new("aggregation")
        .required(true)
        .args(["terms", "histogram", "cardinality", "stats", "percentiles"])
))]
pub struct AggregateArgs {
    /// Earliest @timestamp: RFC 3339 or relative (now-15m).
    #[arg(long)]
    pub from: Option<String>,
    /// Latest @timestamp.
    #[arg(long)]
    pub to: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = AggregateFormat::Table)]
    pub format: AggregateFormat,
    /// Count events per value of FIELD, most frequent first (exact counts).
    #[arg(long, value_name = "FIELD")]
    pub terms: Option<String>,
    /// Number of values listed by --terms.
    #[arg(long, default_value_t = 10)]
    pub size: u32,
    /// Within each --terms value, count events per value of FIELD too.
    #[arg(long, value_name = "FIELD", requires = "terms")]
    pub then_terms: Option<String>,
    /// Number of values listed by --then-terms (default: --size).
    #[arg(long, requires = "then_terms")]
    pub then_size: Option<u32>,
    /// Count events per time interval of @timestamp.
    #[arg(long)]
    pub histogram: bool,
    /// Interval of --histogram: auto (at most 100 buckets), or 30s, 5m, 1h, 1d, 1w, ...
    #[arg(long, default_value = "auto")]
    pub interval: String,
    /// Approximate number of distinct values of FIELD (HyperLogLog).
    #[arg(long, value_name = "FIELD")]
    pub cardinality: Option<String>,
    /// Count, min, max, avg and sum of a numeric FIELD.
    #[arg(long, value_name = "FIELD")]
    pub stats: Option<String>,
    /// Approximate percentiles of a numeric FIELD.
    #[arg(long, value_name = "FIELD")]
    pub percentiles: Option<String>,
    /// Percents of --percentiles, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "50,95,99")]
    pub percents: Vec<f64>,
    /// Memory limit of the aggregation: bytes, or with a unit (64MiB, 1GB). Default 256MiB.
    #[arg(long, value_name = "SIZE")]
    pub memory_limit: Option<String>,
    /// The query (Lucene-style; empty matches everything).
    #[arg(
        default_value = "",
        allow_hyphen_values = true,
        trailing_var_arg = true
    )]
    pub query: Vec<String>,
}

/// Output of `kestrel aggregate`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum AggregateFormat {
    /// The API's JSON response: {"took_ms", "total", "aggregations"}.
    Json,
    /// A table for people.
    Table,
}

/// `kestrel generate`: seeded synthetic logs laid out like a node's files.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// What to write: Docker json-file logs, CRI logs, an audit log, or all three (60 %
    /// container lines, 40 % audit events).
    #[arg(long, value_enum, default_value_t = GenerateKind::Mixed)]
    pub kind: GenerateKind,
    /// Number of events (split lines count once).
    #[arg(long, default_value_t = 10_000)]
    pub events: u64,
    /// Seed: the same seed and options give byte-identical files.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Start of the time range (RFC 3339).
    #[arg(long, default_value = "2024-01-01T00:00:00Z")]
    pub start: String,
    /// Length of the time range: 1d, 12h, 1h30m, 2w, ...
    #[arg(long, default_value = "1d")]
    pub span: String,
    /// Share of the events that belong to attacks (listed in OUT/ground-truth.jsonl).
    #[arg(long, default_value_t = 0.001)]
    pub attack_rate: f64,
    /// Log-volume anomalies to inject into container logs: alternately spikes and dips,
    /// listed in OUT/ground-truth.jsonl as `volume-spike` / `volume-dip`.
    #[arg(long, default_value_t = 0)]
    pub volume_anomalies: u64,
    /// Output directory (created; must be empty).
    pub out: PathBuf,
}

/// What `kestrel generate` writes.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum GenerateKind {
    /// var/lib/docker/containers/<id>/<id>-json.log
    Docker,
    /// var/log/pods/<ns>_<pod>_<uid>/<container>/0.log
    Cri,
    /// var/log/kubernetes/audit/audit.log
    Audit,
    /// All three.
    Mixed,
}

#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Events to generate (mixed container logs and audit events).
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Generator seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Runs of each search case (p50/p99 over them).
    #[arg(long, default_value_t = 30)]
    pub runs: usize,
    /// Where to keep the generated data and the indexes (default: <data_dir>/bench).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Write the results as JSON to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Keep the indexes built by the run.
    #[arg(long)]
    pub keep: bool,
    /// Phases to run, comma-separated, among normalize, collector, raw, ingest, kafka, detect, alerts, seal, search
    /// (seal and search need ingest's index, kept from an earlier `--keep` run when ingest is
    /// not run; kafka runs only when a broker is given).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "normalize,collector,raw,ingest,kafka,detect,alerts,seal,search"
    )]
    pub phases: Vec<String>,
    /// Internal: run only the collector phase's tailer on this file (`FORMAT:LINES:FILE`) in this
    /// process and print its cost as JSON (the collector phase measures each format in a
    /// fresh process, so that its peak memory is the tailer's alone).
    #[arg(long, hide = true)]
    pub tail_only: Option<String>,
    /// Kafka brokers for the kafka phase (default: bus.kafka.brokers of the configuration).
    #[arg(long)]
    pub kafka_brokers: Option<String>,
    /// Rules for the detect phase (default: ./rules).
    #[arg(long)]
    pub rules: Option<PathBuf>,
    /// Scale series: ingest then search each of these data set sizes (comma-separated event
    /// counts, for example 1000000,3000000,10000000), and report ingest rate, index size and
    /// search latency against the event count. Replaces the phases.
    #[arg(long, value_delimiter = ',')]
    pub scale: Vec<u64>,
    /// With --scale: write the growth curves as an SVG chart to this file.
    #[arg(long, requires = "scale")]
    pub chart: Option<PathBuf>,
}
