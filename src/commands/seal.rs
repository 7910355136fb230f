//! `kestrel seal keygen`: a signing key pair for sealed partitions.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::process::ExitCode;

use anyhow::Context;

use crate::cli::SealCommand;

/// Runs a `kestrel seal` command.
pub fn seal(command: SealCommand) -> anyhow::Result<ExitCode> {
    match command {
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
