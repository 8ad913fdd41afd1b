//! API keys of the ingest endpoint: the config file holds each key's SHA-256, never the key.

use axum::http::{HeaderMap, header};
use prov9_model::hex::to_hex;
use ring::digest;

/// The SHA-256 digest (hex) of an API key, as the config file stores it.
pub fn api_key_digest(key: &str) -> String {
    to_hex(digest::digest(&digest::SHA256, key.as_bytes()).as_ref())
}

/// Whether the request carries one of the keys (`Authorization: Bearer <key>`); with no keys
/// configured, every request is.
pub(crate) fn authorized(headers: &HeaderMap, digests: &[String]) -> bool {
    if digests.is_empty() {
        return true;
    }
    let Some(key) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    digests.contains(&api_key_digest(key.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_are_checked_by_digest() {
        let digests = vec![api_key_digest("k1")];
        use axum::http::HeaderValue;
        let mut headers = HeaderMap::new();
        assert!(!authorized(&headers, &digests));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer k2"));
        assert!(!authorized(&headers, &digests));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer k1"));
        assert!(authorized(&headers, &digests));
        assert!(authorized(&HeaderMap::new(), &[]));
    }
}
