//! Passkeys on the account page (docs/MFA.md): registering one (the
//! ceremony rules are `protocol::passkey`'s) with the recovery codes that
//! come with a user's first factor, and removing one.

use chrono::{DateTime, Utc};
use zeroize::Zeroizing;

use crate::domain::mfa::{Factor, FactorKind};
use crate::domain::{User, UserId};
use crate::ports::{Repositories, Rng, StoreError, WebAuthn};
use crate::protocol::error::OAuthError;
use crate::protocol::mfa;
use crate::protocol::passkey::{self, Refused};

/// A registered passkey.
#[derive(Debug)]
pub struct Registered {
    /// The stored factor.
    pub factor: Factor,
    /// The recovery codes generated with it (the user's first factor, and
    /// they had none): shown once, never stored in the clear.
    pub recovery_codes: Option<Vec<Zeroizing<String>>>,
}

/// Starts a registration for `user` (see
/// [`passkey::start_registration`]).
pub async fn start(
    store: &dyn Repositories,
    webauthn: &dyn WebAuthn,
    rng: &dyn Rng,
    user: &User,
    now: DateTime<Utc>,
) -> Result<Result<passkey::Started, Refused>, OAuthError> {
    passkey::start_registration(store, webauthn, rng, user, now).await
}

/// Registers the passkey of the browser's `answer` to ceremony `handle`
/// ([`passkey::finish_registration`]). When it is `user`'s first factor and
/// they have no recovery codes, generates them (docs/MFA.md, "Recovery
/// codes").
#[allow(clippy::too_many_arguments)] // the ceremony's parts, each needed
pub async fn register(
    store: &dyn Repositories,
    webauthn: &dyn WebAuthn,
    rng: &dyn Rng,
    user: &UserId,
    handle: &str,
    answer: &str,
    name: &str,
    now: DateTime<Utc>,
) -> Result<Result<Registered, Refused>, OAuthError> {
    let first = !mfa::has_second_factor(store, user).await?;
    let factor =
        match passkey::finish_registration(store, webauthn, rng, user, handle, answer, name, now)
            .await?
        {
            Ok(f) => f,
            Err(r) => return Ok(Err(r)),
        };
    let recovery_codes = if first {
        super::mfa::ensure_recovery_codes(store, rng, user, now)
            .await?
            .map(|set| set.codes)
    } else {
        None
    };
    Ok(Ok(Registered {
        factor,
        recovery_codes,
    }))
}

/// Removes passkey `id` of `user`; `false` when `user` has no passkey with
/// that id (another user's, a TOTP factor, none).
/// When it was the user's last factor, their recovery codes go too
/// (`app::mfa::forget_codes_without_factor`).
pub async fn remove(
    store: &dyn Repositories,
    user: &UserId,
    id: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let factors = store.factors().list_factors(user).await?;
    if !factors
        .iter()
        .any(|f| f.id == id && f.kind == FactorKind::Passkey)
    {
        return Ok(false);
    }
    let removed = store.factors().delete_factor(user, id).await?;
    super::mfa::forget_codes_without_factor(store, user, now).await?;
    Ok(removed)
}
