//! Who may post to the collector's push endpoints (the Elasticsearch-compatible bulk API, OTLP
//! logs, Falco alerts): a configured token presented in the `Authorization` header, or any
//! client when the listener verifies client certificates (its TLS layer has then already
//! refused every client without a certificate the configured CA signed).
//!
//! A token is accepted in the three shapes the shippers send:
//! - `Bearer <token>`;
//! - `Basic base64(<user>:<token>)`, as Fluent Bit's `HTTP_User`/`HTTP_Passwd`, Vector's
//!   `auth.strategy = "basic"` and Filebeat's `username`/`password` send; the user name only
//!   names the sender;
//! - `ApiKey base64(<id>:<token>)`, as Filebeat's `api_key: "<id>:<token>"` sends (or
//!   `ApiKey <token>` as it is); the id only names the sender.
//!
//! Tokens are compared in constant time, and every configured token is compared, so the time
//! taken tells nothing about how close a guess was.

use std::sync::Arc;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use kestrel_access::{LiveTokens, Role, TokenCheck};

/// The accepted credentials of an endpoint.
#[derive(Clone)]
pub struct IngestCredentials {
    tokens: Arc<Vec<String>>,
    client_certificates_verified: bool,
    store: Option<Arc<LiveTokens>>,
}

impl std::fmt::Debug for IngestCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestCredentials")
            .field("tokens", &format_args!("[{} redacted]", self.tokens.len()))
            .field(
                "client_certificates_verified",
                &self.client_certificates_verified,
            )
            .finish()
    }
}

/// Who a request was accepted from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sender {
    /// A client certificate, verified by the listener's TLS layer.
    ClientCertificate,
    /// A bearer token.
    Bearer,
    /// Basic authentication, with the user name given.
    Basic(String),
    /// An API key, with its id when it had one.
    ApiKey(Option<String>),
    /// A token of the token store with the `ingest` role, by name.
    StoredToken(String),
}

impl std::fmt::Display for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sender::ClientCertificate => f.write_str("client certificate"),
            Sender::Bearer => f.write_str("bearer token"),
            Sender::Basic(user) => write!(f, "basic user {user:?}"),
            Sender::ApiKey(Some(id)) => write!(f, "api key {id:?}"),
            Sender::ApiKey(None) => f.write_str("api key"),
            Sender::StoredToken(name) => write!(f, "token {name:?}"),
        }
    }
}

/// Why a request was refused. The text is safe to send back: it never holds what was
/// presented.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No `Authorization` header.
    #[error("missing credentials (Authorization: Bearer, Basic or ApiKey)")]
    Missing,
    /// A scheme other than Bearer, Basic and ApiKey, or a header that is not `scheme value`.
    #[error("unsupported authorization scheme (expected Bearer, Basic or ApiKey)")]
    UnsupportedScheme,
    /// Basic credentials that are not base64 of `user:password`.
    #[error("malformed basic credentials")]
    MalformedBasic,
    /// A token that is not configured.
    #[error("invalid credentials")]
    Invalid,
}

impl IngestCredentials {
    /// Credentials accepting `tokens`, and every client when `client_certificates_verified`.
    pub fn new(tokens: Vec<String>, client_certificates_verified: bool) -> IngestCredentials {
        IngestCredentials {
            tokens: Arc::new(tokens),
            client_certificates_verified,
            store: None,
        }
    }

    /// Also accepts the tokens of `store` that have the `ingest` role (and only those).
    pub fn with_store(mut self, store: Arc<LiveTokens>) -> IngestCredentials {
        self.store = Some(store);
        self
    }

    /// Whether no request can ever be accepted (no token, no token store, no client
    /// certificates).
    pub fn refuses_everyone(&self) -> bool {
        self.tokens.is_empty() && self.store.is_none() && !self.client_certificates_verified
    }

    /// Checks the request headers: see the module documentation.
    pub fn check(&self, headers: &HeaderMap) -> Result<Sender, Refusal> {
        if self.client_certificates_verified {
            return Ok(Sender::ClientCertificate);
        }
        let value = headers
            .get(header::AUTHORIZATION)
            .ok_or(Refusal::Missing)?
            .to_str()
            .map_err(|_| Refusal::UnsupportedScheme)?;
        let (scheme, credentials) = value
            .trim()
            .split_once(' ')
            .ok_or(Refusal::UnsupportedScheme)?;
        let credentials = credentials.trim();
        // Schemes are case-insensitive (RFC 9110 section 11.1).
        let (sender, token) = if scheme.eq_ignore_ascii_case("Bearer") {
            (Sender::Bearer, credentials.to_owned())
        } else if scheme.eq_ignore_ascii_case("Basic") {
            let (user, password) = decode_pair(credentials).ok_or(Refusal::MalformedBasic)?;
            (Sender::Basic(user), password)
        } else if scheme.eq_ignore_ascii_case("ApiKey") {
            match decode_pair(credentials) {
                Some((id, key)) => (Sender::ApiKey(Some(id)), key),
                None => (Sender::ApiKey(None), credentials.to_owned()),
            }
        } else {
            return Err(Refusal::UnsupportedScheme);
        };
        if self.knows(&token) {
            return Ok(sender);
        }
        self.stored_ingest_token(&token)
    }

    /// A token of the store with the `ingest` role; any other token, of any other role too, is
    /// refused alike (the reason is logged, never answered).
    fn stored_ingest_token(&self, token: &str) -> Result<Sender, Refusal> {
        let Some(store) = &self.store else {
            return Err(Refusal::Invalid);
        };
        match store.check(token, chrono::Utc::now()) {
            TokenCheck::Valid(identity) if identity.role == Role::Ingest => {
                Ok(Sender::StoredToken(identity.name))
            }
            TokenCheck::Valid(identity) => {
                tracing::warn!(token = %identity.name, role = %identity.role, "ingest refused: the token's role is not ingest");
                Err(Refusal::Invalid)
            }
            TokenCheck::Expired(name) | TokenCheck::Revoked(name) => {
                tracing::warn!(token = %name, "ingest refused: expired or revoked token");
                Err(Refusal::Invalid)
            }
            TokenCheck::Unknown => Err(Refusal::Invalid),
        }
    }

    /// Whether `token` is one of the configured tokens, comparing every one of them.
    fn knows(&self, token: &str) -> bool {
        self.tokens.iter().fold(false, |found, known| {
            found | constant_time_eq(known.as_bytes(), token.as_bytes())
        })
    }
}

/// `base64(left:right)` decoded and split at the first colon.
fn decode_pair(encoded: &str) -> Option<(String, String)> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (left, right) = text.split_once(':')?;
    Some((left.to_owned(), right.to_owned()))
}

/// Compares two byte strings in time that depends on their length only.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The `401` answer to a refused request, naming the schemes accepted.
pub fn refused(refusal: &Refusal) -> Response {
    let mut response = (StatusCode::UNAUTHORIZED, format!("{refusal}\n")).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer, Basic realm=\"kestrel\", ApiKey"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "ingest-token-0123456789";

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, value.parse().unwrap());
        headers
    }

    fn encode(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    fn credentials() -> IngestCredentials {
        IngestCredentials::new(
            vec!["another-token-0123456789".to_owned(), TOKEN.to_owned()],
            false,
        )
    }

    #[test]
    fn a_token_is_accepted_in_each_scheme() {
        let c = credentials();
        assert_eq!(
            c.check(&headers(&format!("Bearer {TOKEN}"))),
            Ok(Sender::Bearer)
        );
        assert_eq!(
            c.check(&headers(&format!("bearer  {TOKEN} "))),
            Ok(Sender::Bearer)
        );
        assert_eq!(
            c.check(&headers(&format!(
                "Basic {}",
                encode(&format!("fluent-bit:{TOKEN}"))
            ))),
            Ok(Sender::Basic("fluent-bit".into()))
        );
        assert_eq!(
            c.check(&headers(&format!(
                "ApiKey {}",
                encode(&format!("filebeat:{TOKEN}"))
            ))),
            Ok(Sender::ApiKey(Some("filebeat".into())))
        );
        assert_eq!(
            c.check(&headers(&format!("ApiKey {TOKEN}"))),
            Ok(Sender::ApiKey(None))
        );
    }

    #[test]
    fn everything_else_is_refused_with_a_reason_that_does_not_echo_it() {
        let c = credentials();
        assert_eq!(c.check(&HeaderMap::new()), Err(Refusal::Missing));
        assert_eq!(
            c.check(&headers("Bearer ingest-token-0123456788")),
            Err(Refusal::Invalid)
        );
        assert_eq!(c.check(&headers(TOKEN)), Err(Refusal::UnsupportedScheme));
        assert_eq!(
            c.check(&headers(&format!("Digest {TOKEN}"))),
            Err(Refusal::UnsupportedScheme)
        );
        assert_eq!(
            c.check(&headers(&format!("Basic {TOKEN}"))),
            Err(Refusal::MalformedBasic)
        );
        assert_eq!(
            c.check(&headers(&format!(
                "Basic {}",
                encode(&format!("{TOKEN}:x"))
            ))),
            Err(Refusal::Invalid)
        );
        let refusal = c
            .check(&headers("Bearer secret-guess-0123456789"))
            .unwrap_err();
        assert!(!refusal.to_string().contains("secret-guess"));
    }

    #[test]
    fn deny_by_default_and_client_certificates_let_everyone_in() {
        let none = IngestCredentials::new(Vec::new(), false);
        assert!(none.refuses_everyone());
        assert_eq!(
            none.check(&headers(&format!("Bearer {TOKEN}"))),
            Err(Refusal::Invalid)
        );
        let mtls = IngestCredentials::new(Vec::new(), true);
        assert!(!mtls.refuses_everyone());
        assert_eq!(mtls.check(&HeaderMap::new()), Ok(Sender::ClientCertificate));
    }

    #[test]
    fn store_tokens_of_the_ingest_role_only_are_accepted() {
        use kestrel_access::{NewToken, TokenStore};
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path());
        let now = chrono::Utc::now();
        let create = |name: &str, role: &str| {
            let new = NewToken::parse(name, role, None, None, "test").unwrap();
            store.create(&new, now).unwrap().0
        };
        let shipper = create("shipper", "ingest");
        let admin = create("root", "admin");
        let gone = create("gone", "ingest");
        store.revoke("gone", now).unwrap();
        let credentials =
            IngestCredentials::new(Vec::new(), false).with_store(LiveTokens::open(store.clone()));
        assert!(!credentials.refuses_everyone());
        assert_eq!(
            credentials.check(&headers(&format!("Bearer {shipper}"))),
            Ok(Sender::StoredToken("shipper".into()))
        );
        assert_eq!(
            credentials.check(&headers(&format!(
                "Basic {}",
                encode(&format!("fluent:{shipper}"))
            ))),
            Ok(Sender::StoredToken("shipper".into()))
        );
        for refused in [admin, gone, "kst_unknown".to_owned()] {
            assert_eq!(
                credentials.check(&headers(&format!("Bearer {refused}"))),
                Err(Refusal::Invalid)
            );
        }
    }
}
