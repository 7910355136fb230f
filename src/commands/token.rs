//! `kestrel token create|list|revoke`: the token store of the data directory.

use std::process::ExitCode;

use chrono::Utc;
use kestrel_config::Config;
use kestrel_query::access::{NewToken, TokenStore};
use kestrel_query::audit_trail::AuditEvent;

use crate::cli::TokenCommand;

/// Runs a token command; a bad argument exits 2 with the argument named.
pub fn token(config: &Config, command: TokenCommand) -> anyhow::Result<ExitCode> {
    let store = TokenStore::new(&config.data_dir);
    let now = Utc::now();
    match command {
        TokenCommand::Create {
            name,
            role,
            namespaces,
            expires,
            creator,
        } => {
            let creator = creator.unwrap_or_else(os_user);
            let new = NewToken::parse(
                &name,
                &role,
                namespaces.as_deref(),
                expires.as_deref(),
                &creator,
            )?;
            let (token, record) = store.create(&new, now)?;
            tracing::info!(token = %record.name, role = %record.role, creator = %record.creator, "token created");
            let mut change = AuditEvent::new("token_create");
            change.who = Some(record.creator.clone());
            change.identity_source = Some("cli".into());
            change.route = Some("kestrel token create".into());
            change.query = Some(format!(
                "name={} role={} namespaces={} expires={}",
                record.name,
                record.role,
                record.scope(),
                record
                    .expires_at
                    .map_or("never".to_owned(), |at| at.to_rfc3339())
            ));
            crate::cli_audit::record_event(config, change);
            eprintln!(
                "created token {:?} (role {}, namespaces {}, expires {}); it is shown only now:",
                record.name,
                record.role,
                record.scope(),
                record
                    .expires_at
                    .map_or("never".to_owned(), |at| at.to_rfc3339())
            );
            println!("{token}");
        }
        TokenCommand::List { json } => {
            let records = store.list()?;
            if json {
                for record in &records {
                    println!("{}", kestrel_query::token_api::describe(record));
                }
            } else {
                println!(
                    "{:<24} {:<8} {:<8} {:<24} {:<26} {:<26} CREATOR",
                    "NAME", "ROLE", "STATUS", "NAMESPACES", "CREATED", "EXPIRES"
                );
                for r in &records {
                    println!(
                        "{:<24} {:<8} {:<8} {:<24} {:<26} {:<26} {}",
                        r.name,
                        r.role.as_str(),
                        r.status(now),
                        r.scope().to_string(),
                        r.created_at
                            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        r.expires_at.map_or("never".to_owned(), |at| at
                            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                        r.creator
                    );
                }
            }
        }
        TokenCommand::Revoke { name } => {
            let record = store.revoke(&name, now)?;
            tracing::info!(token = %record.name, "token revoked");
            let mut change = AuditEvent::new("token_revoke");
            change.route = Some("kestrel token revoke".into());
            change.query = Some(format!("name={}", record.name));
            crate::cli_audit::record_event(config, change);
            println!("revoked token {:?}", record.name);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The user running the command: `$USER`, else `$LOGNAME`, else the numeric uid.
fn os_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| format!("uid {}", process_uid()))
}

/// The real user id, read from `/proc/self` (owned by it).
fn process_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map_or(0, |m| m.uid())
}
