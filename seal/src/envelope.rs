//! Signed documents: a body of one line of compact JSON, then a line holding the id of the
//! signing key and the Ed25519 signature of exactly the body's bytes (newline excluded):
//!
//! ```text
//! {"kind":"partition","events":1200,...}
//! {"key_id":"3f2a9c0d1e4b5a68","signature":"<base64>"}
//! ```
//!
//! The exact bytes are signed, never a re-serialization, so a document verifies the same
//! way in any language.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::Signature;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::SealError;
use crate::key::{KeyId, PublicKeys, Signer};

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureLine {
    key_id: KeyId,
    signature: String,
}

/// `body` as a signed document.
pub fn sign<T: Serialize>(signer: &Signer, body: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = serde_json::to_vec(body)?;
    let line = SignatureLine {
        key_id: signer.id().clone(),
        signature: STANDARD.encode(signer.sign(&out).to_bytes()),
    };
    out.push(b'\n');
    serde_json::to_writer(&mut out, &line)?;
    out.push(b'\n');
    Ok(out)
}

/// A document whose signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened<'a> {
    /// The body's bytes, as signed.
    pub body: &'a [u8],
    /// The key that signed it.
    pub key_id: KeyId,
}

impl Opened<'_> {
    /// The body, parsed.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, SealError> {
        serde_json::from_slice(self.body).map_err(|e| SealError::Malformed(format!("body: {e}")))
    }
}

/// Checks a signed document against `keys`.
pub fn open<'a>(document: &'a [u8], keys: &PublicKeys) -> Result<Opened<'a>, SealError> {
    let Some(text) = document.strip_suffix(b"\n") else {
        return Err(SealError::Malformed("no final newline".to_owned()));
    };
    let mut lines = text.split(|&b| b == b'\n');
    let (Some(body), Some(signature_line), None) = (lines.next(), lines.next(), lines.next())
    else {
        return Err(SealError::Malformed(
            "not two lines (body, signature)".to_owned(),
        ));
    };
    let line: SignatureLine = serde_json::from_slice(signature_line)
        .map_err(|e| SealError::Malformed(format!("signature line: {e}")))?;
    let bytes = STANDARD
        .decode(&line.signature)
        .map_err(|e| SealError::Malformed(format!("signature: {e}")))?;
    let signature = Signature::from_slice(&bytes)
        .map_err(|e| SealError::Malformed(format!("signature: {e}")))?;
    keys.verify(&line.key_id, body, &signature)?;
    Ok(Opened {
        body,
        key_id: line.key_id,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::key::generate_key_pem;

    fn signer() -> Signer {
        let (private, _) = generate_key_pem().unwrap();
        Signer::from_pem(&private, "test").unwrap()
    }

    #[test]
    fn a_signed_document_opens_with_its_key_only() {
        let signer = signer();
        let document = sign(&signer, &json!({"events": 3, "first": "a"})).unwrap();
        let keys = PublicKeys::from(&signer);
        let opened = open(&document, &keys).unwrap();
        assert_eq!(&opened.key_id, signer.id());
        assert_eq!(opened.parse::<Value>().unwrap()["events"], 3);

        let other = signer_keys();
        assert!(matches!(
            open(&document, &other),
            Err(SealError::UnknownKey(_))
        ));
    }

    fn signer_keys() -> PublicKeys {
        PublicKeys::from(&signer())
    }

    #[test]
    fn any_changed_byte_of_the_body_breaks_the_signature() {
        let signer = signer();
        let keys = PublicKeys::from(&signer);
        let document = sign(&signer, &json!({"events": 3})).unwrap();
        let at = document.iter().position(|&b| b == b'3').unwrap();
        let mut tampered = document.clone();
        tampered[at] = b'4';
        assert!(matches!(
            open(&tampered, &keys),
            Err(SealError::BadSignature(_))
        ));
    }

    #[test]
    fn a_signature_moved_to_another_body_is_refused() {
        let signer = signer();
        let keys = PublicKeys::from(&signer);
        let first = sign(&signer, &json!({"n": 1})).unwrap();
        let second = sign(&signer, &json!({"n": 2})).unwrap();
        let body_of_first = first.split(|&b| b == b'\n').next().unwrap();
        let signature_of_second = second.split(|&b| b == b'\n').nth(1).unwrap();
        let swapped = [body_of_first, b"\n", signature_of_second, b"\n"].concat();
        assert!(matches!(
            open(&swapped, &keys),
            Err(SealError::BadSignature(_))
        ));
    }

    #[test]
    fn malformed_documents_say_what_is_wrong() {
        let keys = signer_keys();
        for (document, expected) in [
            (&b"{}"[..], "no final newline"),
            (b"{}\n", "not two lines"),
            (b"{}\n{}\n{}\n", "not two lines"),
            (b"{}\n{\"key_id\":\"00\"}\n", "signature line"),
        ] {
            let error = open(document, &keys).unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
        }
    }
}
