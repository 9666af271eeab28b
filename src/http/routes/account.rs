//! `/account` and its forms: the end user's account page (docs/ACCOUNT.md,
//! "The account page"). Thin handlers over [`crate::app::account`]: every
//! POST checks the CSRF token first (403, nothing changes), then the
//! session (none: the sign-in form), then acts, and answers a success with
//! a 303 to `/account?done=<what>`, a fixed message per value.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use chrono::{DateTime, Utc};

use crate::app::account::{self, EmailChange, EmailSettings, PasswordChange};
use crate::app::operator::OperatorError;
use crate::domain::event::{DetailKey, Event, EventKind};
use crate::domain::mfa::Acr;
use crate::error::AppError;
use crate::http::audit::{self, RequestMeta};
use crate::http::extractors::{ClientIp, PageForm, Query};
use crate::http::pages;
use crate::http::session;
use crate::protocol::endpoints::Endpoint;
use crate::protocol::interaction::{
    self, Credentials, Ctx, LiveSession, LoginMessage, Report, SignIn,
};
use crate::protocol::params::RawParams;
use crate::state::AppState;

/// The last sentence of this page's CSRF refusal (`session::require_csrf`).
const START_OVER: &str = "Open your account page again.";

/// `action` of the account sign-in (and re-authentication) form.
pub const LOGIN_PATH: &str = Endpoint::AccountLogin.path();
/// `action` of the sign-out button.
pub const LOGOUT_PATH: &str = Endpoint::AccountLogout.path();
/// `action` of the name form.
pub const PROFILE_PATH: &str = Endpoint::AccountProfile.path();
/// `action` of the e-mail form.
pub const EMAIL_PATH: &str = Endpoint::AccountEmail.path();
/// `action` of the password form.
pub const PASSWORD_PATH: &str = Endpoint::AccountPassword.path();
/// `action` of the session forms.
pub const SESSION_END_PATH: &str = Endpoint::AccountSessionEnd.path();
/// `action` of the "Revoke access" forms.
pub const APP_REVOKE_PATH: &str = Endpoint::AccountAppRevoke.path();

/// The sign-in form of the account page.
#[derive(Template)]
#[template(path = "account_login.html")]
struct LoginPage<'a> {
    csrf: &'a str,
    username: &'a str,
    notice: Option<&'a str>,
    message: Option<&'a str>,
}

/// The page after signing out.
#[derive(Template)]
#[template(path = "account_signed_out.html")]
struct SignedOutPage;

/// One session line.
struct SessionRow {
    id: String,
    browser: String,
    ip: String,
    started: String,
    seen: String,
    current: bool,
}

/// One application line.
struct AppRow {
    client_id: String,
    name: String,
    lines: Vec<String>,
    granted: String,
    last_used: String,
}

/// One activity line.
struct ActivityRow {
    text: &'static str,
    when: String,
    ip: Option<String>,
}

/// The account page.
#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    csrf: &'a str,
    username: &'a str,
    name: &'a str,
    email: &'a str,
    email_verified: bool,
    notice: Option<&'a str>,
    error: Option<&'a str>,
    sessions: Vec<SessionRow>,
    has_others: bool,
    apps: Vec<AppRow>,
    activity: Vec<ActivityRow>,
    activity_down: bool,
}

/// The one-time messages of `?done=`: fixed texts, never the query's.
fn done_text(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "signed_in" => "You are signed in.",
        "profile" => "Your name was saved.",
        "email" => {
            "We sent a verification link to your new address. Follow it to verify the address."
        }
        "email_unchanged" => "This address is your verified address already: nothing changed.",
        "password" => {
            "Your password was changed and you were signed out everywhere. Sign in with your new password."
        }
        "session" => "The session was signed out.",
        "others" => "Every other session was signed out.",
        "app" => "The application's access was revoked.",
        _ => return None,
    })
}

fn activity_text(kind: EventKind) -> &'static str {
    match kind {
        EventKind::LoginSucceeded => "Signed in",
        EventKind::LoginFailed => "Failed sign-in attempt",
        EventKind::PasswordChanged => "Password changed",
        EventKind::PasswordResetRequested => "Password reset requested",
        EventKind::EmailVerified => "E-mail address verified",
        EventKind::SessionEnded => "Signed out a session",
        EventKind::ConsentRevoked => "Application access revoked",
        _ => "Account activity",
    }
}

pub(crate) fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

pub(crate) fn ctx(state: &AppState) -> Ctx<'_> {
    crate::http::routes::authorize::ctx(state)
}

pub(crate) fn unavailable(what: &dyn std::fmt::Display) -> AppError {
    tracing::warn!(error = %what, "account page: dependency unavailable");
    AppError::page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Temporarily unavailable",
        "Your account cannot be shown or changed right now. Try again in a moment.",
    )
}

pub(crate) fn bad_form() -> AppError {
    AppError::page(
        StatusCode::BAD_REQUEST,
        "Cannot continue",
        "The form was incomplete. Open your account page again.",
    )
}

pub(crate) fn emit(state: &AppState, meta: &RequestMeta, e: Event) {
    state.events.emit(e.request(
        meta.ip,
        meta.user_agent.as_deref(),
        meta.request_id.as_deref(),
    ));
}

/// The browser's cookie value and its live session, if any.
pub(crate) async fn current(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(Option<String>, Option<LiveSession>), AppError> {
    let cookie = session::read_cookie(headers, &state.config, &state.session_key);
    let live = match cookie.as_deref() {
        Some(value) => interaction::load_session(&ctx(state), value)
            .await
            .map_err(|e| unavailable(&e))?,
        None => None,
    };
    Ok((cookie, live))
}

/// A POST's checks, in order: the form's CSRF token, then the session.
/// `Err(response)`: what to answer instead (403, or the sign-in form).
pub(crate) async fn checked(
    state: &AppState,
    headers: &HeaderMap,
    form: &RawParams,
) -> Result<Result<(String, LiveSession), Response>, AppError> {
    let cookie = session::read_cookie(headers, &state.config, &state.session_key);
    session::require_csrf(
        &state.session_key,
        cookie.as_deref(),
        form.get("csrf_token"),
        START_OVER,
    )?;
    let (cookie, live) = current(state, headers).await?;
    match (cookie, live) {
        (Some(c), Some(l)) => Ok(Ok((c, l))),
        (cookie, _) => Ok(Err(login_page(
            state,
            cookie,
            StatusCode::OK,
            Some("Your session has ended. Sign in to continue."),
            None,
            "",
        ))),
    }
}

/// [`checked`], then the rule of sensitive changes: a sign-in older than
/// `PORTCULLIS_ACCOUNT_REAUTH_SECS` gets the re-authentication form
/// instead, and nothing is done.
pub(crate) async fn checked_recent(
    state: &AppState,
    headers: &HeaderMap,
    form: &RawParams,
) -> Result<Result<(String, LiveSession), Response>, AppError> {
    let (cookie, live) = match checked(state, headers, form).await? {
        Ok(v) => v,
        Err(page) => return Ok(Err(page)),
    };
    if needs_reauth(state, &live) {
        return Ok(Err(reauth_page(state, cookie, &live)));
    }
    Ok(Ok((cookie, live)))
}

/// The sign-in form; a browser without a cookie gets one (the CSRF token
/// is bound to it).
pub(crate) fn login_page(
    state: &AppState,
    cookie: Option<String>,
    status: StatusCode,
    notice: Option<&str>,
    message: Option<LoginMessage>,
    username: &str,
) -> Response {
    let (cookie, set) = session::cookie_or_fresh(cookie, state.rng.as_ref());
    let csrf = session::csrf_token(&state.session_key, &cookie);
    let page = LoginPage {
        csrf: &csrf,
        username,
        notice,
        message: message.map(LoginMessage::text),
    };
    let mut resp = pages::html(status, page.render(), None);
    if status == StatusCode::TOO_MANY_REQUESTS {
        let secs = state.config.auth.login_lockout.num_seconds().to_string();
        if let Ok(v) = HeaderValue::from_str(&secs) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    if set && let Some(v) = session::set_cookie(&state.config, &state.session_key, &cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// The re-authentication form: a sensitive action was asked with a
/// sign-in older than `PORTCULLIS_ACCOUNT_REAUTH_SECS`; nothing was done.
pub(crate) fn reauth_page(state: &AppState, cookie: String, live: &LiveSession) -> Response {
    login_page(
        state,
        Some(cookie),
        StatusCode::OK,
        Some("For your security, sign in again to continue. Then repeat the change."),
        None,
        live.user.username.as_str(),
    )
}

pub(crate) fn needs_reauth(state: &AppState, live: &LiveSession) -> bool {
    account::needs_reauth(
        &live.session,
        state.clock.now(),
        state.config.self_service.account_reauth,
    )
}

/// A 303 to the account page with a one-time message.
fn done(what: &str) -> Response {
    pages::see_other(&format!("{}?done={what}", pages::ACCOUNT_PATH))
}

/// The account page of `live`, with a notice or an error.
async fn account_page(
    state: &AppState,
    cookie: &str,
    live: &LiveSession,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<&str>,
) -> Result<Response, AppError> {
    let store = state.store.as_ref();
    let now = state.clock.now();
    let user = &live.user;
    let sessions = account::session_lines(store, live, now, state.config.auth.session_idle)
        .await
        .map_err(|e| unavailable(&e))?;
    let apps = account::app_lines(store, &user.id)
        .await
        .map_err(|e| unavailable(&e))?;
    let (activity, activity_down) =
        match account::activity(state.event_reader.as_ref(), &user.id).await {
            Ok(events) => (events, false),
            Err(e) => {
                tracing::warn!(error = %e, "account page: the event store cannot be read");
                (Vec::new(), true)
            }
        };
    let csrf = session::csrf_token(&state.session_key, cookie);
    let page = AccountPage {
        csrf: &csrf,
        username: user.username.as_str(),
        name: user.name.as_deref().unwrap_or_default(),
        email: &user.email,
        email_verified: user.email_verified,
        notice,
        error,
        has_others: sessions.iter().any(|s| !s.current),
        sessions: sessions
            .into_iter()
            .map(|s| SessionRow {
                ip: s.ip.unwrap_or_else(|| "unknown".to_owned()),
                started: when(s.created_at),
                seen: when(s.last_seen_at),
                id: s.id,
                browser: s.browser,
                current: s.current,
            })
            .collect(),
        apps: apps
            .into_iter()
            .map(|a| AppRow {
                lines: a.scopes.iter().map(|s| pages::describe_scope(s)).collect(),
                granted: when(a.granted_at),
                last_used: a.last_used.map_or_else(|| "never".to_owned(), when),
                client_id: a.client_id,
                name: a.name,
            })
            .collect(),
        activity: activity
            .iter()
            .map(|e| ActivityRow {
                text: activity_text(e.kind()),
                when: when(e.occurred_at()),
                ip: e.ip().map(|ip| ip.to_string()),
            })
            .collect(),
        activity_down,
    };
    Ok(pages::html(status, page.render(), None))
}

/// `GET /account`: the account page, or the sign-in form without a live
/// session.
pub async fn get_account(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query,
) -> Result<Response, AppError> {
    let notice = done_text(query.get("done"));
    let (cookie, live) = current(&state, &headers).await?;
    match (cookie, live) {
        (Some(cookie), Some(live)) => {
            account_page(&state, &cookie, &live, StatusCode::OK, notice, None).await
        }
        (cookie, _) => Ok(login_page(&state, cookie, StatusCode::OK, notice, None, "")),
    }
}

/// `POST /account/login`: the sign-in (and re-authentication) form, through
/// the one throttled sign-in; a new session, then a 303 to `/account`.
pub async fn post_account_login(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    PageForm(form): PageForm,
) -> Result<Response, AppError> {
    let cookie = session::read_cookie(&headers, &state.config, &state.session_key);
    session::require_csrf(
        &state.session_key,
        cookie.as_deref(),
        form.get("csrf_token"),
        START_OVER,
    )?;
    let Some(username) = form.get("username") else {
        return Err(bad_form());
    };
    let (cookie, previous) = current(&state, &headers).await?;
    let mut report = Report::default();
    let credentials = Credentials {
        username,
        password: form.get("password").unwrap_or_default(),
        ip: &ip,
        user_agent: meta.user_agent.as_deref(),
    };
    // Every sign-in of a user with a second factor asks for it
    // (docs/MFA.md); the account page itself requires no more.
    let result = interaction::sign_in(
        &ctx(&state),
        &credentials,
        previous.as_ref(),
        None,
        Acr::OneFactor,
        &mut report,
    )
    .await;
    audit::interaction(&state, &meta, &report);
    match result.map_err(|e| unavailable(&e))? {
        SignIn::Started(live, new) => {
            tracing::info!(session_id = %live.session.id, subject = %live.user.id, "account sign-in");
            let mut resp = done("signed_in");
            if let Some(v) =
                session::set_cookie(&state.config, &state.session_key, &new.cookie_value)
            {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
            Ok(resp)
        }
        SignIn::SecondFactorDue(live, new) => {
            let offered = interaction::offered_factors(&ctx(&state), &live.user.id)
                .await
                .map_err(|e| unavailable(&e))?;
            let mut resp = crate::http::routes::mfa_login::account_factor_page(
                &state,
                &new.cookie_value,
                offered,
                None,
            );
            if let Some(v) =
                session::set_cookie(&state.config, &state.session_key, &new.cookie_value)
            {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
            Ok(resp)
        }
        // Nothing is required here beyond one factor.
        SignIn::Unmet => Ok(login_page(
            &state,
            cookie,
            StatusCode::OK,
            None,
            None,
            username,
        )),
        SignIn::Refused(message) => {
            let status = if message == LoginMessage::AddressThrottled {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::OK
            };
            Ok(login_page(
                &state,
                cookie,
                status,
                None,
                Some(message),
                username,
            ))
        }
    }
}

/// `POST /account/logout`: ends this session (and the grants made in it,
/// as a logout does), clears the cookie, shows the signed-out page.
pub async fn post_account_logout(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    PageForm(form): PageForm,
) -> Result<Response, AppError> {
    let cookie = session::read_cookie(&headers, &state.config, &state.session_key);
    session::require_csrf(
        &state.session_key,
        cookie.as_deref(),
        form.get("csrf_token"),
        START_OVER,
    )?;
    let (_, live) = current(&state, &headers).await?;
    if let Some(live) = live {
        let now = state.clock.now();
        let ended =
            crate::app::sessions::end_one(state.store.as_ref(), now, &live.session.id).await;
        if let Err(e) = ended {
            return Err(unavailable(&e));
        }
        tracing::info!(session_id = %live.session.id, subject = %live.user.id, "account sign-out");
        audit::logout(&state, &meta, &live.user.id, &live.session.id, "user");
    }
    let mut resp = pages::html(StatusCode::OK, SignedOutPage.render(), None);
    if let Some(v) = session::clear_cookie(&state.config) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}

/// `POST /account/profile`: the name (empty removes it).
pub async fn post_account_profile(
    State(state): State<AppState>,
    headers: HeaderMap,
    PageForm(form): PageForm,
) -> Result<Response, AppError> {
    let (cookie, live) = match checked(&state, &headers, &form).await? {
        Ok(v) => v,
        Err(page) => return Ok(page),
    };
    let Some(name) = form.get("name") else {
        return Err(bad_form());
    };
    let verify = crate::app::verification::Sender::from_config(&state.config, state.rng.as_ref());
    match account::change_name(
        state.store.as_ref(),
        state.clock.as_ref(),
        &verify,
        &live.user,
        name,
    )
    .await
    {
        Ok(()) => Ok(done("profile")),
        Err(OperatorError::Invalid(msg)) => {
            account_page(
                &state,
                &cookie,
                &live,
                StatusCode::BAD_REQUEST,
                None,
                Some(&msg),
            )
            .await
        }
        Err(e) => Err(unavailable(&e)),
    }
}

/// `POST /account/email`: a new address, unverified until its link is
/// followed. Needs a recent sign-in.
pub async fn post_account_email(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    PageForm(form): PageForm,
) -> Result<Response, AppError> {
    let (cookie, live) = match checked(&state, &headers, &form).await? {
        Ok(v) => v,
        Err(page) => return Ok(page),
    };
    let Some(email) = form.get("email") else {
        return Err(bad_form());
    };
    if needs_reauth(&state, &live) {
        return Ok(reauth_page(&state, cookie, &live));
    }
    let settings = EmailSettings {
        issuer: &state.config.issuer,
        self_service: &state.config.self_service,
    };
    let result = account::change_email(
        state.store.as_ref(),
        state.rng.as_ref(),
        state.clock.as_ref(),
        &settings,
        &live.user,
        email,
        &ip,
    )
    .await;
    match result {
        Ok(EmailChange::LinkSent) => {
            state.mail_wake.notify_one();
            tracing::info!(subject = %live.user.id, "account: e-mail address changed, link sent");
            Ok(done("email"))
        }
        Ok(EmailChange::Unchanged) => Ok(done("email_unchanged")),
        Ok(EmailChange::TooMany) => {
            account_page(
                &state,
                &cookie,
                &live,
                StatusCode::TOO_MANY_REQUESTS,
                None,
                Some("Too many e-mails were sent to this address. Try again in an hour."),
            )
            .await
        }
        Err(OperatorError::Invalid(_)) => {
            account_page(
                &state,
                &cookie,
                &live,
                StatusCode::BAD_REQUEST,
                None,
                Some("That is not an e-mail address. Check it and try again."),
            )
            .await
        }
        Err(e) => Err(unavailable(&e)),
    }
}

/// `POST /account/password`: the current password (throttled like a
/// sign-in; it counts as the re-authentication), the new one twice. On
/// success every session ends, this one too: the browser is sent to the
/// sign-in with a message.
pub async fn post_account_password(
    State(state): State<AppState>,
    meta: RequestMeta,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    PageForm(form): PageForm,
) -> Result<Response, AppError> {
    let (cookie, live) = match checked(&state, &headers, &form).await? {
        Ok(v) => v,
        Err(page) => return Ok(page),
    };
    let (Some(current), Some(new), Some(again)) = (
        form.get("current_password"),
        form.get("new_password"),
        form.get("new_password_again"),
    ) else {
        return Err(bad_form());
    };
    let mut report = Report::default();
    let result = account::change_password(
        &ctx(&state),
        &live,
        current,
        new,
        again,
        (&ip, meta.user_agent.as_deref()),
        &mut report,
    )
    .await;
    audit::interaction(&state, &meta, &report);
    let error = |status: StatusCode, text: String| {
        let state = state.clone();
        let cookie = cookie.clone();
        let live = live.clone();
        async move {
            let mut resp = account_page(&state, &cookie, &live, status, None, Some(&text)).await?;
            if status == StatusCode::TOO_MANY_REQUESTS {
                let secs = state.config.auth.login_lockout.num_seconds().to_string();
                if let Ok(v) = HeaderValue::from_str(&secs) {
                    resp.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            Ok::<_, AppError>(resp)
        }
    };
    match result.map_err(|e| unavailable(&e))? {
        PasswordChange::Changed => {
            tracing::info!(subject = %live.user.id, "account: password changed");
            emit(
                &state,
                &meta,
                Event::password_changed(
                    audit::event_stamp(state.rng.as_ref(), state.clock.now()),
                    &live.user.id,
                    "account",
                ),
            );
            Ok(done("password"))
        }
        PasswordChange::Mismatch => {
            error(
                StatusCode::BAD_REQUEST,
                "The two new passwords differ. Type the same new password twice.".into(),
            )
            .await
        }
        PasswordChange::Invalid(msg) => {
            error(StatusCode::BAD_REQUEST, format!("New password: {msg}.")).await
        }
        PasswordChange::Refused(message) => {
            let (status, text) = match message {
                LoginMessage::AddressThrottled => {
                    (StatusCode::TOO_MANY_REQUESTS, message.text().to_owned())
                }
                LoginMessage::BadCredentials => (
                    StatusCode::BAD_REQUEST,
                    "Your current password is not correct. Nothing was changed.".to_owned(),
                ),
                other => (StatusCode::BAD_REQUEST, other.text().to_owned()),
            };
            error(status, text).await
        }
    }
}

/// `POST /account/sessions/end`: `session_id` ends one of the user's
/// sessions (another user's id changes nothing: 404); `others=1` ends
/// every other session (needs a recent sign-in).
pub async fn post_account_session_end(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    PageForm(form): PageForm,
) -> Result<Response, AppError> {
    let (cookie, live) = match checked(&state, &headers, &form).await? {
        Ok(v) => v,
        Err(page) => return Ok(page),
    };
    let stamp = || audit::event_stamp(state.rng.as_ref(), state.clock.now());
    if form.get("others") == Some("1") {
        if needs_reauth(&state, &live) {
            return Ok(reauth_page(&state, cookie, &live));
        }
        let ended = account::end_other_sessions(
            state.store.as_ref(),
            state.clock.as_ref(),
            &live.user.id,
            &live.session.id,
        )
        .await
        .map_err(|e| unavailable(&e))?;
        tracing::info!(subject = %live.user.id, ended, "account: other sessions ended");
        emit(
            &state,
            &meta,
            Event::session_ended(stamp(), &live.user.id, Some(ended)).session(&live.session.id),
        );
        return Ok(done("others"));
    }
    let Some(id) = form.get("session_id") else {
        return Err(bad_form());
    };
    match account::end_session(
        state.store.as_ref(),
        state.clock.as_ref(),
        &live.user.id,
        id,
    )
    .await
    {
        Ok(()) => {
            tracing::info!(subject = %live.user.id, session_id = %id, "account: session ended");
            emit(
                &state,
                &meta,
                Event::session_ended(stamp(), &live.user.id, None)
                    .session(id)
                    .detail(DetailKey::Initiator, "user"),
            );
            Ok(done("session"))
        }
        Err(OperatorError::NotFound(_)) => {
            account_page(
                &state,
                &cookie,
                &live,
                StatusCode::NOT_FOUND,
                None,
                Some("That session is not one of yours, or it has ended already."),
            )
            .await
        }
        Err(e) => Err(unavailable(&e)),
    }
}

/// `POST /account/apps/revoke`: withdraws an application's access (the
/// consent and every grant of the user to it: its tokens stop working).
pub async fn post_account_app_revoke(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    PageForm(form): PageForm,
) -> Result<Response, AppError> {
    let (cookie, live) = match checked(&state, &headers, &form).await? {
        Ok(v) => v,
        Err(page) => return Ok(page),
    };
    let Some(client) = form.get("client_id") else {
        return Err(bad_form());
    };
    match account::revoke_app(
        state.store.as_ref(),
        state.clock.as_ref(),
        &live.user.id,
        client,
    )
    .await
    {
        Ok(client) => {
            tracing::info!(subject = %live.user.id, client_id = %client, "account: application access revoked");
            audit::consent_revoked(&state, &meta, &client, &live.user.id, "user");
            Ok(done("app"))
        }
        Err(OperatorError::NotFound(_)) => {
            account_page(
                &state,
                &cookie,
                &live,
                StatusCode::NOT_FOUND,
                None,
                Some("That application has no access to your account."),
            )
            .await
        }
        Err(e) => Err(unavailable(&e)),
    }
}
