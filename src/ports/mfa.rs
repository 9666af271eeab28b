//! Ports of multi-factor sign-in (docs/MFA.md): the factor repository
//! (factors, recovery codes, WebAuthn ceremonies, reached through
//! [`Repositories::factors`](super::Repositories::factors)), the
//! [`SecretBox`] that seals TOTP secrets at rest, and the [`WebAuthn`]
//! relying-party port (adapter: `adapters::webauthn`, over `webauthn-rs`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use zeroize::Zeroizing;

use super::repositories::StoreError;
use crate::domain::mfa::{Ceremony, Factor};
use crate::domain::{TokenHash, UserId};

/// A user's factors, recovery codes and WebAuthn ceremonies. Every
/// single-use rule is one conditional statement, so that parallel requests
/// cannot use a code, a step or a ceremony twice.
#[async_trait]
pub trait FactorRepository: Send + Sync {
    /// Every factor of `user` (confirmed or not), oldest first.
    async fn list_factors(&self, user: &UserId) -> Result<Vec<Factor>, StoreError>;
    /// The passkey with this credential id (base64url), if any.
    async fn factor_by_credential_id(
        &self,
        credential_id: &str,
    ) -> Result<Option<Factor>, StoreError>;
    /// Stores a new factor. A passkey whose credential id exists already is
    /// `StoreError::Conflict`.
    async fn insert_factor(&self, factor: &Factor) -> Result<(), StoreError>;
    /// Confirms the unconfirmed factor `id` of `user` at `now`, recording
    /// `step` as its last accepted TOTP step; `false` if there is no such
    /// unconfirmed factor.
    async fn confirm_factor(
        &self,
        user: &UserId,
        id: &str,
        step: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Deletes factor `id` of `user`; `false` if there was none.
    async fn delete_factor(&self, user: &UserId, id: &str) -> Result<bool, StoreError>;
    /// Deletes every factor and recovery code of `user` (an operator's
    /// reset); returns how many factors went.
    async fn delete_all_factors(&self, user: &UserId) -> Result<u64, StoreError>;
    /// RFC 6238 §5.2: accepts TOTP time step `step` for factor `id` only if
    /// it is later than the last accepted one, in one conditional update
    /// (`last_step < step`), and records the use. `false`: the code was used
    /// already (or a later one was).
    async fn claim_totp_step(
        &self,
        id: &str,
        step: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Records a passkey use: the credential as the adapter updated it (the
    /// signature counter) and the time.
    async fn record_passkey_use(
        &self,
        id: &str,
        credential: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Replaces every recovery code of `user` with `hashes`.
    async fn replace_recovery_codes(
        &self,
        user: &UserId,
        hashes: &[TokenHash],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Uses the recovery code `hash` of `user`: one conditional update
    /// (`used_at IS NULL`); `false` if it is unknown or used.
    async fn use_recovery_code(
        &self,
        user: &UserId,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// How many unused recovery codes `user` has.
    async fn recovery_codes_left(&self, user: &UserId) -> Result<u64, StoreError>;
    /// Stores a ceremony.
    async fn insert_ceremony(&self, ceremony: &Ceremony) -> Result<(), StoreError>;
    /// Takes the ceremony `id_hash` if it has not expired at `now`: one
    /// conditional delete, so that a ceremony is answered once.
    async fn take_ceremony(
        &self,
        id_hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<Ceremony>, StoreError>;
    /// Deletes ceremonies that expired before `before` (housekeeping).
    async fn purge_ceremonies(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// Why sealing or opening a secret failed.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// KMS (or another dependency) is unreachable: try again later.
    #[error("secret sealing unavailable: {0}")]
    Unavailable(String),
    /// The sealed value does not open (wrong key, tampered, another
    /// context) or is malformed.
    #[error("sealed secret does not open: {0}")]
    Invalid(String),
}

/// Seals small secrets at rest (TOTP secrets) with the same protection as
/// the signing keys: AES-256-GCM under the master key, or KMS `Encrypt`
/// under the wrapping key (Strategy; docs/KEYS.md). `context` is bound to
/// the ciphertext (additional data, or the KMS encryption context): a
/// sealed value copied to another row does not open.
#[async_trait]
pub trait SecretBox: Send + Sync {
    /// Seals `plaintext` for `context`.
    async fn seal(&self, context: &str, plaintext: &[u8]) -> Result<String, SecretError>;
    /// Opens a value [`SecretBox::seal`] made for the same `context`.
    async fn open(&self, context: &str, sealed: &str) -> Result<Zeroizing<Vec<u8>>, SecretError>;
    /// What protects the secrets (`master_key` or `kms`), for logs.
    fn protection(&self) -> &'static str;
}

/// Why a WebAuthn step failed.
#[derive(Debug, thiserror::Error)]
pub enum WebAuthnError {
    /// The browser's answer does not verify, or does not match the
    /// ceremony (wrong challenge, origin, credential, no user
    /// verification). Says nothing secret.
    #[error("the passkey answer was not accepted: {0}")]
    Rejected(String),
    /// A bug or corrupt state.
    #[error("WebAuthn error: {0}")]
    Internal(String),
}

/// Options for the browser (`navigator.credentials.create/get`) and the
/// state the server keeps until the answer comes.
#[derive(Debug, Clone)]
pub struct PasskeyChallenge {
    /// The `{"publicKey": ...}` options, JSON.
    pub options: String,
    /// The adapter's state, serialized (goes into a [`Ceremony`]).
    pub state: String,
}

/// A credential the browser registered.
#[derive(Debug, Clone)]
pub struct NewPasskey {
    /// Credential id, base64url.
    pub credential_id: String,
    /// The credential to store (adapter JSON).
    pub credential: String,
}

/// A verified assertion.
#[derive(Debug, Clone)]
pub struct PasskeyAssertion {
    /// The credential id used, base64url.
    pub credential_id: String,
    /// The stored credential after this use (counter updated).
    pub credential: String,
    /// The authenticator verified the user.
    pub user_verified: bool,
    /// The credential cannot be backed up (device bound).
    pub device_bound: bool,
}

/// The WebAuthn relying party (Adapter over `webauthn-rs`): builds the
/// options of each ceremony and verifies the browser's answers against the
/// issuer's origin and the RP ID (`PORTCULLIS_WEBAUTHN_RP_ID`).
pub trait WebAuthn: Send + Sync {
    /// Registration options for `user` (its handle is the user id), never
    /// offering to register `existing` credentials again (stored
    /// credentials). Discoverable credentials and user verification are
    /// required, so that every passkey also signs in without a password.
    fn start_registration(
        &self,
        user: &UserId,
        username: &str,
        display_name: &str,
        existing: &[String],
    ) -> Result<PasskeyChallenge, WebAuthnError>;
    /// Verifies a registration answer (JSON) against its state.
    fn finish_registration(&self, state: &str, answer: &str) -> Result<NewPasskey, WebAuthnError>;
    /// Options to use one of `credentials` (stored credentials) as a
    /// second factor.
    fn start_second_factor(
        &self,
        credentials: &[String],
    ) -> Result<PasskeyChallenge, WebAuthnError>;
    /// Options for a passwordless sign-in with a discoverable credential
    /// (user verification required).
    fn start_passwordless(&self) -> Result<PasskeyChallenge, WebAuthnError>;
    /// The credential id (base64url) an authentication answer names, to
    /// look the credential up before [`WebAuthn::finish_authentication`].
    fn credential_id_of(&self, answer: &str) -> Result<String, WebAuthnError>;
    /// Verifies an authentication answer against its state and the stored
    /// `credential` it names; `passwordless` is the ceremony kind.
    fn finish_authentication(
        &self,
        state: &str,
        answer: &str,
        credential: &str,
        passwordless: bool,
    ) -> Result<PasskeyAssertion, WebAuthnError>;
}
