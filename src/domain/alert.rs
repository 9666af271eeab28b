//! Security alerts: which events are of high severity, and the Security
//! Event Token event type (RFC 8417 §2.2, a URI of ours) each one is sent
//! as (docs/EVENTS.md, "Security alerts"). Domain code: which events
//! matter is a rule, not a transport; the SET is built by
//! [`crate::protocol::secevent`] and sent by [`crate::app::alerts`].

use super::event::{DetailKey, Event, EventKind, LoginFailureReason};

/// `detail.action` of the `admin_change` that revokes a signing key (the
/// admin API and `portcullis keys revoke` both emit it:
/// `app::keys::ACTION_REVOKED` is this constant).
pub const KEY_REVOKED_ACTION: &str = "key_revoked";

/// The prefix of our SET event type URIs (RFC 8417 §2.2: "a URI that
/// identifies the event type"; ours, under a domain we name).
pub const EVENT_TYPE_PREFIX: &str = "https://portcullis.dev/secevent/";

/// A high-severity event, as an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertType {
    /// A rotated refresh token came back; its family was revoked
    /// (`refresh_token_reuse_detected`).
    RefreshTokenReuse,
    /// A used authorization code came back; what it issued was revoked
    /// (`authorization_code_replayed`).
    AuthorizationCodeReplay,
    /// A sign-in was refused because the account or address is throttled
    /// after too many failures (`login_failed` with `detail.reason`
    /// `locked`).
    AccountLocked,
    /// A signing key was revoked (`admin_change` with `detail.action`
    /// `key_revoked`).
    SigningKeyRevoked,
    /// Any other operator change through the admin API, dynamic
    /// registration or the command line (`admin_change`).
    AdminChange,
    /// An operator removed a user's second factors (`mfa_removed` with
    /// `detail.via` `operator`).
    MfaReset,
}

impl AlertType {
    /// Every alert type.
    pub const ALL: [Self; 6] = [
        Self::RefreshTokenReuse,
        Self::AuthorizationCodeReplay,
        Self::AccountLocked,
        Self::SigningKeyRevoked,
        Self::AdminChange,
        Self::MfaReset,
    ];

    /// The alert an event raises, if it is of high severity.
    pub fn of(event: &Event) -> Option<Self> {
        match event.kind() {
            EventKind::RefreshTokenReuseDetected => Some(Self::RefreshTokenReuse),
            EventKind::AuthorizationCodeReplayed => Some(Self::AuthorizationCodeReplay),
            EventKind::LoginFailed
                if event.detail_value(DetailKey::Reason)
                    == Some(LoginFailureReason::Locked.as_str()) =>
            {
                Some(Self::AccountLocked)
            }
            EventKind::AdminChange
                if event.detail_value(DetailKey::Action) == Some(KEY_REVOKED_ACTION) =>
            {
                Some(Self::SigningKeyRevoked)
            }
            EventKind::AdminChange => Some(Self::AdminChange),
            EventKind::MfaRemoved if event.detail_value(DetailKey::Via) == Some("operator") => {
                Some(Self::MfaReset)
            }
            _ => None,
        }
    }

    /// The last segment of the event type URI.
    pub fn name(self) -> &'static str {
        match self {
            Self::RefreshTokenReuse => "refresh-token-reuse",
            Self::AuthorizationCodeReplay => "authorization-code-replay",
            Self::AccountLocked => "account-locked",
            Self::SigningKeyRevoked => "signing-key-revoked",
            Self::AdminChange => "admin-change",
            Self::MfaReset => "mfa-reset",
        }
    }

    /// The event type URI, the key of the SET's `events` claim (RFC 8417
    /// §2.2), e.g. `https://portcullis.dev/secevent/refresh-token-reuse`.
    pub fn uri(self) -> String {
        format!("{EVENT_TYPE_PREFIX}{}", self.name())
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::domain::event::EventStamp;
    use crate::domain::{ClientId, UserId};

    fn stamp() -> EventStamp {
        EventStamp::new(Utc::now(), [7; EventStamp::RANDOM_BYTES])
    }

    #[test]
    fn high_severity_events_raise_their_alert() {
        let client = ClientId::parse("c1").unwrap();
        let user = UserId::new("u1");
        let cases = [
            (
                Event::refresh_token_reuse_detected(stamp(), &client),
                AlertType::RefreshTokenReuse,
            ),
            (
                Event::authorization_code_replayed(stamp(), &client),
                AlertType::AuthorizationCodeReplay,
            ),
            (
                Event::login_failed(stamp(), LoginFailureReason::Locked),
                AlertType::AccountLocked,
            ),
            (
                Event::admin_change(stamp(), &client, KEY_REVOKED_ACTION, "kid-1"),
                AlertType::SigningKeyRevoked,
            ),
            (
                Event::admin_change_by_cli(stamp(), KEY_REVOKED_ACTION, "kid-1"),
                AlertType::SigningKeyRevoked,
            ),
            (
                Event::admin_change(stamp(), &client, "client_created", "c2"),
                AlertType::AdminChange,
            ),
            (
                Event::admin_change_by_cli(stamp(), "user_factors_reset", "u1"),
                AlertType::AdminChange,
            ),
            (
                Event::mfa_removed(stamp(), &user, "all", "operator", 2),
                AlertType::MfaReset,
            ),
        ];
        for (event, alert) in cases {
            assert_eq!(AlertType::of(&event), Some(alert), "{event:?}");
        }
    }

    #[test]
    fn other_events_raise_none() {
        let client = ClientId::parse("c1").unwrap();
        let user = UserId::new("u1");
        for event in [
            Event::login_failed(stamp(), LoginFailureReason::BadPassword),
            Event::login_failed(stamp(), LoginFailureReason::UnknownUser),
            Event::login_succeeded(stamp(), &user),
            Event::mfa_removed(stamp(), &user, "totp", "account", 1),
            Event::token_revoked(
                stamp(),
                &client,
                crate::domain::event::TokenKind::AccessToken,
            ),
            Event::logout(stamp(), &user),
        ] {
            assert_eq!(AlertType::of(&event), None, "{event:?}");
        }
    }

    #[test]
    fn event_type_uris_are_distinct_and_ours() {
        let uris: std::collections::HashSet<String> =
            AlertType::ALL.iter().map(|a| a.uri()).collect();
        assert_eq!(uris.len(), AlertType::ALL.len());
        assert_eq!(
            AlertType::RefreshTokenReuse.uri(),
            "https://portcullis.dev/secevent/refresh-token-reuse"
        );
    }
}
