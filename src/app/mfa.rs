//! Second factors for operators and the account page (docs/MFA.md): the
//! overview of a user's factors. The account page's enrolment rules live in
//! `app::totp` and `app::passkeys`; the operator's reset here.

use crate::domain::UserId;
use crate::domain::mfa::{Factor, FactorKind};
use crate::ports::{Repositories, StoreError};

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
