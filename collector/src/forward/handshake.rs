//! The shared-key handshake of the Forward protocol: the server sends `HELO`, the client
//! answers `PING`, the server answers `PONG`.
//!
//! * `HELO`: `["HELO", {"nonce": nonce, "auth": user_salt or "", "keepalive": true}]`
//! * `PING`: `["PING", client_hostname, shared_key_salt, hex(sha512(shared_key_salt +
//!   client_hostname + nonce + shared_key)), username, hex(sha512(user_salt + username +
//!   password))]` (the last two empty without user authentication)
//! * `PONG`: `["PONG", auth_result, reason, server_hostname, hex(sha512(shared_key_salt +
//!   server_hostname + nonce + shared_key))]`
//!
//! Digests are compared in constant time.

use rmpv::Value;
use sha2::{Digest, Sha512};

use super::protocol::type_name;

/// A user the handshake accepts.
#[derive(Clone)]
pub struct User {
    /// The name.
    pub username: String,
    /// The password.
    pub password: String,
}

/// What the server knows to check a `PING`.
#[derive(Clone)]
pub struct Secrets {
    /// The shared key.
    pub shared_key: String,
    /// Accepted users; empty means no user check.
    pub users: Vec<User>,
}

/// One connection's handshake: its random nonce and user salt.
pub struct Handshake {
    nonce: [u8; 16],
    user_salt: [u8; 16],
}

/// A `PING` that passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The hostname the client gave.
    pub client_hostname: String,
    /// The client's salt, used again in the `PONG` digest.
    pub shared_key_salt: Vec<u8>,
    /// The user, when users are checked.
    pub username: Option<String>,
}

/// `hex(sha512(parts...))`.
pub fn digest(parts: &[&[u8]]) -> String {
    let mut hasher = Sha512::new();
    for part in parts {
        hasher.update(part);
    }
    hex::encode(hasher.finalize())
}

/// Compares two digests without revealing where they differ.
fn same(a: &str, b: &[u8]) -> bool {
    let a = a.as_bytes();
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn bytes_of(value: &Value) -> Option<&[u8]> {
    match value {
        Value::String(s) => Some(s.as_bytes()),
        Value::Binary(b) => Some(b),
        _ => None,
    }
}

impl Handshake {
    /// A handshake with fresh random nonce and salt.
    pub fn new() -> Result<Handshake, getrandom::Error> {
        let mut nonce = [0u8; 16];
        let mut user_salt = [0u8; 16];
        getrandom::fill(&mut nonce)?;
        getrandom::fill(&mut user_salt)?;
        Ok(Handshake { nonce, user_salt })
    }

    /// A handshake with the given nonce and salt (tests).
    pub fn with(nonce: [u8; 16], user_salt: [u8; 16]) -> Handshake {
        Handshake { nonce, user_salt }
    }

    /// The `HELO` message; `auth` carries the user salt when users are checked.
    pub fn helo(&self, secrets: &Secrets) -> Value {
        let auth = if secrets.users.is_empty() {
            Value::from("")
        } else {
            Value::Binary(self.user_salt.to_vec())
        };
        Value::Array(vec![
            "HELO".into(),
            Value::Map(vec![
                ("nonce".into(), Value::Binary(self.nonce.to_vec())),
                ("auth".into(), auth),
                ("keepalive".into(), Value::Boolean(true)),
            ]),
        ])
    }

    /// Checks a `PING`; the error is the reason to send back in the `PONG` and to log.
    pub fn check_ping(&self, ping: &Value, secrets: &Secrets) -> Result<Accepted, String> {
        let items = match ping {
            Value::Array(items) => items,
            other => return Err(format!("expected a PING array, found {}", type_name(other))),
        };
        if items.first().and_then(Value::as_str) != Some("PING") {
            return Err("expected a PING message".to_owned());
        }
        if items.len() != 6 {
            return Err(format!("a PING has 6 items, found {}", items.len()));
        }
        let field = |at: usize, name: &str| {
            bytes_of(&items[at]).ok_or_else(|| format!("PING {name} must be a string"))
        };
        let hostname = field(1, "hostname")?;
        let salt = field(2, "shared_key_salt")?;
        let given = field(3, "shared_key_hexdigest")?;
        let username = field(4, "username")?;
        let password_digest = field(5, "password")?;
        let expected = digest(&[salt, hostname, &self.nonce, secrets.shared_key.as_bytes()]);
        if !same(&expected, given) {
            return Err("shared key mismatch".to_owned());
        }
        let username = if secrets.users.is_empty() {
            None
        } else {
            let user = secrets
                .users
                .iter()
                .find(|u| u.username.as_bytes() == username)
                .ok_or_else(|| "username/password mismatch".to_owned())?;
            let expected = digest(&[&self.user_salt, username, user.password.as_bytes()]);
            if !same(&expected, password_digest) {
                return Err("username/password mismatch".to_owned());
            }
            Some(user.username.clone())
        };
        Ok(Accepted {
            client_hostname: String::from_utf8_lossy(hostname).into_owned(),
            shared_key_salt: salt.to_vec(),
            username,
        })
    }

    /// The `PONG` answering an accepted `PING`.
    pub fn pong_accepted(
        &self,
        accepted: &Accepted,
        server_hostname: &str,
        secrets: &Secrets,
    ) -> Value {
        let proof = digest(&[
            &accepted.shared_key_salt,
            server_hostname.as_bytes(),
            &self.nonce,
            secrets.shared_key.as_bytes(),
        ]);
        Value::Array(vec![
            "PONG".into(),
            Value::Boolean(true),
            "".into(),
            server_hostname.into(),
            proof.into(),
        ])
    }
}

/// The `PONG` refusing a `PING`, with the reason.
pub fn pong_refused(reason: &str) -> Value {
    Value::Array(vec![
        "PONG".into(),
        Value::Boolean(false),
        reason.into(),
        "".into(),
        "".into(),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spec's digest of the concatenated parts, computed with another SHA-512
    /// implementation (ring's).
    fn reference(parts: &[&[u8]]) -> String {
        let joined: Vec<u8> = parts.concat();
        hex::encode(ring::digest::digest(&ring::digest::SHA512, &joined))
    }

    #[test]
    fn the_reference_sha512_matches_the_standard_test_vector() {
        // FIPS 180-2 appendix C.1: SHA-512("abc").
        assert_eq!(
            reference(&[b"abc"]),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
             2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
        );
    }

    fn secrets(users: Vec<User>) -> Secrets {
        Secrets {
            shared_key: "fleet-key".into(),
            users,
        }
    }

    /// A PING as a client computes it from the spec's formula.
    fn ping(nonce: &[u8], user_salt: &[u8], key: &str, user: (&str, &str)) -> Value {
        let salt = b"client-salt-0001";
        let host = b"node-a";
        let key_digest = reference(&[salt, host, nonce, key.as_bytes()]);
        let password = if user.0.is_empty() {
            String::new()
        } else {
            reference(&[user_salt, user.0.as_bytes(), user.1.as_bytes()])
        };
        Value::Array(vec![
            "PING".into(),
            "node-a".into(),
            Value::Binary(salt.to_vec()),
            key_digest.into(),
            user.0.into(),
            password.into(),
        ])
    }

    #[test]
    fn helo_ping_pong_with_the_right_key() {
        let nonce = [7u8; 16];
        let salt = [9u8; 16];
        let handshake = Handshake::with(nonce, salt);
        let secrets = secrets(Vec::new());
        let helo = handshake.helo(&secrets);
        assert_eq!(helo.as_array().unwrap()[0].as_str(), Some("HELO"));
        let accepted = handshake
            .check_ping(&ping(&nonce, &salt, "fleet-key", ("", "")), &secrets)
            .unwrap();
        assert_eq!(accepted.client_hostname, "node-a");
        let pong = handshake.pong_accepted(&accepted, "kestrel-1", &secrets);
        let items = pong.as_array().unwrap();
        assert_eq!(items[1], Value::Boolean(true));
        assert_eq!(items[3].as_str(), Some("kestrel-1"));
        let expected = reference(&[b"client-salt-0001", b"kestrel-1", &nonce, b"fleet-key"]);
        assert_eq!(items[4].as_str(), Some(expected.as_str()));
    }

    #[test]
    fn a_wrong_key_or_user_is_refused_with_a_reason() {
        let nonce = [1u8; 16];
        let salt = [2u8; 16];
        let handshake = Handshake::with(nonce, salt);
        let plain = secrets(Vec::new());
        assert_eq!(
            handshake
                .check_ping(&ping(&nonce, &salt, "other-key", ("", "")), &plain)
                .unwrap_err(),
            "shared key mismatch"
        );
        // A digest over another nonce (a replayed PING) fails too.
        assert_eq!(
            handshake
                .check_ping(&ping(&[0; 16], &salt, "fleet-key", ("", "")), &plain)
                .unwrap_err(),
            "shared key mismatch"
        );
        let with_users = secrets(vec![User {
            username: "bit".into(),
            password: "pw".into(),
        }]);
        let helo = handshake.helo(&with_users);
        let auth = &helo.as_array().unwrap()[1].as_map().unwrap()[1].1;
        assert_eq!(auth, &Value::Binary(salt.to_vec()));
        assert!(handshake
            .check_ping(
                &ping(&nonce, &salt, "fleet-key", ("bit", "pw")),
                &with_users
            )
            .is_ok());
        for user in [("bit", "wrong"), ("nobody", "pw")] {
            assert_eq!(
                handshake
                    .check_ping(&ping(&nonce, &salt, "fleet-key", user), &with_users)
                    .unwrap_err(),
                "username/password mismatch"
            );
        }
        assert!(handshake
            .check_ping(&Value::from("PING"), &plain)
            .unwrap_err()
            .contains("expected a PING array"));
        let refused = pong_refused("shared key mismatch");
        assert_eq!(refused.as_array().unwrap()[1], Value::Boolean(false));
        assert_eq!(
            refused.as_array().unwrap()[2].as_str(),
            Some("shared key mismatch")
        );
    }
}
