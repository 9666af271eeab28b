//! Turning what handlers report into audit events (docs/EVENTS.md: grant and
//! consent events), with the request's address, user agent and id. `emit`
//! only enqueues: the request never waits on the event pipeline.

use std::convert::Infallible;
use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};

use crate::domain::event::{DetailKey, Event, EventStamp, LoginFailureReason, TokenKind};
use crate::domain::{ClientId, GrantType, ScopeSet, UserId};
use crate::http::extractors::ClientIp;
use crate::http::middleware::REQUEST_ID;
use crate::ports::Rng;
use crate::protocol::device::DeviceReport;
use crate::protocol::error::ErrorCode;
use crate::protocol::interaction::{LoginFailure, Report};
use crate::protocol::par::PushReport;
use crate::protocol::request::Refusal;
use crate::protocol::token::TokenReport;
use crate::state::AppState;

/// The request metadata events carry.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    /// Client address.
    pub ip: Option<IpAddr>,
    /// `User-Agent`.
    pub user_agent: Option<String>,
    /// `X-Request-Id`.
    pub request_id: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for RequestMeta {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ClientIp(ip) = ClientIp::from_request_parts(parts, state).await?;
        let text = |name: &header::HeaderName| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Ok(Self {
            ip: ip.parse().ok(),
            user_agent: text(&header::USER_AGENT),
            request_id: text(&REQUEST_ID),
        })
    }
}

impl RequestMeta {
    fn attach(&self, e: Event) -> Event {
        e.request(
            self.ip,
            self.user_agent.as_deref(),
            self.request_id.as_deref(),
        )
    }
}

/// The stamp of an event that happens `now` (from the `Clock`): its id's
/// random bits come from the `Rng` port, so that ids are injected like
/// every other random value (a fixed `Rng` gives a predictable id).
pub fn event_stamp(rng: &dyn Rng, now: DateTime<Utc>) -> EventStamp {
    rng.event_stamp(now)
}

/// A stamp for an event happening now, from the state's `Clock` and `Rng`.
fn stamp_now(state: &AppState) -> EventStamp {
    event_stamp(state.rng.as_ref(), state.clock.now())
}

fn emit(state: &AppState, meta: &RequestMeta, e: Event) {
    state.events.emit(meta.attach(e));
}

/// Events of the authorization interaction (login, consent, code).
pub fn interaction(state: &AppState, meta: &RequestMeta, r: &Report) {
    let now = state.clock.now();
    let stamp = || event_stamp(state.rng.as_ref(), now);
    let with_session = |e: Event| match &r.session_id {
        Some(sid) => e.session(sid),
        None => e,
    };
    if r.login_succeeded
        && let Some(user) = &r.subject
    {
        // The completed sign-in's methods and class (a pending first step
        // is not a sign-in: `login_succeeded` is false for it).
        let mut e = Event::login_succeeded(stamp(), user).detail(DetailKey::Amr, r.amr.join(" "));
        if let Some(acr) = r.acr {
            e = e.detail(DetailKey::Acr, acr.as_str());
        }
        if let Some(c) = &r.client_id {
            e = e.client(c);
        }
        emit(state, meta, with_session(e));
    }
    if let Some(failure) = r.login_failed {
        let reason = match failure {
            LoginFailure::UnknownUser => LoginFailureReason::UnknownUser,
            LoginFailure::BadPassword => LoginFailureReason::BadPassword,
            LoginFailure::Locked => LoginFailureReason::Locked,
            LoginFailure::Disabled => LoginFailureReason::Disabled,
            LoginFailure::EmailNotVerified => LoginFailureReason::EmailNotVerified,
            LoginFailure::BadSecondFactor => LoginFailureReason::BadSecondFactor,
            LoginFailure::UnmetRequirements => LoginFailureReason::UnmetRequirements,
        };
        let mut e = Event::login_failed(stamp(), reason);
        if let Some(c) = &r.client_id {
            e = e.client(c);
        }
        if let Some(u) = &r.subject {
            e = e.subject(u);
        }
        emit(state, meta, e);
    }
    if let (Some(consent), Some(client), Some(user)) = (&r.consent, &r.client_id, &r.subject) {
        let e = match consent {
            Ok(scopes) => Event::consent_granted(stamp(), client, user, scopes),
            Err(scopes) => Event::consent_denied(stamp(), client, user, scopes),
        };
        emit(state, meta, with_session(e));
    }
    if let Some(refusal) = r.refused {
        let mut e = match refusal {
            Refusal::RequestUri(reason) => Event::request_uri_refused(stamp(), reason),
            Refusal::RequestObject(reason) => Event::request_object_refused(stamp(), reason),
        };
        if let Some(c) = &r.client_id {
            e = e.client(c);
        }
        emit(state, meta, e);
    }
    if let (Some(scopes), Some(client), Some(user)) = (&r.code_issued, &r.client_id, &r.subject) {
        emit(
            state,
            meta,
            with_session(Event::authorization_code_issued(
                stamp(),
                client,
                user,
                scopes,
            )),
        );
    }
}

/// The event of a push to `/par` (RFC 9126 §2) by `client`: pushed, or
/// refused with `error` (not for a failed dependency, which is logged).
pub fn par(
    state: &AppState,
    meta: &RequestMeta,
    client: &ClientId,
    report: &PushReport,
    error: Option<ErrorCode>,
) {
    let e = match (error, &report.scope) {
        (None, Some(scope)) => {
            Event::par_request_pushed(stamp_now(state), client, scope, report.signed)
        }
        (Some(ErrorCode::ServerError | ErrorCode::TemporarilyUnavailable), _) | (None, None) => {
            return;
        }
        (Some(code), _) => {
            let e = Event::par_request_refused(stamp_now(state), client, code.as_str());
            match report.object_refused {
                Some(reason) => e.detail(DetailKey::Reason, reason),
                None => e,
            }
        }
    };
    emit(state, meta, e);
}

/// `device_authorization_requested` by `client` (RFC 8628 §3.1).
pub fn device_requested(state: &AppState, meta: &RequestMeta, client: &ClientId) {
    emit(
        state,
        meta,
        Event::device_authorization_requested(stamp_now(state), client),
    );
}

/// Events of the device pages: the sign-in's (as [`interaction`]), a
/// refused user code, the user's decision.
pub fn device(state: &AppState, meta: &RequestMeta, r: &DeviceReport) {
    interaction(state, meta, &r.interaction);
    if let Some(problem) = r.code_failed {
        let mut e = Event::device_user_code_failed(stamp_now(state), problem.reason());
        if let Some(c) = &r.interaction.client_id {
            e = e.client(c);
        }
        emit(state, meta, e);
    }
    if let (Some(approved), Some(client), Some(user)) =
        (r.decided, &r.interaction.client_id, &r.interaction.subject)
    {
        let stamp = stamp_now(state);
        let mut e = if approved {
            Event::device_authorization_approved(stamp, client, user)
        } else {
            Event::device_authorization_denied(stamp, client, user)
        };
        if let Some(sid) = &r.interaction.session_id {
            e = e.session(sid);
        }
        emit(state, meta, e);
    }
}

/// Events of a token request.
pub fn token(state: &AppState, meta: &RequestMeta, r: &TokenReport) {
    let now = state.clock.now();
    let stamp = || event_stamp(state.rng.as_ref(), now);
    let client = r.client_id.as_deref().and_then(ClientId::parse);
    let Some(client) = client else { return };
    let user = r.subject.as_ref().map(UserId::new);
    if r.code_replayed {
        emit(
            state,
            meta,
            Event::authorization_code_replayed(stamp(), &client),
        );
    }
    if r.refresh_reuse_detected {
        emit(
            state,
            meta,
            Event::refresh_token_reuse_detected(stamp(), &client),
        );
    }
    if r.refresh_rotated
        && let Some(u) = &user
    {
        emit(
            state,
            meta,
            Event::refresh_token_rotated(stamp(), &client, u),
        );
    }
    if !r.issued.is_empty()
        && let Some(grant) = r.grant_type.and_then(|g| g.parse::<GrantType>().ok())
    {
        let kinds: Vec<TokenKind> = r
            .issued
            .iter()
            .filter_map(|k| match *k {
                "access_token" => Some(TokenKind::AccessToken),
                "id_token" => Some(TokenKind::IdToken),
                "refresh_token" => Some(TokenKind::RefreshToken),
                _ => None,
            })
            .collect();
        let scopes = r
            .scope
            .as_deref()
            .and_then(|s| ScopeSet::parse(s).ok())
            .unwrap_or_default();
        let mut e = Event::token_issued(stamp(), &client, grant, &kinds, &scopes);
        if let Some(u) = &user {
            e = e.subject(u);
        }
        if let Some(sid) = &r.session_id {
            e = e.session(sid);
        }
        emit(state, meta, e);
    }
}

/// `token_revoked`.
pub fn revoked(state: &AppState, meta: &RequestMeta, client: &ClientId, kind: TokenKind) {
    emit(
        state,
        meta,
        Event::token_revoked(stamp_now(state), client, kind),
    );
}

/// `client_authentication_failed` at `endpoint` (from the
/// [`AuthenticatedClient`](crate::http::extractors::AuthenticatedClient)
/// extractor, for every endpoint that authenticates clients).
pub fn client_auth_failed(
    state: &AppState,
    meta: &RequestMeta,
    client_id: Option<&str>,
    method: &str,
    endpoint: &str,
) {
    let e = Event::client_authentication_failed(stamp_now(state), client_id, method)
        .detail(DetailKey::Endpoint, endpoint);
    emit(state, meta, e);
}

/// `logout`.
pub fn logout(
    state: &AppState,
    meta: &RequestMeta,
    user: &UserId,
    session_id: &str,
    initiator: &str,
) {
    let e = Event::logout(stamp_now(state), user)
        .session(session_id)
        .detail(DetailKey::Initiator, initiator);
    emit(state, meta, e);
}

/// `consent_revoked` of `user` for `client`, started by `initiator`
/// (`operator` for the admin API).
pub fn consent_revoked(
    state: &AppState,
    meta: &RequestMeta,
    client: &ClientId,
    user: &UserId,
    initiator: &str,
) {
    let e = Event::consent_revoked(stamp_now(state), client, user)
        .detail(DetailKey::Initiator, initiator);
    emit(state, meta, e);
}

/// `user_registered`: `user` signed up at `/signup`, `via` `open` or
/// `invite`.
pub fn user_registered(state: &AppState, meta: &RequestMeta, user: &UserId, via: &'static str) {
    emit(
        state,
        meta,
        Event::user_registered(stamp_now(state), user, via),
    );
}

/// `mfa_enrolled`: `user` enrolled `factor` (`totp`, `passkey`,
/// `recovery_codes`).
pub fn mfa_enrolled(state: &AppState, meta: &RequestMeta, user: &UserId, factor: &'static str) {
    emit(
        state,
        meta,
        Event::mfa_enrolled(stamp_now(state), user, factor),
    );
}

/// `mfa_removed`: `count` factors of kind `factor` (or `all`) of `user`
/// were removed, `via` `account` or `operator`.
pub fn mfa_removed(
    state: &AppState,
    meta: &RequestMeta,
    user: &UserId,
    factor: &'static str,
    via: &'static str,
    count: u64,
) {
    emit(
        state,
        meta,
        Event::mfa_removed(stamp_now(state), user, factor, via, count),
    );
}

/// `admin_change`: the client `actor` did `action` to `target` through the
/// admin API or dynamic registration (docs/EVENTS.md lists the actions).
pub fn admin_change(
    state: &AppState,
    meta: &RequestMeta,
    actor: &ClientId,
    action: &'static str,
    target: &str,
) {
    emit(
        state,
        meta,
        Event::admin_change(stamp_now(state), actor, action, target),
    );
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::event::EventKind;
    use crate::testing::ConstantRng;

    #[test]
    fn the_event_id_comes_from_the_rng_and_its_time_is_the_events() {
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()
            + chrono::Duration::microseconds(123_456);
        let e = Event::new(EventKind::Logout, event_stamp(&ConstantRng(0xab), now));
        // 0x01a21293b67b ms since the epoch, version 7, then the bytes of
        // the `Rng` (less the version and variant bits).
        assert_eq!(
            e.event_id().to_string(),
            "01a21293-b67b-7bab-abab-abababababab"
        );
        assert_eq!(e.occurred_at().timestamp_millis(), now.timestamp_millis());
        let (secs, nanos) = e.event_id().get_timestamp().unwrap().to_unix();
        assert_eq!(
            i64::try_from(secs).unwrap() * 1000 + i64::from(nanos / 1_000_000),
            e.occurred_at().timestamp_millis()
        );
        assert_ne!(
            event_stamp(&ConstantRng(1), now).id(),
            event_stamp(&ConstantRng(2), now).id(),
            "a different source, a different id"
        );
    }
}
