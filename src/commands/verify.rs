//! `kestrel verify`: checks the sealed partitions of the data directory against their hash
//! chains.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use kestrel_config::Config;
use kestrel_indexer::verify::{verify_index, Report, VerifyOptions};
use kestrel_seal::PublicKeys;

use crate::cli::VerifyArgs;

/// Verifies, prints each problem (one per line) or a summary line, and exits 1 on any
/// problem.
pub fn verify(config: Config, args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let keys = public_keys(&config, &args)?;
    let now = chrono::Utc::now();
    let time = |flag: &str, value: &Option<String>| {
        value
            .as_deref()
            .map(|v| kestrel_query::language::parse_time(v, now))
            .transpose()
            .with_context(|| flag.to_owned())
    };
    let options = VerifyOptions {
        from: time("--from", &args.from)?,
        to: time("--to", &args.to)?,
        alerts_dir: Some(config.alerts_dir()),
    };
    let started = Instant::now();
    let report = verify_partitions(&config, &keys, &options)?;
    let seconds = started.elapsed().as_secs_f64();
    for problem in &report.problems {
        println!("{problem}");
    }
    for dir in &report.uncovered {
        eprintln!("{}: not covered by a manifest yet", dir.display());
    }
    let mib = report.bytes as f64 / (1024.0 * 1024.0);
    let summary = format!(
        "{} chains ({} entries), {} partitions, {} files, {} bytes ({:.1} MiB) in {:.2} s ({:.0} MiB/s), {} uncovered",
        report.chains,
        report.entries,
        report.partitions,
        report.files,
        report.bytes,
        mib,
        seconds,
        mib / seconds.max(1e-9),
        report.uncovered.len()
    );
    if report.problems.is_empty() {
        println!("verified: {summary}");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("FAILED: {} problems; {summary}", report.problems.len());
        Ok(ExitCode::from(1))
    }
}

/// The index's partitions against their chains.
pub fn verify_partitions(
    config: &Config,
    keys: &PublicKeys,
    options: &VerifyOptions,
) -> anyhow::Result<Report> {
    verify_index(&config.index_dir(), keys, options)
        .with_context(|| format!("verifying {}", config.index_dir().display()))
}

/// `--public-key` files, or `[seal] public_keys` and the configured key's public half.
fn public_keys(config: &Config, args: &VerifyArgs) -> anyhow::Result<PublicKeys> {
    if !args.public_keys.is_empty() {
        return Ok(PublicKeys::load(&args.public_keys)?);
    }
    let mut keys = PublicKeys::load(&config.seal.public_keys)?;
    if config.seal.enabled() {
        let source = kestrel_seal::KeySource {
            file: config.seal.key_file.clone(),
            env: config.seal.key_env.clone(),
        };
        let signer = source.load("seal.key_file", "seal.key_env")?;
        keys.insert(signer.verifying_key());
    }
    if keys.is_empty() {
        anyhow::bail!("no public key: give --public-key FILE or configure [seal]");
    }
    Ok(keys)
}
