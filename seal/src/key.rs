//! Ed25519 keys: the private key that signs (read at start from a file or an environment
//! variable, never from the data directory) and the public keys that verify, each known by a
//! [`KeyId`] so that keys can be rotated while older documents stay verifiable.
//!
//! Keys are PEM: PKCS#8 for the private key, SubjectPublicKeyInfo for the public one, as
//! `openssl genpkey -algorithm ed25519` and `openssl pkey -pubout` write them (or
//! [`generate_key_pem`]).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::SealError;

/// A public key's id: the first 16 hex digits of the SHA-256 of its 32 bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyId(String);

impl KeyId {
    /// The id of `key`.
    pub fn of(key: &VerifyingKey) -> KeyId {
        let digest = Sha256::digest(key.as_bytes());
        KeyId(hex::encode(&digest[..8]))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where the private key comes from: a PEM file, or an environment variable holding the PEM
/// text (which wins when both are set).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySource {
    /// A PKCS#8 PEM file.
    pub file: Option<PathBuf>,
    /// The name of an environment variable holding the PEM text.
    pub env: Option<String>,
}

impl KeySource {
    /// Loads the signing key; errors name `file_key` / `env_key`, the configuration keys of
    /// the two settings.
    pub fn load(&self, file_key: &str, env_key: &str) -> Result<Signer, SealError> {
        if let Some(name) = &self.env {
            let pem = std::env::var(name).map_err(|_| SealError::MissingEnv(name.clone()))?;
            return Signer::from_pem(&pem, &format!("{env_key} ({name})"));
        }
        let Some(path) = &self.file else {
            return Err(SealError::NoKey {
                file_key: file_key.to_owned(),
                env_key: env_key.to_owned(),
            });
        };
        let pem = read(path)?;
        Signer::from_pem(&pem, &path.display().to_string())
    }
}

fn read(path: &Path) -> Result<String, SealError> {
    std::fs::read_to_string(path).map_err(|source| SealError::Read {
        path: path.to_owned(),
        source,
    })
}

/// A private key and its id.
pub struct Signer {
    key: SigningKey,
    id: KeyId,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer").field("id", &self.id).finish()
    }
}

impl Signer {
    /// A signer from a PKCS#8 PEM private key; `origin` names where it came from in errors.
    pub fn from_pem(pem: &str, origin: &str) -> Result<Signer, SealError> {
        let key = SigningKey::from_pkcs8_pem(pem.trim()).map_err(|e| SealError::Key {
            origin: origin.to_owned(),
            what: "private",
            reason: e.to_string(),
        })?;
        Ok(Signer::from_key(key))
    }

    fn from_key(key: SigningKey) -> Signer {
        let id = KeyId::of(&key.verifying_key());
        Signer { key, id }
    }

    /// The id of the key.
    pub fn id(&self) -> &KeyId {
        &self.id
    }

    /// The signature of `message`.
    pub fn sign(&self, message: &[u8]) -> Signature {
        self.key.sign(message)
    }

    /// The public key.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// The public key in PEM (SubjectPublicKeyInfo), to publish.
    pub fn public_pem(&self) -> String {
        public_pem(&self.key.verifying_key())
    }
}

fn public_pem(key: &VerifyingKey) -> String {
    key.to_public_key_pem(LineEnding::LF)
        // Encoding 32 bytes in a fixed structure cannot fail.
        .expect("an Ed25519 public key encodes")
}

/// A new random private key in PKCS#8 PEM, and its public key in PEM.
pub fn generate_key_pem() -> Result<(String, String), SealError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| SealError::Key {
        origin: "the system's random source".to_owned(),
        what: "private",
        reason: e.to_string(),
    })?;
    let key = SigningKey::from_bytes(&seed);
    let private = key
        .to_pkcs8_pem(LineEnding::LF)
        // Encoding 32 bytes in a fixed structure cannot fail.
        .expect("an Ed25519 private key encodes");
    Ok((private.to_string(), public_pem(&key.verifying_key())))
}

/// The public keys a verifier trusts, by id.
#[derive(Debug, Clone, Default)]
pub struct PublicKeys {
    keys: BTreeMap<KeyId, VerifyingKey>,
}

impl PublicKeys {
    /// No key.
    pub fn new() -> PublicKeys {
        PublicKeys::default()
    }

    /// The keys of PEM files (each a SubjectPublicKeyInfo, or a PKCS#8 private key whose
    /// public half is taken).
    pub fn load(paths: &[PathBuf]) -> Result<PublicKeys, SealError> {
        let mut keys = PublicKeys::new();
        for path in paths {
            let pem = read(path)?;
            keys.insert_pem(&pem, &path.display().to_string())?;
        }
        Ok(keys)
    }

    /// Adds a PEM key; `origin` names it in errors. Returns its id.
    pub fn insert_pem(&mut self, pem: &str, origin: &str) -> Result<KeyId, SealError> {
        let pem = pem.trim();
        let key = match VerifyingKey::from_public_key_pem(pem) {
            Ok(key) => key,
            Err(public_error) => match SigningKey::from_pkcs8_pem(pem) {
                Ok(private) => private.verifying_key(),
                Err(_) => {
                    return Err(SealError::Key {
                        origin: origin.to_owned(),
                        what: "public",
                        reason: public_error.to_string(),
                    })
                }
            },
        };
        Ok(self.insert(key))
    }

    /// Adds a key; returns its id.
    pub fn insert(&mut self, key: VerifyingKey) -> KeyId {
        let id = KeyId::of(&key);
        self.keys.insert(id.clone(), key);
        id
    }

    /// Whether no key is known.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The ids known, in order.
    pub fn ids(&self) -> impl Iterator<Item = &KeyId> {
        self.keys.keys()
    }

    /// Checks that `signature` is `id`'s signature of `message`.
    pub fn verify(
        &self,
        id: &KeyId,
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), SealError> {
        let key = self
            .keys
            .get(id)
            .ok_or_else(|| SealError::UnknownKey(id.clone()))?;
        key.verify(message, signature)
            .map_err(|_| SealError::BadSignature(id.clone()))
    }
}

impl From<&Signer> for PublicKeys {
    fn from(signer: &Signer) -> PublicKeys {
        let mut keys = PublicKeys::new();
        keys.insert(signer.verifying_key());
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_round_trip_through_pem() {
        let (private, public) = generate_key_pem().unwrap();
        let signer = Signer::from_pem(&private, "test").unwrap();
        let mut keys = PublicKeys::new();
        let id = keys.insert_pem(&public, "test").unwrap();
        assert_eq!(&id, signer.id());
        assert_eq!(id.as_str().len(), 16);
        let signature = signer.sign(b"message");
        keys.verify(&id, b"message", &signature).unwrap();
        assert!(matches!(
            keys.verify(&id, b"messagf", &signature),
            Err(SealError::BadSignature(_))
        ));
    }

    #[test]
    fn a_private_key_file_also_gives_its_public_key() {
        let (private, _) = generate_key_pem().unwrap();
        let signer = Signer::from_pem(&private, "test").unwrap();
        let mut keys = PublicKeys::new();
        assert_eq!(&keys.insert_pem(&private, "test").unwrap(), signer.id());
    }

    #[test]
    fn unknown_keys_and_garbage_are_refused_by_name() {
        let (private, _) = generate_key_pem().unwrap();
        let signer = Signer::from_pem(&private, "test").unwrap();
        let keys = PublicKeys::new();
        let signature = signer.sign(b"m");
        assert!(matches!(
            keys.verify(signer.id(), b"m", &signature),
            Err(SealError::UnknownKey(_))
        ));
        let error = Signer::from_pem("not a key", "/etc/kestrel/seal.pem").unwrap_err();
        assert!(error
            .to_string()
            .starts_with("/etc/kestrel/seal.pem: not an Ed25519 private key"));
    }

    #[test]
    fn the_environment_wins_over_the_file_and_a_missing_key_names_both_settings() {
        let none = KeySource::default()
            .load("seal.key_file", "seal.key_env")
            .unwrap_err();
        assert_eq!(
            none.to_string(),
            "no signing key: set seal.key_file or seal.key_env"
        );
        let source = KeySource {
            file: Some(PathBuf::from("/nonexistent/key.pem")),
            env: Some("KESTREL_SEAL_TEST_KEY_UNSET".to_owned()),
        };
        assert!(matches!(
            source.load("f", "e"),
            Err(SealError::MissingEnv(name)) if name == "KESTREL_SEAL_TEST_KEY_UNSET"
        ));
    }

    #[test]
    fn keys_made_by_openssl_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let private = dir.path().join("seal.pem");
        let public = dir.path().join("seal.pub.pem");
        let run = |args: &[&str]| {
            let status = std::process::Command::new("openssl")
                .args(args)
                .status()
                .expect("openssl runs");
            assert!(status.success(), "openssl {args:?}");
        };
        run(&[
            "genpkey",
            "-algorithm",
            "ed25519",
            "-out",
            private.to_str().unwrap(),
        ]);
        run(&[
            "pkey",
            "-in",
            private.to_str().unwrap(),
            "-pubout",
            "-out",
            public.to_str().unwrap(),
        ]);
        let source = KeySource {
            file: Some(private),
            env: None,
        };
        let signer = source.load("f", "e").unwrap();
        let keys = PublicKeys::load(&[public]).unwrap();
        let signature = signer.sign(b"m");
        keys.verify(signer.id(), b"m", &signature).unwrap();
    }
}
