//! `/password/forgot` and `/password/reset`: password reset by mail
//! (docs/ACCOUNT.md, "Password reset"). Thin handlers over
//! [`crate::app::reset`].
//!
//! `POST /password/forgot` answers the same page, with the same status, at
//! once, whether or not an account matches: the lookup, the mail limit and
//! the queueing run in a background task after the answer, so that neither
//! the answer nor its time tells whether an account exists.

use askama::Template as _;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

use crate::app::reset::{self, Completed};
use crate::domain::UserId;
use crate::domain::event::Event;
use crate::error::AppError;
use crate::http::audit::{RequestMeta, event_stamp};
use crate::http::extractors::{ClientIp, PageForm, Query};
use crate::http::pages::{self, NoticePage, PasswordForgotPage, PasswordResetPage};
use crate::http::session;
use crate::ports::StoreError;
use crate::state::AppState;

/// The browser's cookie value for the CSRF token of an anonymous form:
/// the one it holds, or a new random one (then the `Set-Cookie` to send),
/// as the sign-in page does (`http::session`).
pub(super) fn browser_cookie(
    state: &AppState,
    headers: &HeaderMap,
) -> (String, Option<HeaderValue>) {
    let cookie = session::read_cookie(headers, &state.config, &state.session_key);
    let (c, fresh) = session::cookie_or_fresh(cookie, state.rng.as_ref());
    let set = if fresh {
        session::set_cookie(&state.config, &state.session_key, &c)
    } else {
        None
    };
    (c, set)
}

/// Renders a page (no-store, the default CSP: `form-action 'self'`), with
/// the cookie to set, if any.
pub(super) fn page(
    status: StatusCode,
    body: Result<String, askama::Error>,
    set_cookie: Option<HeaderValue>,
) -> Response {
    let mut resp = pages::html(status, body, None);
    if let Some(v) = set_cookie {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// A notice page.
pub(super) fn notice(
    status: StatusCode,
    title: &str,
    message: &str,
    link: Option<(&str, &str)>,
) -> Response {
    let alert = !status.is_success();
    page(
        status,
        NoticePage {
            title,
            message,
            detail: None,
            link,
            alert,
        }
        .render(),
        None,
    )
}

/// The CSRF check of an anonymous form ([`session::require_csrf`]).
pub(super) fn check_csrf(
    state: &AppState,
    headers: &HeaderMap,
    form: &crate::protocol::params::RawParams,
) -> Result<(), AppError> {
    let cookie = session::read_cookie(headers, &state.config, &state.session_key);
    session::require_csrf(
        &state.session_key,
        cookie.as_deref(),
        form.get("csrf_token"),
        "Open the page again and send it once more.",
    )
}

/// The store failed: a page, the detail in the log.
pub(super) fn unavailable(what: &'static str, e: &dyn std::fmt::Display) -> AppError {
    tracing::warn!(error = %e, "{what}: store unavailable");
    AppError::page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Temporarily unavailable",
        "The service cannot complete your request right now. Try again in a moment.",
    )
}

/// Emits `e` with the request's metadata.
pub(super) fn emit(state: &AppState, meta: &RequestMeta, e: Event) {
    state.events.emit(e.request(
        meta.ip,
        meta.user_agent.as_deref(),
        meta.request_id.as_deref(),
    ));
}

fn forgot_form(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    login: &str,
    message: Option<&str>,
) -> Response {
    let (cookie, set) = browser_cookie(state, headers);
    let csrf = session::csrf_token(&state.session_key, &cookie);
    page(
        status,
        PasswordForgotPage {
            csrf: &csrf,
            login,
            message,
        }
        .render(),
        set,
    )
}

/// `GET /password/forgot`: the form (username or e-mail address).
pub async fn get_forgot(State(state): State<AppState>, headers: HeaderMap) -> Response {
    forgot_form(&state, &headers, StatusCode::OK, "", None)
}

/// `POST /password/forgot`: answers "check your mail" at once; the lookup,
/// the mail limit and the link run in a background task.
pub async fn post_forgot(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    PageForm(form): PageForm,
) -> Result<Response, AppError> {
    check_csrf(&state, &headers, &form)?;
    let typed = form.get("login").unwrap_or_default();
    let login = match reset::check_login(typed) {
        Ok(l) => l.to_owned(),
        Err(msg) => {
            let shown: String = typed.chars().take(reset::MAX_LOGIN_CHARS).collect();
            return Ok(forgot_form(
                &state,
                &headers,
                StatusCode::BAD_REQUEST,
                &shown,
                Some(msg),
            ));
        }
    };
    let task_state = state.clone();
    tokio::spawn(async move {
        request_links(&task_state, &meta, &login, &ip).await;
    });
    Ok(notice(
        StatusCode::OK,
        "Check your mail",
        "If an account matches what you typed, we have sent a link to choose a new password to its e-mail address. The link works once and for a short time. No mail? Check your spam folder, or try again in a few minutes.",
        None,
    ))
}

/// The background half of `POST /password/forgot`. Logs failures, never
/// what was typed.
async fn request_links(state: &AppState, meta: &RequestMeta, login: &str, ip: &str) {
    let ctx = ctx(state);
    match reset::request(&ctx, login, ip).await {
        Ok(found) => {
            if found.iter().any(|r| r.sent) {
                state.mail_wake.notify_one();
            }
            let stamp = || event_stamp(state.rng.as_ref(), state.clock.now());
            if found.is_empty() {
                emit(state, meta, Event::password_reset_requested(stamp(), None));
            }
            for r in &found {
                if !r.sent {
                    tracing::info!(subject = %r.user, "password reset: hourly mail limit reached, no link sent");
                }
                emit(
                    state,
                    meta,
                    Event::password_reset_requested(stamp(), Some(&r.user)),
                );
            }
        }
        Err(e) => tracing::warn!(error = %e, "password reset request failed"),
    }
}

fn ctx(state: &AppState) -> reset::Ctx<'_> {
    reset::Ctx {
        store: state.store.as_ref(),
        rng: state.rng.as_ref(),
        clock: state.clock.as_ref(),
        hasher: state.passwords.as_ref(),
        config: &state.config,
    }
}

fn bad_link() -> Response {
    notice(
        StatusCode::BAD_REQUEST,
        "This link does not work",
        "This password reset link has expired or was already used (a newer link replaces older ones). Ask for a new link.",
        Some((pages::PASSWORD_FORGOT_PATH, "Ask for a new link")),
    )
}

fn reset_form(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    username: &str,
    token: &str,
    message: Option<&str>,
) -> Response {
    let (cookie, set) = browser_cookie(state, headers);
    let csrf = session::csrf_token(&state.session_key, &cookie);
    page(
        status,
        PasswordResetPage {
            username,
            token,
            csrf: &csrf,
            message,
            min_chars: crate::domain::password::MIN_CHARS,
        }
        .render(),
        set,
    )
}

/// `GET /password/reset?token=`: the new-password form, or a page saying
/// the link does not work. Uses nothing.
pub async fn get_reset(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query,
) -> Result<Response, AppError> {
    if query.first_repeated().is_some() {
        return Ok(bad_link());
    }
    let token = query.get("token").unwrap_or_default();
    let user = reset::open(state.store.as_ref(), token, state.clock.now())
        .await
        .map_err(|e: StoreError| unavailable("password reset", &e))?;
    Ok(match user {
        Some(u) => reset_form(
            &state,
            &headers,
            StatusCode::OK,
            u.username.as_str(),
            token,
            None,
        ),
        None => bad_link(),
    })
}

/// `POST /password/reset`: the new password, twice. Refused by the
/// password rules: the form again, the link still usable. Otherwise the
/// link is used, the password set, every session ended and every grant
/// revoked.
pub async fn post_reset(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    PageForm(form): PageForm,
) -> Result<Response, AppError> {
    check_csrf(&state, &headers, &form)?;
    let token = form.get("token").unwrap_or_default();
    let result = reset::complete(
        &ctx(&state),
        token,
        form.get("password").unwrap_or_default(),
        form.get("password2").unwrap_or_default(),
    )
    .await
    .map_err(|e| unavailable("password reset", &e))?;
    Ok(match result {
        Completed::BadLink => bad_link(),
        Completed::Refused(user, msg) => reset_form(
            &state,
            &headers,
            StatusCode::BAD_REQUEST,
            user.username.as_str(),
            token,
            Some(&msg),
        ),
        Completed::Changed(user) => {
            state.mail_wake.notify_one();
            changed_event(&state, &meta, &user.id);
            tracing::info!(subject = %user.id, "password reset: password changed");
            notice(
                StatusCode::OK,
                "Your password was changed",
                "Sign in with your new password. Every device that was signed in to your account has been signed out.",
                Some((pages::ACCOUNT_PATH, "Sign in to your account")),
            )
        }
    })
}

fn changed_event(state: &AppState, meta: &RequestMeta, user: &UserId) {
    let stamp = event_stamp(state.rng.as_ref(), state.clock.now());
    emit(state, meta, Event::password_changed(stamp, user, "reset"));
}
