//! Certificates for the tests of TLS listeners: a CA, a server certificate for `localhost`, a
//! client certificate signed by the CA, and a "stranger" client certificate from another CA;
//! configurations and requests of TLS listeners.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
};

/// The PEM files written by [`issue_certificates`].
pub struct TestCertificates {
    /// The CA that signs the server and the client.
    pub ca: PathBuf,
    /// The server's certificate, for `localhost`.
    pub server_cert: PathBuf,
    /// The server's key.
    pub server_key: PathBuf,
    /// The trusted client's certificate and key.
    pub client: (PathBuf, PathBuf),
    /// A client's certificate and key signed by another CA.
    pub stranger: (PathBuf, PathBuf),
}

/// Writes the certificates into `dir`, the trusted client's common name being `client_name`.
pub fn issue_certificates(dir: &Path, client_name: &str) -> TestCertificates {
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let new_ca = |name: &str| {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        (cert, Issuer::new(params, key))
    };
    let leaf = |name: &str, issuer: &Issuer<'static, KeyPair>| {
        let mut params = CertificateParams::new(vec![name.to_owned()]).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (ca_cert, ca) = new_ca("test cluster CA");
    let (_, other_ca) = new_ca("another CA");
    let (server_cert, server_key) = leaf("localhost", &ca);
    let (client_cert, client_key) = leaf(client_name, &ca);
    let (stranger_cert, stranger_key) = leaf("stranger", &other_ca);
    TestCertificates {
        ca: write("ca.pem", ca_cert.pem()),
        server_cert: write("server.pem", server_cert),
        server_key: write("server-key.pem", server_key),
        client: (
            write("client.pem", client_cert),
            write("client-key.pem", client_key),
        ),
        stranger: (
            write("stranger.pem", stranger_cert),
            write("stranger-key.pem", stranger_key),
        ),
    }
}

/// Writes a configuration whose collector serves only its HTTP listener (no file source), on
/// `webhook_port` over TLS with client certificates from `certs` required and bodies up to
/// 64 KiB, with `sections` (the endpoints to enable) and the API on `api_port`.
pub fn mutual_tls_listener_config(
    dir: &Path,
    certs: &TestCertificates,
    webhook_port: u16,
    api_port: u16,
    sections: &str,
) -> PathBuf {
    let text = format!(
        r#"[collector]
sources = []
[collector.webhook]
listen = "127.0.0.1:{webhook_port}"
max_body_bytes = 65536
[collector.webhook.tls]
cert = "{cert}"
key = "{key}"
client_ca = "{ca}"
{sections}
[indexer]
commit_interval = "200ms"
[query]
listen = "127.0.0.1:{api_port}"
"#,
        cert = certs.server_cert.display(),
        key = certs.server_key.display(),
        ca = certs.ca.display(),
    );
    let config = dir.join("kestrel.toml");
    let text = format!(
        "data_dir = \"{}\"\nhost_name = \"test-node\"\n{text}",
        dir.join("data").display()
    );
    std::fs::write(&config, text).expect("test configuration written");
    config
}

/// Posts `body_file` to `https://localhost:{port}{path}` with curl over HTTP/1.1 (as the
/// libcurl-based senders do), trusting `certs.ca`, with `client` as the client certificate and
/// `headers` (`"Name: value"`) added; the status and the answer's text, or `None` when no TLS
/// session was made.
pub fn post_tls(
    port: u16,
    path: &str,
    certs: &TestCertificates,
    body_file: &Path,
    client: Option<&(PathBuf, PathBuf)>,
    headers: &[&str],
) -> Option<(u16, String)> {
    let answer = body_file.with_extension("answer");
    let mut command = std::process::Command::new("curl");
    command
        .args([
            "-sS",
            "--max-time",
            "20",
            "--http1.1",
            "-w",
            "%{http_code}",
            "-o",
        ])
        .arg(&answer)
        .arg("--cacert")
        .arg(&certs.ca)
        .arg("--data-binary")
        .arg(format!("@{}", body_file.display()));
    for header in headers {
        command.args(["-H", header]);
    }
    if let Some((cert, key)) = client {
        command.arg("--cert").arg(cert).arg("--key").arg(key);
    }
    command.arg(format!("https://localhost:{port}{path}"));
    let output = command.output().expect("curl runs");
    // curl prints the status it got even when it then failed (a server that answers 413 and
    // closes while the body is still being sent); 000 is no answer at all (no TLS session).
    let status: u16 = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .ok()?;
    let text = std::fs::read_to_string(&answer).unwrap_or_default();
    let _ = std::fs::remove_file(&answer);
    (status != 0).then_some((status, text))
}
