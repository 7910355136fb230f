//! The manifest of an export: its body is one line of compact JSON, signed with Ed25519 as a
//! [`kestrel_seal`] document (the body, then a line with the key id and the signature of exactly
//! the body's bytes).

use serde::{Deserialize, Serialize};

/// The manifest's file name in an export directory.
pub const MANIFEST_FILE: &str = "manifest";
/// The format written in [`Manifest::format`].
pub const FORMAT: &str = "kestrel-export/1";

/// What an export holds and how it was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// The version of Kestrel that wrote the export.
    pub kestrel_version: String,
    /// The query, as given (empty: every event).
    pub query: String,
    /// Earliest `@timestamp` asked for (RFC 3339, nanoseconds; absent: unbounded).
    pub from: Option<String>,
    /// Latest `@timestamp` asked for (inclusive).
    pub to: Option<String>,
    /// Who exported.
    pub exported_by: Exporter,
    /// When the export started (RFC 3339).
    pub exported_at: String,
    /// Events in all chunks.
    pub events: u64,
    /// The chunks, in order: events of chunk N all come before those of chunk N+1.
    pub chunks: Vec<Chunk>,
    /// The index partitions the events were read from.
    pub partitions: Vec<SourcePartition>,
}

/// Who made an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exporter {
    /// The operating-system user (`kestrel export`) or the identity of the API caller.
    pub user: String,
    /// The host the export ran on.
    pub host: String,
    /// The API token's name, for an export made through the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// One chunk file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    /// Its file name in the export directory ([`chunk_name`]).
    pub file: String,
    /// Events (NDJSON lines) it holds once decompressed.
    pub events: u64,
    /// Its size on disk (compressed).
    pub bytes: u64,
    /// SHA-256 of the file as on disk (compressed), lowercase hex.
    pub sha256: String,
}

/// A partition of the index some exported events came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourcePartition {
    /// Its directory, relative to the index root (`k8s_audit/2026-12-01`).
    pub dir: String,
    /// Events exported from it.
    pub events: u64,
    /// What identifies its content at export time.
    pub hash: PartitionHash,
}

/// The hash of the file that identifies a partition's content: for a sealed partition, the
/// entry of the hash chain holding its signed final manifest (which lists the SHA-256 of every
/// file of the partition); else its `meta.json` (the list of its segments).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionHash {
    /// The file hashed: the chain entry, relative to the index root
    /// (`seal/chains/indexer/0000000004.json`), or `meta.json`, relative to the partition's
    /// directory.
    pub of: String,
    /// Its SHA-256, lowercase hex.
    pub sha256: String,
}

/// The file name of the `number`th chunk (from 1): `events-000001.ndjson.zst`.
pub fn chunk_name(number: usize) -> String {
    format!("events-{number:06}.ndjson.zst")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            format: FORMAT.into(),
            kestrel_version: "0.1.0".into(),
            query: "verb:delete".into(),
            from: Some("2026-12-01T00:00:00Z".into()),
            to: None,
            exported_by: Exporter {
                user: "auditor".into(),
                host: "node-1".into(),
                token: None,
            },
            exported_at: "2026-12-07T18:00:00Z".into(),
            events: 3,
            chunks: vec![Chunk {
                file: chunk_name(1),
                events: 3,
                bytes: 120,
                sha256: "00".repeat(32),
            }],
            partitions: vec![SourcePartition {
                dir: "k8s_audit/2026-12-01".into(),
                events: 3,
                hash: PartitionHash {
                    of: "meta.json".into(),
                    sha256: "11".repeat(32),
                },
            }],
        }
    }

    #[test]
    fn chunks_are_numbered_from_one_on_six_digits() {
        assert_eq!(chunk_name(1), "events-000001.ndjson.zst");
        assert_eq!(chunk_name(123_456), "events-123456.ndjson.zst");
    }

    #[test]
    fn the_manifest_is_one_line_that_round_trips() {
        let manifest = manifest();
        let text = serde_json::to_string(&manifest).unwrap();
        assert!(!text.contains('\n'));
        assert!(
            !text.contains("\"token\""),
            "no token outside the API: {text}"
        );
        assert!(
            text.contains("\"to\":null"),
            "an open end is written: {text}"
        );
        assert_eq!(serde_json::from_str::<Manifest>(&text).unwrap(), manifest);
    }

    #[test]
    fn a_signed_manifest_opens_with_its_key_and_names_its_fields() {
        let (private, public) = kestrel_seal::generate_key_pem().unwrap();
        let signer = kestrel_seal::Signer::from_pem(&private, "test").unwrap();
        let document = kestrel_seal::sign(&signer, &manifest()).unwrap();
        let mut keys = kestrel_seal::PublicKeys::new();
        keys.insert_pem(&public, "test").unwrap();
        let opened = kestrel_seal::open(&document, &keys).unwrap();
        let body: serde_json::Value = opened.parse().unwrap();
        for field in [
            "format",
            "kestrel_version",
            "query",
            "from",
            "to",
            "exported_by",
            "exported_at",
            "events",
            "chunks",
            "partitions",
        ] {
            assert!(body.get(field).is_some(), "{field} missing");
        }
        assert_eq!(opened.parse::<Manifest>().unwrap(), manifest());
    }
}
