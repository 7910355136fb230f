//! OIDC bearer JWTs: checked against the issuer's JWKS (fetched, cached, refreshed on an
//! unknown `kid` at most once per [`MIN_REFRESH`]), a fixed list of asymmetric algorithms
//! (never `none`, never HMAC), `iss`, `aud`, `exp` and `nbf` with a bounded leeway; a claim
//! (e.g. `groups`) maps to a role and namespaces by the configured mappings, the first
//! matching mapping in configuration order winning.

use std::collections::BTreeSet;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{Jwk, JwkSet};
pub use jsonwebtoken::Algorithm;
use jsonwebtoken::{decode, decode_header, DecodingKey, Validation};
use serde_json::Value;

use crate::{Identity, IdentitySource, Role, Scope};

/// Shortest time between two JWKS fetches, so that tokens with made-up `kid`s cannot make
/// Kestrel hammer the issuer.
pub const MIN_REFRESH: Duration = Duration::from_secs(30);
/// Longest accepted clock skew.
pub const MAX_LEEWAY: Duration = Duration::from_secs(300);
/// Timeout of a JWKS or discovery request.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// One mapping of a claim value to a role and namespaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcMapping {
    /// The claim value (e.g. a group name).
    pub value: String,
    /// The role it gives.
    pub role: Role,
    /// The namespaces it is limited to; `None` for every namespace.
    pub namespaces: Option<BTreeSet<String>>,
}

/// What a JWT is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcSettings {
    /// Expected `iss`; also the base of discovery.
    pub issuer: String,
    /// Expected `aud`.
    pub audience: String,
    /// The JWKS; `None`: from `issuer/.well-known/openid-configuration`.
    pub jwks_url: Option<String>,
    /// Accepted algorithms (asymmetric only).
    pub algorithms: Vec<Algorithm>,
    /// Clock skew allowed on `exp` and `nbf`.
    pub leeway: Duration,
    /// The claim mapped to roles.
    pub claim: String,
    /// The mappings, in order.
    pub mappings: Vec<OidcMapping>,
}

/// Why a JWT was refused: for the log, never for the caller.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// Not a JWT, or a header naming an unknown algorithm (`none` included).
    #[error("malformed token: {0}")]
    Malformed(String),
    /// An algorithm outside the configured list (HMAC always is).
    #[error("algorithm {0:?} is not accepted")]
    Algorithm(Algorithm),
    /// No `kid` in the header.
    #[error("no kid in the token header")]
    NoKid,
    /// A `kid` the JWKS does not hold (after a refresh, when one was allowed).
    #[error("unknown key id {0:?}")]
    UnknownKey(String),
    /// Signature, issuer, audience, expiry or not-before check failed.
    #[error("token refused: {0}")]
    Invalid(String),
    /// No mapping matches the token's claim values.
    #[error("no mapping for the values of claim {claim:?}: {values:?}")]
    NoMapping {
        /// The claim.
        claim: String,
        /// Its values in the token.
        values: Vec<String>,
    },
    /// The JWKS could not be fetched.
    #[error("fetching the JWKS failed: {0}")]
    Fetch(String),
}

/// Checks OIDC JWTs; blocking (it may fetch the JWKS): call off the async runtime.
#[derive(Debug)]
pub struct OidcVerifier {
    settings: OidcSettings,
    keys: RwLock<JwkSet>,
    last_fetch: Mutex<Option<Instant>>,
}

impl OidcVerifier {
    /// A verifier with no key yet: the first token fetches the JWKS.
    pub fn new(settings: OidcSettings) -> OidcVerifier {
        OidcVerifier {
            settings,
            keys: RwLock::new(JwkSet { keys: Vec::new() }),
            last_fetch: Mutex::new(None),
        }
    }

    /// Whether `token` looks like a JWT (three dot-separated parts).
    pub fn looks_like_jwt(token: &str) -> bool {
        token.split('.').count() == 3
    }

    /// The identity of a valid token.
    pub fn verify(&self, token: &str) -> Result<Identity, OidcError> {
        let header = decode_header(token).map_err(|e| OidcError::Malformed(e.to_string()))?;
        if !self.settings.algorithms.contains(&header.alg) || is_hmac(header.alg) {
            return Err(OidcError::Algorithm(header.alg));
        }
        let kid = header.kid.ok_or(OidcError::NoKid)?;
        let jwk = self.key(&kid)?;
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| OidcError::Invalid(e.to_string()))?;
        // Only the header's algorithm, already checked against the configured list: the
        // library refuses a key of another family than any listed algorithm.
        let mut validation = Validation::new(header.alg);
        validation.leeway = self.settings.leeway.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&[&self.settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = decode::<Value>(token, &key, &validation)
            .map_err(|e| OidcError::Invalid(format!("{:?}", e.kind())))?;
        self.identity(&data.claims)
    }

    /// The role and scope of the claims: the first mapping whose value the claim holds.
    fn identity(&self, claims: &Value) -> Result<Identity, OidcError> {
        let values: Vec<String> = match &claims[&self.settings.claim] {
            Value::String(one) => vec![one.clone()],
            Value::Array(many) => many
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        let mapping = self
            .settings
            .mappings
            .iter()
            .find(|m| values.contains(&m.value))
            .ok_or_else(|| OidcError::NoMapping {
                claim: self.settings.claim.clone(),
                values: values.clone(),
            })?;
        Ok(Identity {
            name: claims["sub"].as_str().unwrap_or("unknown").to_owned(),
            role: mapping.role,
            scope: mapping
                .namespaces
                .clone()
                .map_or(Scope::All, Scope::Namespaces),
            source: IdentitySource::Oidc,
        })
    }

    /// The key `kid`, fetching the JWKS when it is unknown and the last fetch is old enough.
    fn key(&self, kid: &str) -> Result<Jwk, OidcError> {
        if let Some(jwk) = self.cached(kid) {
            return Ok(jwk);
        }
        {
            let mut last = self.last_fetch.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|at| at.elapsed() < MIN_REFRESH) {
                return Err(OidcError::UnknownKey(kid.to_owned()));
            }
            *last = Some(Instant::now());
        }
        let fetched = self.fetch()?;
        tracing::info!(keys = fetched.keys.len(), "oidc jwks fetched");
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = fetched;
        self.cached(kid)
            .ok_or_else(|| OidcError::UnknownKey(kid.to_owned()))
    }

    fn cached(&self, kid: &str) -> Option<Jwk> {
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        keys.find(kid).cloned()
    }

    fn fetch(&self) -> Result<JwkSet, OidcError> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(FETCH_TIMEOUT))
            .build()
            .into();
        let get = |url: &str| -> Result<Value, OidcError> {
            agent
                .get(url)
                .call()
                .and_then(|mut r| r.body_mut().read_json::<Value>())
                .map_err(|e| OidcError::Fetch(format!("{url}: {e}")))
        };
        let url = match &self.settings.jwks_url {
            Some(url) => url.clone(),
            None => {
                let discovery = format!(
                    "{}/.well-known/openid-configuration",
                    self.settings.issuer.trim_end_matches('/')
                );
                get(&discovery)?["jwks_uri"]
                    .as_str()
                    .ok_or_else(|| OidcError::Fetch(format!("{discovery}: no jwks_uri")))?
                    .to_owned()
            }
        };
        serde_json::from_value(get(&url)?)
            .map_err(|e| OidcError::Fetch(format!("{url}: not a JWKS: {e}")))
    }
}

/// Whether `alg` is an HMAC algorithm (a shared secret: never accepted, as a public key
/// would then sign).
pub fn is_hmac(alg: Algorithm) -> bool {
    matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}
