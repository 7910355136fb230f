//! Sigma placeholders through the binary: `kestrel rules test` resolves `%name%` with the
//! pack's `placeholders.toml`, a configuration given with `--config` replaces a list, and an
//! unknown placeholder stops the load with the file and the placeholder named.

use std::path::Path;
use std::process::{Command, Output};

const RULE: &str = "title: Request By A Disallowed User
id: kestrel-test-disallowed-user
status: test
description: test
logsource: {product: kubernetes, service: audit}
detection:
    selection:
        verb: create
    filter_allowed:
        user.username|expand: '%allowed_users%'
    condition: selection and not filter_allowed
level: low
tests:
    match:
        - {verb: create, user: {username: mallory}}
    no_match:
        - {verb: create, user: {username: Alice}}
        - {verb: create, user: {username: 'ci-runner-7'}}
";

fn rules_test(pack: &Path, config: Option<&Path>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kestrel"));
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    command
        .args(["rules", "test"])
        .arg(pack)
        .env("RUST_LOG", "warn")
        .env_remove("KESTREL_CONFIG")
        .output()
        .expect("kestrel runs")
}

fn pack(defaults: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("placeholders.toml"), defaults).unwrap();
    std::fs::create_dir(dir.path().join("kubernetes")).unwrap();
    std::fs::write(dir.path().join("kubernetes/disallowed_user.yml"), RULE).unwrap();
    dir
}

#[test]
fn rule_tests_use_the_pack_defaults_and_a_given_configuration_replaces_a_list() {
    let dir = pack("allowed_users = [\"alice\", \"ci-runner-*\"]\n");
    let output = rules_test(dir.path(), None);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("1 rules, 1 passed, 0 failed, 3 test events"),
        "{stdout}"
    );
    // A single file below the pack finds the same defaults.
    let output = rules_test(&dir.path().join("kubernetes/disallowed_user.yml"), None);
    assert!(output.status.success());

    // The configuration's list replaces the pack's (ci-runner-* is no longer allowed).
    let config = dir.path().join("kestrel.toml");
    std::fs::write(
        &config,
        "[detection.placeholders]\nallowed_users = [\"alice\"]\n",
    )
    .unwrap();
    let output = rules_test(dir.path(), Some(&config));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{stdout}");
    assert!(stdout.contains("ci-runner-7"), "{stdout}");
}

#[test]
fn an_unknown_placeholder_names_the_file_and_the_placeholder() {
    let dir = pack("other = []\n");
    let output = rules_test(dir.path(), None);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("kubernetes/disallowed_user.yml"),
        "{stderr}"
    );
    assert!(stderr.contains("%allowed_users%"), "{stderr}");
    // Defined in the configuration instead, it loads.
    let config = dir.path().join("kestrel.toml");
    std::fs::write(
        &config,
        "[detection.placeholders]\nallowed_users = [\"alice\", \"ci-runner-*\"]\n",
    )
    .unwrap();
    let output = rules_test(dir.path(), Some(&config));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}
