//! OpenID Shared Signals Framework 1.0 (SSF) transmitter rules, pure: the
//! CAEP and RISC signals portcullis transmits, which events raise them,
//! the Security Event Tokens that carry them (SSF 1.0 §4: RFC 8417 SETs
//! with a `sub_id` subject, RFC 9493), and the transmitter configuration
//! metadata (SSF 1.0 §7.1, served at `/.well-known/ssf-configuration`).
//!
//! FOUNDATION ONLY (branch `ssf`): no stream storage, no stream
//! management endpoints and no push delivery use this module yet; see
//! docs/EVENTS.md, "Shared Signals (not yet)".

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::domain::event::{DetailKey, Event, EventKind};

/// `spec_version` of the metadata (SSF 1.0 §7.1).
pub const SPEC_VERSION: &str = "1_0";
/// The push delivery method (RFC 8935), the only one we offer.
pub const DELIVERY_PUSH: &str = "urn:ietf:rfc:8935";
/// CAEP 1.0 §3.1 session revoked.
pub const CAEP_SESSION_REVOKED: &str =
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
/// CAEP 1.0 §3.3 credential change.
pub const CAEP_CREDENTIAL_CHANGE: &str =
    "https://schemas.openid.net/secevent/caep/event-type/credential-change";
/// RISC 1.0 account disabled.
pub const RISC_ACCOUNT_DISABLED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/account-disabled";
/// RISC 1.0 account enabled.
pub const RISC_ACCOUNT_ENABLED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/account-enabled";
/// RISC 1.0 sessions revoked.
pub const RISC_SESSIONS_REVOKED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/sessions-revoked";
/// SSF 1.0 §8.1.4 verification event.
pub const SSF_VERIFICATION: &str =
    "https://schemas.openid.net/secevent/ssf/event-type/verification";

/// A signal a receiver may subscribe to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// A user's session ended (CAEP `session-revoked`).
    SessionRevoked,
    /// A credential was created, updated or removed (CAEP
    /// `credential-change`): `credential_type` (`password`, `app`,
    /// `fido2-platform`, ...) and `change_type` (`create`, `revoke`,
    /// `update`, `delete`).
    CredentialChange {
        /// CAEP `credential_type`.
        credential_type: &'static str,
        /// CAEP `change_type`.
        change_type: &'static str,
    },
    /// The account was disabled (RISC `account-disabled`).
    AccountDisabled,
    /// The account was enabled again (RISC `account-enabled`).
    AccountEnabled,
    /// Every session of the account ended (RISC `sessions-revoked`).
    SessionsRevoked,
    /// A verification event, with the receiver's `state` if it gave one
    /// (SSF 1.0 §8.1.4).
    Verification {
        /// The opaque `state` of the verification request.
        state: Option<String>,
    },
}

impl Signal {
    /// The event type URI.
    pub fn uri(&self) -> &'static str {
        match self {
            Self::SessionRevoked => CAEP_SESSION_REVOKED,
            Self::CredentialChange { .. } => CAEP_CREDENTIAL_CHANGE,
            Self::AccountDisabled => RISC_ACCOUNT_DISABLED,
            Self::AccountEnabled => RISC_ACCOUNT_ENABLED,
            Self::SessionsRevoked => RISC_SESSIONS_REVOKED,
            Self::Verification { .. } => SSF_VERIFICATION,
        }
    }

    /// The signal an event raises, and the user it is about (the `sub` of
    /// the `sub_id`), if any:
    ///
    /// - `logout` (one session) → `session-revoked`;
    /// - `session_ended` with `via` `others` (sign out everywhere else) →
    ///   `sessions-revoked`; one session → `session-revoked`;
    /// - `password_changed` → `credential-change` (`password`, `update`);
    /// - `mfa_enrolled` / `mfa_removed` → `credential-change` (`app` for
    ///   TOTP, `fido2-platform` for a passkey; `create` / `delete`);
    /// - `admin_change` `user_disabled` / `user_enabled` →
    ///   `account-disabled` / `account-enabled` (the target is the user).
    pub fn of(event: &Event) -> Option<(Self, String)> {
        let subject = || event.subject_id().map(str::to_owned);
        let detail = |k| event.detail_value(k);
        match event.kind() {
            EventKind::SessionEnded if detail(DetailKey::Via) == Some("others") => {
                Some((Self::SessionsRevoked, subject()?))
            }
            EventKind::Logout | EventKind::SessionEnded => Some((Self::SessionRevoked, subject()?)),
            EventKind::PasswordChanged => Some((
                Self::CredentialChange {
                    credential_type: "password",
                    change_type: "update",
                },
                subject()?,
            )),
            EventKind::MfaEnrolled | EventKind::MfaRemoved => {
                let credential_type = match detail(DetailKey::Factor)? {
                    "totp" => "app",
                    "passkey" => "fido2-platform",
                    _ => return None,
                };
                let change_type = if event.kind() == EventKind::MfaEnrolled {
                    "create"
                } else {
                    "delete"
                };
                Some((
                    Self::CredentialChange {
                        credential_type,
                        change_type,
                    },
                    subject()?,
                ))
            }
            EventKind::AdminChange => {
                let signal = match detail(DetailKey::Action)? {
                    "user_disabled" => Self::AccountDisabled,
                    "user_enabled" => Self::AccountEnabled,
                    _ => return None,
                };
                Some((signal, detail(DetailKey::Target)?.to_owned()))
            }
            _ => None,
        }
    }

    /// The event payload (CAEP 1.0 §2: `event_timestamp` in seconds;
    /// `initiating_entity` for the CAEP events; `credential_type`,
    /// `change_type` for a credential change; `state` for verification).
    pub fn payload(&self, event_time: DateTime<Utc>, initiating_entity: &str) -> Value {
        let mut p = Map::new();
        match self {
            Self::Verification { state } => {
                if let Some(state) = state {
                    p.insert("state".into(), json!(state));
                }
                return Value::Object(p);
            }
            Self::CredentialChange {
                credential_type,
                change_type,
            } => {
                p.insert("credential_type".into(), json!(credential_type));
                p.insert("change_type".into(), json!(change_type));
            }
            _ => {}
        }
        p.insert("event_timestamp".into(), json!(event_time.timestamp()));
        if matches!(self, Self::SessionRevoked | Self::CredentialChange { .. }) {
            p.insert("initiating_entity".into(), json!(initiating_entity));
        }
        Value::Object(p)
    }
}

/// The subject of a SET about one of our users (RFC 9493 §3.2.5
/// `iss_sub`: our issuer and the user's `sub`).
pub fn user_subject(issuer: &str, sub: &str) -> Value {
    json!({"format": "iss_sub", "iss": issuer, "sub": sub})
}

/// The claims of an SSF SET (SSF 1.0 §4): the RFC 8417 envelope of
/// [`super::secevent::envelope`] (`iss`, `iat`, `jti`, `aud` the stream's
/// audience), the subject as `sub_id` (SSF 1.0 §4.1.2; never `sub`), and
/// one event.
pub fn set_claims(
    envelope: Map<String, Value>,
    sub_id: Value,
    signal: &Signal,
    payload: Value,
) -> Map<String, Value> {
    let mut c = envelope;
    c.insert("sub_id".into(), sub_id);
    let mut events = Map::new();
    events.insert(signal.uri().to_owned(), payload);
    c.insert("events".into(), Value::Object(events));
    c
}

/// The transmitter configuration metadata (SSF 1.0 §7.1), from our issuer
/// and the URLs of the endpoints that serve it.
pub struct TransmitterUrls<'a> {
    /// `jwks_uri`.
    pub jwks_uri: &'a str,
    /// Stream configuration (create, read, update, replace, delete).
    pub configuration_endpoint: &'a str,
    /// Stream status.
    pub status_endpoint: &'a str,
    /// Add a subject.
    pub add_subject_endpoint: &'a str,
    /// Remove a subject.
    pub remove_subject_endpoint: &'a str,
    /// Request a verification event.
    pub verification_endpoint: &'a str,
}

/// The document of `/.well-known/ssf-configuration`: push delivery only,
/// OAuth 2.0 bearer tokens for the management API (`authorization_schemes`
/// `urn:ietf:rfc:6749`), and no subjects by default (`default_subjects`
/// `NONE`: a receiver adds the subjects it wants).
pub fn transmitter_configuration(issuer: &str, urls: &TransmitterUrls<'_>) -> Value {
    json!({
        "spec_version": SPEC_VERSION,
        "issuer": issuer,
        "jwks_uri": urls.jwks_uri,
        "delivery_methods_supported": [DELIVERY_PUSH],
        "configuration_endpoint": urls.configuration_endpoint,
        "status_endpoint": urls.status_endpoint,
        "add_subject_endpoint": urls.add_subject_endpoint,
        "remove_subject_endpoint": urls.remove_subject_endpoint,
        "verification_endpoint": urls.verification_endpoint,
        "authorization_schemes": [{"spec_urn": "urn:ietf:rfc:6749"}],
        "default_subjects": "NONE",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::EventStamp;
    use crate::domain::{ClientId, UserId};

    fn stamp() -> EventStamp {
        EventStamp::new(Utc::now(), [3; EventStamp::RANDOM_BYTES])
    }

    #[test]
    fn events_raise_their_signals() {
        let user = UserId::new("u1");
        let admin = ClientId::parse("ops").unwrap();
        let cases = [
            (Event::logout(stamp(), &user), Signal::SessionRevoked, "u1"),
            (
                Event::session_ended(stamp(), &user, Some(3)),
                Signal::SessionsRevoked,
                "u1",
            ),
            (
                Event::session_ended(stamp(), &user, None),
                Signal::SessionRevoked,
                "u1",
            ),
            (
                Event::password_changed(stamp(), &user, "reset"),
                Signal::CredentialChange {
                    credential_type: "password",
                    change_type: "update",
                },
                "u1",
            ),
            (
                Event::mfa_enrolled(stamp(), &user, "passkey"),
                Signal::CredentialChange {
                    credential_type: "fido2-platform",
                    change_type: "create",
                },
                "u1",
            ),
            (
                Event::mfa_removed(stamp(), &user, "totp", "account", 1),
                Signal::CredentialChange {
                    credential_type: "app",
                    change_type: "delete",
                },
                "u1",
            ),
            (
                Event::admin_change(stamp(), &admin, "user_disabled", "u2"),
                Signal::AccountDisabled,
                "u2",
            ),
            (
                Event::admin_change(stamp(), &admin, "user_enabled", "u2"),
                Signal::AccountEnabled,
                "u2",
            ),
        ];
        for (event, signal, sub) in cases {
            assert_eq!(
                Signal::of(&event),
                Some((signal, sub.to_owned())),
                "{event:?}"
            );
        }
        for quiet in [
            Event::login_succeeded(stamp(), &user),
            Event::admin_change(stamp(), &admin, "client_created", "c1"),
            Event::mfa_enrolled(stamp(), &user, "recovery_codes"),
        ] {
            assert_eq!(Signal::of(&quiet), None, "{quiet:?}");
        }
    }

    /// SSF 1.0 §4: `sub_id` (iss_sub), never `sub`; one event keyed by its
    /// URI; CAEP payload members.
    #[test]
    fn a_session_revoked_set_has_the_ssf_shape() {
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let envelope =
            super::super::secevent::envelope("https://id.example", Some("rp-1"), "j1", at);
        let signal = Signal::SessionRevoked;
        let c = set_claims(
            envelope,
            user_subject("https://id.example", "u1"),
            &signal,
            signal.payload(at, "user"),
        );
        assert_eq!(c["iss"], "https://id.example");
        assert_eq!(c["aud"], "rp-1");
        assert_eq!(c["jti"], "j1");
        assert!(c.get("sub").is_none());
        assert_eq!(c["sub_id"]["format"], "iss_sub");
        assert_eq!(c["sub_id"]["sub"], "u1");
        let event = &c["events"][CAEP_SESSION_REVOKED];
        assert_eq!(event["event_timestamp"], 1_700_000_000);
        assert_eq!(event["initiating_entity"], "user");
        let v = Signal::Verification {
            state: Some("abc".into()),
        };
        assert_eq!(v.payload(at, "policy"), json!({"state": "abc"}));
    }

    #[test]
    fn configuration_offers_push_only() {
        let urls = TransmitterUrls {
            jwks_uri: "https://id.example/jwks",
            configuration_endpoint: "https://id.example/ssf/stream",
            status_endpoint: "https://id.example/ssf/status",
            add_subject_endpoint: "https://id.example/ssf/subjects/add",
            remove_subject_endpoint: "https://id.example/ssf/subjects/remove",
            verification_endpoint: "https://id.example/ssf/verify",
        };
        let doc = transmitter_configuration("https://id.example", &urls);
        assert_eq!(doc["spec_version"], "1_0");
        assert_eq!(doc["delivery_methods_supported"], json!([DELIVERY_PUSH]));
        assert_eq!(doc["default_subjects"], "NONE");
    }
}
