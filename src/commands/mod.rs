//! The commands of the `kestrel` binary.

mod aggregate;
mod alerts;
mod bench;
mod config_check;
mod export;
mod footprint;
mod generate;
mod hold;
mod hunt;
mod ingest;
mod retention;
mod rules_measure;
mod rules_test;
mod run;
mod seal;
mod search;
mod token;
mod verify;

use std::process::ExitCode;

use anyhow::Context;
use kestrel_config::Config;

use crate::cli::{Cli, Command, ConfigCommand, GlobalArgs, RulesCommand};

/// Runs the command the user asked for.
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Command::Config {
        command: ConfigCommand::Check { file },
    } = &cli.command
    {
        return Ok(config_check::check(file));
    }
    if let Command::Rules {
        command: RulesCommand::Test { path },
    } = &cli.command
    {
        // The rules' own tests are written for the pack's placeholder values; a configuration
        // given explicitly applies its own, so its allow-lists can be checked too, and adds its
        // filters (whose own tests then run).
        let detection = match &cli.global.config {
            Some(_) => load_config(&cli.global)?.detection,
            None => Default::default(),
        };
        return Ok(rules_test::test(
            path,
            &detection.placeholders,
            &detection.filters,
        ));
    }
    if let Command::Rules {
        command:
            RulesCommand::Measure {
                path,
                generated,
                json,
            },
    } = &cli.command
    {
        // As for `rules test`: the pack's placeholder values, or a configuration's when given
        // (a cluster's own allow-lists and filters measured on its own traffic).
        let detection = match &cli.global.config {
            Some(_) => load_config(&cli.global)?.detection,
            None => Default::default(),
        };
        return rules_measure::measure(
            path,
            generated.as_deref(),
            *json,
            &detection.placeholders,
            &detection.filters,
        );
    }
    if let Command::Verify(args) = &cli.command {
        // An export is verified with nothing but its directory and the public keys: no
        // configuration is read.
        if let Some(dir) = &args.export {
            return export::verify(dir, &args.public_keys);
        }
    }
    let config = load_config(&cli.global)?;
    crate::telemetry::init(&config.log);
    for warning in config.deprecations() {
        tracing::warn!("{warning}");
    }
    match cli.command {
        Command::Run => run::run(config, run::Roles::ALL),
        Command::Collector => run::run(config, run::Roles::COLLECTOR),
        Command::Indexer => run::run(config, run::Roles::INDEXER),
        Command::Query => run::run(config, run::Roles::QUERY),
        Command::Ingest(args) => ingest::ingest(config, args),
        Command::Search(args) => search::search(config, args),
        Command::Aggregate(args) => aggregate::aggregate(config, args),
        Command::Hunt(args) => hunt::hunt(config, args),
        Command::Export(args) => export::export(config, args),
        Command::Token { command } => token::token(&config, command),
        Command::Hold { command } => hold::hold(&config, command),
        Command::Retention { command } => retention::retention(&config, command),
        Command::Alerts { command } => alerts::alerts(config, command),
        Command::Generate(args) => generate::generate(args),
        Command::Footprint(args) => footprint::footprint(&config, &args),
        Command::Seal { command } => seal::seal(&config, command),
        Command::Verify(args) => verify::verify(config, args),
        Command::Bench(args) => bench::bench(config, args),
        Command::Config { .. } | Command::Rules { .. } => unreachable!("handled above"),
    }
}

/// Loads the configuration and applies `--data-dir`.
pub fn load_config(global: &GlobalArgs) -> anyhow::Result<Config> {
    let mut config = kestrel_config::load(global.config.as_deref()).context("configuration")?;
    if let Some(dir) = &global.data_dir {
        config = config.with_data_dir(dir.clone());
    }
    Ok(config)
}
