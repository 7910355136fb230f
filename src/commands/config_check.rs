//! `kestrel config check FILE`.

use std::path::Path;
use std::process::ExitCode;

/// Loads and validates `file` (with the environment layered on top) and reports every problem.
pub fn check(file: &Path) -> ExitCode {
    match kestrel_config::load(Some(file)) {
        Ok(_) => {
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
