//! Tamper evidence for what Kestrel stores: Ed25519 signing keys ([`key`]), signed documents
//! ([`envelope`]), streamed file digests ([`digest`]) and the hash chain of manifests that
//! seals index partitions ([`chain`]).
//!
//! A signed document is two lines: the body, one line of compact JSON, and the signature of
//! exactly those bytes with the id of the key that made it. Verification needs nothing but the
//! document and the public keys, so an auditor can check it offline.

pub mod chain;
pub mod digest;
pub mod envelope;
mod error;
pub mod key;

pub use chain::{read_chain, ChainError, ChainWriter, Entry, Record};
pub use digest::{hash_file, hash_prefix, sha256_hex, FileDigest};
pub use envelope::{open, sign, Opened};
pub use error::SealError;
pub use key::{generate_key_pem, KeyId, KeySource, PublicKeys, Signer};
