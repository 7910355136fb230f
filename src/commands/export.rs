//! `kestrel export`: the matching events, oldest first, into zstd NDJSON chunks with a manifest
//! signed with the `[seal]` key; `kestrel verify --export DIR`: the offline check of such an
//! export.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use kestrel_config::Config;
use kestrel_export::{verify_export, write_export, ExportError, ExportSpec, Exporter};
use kestrel_query::api::{build_request, SearchParams};
use kestrel_query::SearchEngine;
use kestrel_seal::{KeySource, PublicKeys};

use crate::cli::ExportArgs;

/// Writes the export and prints what it holds.
pub fn export(config: Config, args: ExportArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let source = KeySource {
        file: config.seal.key_file.clone(),
        env: config.seal.key_env.clone(),
    };
    let signer = match source.load("seal.key_file", "seal.key_env") {
        Ok(signer) => signer,
        Err(error) => {
            eprintln!("error: the export is signed with the [seal] key: {error}");
            return Ok(ExitCode::from(1));
        }
    };
    let params = SearchParams {
        q: Some(args.query.clone()),
        from: args.from.clone(),
        to: args.to.clone(),
        limit: Some(0),
        ..SearchParams::default()
    };
    let request = match build_request(&params, &super::search::cli_settings(&config)) {
        Ok(request) => request,
        Err(error) => {
            eprintln!("error: {error}");
            return Ok(ExitCode::from(1));
        }
    };
    let engine = SearchEngine::new(config.index_dir());
    let spec = ExportSpec {
        query: &args.query,
        request: &request,
        out: &args.out,
        chunk_events: args.chunk_events,
        exporter: Exporter {
            user: std::env::var("USER").unwrap_or_else(|_| "unknown".into()),
            host: config.host_name(),
            token: None,
        },
    };
    let manifest = match write_export(&engine, &spec, &signer) {
        Ok(manifest) => manifest,
        Err(error @ (ExportError::NotEmpty(_) | ExportError::Io { .. })) => {
            eprintln!("error: {error}");
            return Ok(ExitCode::from(1));
        }
        Err(ExportError::Search(error)) if error.is_client_error() => {
            eprintln!("error: {error}");
            return Ok(ExitCode::from(1));
        }
        Err(error) => return Err(error.into()),
    };
    crate::cli_audit::record(
        &config,
        &crate::cli_audit::CliQuery {
            command: "kestrel export",
            query: &args.query,
            from: args.from.as_deref(),
            to: args.to.as_deref(),
            hits: Some(manifest.events),
            total: Some(manifest.events),
            started,
        },
    );
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "exported {} events in {} chunks from {} partitions into {}, signed by key {}: {:.2} s, {:.0} events/s",
        manifest.events,
        manifest.chunks.len(),
        manifest.partitions.len(),
        args.out.display(),
        signer.id(),
        seconds,
        manifest.events as f64 / seconds.max(1e-9),
    );
    Ok(ExitCode::SUCCESS)
}

/// Verifies the export in `dir` against the public keys in `key_files`; exits 1 on any
/// problem, each printed on its own line.
pub fn verify(dir: &Path, key_files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    if key_files.is_empty() {
        eprintln!("error: give the public key(s) the export may be signed with: --public-key FILE");
        return Ok(ExitCode::from(2));
    }
    let keys = match PublicKeys::load(key_files) {
        Ok(keys) => keys,
        Err(error) => {
            eprintln!("error: {error}");
            return Ok(ExitCode::from(2));
        }
    };
    let verified = verify_export(dir, &keys);
    for problem in &verified.problems {
        println!("{}: {problem}", dir.display());
    }
    match (&verified.manifest, &verified.key_id) {
        (Some(manifest), Some(key)) if verified.is_intact() => {
            println!(
                "{}: intact: {} events in {} chunks, signed by key {key}; query {:?} from {} to {}, exported by {}@{} at {}",
                dir.display(),
                manifest.events,
                manifest.chunks.len(),
                manifest.query,
                manifest.from.as_deref().unwrap_or("(unbounded)"),
                manifest.to.as_deref().unwrap_or("(unbounded)"),
                manifest.exported_by.user,
                manifest.exported_by.host,
                manifest.exported_at,
            );
            Ok(ExitCode::SUCCESS)
        }
        _ => {
            eprintln!(
                "{}: {} problem(s): the export is not intact",
                dir.display(),
                verified.problems.len()
            );
            Ok(ExitCode::from(1))
        }
    }
}
