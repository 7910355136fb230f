//! End to end: `kestrel config check` names the file, key and problem.

mod common;

use std::process::Command;

fn check(contents: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kestrel.toml");
    std::fs::write(&file, contents).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .args(["config", "check"])
        .arg(&file)
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn the_example_configuration_is_valid() {
    let example = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/kestrel.example.toml"),
    )
    .unwrap();
    let (code, stdout, stderr) = check(&example);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains(": ok"));
}

#[test]
fn bad_configurations_are_explained() {
    let cases = [
        ("[query]\nlisten = \"localhost:x\"\n", "query.listen"),
        (
            "[indexer]\ncommit_max_events = 0\n",
            "indexer.commit_max_events",
        ),
        ("[query]\nlisten = \"0.0.0.0:7700\"\n", "query.auth"),
        ("data_dirr = \"/x\"\n", "data_dirr"),
        ("[bus]\nkind = \"kafka\"\n", "bus.kafka.brokers"),
        ("[collector\n", "kestrel.toml"),
        (
            "[[retention.rules]]\nname = \"a\"\nmatch = \"verb:(\"\nkeep = \"30d\"\n",
            "retention.rules[0].match: ",
        ),
        (
            "[[retention.rules]]\nname = \"a\"\nmatch = \"*\"\nkeep = \"36h\"\n",
            "retention.rules[0].keep: must be a whole number of days",
        ),
    ];
    for (contents, key) in cases {
        let (code, _, stderr) = check(contents);
        assert_eq!(code, 1, "{contents}: {stderr}");
        assert!(
            stderr.contains(key),
            "{contents}: expected {key} in {stderr}"
        );
        assert!(
            stderr.contains("kestrel.toml") || key == "bus.kafka.brokers",
            "{stderr}"
        );
    }
}

#[test]
fn a_missing_file_is_named() {
    let output = Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .args(["config", "check", "/nonexistent/kestrel.toml"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/kestrel.toml"));
}
