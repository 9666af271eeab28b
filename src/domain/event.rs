//! Grant and consent events: the typed catalogue (docs/EVENTS.md) and its
//! redaction rules. Domain code: the ports that carry events
//! ([`EventSink`](crate::ports::EventSink),
//! [`EventReader`](crate::ports::EventReader)) live in
//! [`crate::ports::events`].
//!
//! # No secret in an event (docs/SECURITY.md invariant 11)
//!
//! An [`Event`] is built only through [`Event::new`] or one of the per-kind
//! constructors ([`Event::login_failed`], [`Event::token_issued`], ...) and
//! the chainable setters; its fields are private. The setters take
//! identifiers (`ClientId`, `UserId`, `ScopeSet`, `GrantType`), static error
//! codes (`&'static str`) and request metadata, never a token, code,
//! password or client secret. Free text is bounded:
//!
//! - `detail` keys come from the fixed [`DetailKey`] list, at most one value
//!   per key; a value is cut to [`MAX_DETAIL_VALUE_CHARS`] characters, and a
//!   value that looks like a credential (a JWT, or 40 or more characters
//!   that are all base64/base64url/hex: the shape of every code, token and
//!   secret portcullis issues) is replaced by `[redacted]`;
//! - `user_agent`, `request_id`, `session_id` and an unparsable presented
//!   `client_id` are cut to their limits, with control characters replaced;
//! - a failed login never records the submitted username or password (users
//!   type their password into the username box often enough).

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{ClientId, GrantType, ScopeSet, UserId};

/// Longest `detail` value kept, in characters.
pub const MAX_DETAIL_VALUE_CHARS: usize = 128;
/// Longest `user_agent` kept, in characters.
pub const MAX_USER_AGENT_CHARS: usize = 256;
/// Longest `request_id`, `session_id` and raw `client_id` kept, in characters.
pub const MAX_ID_CHARS: usize = 128;
/// What replaces a `detail` value that looks like a credential.
pub const REDACTED: &str = "[redacted]";

/// Everything that happens and is recorded. The wire names (`as_str`) are
/// the `kind` column; they are public API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A user signed in.
    LoginSucceeded,
    /// A sign-in attempt failed; `detail.reason` is a [`LoginFailureReason`].
    LoginFailed,
    /// A user granted a client the listed scopes.
    ConsentGranted,
    /// A user refused a client's request.
    ConsentDenied,
    /// A remembered consent was withdrawn.
    ConsentRevoked,
    /// An authorization code was issued (RFC 6749 §4.1.2).
    AuthorizationCodeIssued,
    /// The token endpoint issued tokens; `detail.token_kinds` lists them.
    TokenIssued,
    /// A refresh token was exchanged for a new one (RFC 6749 §6, §10.4).
    RefreshTokenRotated,
    /// A rotated refresh token was presented again; its family was revoked
    /// (RFC 6819 §5.2.2.3, OAuth 2.0 Security BCP §4.14).
    RefreshTokenReuseDetected,
    /// A used authorization code was presented again; what was issued from
    /// it was revoked (RFC 6749 §4.1.2, §10.5).
    AuthorizationCodeReplayed,
    /// A token was revoked (RFC 7009).
    TokenRevoked,
    /// A session ended (OpenID Connect RP-Initiated Logout 1.0).
    Logout,
    /// A client failed to authenticate at an endpoint (RFC 6749 §2.3, §5.2).
    ClientAuthenticationFailed,
    /// An operator changed something through the admin API or dynamic
    /// registration: `client_id` is the acting client, `detail.action` what
    /// it did (`client_created`, `key_revoked`, ...), `detail.target` to what.
    AdminChange,
    /// Someone asked for a password-reset link on the sign-in page;
    /// `subject` is set only when the name or address matched an account
    /// (the page answers the same either way).
    PasswordResetRequested,
    /// A user's password changed: `detail.via` is `reset` (a reset link),
    /// `account` (the account page) or `operator`.
    PasswordChanged,
    /// A user verified their e-mail address with a link (or an operator
    /// marked it verified: `detail.via` = `operator`).
    EmailVerified,
    /// A user ended sessions on the account page: `session_id` is the one
    /// ended, or with `detail.via` = `others` every other session ended
    /// (`detail.revoked_count` of them).
    SessionEnded,
    /// A user signed up at `/signup` (`detail.via` = `open` or `invite`).
    UserRegistered,
    /// A second factor was enrolled: `detail.factor` is `totp`, `passkey`
    /// or `recovery_codes` (a new set).
    MfaEnrolled,
    /// Second factors were removed: `detail.factor` names the kind, or
    /// `all` when an operator reset them (`detail.via` = `operator`,
    /// `detail.revoked_count` factors).
    MfaRemoved,
    /// A client started a device authorization (RFC 8628 §3.1-3.2).
    DeviceAuthorizationRequested,
    /// A user approved a device authorization on `/device`.
    DeviceAuthorizationApproved,
    /// A user denied a device authorization on `/device`.
    DeviceAuthorizationDenied,
    /// A wrong or expired user code was entered on `/device`
    /// (`detail.reason`).
    DeviceUserCodeFailed,
    /// A logout token was accepted by a client's `backchannel_logout_uri`
    /// (OpenID Connect Back-Channel Logout 1.0 §2.8).
    BackchannelLogoutDelivered,
    /// A back-channel logout delivery failed (`detail.reason`); it is
    /// retried until `PORTCULLIS_DELIVERY_MAX_AGE_SECS`, then given up
    /// (`detail.via` = `abandoned`).
    BackchannelLogoutFailed,
    /// A client pushed an authorization request to `/par` (RFC 9126 §2);
    /// `detail.via` = `request_object` when it came as a signed request
    /// object (RFC 9101).
    ParRequestPushed,
    /// `/par` refused a pushed request (`error_code`; `detail.reason` for a
    /// request object). A client that failed to authenticate is
    /// `client_authentication_failed` instead.
    ParRequestRefused,
    /// `/authorize` (or a form of its interaction) refused a `request_uri`:
    /// `detail.reason` is `unknown`, `expired`, `used`, `other_client`,
    /// `interaction` (a form without the interaction's secret, or after it
    /// ended) or `unavailable` (an external one could not be fetched).
    RequestUriRefused,
    /// `/authorize` refused a request object (RFC 9101 §6.3): `detail.reason`
    /// is `encrypted`, `malformed`, `algorithm`, `keys`, `signature` or
    /// `claims`.
    RequestObjectRefused,
}

impl EventKind {
    /// Every kind, in catalogue order.
    pub const ALL: [Self; 31] = [
        Self::LoginSucceeded,
        Self::LoginFailed,
        Self::ConsentGranted,
        Self::ConsentDenied,
        Self::ConsentRevoked,
        Self::AuthorizationCodeIssued,
        Self::TokenIssued,
        Self::RefreshTokenRotated,
        Self::RefreshTokenReuseDetected,
        Self::AuthorizationCodeReplayed,
        Self::TokenRevoked,
        Self::Logout,
        Self::ClientAuthenticationFailed,
        Self::AdminChange,
        Self::PasswordResetRequested,
        Self::PasswordChanged,
        Self::EmailVerified,
        Self::SessionEnded,
        Self::UserRegistered,
        Self::MfaEnrolled,
        Self::MfaRemoved,
        Self::DeviceAuthorizationRequested,
        Self::DeviceAuthorizationApproved,
        Self::DeviceAuthorizationDenied,
        Self::DeviceUserCodeFailed,
        Self::BackchannelLogoutDelivered,
        Self::BackchannelLogoutFailed,
        Self::ParRequestPushed,
        Self::ParRequestRefused,
        Self::RequestUriRefused,
        Self::RequestObjectRefused,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LoginSucceeded => "login_succeeded",
            Self::LoginFailed => "login_failed",
            Self::ConsentGranted => "consent_granted",
            Self::ConsentDenied => "consent_denied",
            Self::ConsentRevoked => "consent_revoked",
            Self::AuthorizationCodeIssued => "authorization_code_issued",
            Self::TokenIssued => "token_issued",
            Self::RefreshTokenRotated => "refresh_token_rotated",
            Self::RefreshTokenReuseDetected => "refresh_token_reuse_detected",
            Self::AuthorizationCodeReplayed => "authorization_code_replayed",
            Self::TokenRevoked => "token_revoked",
            Self::Logout => "logout",
            Self::ClientAuthenticationFailed => "client_authentication_failed",
            Self::AdminChange => "admin_change",
            Self::PasswordResetRequested => "password_reset_requested",
            Self::PasswordChanged => "password_changed",
            Self::EmailVerified => "email_verified",
            Self::SessionEnded => "session_ended",
            Self::UserRegistered => "user_registered",
            Self::MfaEnrolled => "mfa_enrolled",
            Self::MfaRemoved => "mfa_removed",
            Self::DeviceAuthorizationRequested => "device_authorization_requested",
            Self::DeviceAuthorizationApproved => "device_authorization_approved",
            Self::DeviceAuthorizationDenied => "device_authorization_denied",
            Self::DeviceUserCodeFailed => "device_user_code_failed",
            Self::BackchannelLogoutDelivered => "backchannel_logout_delivered",
            Self::BackchannelLogoutFailed => "backchannel_logout_failed",
            Self::ParRequestPushed => "par_request_pushed",
            Self::ParRequestRefused => "par_request_refused",
            Self::RequestUriRefused => "request_uri_refused",
            Self::RequestObjectRefused => "request_object_refused",
        }
    }

    /// The outcome an event of this kind has unless a handler says
    /// otherwise: refusals, failures and detected attacks are `failure`.
    pub fn default_outcome(self) -> Outcome {
        match self {
            Self::LoginFailed
            | Self::ConsentDenied
            | Self::RefreshTokenReuseDetected
            | Self::AuthorizationCodeReplayed
            | Self::ClientAuthenticationFailed
            | Self::DeviceAuthorizationDenied
            | Self::DeviceUserCodeFailed
            | Self::BackchannelLogoutFailed
            | Self::ParRequestRefused
            | Self::RequestUriRefused
            | Self::RequestObjectRefused => Outcome::Failure,
            _ => Outcome::Success,
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown event kind {s:?}"))
    }
}

/// Why a sign-in failed (`detail.reason` of `login_failed`). The page the
/// user sees does not tell these apart (docs/SECURITY.md invariant 6); the event
/// does, for the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginFailureReason {
    /// No account has that username.
    UnknownUser,
    /// The password did not verify.
    BadPassword,
    /// The account is throttled after too many failures.
    Locked,
    /// The account is disabled by an operator.
    Disabled,
    /// The password was right, but the address is not verified and the
    /// operator requires it (`PORTCULLIS_REQUIRE_VERIFIED_EMAIL`).
    EmailNotVerified,
    /// The password was right; the second factor (TOTP code, recovery
    /// code or passkey) was not.
    BadSecondFactor,
    /// The request's `acr_values` (or the client's `require_mfa`) cannot
    /// be met: the user has no second factor.
    UnmetRequirements,
}

impl LoginFailureReason {
    /// Every reason.
    pub const ALL: [Self; 7] = [
        Self::UnknownUser,
        Self::BadPassword,
        Self::Locked,
        Self::Disabled,
        Self::EmailNotVerified,
        Self::BadSecondFactor,
        Self::UnmetRequirements,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownUser => "unknown_user",
            Self::BadPassword => "bad_password",
            Self::Locked => "locked",
            Self::Disabled => "disabled",
            Self::EmailNotVerified => "email_not_verified",
            Self::BadSecondFactor => "bad_second_factor",
            Self::UnmetRequirements => "unmet_requirements",
        }
    }
}

impl fmt::Display for LoginFailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether what happened was a success or a refusal/failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It worked.
    Success,
    /// It was refused or failed.
    Failure,
}

impl Outcome {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }
}

impl FromStr for Outcome {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "success" => Ok(Self::Success),
            "failure" => Ok(Self::Failure),
            other => Err(format!("unknown outcome {other:?}")),
        }
    }
}

/// The kinds of token the token endpoint issues (`detail.token_kinds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TokenKind {
    /// An access token (RFC 9068 JWT).
    AccessToken,
    /// An ID token (OpenID Connect Core §2).
    IdToken,
    /// A refresh token.
    RefreshToken,
}

impl TokenKind {
    /// The wire name (also the RFC 7009 `token_type_hint` value).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccessToken => "access_token",
            Self::IdToken => "id_token",
            Self::RefreshToken => "refresh_token",
        }
    }
}

/// The allowed `detail` keys. A fixed list, so that nothing can put an
/// arbitrary request parameter into an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DetailKey {
    /// Why (login failure reason, revocation or denial reason).
    Reason,
    /// Space-separated token kinds issued (`access_token id_token refresh_token`).
    TokenKinds,
    /// Which kind of token (revocation).
    TokenType,
    /// The client authentication method used or expected.
    AuthMethod,
    /// The grant (refresh-token family) an event concerns: its id, never a token.
    GrantId,
    /// How many tokens or grants were revoked.
    RevokedCount,
    /// The OpenID Connect `prompt` value.
    Prompt,
    /// Who started a logout (`user`, `rp`, `operator`) or a revocation.
    Initiator,
    /// Authentication methods (`amr`, space-separated).
    Amr,
    /// Which endpoint (for `client_authentication_failed`).
    Endpoint,
    /// What an operator did (`admin_change`): `client_created`, ...
    Action,
    /// What an `admin_change` acted on (a client id, user id, key id, ...).
    Target,
    /// How a self-service change came about (`reset`, `account`, `operator`,
    /// `open`, `invite`, ...).
    Via,
    /// Which second factor (`totp`, `passkey`, `recovery_codes`, `all`).
    Factor,
    /// The authentication context class (`acr`) of a sign-in.
    Acr,
}

impl DetailKey {
    /// Every key.
    pub const ALL: [Self; 15] = [
        Self::Reason,
        Self::TokenKinds,
        Self::TokenType,
        Self::AuthMethod,
        Self::GrantId,
        Self::RevokedCount,
        Self::Prompt,
        Self::Initiator,
        Self::Amr,
        Self::Endpoint,
        Self::Action,
        Self::Target,
        Self::Via,
        Self::Factor,
        Self::Acr,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reason => "reason",
            Self::TokenKinds => "token_kinds",
            Self::TokenType => "token_type",
            Self::AuthMethod => "auth_method",
            Self::GrantId => "grant_id",
            Self::RevokedCount => "revoked_count",
            Self::Prompt => "prompt",
            Self::Initiator => "initiator",
            Self::Amr => "amr",
            Self::Endpoint => "endpoint",
            Self::Action => "action",
            Self::Target => "target",
            Self::Via => "via",
            Self::Factor => "factor",
            Self::Acr => "acr",
        }
    }
}

/// One thing that happened. Serialized (JSON Lines files, the spool) with
/// the field names of the ClickHouse columns; `occurred_at` is RFC 3339 UTC
/// with milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(clippy::struct_field_names)] // `event_id` is the column's public name
pub struct Event {
    event_id: Uuid,
    #[serde(with = "millis_rfc3339")]
    occurred_at: DateTime<Utc>,
    kind: EventKind,
    client_id: Option<String>,
    subject: Option<String>,
    session_id: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
    grant_type: Option<String>,
    outcome: Outcome,
    error_code: Option<String>,
    ip: Option<IpAddr>,
    user_agent: Option<String>,
    request_id: Option<String>,
    #[serde(default)]
    detail: BTreeMap<String, String>,
}

/// When an event happened and its id: a UUID v7 whose timestamp is that
/// moment (RFC 9562 §5.7), so that ids sort by time and index well.
///
/// The domain names neither the `Clock` nor the `Rng` port: the layer that
/// emits events reads both and builds the stamp
/// ([`http::audit::event_stamp`](crate::http::audit::event_stamp)). One
/// stamp per event: two events never share an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventStamp {
    at: DateTime<Utc>,
    id: Uuid,
}

impl EventStamp {
    /// How many random bytes an id takes (74 of their 80 bits are used).
    pub const RANDOM_BYTES: usize = 10;

    /// The stamp of an event at `now` (cut to milliseconds), its id built
    /// from `now` and `random` (bytes from the `Rng` port).
    pub fn new(now: DateTime<Utc>, random: [u8; Self::RANDOM_BYTES]) -> Self {
        let millis = now.timestamp_millis();
        let at = DateTime::from_timestamp_millis(millis).unwrap_or(now);
        let id =
            uuid::Builder::from_unix_timestamp_millis(u64::try_from(millis).unwrap_or(0), &random)
                .into_uuid();
        Self { at, id }
    }

    /// When (UTC, milliseconds).
    pub fn at(&self) -> DateTime<Utc> {
        self.at
    }

    /// The id (UUID v7 of [`at`](Self::at)).
    pub fn id(&self) -> Uuid {
        self.id
    }
}

impl Event {
    /// A new event of `kind` with the time and id of `stamp` and the kind's
    /// default outcome.
    pub fn new(kind: EventKind, stamp: EventStamp) -> Self {
        let EventStamp {
            at: occurred_at,
            id: event_id,
        } = stamp;
        Self {
            event_id,
            occurred_at,
            kind,
            client_id: None,
            subject: None,
            session_id: None,
            scopes: Vec::new(),
            grant_type: None,
            outcome: kind.default_outcome(),
            error_code: None,
            ip: None,
            user_agent: None,
            request_id: None,
            detail: BTreeMap::new(),
        }
    }

    // ---------------------------------------------------------------- per kind

    /// `login_succeeded` for `user`.
    pub fn login_succeeded(stamp: EventStamp, user: &UserId) -> Self {
        Self::new(EventKind::LoginSucceeded, stamp).subject(user)
    }

    /// `login_failed` with its reason. Set `.subject(..)` when the account is
    /// known; the submitted username is never recorded.
    pub fn login_failed(stamp: EventStamp, reason: LoginFailureReason) -> Self {
        Self::new(EventKind::LoginFailed, stamp)
            .error("access_denied")
            .detail(DetailKey::Reason, reason.as_str())
    }

    /// `consent_granted`: `user` gave `client` the `scopes`.
    pub fn consent_granted(
        stamp: EventStamp,
        client: &ClientId,
        user: &UserId,
        scopes: &ScopeSet,
    ) -> Self {
        Self::new(EventKind::ConsentGranted, stamp)
            .client(client)
            .subject(user)
            .scopes(scopes)
    }

    /// `consent_denied`: `user` refused `client` the `scopes`
    /// (`access_denied`, RFC 6749 §4.1.2.1).
    pub fn consent_denied(
        stamp: EventStamp,
        client: &ClientId,
        user: &UserId,
        scopes: &ScopeSet,
    ) -> Self {
        Self::new(EventKind::ConsentDenied, stamp)
            .client(client)
            .subject(user)
            .scopes(scopes)
            .error("access_denied")
    }

    /// `consent_revoked`: the consent of `user` for `client` was withdrawn.
    pub fn consent_revoked(stamp: EventStamp, client: &ClientId, user: &UserId) -> Self {
        Self::new(EventKind::ConsentRevoked, stamp)
            .client(client)
            .subject(user)
    }

    /// `authorization_code_issued` to `client` for `user` and `scopes`.
    pub fn authorization_code_issued(
        stamp: EventStamp,
        client: &ClientId,
        user: &UserId,
        scopes: &ScopeSet,
    ) -> Self {
        Self::new(EventKind::AuthorizationCodeIssued, stamp)
            .client(client)
            .subject(user)
            .scopes(scopes)
            .grant_type(GrantType::AuthorizationCode)
    }

    /// `token_issued` to `client` by `grant`, listing the kinds of token
    /// issued. Set `.subject(..)` for user grants.
    pub fn token_issued(
        stamp: EventStamp,
        client: &ClientId,
        grant: GrantType,
        kinds: &[TokenKind],
        scopes: &ScopeSet,
    ) -> Self {
        Self::new(EventKind::TokenIssued, stamp)
            .client(client)
            .grant_type(grant)
            .scopes(scopes)
            .token_kinds(kinds)
    }

    /// `refresh_token_rotated` for `client` and `user`.
    pub fn refresh_token_rotated(stamp: EventStamp, client: &ClientId, user: &UserId) -> Self {
        Self::new(EventKind::RefreshTokenRotated, stamp)
            .client(client)
            .subject(user)
            .grant_type(GrantType::RefreshToken)
    }

    /// `refresh_token_reuse_detected`: a rotated refresh token of `client`
    /// came back; the family was revoked (`invalid_grant`).
    pub fn refresh_token_reuse_detected(stamp: EventStamp, client: &ClientId) -> Self {
        Self::new(EventKind::RefreshTokenReuseDetected, stamp)
            .client(client)
            .grant_type(GrantType::RefreshToken)
            .error("invalid_grant")
    }

    /// `authorization_code_replayed`: a used code of `client` came back;
    /// what it issued was revoked (`invalid_grant`).
    pub fn authorization_code_replayed(stamp: EventStamp, client: &ClientId) -> Self {
        Self::new(EventKind::AuthorizationCodeReplayed, stamp)
            .client(client)
            .grant_type(GrantType::AuthorizationCode)
            .error("invalid_grant")
    }

    /// `token_revoked`: a token of `kind` issued to `client` was revoked.
    pub fn token_revoked(stamp: EventStamp, client: &ClientId, kind: TokenKind) -> Self {
        Self::new(EventKind::TokenRevoked, stamp)
            .client(client)
            .detail(DetailKey::TokenType, kind.as_str())
    }

    /// `logout` of `user`.
    pub fn logout(stamp: EventStamp, user: &UserId) -> Self {
        Self::new(EventKind::Logout, stamp).subject(user)
    }

    /// `client_authentication_failed` (`invalid_client`, RFC 6749 §5.2) for
    /// the `client_id` presented, if any, as given (cut and cleaned; it may
    /// not be a registered id), with the method tried.
    pub fn client_authentication_failed(
        stamp: EventStamp,
        presented_client_id: Option<&str>,
        auth_method: &str,
    ) -> Self {
        let event = Self::new(EventKind::ClientAuthenticationFailed, stamp)
            .error("invalid_client")
            .detail(DetailKey::AuthMethod, auth_method);
        match presented_client_id {
            Some(id) => event.client_raw(id),
            None => event,
        }
    }

    /// `admin_change`: the client `actor` did `action` (a fixed name such
    /// as `client_created`) to `target` (an identifier, never a secret).
    pub fn admin_change(
        stamp: EventStamp,
        actor: &ClientId,
        action: &'static str,
        target: &str,
    ) -> Self {
        Self::new(EventKind::AdminChange, stamp)
            .client(actor)
            .detail(DetailKey::Action, action)
            .target(target)
    }

    /// `password_reset_requested`: someone asked for a reset link; `user`
    /// when the name or address matched an account (never the name or
    /// address typed).
    pub fn password_reset_requested(stamp: EventStamp, user: Option<&UserId>) -> Self {
        let event = Self::new(EventKind::PasswordResetRequested, stamp);
        match user {
            Some(u) => event.subject(u),
            None => event,
        }
    }

    /// `password_changed` for `user`, `via` `reset`, `account` or
    /// `operator`.
    pub fn password_changed(stamp: EventStamp, user: &UserId, via: &'static str) -> Self {
        Self::new(EventKind::PasswordChanged, stamp)
            .subject(user)
            .detail(DetailKey::Via, via)
    }

    /// `email_verified` for `user`, `via` `link` or `operator`.
    pub fn email_verified(stamp: EventStamp, user: &UserId, via: &'static str) -> Self {
        Self::new(EventKind::EmailVerified, stamp)
            .subject(user)
            .detail(DetailKey::Via, via)
    }

    /// `session_ended` by `user` on the account page: set `.session(..)` to
    /// the one ended, or `others` with how many ended.
    pub fn session_ended(stamp: EventStamp, user: &UserId, others: Option<u64>) -> Self {
        let event = Self::new(EventKind::SessionEnded, stamp).subject(user);
        match others {
            Some(n) => event
                .detail(DetailKey::Via, "others")
                .detail(DetailKey::RevokedCount, n.to_string()),
            None => event,
        }
    }

    /// `user_registered`: `user` signed up, `via` `open` or `invite`.
    pub fn user_registered(stamp: EventStamp, user: &UserId, via: &'static str) -> Self {
        Self::new(EventKind::UserRegistered, stamp)
            .subject(user)
            .detail(DetailKey::Via, via)
    }

    /// `mfa_enrolled` for `user`: `factor` is `totp`, `passkey` or
    /// `recovery_codes`.
    pub fn mfa_enrolled(stamp: EventStamp, user: &UserId, factor: &'static str) -> Self {
        Self::new(EventKind::MfaEnrolled, stamp)
            .subject(user)
            .detail(DetailKey::Factor, factor)
    }

    /// `mfa_removed` for `user`: `factor` as for `mfa_enrolled`, or `all`;
    /// `via` `account` or `operator`; `count` factors removed.
    pub fn mfa_removed(
        stamp: EventStamp,
        user: &UserId,
        factor: &'static str,
        via: &'static str,
        count: u64,
    ) -> Self {
        Self::new(EventKind::MfaRemoved, stamp)
            .subject(user)
            .detail(DetailKey::Factor, factor)
            .detail(DetailKey::Via, via)
            .detail(DetailKey::RevokedCount, count.to_string())
    }

    /// `device_authorization_requested`: `client` asked for a device and a
    /// user code.
    pub fn device_authorization_requested(stamp: EventStamp, client: &ClientId) -> Self {
        Self::new(EventKind::DeviceAuthorizationRequested, stamp)
            .client(client)
            .grant_type(GrantType::DeviceCode)
    }

    /// `device_authorization_approved` by `user` for `client`.
    pub fn device_authorization_approved(
        stamp: EventStamp,
        client: &ClientId,
        user: &UserId,
    ) -> Self {
        Self::new(EventKind::DeviceAuthorizationApproved, stamp)
            .client(client)
            .subject(user)
            .grant_type(GrantType::DeviceCode)
    }

    /// `device_authorization_denied` by `user` for `client`.
    pub fn device_authorization_denied(
        stamp: EventStamp,
        client: &ClientId,
        user: &UserId,
    ) -> Self {
        Self::new(EventKind::DeviceAuthorizationDenied, stamp)
            .client(client)
            .subject(user)
            .grant_type(GrantType::DeviceCode)
    }

    /// `device_user_code_failed`: a user code that is `reason` (`unknown`,
    /// `expired`, `used`, `locked`) was entered.
    pub fn device_user_code_failed(stamp: EventStamp, reason: &'static str) -> Self {
        Self::new(EventKind::DeviceUserCodeFailed, stamp).detail(DetailKey::Reason, reason)
    }

    /// `backchannel_logout_delivered` to `client` about `user`.
    pub fn backchannel_logout_delivered(
        stamp: EventStamp,
        client: &ClientId,
        user: &UserId,
    ) -> Self {
        Self::new(EventKind::BackchannelLogoutDelivered, stamp)
            .client(client)
            .subject(user)
    }

    /// `backchannel_logout_failed` to `client` about `user`, for `reason`
    /// (no secret: a status code, `timeout`, `refused`, ...).
    pub fn backchannel_logout_failed(
        stamp: EventStamp,
        client: &ClientId,
        user: &UserId,
        reason: &str,
    ) -> Self {
        Self::new(EventKind::BackchannelLogoutFailed, stamp)
            .client(client)
            .subject(user)
            .detail(DetailKey::Reason, reason)
    }

    /// `par_request_pushed` by `client` for `scopes`; `signed`: in a
    /// request object (`detail.via` = `request_object`).
    pub fn par_request_pushed(
        stamp: EventStamp,
        client: &ClientId,
        scopes: &ScopeSet,
        signed: bool,
    ) -> Self {
        let e = Self::new(EventKind::ParRequestPushed, stamp)
            .client(client)
            .scopes(scopes)
            .grant_type(GrantType::AuthorizationCode);
        if signed {
            e.detail(DetailKey::Via, "request_object")
        } else {
            e
        }
    }

    /// `par_request_refused`: `/par` answered `client` with `error`.
    pub fn par_request_refused(stamp: EventStamp, client: &ClientId, error: &'static str) -> Self {
        Self::new(EventKind::ParRequestRefused, stamp)
            .client(client)
            .grant_type(GrantType::AuthorizationCode)
            .error(error)
    }

    /// `request_uri_refused` for `reason` (`unknown`, `expired`, `used`,
    /// `other_client`, `interaction`, `unavailable`).
    pub fn request_uri_refused(stamp: EventStamp, reason: &'static str) -> Self {
        Self::new(EventKind::RequestUriRefused, stamp)
            .error("invalid_request_uri")
            .detail(DetailKey::Reason, reason)
    }

    /// `request_object_refused` for `reason` (`encrypted`, `malformed`,
    /// `algorithm`, `keys`, `signature`, `claims`).
    pub fn request_object_refused(stamp: EventStamp, reason: &'static str) -> Self {
        Self::new(EventKind::RequestObjectRefused, stamp)
            .error("invalid_request_object")
            .detail(DetailKey::Reason, reason)
    }

    /// `admin_change` made from the command line: no acting client,
    /// `detail.initiator` `cli`.
    pub fn admin_change_by_cli(stamp: EventStamp, action: &'static str, target: &str) -> Self {
        Self::new(EventKind::AdminChange, stamp)
            .detail(DetailKey::Action, action)
            .detail(DetailKey::Initiator, "cli")
            .target(target)
    }

    /// `detail.target` of an `admin_change`: an identifier (client id,
    /// user id, session id, grant id, key id), never a secret, so it is
    /// kept as given (cut and cleaned) without the credential-shape test of
    /// [`Event::detail`]: a key id is 43 base64url characters, the shape of
    /// a token, yet public (it is in the JWK Set). Callers pass ids only.
    fn target(mut self, target: &str) -> Self {
        self.detail.insert(
            DetailKey::Target.as_str().to_owned(),
            clean(target, MAX_DETAIL_VALUE_CHARS),
        );
        self
    }

    // ---------------------------------------------------------------- setters

    /// Sets the client.
    #[must_use]
    pub fn client(mut self, client: &ClientId) -> Self {
        self.client_id = Some(client.as_str().to_owned());
        self
    }

    /// Sets a presented client id that may not parse as a [`ClientId`]
    /// (cut to [`MAX_ID_CHARS`], control characters replaced).
    #[must_use]
    pub fn client_raw(mut self, client_id: &str) -> Self {
        self.client_id = non_empty(clean(client_id, MAX_ID_CHARS));
        self
    }

    /// Sets the subject (the `sub` of the user).
    #[must_use]
    pub fn subject(mut self, user: &UserId) -> Self {
        self.subject = non_empty(clean(user.as_str(), MAX_ID_CHARS));
        self
    }

    /// Sets the session: its `sid`, never the cookie value.
    #[must_use]
    pub fn session(mut self, sid: &str) -> Self {
        self.session_id = non_empty(clean(sid, MAX_ID_CHARS));
        self
    }

    /// Sets the scopes.
    #[must_use]
    pub fn scopes(mut self, scopes: &ScopeSet) -> Self {
        self.scopes = scopes.iter().map(str::to_owned).collect();
        self
    }

    /// Sets the grant type.
    #[must_use]
    pub fn grant_type(mut self, grant: GrantType) -> Self {
        self.grant_type = Some(grant.as_str().to_owned());
        self
    }

    /// Sets the OAuth error code (RFC 6749 §5.2 and friends; pass
    /// `ErrorCode::as_str()`). Static text only: never request input.
    #[must_use]
    pub fn error(mut self, code: &'static str) -> Self {
        self.error_code = Some(code.to_owned());
        self
    }

    /// Overrides the outcome.
    #[must_use]
    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }

    /// Sets the request metadata: client address, `User-Agent` (cut to
    /// [`MAX_USER_AGENT_CHARS`]) and request id (cut to [`MAX_ID_CHARS`]).
    #[must_use]
    pub fn request(
        mut self,
        ip: Option<IpAddr>,
        user_agent: Option<&str>,
        request_id: Option<&str>,
    ) -> Self {
        self.ip = ip;
        self.user_agent = user_agent.and_then(|ua| non_empty(clean(ua, MAX_USER_AGENT_CHARS)));
        self.request_id = request_id.and_then(|id| non_empty(clean(id, MAX_ID_CHARS)));
        self
    }

    /// Sets one `detail` entry (replacing an earlier one of the same key).
    /// The value is cut to [`MAX_DETAIL_VALUE_CHARS`]; a value shaped like a
    /// credential becomes [`REDACTED`].
    #[must_use]
    pub fn detail(mut self, key: DetailKey, value: impl AsRef<str>) -> Self {
        let value = value.as_ref();
        let value = if looks_like_credential(value) {
            REDACTED.to_owned()
        } else {
            clean(value, MAX_DETAIL_VALUE_CHARS)
        };
        self.detail.insert(key.as_str().to_owned(), value);
        self
    }

    /// Sets `detail.token_kinds` (space-separated, sorted, no repeats).
    #[must_use]
    pub fn token_kinds(self, kinds: &[TokenKind]) -> Self {
        let mut kinds = kinds.to_vec();
        kinds.sort_unstable();
        kinds.dedup();
        let joined = kinds
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        self.detail(DetailKey::TokenKinds, joined)
    }

    // ---------------------------------------------------------------- getters

    /// The id (UUID v7).
    pub fn event_id(&self) -> Uuid {
        self.event_id
    }
    /// When it happened (UTC, milliseconds).
    pub fn occurred_at(&self) -> DateTime<Utc> {
        self.occurred_at
    }
    /// What happened.
    pub fn kind(&self) -> EventKind {
        self.kind
    }
    /// The client, if any.
    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }
    /// The user's `sub`, if any.
    pub fn subject_id(&self) -> Option<&str> {
        self.subject.as_deref()
    }
    /// The session's `sid`, if any.
    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }
    /// The scopes (sorted).
    pub fn scope_list(&self) -> &[String] {
        &self.scopes
    }
    /// The grant type, if any.
    pub fn grant_type_str(&self) -> Option<&str> {
        self.grant_type.as_deref()
    }
    /// Success or failure.
    pub fn outcome_value(&self) -> Outcome {
        self.outcome
    }
    /// The OAuth error code, if any.
    pub fn error_code(&self) -> Option<&str> {
        self.error_code.as_deref()
    }
    /// The client address, if known.
    pub fn ip(&self) -> Option<IpAddr> {
        self.ip
    }
    /// The `User-Agent`, if any.
    pub fn user_agent(&self) -> Option<&str> {
        self.user_agent.as_deref()
    }
    /// The request id, if any.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }
    /// The detail map.
    pub fn detail_map(&self) -> &BTreeMap<String, String> {
        &self.detail
    }
    /// One detail value.
    pub fn detail_value(&self, key: DetailKey) -> Option<&str> {
        self.detail.get(key.as_str()).map(String::as_str)
    }

    /// Rebuilds an event from stored columns (adapters reading ClickHouse).
    /// The values are trusted: they were written from an [`Event`].
    pub fn from_parts(parts: EventParts) -> Self {
        Self {
            event_id: parts.event_id,
            occurred_at: parts.occurred_at,
            kind: parts.kind,
            client_id: parts.client_id,
            subject: parts.subject,
            session_id: parts.session_id,
            scopes: parts.scopes,
            grant_type: parts.grant_type,
            outcome: parts.outcome,
            error_code: parts.error_code,
            ip: parts.ip,
            user_agent: parts.user_agent,
            request_id: parts.request_id,
            detail: parts.detail,
        }
    }
}

/// The start of the UTC hour that holds `at`: the unit the event archive
/// partitions by (`date=YYYY-MM-DD/hour=HH`, docs/EVENTS.md "Archive").
pub fn hour_start(at: DateTime<Utc>) -> DateTime<Utc> {
    let secs = at.timestamp();
    DateTime::from_timestamp(secs - secs.rem_euclid(3600), 0).unwrap_or(at)
}

/// The stored columns of an event, for adapters that read events back
/// ([`Event::from_parts`]).
#[derive(Debug, Clone)]
#[allow(missing_docs)]
pub struct EventParts {
    pub event_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub kind: EventKind,
    pub client_id: Option<String>,
    pub subject: Option<String>,
    pub session_id: Option<String>,
    pub scopes: Vec<String>,
    pub grant_type: Option<String>,
    pub outcome: Outcome,
    pub error_code: Option<String>,
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub detail: BTreeMap<String, String>,
}

/// Cuts `raw` to `max` characters and replaces control characters.
fn clean(raw: &str, max: usize) -> String {
    raw.chars()
        .take(max)
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// Whether `value` has the shape of a credential: a JWT (`eyJ…` with dots),
/// or 40 or more characters all from the base64/base64url/hex alphabets
/// (every code, token and secret portcullis issues is 43 base64url
/// characters; a SHA-256 hex digest is 64).
pub fn looks_like_credential(value: &str) -> bool {
    let jwt = value.starts_with("eyJ") && value.matches('.').count() >= 2;
    let opaque = value.chars().count() >= 40
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+' | '/' | '='));
    jwt || opaque
}

mod millis_rfc3339 {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let raw = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&raw)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Event {
    /// One human-readable line (the CLI's `events tail` without `--json`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {:<28} {:<7}",
            self.occurred_at
                .to_rfc3339_opts(SecondsFormat::Millis, true),
            self.kind.as_str(),
            self.outcome.as_str()
        )?;
        let pairs = [
            ("client", self.client_id.as_deref()),
            ("sub", self.subject.as_deref()),
            ("grant", self.grant_type.as_deref()),
            ("error", self.error_code.as_deref()),
        ];
        for (name, value) in pairs {
            if let Some(v) = value {
                write!(f, " {name}={v}")?;
            }
        }
        if !self.scopes.is_empty() {
            write!(f, " scope=\"{}\"", self.scopes.join(" "))?;
        }
        for (k, v) in &self.detail {
            write!(f, " {k}={v}")?;
        }
        if let Some(ip) = self.ip {
            write!(f, " ip={ip}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()
            + chrono::Duration::microseconds(123_456)
    }

    /// A fresh stamp at [`now`]: distinct random bytes per call, as the
    /// `Rng` port gives.
    fn stamp() -> EventStamp {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut random = [0_u8; EventStamp::RANDOM_BYTES];
        random[..8].copy_from_slice(&n.to_le_bytes());
        EventStamp::new(now(), random)
    }

    fn client() -> ClientId {
        ClientId::parse("3f2a9c1e5b7d4f60a1b2c3d4e5f60718").unwrap()
    }

    fn user() -> UserId {
        UserId::new("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")
    }

    fn scopes() -> ScopeSet {
        ScopeSet::parse("openid profile offline_access").unwrap()
    }

    /// One event per kind, built the way handlers build them, with the
    /// request metadata of a real request.
    fn one_of_each() -> Vec<Event> {
        let (c, u, s) = (client(), user(), scopes());
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        let events = vec![
            Event::login_succeeded(stamp(), &u).session("sid-1"),
            Event::login_failed(stamp(), LoginFailureReason::BadPassword).subject(&u),
            Event::consent_granted(stamp(), &c, &u, &s),
            Event::consent_denied(stamp(), &c, &u, &s),
            Event::consent_revoked(stamp(), &c, &u),
            Event::authorization_code_issued(stamp(), &c, &u, &s),
            Event::token_issued(
                stamp(),
                &c,
                GrantType::AuthorizationCode,
                &[
                    TokenKind::RefreshToken,
                    TokenKind::AccessToken,
                    TokenKind::IdToken,
                ],
                &s,
            )
            .subject(&u),
            Event::refresh_token_rotated(stamp(), &c, &u),
            Event::refresh_token_reuse_detected(stamp(), &c).detail(DetailKey::RevokedCount, "3"),
            Event::authorization_code_replayed(stamp(), &c),
            Event::token_revoked(stamp(), &c, TokenKind::RefreshToken),
            Event::logout(stamp(), &u).detail(DetailKey::Initiator, "rp"),
            Event::client_authentication_failed(stamp(), Some(c.as_str()), "client_secret_basic"),
            Event::admin_change(
                stamp(),
                &c,
                "client_deleted",
                "4b1f0c6c1e2b1f4c559d550c7d1c1f9a",
            ),
            Event::password_reset_requested(stamp(), Some(&u)),
            Event::password_changed(stamp(), &u, "reset"),
            Event::email_verified(stamp(), &u, "link"),
            Event::session_ended(stamp(), &u, Some(2)),
            Event::user_registered(stamp(), &u, "open"),
            Event::mfa_enrolled(stamp(), &u, "totp"),
            Event::mfa_removed(stamp(), &u, "all", "operator", 2),
            Event::device_authorization_requested(stamp(), &c),
            Event::device_authorization_approved(stamp(), &c, &u),
            Event::device_authorization_denied(stamp(), &c, &u),
            Event::device_user_code_failed(stamp(), "unknown"),
            Event::backchannel_logout_delivered(stamp(), &c, &u),
            Event::backchannel_logout_failed(stamp(), &c, &u, "status 503"),
            Event::par_request_pushed(stamp(), &c, &s, true),
            Event::par_request_refused(stamp(), &c, "invalid_request"),
            Event::request_uri_refused(stamp(), "used"),
            Event::request_object_refused(stamp(), "signature"),
        ];
        events
            .into_iter()
            .map(|e| {
                e.request(
                    Some(ip),
                    Some("Mozilla/5.0 (X11; Linux x86_64)"),
                    Some("5f0c6c1e-2b1f-4c55-9d55-0c7d1c1f9a11"),
                )
            })
            .collect()
    }

    #[test]
    fn an_admin_change_keeps_a_key_id_as_its_target() {
        let kid = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
        let e = Event::admin_change(stamp(), &client(), "key_revoked", kid);
        assert_eq!(e.detail_value(DetailKey::Target), Some(kid));
        assert_eq!(e.detail_value(DetailKey::Action), Some("key_revoked"));
        let cli = Event::admin_change_by_cli(stamp(), "key_revoked", kid);
        assert_eq!(cli.client_id(), None);
        assert_eq!(cli.detail_value(DetailKey::Target), Some(kid));
        assert_eq!(cli.detail_value(DetailKey::Initiator), Some("cli"));
        // Other details keep the credential test.
        let other = Event::logout(stamp(), &user()).detail(DetailKey::Reason, kid);
        assert_eq!(other.detail_value(DetailKey::Reason), Some(REDACTED));
    }

    #[test]
    fn there_is_a_helper_for_every_kind_of_the_catalogue() {
        let kinds: Vec<EventKind> = one_of_each().iter().map(Event::kind).collect();
        assert_eq!(kinds, EventKind::ALL.to_vec());
    }

    #[test]
    fn wire_names_round_trip() {
        for k in EventKind::ALL {
            assert_eq!(k.as_str().parse::<EventKind>().unwrap(), k);
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        for r in LoginFailureReason::ALL {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
        assert!("nope".parse::<EventKind>().is_err());
    }

    #[test]
    fn events_carry_no_token_shaped_value() {
        for e in one_of_each() {
            let json = serde_json::to_value(&e).unwrap();
            let obj = json.as_object().unwrap();
            for (field, value) in obj {
                if field == "event_id" {
                    continue;
                }
                let mut strings = Vec::new();
                collect_strings(value, &mut strings);
                for s in strings {
                    assert!(
                        !looks_like_credential(&s),
                        "{}: {field} = {s:?} looks like a credential",
                        e.kind()
                    );
                }
            }
            for key in e.detail_map().keys() {
                assert!(
                    DetailKey::ALL.iter().any(|k| k.as_str() == key),
                    "{key} is not an allowed detail key"
                );
            }
        }
    }

    fn collect_strings(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::String(s) => out.push(s.clone()),
            serde_json::Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
            serde_json::Value::Object(o) => o.iter().for_each(|(k, x)| {
                out.push(k.clone());
                collect_strings(x, out);
            }),
            _ => {}
        }
    }

    #[test]
    fn credential_shaped_detail_values_are_redacted() {
        let token = "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6"; // 44 base64 chars
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln";
        let hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        for v in [token, jwt, hash] {
            let e = Event::new(EventKind::TokenRevoked, stamp()).detail(DetailKey::Reason, v);
            assert_eq!(e.detail_value(DetailKey::Reason), Some(REDACTED), "{v}");
        }
        // Identifiers pass: a UUID, a 32-hex client id, words.
        for v in [
            "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
            "3f2a9c1e5b7d4f60a1b2c3d4e5f60718",
            "user requested",
        ] {
            let e = Event::new(EventKind::TokenRevoked, stamp()).detail(DetailKey::Reason, v);
            assert_eq!(e.detail_value(DetailKey::Reason), Some(v));
        }
    }

    #[test]
    fn free_text_is_cut_and_cleaned() {
        let long = "a".repeat(1000);
        let e = Event::new(EventKind::LoginFailed, stamp())
            .request(None, Some(&long), Some("id\nwith\rbreaks"))
            .detail(DetailKey::Prompt, "x ".repeat(200))
            .client_raw(&long);
        assert_eq!(
            e.user_agent().unwrap().chars().count(),
            MAX_USER_AGENT_CHARS
        );
        assert_eq!(e.request_id(), Some("id\u{FFFD}with\u{FFFD}breaks"));
        assert_eq!(
            e.detail_value(DetailKey::Prompt).unwrap().chars().count(),
            MAX_DETAIL_VALUE_CHARS
        );
        assert_eq!(e.client_id().unwrap().len(), MAX_ID_CHARS);
    }

    #[test]
    fn login_failure_records_the_reason_and_never_a_username() {
        let e = Event::login_failed(stamp(), LoginFailureReason::UnknownUser);
        assert_eq!(e.detail_value(DetailKey::Reason), Some("unknown_user"));
        assert_eq!(e.subject_id(), None);
        assert_eq!(e.outcome_value(), Outcome::Failure);
    }

    #[test]
    fn id_is_a_uuid_v7_of_the_event_time_and_time_is_cut_to_millis() {
        let e = Event::new(EventKind::Logout, stamp());
        assert_eq!(e.event_id().get_version_num(), 7);
        let (secs, nanos) = e.event_id().get_timestamp().unwrap().to_unix();
        assert_eq!(secs, u64::try_from(now().timestamp()).unwrap());
        assert_eq!(nanos / 1_000_000, 123);
        assert_eq!(e.occurred_at().timestamp_subsec_micros(), 123_000);
        assert_ne!(
            e.event_id(),
            Event::new(EventKind::Logout, stamp()).event_id()
        );
    }

    #[test]
    fn id_is_the_stamps_and_its_random_part_is_the_given_bytes() {
        // Fixed bytes (a fixed `Rng`) give a predictable id: the event time
        // in the first 48 bits (RFC 9562 §5.7), then version 7, then the
        // bytes (less the version and variant bits).
        let s = EventStamp::new(now(), [0xab; EventStamp::RANDOM_BYTES]);
        assert_eq!(now().timestamp_millis(), 1_795_608_000_123); // 0x01a21293b67b
        assert_eq!(s.id().to_string(), "01a21293-b67b-7bab-abab-abababababab");
        assert_eq!(
            s,
            EventStamp::new(now(), [0xab; EventStamp::RANDOM_BYTES]),
            "deterministic"
        );
        assert_eq!(s.at(), Event::new(EventKind::Logout, s).occurred_at());
        let e = Event::token_revoked(s, &client(), TokenKind::AccessToken);
        assert_eq!(e.event_id(), s.id());
        assert_eq!(e.occurred_at(), s.at());
        let (secs, nanos) = e.event_id().get_timestamp().unwrap().to_unix();
        assert_eq!(
            i64::try_from(secs).unwrap() * 1000 + i64::from(nanos / 1_000_000),
            e.occurred_at().timestamp_millis()
        );
    }

    #[test]
    fn json_has_the_column_names_and_round_trips() {
        let e = one_of_each().swap_remove(6);
        let v = serde_json::to_value(&e).unwrap();
        for field in [
            "event_id",
            "occurred_at",
            "kind",
            "client_id",
            "subject",
            "session_id",
            "scopes",
            "grant_type",
            "outcome",
            "error_code",
            "ip",
            "user_agent",
            "request_id",
            "detail",
        ] {
            assert!(v.get(field).is_some(), "{field} missing");
        }
        assert_eq!(v["occurred_at"], "2026-11-25T12:00:00.123Z");
        assert_eq!(v["kind"], "token_issued");
        assert_eq!(
            v["detail"]["token_kinds"],
            "access_token id_token refresh_token"
        );
        let back: Event = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }
}
