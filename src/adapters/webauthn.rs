//! The [`WebAuthn`] port over `webauthn-rs` (docs/MFA.md): the relying
//! party for the configured RP ID (`PORTCULLIS_WEBAUTHN_RP_ID`) and the
//! issuer's origin.
//!
//! Every passkey is registered as a discoverable credential with user
//! verification required, so that it serves both as the second factor and
//! for a passwordless sign-in. The stored credential is this adapter's JSON:
//! the `webauthn-rs` [`Passkey`] and the user handle it was registered for
//! (WebAuthn §7.2 step 6: an assertion's `userHandle` must name the
//! credential's owner).
//!
//! Browsers refuse an IP address as the RP ID (WebAuthn §5.1.3, "a valid
//! domain"): with an issuer such as `http://127.0.0.1:8080`, passkeys are
//! unavailable (every ceremony answers [`WebAuthnError::Internal`]) and the
//! rest of the server runs as usual.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use webauthn_rs::prelude::{
    CredentialID, DiscoverableAuthentication, DiscoverableKey, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid, Webauthn,
    WebauthnBuilder,
};

use crate::config::MfaConfig;
use crate::domain::UserId;
use crate::ports::{NewPasskey, PasskeyAssertion, PasskeyChallenge, WebAuthn, WebAuthnError};

/// The relying party.
#[derive(Debug)]
pub struct WebauthnRs {
    /// `None`: the RP ID is not a domain (an IP address), passkeys are off.
    rp: Option<Webauthn>,
}

/// The stored credential (`user_factors.credential`).
#[derive(Serialize, Deserialize)]
struct StoredPasskey {
    passkey: Passkey,
    /// The WebAuthn user handle (`user.id`) it was registered with.
    user_handle: Uuid,
}

/// A registration ceremony's state.
#[derive(Serialize, Deserialize)]
struct RegistrationState {
    reg: PasskeyRegistration,
    user_handle: Uuid,
}

/// The WebAuthn user handle of `user` (WebAuthn §14.6.1: opaque, no
/// personal data): its id when that is a UUID (every user portcullis
/// creates), else the first 16 bytes of the id's SHA-256.
fn user_handle(user: &UserId) -> Uuid {
    Uuid::parse_str(user.as_str()).unwrap_or_else(|_| {
        let digest = Sha256::digest(user.as_str().as_bytes());
        let mut bytes = [0_u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        Uuid::from_bytes(bytes)
    })
}

fn rejected(e: impl std::fmt::Display) -> WebAuthnError {
    WebAuthnError::Rejected(e.to_string())
}

fn internal(e: impl std::fmt::Display) -> WebAuthnError {
    WebAuthnError::Internal(e.to_string())
}

fn to_json(value: &impl Serialize) -> Result<String, WebAuthnError> {
    serde_json::to_string(value).map_err(internal)
}

fn stored(credential: &str) -> Result<StoredPasskey, WebAuthnError> {
    serde_json::from_str(credential).map_err(|e| internal(format!("stored passkey: {e}")))
}

fn answer_of<T: for<'de> Deserialize<'de>>(answer: &str) -> Result<T, WebAuthnError> {
    serde_json::from_str(answer).map_err(|e| rejected(format!("malformed answer: {e}")))
}

impl WebauthnRs {
    /// A relying party for the configured RP ID, name and the issuer's
    /// origin (only that origin, port included, is accepted). An RP ID that
    /// is not a domain leaves passkeys off.
    pub fn new(config: &MfaConfig) -> Result<Self, String> {
        let origin = Url::parse(&config.rp_origin)
            .map_err(|e| format!("WebAuthn origin {:?}: {e}", config.rp_origin))?;
        if origin.domain().is_none()
            || !matches!(url::Host::parse(&config.rp_id), Ok(url::Host::Domain(_)))
        {
            tracing::warn!(
                rp_id = %config.rp_id,
                "passkeys are off: the WebAuthn RP ID must be a domain name, not an IP address"
            );
            return Ok(Self { rp: None });
        }
        let rp = WebauthnBuilder::new(&config.rp_id, &origin)
            .and_then(|b| b.rp_name(&config.rp_name).build())
            .map_err(|e| {
                format!(
                    "WebAuthn relying party {:?} for {}: {e}",
                    config.rp_id, config.rp_origin
                )
            })?;
        Ok(Self { rp: Some(rp) })
    }

    fn rp(&self) -> Result<&Webauthn, WebAuthnError> {
        self.rp.as_ref().ok_or_else(|| {
            WebAuthnError::Internal(
                "passkeys are off: the WebAuthn RP ID is not a domain name".into(),
            )
        })
    }
}

impl WebAuthn for WebauthnRs {
    fn start_registration(
        &self,
        user: &UserId,
        username: &str,
        display_name: &str,
        existing: &[String],
    ) -> Result<PasskeyChallenge, WebAuthnError> {
        let handle = user_handle(user);
        let exclude = existing
            .iter()
            .map(|c| stored(c).map(|s| s.passkey.cred_id().clone()))
            .collect::<Result<Vec<CredentialID>, _>>()?;
        let (ccr, reg) = self
            .rp()?
            .start_passkey_registration(handle, username, display_name, Some(exclude))
            .map_err(internal)?;
        // A passkey must also sign in without a password: ask for a
        // discoverable credential (WebAuthn §5.4.4 residentKey "required";
        // requireResidentKey true for Level 1 clients). webauthn-rs asks
        // for "discouraged" by default.
        let mut options = serde_json::to_value(&ccr).map_err(internal)?;
        let selection = options
            .pointer_mut("/publicKey/authenticatorSelection")
            .and_then(serde_json::Value::as_object_mut)
            .ok_or_else(|| internal("registration options without authenticatorSelection"))?;
        selection.insert("residentKey".into(), "required".into());
        selection.insert("requireResidentKey".into(), true.into());
        Ok(PasskeyChallenge {
            options: to_json(&options)?,
            state: to_json(&RegistrationState {
                reg,
                user_handle: handle,
            })?,
        })
    }

    fn finish_registration(&self, state: &str, answer: &str) -> Result<NewPasskey, WebAuthnError> {
        let state: RegistrationState = serde_json::from_str(state).map_err(internal)?;
        let answer: RegisterPublicKeyCredential = answer_of(answer)?;
        let passkey = self
            .rp()?
            .finish_passkey_registration(&answer, &state.reg)
            .map_err(rejected)?;
        Ok(NewPasskey {
            credential_id: URL_SAFE_NO_PAD.encode(passkey.cred_id().as_slice()),
            credential: to_json(&StoredPasskey {
                passkey,
                user_handle: state.user_handle,
            })?,
        })
    }

    fn start_second_factor(
        &self,
        credentials: &[String],
    ) -> Result<PasskeyChallenge, WebAuthnError> {
        let passkeys = credentials
            .iter()
            .map(|c| stored(c).map(|s| s.passkey))
            .collect::<Result<Vec<_>, _>>()?;
        if passkeys.is_empty() {
            return Err(rejected("no passkey is registered"));
        }
        let (rcr, auth) = self
            .rp()?
            .start_passkey_authentication(&passkeys)
            .map_err(internal)?;
        Ok(PasskeyChallenge {
            options: to_json(&rcr)?,
            state: to_json(&auth)?,
        })
    }

    fn start_passwordless(&self) -> Result<PasskeyChallenge, WebAuthnError> {
        let (mut rcr, auth) = self
            .rp()?
            .start_discoverable_authentication()
            .map_err(internal)?;
        // webauthn-rs asks for conditional mediation (autofill); the sign-in
        // page starts the ceremony from a button: the browser's modal UI.
        rcr.mediation = None;
        Ok(PasskeyChallenge {
            options: to_json(&rcr)?,
            state: to_json(&auth)?,
        })
    }

    fn credential_id_of(&self, answer: &str) -> Result<String, WebAuthnError> {
        let answer: PublicKeyCredential = answer_of(answer)?;
        Ok(URL_SAFE_NO_PAD.encode(answer.get_credential_id()))
    }

    fn finish_authentication(
        &self,
        state: &str,
        answer: &str,
        credential: &str,
        passwordless: bool,
    ) -> Result<PasskeyAssertion, WebAuthnError> {
        let rp = self.rp()?;
        let answer: PublicKeyCredential = answer_of(answer)?;
        let mut stored = stored(credential)?;
        // WebAuthn §7.2 step 6: the user handle, when given (always for a
        // discoverable credential), must be the credential owner's.
        match answer.get_user_unique_id() {
            Some(h) if h == stored.user_handle.as_bytes() => {}
            Some(_) => return Err(rejected("the user handle is not the credential's owner")),
            None if passwordless => return Err(rejected("the answer has no user handle")),
            None => {}
        }
        let result = if passwordless {
            let state: DiscoverableAuthentication =
                serde_json::from_str(state).map_err(internal)?;
            rp.finish_discoverable_authentication(
                &answer,
                state,
                &[DiscoverableKey::from(&stored.passkey)],
            )
        } else {
            let state: PasskeyAuthentication = serde_json::from_str(state).map_err(internal)?;
            rp.finish_passkey_authentication(&answer, &state)
        }
        .map_err(rejected)?;
        if stored.passkey.update_credential(&result).is_none() {
            return Err(rejected("the answer names another credential"));
        }
        Ok(PasskeyAssertion {
            credential_id: URL_SAFE_NO_PAD.encode(result.cred_id().as_slice()),
            credential: to_json(&stored)?,
            user_verified: result.user_verified(),
            device_bound: !result.backup_eligible(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(rp_id: &str, origin: &str) -> MfaConfig {
        MfaConfig {
            rp_id: rp_id.into(),
            rp_origin: origin.into(),
            rp_name: "Example".into(),
            totp_issuer: rp_id.into(),
        }
    }

    fn rp() -> WebauthnRs {
        WebauthnRs::new(&config("localhost", "http://localhost:8080")).unwrap()
    }

    fn json(s: &str) -> serde_json::Value {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn an_ip_address_rp_id_leaves_passkeys_off() {
        let off = WebauthnRs::new(&config("127.0.0.1", "http://127.0.0.1:8080")).unwrap();
        assert!(matches!(
            off.start_passwordless(),
            Err(WebAuthnError::Internal(_))
        ));
        assert!(WebauthnRs::new(&config("example.com", "https://idm.example.com")).is_ok());
        assert!(WebauthnRs::new(&config("other.com", "https://idm.example.com")).is_err());
    }

    #[test]
    fn registration_asks_for_a_discoverable_verified_credential() {
        let user = UserId::new("0191f0c4-7b7e-7c4e-9a43-3c2f9a4e1d2b");
        let c = rp()
            .start_registration(&user, "alice", "Alice", &[])
            .unwrap();
        let o = json(&c.options);
        let pk = &o["publicKey"];
        assert_eq!(pk["rp"]["id"], "localhost");
        assert_eq!(pk["rp"]["name"], "Example");
        assert_eq!(pk["authenticatorSelection"]["residentKey"], "required");
        assert_eq!(pk["authenticatorSelection"]["requireResidentKey"], true);
        assert_eq!(pk["authenticatorSelection"]["userVerification"], "required");
        // The user handle is the user id's 16 bytes.
        let handle = URL_SAFE_NO_PAD
            .decode(pk["user"]["id"].as_str().unwrap())
            .unwrap();
        assert_eq!(handle, Uuid::parse_str(user.as_str()).unwrap().as_bytes());
        // A user id that is not a UUID still gets a stable 16-byte handle.
        assert_eq!(
            user_handle(&UserId::new("alice")),
            user_handle(&UserId::new("alice"))
        );
        assert_ne!(
            user_handle(&UserId::new("alice")),
            user_handle(&UserId::new("bob"))
        );
    }

    #[test]
    fn passwordless_options_are_modal_and_discoverable() {
        let c = rp().start_passwordless().unwrap();
        let o = json(&c.options);
        assert!(o.get("mediation").is_none(), "{o}");
        assert_eq!(o["publicKey"]["userVerification"], "required");
        assert!(
            o["publicKey"]["allowCredentials"]
                .as_array()
                .is_none_or(Vec::is_empty)
        );
        assert!(matches!(
            rp().start_second_factor(&[]),
            Err(WebAuthnError::Rejected(_))
        ));
    }

    #[test]
    fn malformed_answers_are_rejected_not_internal() {
        let rp = rp();
        let reg = rp
            .start_registration(&UserId::new("u"), "u", "u", &[])
            .unwrap();
        assert!(matches!(
            rp.finish_registration(&reg.state, "{}"),
            Err(WebAuthnError::Rejected(_))
        ));
        assert!(matches!(
            rp.credential_id_of("not json"),
            Err(WebAuthnError::Rejected(_))
        ));
        assert!(matches!(
            rp.finish_registration("garbage", "{}"),
            Err(WebAuthnError::Internal(_))
        ));
    }
}
