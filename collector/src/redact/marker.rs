//! The text that replaces a secret: `[REDACTED:<kind>:<8 hex>]`, where the hex digits are the
//! first four bytes of HMAC-SHA256(key, secret). Equal secrets give equal markers (under one
//! key), so two events carrying the same secret can be related without seeing it.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What every marker starts with.
pub const MARKER_PREFIX: &str = "[REDACTED:";

/// Renders markers under one key.
#[derive(Clone)]
pub struct Marker {
    /// The keyed MAC, cloned for every value (keying it again would hash the key again).
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for Marker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Marker(key hidden)")
    }
}

impl Marker {
    /// A marker renderer keyed with `key`.
    pub fn new(key: &[u8]) -> Marker {
        // HMAC takes keys of any length: `new_from_slice` cannot fail for it.
        let mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
        Marker { mac }
    }

    /// The 8 hex digits identifying `value`.
    pub fn digest(&self, value: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(value.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..4])
    }

    /// Appends the marker of `value`, of kind `kind`, to `out`.
    pub fn write(&self, kind: &str, value: &str, out: &mut String) {
        out.push_str(MARKER_PREFIX);
        out.push_str(kind);
        out.push(':');
        out.push_str(&self.digest(value));
        out.push(']');
    }

    /// The marker of `value`, of kind `kind`.
    pub fn render(&self, kind: &str, value: &str) -> String {
        let mut out = String::with_capacity(MARKER_PREFIX.len() + kind.len() + 10);
        self.write(kind, value, &mut out);
        out
    }
}

/// Whether `value` is a marker already (redacting it again would hide which secret it was).
pub fn is_marker(value: &str) -> bool {
    value.starts_with(MARKER_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_equal_markers_and_the_key_matters() {
        let a = Marker::new(b"0123456789abcdef0123456789abcdef");
        let b = Marker::new(b"another key of thirty-two bytes!");
        let one = a.render("password", "hunter2");
        assert_eq!(one, a.render("password", "hunter2"));
        assert_ne!(one, a.render("password", "hunter3"));
        assert_ne!(one, b.render("password", "hunter2"));
        let re = regex::Regex::new(r"^\[REDACTED:password:[0-9a-f]{8}\]$").unwrap();
        assert!(re.is_match(&one), "{one}");
        assert!(is_marker(&one));
    }

    #[test]
    fn digest_is_the_hmac_prefix() {
        // RFC 4231 test case 2: HMAC-SHA256("Jefe", "what do ya want for nothing?").
        let marker = Marker::new(b"Jefe");
        assert_eq!(marker.digest("what do ya want for nothing?"), "5bdcc146");
    }
}
