//! The seal phase: sealing the ingest phase's index (every partition hashed into a signed
//! manifest) and verifying it, with a key made for the run.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use kestrel_indexer::verify::{verify_index, VerifyOptions};
use kestrel_indexer::{Indexer, IndexerOptions, SealSettings};
use serde::Serialize;

/// Cost of sealing and of verifying.
#[derive(Debug, Clone, Serialize)]
pub struct SealCost {
    /// Partitions sealed.
    pub partitions: usize,
    /// Bytes of the index sealed (every file hashed).
    pub bytes: u64,
    /// Seconds to seal them (commit, merges, hashing, signing, writing the chain).
    pub seal_seconds: f64,
    /// Sealing seconds per GB (10^9 bytes) of index.
    pub seal_seconds_per_gb: f64,
    /// Seconds `kestrel verify` took over the same index.
    pub verify_seconds: f64,
    /// Verify throughput, MiB/s (files just written: from the page cache).
    pub verify_mib_per_second: f64,
}

/// Seals every partition of `index_root` in a chain of its own (removed afterwards) and
/// verifies it.
pub fn seal(index_root: &Path) -> anyhow::Result<SealCost> {
    let (private, _) = kestrel_seal::generate_key_pem()?;
    let signer = Arc::new(kestrel_seal::Signer::from_pem(&private, "bench key")?);
    let keys = kestrel_seal::PublicKeys::from(&*signer);
    let settings = SealSettings {
        signer,
        chain: "bench".to_owned(),
        grace: Duration::ZERO,
        checkpoint_every: Duration::from_secs(3600),
        alerts_dir: None,
    };
    let seal_dir = index_root.join(kestrel_indexer::sealing::SEAL_DIR);
    if seal_dir.exists() {
        anyhow::bail!(
            "seal: {} is sealed already (a [seal] key is configured); run the bench without it",
            index_root.display()
        );
    }
    let started = Instant::now();
    let mut indexer = Indexer::open(index_root, IndexerOptions::default())?.with_seal(settings)?;
    // Far enough ahead that every day is over.
    let sealed = indexer.seal_due(chrono::Utc::now() + chrono::Duration::days(3650))?;
    drop(indexer);
    let seal_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let report = verify_index(index_root, &keys, &VerifyOptions::default())?;
    let verify_seconds = started.elapsed().as_secs_f64();
    if let Some(problem) = report.problems.first() {
        anyhow::bail!("seal: the index just sealed does not verify: {problem}");
    }
    std::fs::remove_dir_all(&seal_dir)
        .with_context(|| format!("removing {}", seal_dir.display()))?;
    let bytes = report.bytes;
    eprintln!("seal: {} partitions, {bytes} bytes", sealed.len());
    Ok(SealCost {
        partitions: sealed.len(),
        bytes,
        seal_seconds,
        seal_seconds_per_gb: seal_seconds / (bytes as f64 / 1e9).max(1e-9),
        verify_seconds,
        verify_mib_per_second: bytes as f64 / (1024.0 * 1024.0) / verify_seconds.max(1e-9),
    })
}
