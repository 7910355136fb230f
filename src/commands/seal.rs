//! `kestrel seal keygen` (a signing key pair for sealed partitions) and `kestrel seal now`.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use kestrel_config::Config;
use kestrel_indexer::{Indexer, IndexerOptions};

use crate::cli::SealCommand;

/// Runs a `kestrel seal` command.
pub fn seal(config: &Config, command: SealCommand) -> anyhow::Result<ExitCode> {
    match command {
        SealCommand::Now => seal_now(config),
        SealCommand::Keygen { out, public_out } => {
            let (private, public) = kestrel_seal::generate_key_pem()?;
            let signer = kestrel_seal::Signer::from_pem(&private, "the new key")?;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&out)
                .with_context(|| format!("{}: cannot create the private key", out.display()))?;
            file.write_all(private.as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("{}: writing the private key", out.display()))?;
            if let Some(path) = &public_out {
                std::fs::write(path, &public)
                    .with_context(|| format!("{}: writing the public key", path.display()))?;
            }
            eprintln!(
                "private key {} written to {} (mode 0600); keep it off the data volume",
                signer.id(),
                out.display()
            );
            print!("{public}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Seals what is due in the index root and every shard; prints partitions, bytes, seconds.
fn seal_now(config: &Config) -> anyhow::Result<ExitCode> {
    let Some(settings) = crate::pipeline::seal_settings(config)? else {
        anyhow::bail!("no signing key: set seal.key_file or seal.key_env");
    };
    let root = config.index_dir();
    let trees = kestrel_indexer::partition::index_trees(&root)
        .with_context(|| format!("listing {}", root.display()))?;
    let started = Instant::now();
    let (mut partitions, mut bytes) = (0usize, 0u64);
    for tree in trees {
        let mut indexer = Indexer::open(&tree, IndexerOptions::default())
            .and_then(|i| i.with_seal(settings.clone()))
            .with_context(|| format!("opening {}", tree.display()))?;
        let sealed = indexer
            .seal_due(chrono::Utc::now())
            .with_context(|| format!("sealing {}", tree.display()))?;
        for key in sealed {
            partitions += 1;
            bytes += dir_bytes(&key.dir(&tree));
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "sealed {partitions} partitions, {bytes} bytes ({:.1} MiB) in {seconds:.2} s ({:.2} s/GB)",
        bytes as f64 / (1024.0 * 1024.0),
        seconds / (bytes as f64 / 1e9).max(1e-9),
    );
    Ok(ExitCode::SUCCESS)
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}
