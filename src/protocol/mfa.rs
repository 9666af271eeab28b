//! The second factors' rules (docs/MFA.md): TOTP verification (RFC 6238,
//! one step of drift, a step used once), recovery codes (single use, by
//! SHA-256), and whether a user owes a second factor. The login flow
//! (`protocol::interaction`) and the account page (`app::mfa`) both call
//! these; throttling is the caller's (`interaction`).
//!
//! FOUNDATION STUBS (issue 17): the TOTP work fills these in.

use chrono::{DateTime, Utc};

use super::error::OAuthError;
use crate::domain::UserId;
use crate::ports::{Repositories, SecretBox};

/// Whether `user` has a second factor that counts: a confirmed TOTP
/// authenticator or a passkey.
pub async fn has_second_factor(
    store: &dyn Repositories,
    user: &UserId,
) -> Result<bool, OAuthError> {
    let factors = store.factors().list_factors(user).await?;
    Ok(factors.iter().any(|f| f.confirmed_at.is_some()))
}

/// Verifies a TOTP `code` of `user` at `now` against their confirmed TOTP
/// factor: `true` when it matches a step within one of now and that step is
/// later than the last one accepted (claimed atomically, RFC 6238 §5.2).
pub async fn verify_totp(
    _store: &dyn Repositories,
    _secrets: &dyn SecretBox,
    _user: &UserId,
    _code: &str,
    _now: DateTime<Utc>,
) -> Result<bool, OAuthError> {
    Ok(false)
}

/// Uses a recovery code of `user`: `true` once per code.
pub async fn use_recovery_code(
    _store: &dyn Repositories,
    _user: &UserId,
    _code: &str,
    _now: DateTime<Utc>,
) -> Result<bool, OAuthError> {
    Ok(false)
}
