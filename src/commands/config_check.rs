//! `kestrel config check FILE`.

use std::path::Path;
use std::process::ExitCode;

/// Loads and validates `file` (with the environment layered on top) and reports every problem.
pub fn check(file: &Path) -> ExitCode {
    match kestrel_config::load(Some(file)) {
        Ok(config) => {
            // The retention rules are written in the query language, which the configuration
            // crate does not parse.
            if let Err(error) = kestrel_query::retention::RuleClassifier::new(&config.retention) {
                eprintln!("{}: {error}", file.display());
                return ExitCode::from(1);
            }
            println!("{}: ok", file.display());
            ExitCode::SUCCESS
        }
        Err(error) => {
            for problem in error.errors() {
                eprintln!("{problem}");
            }
            ExitCode::from(1)
        }
    }
}
