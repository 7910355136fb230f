//! `kestrel footprint`: where the bytes of the index go.

use std::process::ExitCode;

use anyhow::Context;
use kestrel_config::Config;
use kestrel_indexer::footprint::{measure, Footprint, COMPONENTS};
use kestrel_indexer::EventSchema;

use crate::cli::FootprintArgs;

/// Measures the data directory's index and prints the breakdown.
pub fn footprint(config: &Config, args: &FootprintArgs) -> anyhow::Result<ExitCode> {
    let root = config.index_dir();
    let footprint = measure(&root, &EventSchema::new())
        .with_context(|| format!("measuring {}", root.display()))?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&to_json(&footprint, args.top))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", render(&footprint, args.top));
    Ok(ExitCode::SUCCESS)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The tables: components, then the largest fields with their split per component.
fn render(footprint: &Footprint, top: usize) -> String {
    let total = footprint.total();
    let mut out = format!(
        "{} events, {} partitions, {} segments: {:.1} MiB, {:.1} bytes per event\n\n",
        footprint.events,
        footprint.partitions,
        footprint.segments,
        mib(total),
        footprint.per_event(total)
    );
    out.push_str(&format!(
        "{:<12} {:>10} {:>7} {:>11}\n",
        "component", "MiB", "share", "bytes/event"
    ));
    for component in COMPONENTS.iter().chain(&["other"]) {
        let bytes = footprint.components.get(component).copied().unwrap_or(0);
        out.push_str(&format!(
            "{component:<12} {:>10.1} {:>6.1}% {:>11.1}\n",
            mib(bytes),
            100.0 * bytes as f64 / total.max(1) as f64,
            footprint.per_event(bytes)
        ));
    }
    out.push_str(&format!(
        "\n{:<28} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}\n",
        "field (MiB)", "total", "term", "idx", "pos", "fast", "fieldnorm"
    ));
    for (field, bytes) in footprint.fields_by_size().into_iter().take(top) {
        let part = |component: &'static str| {
            mib(footprint
                .fields
                .get(&(field.clone(), component))
                .copied()
                .unwrap_or(0))
        };
        out.push_str(&format!(
            "{field:<28} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1}\n",
            mib(bytes),
            part("term"),
            part("idx"),
            part("pos"),
            part("fast"),
            part("fieldnorm")
        ));
    }
    out
}

fn to_json(footprint: &Footprint, top: usize) -> serde_json::Value {
    let fields: Vec<serde_json::Value> = footprint
        .fields_by_size()
        .into_iter()
        .take(top)
        .map(|(field, bytes)| {
            let parts: serde_json::Map<String, serde_json::Value> = footprint
                .fields
                .iter()
                .filter(|((name, _), _)| *name == field)
                .map(|((_, component), bytes)| ((*component).to_owned(), (*bytes).into()))
                .collect();
            serde_json::json!({"field": field, "bytes": bytes, "components": parts})
        })
        .collect();
    serde_json::json!({
        "events": footprint.events,
        "partitions": footprint.partitions,
        "segments": footprint.segments,
        "bytes": footprint.total(),
        "components": footprint.components,
        "fields": fields,
    })
}
