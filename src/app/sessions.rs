//! A user's login sessions, as the CLI (`portcullis session ...`) and the
//! admin API (`/admin/v1/users/{user_id}/sessions`, `/admin/v1/sessions`)
//! see them. Ending a session is a logout by the operator, with the same
//! effects as RP-Initiated Logout (`http::routes::logout`), through
//! [`logout::end_session`]: the session ends, the grants made in it are
//! revoked except the `offline_access` ones, which outlive the session
//! (OpenID Connect Core §11), and the clients that signed in to it are
//! sent a back-channel logout token (`app::backchannel`). Callers that
//! record events emit `logout` with `initiator: operator` for each session
//! ended.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::operator::OperatorError;
use super::users::{self, UserRef};
use crate::domain::{Session, UserId};
use crate::ports::{Clock, Store};
use crate::protocol::admin::{Page, PageRequest};
use crate::protocol::logout;

/// A session as operators see it (never the cookie value or its hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionView {
    /// The session id (the `sid` claim of ID tokens).
    pub session_id: String,
    /// The signed-in user.
    pub user_id: String,
    /// When it was opened.
    pub created_at: DateTime<Utc>,
    /// The last request seen in it (the idle timeout runs from here).
    pub last_seen_at: DateTime<Utc>,
    /// Its absolute expiry.
    pub expires_at: DateTime<Utc>,
    /// When the user authenticated.
    pub auth_time: Option<DateTime<Utc>>,
    /// The authentication methods (`amr`, e.g. `["pwd"]`).
    pub amr: Vec<String>,
    /// When it ended (logout, an operator, a new password); `null` while
    /// it lasts.
    pub ended_at: Option<DateTime<Utc>>,
}

impl SessionView {
    fn of(s: &Session, user: &UserId) -> Self {
        Self {
            session_id: s.id.clone(),
            user_id: user.as_str().to_owned(),
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            expires_at: s.expires_at,
            auth_time: s.auth_time,
            amr: s
                .amr
                .as_deref()
                .and_then(|a| serde_json::from_str(a).ok())
                .unwrap_or_default(),
            ended_at: s.ended_at,
        }
    }
}

/// Sessions fetched per round when ending all of a user's.
const END_ALL_BATCH: u64 = 100;

/// One page of a user's live sessions (not ended, not expired, not idle
/// longer than `idle`), ordered by id. `NotFound` if there is no such user.
pub async fn list(
    store: &dyn Store,
    clock: &dyn Clock,
    idle: Duration,
    r: UserRef<'_>,
    page: &PageRequest,
) -> Result<Page<SessionView>, OperatorError> {
    let user = users::find(store, r).await?;
    let now = clock.now();
    let rows = store
        .sessions()
        .list_live_sessions(
            &user.id,
            now,
            now - idle,
            page.after.as_deref(),
            page.fetch(),
        )
        .await?;
    let views = rows.iter().map(|s| SessionView::of(s, &user.id)).collect();
    Ok(Page::of(views, page, |s: &SessionView| {
        s.session_id.clone()
    }))
}

/// A signed-in session by id, ended or not. `NotFound` for an unknown id
/// or a session nobody signed in to.
pub async fn show(store: &dyn Store, session_id: &str) -> Result<SessionView, OperatorError> {
    let s = signed_in(store, session_id).await?;
    let user = s.user_id.clone().ok_or_else(|| no_session(session_id))?;
    Ok(SessionView::of(&s, &user))
}

fn no_session(id: &str) -> OperatorError {
    OperatorError::NotFound(format!("no session {id}"))
}

async fn signed_in(store: &dyn Store, session_id: &str) -> Result<Session, OperatorError> {
    if session_id.is_empty() || session_id.len() > 64 {
        return Err(no_session(session_id));
    }
    store
        .sessions()
        .session_by_id(session_id)
        .await?
        .filter(|s| s.user_id.is_some())
        .ok_or_else(|| no_session(session_id))
}

/// A session an operator ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    /// The session.
    pub session_id: String,
    /// Its user.
    pub user_id: UserId,
}

/// Ends one session as a logout does (the module documentation).
/// `NotFound` if unknown or already ended.
pub async fn end(
    store: &dyn Store,
    clock: &dyn Clock,
    session_id: &str,
) -> Result<Ended, OperatorError> {
    let s = signed_in(store, session_id).await?;
    let user_id = s.user_id.clone().ok_or_else(|| no_session(session_id))?;
    if !end_one(store, clock.now(), &s.id).await? {
        return Err(OperatorError::NotFound(format!(
            "session {session_id} has ended already"
        )));
    }
    Ok(Ended {
        session_id: s.id,
        user_id,
    })
}

/// Ends the session as a logout does, in a unit of work of its own
/// ([`logout::end_session`]: its online grants are revoked, not the
/// `offline_access` ones, OpenID Connect Core §11; its clients'
/// back-channel logout notifications are queued); `false` if it had ended
/// already.
pub async fn end_one(
    store: &dyn Store,
    now: DateTime<Utc>,
    id: &str,
) -> Result<bool, crate::ports::StoreError> {
    let uow = store.begin().await?;
    if !logout::end_session(uow.as_ref(), id, now).await? {
        return Ok(false);
    }
    uow.commit().await?;
    Ok(true)
}

/// Ends every live session of a user, each as a logout does. Returns the
/// user and the sessions ended (`NotFound` if there is no such user).
pub async fn end_all(
    store: &dyn Store,
    clock: &dyn Clock,
    idle: Duration,
    r: UserRef<'_>,
) -> Result<(UserId, Vec<String>), OperatorError> {
    let user = users::find(store, r).await?;
    let now = clock.now();
    let mut live = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let batch = store
            .sessions()
            .list_live_sessions(&user.id, now, now - idle, after.as_deref(), END_ALL_BATCH)
            .await?;
        live.extend(batch.iter().map(|s| s.id.clone()));
        match batch.last() {
            Some(last) if batch.len() as u64 == END_ALL_BATCH => after = Some(last.id.clone()),
            _ => break,
        }
    }
    // Every session, idle ones and a pending sign-in (password given,
    // second factor owed) too: ending "all sessions" must not leave one to
    // be completed. The live ones are those reported.
    let uow = store.begin().await?;
    let ended_now = logout::end_user_sessions(uow.as_ref(), &user.id, now).await?;
    uow.commit().await?;
    let ended = live
        .into_iter()
        .filter(|id| ended_now.contains(id))
        .collect();
    Ok((user.id, ended))
}
