//! `kestrel bench --scale`: the same ingest and searches on data sets of growing size, to show
//! how ingest rate, index size and search latency grow with the event count.

use std::path::Path;

use anyhow::Context;
use kestrel_config::Config;
use serde::Serialize;

use super::chart;
use super::phases::{self, SearchCase, Throughput};
use crate::cli::BenchArgs;

/// The searches reported per size: those that return 100 hits with an exact total.
const HIT_SEARCHES: [&str; 3] = [
    "needle term, last 100 hits",
    "phrase",
    "field filter + 1 h time range",
];

/// What one data set size measured.
#[derive(Debug, Clone, Serialize)]
pub struct ScalePoint {
    /// Events in the data set.
    pub events: u64,
    /// The whole embedded pipeline, files to committed index.
    pub ingest: Throughput,
    /// Index bytes per event (`kestrel footprint`, every file type).
    pub index_bytes_per_event: f64,
    /// Index bytes per raw input byte.
    pub index_bytes_per_raw_byte: f64,
    /// The search and aggregation suite on this size's index.
    pub searches: Vec<SearchCase>,
}

/// Runs the series of `args.scale` sizes, prints the table, and writes the JSON (`--out`) and
/// the chart (`--chart`).
pub fn scale(config: Config, args: &BenchArgs, work: &Path) -> anyhow::Result<()> {
    let rules = args.rules.clone().unwrap_or_else(|| "rules".into());
    let config = super::with_detection(config, &rules);
    let mut sizes = args.scale.clone();
    sizes.sort_unstable();
    sizes.dedup();
    let mut points = Vec::with_capacity(sizes.len());
    for events in sizes {
        let point = measure_size(&config, args, work, events)?;
        print_point(&point);
        points.push(point);
    }
    print_table(&points);
    if let Some(out) = &args.out {
        std::fs::write(out, serde_json::to_vec_pretty(&points)?)
            .with_context(|| format!("writing {}", out.display()))?;
        eprintln!("results written to {}", out.display());
    }
    if let Some(path) = &args.chart {
        std::fs::write(path, chart::svg(&chart_series(&points)))
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("chart written to {}", path.display());
    }
    Ok(())
}

/// Generates (or reuses) the data set of `events`, ingests it into a fresh index, runs the
/// searches, and removes the index unless `--keep`.
fn measure_size(
    config: &Config,
    args: &BenchArgs,
    work: &Path,
    events: u64,
) -> anyhow::Result<ScalePoint> {
    let sized = BenchArgs {
        events,
        ..args.clone()
    };
    let raw = work.join(format!("raw-{events}-{}", args.seed));
    let data = phases::generate(&raw, &sized)?;
    let index = work.join(format!("pipeline-{events}-{}", args.seed));
    let ingest = phases::ingest(config, &data, &index)?;
    // ripgrep over tens of GiB of raw files would dominate the run: the series leaves it out.
    let searches = phases::search(&index.join("index"), &raw, args.runs, false)?;
    if !args.keep {
        let _ = std::fs::remove_dir_all(&index);
    }
    Ok(ScalePoint {
        events,
        index_bytes_per_event: ingest.bytes_per_event.values().sum(),
        index_bytes_per_raw_byte: ingest.index_bytes_per_raw_byte,
        ingest: ingest.throughput,
        searches,
    })
}

fn search_of<'a>(point: &'a ScalePoint, name: &str) -> Option<&'a SearchCase> {
    point.searches.iter().find(|case| case.name == name)
}

fn print_point(point: &ScalePoint) {
    eprintln!(
        "scale: {} events, {:.0} events/s, {:.1} MiB per CPU-second, {:.1} bytes per event",
        point.events,
        point.ingest.events_per_second,
        point.ingest.mib_per_cpu_second,
        point.index_bytes_per_event
    );
}

fn print_table(points: &[ScalePoint]) {
    print!(
        "{:>11} {:>10} {:>10} {:>9}",
        "events", "events/s", "MiB/cpu-s", "bytes/ev"
    );
    for name in HIT_SEARCHES {
        print!(" {:>22}", format!("{} p50/p99 ms", short(name)));
    }
    println!();
    for point in points {
        print!(
            "{:>11} {:>10.0} {:>10.1} {:>9.1}",
            point.events,
            point.ingest.events_per_second,
            point.ingest.mib_per_cpu_second,
            point.index_bytes_per_event
        );
        for name in HIT_SEARCHES {
            let cell = search_of(point, name).map_or_else(
                || "-".to_owned(),
                |case| {
                    format!(
                        "{:.1}/{:.1} ({})",
                        case.kestrel.p50_ms, case.kestrel.p99_ms, case.total
                    )
                },
            );
            print!(" {cell:>22}");
        }
        println!();
    }
}

/// A search's short label for the table and the chart.
fn short(name: &str) -> &str {
    name.split([',', ' ']).next().unwrap_or(name)
}

/// The chart's panels: ingest rate, then each hit search's p99.
fn chart_series(points: &[ScalePoint]) -> Vec<chart::Panel> {
    let events: Vec<f64> = points.iter().map(|p| p.events as f64).collect();
    let ingest = chart::Panel {
        title: "ingest, events per second".into(),
        y_unit: "events/s".into(),
        series: vec![chart::Series {
            label: "pipeline (files to committed index)".into(),
            points: events
                .iter()
                .zip(points)
                .map(|(x, p)| (*x, p.ingest.events_per_second))
                .collect(),
        }],
    };
    let latency = chart::Panel {
        title: "search returning 100 hits, p99 ms".into(),
        y_unit: "ms".into(),
        series: HIT_SEARCHES
            .iter()
            .map(|name| chart::Series {
                label: short(name).to_owned(),
                points: points
                    .iter()
                    .filter_map(|p| search_of(p, name).map(|c| (p.events as f64, c.kestrel.p99_ms)))
                    .collect(),
            })
            .collect(),
    };
    vec![ingest, latency]
}
