//! Second factors for operators and the account page (docs/MFA.md): the
//! overview of a user's factors. The account page's enrolment rules live in
//! `app::totp` and `app::passkeys`; the operator's listing ([`list`]) and
//! reset ([`reset`]) here, shared by the CLI (`portcullis user factors`,
//! `user reset-mfa`) and the admin API (`/admin/v1/users/{user_id}/factors`).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::operator::OperatorError;
use super::users::{self, UserRef};
use crate::domain::UserId;
use crate::domain::mfa::{Factor, FactorKind};
use crate::ports::{Repositories, Store, StoreError};

/// A user's factors as the account page and the admin API show them.
#[derive(Debug, Clone, Default)]
pub struct Overview {
    /// The confirmed TOTP authenticator, if any.
    pub totp: Option<Factor>,
    /// Registered passkeys, oldest first.
    pub passkeys: Vec<Factor>,
    /// Unused recovery codes.
    pub recovery_codes_left: u64,
}

/// The factors of `user`.
pub async fn overview(store: &dyn Repositories, user: &UserId) -> Result<Overview, StoreError> {
    let factors = store.factors().list_factors(user).await?;
    let mut out = Overview {
        recovery_codes_left: store.factors().recovery_codes_left(user).await?,
        ..Overview::default()
    };
    for f in factors {
        match f.kind {
            FactorKind::Totp if f.confirmed_at.is_some() => out.totp = Some(f),
            FactorKind::Totp => {}
            FactorKind::Passkey => out.passkeys.push(f),
        }
    }
    Ok(out)
}

/// A factor as operators see it: what it is and when it was used, never
/// its secret or credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FactorView {
    /// Factor id.
    pub id: String,
    /// `totp` or `passkey`.
    pub kind: &'static str,
    /// The name the user gave it.
    pub name: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last successful use.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<&Factor> for FactorView {
    fn from(f: &Factor) -> Self {
        Self {
            id: f.id.clone(),
            kind: f.kind.as_str(),
            name: f.name.clone(),
            created_at: f.created_at,
            last_used_at: f.last_used_at,
        }
    }
}

/// A user's factors as operators see them: the ones that count (a
/// confirmed TOTP authenticator, then the passkeys, oldest first; an
/// enrolment that was never confirmed is left out) and the unused recovery
/// codes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FactorsView {
    /// The user (`sub`).
    pub user_id: String,
    /// The factors.
    pub factors: Vec<FactorView>,
    /// Unused recovery codes.
    pub recovery_codes_left: u64,
}

/// The factors of the user `r` names; `NotFound` if there is none.
pub async fn list(store: &dyn Store, r: UserRef<'_>) -> Result<FactorsView, OperatorError> {
    let user = users::find(store, r).await?;
    let o = overview(store, &user.id).await?;
    Ok(FactorsView {
        user_id: user.id.as_str().to_owned(),
        factors: o
            .totp
            .iter()
            .chain(&o.passkeys)
            .map(FactorView::from)
            .collect(),
        recovery_codes_left: o.recovery_codes_left,
    })
}

/// The operator's reset (a user lost their phone and their recovery
/// codes): deletes every factor of the user `r` names, confirmed or not,
/// and every recovery code, so that they sign in with their password alone
/// until they enrol again. Sessions are left as they are. Returns the user
/// and how many factors went; `NotFound` if there is no such user. The
/// caller records `mfa_removed` (`factor` `all`, `via` `operator`) when
/// something went, and `admin_change` (`user_factors_reset`).
pub async fn reset(store: &dyn Store, r: UserRef<'_>) -> Result<(UserId, u64), OperatorError> {
    let user = users::find(store, r).await?;
    let removed = store.factors().delete_all_factors(&user.id).await?;
    Ok((user.id, removed))
}

/// The `admin_change` action of [`reset`].
pub const ACTION_RESET: &str = "user_factors_reset";

/// New recovery codes for `user` when they have a factor and no code left
/// (the first factor was just confirmed or registered): the codes to show
/// once, or `None`. The one home of when recovery codes appear.
pub async fn ensure_recovery_codes(
    store: &dyn Repositories,
    rng: &dyn crate::ports::Rng,
    user: &UserId,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<crate::protocol::mfa::RecoveryCodes>, StoreError> {
    if store.factors().recovery_codes_left(user).await? > 0 {
        return Ok(None);
    }
    regenerate_recovery_codes(store, rng, user, now).await
}

/// A new set of recovery codes for `user`, replacing the old set: the codes
/// to show once. `None` (nothing changed) when the user has no second
/// factor: a recovery code stands in for a factor, so without one there is
/// nothing to recover (docs/MFA.md).
pub async fn regenerate_recovery_codes(
    store: &dyn Repositories,
    rng: &dyn crate::ports::Rng,
    user: &UserId,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<crate::protocol::mfa::RecoveryCodes>, StoreError> {
    if !has_factor(store, user).await? {
        return Ok(None);
    }
    let set = crate::protocol::mfa::generate_recovery_codes(rng);
    store
        .factors()
        .replace_recovery_codes(user, &set.hashes, now)
        .await?;
    Ok(Some(set))
}

/// After a factor was removed: when it was the user's last, their recovery
/// codes go too (they would otherwise stand in for a factor the user no
/// longer has).
pub async fn forget_codes_without_factor(
    store: &dyn Repositories,
    user: &UserId,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), StoreError> {
    if !has_factor(store, user).await? {
        store
            .factors()
            .replace_recovery_codes(user, &[], now)
            .await?;
    }
    Ok(())
}

/// Whether `user` has a confirmed factor (`protocol::mfa::enrolled`).
async fn has_factor(store: &dyn Repositories, user: &UserId) -> Result<bool, StoreError> {
    Ok(crate::protocol::mfa::enrolled(store, user).await?.any())
}
