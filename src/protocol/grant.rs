//! The one grant-revocation operation. A grant is what one authorization
//! produced: its code, its refresh-token family (`family_id` = the grant id)
//! and its access tokens (the `grant_id` claim). Revoking the grant row
//! reaches all of them, because each checks it: the code exchange, the
//! refresh grant and refresh-token introspection read the grant, and
//! [`super::resource::validate_access_token`] reads it for every access
//! token that names one (one primary-key read). Issuance writes nothing
//! extra. `client_credentials` tokens have no grant and are not affected.
//!
//! Used by a replayed code (RFC 6749 §4.1.2), refresh-token reuse (OAuth
//! 2.0 Security BCP §4.14), `/revoke` of a refresh token (RFC 7009 §2.1),
//! logout, and a user disabled or given a new password.

use chrono::{DateTime, Utc};

use crate::ports::Store;
use crate::ports::StoreError;
pub use crate::ports::repositories::GrantSelector;
use crate::protocol::error::OAuthError;

/// Revokes the grants `which` selects, with every token issued from them;
/// returns how many grants were live.
pub async fn revoke(
    store: &dyn Store,
    which: GrantSelector<'_>,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    store.grants().revoke_grants(which, now).await
}

/// A credential was misused (a used code presented again, RFC 6749 §4.1.2;
/// a rotated refresh token presented again, RFC 9700 §4.14): revokes grant
/// `grant_id` and every token of it, then returns the `invalid_grant` to
/// answer with. The revocation is committed (a single statement on the pool)
/// BEFORE the error is returned, so the error cannot roll it back; if it
/// fails, the store's error is answered instead.
pub async fn revoke_after_misuse(
    store: &dyn Store,
    grant_id: &str,
    now: DateTime<Utc>,
    refusal: &'static str,
) -> OAuthError {
    match revoke(store, GrantSelector::Id(grant_id), now).await {
        Ok(_) => OAuthError::invalid_grant(refusal),
        Err(e) => OAuthError::from(e),
    }
}
