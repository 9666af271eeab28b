//! OpenID Shared Signals Framework 1.0 (SSF) transmitter rules, pure: the
//! CAEP and RISC signals portcullis transmits, which events raise them,
//! the Security Event Tokens that carry them (SSF 1.0 §4: RFC 8417 SETs
//! with a `sub_id` subject, RFC 9493), and the transmitter configuration
//! metadata (SSF 1.0 §7.1, served at `/.well-known/ssf-configuration`).
//!
//! It also holds the rules of the stream management API (SSF 1.0 §8):
//! who may call it ([`authorize`]: a client-credentials token of a client
//! holding [`RECEIVER_SCOPE`]), what a stream request may say
//! ([`StreamRequest::parse`]), the stream configuration a receiver reads
//! ([`stream_config`]), the subjects we understand ([`parse_subject`]),
//! the status and verification requests. `app::ssf` runs them against
//! the store; `http::routes::ssf` is the HTTP side.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::error::{ErrorCode, OAuthError};
use super::token::TokenCtx;
use crate::domain::ClientId;
use crate::domain::destination::check_outbound_url;
use crate::domain::event::{DetailKey, Event, EventKind};
use crate::domain::ssf::{Stream, StreamStatus};

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
/// SSF 1.0 §8.1.5 stream updated event.
pub const SSF_STREAM_UPDATED: &str =
    "https://schemas.openid.net/secevent/ssf/event-type/stream-updated";

/// The event types a stream may carry (`events_supported`); the
/// verification and stream-updated events go on every stream (SSF 1.0
/// §8.1.4, §8.1.5).
pub const EVENTS_SUPPORTED: [&str; 5] = [
    CAEP_SESSION_REVOKED,
    CAEP_CREDENTIAL_CHANGE,
    RISC_ACCOUNT_DISABLED,
    RISC_ACCOUNT_ENABLED,
    RISC_SESSIONS_REVOKED,
];

/// The scope that makes a client a Shared Signals receiver: its
/// client-credentials tokens with this scope may call the stream
/// management API. Given only by an operator (like the admin scopes),
/// never through dynamic registration.
pub const RECEIVER_SCOPE: &str = "ssf:receiver";

/// `min_verification_interval` (SSF 1.0 §8.1.1): a verification request
/// sooner than this after the previous one answers 429.
pub const MIN_VERIFICATION_INTERVAL_SECS: i64 = 30;

/// The longest `authorization_header` a receiver may give.
const MAX_HEADER: usize = 4096;
/// The longest `description` kept (SSF 1.0 §8.1.1: the transmitter MAY
/// truncate it).
const MAX_DESCRIPTION_CHARS: usize = 256;
/// The most `events_requested` entries, and the longest one.
const MAX_EVENTS: usize = 32;
const MAX_EVENT_URI: usize = 512;
/// The longest `reason` of a status, and `state` of a verification.
const MAX_REASON_CHARS: usize = 256;
const MAX_STATE: usize = 1024;
/// The longest subject identifier value (`sub`, `email`).
const MAX_SUBJECT_VALUE: usize = 320;

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
    /// The transmitter changed the stream's status (SSF 1.0 §8.1.5).
    StreamUpdated {
        /// The new status.
        status: StreamStatus,
        /// Why.
        reason: Option<String>,
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
            Self::StreamUpdated { .. } => SSF_STREAM_UPDATED,
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
            Self::StreamUpdated { status, reason } => {
                return stream_updated_payload(*status, reason.as_deref());
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
        // CAEP 1.0 §2 defines `event_timestamp` and `initiating_entity` for
        // its events; RISC 1.0 defines neither (its events carry no
        // payload of ours).
        if matches!(self, Self::SessionRevoked | Self::CredentialChange { .. }) {
            p.insert("event_timestamp".into(), json!(event_time.timestamp()));
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

/// Who caused an event, as CAEP 1.0 §2 `initiating_entity` names it: an
/// operator (`admin`: an `admin_change`, or a change made `via` the
/// operator or the admin API, or whose `initiator` is one), else the user.
pub fn initiating_entity(event: &Event) -> &'static str {
    let via = event.detail_value(DetailKey::Via);
    let initiator = event.detail_value(DetailKey::Initiator);
    if event.kind() == EventKind::AdminChange
        || matches!(via, Some("operator" | "admin"))
        || matches!(initiator, Some("operator" | "admin" | "cli"))
    {
        "admin"
    } else {
        "user"
    }
}

/// The subject of the SSF events about a stream itself (verification,
/// stream updated): `opaque`, its id the stream id (SSF 1.0 §8.1.4.1).
pub fn stream_subject(stream_id: &str) -> Value {
    json!({"format": "opaque", "id": stream_id})
}

/// The envelope of a stream's SET (SSF 1.0 §4): `iss`, `iat`, `jti`,
/// `aud` the receiver, and `txn` when known (§4.1.8: one per underlying
/// event); [`set_claims`] adds the `sub_id` and the event.
pub fn stream_envelope(
    issuer: &str,
    stream: &Stream,
    jti: &str,
    now: DateTime<Utc>,
    txn: Option<&str>,
) -> Map<String, Value> {
    let mut envelope = super::secevent::envelope(issuer, Some(stream.client_id.as_str()), jti, now);
    if let Some(txn) = txn {
        envelope.insert("txn".into(), json!(txn));
    }
    envelope
}

/// The stream-updated event's payload (SSF 1.0 §8.1.5): the new status
/// and, when there is one, why.
pub fn stream_updated_payload(status: StreamStatus, reason: Option<&str>) -> Value {
    let mut p = Map::new();
    p.insert("status".into(), json!(status.as_str()));
    if let Some(r) = reason {
        p.insert("reason".into(), json!(r));
    }
    Value::Object(p)
}

// ---- the stream management API ---------------------------------------------

/// An error of the management API: its HTTP status and a description (the
/// body is `{"error", "error_description"}` like every JSON API of ours).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MgmtError {
    /// 400: the request cannot be parsed or is otherwise invalid.
    Invalid(String),
    /// 403: the receiver may not do this (undo a status the transmitter
    /// set).
    Forbidden,
    /// 404: no stream with this id for this receiver.
    NotFound,
    /// 409: the receiver has a stream already (one per receiver).
    Conflict,
    /// 429: a verification sooner than `min_verification_interval`.
    TooSoon,
}

fn invalid(text: impl Into<String>) -> MgmtError {
    MgmtError::Invalid(text.into())
}

/// Checks `token` for a call of the management API (SSF 1.0 §8: "MUST use
/// standard HTTP authentication"; we offer OAuth 2.0, RFC 6749, as the
/// configuration's `authorization_schemes` says): a client-credentials
/// token of a client that still exists and holds [`RECEIVER_SCOPE`]
/// (`invalid_token` 401, `insufficient_scope` 403 otherwise, RFC 6750
/// §3.1). The receiver is the client.
pub async fn authorize(ctx: &TokenCtx<'_>, token: &str) -> Result<ClientId, OAuthError> {
    let (client, scope) = super::resource::client_credentials_caller(ctx, token).await?;
    if !scope.contains(RECEIVER_SCOPE) {
        return Err(OAuthError::new(
            ErrorCode::InsufficientScope,
            "the stream management API needs the ssf:receiver scope",
        ));
    }
    Ok(client)
}

/// Which request a stream body comes with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamOp {
    /// `POST`: create (no `stream_id`).
    Create,
    /// `PATCH`: the members present change, the others stay.
    Update,
    /// `PUT`: the receiver-supplied members missing are deleted.
    Replace,
}

/// The receiver-supplied members of a stream request (SSF 1.0 §8.1.1).
/// `None`: absent (kept by an update; deleted by a replace).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamRequest {
    /// `stream_id` (update, replace).
    pub stream_id: Option<String>,
    /// `delivery.endpoint_url` (checked: a URL the server may call).
    pub endpoint_url: Option<String>,
    /// `delivery.authorization_header`.
    pub authorization_header: Option<String>,
    /// Whether `delivery` was present.
    pub delivery_present: bool,
    /// Whether `delivery.authorization_header` was an explicit `null` (an
    /// update removes the header only then; a replace removes it whenever
    /// it is absent).
    pub header_cleared: bool,
    /// `events_requested`.
    pub events_requested: Option<Vec<String>>,
    /// `description`, truncated to 256 characters.
    pub description: Option<String>,
    /// The transmitter-supplied members present, to compare with the
    /// stream's (update, replace: "MUST match the expected value").
    pub transmitter_supplied: Map<String, Value>,
}

/// The transmitter-supplied members of a stream configuration.
const TRANSMITTER_SUPPLIED: [&str; 5] = [
    "iss",
    "aud",
    "events_supported",
    "events_delivered",
    "min_verification_interval",
];

/// A string member: absent (or null), or a string without control
/// characters (a NUL cannot even be stored in PostgreSQL text).
fn string_member<'a>(
    body: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, MgmtError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().any(char::is_control) => Err(invalid(format!(
            "{name} must not contain control characters"
        ))),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(format!("{name} must be a string"))),
    }
}

impl StreamRequest {
    /// Reads a stream request (SSF 1.0 §8.1.1.1, .3, .4): an object;
    /// `delivery`, when present, an object whose `method` is push
    /// (`urn:ietf:rfc:8935`, the only method we offer; a create without
    /// `delivery` asks for poll, which we refuse with 400 as §8.1.1.1
    /// allows) with an `endpoint_url` the server may call
    /// (`domain::destination`: https, no internal address, unless
    /// `allow_insecure`) and an optional `authorization_header` (at most
    /// 4 KiB, visible ASCII); `events_requested`, an array of at most 32
    /// URIs; `description`, a string (truncated to 256 characters);
    /// `stream_id` required by update and replace, refused by create.
    /// Members we do not know are ignored.
    pub fn parse(body: &Value, op: StreamOp, allow_insecure: bool) -> Result<Self, MgmtError> {
        let Some(body) = body.as_object() else {
            return Err(invalid("the request body must be a JSON object"));
        };
        let mut req = Self {
            stream_id: string_member(body, "stream_id")?.map(str::to_owned),
            ..Self::default()
        };
        match (op, &req.stream_id) {
            (StreamOp::Create, Some(_)) => {
                return Err(invalid("stream_id is chosen by the transmitter"));
            }
            (StreamOp::Update | StreamOp::Replace, None) => {
                return Err(invalid("stream_id is required"));
            }
            _ => {}
        }
        match body.get("delivery") {
            None | Some(Value::Null) => {
                if op != StreamOp::Update {
                    return Err(invalid(
                        "delivery is required: only push delivery (urn:ietf:rfc:8935) is supported",
                    ));
                }
            }
            Some(Value::Object(d)) => {
                req.delivery_present = true;
                match string_member(d, "method")? {
                    Some(DELIVERY_PUSH) => {}
                    _ => {
                        return Err(invalid(
                            "delivery.method: only push delivery (urn:ietf:rfc:8935) is supported",
                        ));
                    }
                }
                let url = string_member(d, "endpoint_url")?.ok_or_else(|| {
                    invalid("delivery.endpoint_url is required for push delivery")
                })?;
                check_outbound_url(url, allow_insecure)
                    .map_err(|e| invalid(format!("delivery.endpoint_url: {e}")))?;
                req.endpoint_url = Some(url.to_owned());
                req.header_cleared = matches!(d.get("authorization_header"), Some(Value::Null));
                if let Some(h) = string_member(d, "authorization_header")? {
                    if h.is_empty()
                        || h.len() > MAX_HEADER
                        || !h.bytes().all(|b| (0x20..0x7f).contains(&b))
                    {
                        return Err(invalid(
                            "delivery.authorization_header must be 1 to 4096 visible ASCII characters",
                        ));
                    }
                    req.authorization_header = Some(h.to_owned());
                }
            }
            Some(_) => return Err(invalid("delivery must be an object")),
        }
        match body.get("events_requested") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                if items.len() > MAX_EVENTS {
                    return Err(invalid("events_requested: at most 32 event types"));
                }
                let mut events = Vec::with_capacity(items.len());
                for item in items {
                    let Some(uri) = item.as_str().filter(|u| {
                        !u.is_empty()
                            && u.len() <= MAX_EVENT_URI
                            && !u.chars().any(char::is_control)
                    }) else {
                        return Err(invalid(
                            "events_requested must be an array of event type URIs",
                        ));
                    };
                    if !events.iter().any(|e| e == uri) {
                        events.push(uri.to_owned());
                    }
                }
                req.events_requested = Some(events);
            }
            Some(_) => return Err(invalid("events_requested must be an array")),
        }
        req.description = string_member(body, "description")?
            .map(|d| d.chars().take(MAX_DESCRIPTION_CHARS).collect());
        for name in TRANSMITTER_SUPPLIED {
            if let Some(v) = body.get(name) {
                req.transmitter_supplied.insert(name.to_owned(), v.clone());
            }
        }
        if op == StreamOp::Create && !req.transmitter_supplied.is_empty() {
            // A create carries only receiver-supplied members; the others
            // are ours to choose. Ignored, as unknown members are.
            req.transmitter_supplied.clear();
        }
        Ok(req)
    }

    /// Update and replace: every transmitter-supplied member present must
    /// equal the stream's (`current`: [`stream_config`] before the
    /// change; `events_delivered` compared as a set).
    pub fn check_transmitter_supplied(&self, current: &Value) -> Result<(), MgmtError> {
        for (name, given) in &self.transmitter_supplied {
            let expected = &current[name.as_str()];
            let same = match (given, expected) {
                (Value::Array(a), Value::Array(b)) => {
                    a.len() == b.len() && a.iter().all(|x| b.contains(x))
                }
                (a, b) => a == b,
            };
            if !same {
                return Err(invalid(format!(
                    "{name} is supplied by the transmitter and does not match the stream's"
                )));
            }
        }
        Ok(())
    }
}

/// The event types a stream delivers (`events_delivered`, SSF 1.0
/// §8.1.1): those it asked for that we support, in our order.
pub fn events_delivered(stream: &Stream) -> Vec<&'static str> {
    EVENTS_SUPPORTED
        .into_iter()
        .filter(|e| stream.events_requested.iter().any(|r| r == e))
        .collect()
}

/// Whether `stream` carries events of type `uri` (the verification and
/// stream-updated events go on every stream).
pub fn delivers(stream: &Stream, uri: &str) -> bool {
    uri == SSF_VERIFICATION || uri == SSF_STREAM_UPDATED || events_delivered(stream).contains(&uri)
}

/// The stream configuration a receiver reads (SSF 1.0 §8.1.1). The
/// `authorization_header` is never given back: it is the receiver's
/// secret, written once and kept sealed.
pub fn stream_config(issuer: &str, stream: &Stream) -> Value {
    let mut c = Map::new();
    c.insert("stream_id".into(), json!(stream.id));
    c.insert("iss".into(), json!(issuer));
    c.insert("aud".into(), json!(stream.client_id.as_str()));
    c.insert(
        "delivery".into(),
        json!({"method": DELIVERY_PUSH, "endpoint_url": stream.endpoint_url}),
    );
    c.insert("events_supported".into(), json!(EVENTS_SUPPORTED));
    c.insert("events_requested".into(), json!(stream.events_requested));
    c.insert("events_delivered".into(), json!(events_delivered(stream)));
    c.insert(
        "min_verification_interval".into(),
        json!(MIN_VERIFICATION_INTERVAL_SECS),
    );
    if let Some(d) = &stream.description {
        c.insert("description".into(), json!(d));
    }
    Value::Object(c)
}

/// The stream status a receiver reads (SSF 1.0 §8.1.2.1).
pub fn stream_status(stream: &Stream) -> Value {
    let mut c = Map::new();
    c.insert("stream_id".into(), json!(stream.id));
    c.insert("status".into(), json!(stream.status.as_str()));
    if let Some(r) = &stream.reason {
        c.insert("reason".into(), json!(r));
    }
    Value::Object(c)
}

/// A status change a receiver asks for (SSF 1.0 §8.1.2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRequest {
    /// `stream_id`.
    pub stream_id: String,
    /// `status`.
    pub status: StreamStatus,
    /// `reason` (at most 256 characters).
    pub reason: Option<String>,
}

fn object(body: &Value) -> Result<&Map<String, Value>, MgmtError> {
    body.as_object()
        .ok_or_else(|| invalid("the request body must be a JSON object"))
}

fn required_stream_id(body: &Map<String, Value>) -> Result<String, MgmtError> {
    string_member(body, "stream_id")?
        .map(str::to_owned)
        .ok_or_else(|| invalid("stream_id is required"))
}

impl StatusRequest {
    /// Reads `{stream_id, status, reason?}`.
    pub fn parse(body: &Value) -> Result<Self, MgmtError> {
        let body = object(body)?;
        let stream_id = required_stream_id(body)?;
        let status = string_member(body, "status")?
            .and_then(StreamStatus::parse)
            .ok_or_else(|| invalid("status must be enabled, paused or disabled"))?;
        let reason = string_member(body, "reason")?;
        if reason.is_some_and(|r| r.chars().count() > MAX_REASON_CHARS) {
            return Err(invalid("reason: at most 256 characters"));
        }
        Ok(Self {
            stream_id,
            status,
            reason: reason.map(str::to_owned),
        })
    }
}

/// A verification request (SSF 1.0 §8.1.4.2): `{stream_id, state?}`.
pub fn parse_verification(body: &Value) -> Result<(String, Option<String>), MgmtError> {
    let body = object(body)?;
    let stream_id = required_stream_id(body)?;
    let state = string_member(body, "state")?;
    if state.is_some_and(|s| s.len() > MAX_STATE) {
        return Err(invalid("state: at most 1024 bytes"));
    }
    Ok((stream_id, state.map(str::to_owned)))
}

/// A subject a receiver names (RFC 9493 formats we can resolve to one of
/// our users).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectRef {
    /// `iss_sub` with our issuer: the user's `sub`.
    Sub(String),
    /// `email`: the user with this address.
    Email(String),
}

/// Reads an add or remove subject request (SSF 1.0 §8.1.3.2, .3):
/// `{stream_id, subject, verified?}`. The subject is `iss_sub` (its `iss`
/// ours) or `email`; any other format (a complex subject, a phone number,
/// ...) is 400: none of our events is about it.
pub fn parse_subject_request(
    body: &Value,
    issuer: &str,
) -> Result<(String, SubjectRef), MgmtError> {
    let body = object(body)?;
    let stream_id = required_stream_id(body)?;
    if body.get("verified").is_some_and(|v| !v.is_boolean()) {
        return Err(invalid("verified must be a boolean"));
    }
    let subject = body
        .get("subject")
        .and_then(Value::as_object)
        .ok_or_else(|| invalid("subject is required (a subject identifier object)"))?;
    let value = |name: &str| -> Result<String, MgmtError> {
        string_member(subject, name)?
            .filter(|v| !v.is_empty() && v.len() <= MAX_SUBJECT_VALUE)
            .map(str::to_owned)
            .ok_or_else(|| invalid(format!("subject.{name} is required")))
    };
    let subject = match string_member(subject, "format")? {
        Some("iss_sub") => {
            if value("iss")? != issuer {
                return Err(invalid("subject.iss is not this transmitter's issuer"));
            }
            SubjectRef::Sub(value("sub")?)
        }
        Some("email") => SubjectRef::Email(value("email")?),
        Some(_) | None => {
            return Err(invalid(
                "subject.format: only iss_sub (with this issuer) and email are supported",
            ));
        }
    };
    Ok((stream_id, subject))
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
    fn stream(events: &[&str]) -> Stream {
        let now = Utc::now();
        Stream {
            id: "s1".into(),
            client_id: ClientId::parse("rx").unwrap(),
            endpoint_url: "https://rx.example/events".into(),
            authorization_header: None,
            events_requested: events.iter().map(|e| (*e).to_owned()).collect(),
            description: None,
            status: StreamStatus::Enabled,
            reason: None,
            status_by_transmitter: false,
            verified_at: None,
            created_at: now,
            updated_at: now,
        }
    }

    fn push(url: &str) -> Value {
        json!({"method": DELIVERY_PUSH, "endpoint_url": url})
    }

    #[test]
    fn a_stream_request_takes_push_only_to_an_address_we_may_call() {
        let ok = StreamRequest::parse(
            &json!({
                "delivery": {"method": DELIVERY_PUSH, "endpoint_url": "https://rx.example/e",
                             "authorization_header": "Bearer x"},
                "events_requested": [RISC_ACCOUNT_DISABLED, RISC_ACCOUNT_DISABLED, "urn:x"],
                "description": "d".repeat(300),
                "iss": "ignored on create",
                "unknown": 1,
            }),
            StreamOp::Create,
            false,
        )
        .unwrap();
        assert_eq!(ok.endpoint_url.as_deref(), Some("https://rx.example/e"));
        assert_eq!(ok.authorization_header.as_deref(), Some("Bearer x"));
        assert_eq!(
            ok.events_requested,
            Some(vec![RISC_ACCOUNT_DISABLED.to_owned(), "urn:x".to_owned()])
        );
        assert_eq!(ok.description.unwrap().chars().count(), 256);
        assert!(ok.transmitter_supplied.is_empty());
        for (body, op) in [
            (json!([]), StreamOp::Create),
            (json!({}), StreamOp::Create),
            (
                json!({"delivery": {"method": "urn:ietf:rfc:8936"}}),
                StreamOp::Create,
            ),
            (
                json!({"delivery": push("http://rx.example/e")}),
                StreamOp::Create,
            ),
            (
                json!({"delivery": push("https://10.0.0.1/e")}),
                StreamOp::Create,
            ),
            (
                json!({"delivery": push("https://127.0.0.1/e")}),
                StreamOp::Create,
            ),
            (
                json!({"delivery": {"method": DELIVERY_PUSH}}),
                StreamOp::Create,
            ),
            (json!({"delivery": "push"}), StreamOp::Create),
            (
                json!({"delivery": push("https://rx.example/e"), "events_requested": [1]}),
                StreamOp::Create,
            ),
            (
                json!({"delivery": push("https://rx.example/e"), "events_requested": vec!["urn:x"; 33]}),
                StreamOp::Create,
            ),
            (
                json!({"delivery": push("https://rx.example/e"), "description": "a\u{0}b"}),
                StreamOp::Create,
            ),
            (
                json!({"delivery": {"method": DELIVERY_PUSH, "endpoint_url": "https://rx.example/e",
                                    "authorization_header": "x\r\nInjected: 1"}}),
                StreamOp::Create,
            ),
            (
                json!({"stream_id": "s", "delivery": push("https://rx.example/e")}),
                StreamOp::Create,
            ),
            (json!({"description": "x"}), StreamOp::Update),
            (json!({"stream_id": "s"}), StreamOp::Replace),
        ] {
            assert!(
                StreamRequest::parse(&body, op, false).is_err(),
                "{op:?} {body}"
            );
        }
        // Tests may point a stream at 127.0.0.1.
        assert!(
            StreamRequest::parse(
                &json!({"delivery": push("http://127.0.0.1:9/e")}),
                StreamOp::Create,
                true
            )
            .is_ok()
        );
        // An update needs no delivery.
        let u = StreamRequest::parse(&json!({"stream_id": "s"}), StreamOp::Update, false).unwrap();
        assert!(!u.delivery_present && u.events_requested.is_none());
    }

    #[test]
    fn transmitter_supplied_members_must_match() {
        let s = stream(&[RISC_ACCOUNT_ENABLED, RISC_ACCOUNT_DISABLED]);
        let current = stream_config("https://id.example", &s);
        assert_eq!(
            current["events_delivered"],
            json!([RISC_ACCOUNT_DISABLED, RISC_ACCOUNT_ENABLED])
        );
        let parse = |body: Value| StreamRequest::parse(&body, StreamOp::Update, false).unwrap();
        // Present and equal (delivered as a set): fine.
        parse(
            json!({"stream_id": "s1", "iss": "https://id.example", "aud": "rx",
                     "events_delivered": [RISC_ACCOUNT_ENABLED, RISC_ACCOUNT_DISABLED]}),
        )
        .check_transmitter_supplied(&current)
        .unwrap();
        for bad in [
            json!({"stream_id": "s1", "iss": "https://evil.example"}),
            json!({"stream_id": "s1", "aud": ["rx", "other"]}),
            json!({"stream_id": "s1", "events_delivered": [RISC_ACCOUNT_ENABLED]}),
            json!({"stream_id": "s1", "min_verification_interval": 1}),
        ] {
            assert!(
                parse(bad.clone())
                    .check_transmitter_supplied(&current)
                    .is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn events_delivered_are_the_supported_ones_asked_for() {
        let s = stream(&["urn:unknown", CAEP_SESSION_REVOKED]);
        assert_eq!(events_delivered(&s), vec![CAEP_SESSION_REVOKED]);
        assert!(delivers(&s, CAEP_SESSION_REVOKED));
        assert!(!delivers(&s, RISC_ACCOUNT_DISABLED));
        // Verification and stream-updated go on every stream.
        assert!(delivers(&stream(&[]), SSF_VERIFICATION));
        assert!(delivers(&stream(&[]), SSF_STREAM_UPDATED));
        // The configuration never shows the authorization header.
        let mut s = stream(&[]);
        s.authorization_header = Some("sealed".into());
        assert!(
            !stream_config("https://id.example", &s)
                .to_string()
                .contains("sealed")
        );
    }

    #[test]
    fn subjects_are_ours_or_refused() {
        let iss = "https://id.example";
        let ok = |subject: Value| {
            parse_subject_request(&json!({"stream_id": "s", "subject": subject}), iss)
        };
        assert_eq!(
            ok(json!({"format": "iss_sub", "iss": iss, "sub": "u1"})).unwrap(),
            ("s".to_owned(), SubjectRef::Sub("u1".into()))
        );
        assert_eq!(
            ok(json!({"format": "email", "email": "a@example.com"}))
                .unwrap()
                .1,
            SubjectRef::Email("a@example.com".into())
        );
        for bad in [
            json!({"format": "iss_sub", "iss": "https://other.example", "sub": "u1"}),
            json!({"format": "iss_sub", "iss": iss}),
            json!({"format": "iss_sub", "iss": iss, "sub": ""}),
            json!({"format": "iss_sub", "iss": iss, "sub": "a\u{0}b"}),
            json!({"format": "phone_number", "phone_number": "+1"}),
            json!({"format": "complex", "user": {"format": "email", "email": "a@example.com"}}),
            json!({"email": "a@example.com"}),
            json!("a@example.com"),
        ] {
            assert!(ok(bad.clone()).is_err(), "{bad}");
        }
        assert!(
            parse_subject_request(
                &json!({"subject": {"format": "email", "email": "a@b"}}),
                iss
            )
            .is_err()
        );
        assert!(
            parse_subject_request(
                &json!({"stream_id": "s", "verified": "yes", "subject": {"format": "email", "email": "a@b"}}),
                iss
            )
            .is_err()
        );
    }

    #[test]
    fn status_and_verification_requests() {
        let r = StatusRequest::parse(&json!({"stream_id": "s", "status": "paused", "reason": "r"}))
            .unwrap();
        assert_eq!(r.status, StreamStatus::Paused);
        assert_eq!(r.reason.as_deref(), Some("r"));
        for bad in [
            json!({"stream_id": "s"}),
            json!({"stream_id": "s", "status": "Enabled"}),
            json!({"status": "enabled"}),
            json!({"stream_id": "s", "status": "enabled", "reason": "x".repeat(257)}),
        ] {
            assert!(StatusRequest::parse(&bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_verification(&json!({"stream_id": "s", "state": "abc"})).unwrap(),
            ("s".to_owned(), Some("abc".to_owned()))
        );
        assert!(parse_verification(&json!({"stream_id": "s", "state": "x".repeat(1025)})).is_err());
        assert!(parse_verification(&json!({"state": "abc"})).is_err());
        let u = Signal::StreamUpdated {
            status: StreamStatus::Disabled,
            reason: None,
        };
        assert_eq!(u.uri(), SSF_STREAM_UPDATED);
        assert_eq!(
            u.payload(Utc::now(), "system"),
            json!({"status": "disabled"})
        );
        // RISC events carry no CAEP members.
        assert_eq!(
            Signal::AccountDisabled.payload(Utc::now(), "admin"),
            json!({})
        );
    }
}
