//! The admin token check of the processor's read API and the alerter's API: one
//! `Authorization: Bearer <processor.admin_token>` for the whole deployment, checked the same
//! way by both.

use actix_web::http::header::{AUTHORIZATION, HeaderMap};
use sha2::{Digest, Sha256};

use crate::config::Secret;

/// Why a request did not carry the admin token; each API maps it to 401 or 403.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerError {
    /// No `Authorization: Bearer …` header (401, with `WWW-Authenticate: Bearer`).
    Missing,
    /// A bearer token, but not the admin token (403).
    Wrong,
}

/// Checks that `headers` carry `Authorization: Bearer <expected>` (surrounding whitespace in
/// the token ignored).
pub fn check_bearer(headers: &HeaderMap, expected: &Secret) -> Result<(), BearerError> {
    let token = headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .ok_or(BearerError::Missing)?;
    if same_secret(token.trim(), expected.expose()) {
        Ok(())
    } else {
        Err(BearerError::Wrong)
    }
}

/// Compares the digests, byte by byte without stopping at the first difference: the time
/// taken says neither how much of the token was right nor how long the real one is.
fn same_secret(given: &str, expected: &str) -> bool {
    let given = Sha256::digest(given.as_bytes());
    let expected = Sha256::digest(expected.as_bytes());
    given
        .iter()
        .zip(expected.iter())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::HeaderValue;

    use super::*;

    fn headers(authorization: Option<&'static str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(value) = authorization {
            headers.insert(AUTHORIZATION, HeaderValue::from_static(value));
        }
        headers
    }

    fn check(authorization: Option<&'static str>) -> Result<(), BearerError> {
        check_bearer(&headers(authorization), &Secret::new("s3cret-token"))
    }

    #[test]
    fn the_admin_token_passes() {
        assert_eq!(check(Some("Bearer s3cret-token")), Ok(()));
        assert_eq!(check(Some("Bearer  s3cret-token ")), Ok(()));
    }

    #[test]
    fn no_bearer_token_is_missing() {
        assert_eq!(check(None), Err(BearerError::Missing));
        assert_eq!(check(Some("s3cret-token")), Err(BearerError::Missing));
        assert_eq!(
            check(Some("Basic czNjcmV0LXRva2Vu")),
            Err(BearerError::Missing)
        );
    }

    #[test]
    fn another_token_is_wrong() {
        for token in [
            "Bearer s3cret-toke",
            "Bearer s3cret-token2",
            "Bearer S3CRET-TOKEN",
            "Bearer ",
        ] {
            assert_eq!(check(Some(token)), Err(BearerError::Wrong), "{token}");
        }
    }

    #[test]
    fn equal_secrets_only_are_the_same() {
        assert!(same_secret("", ""));
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
        assert!(!same_secret("", "a"));
    }
}
