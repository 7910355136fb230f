//! The built-in detectors of secrets in text: one regular expression per kind, the capture
//! group holding the secret, and the literal anchors (see [`super::prefilter`]) without which
//! the expression cannot match.

use regex::Regex;

use super::luhn::is_card_number;

/// Kind of the card-number detector, whose candidates come from the digit-run scan rather
/// than from anchors.
pub const CARD_NUMBER: &str = "card_number";

/// One detector.
#[derive(Debug)]
pub struct Detector {
    /// The kind named in the marker, e.g. `aws_access_key`.
    pub kind: &'static str,
    /// The expression; the secret is its first participating group among `groups` (the
    /// whole match when `groups` is empty).
    pub regex: Regex,
    /// Capture groups that can hold the secret, in order.
    pub groups: &'static [usize],
    /// Literals (matched ASCII-case-insensitively) one of which every match contains.
    pub anchors: &'static [&'static str],
    /// A check of the secret beyond the expression (the Luhn check for cards).
    pub accept: fn(&str) -> bool,
    /// Whether group 1 is a key whose words name the kind ([`credential_kind`]).
    pub keyed: bool,
}

impl Detector {
    /// The byte ranges of the secrets this detector finds in `text`, with their kind.
    pub fn find(&self, text: &str, mut found: impl FnMut(usize, usize, &'static str)) {
        for captures in self.regex.captures_iter(text) {
            let secret = if self.groups.is_empty() {
                captures.get(0)
            } else {
                self.groups.iter().find_map(|&g| captures.get(g))
            };
            let Some(secret) = secret else {
                continue;
            };
            if secret.is_empty() || !(self.accept)(secret.as_str()) {
                continue;
            }
            let kind = match captures.get(1) {
                Some(key) if self.keyed => credential_kind(key.as_str()),
                _ => self.kind,
            };
            found(secret.start(), secret.end(), kind);
        }
    }
}

/// Values of a credential key that are not secrets: empty, booleans, nulls, masks.
fn not_a_placeholder(value: &str) -> bool {
    let lower = value.trim().to_ascii_lowercase();
    !(lower.is_empty()
        || matches!(
            lower.as_str(),
            "true" | "false" | "null" | "none" | "nil" | "undefined" | "<none>" | "redacted"
        )
        || lower.bytes().all(|b| b == b'*' || b == b'x' || b == b'.')
        || super::marker::is_marker(value)
        // A PEM block: its body is the private-key detectors' (its header lines stay).
        || value.starts_with("-----BEGIN"))
}

fn always(_: &str) -> bool {
    true
}

/// The key words that make a key a credential's: a key ending with one of them (`password`,
/// `DB_PASSWORD`, `client_secret`, `X-Auth-Token`, `api_key`).
pub const CREDENTIAL_KEY: &str =
    r"[A-Za-z0-9_.-]*?(?i:password|passwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key)";

/// The kind of a credential key's value, from the key.
pub fn credential_kind(key: &str) -> &'static str {
    let lower = key.to_ascii_lowercase();
    if lower.contains("passw") {
        "password"
    } else if lower.ends_with("token") {
        "token"
    } else if lower.ends_with("secret") {
        "secret"
    } else if lower.ends_with("private_key") || lower.ends_with("private-key") {
        "private_key"
    } else {
        "api_key"
    }
}

struct Spec {
    kind: &'static str,
    pattern: String,
    groups: &'static [usize],
    anchors: &'static [&'static str],
    accept: fn(&str) -> bool,
}

/// Kind of the key-value detector (the marker names the key's kind instead).
const CREDENTIAL: &str = "credential";

/// An optional quote before or after a key or value, possibly escaped (`\"` inside a JSON
/// string, as in the raw bytes of a Docker line).
const Q: &str = r#"(?:\\?["'])?"#;

fn specs() -> Vec<Spec> {
    // The body of a PEM private key (to its end line, or to the end of a cut text): the
    // `-----BEGIN ... PRIVATE KEY-----` lines stay, for rules that look for them.
    let pem = r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----((?s:.*?))(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\z)";
    vec![
        Spec {
            kind: "gcp_private_key",
            pattern: format!(r"(?i:private_key){Q}\s*[:=]\s*{Q}{pem}"),
            groups: &[1],
            anchors: &["private_key"],
            accept: always,
        },
        Spec {
            kind: "private_key",
            pattern: pem.to_owned(),
            groups: &[1],
            anchors: &["-----begin"],
            accept: always,
        },
        Spec {
            kind: "aws_access_key",
            pattern: r"\b((?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16})\b".to_owned(),
            groups: &[1],
            anchors: &["akia", "asia", "abia", "acca"],
            accept: always,
        },
        Spec {
            kind: "aws_secret_key",
            pattern: format!(
                r"(?i:aws_?secret_?(?:access_?)?key){Q}\s*[:=]\s*{Q}([A-Za-z0-9/+=]{{40}})(?:[^A-Za-z0-9/+=]|\z)"
            ),
            groups: &[1],
            anchors: &["secret"],
            accept: always,
        },
        Spec {
            kind: "azure_storage_key",
            pattern: r"(?i:AccountKey)\s*=\s*([A-Za-z0-9+/]{20,}={0,2})".to_owned(),
            groups: &[1],
            anchors: &["accountkey"],
            accept: always,
        },
        Spec {
            kind: "github_token",
            pattern: r"\b((?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})"
                .to_owned(),
            groups: &[1],
            anchors: &["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"],
            accept: always,
        },
        Spec {
            kind: "gitlab_token",
            pattern: r"\b(glpat-[A-Za-z0-9_-]{20,})".to_owned(),
            groups: &[1],
            anchors: &["glpat-"],
            accept: always,
        },
        Spec {
            kind: "slack_token",
            pattern: r"\b(xox[abposr]-[A-Za-z0-9-]{10,})".to_owned(),
            groups: &[1],
            anchors: &["xox"],
            accept: always,
        },
        Spec {
            kind: "stripe_key",
            pattern: r"\b((?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,})".to_owned(),
            groups: &[1],
            anchors: &["sk_live_", "rk_live_", "sk_test_", "rk_test_"],
            accept: always,
        },
        Spec {
            kind: "jwt",
            pattern: r"\b(eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{8,})".to_owned(),
            groups: &[1],
            anchors: &["eyj"],
            accept: always,
        },
        Spec {
            kind: "authorization",
            pattern: concat!(
                r#"(?i:authorization)\W{1,6}(?i:bearer|basic|token|digest)\s+([A-Za-z0-9._~+/=:-]+)"#,
                r"|\b(?i:bearer)\s+([A-Za-z0-9._~+/-]{20,}=*)"
            )
            .to_owned(),
            groups: &[1, 2],
            anchors: &["authorization", "bearer"],
            accept: always,
        },
        Spec {
            kind: "url_password",
            pattern: r#"\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@"'<>]*:([^/\s@"'<>]+)@"#.to_owned(),
            groups: &[1],
            anchors: &["://"],
            accept: always,
        },
        Spec {
            // `password=...`, `"client_secret": "..."`, `X-Auth-Token: ...`: the value of a
            // key that ends with a credential word.
            kind: CREDENTIAL,
            pattern: format!(
                concat!(
                    r#"\b({key}){q}(?:\s*[:=]\s*"#,
                    r#"(?:\\"([^"\\]*)\\"|"((?:[^"\\]|\\.)*)"|'([^']*)')"#,
                    // A bare value follows `=` at once (`password= user=bob` has none).
                    r#"|\s*(?::\s*|=)([^\s,;&"'{{}}\[\]\\()]+))"#
                ),
                key = CREDENTIAL_KEY,
                q = Q
            ),
            groups: &[2, 3, 4, 5],
            anchors: &[
                "password",
                "passwd",
                "secret",
                "token",
                "api_key",
                "api-key",
                "apikey",
                "access_key",
                "access-key",
                "accesskey",
                "private_key",
                "private-key",
                "privatekey",
            ],
            accept: not_a_placeholder,
        },
        Spec {
            kind: CARD_NUMBER,
            pattern: r"\b(\d(?:[ -]?\d){12,18})\b".to_owned(),
            groups: &[1],
            anchors: &[],
            accept: is_card_number,
        },
    ]
}

/// The built-in detectors, most specific first (a secret found by two of them is named by
/// the first).
pub fn builtin() -> Vec<Detector> {
    specs()
        .into_iter()
        .map(|spec| Detector {
            kind: spec.kind,
            // The patterns are constants, checked by the tests below: compiling cannot fail.
            regex: Regex::new(&spec.pattern).expect("built-in pattern compiles"),
            groups: spec.groups,
            anchors: spec.anchors,
            accept: spec.accept,
            keyed: spec.kind == CREDENTIAL,
        })
        .collect()
}
