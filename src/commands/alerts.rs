//! `kestrel alerts dead|redeliver`: the dead-letter list of alert deliveries.

use std::io::Write;
use std::process::ExitCode;

use kestrel_alerting::Outbox;
use kestrel_config::Config;

use crate::cli::AlertsCommand;
use crate::detection::outbox_dir;

/// Lists or requeues dead deliveries.
pub fn alerts(config: Config, command: AlertsCommand) -> anyhow::Result<ExitCode> {
    let outbox = Outbox::open(&outbox_dir(&config))?;
    match command {
        AlertsCommand::Dead => {
            let mut out = std::io::stdout().lock();
            for delivery in outbox.dead()? {
                serde_json::to_writer(&mut out, &delivery)?;
                writeln!(out)?;
            }
        }
        AlertsCommand::Redeliver { id } => {
            let moved = outbox.redeliver(id.as_deref(), chrono::Utc::now().timestamp_millis())?;
            println!("{moved} deliveries queued again");
            if moved == 0 && id.is_some() {
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
