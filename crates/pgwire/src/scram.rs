//! SCRAM-SHA-256 (RFC 5802, RFC 7677) as Postgres does it, from stored verifiers.
//!
//! A verifier has Postgres's own format, `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`
//! (base64 parts), so it holds nothing a client could log in with: the server proves a client
//! knows the password from StoredKey, and proves itself with ServerKey. pgwire's SCRAM wants the
//! salted password itself, which is why prov9 has its own exchange.

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::rand::{SecureRandom, SystemRandom};
use ring::{digest, hmac, pbkdf2};

/// Iterations of new verifiers: Postgres's default.
pub const DEFAULT_ITERATIONS: u32 = 4096;
const KEY_LEN: usize = 32;
const PREFIX: &str = "SCRAM-SHA-256$";

/// What the server stores for a password.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramVerifier {
    pub iterations: u32,
    pub salt: Vec<u8>,
    pub stored_key: [u8; KEY_LEN],
    pub server_key: [u8; KEY_LEN],
}

impl fmt::Debug for ScramVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ScramVerifier(..)")
    }
}

/// A malformed verifier or client message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScramError(pub String);

fn bad(what: impl Into<String>) -> ScramError {
    ScramError(what.into())
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; KEY_LEN] {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data);
    tag.as_ref().try_into().expect("HMAC-SHA-256 is 32 bytes")
}

fn sha256(data: &[u8]) -> [u8; KEY_LEN] {
    digest::digest(&digest::SHA256, data)
        .as_ref()
        .try_into()
        .expect("SHA-256 is 32 bytes")
}

/// SASLprep the password like Postgres: use it as is when it cannot be normalised.
fn normalize(password: &str) -> String {
    stringprep::saslprep(password)
        .map(|p| p.into_owned())
        .unwrap_or_else(|_| password.to_string())
}

impl ScramVerifier {
    /// A verifier for `password` with a fresh random salt.
    pub fn new(password: &str) -> Self {
        let mut salt = vec![0u8; 16];
        SystemRandom::new()
            .fill(&mut salt)
            .expect("the system random source works");
        Self::with_salt(password, salt, DEFAULT_ITERATIONS)
    }

    pub fn with_salt(password: &str, salt: Vec<u8>, iterations: u32) -> Self {
        let mut salted = [0u8; KEY_LEN];
        pbkdf2::derive(
            pbkdf2::PBKDF2_HMAC_SHA256,
            NonZeroU32::new(iterations.max(1)).expect("at least one iteration"),
            &salt,
            normalize(password).as_bytes(),
            &mut salted,
        );
        ScramVerifier {
            iterations,
            salt,
            stored_key: sha256(&hmac_sha256(&salted, b"Client Key")),
            server_key: hmac_sha256(&salted, b"Server Key"),
        }
    }
}

impl fmt::Display for ScramVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{PREFIX}{}:{}${}:{}",
            self.iterations,
            BASE64.encode(&self.salt),
            BASE64.encode(self.stored_key),
            BASE64.encode(self.server_key)
        )
    }
}

impl FromStr for ScramVerifier {
    type Err = ScramError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let expected = "expected SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey> (from `prov9 hash-password`)";
        let rest = s.strip_prefix(PREFIX).ok_or_else(|| bad(expected))?;
        let (params, keys) = rest.split_once('$').ok_or_else(|| bad(expected))?;
        let (iterations, salt) = params.split_once(':').ok_or_else(|| bad(expected))?;
        let (stored, server) = keys.split_once(':').ok_or_else(|| bad(expected))?;
        let key = |text: &str, name: &str| -> Result<[u8; KEY_LEN], ScramError> {
            BASE64
                .decode(text)
                .ok()
                .and_then(|k| k.try_into().ok())
                .ok_or_else(|| bad(format!("{name} is not 32 base64-encoded bytes")))
        };
        Ok(ScramVerifier {
            iterations: iterations
                .parse()
                .ok()
                .filter(|&i| i > 0)
                .ok_or_else(|| bad("the iteration count is not a positive number"))?,
            salt: BASE64
                .decode(salt)
                .map_err(|_| bad("the salt is not base64"))?,
            stored_key: key(stored, "StoredKey")?,
            server_key: key(server, "ServerKey")?,
        })
    }
}

/// The server's side of one exchange, after the client's first message.
#[derive(Debug)]
pub struct ScramExchange {
    verifier: ScramVerifier,
    client_first_bare: String,
    server_first: String,
    nonce: String,
    gs2_header: String,
}

impl ScramExchange {
    /// Read the client-first-message and answer with the server-first-message.
    pub fn start(
        client_first: &[u8],
        verifier: ScramVerifier,
    ) -> Result<(Self, String), ScramError> {
        let mut random = [0u8; 18];
        SystemRandom::new()
            .fill(&mut random)
            .map_err(|_| bad("no randomness"))?;
        Self::start_with_nonce(client_first, verifier, &BASE64.encode(random))
    }

    fn start_with_nonce(
        client_first: &[u8],
        verifier: ScramVerifier,
        server_nonce: &str,
    ) -> Result<(Self, String), ScramError> {
        let text =
            std::str::from_utf8(client_first).map_err(|_| bad("client-first is not UTF-8"))?;
        // gs2-header: channel-binding flag, optional authzid, then the bare message.
        let mut parts = text.splitn(3, ',');
        let flag = parts.next().unwrap_or_default();
        let authzid = parts
            .next()
            .ok_or_else(|| bad("client-first has no gs2 header"))?;
        let bare = parts
            .next()
            .ok_or_else(|| bad("client-first is truncated"))?;
        match flag {
            "n" | "y" => {}
            _ => return Err(bad("channel binding (SCRAM-SHA-256-PLUS) was not offered")),
        }
        let client_nonce = bare
            .split(',')
            .find_map(|a| a.strip_prefix("r="))
            .filter(|n| !n.is_empty())
            .ok_or_else(|| bad("client-first has no nonce"))?;
        let nonce = format!("{client_nonce}{server_nonce}");
        let server_first = format!(
            "r={nonce},s={},i={}",
            BASE64.encode(&verifier.salt),
            verifier.iterations
        );
        Ok((
            ScramExchange {
                verifier,
                client_first_bare: bare.to_string(),
                server_first: server_first.clone(),
                nonce,
                gs2_header: format!("{flag},{authzid},"),
            },
            server_first,
        ))
    }

    /// Check the client's proof. `Ok(Some(server_final))` when it knows the password,
    /// `Ok(None)` when it does not.
    pub fn finish(&self, client_final: &[u8]) -> Result<Option<String>, ScramError> {
        let text =
            std::str::from_utf8(client_final).map_err(|_| bad("client-final is not UTF-8"))?;
        let (without_proof, proof) = text
            .rsplit_once(",p=")
            .ok_or_else(|| bad("client-final has no proof"))?;
        let mut binding = None;
        let mut nonce = None;
        for attribute in without_proof.split(',') {
            if let Some(v) = attribute.strip_prefix("c=") {
                binding = Some(v);
            } else if let Some(v) = attribute.strip_prefix("r=") {
                nonce = Some(v);
            }
        }
        if binding != Some(BASE64.encode(&self.gs2_header).as_str()) {
            return Err(bad(
                "channel binding does not match the client-first message",
            ));
        }
        if nonce != Some(self.nonce.as_str()) {
            return Err(bad("the nonce does not match"));
        }
        let proof: [u8; KEY_LEN] = match BASE64.decode(proof).ok().and_then(|p| p.try_into().ok()) {
            Some(p) => p,
            None => return Err(bad("the proof is not 32 base64-encoded bytes")),
        };
        let auth_message = format!(
            "{},{},{}",
            self.client_first_bare, self.server_first, without_proof
        );
        let signature = hmac_sha256(&self.verifier.stored_key, auth_message.as_bytes());
        let mut client_key = [0u8; KEY_LEN];
        for (k, (p, s)) in client_key.iter_mut().zip(proof.iter().zip(signature)) {
            *k = p ^ s;
        }
        let difference = sha256(&client_key)
            .iter()
            .zip(self.verifier.stored_key)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if difference != 0 {
            return Ok(None);
        }
        let server_signature = hmac_sha256(&self.verifier.server_key, auth_message.as_bytes());
        Ok(Some(format!("v={}", BASE64.encode(server_signature))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client's side, written from RFC 5802 to test the server's.
    fn client_final(password: &str, client_first_bare: &str, server_first: &str) -> String {
        let mut attrs = server_first.split(',');
        let nonce = attrs.next().unwrap().strip_prefix("r=").unwrap();
        let salt = BASE64
            .decode(attrs.next().unwrap().strip_prefix("s=").unwrap())
            .unwrap();
        let iterations: u32 = attrs
            .next()
            .unwrap()
            .strip_prefix("i=")
            .unwrap()
            .parse()
            .unwrap();
        let mut salted = [0u8; KEY_LEN];
        pbkdf2::derive(
            pbkdf2::PBKDF2_HMAC_SHA256,
            NonZeroU32::new(iterations).unwrap(),
            &salt,
            password.as_bytes(),
            &mut salted,
        );
        let client_key = hmac_sha256(&salted, b"Client Key");
        let without_proof = format!("c=biws,r={nonce}");
        let auth = format!("{client_first_bare},{server_first},{without_proof}");
        let signature = hmac_sha256(&sha256(&client_key), auth.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(signature)
            .map(|(a, b)| a ^ b)
            .collect();
        format!("{without_proof},p={}", BASE64.encode(proof))
    }

    #[test]
    fn verifier_round_trips_through_text() {
        let v = ScramVerifier::new("s3cret");
        let text = v.to_string();
        assert!(text.starts_with("SCRAM-SHA-256$4096:"));
        assert_eq!(text.parse::<ScramVerifier>().unwrap(), v);
        assert!("md5abc".parse::<ScramVerifier>().is_err());
        assert!(
            "SCRAM-SHA-256$0:AAAA$AAAA:AAAA"
                .parse::<ScramVerifier>()
                .is_err()
        );
    }

    /// The SCRAM-SHA-256 example exchange of RFC 7677, section 3.
    #[test]
    fn rfc7677_example() {
        let salt = BASE64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let verifier = ScramVerifier::with_salt("pencil", salt, 4096);
        let (exchange, server_first) = ScramExchange::start_with_nonce(
            b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
            verifier,
            "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
        )
        .unwrap();
        assert_eq!(
            server_first,
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        );
        let server_final = exchange
            .finish(b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
            .unwrap();
        assert_eq!(
            server_final.as_deref(),
            Some("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
        );
    }

    #[test]
    fn right_password_passes_and_wrong_fails() {
        let verifier = ScramVerifier::new("pencil");
        let first_bare = "n=,r=rOprNGfwEbeRWgbNEkqO";
        for (password, ok) in [("pencil", true), ("pencil2", false), ("", false)] {
            let (exchange, server_first) =
                ScramExchange::start(format!("n,,{first_bare}").as_bytes(), verifier.clone())
                    .unwrap();
            let answer = exchange
                .finish(client_final(password, first_bare, &server_first).as_bytes())
                .unwrap();
            assert_eq!(answer.is_some(), ok, "password {password:?}");
        }
    }

    #[test]
    fn malformed_messages_are_errors() {
        let verifier = ScramVerifier::new("pencil");
        assert!(
            ScramExchange::start(b"p=tls-server-end-point,,n=,r=abc", verifier.clone()).is_err()
        );
        assert!(ScramExchange::start(b"n,,n=", verifier.clone()).is_err());
        assert!(ScramExchange::start(&[0xff, 0xfe], verifier.clone()).is_err());
        let (exchange, _) = ScramExchange::start(b"n,,n=,r=abc", verifier).unwrap();
        assert!(exchange.finish(b"c=biws,r=wrong,p=AAAA").is_err());
        assert!(exchange.finish(b"garbage").is_err());
    }
}
