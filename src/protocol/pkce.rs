//! PKCE (RFC 7636) through oxide-auth's PKCE add-on, which holds the method
//! policy and the constant-time verification; the syntax checks of RFC 7636
//! §4.1–4.2 that it leaves out are ours.

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
/// to store (`S256` or `plain`) when a challenge was given.
pub fn check_challenge(
    challenge: Option<&str>,
    method: Option<&str>,
    required: bool,
    allow_plain: bool,
) -> Result<Option<&'static str>, PkceError> {
    match challenge {
        None if required => return Err(PkceError::Required),
        None if method.is_some() => return Err(PkceError::BadChallenge),
        None => return Ok(None),
        Some(c) if !unreserved(c) => return Err(PkceError::BadChallenge),
        Some(_) => {}
    }
    // RFC 7636 §4.3: a missing method means `plain`.
    let stored = match method.unwrap_or("plain") {
        "S256" => "S256",
        "plain" if allow_plain => "plain",
        _ => return Err(PkceError::BadMethod),
    };
    policy(required, allow_plain)
        .challenge(method.map(Cow::Borrowed), challenge.map(Cow::Borrowed))
        .map_err(|()| PkceError::BadMethod)?;
    Ok(Some(stored))
}

/// Verifies `code_verifier` at the token endpoint against the stored
/// challenge (RFC 7636 §4.6). With no stored challenge, a verifier is
/// refused (it signals a downgrade or a mix-up).
pub fn verify(
    challenge: Option<&str>,
    method: Option<&str>,
    verifier: Option<&str>,
) -> Result<(), PkceError> {
    let Some(challenge) = challenge else {
        return if verifier.is_some() {
            Err(PkceError::Mismatch)
        } else {
            Ok(())
        };
    };
    let verifier = verifier.ok_or(PkceError::Mismatch)?;
    if !unreserved(verifier) {
        return Err(PkceError::Mismatch);
    }
    let (allow_plain, encoded) = match method {
        Some("plain") => (true, format!("{challenge}p")),
        _ => (false, format!("{challenge}S")),
    };
    policy(true, allow_plain)
        .verify(
            Some(Value::private(Some(encoded))),
            Some(Cow::Borrowed(verifier)),
        )
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
    }
}
