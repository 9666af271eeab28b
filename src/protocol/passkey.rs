//! Passkey ceremonies (docs/MFA.md): options for the browser, kept as a
//! single-use [`Ceremony`](crate::domain::mfa::Ceremony), and the
//! verification of the answer against it and the stored credential.
//!
//! FOUNDATION STUBS (issue 17): the passkey work fills these in.

use chrono::{DateTime, Utc};

use super::error::OAuthError;
use crate::domain::UserId;
use crate::domain::mfa::{CeremonyKind, FactorUsed};
use crate::ports::{Repositories, Rng, WebAuthn};

/// A ceremony the browser holds: its handle (a 256-bit secret; only the
/// hash is stored) and the options for `navigator.credentials`.
#[derive(Debug, Clone)]
pub struct Started {
    /// The handle the browser sends back with its answer.
    pub handle: String,
    /// `{"publicKey": ...}` options, JSON.
    pub options: String,
}

/// Starts an authentication ceremony: `SecondFactor` for `user`'s passkeys,
/// or `Passwordless` (no user: any discoverable credential).
pub async fn start_authentication(
    _store: &dyn Repositories,
    _webauthn: &dyn WebAuthn,
    _rng: &dyn Rng,
    _kind: CeremonyKind,
    _user: Option<&UserId>,
    _now: DateTime<Utc>,
) -> Result<Started, OAuthError> {
    Err(OAuthError::server_error("passkeys are not implemented yet"))
}

/// Verifies the browser's `answer` (JSON) to the ceremony `handle` of kind
/// `kind`: takes the ceremony (once), checks it is for `user` when one is
/// expected, verifies the assertion against the stored credential and
/// records its use. `Ok(None)`: refused (unknown or used ceremony, wrong
/// user, a credential not registered, a signature that does not verify).
pub async fn verify_authentication(
    _store: &dyn Repositories,
    _webauthn: &dyn WebAuthn,
    _handle: &str,
    _answer: &str,
    _kind: CeremonyKind,
    _user: Option<&UserId>,
    _now: DateTime<Utc>,
) -> Result<Option<(UserId, FactorUsed)>, OAuthError> {
    Ok(None)
}
