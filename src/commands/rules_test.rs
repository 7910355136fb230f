//! `kestrel rules test [PATH]`: runs the test events of every rule.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use kestrel_detect::run_rule_tests;

/// Prints one line per rule and per filter, and a summary; exit code 1 when one fails or no
/// rule is found. The placeholders take the pack's values, each overridden by `placeholders`
/// (the configuration's, when one is given); the filters among the rule files and at
/// `filters` run their own tests, the rules theirs as shipped (a rule's line names the
/// filters that refine it).
pub fn test(
    path: &Path,
    placeholders: &BTreeMap<String, Vec<String>>,
    filters: &[PathBuf],
) -> ExitCode {
    let documents = match crate::detection::load_configured_rules(path, placeholders, filters) {
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
        let status = if result.failures.is_empty() {
            "ok  "
        } else {
            failed += 1;
            "FAIL"
        };
        println!(
            "{status}  {}{} ({}){}",
            if result.filter { "filter: " } else { "" },
            result.title,
            result.file.display(),
            refinement(result.filter, &result.refines)
        );
        for failure in &result.failures {
            println!("      {failure}");
        }
    }
    let filters = results.iter().filter(|r| r.filter).count();
    let rules = results.len() - filters;
    let filters = match filters {
        0 => String::new(),
        1 => " and 1 filter".to_owned(),
        n => format!(" and {n} filters"),
    };
    println!(
        "{rules} rules{filters}, {} passed, {failed} failed, {events} test events",
        results.len() - failed
    );
    if failed > 0 || rules == 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// ` [refined by: a, b]` for a rule with filters, ` [refines: r]` for a filter.
fn refinement(filter: bool, refines: &[String]) -> String {
    if refines.is_empty() {
        return String::new();
    }
    let verb = if filter { "refines" } else { "refined by" };
    format!(" [{verb}: {}]", refines.join(", "))
}
