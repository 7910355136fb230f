//! Tamper evidence for what Kestrel stores: Ed25519 signing keys ([`key`]) and signed
//! documents ([`envelope`]), the building blocks of sealed partitions, their hash chain and
//! auditor exports.
//!
//! A signed document is two lines: the body, one line of compact JSON, and the signature of
//! exactly those bytes with the id of the key that made it. Verification needs nothing but the
//! document and the public keys, so an auditor can check it offline.

pub mod envelope;
mod error;
pub mod key;

pub use envelope::{open, sign, Opened};
pub use error::SealError;
pub use key::{generate_key_pem, KeyId, KeySource, PublicKeys, Signer};
