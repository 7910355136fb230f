//! OIDC bearer JWTs against a local JWKS server (axum, in the test) with keys made by the
//! `openssl` command and tokens signed here: a valid token gets its mapped role and scope;
//! expired, wrong audience, wrong issuer, wrong key, `alg: none`, HS256 signed with the public
//! key, a tampered payload and made-up key ids are each refused with 401, the reason in the
//! log and never in the answer; made-up key ids do not make Kestrel fetch the JWKS again.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use base64::Engine as _;
use http_body_util::BodyExt;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use kestrel_query::access::{
    AccessOutcome, IdentitySource, OidcMapping, OidcSettings, OidcVerifier, Role, Scope,
};
use kestrel_query::api::{router, ApiSettings};
use kestrel_query::authenticate::Authenticator;
use kestrel_query::SearchEngine;
use serde_json::{json, Value};
use tower::ServiceExt;

const ISSUER: &str = "https://issuer.test/realms/ops";
const AUDIENCE: &str = "kestrel";

/// The log, captured.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Log {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn openssl(args: &[&str]) -> Vec<u8> {
    let output = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// An RSA key: private PEM, public PEM, and its JWK modulus.
struct Key {
    private: Vec<u8>,
    public: Vec<u8>,
    modulus: String,
}

fn rsa_key(dir: &Path, name: &str) -> Key {
    let path = dir.join(name);
    let path = path.to_str().unwrap();
    openssl(&["genrsa", "-traditional", "-out", path, "2048"]);
    let modulus = String::from_utf8(openssl(&["rsa", "-in", path, "-noout", "-modulus"])).unwrap();
    let hex = modulus.trim().strip_prefix("Modulus=").unwrap();
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    Key {
        private: std::fs::read(path).unwrap(),
        public: openssl(&["rsa", "-in", path, "-pubout"]),
        modulus: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
    }
}

fn claims(groups: &[&str]) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": now, "nbf": now - 10, "exp": now + 600, "groups": groups})
}

fn sign(key: &[u8], kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    encode(&header, claims, &EncodingKey::from_rsa_pem(key).unwrap()).unwrap()
}

fn b64(value: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

async fn get(
    app: &axum::Router,
    path: &str,
    token: &str,
) -> (StatusCode, Option<AccessOutcome>, String) {
    let request = Request::get(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let outcome = response.extensions().get::<AccessOutcome>().cloned();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        outcome,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwts_are_checked_against_the_issuers_keys_and_mapped_to_roles() {
    let log = Log::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let key = rsa_key(dir.path(), "issuer.pem");
    let other = rsa_key(dir.path(), "other.pem");
    let jwks = json!({"keys": [{"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig", "n": key.modulus, "e": "AQAB"}]});
    let fetches = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&fetches);
    let jwks_app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            let jwks = jwks.clone();
            async move { axum::Json(jwks) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jwks_url = format!("http://{}/jwks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, jwks_app).await.unwrap() });

    let verifier = OidcVerifier::new(OidcSettings {
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        jwks_url: Some(jwks_url),
        algorithms: vec![Algorithm::RS256, Algorithm::ES256],
        leeway: Duration::from_secs(60),
        claim: "groups".into(),
        mappings: vec![
            OidcMapping {
                value: "sre".into(),
                role: Role::Analyst,
                namespaces: None,
            },
            OidcMapping {
                value: "payments-devs".into(),
                role: Role::Viewer,
                namespaces: Some(["payments".to_owned()].into()),
            },
        ],
    });
    let settings = ApiSettings {
        default_limit: 10,
        max_limit: 100,
        auth: Arc::new(Authenticator::new(Vec::new(), false, None, None).with_oidc(verifier)),
        metrics: None,
        alerts: None,
        placeholders: kestrel_detect::Placeholders::new(),
        filters: Vec::new(),
        limits: Default::default(),
        holds: None,
    };
    let app = router(SearchEngine::new(dir.path().join("index")), settings);

    // Valid: the mapped role and scope; the first matching mapping wins.
    let analyst = sign(
        &key.private,
        "k1",
        &claims(&["payments-devs-x", "sre", "payments-devs"]),
    );
    let (status, outcome, body) = get(&app, "/api/v1/alerts", &analyst).await;
    assert_eq!(status, StatusCode::OK, "{body}\n{}", log.text());
    let Some(AccessOutcome::Allowed(identity)) = outcome else {
        panic!("not allowed")
    };
    assert_eq!(
        (identity.name.as_str(), identity.role, identity.source),
        ("alice", Role::Analyst, IdentitySource::Oidc)
    );
    assert_eq!(identity.scope, Scope::All);
    let viewer = sign(&key.private, "k1", &claims(&["payments-devs"]));
    let (status, outcome, _) = get(&app, "/api/v1/alerts", &viewer).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a viewer may not list alerts"
    );
    let Some(AccessOutcome::Denied {
        identity: Some(identity),
        ..
    }) = outcome
    else {
        panic!()
    };
    assert_eq!(
        identity.scope,
        Scope::Namespaces(["payments".to_owned()].into())
    );
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        1,
        "the JWKS is fetched once and cached"
    );

    // Each refused with 401, its reason in the log only.
    let now = chrono::Utc::now().timestamp();
    let mut expired = claims(&["sre"]);
    expired["exp"] = json!(now - 3600);
    let mut audience = claims(&["sre"]);
    audience["aud"] = json!("someone-else");
    let mut issuer = claims(&["sre"]);
    issuer["iss"] = json!("https://evil.test");
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT", "kid": "k1"})),
        b64(&claims(&["sre"]))
    );
    let mut hs_header = Header::new(Algorithm::HS256);
    hs_header.kid = Some("k1".into());
    let hmac = encode(
        &hs_header,
        &claims(&["sre"]),
        &EncodingKey::from_secret(&key.public),
    )
    .unwrap();
    let parts: Vec<&str> = analyst.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(&claims(&["sre", "admins"])),
        parts[2]
    );
    let unmapped = sign(&key.private, "k1", &claims(&["interns"]));
    let cases = [
        (
            "expired",
            sign(&key.private, "k1", &expired),
            "ExpiredSignature",
        ),
        (
            "wrong audience",
            sign(&key.private, "k1", &audience),
            "InvalidAudience",
        ),
        (
            "wrong issuer",
            sign(&key.private, "k1", &issuer),
            "InvalidIssuer",
        ),
        (
            "wrong key",
            sign(&other.private, "k1", &claims(&["sre"])),
            "InvalidSignature",
        ),
        ("alg none", none, "malformed token"),
        (
            "HS256 with the public key",
            hmac,
            "algorithm HS256 is not accepted",
        ),
        ("tampered payload", tampered, "InvalidSignature"),
        (
            "no mapping",
            unmapped,
            "no mapping for the values of claim \"groups\"",
        ),
        (
            "unknown kid",
            sign(&key.private, "made-up", &claims(&["sre"])),
            "unknown key id \"made-up\"",
        ),
    ];
    for (case, token, reason) in cases {
        let before = log.text().len();
        let (status, outcome, body) = get(&app, "/api/v1/alerts", &token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{case}: {body}");
        assert!(
            matches!(outcome, Some(AccessOutcome::Denied { identity: None, .. })),
            "{case}"
        );
        let logged = log.text()[before..].to_owned();
        assert!(
            logged.contains("oidc token refused") && logged.contains(reason),
            "{case}: {reason} not in {logged}"
        );
        assert!(
            !body.contains(reason) && !body.contains("oidc"),
            "{case}: the answer tells {body}"
        );
    }
    for i in 0..20 {
        let token = sign(&key.private, &format!("garbage-{i}"), &claims(&["sre"]));
        assert_eq!(
            get(&app, "/api/v1/alerts", &token).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        1,
        "made-up key ids within 30 s of a fetch fetch nothing"
    );
}
