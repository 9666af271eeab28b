//! `POST /login/factor` and `POST /login/passkey`: the second factor and
//! the passkey sign-ins, of an authorization request (the form's `request`),
//! of a device code (a carried `device_user_code`, handed to
//! [`crate::http::routes::device`]) or of the account page (an empty
//! `request`), over
//! [`crate::protocol::interaction`] (docs/MFA.md).

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

use crate::error::AppError;
use crate::http::audit::{self, RequestMeta};
use crate::http::extractors::{ClientIp, PageForm};
use crate::http::pages;
use crate::http::routes::account;
use crate::http::routes::authorize::{
    ctx, current_session, failure_page, log_report, signed_in_answer,
};
use crate::http::session;
use crate::protocol::endpoints::Endpoint;
use crate::protocol::interaction::{
    self, LiveSession, LoginMessage, NewSession, Origin, Proof, Report, Step,
};
use crate::state::AppState;

/// `action` of the second-factor form.
pub const FACTOR_PATH: &str = Endpoint::LoginFactor.path();
/// `action` of the passkey sign-in form.
pub const PASSKEY_PATH: &str = Endpoint::LoginPasskey.path();
/// The passkey options URL (`data-passkey`).
pub const PASSKEY_OPTIONS_PATH: &str = Endpoint::LoginPasskeyOptions.path();

/// The last sentence of this page's CSRF refusal (`session::require_csrf`).
const START_OVER: &str = "Go back to the application and start again.";

/// The second-factor page (`templates/login_factor.html`).
#[derive(Template)]
#[template(path = "login_factor.html")]
pub struct FactorPage<'a> {
    /// The application's name (`None`: the account page's sign-in).
    pub client_name: Option<&'a str>,
    /// The carried authorization request (empty for the account page).
    pub request: &'a str,
    /// CSRF token.
    pub csrf: &'a str,
    /// The factors the user can give.
    pub offered: interaction::Offered,
    /// Only a passkey meets the request (`phr`): the page offers nothing
    /// else.
    pub passkey_only: bool,
    /// Error message.
    pub message: Option<&'a str>,
}

/// The second-factor page as a response: 429 with `Retry-After` when the
/// address is throttled, else 200.
pub fn factor_response(
    state: &AppState,
    page: &FactorPage<'_>,
    message: Option<LoginMessage>,
    csp: Option<String>,
) -> Response {
    let throttled = message == Some(LoginMessage::AddressThrottled);
    let status = if throttled {
        StatusCode::TOO_MANY_REQUESTS
    } else {
        StatusCode::OK
    };
    let mut r = pages::html(status, page.render(), csp);
    if throttled {
        let secs = state.config.auth.login_lockout.num_seconds().to_string();
        if let Ok(v) = HeaderValue::from_str(&secs) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    r
}

fn bad_form() -> AppError {
    AppError::page(
        StatusCode::BAD_REQUEST,
        "Cannot continue",
        "The form was incomplete or sent twice. Go back to the application and start again.",
    )
}

/// The cookie, after the CSRF check of `form`.
fn checked_cookie(
    state: &AppState,
    headers: &HeaderMap,
    form: &crate::protocol::params::RawParams,
) -> Result<Option<String>, AppError> {
    let cookie = session::read_cookie(headers, &state.config, &state.session_key);
    session::require_csrf(
        &state.session_key,
        cookie.as_deref(),
        form.get("csrf_token"),
        START_OVER,
    )?;
    Ok(cookie)
}

/// The session a second factor is for: the pending sign-in, else a live
/// session stepping up.
async fn factor_session(
    state: &AppState,
    cookie: Option<&str>,
) -> Result<Option<LiveSession>, AppError> {
    let Some(value) = cookie else {
        return Ok(None);
    };
    let c = ctx(state);
    if let Some(p) = interaction::load_pending(&c, value)
        .await
        .map_err(|e| failure_page(&e))?
    {
        return Ok(Some(p));
    }
    current_session(state, Some(value))
        .await
        .map_err(|e| failure_page(&e))
}

/// The account page's sign-in finished: a 303 to `/account` with the new
/// cookie.
fn account_signed_in(state: &AppState, new: &NewSession) -> Response {
    let mut r = pages::see_other(&format!("{}?done=signed_in", pages::ACCOUNT_PATH));
    if let Some(v) = session::set_cookie(&state.config, &state.session_key, &new.cookie_value) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

/// The account page's second-factor page (no application), for `cookie`.
pub fn account_factor_page(
    state: &AppState,
    cookie: &str,
    offered: interaction::Offered,
    message: Option<LoginMessage>,
) -> Response {
    let csrf = session::csrf_token(&state.session_key, cookie);
    let page = FactorPage {
        client_name: None,
        request: "",
        csrf: &csrf,
        offered,
        passkey_only: false,
        message: message.map(LoginMessage::text),
    };
    factor_response(state, &page, message, None)
}

/// The account page's sign-in step (an empty `request`): a second factor
/// for `session`, or a passwordless passkey.
async fn account_step(
    state: &AppState,
    meta: &RequestMeta,
    cookie: Option<String>,
    step: Step<'_>,
    origin: Origin<'_>,
) -> Result<Response, AppError> {
    let c = ctx(state);
    let mut report = Report::default();
    let (result, session) = match step {
        Step::SecondFactor(None, _) => {
            return Ok(account::login_page(
                state,
                cookie,
                StatusCode::OK,
                None,
                Some(LoginMessage::SignInExpired),
                "",
            ));
        }
        Step::SecondFactor(Some(s), _) if !s.session.second_factor_due => {
            // The account page has no step-up: a live session is signed in
            // already, and a factor alone is no new sign-in (its
            // re-authentication asks for the password).
            return Ok(pages::see_other(pages::ACCOUNT_PATH));
        }
        Step::SecondFactor(Some(s), proof) => (
            interaction::second_factor(&c, s, proof, origin, &mut report).await,
            Some(s),
        ),
        Step::Passwordless {
            previous,
            handle,
            credential,
        } => (
            interaction::passkey_sign_in(
                &c,
                handle,
                credential,
                origin,
                previous,
                None,
                &mut report,
            )
            .await,
            None,
        ),
    };
    log_report(&report);
    audit::interaction(state, meta, &report);
    match result.map_err(|e| account::unavailable(&e))? {
        Ok((live, new)) => {
            tracing::info!(session_id = %live.session.id, subject = %live.user.id, "account sign-in");
            Ok(account_signed_in(state, &new))
        }
        Err(message) => match (session, cookie) {
            (Some(s), Some(cookie)) => {
                let offered = interaction::offered_factors(&c, &s.user.id)
                    .await
                    .map_err(|e| account::unavailable(&e))?;
                Ok(account_factor_page(state, &cookie, offered, Some(message)))
            }
            (_, cookie) => {
                let status = if message == LoginMessage::AddressThrottled {
                    StatusCode::TOO_MANY_REQUESTS
                } else {
                    StatusCode::OK
                };
                Ok(account::login_page(
                    state,
                    cookie,
                    status,
                    None,
                    Some(message),
                    "",
                ))
            }
        },
    }
}

/// Runs a step of an authorization request (`request` not empty) or of
/// the account page's sign-in.
async fn run_step(
    state: &AppState,
    meta: &RequestMeta,
    cookie: Option<String>,
    request: &str,
    step: Step<'_>,
    origin: Origin<'_>,
) -> Result<Response, AppError> {
    if request.is_empty() {
        return account_step(state, meta, cookie, step, origin).await;
    }
    if let Some(code) = crate::protocol::device::continuation(request) {
        // A device sign-in (RFC 8628 §3.3): the device pages go on.
        return crate::http::routes::device::step(state, meta, cookie, &code, step, origin).await;
    }
    let mut report = Report::default();
    let result = interaction::factor_login(&ctx(state), request, step, origin, &mut report).await;
    log_report(&report);
    audit::interaction(state, meta, &report);
    signed_in_answer(state, result, cookie)
}

/// `POST /login/factor`: a TOTP code (`code`) or a recovery code
/// (`recovery_code`) for the pending sign-in (or a step-up of the live
/// session), CSRF-checked and throttled.
pub async fn post_login_factor(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    PageForm(form): PageForm,
) -> Result<Response, AppError> {
    // An empty `request` (absent, for `RawParams`): the account page.
    let request = form.get("request").unwrap_or_default();
    let cookie = checked_cookie(&state, &headers, &form)?;
    let session = factor_session(&state, cookie.as_deref()).await?;
    let proof = match form.get("recovery_code").map(str::trim) {
        Some(code) if !code.is_empty() => Proof::RecoveryCode(code),
        _ => Proof::Totp(form.get("code").unwrap_or_default()),
    };
    let origin = Origin {
        ip: &ip,
        user_agent: meta.user_agent.as_deref(),
    };
    let step = Step::SecondFactor(session.as_ref(), proof);
    run_step(&state, &meta, cookie, request, step, origin).await
}

/// `POST /login/passkey`: a passkey's answer (`handle`, `credential`),
/// `mode=passwordless` (a sign-in by itself) or `mode=second_factor` (for
/// the pending sign-in), CSRF-checked and throttled.
pub async fn post_login_passkey(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    PageForm(form): PageForm,
) -> Result<Response, AppError> {
    let Some(mode) = form.get("mode") else {
        return Err(bad_form());
    };
    let request = form.get("request").unwrap_or_default();
    let cookie = checked_cookie(&state, &headers, &form)?;
    let handle = form.get("handle").unwrap_or_default();
    let credential = form.get("credential").unwrap_or_default();
    let origin = Origin {
        ip: &ip,
        user_agent: meta.user_agent.as_deref(),
    };
    match mode {
        "second_factor" => {
            let session = factor_session(&state, cookie.as_deref()).await?;
            let step = Step::SecondFactor(session.as_ref(), Proof::Passkey { handle, credential });
            run_step(&state, &meta, cookie, request, step, origin).await
        }
        "passwordless" => {
            let previous = current_session(&state, cookie.as_deref())
                .await
                .map_err(|e| failure_page(&e))?;
            let step = Step::Passwordless {
                previous: previous.as_ref(),
                handle,
                credential,
            };
            run_step(&state, &meta, cookie, request, step, origin).await
        }
        _ => Err(bad_form()),
    }
}
