//! `kestrel search QUERY`: searches the indexes of the data directory.

use std::io::Write;
use std::process::ExitCode;

use kestrel_config::Config;
use kestrel_query::api::{build_request, ApiSettings, SearchParams};
use kestrel_query::{SearchEngine, SearchResponse};
use serde_json::Value;

use crate::cli::{OutputFormat, SearchArgs};

/// Runs one search and prints it.
pub fn search(config: Config, args: SearchArgs) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let params = SearchParams {
        q: Some(args.query.join(" ")),
        from: args.from,
        to: args.to,
        limit: Some(args.limit),
        sort: Some(args.sort),
        search_after: args.search_after,
        fields: args.fields,
    };
    let settings = cli_settings(&config);
    let request = match build_request(&params, &settings) {
        Ok(request) => request,
        Err(error) => {
            eprintln!("error: {error}");
            return Ok(ExitCode::from(1));
        }
    };
    let engine = SearchEngine::new(config.index_dir());
    let response = match engine.search(&request) {
        Ok(response) => response,
        Err(error) if error.is_client_error() => {
            eprintln!("error: {error}");
            return Ok(ExitCode::from(1));
        }
        Err(error) => return Err(error.into()),
    };
    crate::cli_audit::record(
        &config,
        &crate::cli_audit::CliQuery {
            command: "kestrel search",
            query: params.q.as_deref().unwrap_or_default(),
            from: params.from.as_deref(),
            to: params.to.as_deref(),
            hits: Some(response.hits.len() as u64),
            total: Some(response.total),
            started,
        },
    );
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = match args.format {
        OutputFormat::Json => serde_json::to_writer(&mut out, &response)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out)),
        OutputFormat::Ndjson => response.hits.iter().try_for_each(|hit| {
            serde_json::to_writer(&mut out, hit).map_err(std::io::Error::from)?;
            writeln!(out)
        }),
        OutputFormat::Table => write_table(&mut out, &response),
    };
    match written.and_then(|()| out.flush()) {
        // The reader went away (`| head`): not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        other => other.map(|()| ExitCode::SUCCESS).map_err(Into::into),
    }
}

fn write_table(out: &mut impl Write, response: &SearchResponse) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<30}  {:<9}  {:<28}  MESSAGE",
        "@TIMESTAMP", "KIND", "SOURCE"
    )?;
    for hit in &response.hits {
        let text = |path: &[&str]| -> String {
            let mut value = hit;
            for key in path {
                match value.get(key) {
                    Some(v) => value = v,
                    None => return String::new(),
                }
            }
            match value {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            }
        };
        let kind = text(&["event", "kind"]);
        let source = if kind == "k8s_audit" {
            text(&["user", "username"])
        } else {
            let name = text(&["kubernetes", "pod", "name"]);
            if name.is_empty() {
                text(&["container", "id"]).chars().take(12).collect()
            } else {
                name
            }
        };
        let message: String = text(&["message"])
            .replace('\n', " ")
            .chars()
            .take(120)
            .collect();
        writeln!(
            out,
            "{:<30}  {:<9}  {:<28}  {}",
            text(&["@timestamp"]),
            kind,
            truncate(&source, 28),
            message
        )?;
    }
    eprintln!(
        "{} of {} matching events, {} ms",
        response.hits.len(),
        response.total,
        response.took_ms
    );
    Ok(())
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(width - 1).collect();
    cut.push('…');
    cut
}

/// The request settings of a command-line query: the configured limits, no authentication
/// (the caller reads the data directory itself), no alerts or holds.
pub(crate) fn cli_settings(config: &Config) -> ApiSettings {
    ApiSettings {
        default_limit: config.query.default_limit,
        max_limit: config.query.max_limit,
        auth: std::sync::Arc::new(kestrel_query::authenticate::Authenticator::open()),
        metrics: None,
        alerts: None,
        placeholders: kestrel_detect::Placeholders::new(),
        filters: Vec::new(),
        limits: kestrel_query::limits::QueryLimits::from(&config.query.limits),
        holds: None,
    }
}
