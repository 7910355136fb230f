//! `kestrel aggregate --terms FIELD [QUERY]` (or `--histogram`, `--cardinality`, `--stats`,
//! `--percentiles`): one aggregation over the indexes of the data directory, printed as a table
//! or as the API's JSON response.

use std::io::Write;
use std::process::ExitCode;

use chrono::Utc;
use kestrel_config::Config;
use kestrel_query::aggregate::{
    AggregateParams, AggregateRequest, AggregateResponse, AggregationLimits, AggregationResult,
    Bucket, MetricValue,
};
use kestrel_query::SearchEngine;
use serde_json::{json, Map, Value};

use crate::cli::{AggregateArgs, AggregateFormat};

/// Name of the one aggregation the command asks for.
const NAME: &str = "result";
/// Name of the `--then-terms` sub-aggregation.
const SUB: &str = "then";

/// Runs the aggregation and prints it.
pub fn aggregate(config: Config, args: AggregateArgs) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let mut limits = AggregationLimits::default();
    if let Some(text) = &args.memory_limit {
        match parse_bytes(text) {
            Some(bytes) => limits.memory_limit_bytes = bytes,
            None => {
                eprintln!(
                    "error: invalid --memory-limit {text:?}: expected bytes, or a number with a \
                     unit such as 64MiB or 1GB"
                );
                return Ok(ExitCode::from(1));
            }
        }
    }
    let engine = SearchEngine::with_aggregation_limits(config.index_dir(), limits);
    let params = AggregateParams {
        q: Some(args.query.join(" ")),
        from: args.from.clone(),
        to: args.to.clone(),
        aggs: Map::from_iter([(NAME.to_owned(), aggregation(&args))]),
    };
    let response = AggregateRequest::from_params(
        &params,
        engine.schema(),
        engine.aggregation_limits(),
        Utc::now(),
    )
    .and_then(|request| engine.aggregate(&request));
    let response = match response {
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
            command: "kestrel aggregate",
            query: params.q.as_deref().unwrap_or_default(),
            from: params.from.as_deref(),
            to: params.to.as_deref(),
            hits: None,
            total: Some(response.total),
            started,
        },
    );
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = match args.format {
        AggregateFormat::Json => serde_json::to_writer(&mut out, &response)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out)),
        AggregateFormat::Table => write_table(&mut out, &args, &response),
    };
    match written.and_then(|()| out.flush()) {
        // The reader went away (`| head`): not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        other => other.map(|()| ExitCode::SUCCESS).map_err(Into::into),
    }
}

/// The request's aggregation, in the API's JSON form.
fn aggregation(args: &AggregateArgs) -> Value {
    if let Some(field) = &args.terms {
        let mut terms = json!({"terms": {"field": field, "size": args.size}});
        if let Some(then) = &args.then_terms {
            let size = args.then_size.unwrap_or(args.size);
            terms["aggs"] = json!({ SUB: {"terms": {"field": then, "size": size}} });
        }
        terms
    } else if args.histogram {
        json!({"date_histogram": {"field": "@timestamp", "interval": args.interval}})
    } else if let Some(field) = &args.cardinality {
        json!({"cardinality": {"field": field}})
    } else if let Some(field) = &args.stats {
        json!({"stats": {"field": field}})
    } else if let Some(field) = &args.percentiles {
        json!({"percentiles": {"field": field, "percents": args.percents}})
    } else {
        // clap requires one of the kinds above.
        json!({"count": {}})
    }
}

fn write_table(
    out: &mut impl Write,
    args: &AggregateArgs,
    response: &AggregateResponse,
) -> std::io::Result<()> {
    match response.aggregations.get(NAME) {
        Some(AggregationResult::Terms {
            buckets,
            other_count,
            ..
        }) => {
            let field = args.terms.as_deref().unwrap_or("VALUE");
            let width = key_width(buckets, field);
            writeln!(out, "{:<width$}  {:>10}", field.to_uppercase(), "COUNT")?;
            for bucket in buckets {
                writeln!(
                    out,
                    "{:<width$}  {:>10}",
                    bucket.key.to_string(),
                    bucket.count
                )?;
                if let Some(AggregationResult::Terms {
                    buckets: sub,
                    other_count: sub_other,
                    ..
                }) = bucket.aggs.get(SUB)
                {
                    for inner in sub {
                        let key = format!("  {}", inner.key);
                        writeln!(out, "{key:<width$}  {:>10}", inner.count)?;
                    }
                    if *sub_other > 0 {
                        writeln!(out, "{:<width$}  {:>10}", "  (other)", sub_other)?;
                    }
                }
            }
            if *other_count > 0 {
                writeln!(out, "{:<width$}  {:>10}", "(other)", other_count)?;
            }
        }
        Some(AggregationResult::DateHistogram { interval, buckets }) => {
            let max = buckets.iter().map(|b| b.count).max().unwrap_or(0).max(1);
            let width = key_width(buckets, "@TIMESTAMP");
            writeln!(
                out,
                "{:<width$}  {:>10}  per {interval}",
                "@TIMESTAMP", "COUNT"
            )?;
            for bucket in buckets {
                let bar = "#".repeat(((bucket.count * 40).div_ceil(max)) as usize);
                writeln!(
                    out,
                    "{:<width$}  {:>10}  {bar}",
                    bucket.key.to_string(),
                    bucket.count
                )?;
            }
        }
        Some(AggregationResult::Value { value }) => {
            let field = args.cardinality.as_deref().unwrap_or("");
            writeln!(
                out,
                "distinct values of {field}: {} (approximate)",
                show(value.as_ref())
            )?;
        }
        Some(AggregationResult::Stats {
            count,
            min,
            max,
            avg,
            sum,
        }) => {
            writeln!(out, "{:<6}  {}", "count", count)?;
            writeln!(out, "{:<6}  {}", "min", show(min.as_ref()))?;
            writeln!(out, "{:<6}  {}", "max", show(max.as_ref()))?;
            let avg = avg.map_or_else(|| "-".to_owned(), |a| format!("{a:.3}"));
            writeln!(out, "{:<6}  {avg}", "avg")?;
            writeln!(out, "{:<6}  {}", "sum", show(sum.as_ref()))?;
        }
        Some(AggregationResult::Percentiles { values }) => {
            writeln!(out, "{:<8}  VALUE (approximate)", "PERCENT")?;
            for value in values {
                let shown = value
                    .value
                    .map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"));
                writeln!(out, "{:<8}  {shown}", format!("p{}", value.percent))?;
            }
        }
        None => {}
    }
    eprintln!(
        "{} matching events, {} ms",
        response.total, response.took_ms
    );
    Ok(())
}

fn key_width(buckets: &[Bucket], header: &str) -> usize {
    buckets
        .iter()
        .flat_map(|b| {
            let inner = b
                .aggs
                .get(SUB)
                .and_then(|sub| match sub {
                    AggregationResult::Terms { buckets, .. } => {
                        Some(buckets.iter().map(|i| i.key.to_string().len() + 2).max())
                    }
                    _ => None,
                })
                .flatten();
            [Some(b.key.to_string().len()), inner]
        })
        .flatten()
        .chain([header.len(), "(other)".len()])
        .max()
        .unwrap_or(10)
        .min(80)
}

fn show(value: Option<&MetricValue>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// `1048576`, `64MiB`, `64MB`, `1GiB`, `512KiB`, `2G` → bytes.
fn parse_bytes(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let unit: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "kb" => 1_000,
        "m" | "mib" => 1 << 20,
        "mb" => 1_000_000,
        "g" | "gib" => 1 << 30,
        "gb" => 1_000_000_000,
        _ => return None,
    };
    number.checked_mul(unit).filter(|b| *b > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_limits_parse_with_units() {
        assert_eq!(parse_bytes("1048576"), Some(1 << 20));
        assert_eq!(parse_bytes("64MiB"), Some(64 << 20));
        assert_eq!(parse_bytes("64MB"), Some(64_000_000));
        assert_eq!(parse_bytes("1 GiB"), Some(1 << 30));
        assert_eq!(parse_bytes("2k"), Some(2048));
        for bad in ["", "MB", "0", "1.5GB", "12parsecs"] {
            assert_eq!(parse_bytes(bad), None, "{bad}");
        }
    }
}
