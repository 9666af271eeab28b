//! The [`WebAuthn`] port over `webauthn-rs` (docs/MFA.md). FOUNDATION
//! STUB: issue 17's passkey work fills it in.

use crate::config::MfaConfig;
use crate::domain::UserId;
use crate::ports::{NewPasskey, PasskeyAssertion, PasskeyChallenge, WebAuthn, WebAuthnError};

/// The relying party.
#[derive(Debug)]
pub struct WebauthnRs {
    _rp_id: String,
}

impl WebauthnRs {
    /// A relying party for the configured RP ID and the issuer's origin.
    pub fn new(config: &MfaConfig) -> Result<Self, String> {
        Ok(Self {
            _rp_id: config.rp_id.clone(),
        })
    }
}

fn todo() -> WebAuthnError {
    WebAuthnError::Internal("passkeys are not implemented yet".into())
}

impl WebAuthn for WebauthnRs {
    fn start_registration(
        &self,
        _user: &UserId,
        _username: &str,
        _display_name: &str,
        _existing: &[String],
    ) -> Result<PasskeyChallenge, WebAuthnError> {
        Err(todo())
    }
    fn finish_registration(
        &self,
        _state: &str,
        _answer: &str,
    ) -> Result<NewPasskey, WebAuthnError> {
        Err(todo())
    }
    fn start_second_factor(
        &self,
        _credentials: &[String],
    ) -> Result<PasskeyChallenge, WebAuthnError> {
        Err(todo())
    }
    fn start_passwordless(&self) -> Result<PasskeyChallenge, WebAuthnError> {
        Err(todo())
    }
    fn credential_id_of(&self, _answer: &str) -> Result<String, WebAuthnError> {
        Err(todo())
    }
    fn finish_authentication(
        &self,
        _state: &str,
        _answer: &str,
        _credential: &str,
        _passwordless: bool,
    ) -> Result<PasskeyAssertion, WebAuthnError> {
        Err(todo())
    }
}
