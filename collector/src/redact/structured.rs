//! Redaction of JSON values (`json.*` of container lines, the audit and Falco fields): the
//! whole value of a credential key (`password`, `client_secret`, `Authorization`, ...), and
//! the secrets the text detectors find in every other string.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use super::allow::AllowList;
use super::detectors::{credential_kind, CREDENTIAL_KEY};
use super::marker::is_marker;
use super::text::{Tally, TextRedactor};

/// Keys whose value is a credential as a whole.
static CREDENTIAL_KEY_WHOLE: LazyLock<Regex> = LazyLock::new(|| {
    // A constant pattern: compiling cannot fail.
    Regex::new(&format!("^{CREDENTIAL_KEY}$")).expect("credential key pattern compiles")
});

/// The kind of the value of `key` when the key says it is a credential.
pub fn credential_key_kind(key: &str) -> Option<&'static str> {
    if key.eq_ignore_ascii_case("authorization") || key.eq_ignore_ascii_case("proxy-authorization")
    {
        return Some("authorization");
    }
    CREDENTIAL_KEY_WHOLE
        .is_match(key)
        .then(|| credential_kind(key))
}

/// What a walk needs: the text redactor, the source's allow-list and the tally.
pub struct Walk<'a> {
    /// Finds secrets in strings.
    pub text: &'a TextRedactor,
    /// The source's allow-list.
    pub allow: &'a AllowList,
    /// Counts what was replaced.
    pub tally: &'a mut dyn Tally,
}

impl Walk<'_> {
    /// Redacts every value of `map`.
    pub fn map(&mut self, map: &mut Map<String, Value>) {
        for (key, value) in map.iter_mut() {
            match credential_key_kind(key) {
                Some(kind) => self.whole(kind, value),
                None => self.value(value),
            }
        }
    }

    /// Redacts the secrets in `value`.
    pub fn value(&mut self, value: &mut Value) {
        match value {
            Value::String(text) => self.string(text),
            Value::Array(items) => items.iter_mut().for_each(|item| self.value(item)),
            Value::Object(map) => self.map(map),
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    /// Redacts the secrets found in `text`.
    pub fn string(&mut self, text: &mut String) {
        if let Cow::Owned(redacted) = self.text.redact(text, self.allow, self.tally) {
            *text = redacted;
        }
    }

    /// Replaces every string in `value` (a credential key's value, or a Secret's data) by its
    /// marker of `kind`; objects below are walked as usual.
    /// A PEM block keeps its `-----BEGIN`/`-----END` lines (only its body is replaced).
    pub fn whole(&mut self, kind: &str, value: &mut Value) {
        match value {
            Value::String(text) if text.contains("-----BEGIN") => self.text_or_whole(kind, text),
            Value::String(text) => self.replace(kind, text),
            Value::Array(items) => items.iter_mut().for_each(|item| self.whole(kind, item)),
            Value::Object(map) => self.map(map),
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    /// The secrets the text detectors find in `text` replaced, keeping what surrounds them
    /// (`db.password=...` in a file held by a ConfigMap); when they find none, the whole of
    /// `text`, as of `kind`.
    pub fn text_or_whole(&mut self, kind: &str, text: &mut String) {
        let redacted = match self.text.redact(text, self.allow, self.tally) {
            Cow::Owned(redacted) => Some(redacted),
            Cow::Borrowed(_) => None,
        };
        match redacted {
            Some(redacted) => *text = redacted,
            None => self.replace(kind, text),
        }
    }

    /// Replaces `text` by its marker of `kind`, unless it is empty, a marker or allowed.
    pub fn replace(&mut self, kind: &str, text: &mut String) {
        self.replace_as(kind, text, None);
    }

    /// Replaces `text` by the marker of `identity` (`text` itself when `None`), of `kind`,
    /// unless `text` is empty, a marker or allowed.
    pub fn replace_as(&mut self, kind: &str, text: &mut String, identity: Option<&str>) {
        let identity = identity.unwrap_or(text);
        if text.is_empty() || is_marker(text) || self.allow.allows(identity) {
            return;
        }
        let marker = self.text.marker().render(kind, identity);
        self.tally.redacted(kind);
        *text = marker;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_keys() {
        for key in [
            "password",
            "DB_PASSWORD",
            "client_secret",
            "X-Auth-Token",
            "api_key",
            "apiKey",
            "Authorization",
            "spring.datasource.password",
            "private_key",
        ] {
            assert!(credential_key_kind(key).is_some(), "{key}");
        }
        for key in [
            "token_count",
            "secretName",
            "secrets",
            "kind",
            "max_tokens",
            "password_changed_at",
        ] {
            assert!(credential_key_kind(key).is_none(), "{key}");
        }
        assert_eq!(credential_key_kind("DB_PASSWORD"), Some("password"));
        assert_eq!(credential_key_kind("X-Auth-Token"), Some("token"));
        assert_eq!(credential_key_kind("authorization"), Some("authorization"));
    }
}
