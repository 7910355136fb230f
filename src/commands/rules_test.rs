//! `kestrel rules test [PATH]`: runs the test events of every rule.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use kestrel_detect::run_rule_tests;

/// Prints one line per rule and a summary; exit code 1 when a rule fails or none is found.
/// The placeholders take the pack's values, each overridden by `placeholders` (the
/// configuration's, when one is given).
pub fn test(path: &Path, placeholders: &BTreeMap<String, Vec<String>>) -> ExitCode {
    let documents = match crate::detection::load_configured_rules(path, placeholders) {
        Ok(documents) => documents,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(1);
        }
    };
    let results = run_rule_tests(&documents);
    let mut failed = 0;
    let mut events = 0;
    for result in &results {
        events += result.checked;
        if result.failures.is_empty() {
            println!("ok    {} ({})", result.title, result.file.display());
            continue;
        }
        failed += 1;
        println!("FAIL  {} ({})", result.title, result.file.display());
        for failure in &result.failures {
            println!("      {failure}");
        }
    }
    println!(
        "{} rules, {} passed, {failed} failed, {events} test events",
        results.len(),
        results.len() - failed
    );
    if failed > 0 || results.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
