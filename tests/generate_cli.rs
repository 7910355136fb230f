//! `kestrel generate`: the command wires the generator, prints a summary, refuses bad input.

use std::path::Path;
use std::process::{Command, Output};

fn generate(args: &[&str], out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .arg("generate")
        .args(args)
        .arg(out)
        .output()
        .expect("kestrel runs")
}

#[test]
fn generates_the_layout_and_prints_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gen");
    let args = [
        "--kind",
        "mixed",
        "--events",
        "2000",
        "--seed",
        "3",
        "--start",
        "2024-05-01T00:00:00+02:00",
        "--span",
        "6h",
        "--attack-rate",
        "0.01",
    ];
    let output = generate(&args, &out);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("2000 events (1200 container, 800 audit)"),
        "{stdout}"
    );
    let audit = std::fs::read_to_string(out.join("var/log/kubernetes/audit/audit.log")).unwrap();
    assert_eq!(audit.lines().count(), 800);
    assert!(
        audit.contains("\"stageTimestamp\":\"2024-04-30T22:"),
        "start is honored"
    );
    assert!(out.join("ground-truth.jsonl").is_file());
    assert!(out.join("var/lib/docker/containers").is_dir());
    assert!(out.join("var/log/pods").is_dir());
    // Same seed, same bytes.
    let again = dir.path().join("again");
    assert!(generate(&args, &again).status.success());
    let read =
        |root: &Path| std::fs::read(root.join("var/log/kubernetes/audit/audit.log")).unwrap();
    assert_eq!(read(&out), read(&again));
}

#[test]
fn bad_arguments_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (args, want) in [
        (&["--span", "1y"][..], "--span"),
        (&["--start", "yesterday"][..], "--start"),
        (&["--attack-rate", "2"][..], "attack rate"),
    ] {
        let output = generate(args, &dir.path().join("x"));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success() && stderr.contains(want),
            "{args:?}: {stderr}"
        );
    }
    std::fs::write(dir.path().join("file"), b"x").unwrap();
    let output = generate(&[], dir.path());
    assert!(String::from_utf8_lossy(&output.stderr).contains("not empty"));
}
