//! Passkey ceremonies (docs/MFA.md): options for the browser, kept as a
//! single-use [`Ceremony`], and the verification of the answer against it
//! and the stored credential.
//!
//! A ceremony's handle is a 256-bit secret the browser holds (only its
//! SHA-256 is stored); it lives [`CEREMONY_SECS`] and is taken once
//! ([`FactorRepository::take_ceremony`](crate::ports::FactorRepository::take_ceremony)
//! is one conditional delete), so that an answer is never accepted twice,
//! even when two arrive together.

use chrono::{DateTime, Duration, Utc};

use super::error::OAuthError;
use crate::domain::mfa::{Ceremony, CeremonyKind, Factor, FactorKind, FactorUsed};
use crate::domain::{TokenHash, User, UserId};
use crate::ports::{Repositories, Rng, StoreError, WebAuthn, WebAuthnError};

/// How long a ceremony waits for the browser's answer (the options'
/// `timeout` is the same five minutes, WebAuthn §5.4 recommendation).
pub const CEREMONY_SECS: i64 = 300;

/// How many passkeys a user may register.
pub const MAX_PASSKEYS: usize = 10;

/// The name of a passkey registered without one.
pub const DEFAULT_NAME: &str = "Passkey";

/// The longest passkey name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// A ceremony the browser holds: its handle (a 256-bit secret; only the
/// hash is stored) and the options for `navigator.credentials`.
#[derive(Debug, Clone)]
pub struct Started {
    /// The handle the browser sends back with its answer.
    pub handle: String,
    /// `{"publicKey": ...}` options, JSON.
    pub options: String,
}

/// Why a passkey was not registered (nothing was stored). Each has a fixed
/// text for the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The user has [`MAX_PASSKEYS`] already.
    TooMany,
    /// The name is longer than [`MAX_NAME_CHARS`] or has control
    /// characters.
    BadName,
    /// The ceremony is unknown, used, expired or another user's.
    NoCeremony,
    /// The browser's answer does not verify (origin, challenge, user
    /// verification, signature, format).
    Rejected,
    /// The credential is registered already.
    Duplicate,
}

impl Refused {
    /// The message the user sees.
    pub fn text(self) -> &'static str {
        match self {
            Self::TooMany => "You have 10 passkeys already. Remove one before you add another.",
            Self::BadName => {
                "The passkey name is too long: use at most 64 characters, without control characters."
            }
            Self::NoCeremony => {
                "The passkey request has expired or was used already. Nothing was saved: try again."
            }
            Self::Rejected => {
                "The passkey was not accepted (it did not verify, or it does not verify you). Nothing was saved."
            }
            Self::Duplicate => "This passkey is already registered. Nothing was saved.",
        }
    }
}

fn webauthn_error(e: WebAuthnError) -> OAuthError {
    match e {
        WebAuthnError::Rejected(msg) => OAuthError::invalid_request(msg),
        WebAuthnError::Internal(msg) => OAuthError::server_error(msg),
    }
}

/// A passkey's name as stored: trimmed; empty is [`DEFAULT_NAME`]; `None`
/// when longer than [`MAX_NAME_CHARS`] or holding control characters.
pub fn passkey_name(raw: &str) -> Option<String> {
    let name = raw.trim();
    if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return None;
    }
    Some(if name.is_empty() { DEFAULT_NAME } else { name }.to_owned())
}

/// The user's passkeys.
async fn passkeys(store: &dyn Repositories, user: &UserId) -> Result<Vec<Factor>, OAuthError> {
    Ok(store
        .factors()
        .list_factors(user)
        .await?
        .into_iter()
        .filter(|f| f.kind == FactorKind::Passkey && f.credential.is_some())
        .collect())
}

/// Stores a ceremony of `kind` for `user` with the adapter's `state`.
async fn keep(
    store: &dyn Repositories,
    rng: &dyn Rng,
    kind: CeremonyKind,
    user: Option<&UserId>,
    state: String,
    options: String,
    now: DateTime<Utc>,
) -> Result<Started, OAuthError> {
    let handle = rng.token();
    store
        .factors()
        .insert_ceremony(&Ceremony {
            id_hash: TokenHash::of(&handle),
            kind,
            user_id: user.cloned(),
            state,
            created_at: now,
            expires_at: now + Duration::seconds(CEREMONY_SECS),
        })
        .await?;
    Ok(Started { handle, options })
}

/// Takes the ceremony `handle` (once) if it is of `kind` and, when `user`
/// is given, for that user.
async fn take(
    store: &dyn Repositories,
    handle: &str,
    kind: CeremonyKind,
    user: Option<&UserId>,
    now: DateTime<Utc>,
) -> Result<Option<Ceremony>, OAuthError> {
    let Some(c) = store
        .factors()
        .take_ceremony(&TokenHash::of(handle), now)
        .await?
    else {
        return Ok(None);
    };
    let user_ok = match user {
        Some(u) => c.user_id.as_ref() == Some(u),
        None => true,
    };
    Ok((c.kind == kind && user_ok).then_some(c))
}

/// Starts an authentication ceremony: `SecondFactor` for `user`'s passkeys
/// (`allowCredentials`), or `Passwordless` (no user: any discoverable
/// credential, user verification required). A user without passkeys, or a
/// `SecondFactor` without a user, is `invalid_request`; passkeys that are
/// off (an RP ID that is not a domain) are `server_error`.
pub async fn start_authentication(
    store: &dyn Repositories,
    webauthn: &dyn WebAuthn,
    rng: &dyn Rng,
    kind: CeremonyKind,
    user: Option<&UserId>,
    now: DateTime<Utc>,
) -> Result<Started, OAuthError> {
    let challenge = match (kind, user) {
        (CeremonyKind::SecondFactor, Some(u)) => {
            let credentials: Vec<String> = passkeys(store, u)
                .await?
                .into_iter()
                .filter_map(|f| f.credential)
                .collect();
            if credentials.is_empty() {
                return Err(OAuthError::invalid_request("the user has no passkey"));
            }
            webauthn.start_second_factor(&credentials)
        }
        (CeremonyKind::Passwordless, _) => webauthn.start_passwordless(),
        _ => {
            return Err(OAuthError::invalid_request(
                "not an authentication ceremony for this user",
            ));
        }
    }
    .map_err(webauthn_error)?;
    let user = user.filter(|_| kind == CeremonyKind::SecondFactor);
    keep(
        store,
        rng,
        kind,
        user,
        challenge.state,
        challenge.options,
        now,
    )
    .await
}

/// Verifies the browser's `answer` (JSON) to the ceremony `handle` of kind
/// `kind`: takes the ceremony (once), checks it is for `user` when one is
/// expected, verifies the assertion against the stored credential (for a
/// second factor, one of `user`'s) and records its use (the signature
/// counter). `Ok(None)`: refused (unknown, used or expired ceremony, wrong
/// kind or user, a credential not registered, an answer that does not
/// verify). The caller checks that the user may sign in (not disabled).
pub async fn verify_authentication(
    store: &dyn Repositories,
    webauthn: &dyn WebAuthn,
    handle: &str,
    answer: &str,
    kind: CeremonyKind,
    user: Option<&UserId>,
    now: DateTime<Utc>,
) -> Result<Option<(UserId, FactorUsed)>, OAuthError> {
    let expected = match kind {
        CeremonyKind::SecondFactor if user.is_some() => user,
        CeremonyKind::Passwordless => None,
        _ => return Ok(None),
    };
    let Some(ceremony) = take(store, handle, kind, expected, now).await? else {
        return Ok(None);
    };
    let Ok(credential_id) = webauthn.credential_id_of(answer) else {
        return Ok(None);
    };
    let Some(factor) = store
        .factors()
        .factor_by_credential_id(&credential_id)
        .await?
    else {
        return Ok(None);
    };
    let Some(stored) = factor
        .credential
        .as_deref()
        .filter(|_| factor.kind == FactorKind::Passkey)
    else {
        return Ok(None);
    };
    if expected.is_some_and(|u| *u != factor.user_id) {
        return Ok(None);
    }
    let assertion = match webauthn.finish_authentication(
        &ceremony.state,
        answer,
        stored,
        kind == CeremonyKind::Passwordless,
    ) {
        Ok(a) if a.credential_id == credential_id => a,
        Ok(_) | Err(WebAuthnError::Rejected(_)) => return Ok(None),
        Err(e @ WebAuthnError::Internal(_)) => return Err(webauthn_error(e)),
    };
    store
        .factors()
        .record_passkey_use(&factor.id, &assertion.credential, now)
        .await?;
    Ok(Some((
        factor.user_id,
        FactorUsed::Passkey {
            device_bound: assertion.device_bound,
            user_verified: assertion.user_verified,
        },
    )))
}

/// Starts registering a passkey for `user`: a `Register` ceremony bound to
/// them, never offering their registered credentials again.
/// `Err(Refused::TooMany)` at [`MAX_PASSKEYS`].
pub async fn start_registration(
    store: &dyn Repositories,
    webauthn: &dyn WebAuthn,
    rng: &dyn Rng,
    user: &User,
    now: DateTime<Utc>,
) -> Result<Result<Started, Refused>, OAuthError> {
    let existing: Vec<String> = passkeys(store, &user.id)
        .await?
        .into_iter()
        .filter_map(|f| f.credential)
        .collect();
    if existing.len() >= MAX_PASSKEYS {
        return Ok(Err(Refused::TooMany));
    }
    let username = user.username.as_str();
    let display = user.name.as_deref().unwrap_or(username);
    let challenge = webauthn
        .start_registration(&user.id, username, display, &existing)
        .map_err(webauthn_error)?;
    keep(
        store,
        rng,
        CeremonyKind::Register,
        Some(&user.id),
        challenge.state,
        challenge.options,
        now,
    )
    .await
    .map(Ok)
}

/// Finishes registering: takes the `Register` ceremony `handle` of `user`
/// (once), verifies the `answer` and stores the passkey named `name`
/// ([`passkey_name`]), confirmed at once. Nothing is stored when refused.
#[allow(clippy::too_many_arguments)] // the ceremony's parts, each needed
pub async fn finish_registration(
    store: &dyn Repositories,
    webauthn: &dyn WebAuthn,
    rng: &dyn Rng,
    user: &UserId,
    handle: &str,
    answer: &str,
    name: &str,
    now: DateTime<Utc>,
) -> Result<Result<Factor, Refused>, OAuthError> {
    // The name first: a refused name leaves the ceremony for another try.
    let Some(name) = passkey_name(name) else {
        return Ok(Err(Refused::BadName));
    };
    let Some(ceremony) = take(store, handle, CeremonyKind::Register, Some(user), now).await? else {
        return Ok(Err(Refused::NoCeremony));
    };
    let new = match webauthn.finish_registration(&ceremony.state, answer) {
        Ok(n) => n,
        Err(WebAuthnError::Rejected(why)) => {
            tracing::info!(subject = %user, reason = %why, "passkey registration refused");
            return Ok(Err(Refused::Rejected));
        }
        Err(e @ WebAuthnError::Internal(_)) => return Err(webauthn_error(e)),
    };
    if passkeys(store, user).await?.len() >= MAX_PASSKEYS {
        return Ok(Err(Refused::TooMany));
    }
    let factor = Factor {
        id: rng.uuid_v4(),
        user_id: user.clone(),
        kind: FactorKind::Passkey,
        name,
        secret_sealed: None,
        credential_id: Some(new.credential_id),
        credential: Some(new.credential),
        last_step: None,
        confirmed_at: Some(now),
        created_at: now,
        last_used_at: None,
    };
    match store.factors().insert_factor(&factor).await {
        Ok(()) => Ok(Ok(factor)),
        Err(StoreError::Conflict(_)) => Ok(Err(Refused::Duplicate)),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_bounded_and_default() {
        assert_eq!(passkey_name("  Laptop  ").as_deref(), Some("Laptop"));
        assert_eq!(passkey_name("").as_deref(), Some(DEFAULT_NAME));
        assert_eq!(passkey_name(" \t ").as_deref(), Some(DEFAULT_NAME));
        let max = "é".repeat(MAX_NAME_CHARS);
        assert_eq!(passkey_name(&max).as_deref(), Some(max.as_str()));
        assert_eq!(passkey_name(&"é".repeat(MAX_NAME_CHARS + 1)), None);
        assert_eq!(passkey_name("a\u{7}b"), None);
    }

    #[test]
    fn every_refusal_has_a_message() {
        for r in [
            Refused::TooMany,
            Refused::BadName,
            Refused::NoCeremony,
            Refused::Rejected,
            Refused::Duplicate,
        ] {
            assert!(r.text().ends_with('.'), "{r:?}");
        }
        assert!(Refused::TooMany.text().contains(&MAX_PASSKEYS.to_string()));
        assert!(
            Refused::BadName
                .text()
                .contains(&MAX_NAME_CHARS.to_string())
        );
    }
}
