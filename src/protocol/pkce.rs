//! PKCE (RFC 7636) through oxide-auth's public PKCE API
//! ([`oxide_auth::code_grant::extensions::Pkce`]).
//!
//! oxide-auth decides, at the authorization endpoint, whether a challenge is
//! required and which method is accepted (`S256`; `plain` only when
//! allowed, with a missing method meaning `plain`, RFC 7636 §4.3), and, at
//! the token endpoint, whether the verifier matches (SHA-256 and base64url,
//! compared in constant time, RFC 7636 §4.6). The challenge and its method
//! are stored with the code as the client sent them; at the token endpoint
//! [`Pkce::challenge`] turns them back into the opaque [`Value`] that
//! [`Pkce::verify`] takes. We never build or read that value's encoding.
//!
//! Three rules are ours, because oxide-auth's API has no place for them:
//!
//! - the syntax of the challenge and of the verifier: 43 to 128 characters
//!   of `[A-Za-z0-9-._~]` (RFC 7636 §4.1, §4.2). oxide-auth accepts any
//!   string;
//! - a verifier sent for a code issued without a challenge is refused (RFC
//!   9700 §2.1.1: it signals a downgrade); oxide-auth's `verify` passes it;
//! - distinct errors for a missing challenge and a refused method (its
//!   errors are `()`).

use std::borrow::Cow;

use oxide_auth::code_grant::extensions::Pkce;
use oxide_auth::primitives::grant::Value;

/// Why a PKCE parameter was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PkceError {
    /// No challenge, but the client must use PKCE.
    #[error("code_challenge is required for this client (RFC 7636)")]
    Required,
    /// The challenge is not 43–128 unreserved characters (RFC 7636 §4.2).
    #[error(
        "code_challenge must be 43 to 128 characters of [A-Za-z0-9-._~] (RFC 7636 section 4.2)"
    )]
    BadChallenge,
    /// A method other than S256 (or plain, where allowed).
    #[error("code_challenge_method must be S256")]
    BadMethod,
    /// The verifier does not match, is missing, or is malformed.
    #[error("PKCE verification failed")]
    Mismatch,
}

/// RFC 7636 §4.1 (verifier) and §4.2 (challenge, in both methods): 43 to
/// 128 unreserved characters.
fn unreserved(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

fn policy(required: bool, allow_plain: bool) -> Pkce {
    let mut p = if required {
        Pkce::required()
    } else {
        Pkce::optional()
    };
    if allow_plain {
        p.allow_plain();
    }
    p
}

/// Checks the authorization request's PKCE parameters. Returns the method
/// to store with the code (`S256` or `plain`) when a challenge was given.
pub fn check_challenge(
    challenge: Option<&str>,
    method: Option<&str>,
    required: bool,
    allow_plain: bool,
) -> Result<Option<&'static str>, PkceError> {
    if challenge.is_some_and(|c| !unreserved(c)) {
        return Err(PkceError::BadChallenge);
    }
    let accepted = policy(required, allow_plain)
        .challenge(method.map(Cow::Borrowed), challenge.map(Cow::Borrowed))
        .map_err(|()| {
            if challenge.is_none() {
                PkceError::Required
            } else {
                PkceError::BadMethod
            }
        })?;
    match accepted {
        // A method without a challenge is a malformed request.
        None if method.is_some() => Err(PkceError::BadChallenge),
        None => Ok(None),
        // oxide-auth accepted the method: S256, or plain (named or, RFC
        // 7636 §4.3, by default) where it is allowed.
        Some(_) if method == Some("S256") => Ok(Some("S256")),
        Some(_) => Ok(Some("plain")),
    }
}

/// Verifies `code_verifier` at the token endpoint against the challenge
/// and method stored with the code (RFC 7636 §4.6). With no stored
/// challenge, a verifier is refused (it signals a downgrade or a mix-up).
pub fn verify(
    challenge: Option<&str>,
    method: Option<&str>,
    verifier: Option<&str>,
) -> Result<(), PkceError> {
    let stored: Option<Value> = match challenge {
        None if verifier.is_some() => return Err(PkceError::Mismatch),
        None => None,
        // The method was accepted when the code was issued: a stored
        // `plain` is verified as plain. A stored challenge without a method
        // (which the authorization endpoint never stores) fails closed.
        Some(c) => policy(true, method == Some("plain"))
            .challenge(
                Some(Cow::Borrowed(method.ok_or(PkceError::Mismatch)?)),
                Some(Cow::Borrowed(c)),
            )
            .map_err(|()| PkceError::Mismatch)?,
    };
    if verifier.is_some_and(|v| !unreserved(v)) {
        return Err(PkceError::Mismatch);
    }
    Pkce::optional()
        .verify(stored, verifier.map(Cow::Borrowed))
        .map_err(|()| PkceError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn s256_round_trip_from_rfc7636_appendix_b() {
        assert_eq!(
            check_challenge(Some(CHALLENGE), Some("S256"), true, false),
            Ok(Some("S256"))
        );
        assert_eq!(
            verify(Some(CHALLENGE), Some("S256"), Some(VERIFIER)),
            Ok(())
        );
        let wrong = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXz";
        assert_eq!(
            verify(Some(CHALLENGE), Some("S256"), Some(wrong)),
            Err(PkceError::Mismatch)
        );
        assert_eq!(
            verify(Some(CHALLENGE), Some("S256"), None),
            Err(PkceError::Mismatch)
        );
    }

    #[test]
    fn plain_is_refused_unless_allowed_and_missing_method_means_plain() {
        assert_eq!(
            check_challenge(Some(CHALLENGE), Some("plain"), false, false),
            Err(PkceError::BadMethod)
        );
        assert_eq!(
            check_challenge(Some(CHALLENGE), None, false, false),
            Err(PkceError::BadMethod)
        );
        assert_eq!(
            check_challenge(Some(CHALLENGE), Some("plain"), false, true),
            Ok(Some("plain"))
        );
        assert_eq!(
            verify(Some(VERIFIER), Some("plain"), Some(VERIFIER)),
            Ok(())
        );
    }

    #[test]
    fn required_and_syntax_rules() {
        assert_eq!(
            check_challenge(None, None, true, false),
            Err(PkceError::Required)
        );
        assert_eq!(check_challenge(None, None, false, false), Ok(None));
        assert_eq!(
            check_challenge(Some("short"), Some("S256"), false, false),
            Err(PkceError::BadChallenge)
        );
        assert_eq!(
            check_challenge(Some(&format!("{CHALLENGE}+")), Some("S256"), false, false),
            Err(PkceError::BadChallenge)
        );
        assert_eq!(
            check_challenge(Some(CHALLENGE), Some("S512"), false, false),
            Err(PkceError::BadMethod)
        );
        assert_eq!(
            verify(None, None, Some(VERIFIER)),
            Err(PkceError::Mismatch),
            "verifier without challenge"
        );
        assert_eq!(verify(None, None, None), Ok(()));
        assert_eq!(
            verify(Some(CHALLENGE), Some("S256"), Some("short")),
            Err(PkceError::Mismatch),
            "verifier under 43 characters (RFC 7636 section 4.1)"
        );
        assert_eq!(
            verify(Some(CHALLENGE), None, Some(VERIFIER)),
            Err(PkceError::Mismatch),
            "a stored challenge without a method fails closed"
        );
        assert_eq!(
            verify(Some(CHALLENGE), Some("S512"), Some(VERIFIER)),
            Err(PkceError::Mismatch)
        );
    }

    #[test]
    fn plain_verifies_only_the_identical_verifier() {
        assert_eq!(
            verify(Some(VERIFIER), Some("plain"), Some(VERIFIER)),
            Ok(())
        );
        assert_eq!(
            verify(Some(VERIFIER), Some("plain"), Some(CHALLENGE)),
            Err(PkceError::Mismatch)
        );
        assert_eq!(
            verify(Some(VERIFIER), Some("plain"), None),
            Err(PkceError::Mismatch)
        );
        // An S256 challenge is never compared as plain text.
        assert_eq!(
            verify(Some(CHALLENGE), Some("S256"), Some(CHALLENGE)),
            Err(PkceError::Mismatch)
        );
    }
}
