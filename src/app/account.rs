//! The end user's account page (issue 16 item 5, docs/ACCOUNT.md "The
//! account page"): the rules behind `/account` and its forms, over the
//! ports, so that the handlers in `http::routes::account` stay thin.
//!
//! Every rule has one home elsewhere and is called from here: the sign-in
//! and its throttling ([`interaction::sign_in`]), the profile rules
//! ([`operator::check_name`], [`operator::check_email`], [`users::update`]),
//! the one password setter ([`operator::set_password`]: every session ends
//! and every grant is revoked), the verification mail
//! ([`verification::send_link`], limited by [`mail::allow`]), ending a
//! session as a logout does ([`sessions::end`]) and withdrawing an
//! application ([`grants::revoke_consent`]).

use chrono::{DateTime, Duration, Utc};

use super::operator::{self, OperatorError};
use super::users::{self, NameChange, UserRef, UserUpdate};
use super::{grants, mail, sessions, verification};
use crate::config::SelfServiceConfig;
use crate::domain::event::{Event, EventKind};
use crate::domain::mfa::Acr;
use crate::domain::{ClientId, Session, User, UserId};
use crate::ports::repositories::OwnerFilter;
use crate::ports::{Clock, EventQuery, EventReadError, EventReader, Rng, Store, StoreError};
use crate::protocol::error::OAuthError;
use crate::protocol::interaction::{self, Credentials, Ctx, LiveSession, LoginMessage, Report};

/// The event kinds the "recent security activity" section lists.
pub const ACTIVITY_KINDS: [EventKind; 7] = [
    EventKind::LoginSucceeded,
    EventKind::LoginFailed,
    EventKind::PasswordChanged,
    EventKind::PasswordResetRequested,
    EventKind::EmailVerified,
    EventKind::SessionEnded,
    EventKind::ConsentRevoked,
];

/// How many events the activity section shows.
pub const ACTIVITY_SHOWN: usize = 20;

/// How many of the user's newest events are read to find them (the
/// reader filters by subject; the kinds are picked here).
const ACTIVITY_READ: usize = 200;

/// Page size when listing a user's sessions or consents.
const BATCH: u64 = 100;

/// Whether a sensitive action (e-mail change, ending every other session)
/// must first ask for the password again: the session's sign-in is older
/// than `window` (`PORTCULLIS_ACCOUNT_REAUTH_SECS`), or unknown.
pub fn needs_reauth(session: &Session, now: DateTime<Utc>, window: Duration) -> bool {
    session.auth_time.is_none_or(|t| now - t > window)
}

/// A readable name for a browser's `User-Agent`: "Firefox on Linux",
/// "Chrome on Android", "Safari on iOS", ...; "Unknown browser" when
/// nothing is recognised. Deliberately simple: it is a hint for the user,
/// not a security decision.
pub fn browser_name(user_agent: Option<&str>) -> String {
    let Some(ua) = user_agent.filter(|u| !u.trim().is_empty()) else {
        return "Unknown browser".to_owned();
    };
    let browser = if ua.contains("Edg/") || ua.contains("Edge/") || ua.contains("EdgA/") {
        Some("Edge")
    } else if ua.contains("OPR/") || ua.contains("Opera") {
        Some("Opera")
    } else if ua.contains("Firefox/") || ua.contains("FxiOS/") {
        Some("Firefox")
    } else if ua.contains("Chrome/") || ua.contains("CriOS/") || ua.contains("Chromium/") {
        Some("Chrome")
    } else if ua.contains("Safari/") {
        Some("Safari")
    } else {
        None
    };
    let os = if ua.contains("Windows") {
        Some("Windows")
    } else if ua.contains("Android") {
        Some("Android")
    } else if ua.contains("iPhone") || ua.contains("iPad") || ua.contains("iPod") {
        Some("iOS")
    } else if ua.contains("Mac OS X") || ua.contains("Macintosh") {
        Some("macOS")
    } else if ua.contains("CrOS") {
        Some("ChromeOS")
    } else if ua.contains("Linux") {
        Some("Linux")
    } else {
        None
    };
    match (browser, os) {
        (Some(b), Some(o)) => format!("{b} on {o}"),
        (Some(b), None) => b.to_owned(),
        (None, Some(o)) => format!("Unknown browser on {o}"),
        (None, None) => "Unknown browser".to_owned(),
    }
}

/// One live session of the user, as the page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionLine {
    /// The session id (what the "end" form sends).
    pub id: String,
    /// When it started.
    pub created_at: DateTime<Utc>,
    /// The last request seen in it.
    pub last_seen_at: DateTime<Utc>,
    /// The address it signed in from.
    pub ip: Option<String>,
    /// The browser, in words ([`browser_name`]).
    pub browser: String,
    /// The session of this very browser.
    pub current: bool,
}

async fn live_sessions(
    store: &dyn Store,
    user: &UserId,
    now: DateTime<Utc>,
    idle: Duration,
) -> Result<Vec<Session>, StoreError> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let batch = store
            .sessions()
            .list_live_sessions(user, now, now - idle, after.as_deref(), BATCH)
            .await?;
        let full = batch.len() as u64 == BATCH;
        after = batch.last().map(|s| s.id.clone());
        all.extend(batch);
        if !full {
            return Ok(all);
        }
    }
}

/// The user's live sessions, this one first, then the most recently seen.
pub async fn session_lines(
    store: &dyn Store,
    live: &LiveSession,
    now: DateTime<Utc>,
    idle: Duration,
) -> Result<Vec<SessionLine>, StoreError> {
    let mut lines: Vec<SessionLine> = live_sessions(store, &live.user.id, now, idle)
        .await?
        .into_iter()
        .map(|s| SessionLine {
            current: s.id == live.session.id,
            browser: browser_name(s.user_agent.as_deref()),
            id: s.id,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            ip: s.ip,
        })
        .collect();
    lines.sort_by(|a, b| {
        b.current
            .cmp(&a.current)
            .then(b.last_seen_at.cmp(&a.last_seen_at))
    });
    Ok(lines)
}

/// One application the user has consented to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppLine {
    /// The client id (what the "revoke" form sends).
    pub client_id: String,
    /// The client's name (its id when the client is gone).
    pub name: String,
    /// The scopes consented to.
    pub scopes: Vec<String>,
    /// When consent was first given.
    pub granted_at: DateTime<Utc>,
    /// When the application last used its access (a grant made or a
    /// refresh token issued), if it has a live grant.
    pub last_used: Option<DateTime<Utc>>,
}

/// The user's live consents, by application name.
pub async fn app_lines(store: &dyn Store, user: &UserId) -> Result<Vec<AppLine>, StoreError> {
    let mut consents = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let owner = OwnerFilter {
            user: Some(user),
            client: None,
        };
        let batch = store
            .consents()
            .list_live_consents(owner, after.as_deref(), BATCH)
            .await?;
        let full = batch.len() as u64 == BATCH;
        after = batch.last().map(|c| c.client_id.as_str().to_owned());
        consents.extend(batch);
        if !full {
            break;
        }
    }
    let last_use = store.grants().last_use_by_client(user).await?;
    let mut lines = Vec::with_capacity(consents.len());
    for c in consents {
        let name = store
            .clients()
            .get_client(&c.client_id)
            .await?
            .map_or_else(|| c.client_id.as_str().to_owned(), |client| client.name);
        let last_used = last_use
            .iter()
            .find(|(id, _)| *id == c.client_id)
            .map(|(_, at)| *at);
        lines.push(AppLine {
            client_id: c.client_id.as_str().to_owned(),
            name,
            scopes: c.scopes.iter().map(str::to_owned).collect(),
            granted_at: c.created_at,
            last_used,
        });
    }
    lines.sort_by(|a, b| a.name.cmp(&b.name).then(a.client_id.cmp(&b.client_id)));
    Ok(lines)
}

/// The user's recent security activity: the newest [`ACTIVITY_SHOWN`]
/// events of the [`ACTIVITY_KINDS`] about `user`, newest first. `Err`
/// when the event store cannot be read (the page says so and shows the
/// rest).
pub async fn activity(
    reader: &dyn EventReader,
    user: &UserId,
) -> Result<Vec<Event>, EventReadError> {
    let q = EventQuery {
        subject: Some(user.as_str().to_owned()),
        limit: ACTIVITY_READ,
        ..EventQuery::default()
    };
    let events = super::events::query(reader, q)
        .await
        .map_err(|e| EventReadError(e.to_string()))?;
    Ok(events
        .into_iter()
        .filter(|e| ACTIVITY_KINDS.contains(&e.kind()))
        .take(ACTIVITY_SHOWN)
        .collect())
}

/// Sets the user's name; an empty (or blank) name removes it.
/// `Invalid` when it breaks [`operator::check_name`]; nothing changes then.
pub async fn change_name(
    store: &dyn Store,
    clock: &dyn Clock,
    verify: &verification::Sender<'_>,
    user: &User,
    name: &str,
) -> Result<(), OperatorError> {
    let name = name.trim();
    let change = if name.is_empty() {
        NameChange::Clear
    } else {
        operator::check_name(name)?;
        NameChange::Set(name.to_owned())
    };
    if user.name.as_deref() == Some(name) || (name.is_empty() && user.name.is_none()) {
        return Ok(());
    }
    users::update(
        store,
        clock,
        verify,
        UserRef::Id(user.id.as_str()),
        UserUpdate {
            name: Some(change),
            ..UserUpdate::default()
        },
    )
    .await?;
    Ok(())
}

/// What an e-mail change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailChange {
    /// The address is new (now unverified) or was still unverified, and a
    /// verification link went to it.
    LinkSent,
    /// The address is the verified one already: nothing changed.
    Unchanged,
    /// Too many mails to this address or from this client address this
    /// hour ([`mail::allow`]): nothing changed.
    TooMany,
}

/// What [`change_email`] needs besides the store.
pub struct EmailSettings<'a> {
    /// The issuer (the link's base).
    pub issuer: &'a str,
    /// The self-service settings (link lifetime, mail limit).
    pub self_service: &'a SelfServiceConfig,
}

/// Changes the user's address to `email` ([`operator::check_email`]; the
/// new address is unverified) and sends a verification link to the new
/// address ([`verification::send_link`]), within the hourly mail limit
/// ([`mail::allow`], counted against the new address and `ip`). Giving
/// the current, still unverified address again sends a new link. The
/// caller wakes the outbox worker after an [`EmailChange::LinkSent`].
pub async fn change_email(
    store: &dyn Store,
    rng: &dyn Rng,
    clock: &dyn Clock,
    settings: &EmailSettings<'_>,
    user: &User,
    email: &str,
    ip: &str,
) -> Result<EmailChange, OperatorError> {
    let email = email.trim();
    operator::check_email(email)?;
    if email == user.email && user.email_verified {
        return Ok(EmailChange::Unchanged);
    }
    let now = clock.now();
    if !mail::allow(store, settings.self_service, email, ip, now).await? {
        return Ok(EmailChange::TooMany);
    }
    let verify = verification::Sender {
        rng,
        issuer: settings.issuer,
        ttl: settings.self_service.email_verify_ttl,
    };
    if email == user.email {
        // The same, still unverified address: a new link.
        verify.send(store, now, &user.id, email).await?;
    } else {
        // The one update: the new address is unverified and gets its link.
        users::update(
            store,
            clock,
            &verify,
            UserRef::Id(user.id.as_str()),
            UserUpdate {
                email: Some(email.to_owned()),
                ..UserUpdate::default()
            },
        )
        .await?;
    }
    Ok(EmailChange::LinkSent)
}

/// What a password change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordChange {
    /// Changed: every session ended and every grant was revoked; the
    /// browser signs in again with the new password.
    Changed,
    /// The two new passwords differ: nothing changed.
    Mismatch,
    /// The new password breaks the rules ([`operator::check_password`]):
    /// nothing changed.
    Invalid(String),
    /// The current password was refused (wrong, or throttled): the
    /// sign-in message; nothing changed.
    Refused(LoginMessage),
}

/// Why a password change failed on the server side.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// The sign-in check failed.
    #[error(transparent)]
    SignIn(#[from] OAuthError),
    /// Setting the password failed.
    #[error(transparent)]
    Operator(#[from] OperatorError),
}

/// Changes the signed-in user's password. The new password is checked
/// first (twice the same, [`operator::check_password`]); then the current
/// one, through [`interaction::sign_in`], so that guessing it here counts
/// against the same throttle as the sign-in form (failures land in
/// `report`, like a sign-in's; a success is not reported as a sign-in:
/// the session it opens ends at once); then [`operator::set_password`]
/// sets it, ending every session (this one too) and revoking every grant.
pub async fn change_password(
    ctx: &Ctx<'_>,
    live: &LiveSession,
    current: &str,
    new: &str,
    confirm: &str,
    credentials_from: (&str, Option<&str>),
    report: &mut Report,
) -> Result<PasswordChange, ChangeError> {
    if new != confirm {
        return Ok(PasswordChange::Mismatch);
    }
    let personal = [live.user.username.as_str(), live.user.email.as_str()];
    if let Err(e) = operator::check_password(new, &personal) {
        return Ok(PasswordChange::Invalid(e.to_string()));
    }
    let (ip, user_agent) = credentials_from;
    let form = Credentials {
        username: live.user.username.as_str(),
        password: current,
        ip,
        user_agent,
    };
    // No `previous`: a failed change must not sign the user out;
    // `set_password` below ends every session, this one included.
    let checked = interaction::sign_in(ctx, &form, None, None, Acr::OneFactor, report).await?;
    if let interaction::SignIn::Refused(message) = checked {
        return Ok(PasswordChange::Refused(message));
    }
    // Not a sign-in of the user's: the check's session ends below.
    report.login_succeeded = false;
    operator::set_password(
        ctx.store,
        ctx.passwords,
        ctx.clock,
        live.user.username.as_str(),
        new,
    )
    .await?;
    Ok(PasswordChange::Changed)
}

/// Ends one of `user`'s sessions as a logout does ([`sessions::end`]: its
/// online grants are revoked). `NotFound` when the session is not a live
/// session of `user` (another user's id changes nothing).
pub async fn end_session(
    store: &dyn Store,
    clock: &dyn Clock,
    user: &UserId,
    session_id: &str,
) -> Result<(), OperatorError> {
    let nothing = || OperatorError::NotFound("no such session".into());
    if session_id.is_empty() || session_id.len() > 64 {
        return Err(nothing());
    }
    let s = store
        .sessions()
        .session_by_id(session_id)
        .await?
        .ok_or_else(nothing)?;
    if s.user_id.as_ref() != Some(user) || s.ended_at.is_some() {
        return Err(nothing());
    }
    sessions::end(store, clock, session_id).await?;
    Ok(())
}

/// Ends every session of `user` but `keep`, each as a logout does
/// ([`crate::protocol::logout::end_other_sessions`]: online grants revoked,
/// back-channel logout notifications queued), in one unit of work.
/// Returns how many sessions ended.
pub async fn end_other_sessions(
    store: &dyn Store,
    clock: &dyn Clock,
    user: &UserId,
    keep: &str,
) -> Result<u64, StoreError> {
    let uow = store.begin().await?;
    let ended =
        crate::protocol::logout::end_other_sessions(uow.as_ref(), user, keep, clock.now()).await?;
    uow.commit().await?;
    Ok(ended)
}

/// Withdraws `client`'s access: the consent and every grant of `user` to
/// it ([`grants::revoke_consent`], what the admin API does), so its
/// refresh tokens get `invalid_grant` and its access tokens stop working.
/// `NotFound` when there is nothing to revoke. Returns the client id.
pub async fn revoke_app(
    store: &dyn Store,
    clock: &dyn Clock,
    user: &UserId,
    client: &str,
) -> Result<ClientId, OperatorError> {
    grants::revoke_consent(store, clock, user, client).await?;
    ClientId::parse(client).ok_or_else(|| OperatorError::NotFound("no such client".into()))
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;
    use chrono::TimeZone;

    use super::*;
    use crate::ports::{EventFollower, EventStats};

    #[test]
    fn browser_names_are_readable() {
        let cases = [
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
                "Firefox on Linux",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
                "Chrome on Windows",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
                "Edge on Windows",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
                "Safari on macOS",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
                "Safari on iOS",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
                "Chrome on Android",
            ),
            ("curl/8.5.0", "Unknown browser"),
            ("", "Unknown browser"),
        ];
        for (ua, want) in cases {
            assert_eq!(browser_name(Some(ua)), want, "{ua}");
        }
        assert_eq!(browser_name(None), "Unknown browser");
    }

    fn session(auth_time: Option<DateTime<Utc>>) -> Session {
        let t = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap();
        Session {
            id: "s".into(),
            id_hash: crate::domain::TokenHash::of("c"),
            user_id: Some(UserId::new("u")),
            auth_time,
            amr: None,
            created_at: t,
            last_seen_at: t,
            expires_at: t + Duration::hours(8),
            ended_at: None,
            ip: None,
            user_agent: None,
            acr: None,
            second_factor_due: false,
        }
    }

    #[test]
    fn a_sensitive_action_needs_a_recent_sign_in() {
        let t = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap();
        let window = Duration::seconds(300);
        let s = session(Some(t));
        assert!(!needs_reauth(&s, t, window));
        assert!(!needs_reauth(&s, t + window, window), "the limit counts");
        assert!(needs_reauth(&s, t + window + Duration::seconds(1), window));
        assert!(needs_reauth(&session(None), t, window), "no sign-in known");
    }

    struct Down;

    #[async_trait]
    impl EventReader for Down {
        async fn recent(&self, _: usize) -> Result<Vec<Event>, EventReadError> {
            Err(EventReadError("down".into()))
        }
        async fn query(&self, _: &EventQuery) -> Result<Vec<Event>, EventReadError> {
            Err(EventReadError("down".into()))
        }
        async fn stats(&self, _: DateTime<Utc>) -> Result<EventStats, EventReadError> {
            Err(EventReadError("down".into()))
        }
        async fn hour_counts(
            &self,
            _: DateTime<Utc>,
        ) -> Result<std::collections::BTreeMap<DateTime<Utc>, u64>, EventReadError> {
            Err(EventReadError("down".into()))
        }
        async fn follow(&self) -> Result<Box<dyn EventFollower>, EventReadError> {
            Err(EventReadError("down".into()))
        }
    }

    struct Some3(Vec<Event>);

    #[async_trait]
    impl EventReader for Some3 {
        async fn recent(&self, _: usize) -> Result<Vec<Event>, EventReadError> {
            Ok(self.0.clone())
        }
        async fn query(&self, q: &EventQuery) -> Result<Vec<Event>, EventReadError> {
            Ok(self.0.iter().filter(|e| q.matches(e)).cloned().collect())
        }
        async fn stats(&self, _: DateTime<Utc>) -> Result<EventStats, EventReadError> {
            Err(EventReadError("unused".into()))
        }
        async fn hour_counts(
            &self,
            _: DateTime<Utc>,
        ) -> Result<std::collections::BTreeMap<DateTime<Utc>, u64>, EventReadError> {
            Err(EventReadError("unused".into()))
        }
        async fn follow(&self) -> Result<Box<dyn EventFollower>, EventReadError> {
            Err(EventReadError("unused".into()))
        }
    }

    #[tokio::test]
    async fn activity_lists_security_events_of_the_user_only() {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap();
        let stamp = |n: u8| crate::domain::event::EventStamp::new(now, [n; 10]);
        let alice = UserId::new("alice-id");
        let bob = UserId::new("bob-id");
        let client = ClientId::parse("app").unwrap();
        let reader = Some3(vec![
            Event::password_changed(stamp(1), &alice, "account"),
            Event::login_succeeded(stamp(2), &bob),
            Event::refresh_token_rotated(stamp(3), &client, &alice),
            Event::session_ended(stamp(4), &alice, Some(2)),
        ]);
        let got: Vec<EventKind> = activity(&reader, &alice)
            .await
            .unwrap()
            .iter()
            .map(Event::kind)
            .collect();
        assert_eq!(
            got,
            [EventKind::PasswordChanged, EventKind::SessionEnded],
            "only alice's, only security kinds"
        );
        assert!(activity(&Down, &alice).await.is_err());
    }
}
