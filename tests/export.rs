//! `kestrel export` and `kestrel verify --export`: generated events ingested, a query over a
//! range that crosses a UTC day exported in several chunks, the chunks holding exactly what a
//! search returns, in its order; the export verifies, with Kestrel and with openssl, and every
//! tampering is refused by name.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine as _;
use common::{run_ok, write_kestrel_config};
use serde_json::Value;

const QUERY: &str = "NOT verb:list";
const FROM: &str = "2024-05-01T22:00:00Z";
const TO: &str = "2024-05-02T01:30:00Z";

struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
    public_key: PathBuf,
    other_private: String,
    other_public_key: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        std::fs::create_dir(&keys).unwrap();
        let (private, public) = kestrel_seal::generate_key_pem().unwrap();
        let (other_private, other_public) = kestrel_seal::generate_key_pem().unwrap();
        std::fs::write(keys.join("seal.pem"), private).unwrap();
        std::fs::write(keys.join("seal.pub.pem"), public).unwrap();
        std::fs::write(keys.join("other.pub.pem"), other_public).unwrap();
        let config = write_kestrel_config(
            dir.path(),
            &format!(
                "[seal]\nkey_file = \"{}\"\n",
                keys.join("seal.pem").display()
            ),
        );
        Setup {
            public_key: keys.join("seal.pub.pem"),
            other_public_key: keys.join("other.pub.pem"),
            other_private,
            config,
            dir,
        }
    }

    fn kestrel(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_kestrel"));
        command
            .arg("--config")
            .arg(&self.config)
            .env("RUST_LOG", "warn")
            .env("USER", "auditor-test");
        command
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn export(&self, out: &Path) -> Output {
        self.kestrel()
            .args(["export", "--query", QUERY, "--from", FROM, "--to", TO])
            .arg("--out")
            .arg(out)
            .args(["--chunk-events", "700"])
            .output()
            .unwrap()
    }

    fn verify(&self, export: &Path, key: &Path) -> (bool, String) {
        let output = Command::new(env!("CARGO_BIN_EXE_kestrel"))
            .arg("verify")
            .arg("--export")
            .arg(export)
            .arg("--public-key")
            .arg(key)
            .env_remove("KESTREL_CONFIG")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), text)
    }

    /// Every hit of the query over the range, oldest first, paged through the CLI's search.
    fn search_all(&self) -> Vec<Value> {
        let mut hits = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut command = self.kestrel();
            command.args([
                "search", "--format", "json", "--sort", "asc", "--limit", "1000", "--from", FROM,
                "--to", TO,
            ]);
            if let Some(cursor) = &after {
                command.args(["--search-after", cursor]);
            }
            let output = run_ok(command.arg(QUERY));
            let page: Value = serde_json::from_slice(&output.stdout).unwrap();
            hits.extend(page["hits"].as_array().unwrap().iter().cloned());
            match page["next"].as_str() {
                Some(next) => after = Some(next.to_owned()),
                None => return hits,
            }
        }
    }
}

/// Every file `kestrel generate` wrote, but its ground truth.
fn generated_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if !path.ends_with("ground-truth.jsonl") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn decompress(path: &Path) -> String {
    let mut text = String::new();
    zstd::Decoder::new(std::fs::File::open(path).unwrap())
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    text
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn an_export_holds_what_a_search_returns_verifies_offline_and_refuses_tampering() {
    let setup = Setup::new();
    let generated = setup.path("generated");
    run_ok(setup.kestrel().args([
        "generate",
        "--events",
        "6000",
        "--seed",
        "21",
        "--start",
        "2024-05-01T20:00:00Z",
        "--span",
        "8h",
        generated.to_str().unwrap(),
    ]));
    run_ok(
        setup
            .kestrel()
            .arg("ingest")
            .args(generated_files(&generated)),
    );

    let out = setup.path("export");
    let output = setup.export(&out);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // The chunks hold exactly the search's hits, in its order.
    let hits = setup.search_all();
    assert!(hits.len() > 2000, "{} hits", hits.len());
    let document = std::fs::read_to_string(out.join("manifest")).unwrap();
    let (body, signature_line) = document.trim_end().split_once('\n').unwrap();
    let manifest: Value = serde_json::from_str(body).unwrap();
    let chunks = manifest["chunks"].as_array().unwrap();
    assert_eq!(chunks.len(), hits.len().div_ceil(700));
    let mut exported = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        let name = format!("events-{:06}.ndjson.zst", i + 1);
        assert_eq!(chunk["file"], name.as_str());
        let text = decompress(&out.join(&name));
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(chunk["events"], lines.len() as u64);
        exported.extend(lines);
    }
    let ids = |events: &[Value]| -> Vec<String> {
        events
            .iter()
            .map(|e| e["event"]["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&exported), ids(&hits), "same events, same order");
    assert_eq!(exported, hits, "same events, byte for byte once parsed");
    assert_eq!(manifest["events"], hits.len() as u64);
    assert!(
        stdout.contains(&format!("exported {} events", hits.len())),
        "{stdout}"
    );

    // What the manifest says of the export.
    assert_eq!(manifest["format"], "kestrel-export/1");
    assert_eq!(manifest["query"], QUERY);
    assert_eq!(manifest["from"], FROM);
    assert_eq!(manifest["to"], "2024-05-02T01:30:00Z");
    assert_eq!(manifest["exported_by"]["user"], "auditor-test");
    assert_eq!(manifest["exported_by"]["host"], "test-node");
    assert_eq!(manifest["kestrel_version"], env!("CARGO_PKG_VERSION"));
    let partitions = manifest["partitions"].as_array().unwrap();
    let dirs: Vec<&str> = partitions
        .iter()
        .map(|p| p["dir"].as_str().unwrap())
        .collect();
    assert_eq!(
        dirs,
        [
            "container/2024-05-01",
            "k8s_audit/2024-05-01",
            "container/2024-05-02",
            "k8s_audit/2024-05-02"
        ]
    );
    let per_partition: u64 = partitions
        .iter()
        .map(|p| p["events"].as_u64().unwrap())
        .sum();
    assert_eq!(per_partition, hits.len() as u64);
    // Ingested with a signing key, the past days' partitions were sealed: each is identified
    // by the chain entry holding its signed final manifest.
    for partition in partitions {
        let entry = partition["hash"]["of"].as_str().unwrap();
        assert!(entry.starts_with("seal/chains/"), "{partition}");
        let bytes = std::fs::read(setup.path("data/index").join(entry)).unwrap();
        let digest =
            sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(&bytes));
        assert_eq!(partition["hash"]["sha256"], hex(&digest));
        let text = String::from_utf8(bytes).unwrap();
        let dir = partition["dir"].as_str().unwrap();
        assert!(
            text.contains(&format!("\"partition\":\"{dir}\",\"sealed\":true")),
            "{text}"
        );
    }

    // It verifies with Kestrel...
    let (ok, text) = setup.verify(&out, &setup.public_key);
    assert!(ok, "{text}");
    assert!(
        text.contains(&format!(
            "intact: {} events in {} chunks",
            hits.len(),
            chunks.len()
        )),
        "{text}"
    );
    // ...and with openssl: the first line of the manifest, Ed25519.
    let signature: Value = serde_json::from_str(signature_line).unwrap();
    let signature = base64::engine::general_purpose::STANDARD
        .decode(signature["signature"].as_str().unwrap())
        .unwrap();
    std::fs::write(setup.path("body"), body).unwrap();
    std::fs::write(setup.path("signature"), signature).unwrap();
    let openssl = Command::new("openssl")
        .args(["pkeyutl", "-verify", "-rawin", "-pubin", "-inkey"])
        .arg(&setup.public_key)
        .arg("-in")
        .arg(setup.path("body"))
        .arg("-sigfile")
        .arg(setup.path("signature"))
        .output()
        .unwrap();
    assert!(
        openssl.status.success(),
        "{}",
        String::from_utf8_lossy(&openssl.stderr)
    );

    // A second export into the same directory is refused.
    let again = setup.export(&out);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("not empty"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    // Tampering, each on a fresh copy.
    let tampered = |name: &str, change: &dyn Fn(&Path)| -> String {
        let copy = setup.path(name);
        copy_dir(&out, &copy);
        change(&copy);
        let (ok, text) = setup.verify(&copy, &setup.public_key);
        assert!(!ok, "{name}: {text}");
        text
    };
    let text = tampered("flipped", &|dir| {
        let path = dir.join("events-000002.ndjson.zst");
        let mut bytes = std::fs::read(&path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x01;
        std::fs::write(&path, bytes).unwrap();
    });
    assert!(
        text.contains("events-000002.ndjson.zst: modified chunk"),
        "{text}"
    );
    let text = tampered("deleted", &|dir| {
        std::fs::remove_file(dir.join("events-000003.ndjson.zst")).unwrap();
    });
    assert!(
        text.contains("events-000003.ndjson.zst: missing chunk"),
        "{text}"
    );
    let added = format!("events-{:06}.ndjson.zst", chunks.len() + 1);
    let text = tampered("added", &|dir| {
        std::fs::copy(dir.join("events-000001.ndjson.zst"), dir.join(&added)).unwrap();
    });
    assert!(
        text.contains(&format!("{added}: added file, not in the manifest")),
        "{text}"
    );
    let text = tampered("edited", &|dir| {
        let edited = document.replacen(
            &format!("\"events\":{}", hits.len()),
            &format!("\"events\":{}", hits.len() - 1),
            1,
        );
        assert_ne!(edited, document);
        std::fs::write(dir.join("manifest"), edited).unwrap();
    });
    assert!(
        text.contains("manifest: signature: does not match the signature by key"),
        "{text}"
    );
    let text = tampered("resigned", &|dir| {
        let other = kestrel_seal::Signer::from_pem(&setup.other_private, "other").unwrap();
        let mut forged = manifest.clone();
        forged["query"] = Value::from("verb:create");
        std::fs::write(
            dir.join("manifest"),
            kestrel_seal::sign(&other, &forged).unwrap(),
        )
        .unwrap();
    });
    assert!(
        text.contains("manifest: signature: signed by key")
            && text.contains("not among the public keys given"),
        "{text}"
    );
    let (ok, text) = setup.verify(&out, &setup.other_public_key);
    assert!(!ok, "{text}");
    assert!(text.contains("not among the public keys given"), "{text}");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
