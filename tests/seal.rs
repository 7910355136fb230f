//! Sealed partitions end to end: generated data over several days ingested with a signing
//! key, then each kind of tampering, each detected and named by `kestrel verify`; an untouched
//! store, a retention deletion and late events verify clean.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, OnceLock};

use common::{kestrel, run_ok, search, write_kestrel_config};

/// A store ingested once, copied by each test before it tampers with it.
struct Template {
    dir: tempfile::TempDir,
    config: PathBuf,
}

fn template() -> &'static Template {
    static TEMPLATE: OnceLock<Template> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("seal.pem");
        run_ok(
            kestrel(&dir.path().join("data"))
                .args(["seal", "keygen", "--out"])
                .arg(&key)
                .arg("--public-out")
                .arg(dir.path().join("seal.pub.pem")),
        );
        let config = write_kestrel_config(
            dir.path(),
            &format!("[seal]\nkey_file = \"{}\"\n", key.display()),
        );
        let generated = dir.path().join("generated");
        run_ok(kestrel(&dir.path().join("data")).args([
            "generate",
            "--events",
            "6000",
            "--span",
            "3d",
            "--start",
            "2024-01-01T00:00:00Z",
            "--seed",
            "7",
            generated.to_str().unwrap(),
        ]));
        let output = run_ok(
            kestrel(&dir.path().join("data"))
                .arg("--config")
                .arg(&config)
                .arg("ingest")
                .args(log_files(&generated)),
        );
        assert!(String::from_utf8_lossy(&output.stdout).contains("6000 events"));
        Template { dir, config }
    })
}

fn log_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "log") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// A copy of the template's data directory.
struct Store {
    _dir: tempfile::TempDir,
    data: PathBuf,
}

impl Store {
    fn copy() -> Store {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let status = std::process::Command::new("cp")
            .arg("-a")
            .arg(template().dir.path().join("data"))
            .arg(&data)
            .status()
            .unwrap();
        assert!(status.success());
        Store { _dir: dir, data }
    }

    fn index(&self) -> PathBuf {
        self.data.join("index")
    }

    fn partition(&self, relative: &str) -> PathBuf {
        self.index().join(relative)
    }

    /// A segment file of a partition, with `ext`.
    fn segment_file(&self, relative: &str, ext: &str) -> PathBuf {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.partition(relative))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == ext))
            .collect();
        files.sort();
        files
            .into_iter()
            .next()
            .expect("the partition has a segment")
    }

    fn entry(&self, seq: u64) -> PathBuf {
        self.index()
            .join("seal/chains/indexer")
            .join(format!("{seq:010}.json"))
    }

    fn verify(&self, extra: &[&str]) -> (bool, String) {
        let output: Output = kestrel(&self.data)
            .arg("--config")
            .arg(&template().config)
            .arg("verify")
            .args(extra)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        (output.status.success(), text)
    }

    /// Verifies, expecting a failure with a line naming `path` and saying `what`.
    fn assert_detected(&self, path: &Path, what: &str) {
        let (ok, output) = self.verify(&[]);
        assert!(!ok, "verify passed:\n{output}");
        let line = format!("{}: {what}", path.display());
        assert!(
            output.lines().any(|l| l.starts_with(&line)),
            "no line starting with {line:?} in:\n{output}"
        );
        assert!(
            output.lines().last().unwrap().starts_with("FAILED: "),
            "{output}"
        );
    }
}

const DAY2: &str = "container/2024-01-02";

#[test]
fn an_untouched_store_verifies_clean_with_every_partition_sealed() {
    let store = Store::copy();
    let (ok, output) = store.verify(&[]);
    assert!(ok, "{output}");
    // Three days of container logs and of audit events: six sealed partitions.
    let summary = output.lines().last().unwrap();
    assert!(
        summary.starts_with("verified: 1 chains (6 entries), 6 partitions, "),
        "{output}"
    );
    assert!(summary.ends_with(", 0 uncovered"), "{output}");
    // The public key alone (an auditor's machine) verifies the same.
    let public = template().dir.path().join("seal.pub.pem");
    let (ok, output) = store.verify(&["--public-key", public.to_str().unwrap()]);
    assert!(ok, "{output}");
    // --from/--to restrict the partitions checked.
    let (ok, output) = store.verify(&[
        "--from",
        "2024-01-02T00:00:00Z",
        "--to",
        "2024-01-02T12:00:00Z",
    ]);
    assert!(ok, "{output}");
    assert!(output.contains(", 2 partitions, "), "{output}");
}

#[test]
fn a_flipped_byte_in_a_segment_is_named() {
    let store = Store::copy();
    let file = store.segment_file(DAY2, "store");
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&file, bytes).unwrap();
    store.assert_detected(&file, "modified file: content differs from its manifest");
}

#[test]
fn a_truncated_file_is_named_with_its_sizes() {
    let store = Store::copy();
    let file = store.segment_file(DAY2, "idx");
    let len = std::fs::metadata(&file).unwrap().len();
    let handle = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
    handle.set_len(len - 10).unwrap();
    store.assert_detected(
        &file,
        &format!("modified file: {} bytes, sealed with {len}", len - 10),
    );
}

#[test]
fn a_deleted_segment_file_is_missing() {
    let store = Store::copy();
    let file = store.segment_file("k8s_audit/2024-01-03", "term");
    std::fs::remove_file(&file).unwrap();
    store.assert_detected(&file, "missing file");
}

#[test]
fn an_added_file_is_named() {
    let store = Store::copy();
    let file = store
        .partition(DAY2)
        .join("0123456789abcdef0123456789abcdef.store");
    std::fs::write(&file, b"not sealed").unwrap();
    store.assert_detected(&file, "added file");
}

#[test]
fn an_edited_meta_json_is_named() {
    let store = Store::copy();
    let file = store.partition(DAY2).join("meta.json");
    let text = std::fs::read_to_string(&file).unwrap();
    let edited = text.replacen("\"opstamp\":", "\"opstamp\": ", 1);
    assert_ne!(text, edited);
    std::fs::write(&file, edited).unwrap();
    store.assert_detected(&file, "modified file");
}

#[test]
fn a_deleted_manifest_breaks_the_chain() {
    let store = Store::copy();
    std::fs::remove_file(store.entry(3)).unwrap();
    store.assert_detected(&store.entry(4), "broken link: entry 3 missing");
}

#[test]
fn reordered_manifests_are_named() {
    let store = Store::copy();
    let (two, three) = (store.entry(2), store.entry(3));
    let aside = two.with_extension("aside");
    std::fs::rename(&two, &aside).unwrap();
    std::fs::rename(&three, &two).unwrap();
    std::fs::rename(&aside, &three).unwrap();
    store.assert_detected(&two, "moved entry: holds entry 3 of the chain");
    store.assert_detected(&three, "moved entry: holds entry 2 of the chain");
}

#[test]
fn a_manifest_signed_with_another_key_is_named() {
    let store = Store::copy();
    let entry = store.entry(2);
    let document = std::fs::read(&entry).unwrap();
    let body: serde_json::Value =
        serde_json::from_slice(document.split(|&b| b == b'\n').next().unwrap()).unwrap();
    let (private, _) = kestrel_seal::generate_key_pem().unwrap();
    let other = kestrel_seal::Signer::from_pem(&private, "other").unwrap();
    std::fs::write(&entry, kestrel_seal::sign(&other, &body).unwrap()).unwrap();
    store.assert_detected(&entry, &format!("signed by unknown key {}", other.id()));
}

#[test]
fn a_sealed_partition_deleted_by_hand_is_named() {
    let store = Store::copy();
    let dir = store.partition(DAY2);
    std::fs::remove_dir_all(&dir).unwrap();
    store.assert_detected(&dir, "sealed partition deleted (not by retention)");
}

#[test]
fn a_deletion_by_retention_verifies_and_one_by_hand_after_it_does_not() {
    let store = Store::copy();
    let key = std::fs::read_to_string(template().dir.path().join("seal.pem")).unwrap();
    let settings = kestrel_indexer::SealSettings {
        signer: Arc::new(kestrel_seal::Signer::from_pem(&key, "seal.pem").unwrap()),
        chain: "indexer".into(),
        grace: std::time::Duration::from_secs(3600),
        checkpoint_every: std::time::Duration::from_secs(3600),
        alerts_dir: None,
    };
    let mut indexer =
        kestrel_indexer::Indexer::open(store.index(), kestrel_indexer::IndexerOptions::default())
            .unwrap()
            .with_seal(settings)
            .unwrap();
    // 12 h of retention on 2024-01-02T12:00 deletes the first day's two partitions.
    let now = kestrel_event::parse_timestamp("2024-01-02T12:00:00Z").unwrap();
    let policy = kestrel_indexer::RetentionPolicy {
        default: Some(std::time::Duration::from_secs(12 * 3600)),
        audit: None,
    };
    let outcome = indexer
        .apply_retention(&policy, &kestrel_indexer::NoHooks, now)
        .unwrap();
    let deleted: Vec<String> = outcome.deleted.iter().map(|d| d.key.relative()).collect();
    assert_eq!(deleted, ["container/2024-01-01", "k8s_audit/2024-01-01"]);
    drop(indexer);
    assert!(!store.partition("container/2024-01-01").exists());
    assert!(!store.partition("k8s_audit/2024-01-01").exists());
    let (ok, output) = store.verify(&[]);
    assert!(ok, "{output}");
    assert!(output.contains("(8 entries), 6 partitions, "), "{output}");

    let by_hand = store.partition(DAY2);
    std::fs::remove_dir_all(&by_hand).unwrap();
    store.assert_detected(&by_hand, "sealed partition deleted (not by retention)");
}

#[test]
fn kestrel_retention_apply_records_its_deletions_in_the_chain_and_waits_for_no_running_indexer() {
    let store = Store::copy();
    let config = write_kestrel_config(
        store._dir.path(),
        &format!(
            "[seal]\nkey_file = \"{}\"\n[retention]\ndefault = \"1d\"\n",
            template().dir.path().join("seal.pem").display()
        ),
    );
    let apply = || {
        kestrel(&store.data)
            .arg("--config")
            .arg(&config)
            .args(["retention", "apply"])
            .output()
            .unwrap()
    };

    // While another writer holds the chain (an indexer running on the store), the pass is
    // refused and nothing is deleted.
    let key = std::fs::read_to_string(template().dir.path().join("seal.pem")).unwrap();
    let running =
        kestrel_indexer::Indexer::open(store.index(), kestrel_indexer::IndexerOptions::default())
            .unwrap()
            .with_seal(kestrel_indexer::SealSettings {
                signer: Arc::new(kestrel_seal::Signer::from_pem(&key, "seal.pem").unwrap()),
                chain: "indexer".into(),
                grace: std::time::Duration::from_secs(3600),
                checkpoint_every: std::time::Duration::from_secs(3600),
                alerts_dir: None,
            })
            .unwrap();
    let refused = apply();
    assert!(!refused.status.success());
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(
        why.contains("another process appends to this chain"),
        "{why}"
    );
    assert!(store.partition(DAY2).exists());
    drop(running);

    // Then every 2024 partition is past a day's retention: deleted, each deletion signed into
    // the chain, so the store still verifies.
    let output = apply();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout.matches("deleted ").count(), 6, "{stdout}");
    assert!(!store.partition(DAY2).exists());
    let (ok, text) = store.verify(&[]);
    assert!(ok, "{text}");
}

#[test]
fn late_events_for_a_sealed_day_go_to_a_late_partition_sealed_in_turn_and_searched() {
    let store = Store::copy();
    let late = tempfile::tempdir().unwrap();
    let generated = late.path().join("generated");
    run_ok(kestrel(&store.data).args([
        "generate",
        "--kind",
        "docker",
        "--events",
        "50",
        "--span",
        "1h",
        "--start",
        "2024-01-02T05:00:00Z",
        "--seed",
        "99",
        generated.to_str().unwrap(),
    ]));
    let count = |data: &Path| {
        search(data, "event.kind:container", 1)["total"]
            .as_u64()
            .unwrap()
    };
    let before = count(&store.data);
    let sealed_files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(store.partition(DAY2))
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    let output = run_ok(
        kestrel(&store.data)
            .arg("--config")
            .arg(&template().config)
            .arg("ingest")
            .args(log_files(&generated)),
    );
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("(50 new"),
        "{output:?}"
    );
    // The sealed partition is untouched; the late one holds the 50 events and is sealed.
    for (path, bytes) in sealed_files {
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "{}", path.display());
    }
    assert!(store
        .partition("container/2024-01-02.1")
        .join("meta.json")
        .exists());
    assert_eq!(count(&store.data), before + 50);
    let (ok, output) = store.verify(&[]);
    assert!(ok, "{output}");
    let late_sealed = std::fs::read_dir(store.index().join("seal/chains/indexer"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .any(|entry| entry.contains(r#""partition":"container/2024-01-02.1","sealed":true"#));
    assert!(late_sealed);
    // Ingesting the same files again adds nothing: their ids are found in the late partition.
    let output = run_ok(
        kestrel(&store.data)
            .arg("--config")
            .arg(&template().config)
            .arg("ingest")
            .args(log_files(&generated)),
    );
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("(0 new, 50 already indexed)"),
        "{output:?}"
    );
    assert_eq!(count(&store.data), before + 50);
}

#[test]
fn a_store_written_without_a_key_fails_verify_until_sealed_by_seal_now() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let output = run_ok(
        kestrel(&data)
            .arg("ingest")
            .args(log_files(&template().dir.path().join("generated"))),
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("6000 events"));
    let verify = || {
        kestrel(&data)
            .arg("--config")
            .arg(&template().config)
            .arg("verify")
            .output()
            .unwrap()
    };
    let unsealed = verify();
    let text = String::from_utf8_lossy(&unsealed.stdout);
    assert!(!unsealed.status.success());
    assert!(
        text.contains("nothing is sealed: no chain under the index"),
        "{text}"
    );
    let sealed = run_ok(
        kestrel(&data)
            .arg("--config")
            .arg(&template().config)
            .args(["seal", "now"]),
    );
    let text = String::from_utf8_lossy(&sealed.stdout);
    assert!(text.starts_with("sealed 6 partitions, "), "{text}");
    let verified = verify();
    assert!(verified.status.success(), "{:?}", verified);
}
