//! Certificates for the tests of TLS listeners: a CA, a server certificate for `localhost`, a
//! client certificate signed by the CA, and a "stranger" client certificate from another CA.

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
