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
    /// Run collector, embedded bus, indexer and query API in one process.
    Run,
    /// Serve the query API over the data directory's indexes.
    Query,
    /// Ingest files once through the normalizers and the indexer, then exit.
    Ingest(IngestArgs),
    /// Search the indexes.
    Search(SearchArgs),
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
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
    #[arg(default_value = "")]
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
pub enum ConfigCommand {
    /// Load and validate a configuration file (and the environment); print the problems.
    Check {
        /// The file to check.
        file: PathBuf,
    },
}
