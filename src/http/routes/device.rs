//! The device authorization grant's endpoints (RFC 8628): `/device_authorization`
//! (§3.1, a client asks for a device and a user code) and the hosted pages
//! `/device` (§3.3: enter the code, sign in, consent) and `/device/consent`:
//! thin handlers over [`crate::protocol::device`]. The sign-in of a device
//! code goes through `/login`, `/login/factor` and `/login/passkey`, whose
//! handlers hand a carried device code back here ([`login`], [`step`]).

use askama::Template;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::{AppError, no_store};
use crate::http::audit::{self, RequestMeta};
use crate::http::extractors::{AuthenticatedClient, ClientIp, PageForm, Query};
use crate::http::pages::{self, LoginPage, NoticePage, ScopeLine};
use crate::http::routes::authorize::{ctx, current_session, failure_page, log_report};
use crate::http::routes::mfa_login;
use crate::http::session;
use crate::ports::ThrottlePolicy;
use crate::protocol::device::{self, CodeProblem, DevicePage, DeviceReport, DeviceSettings};
use crate::protocol::endpoints::Endpoint;
use crate::protocol::error::OAuthError;
use crate::protocol::interaction::{
    Credentials, LiveSession, LoginMessage, NewSession, Origin, Step,
};
use crate::state::AppState;

/// `action` of the code entry form.
pub const DEVICE_PATH: &str = Endpoint::Device.path();
/// `action` of the device consent form.
pub const DEVICE_CONSENT_PATH: &str = Endpoint::DeviceConsent.path();

/// The last sentence of this page's CSRF refusal.
const START_OVER: &str = "Open the address shown on your device and enter the code again.";

/// The code entry page (`templates/device.html`).
#[derive(Template)]
#[template(path = "device.html")]
pub struct DeviceEntryPage<'a> {
    /// CSRF token.
    pub csrf: &'a str,
    /// The code, as typed (or from `?user_code=`).
    pub user_code: &'a str,
    /// Why the code was refused.
    pub message: Option<&'a str>,
}

/// The device consent page (`templates/device_consent.html`).
#[derive(Template)]
#[template(path = "device_consent.html")]
pub struct DeviceConsentPage<'a> {
    /// Application name.
    pub client_name: &'a str,
    /// Signed-in user.
    pub username: &'a str,
    /// The code as shown (`XXXX-XXXX`).
    pub user_code: &'a str,
    /// What is asked.
    pub lines: Vec<ScopeLine>,
    /// CSRF token.
    pub csrf: &'a str,
}

/// The device flow's settings from the configuration.
pub fn settings(state: &AppState) -> DeviceSettings {
    let auth = &state.config.auth;
    DeviceSettings {
        issuer: state.config.issuer.clone(),
        code_ttl: auth.device_code_ttl,
        poll_interval: auth.device_poll_interval,
        user_code_throttle: ThrottlePolicy {
            max_failures: auth.device_user_code_max_failures,
            window: auth.login_failure_window,
            lockout: auth.login_lockout,
        },
    }
}

/// `POST /device_authorization` (RFC 8628 §3.1–3.2): an authenticated
/// client (public clients with `none` too) with the device code grant.
pub async fn post_device_authorization(
    State(state): State<AppState>,
    meta: RequestMeta,
    req: AuthenticatedClient,
) -> Result<Response, AppError> {
    let result = device::handle(
        state.store.as_ref(),
        state.clock.as_ref(),
        state.rng.as_ref(),
        &settings(&state),
        &req.client,
        &req.form,
    )
    .await;
    match &result {
        Ok(_) => audit::device_requested(&state, &meta, &req.client.id),
        Err(e) => tracing::info!(
            client_id = %req.client.id,
            error = e.code.as_str(),
            source = ?e.source,
            "device authorization refused"
        ),
    }
    let mut r = Json(result.map_err(|e| AppError::Token(e, req.scheme))?).into_response();
    no_store(&mut r);
    Ok(r)
}

fn with_retry_after(state: &AppState, mut r: Response) -> Response {
    let secs = state.config.auth.login_lockout.num_seconds().to_string();
    if let Ok(v) = HeaderValue::from_str(&secs) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

fn notice(status: StatusCode, title: &str, message: &str, alert: bool) -> Response {
    let page = NoticePage {
        title,
        message,
        detail: None,
        link: None,
        alert,
    };
    pages::html(status, page.render(), None)
}

/// The code entry page: 400 for a wrong, expired or used code, 429 with
/// `Retry-After` when the address is locked.
fn entry_page(
    state: &AppState,
    csrf: &str,
    user_code: &str,
    problem: Option<CodeProblem>,
) -> Response {
    let page = DeviceEntryPage {
        csrf,
        user_code,
        message: problem.map(CodeProblem::text),
    };
    let status = match problem {
        None => StatusCode::OK,
        Some(CodeProblem::Locked) => StatusCode::TOO_MANY_REQUESTS,
        Some(_) => StatusCode::BAD_REQUEST,
    };
    let r = pages::html(status, page.render(), None);
    if status == StatusCode::TOO_MANY_REQUESTS {
        with_retry_after(state, r)
    } else {
        r
    }
}

/// Renders a device page. `cookie` is the session cookie the browser will
/// hold after this response (set here when `set_cookie`).
fn render(
    state: &AppState,
    page: DevicePage,
    cookie: Option<String>,
    set_cookie: bool,
) -> Response {
    let (cookie, fresh) = session::cookie_or_fresh(cookie, state.rng.as_ref());
    let set_cookie = set_cookie || fresh;
    let csrf = session::csrf_token(&state.session_key, &cookie);
    let mut resp = match page {
        DevicePage::Entry { user_code, problem } => entry_page(state, &csrf, &user_code, problem),
        DevicePage::Login {
            client_name,
            request,
            login_hint,
            message,
        } => {
            let page = LoginPage {
                client_name: &client_name,
                request: &request,
                csrf: &csrf,
                username: login_hint.as_deref().unwrap_or_default(),
                message: message.map(LoginMessage::text),
                signup: state.config.self_service.signup == crate::config::SignupMode::Open,
            };
            if message == Some(LoginMessage::AddressThrottled) {
                with_retry_after(
                    state,
                    pages::html(StatusCode::TOO_MANY_REQUESTS, page.render(), None),
                )
            } else {
                pages::html(StatusCode::OK, page.render(), None)
            }
        }
        DevicePage::SecondFactor {
            client_name,
            request,
            offered,
            message,
        } => {
            let page = mfa_login::FactorPage {
                client_name: Some(&client_name),
                request: &request,
                csrf: &csrf,
                offered,
                passkey_only: false,
                message: message.map(LoginMessage::text),
            };
            mfa_login::factor_response(state, &page, message, None)
        }
        DevicePage::Consent {
            client_name,
            user_code,
            scopes,
            username,
        } => {
            let lines = scopes
                .iter()
                .map(|s| ScopeLine {
                    text: pages::describe_scope(s),
                    scope: s.to_owned(),
                })
                .collect();
            let page = DeviceConsentPage {
                client_name: &client_name,
                username: &username,
                user_code: &user_code,
                lines,
                csrf: &csrf,
            };
            pages::html(StatusCode::OK, page.render(), None)
        }
        DevicePage::Unmet { client_name } => notice(
            StatusCode::FORBIDDEN,
            "Two-step verification required",
            &format!(
                "{client_name} requires two-step verification. Turn it on in your account, then enter the code again."
            ),
            true,
        ),
        DevicePage::Approved { client_name } => notice(
            StatusCode::OK,
            "Device connected",
            &format!("You allowed {client_name}. You may return to your device."),
            false,
        ),
        DevicePage::Denied { client_name } => notice(
            StatusCode::OK,
            "Access denied",
            &format!("You denied {client_name} access. You may close this page."),
            false,
        ),
    };
    if set_cookie && let Some(v) = session::set_cookie(&state.config, &state.session_key, &cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

fn log_device(report: &DeviceReport) {
    log_report(&report.interaction);
    if report.code_failed.is_some() || report.decided.is_some() {
        tracing::info!(
            code_failed = report.code_failed.map(CodeProblem::reason),
            decided = report.decided,
            "device verification"
        );
    }
}

/// The answer to a device step: the page, with the new session's cookie
/// when the step started one.
fn answer(
    state: &AppState,
    meta: &RequestMeta,
    report: &DeviceReport,
    result: Result<(DevicePage, Option<NewSession>), OAuthError>,
    cookie: Option<String>,
) -> Result<Response, AppError> {
    log_device(report);
    audit::device(state, meta, report);
    match result {
        Ok((page, Some(new))) => Ok(render(state, page, Some(new.cookie_value), true)),
        Ok((page, None)) => Ok(render(state, page, cookie, false)),
        Err(e) => Err(failure_page(&e)),
    }
}

/// `GET /device` (§3.3): the code entry form, prefilled from `?user_code=`
/// (§3.3.1). Nothing is looked up or approved from the link alone (§5.4).
pub async fn get_device(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query,
) -> Response {
    let cookie = session::read_cookie(&headers, &state.config, &state.session_key);
    let user_code: String = query
        .get("user_code")
        .unwrap_or_default()
        .chars()
        .take(20)
        .collect();
    let page = DevicePage::Entry {
        user_code,
        problem: None,
    };
    render(&state, page, cookie, false)
}

fn bad_form() -> AppError {
    AppError::page(
        StatusCode::BAD_REQUEST,
        "Cannot continue",
        "The form was incomplete or sent twice. Enter the code shown on your device again.",
    )
}

/// The browser's cookie after the CSRF check of `form`, and its live
/// session.
async fn checked(
    state: &AppState,
    headers: &HeaderMap,
    form: &crate::protocol::params::RawParams,
) -> Result<(Option<String>, Option<LiveSession>), AppError> {
    let cookie = session::read_cookie(headers, &state.config, &state.session_key);
    session::require_csrf(
        &state.session_key,
        cookie.as_deref(),
        form.get("csrf_token"),
        START_OVER,
    )?;
    let session = current_session(state, cookie.as_deref())
        .await
        .map_err(|e| failure_page(&e))?;
    Ok((cookie, session))
}

/// `POST /device`: the code (case-insensitive, hyphen optional), CSRF-checked
/// and throttled per client address; then sign-in or the consent page.
pub async fn post_device(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    PageForm(form): PageForm,
) -> Result<Response, AppError> {
    let Some(code) = form.get("user_code") else {
        return Err(bad_form());
    };
    let (cookie, session) = checked(&state, &headers, &form).await?;
    let mut report = DeviceReport::default();
    let result = device::enter(
        &ctx(&state),
        &settings(&state),
        code,
        &ip,
        session.as_ref(),
        &mut report,
    )
    .await
    .map(|page| (page, None));
    answer(&state, &meta, &report, result, cookie)
}

/// `POST /device/consent`: `decision=allow` or `decision=deny` for
/// `user_code`, CSRF-checked.
pub async fn post_device_consent(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    PageForm(form): PageForm,
) -> Result<Response, AppError> {
    let Some(code) = form.get("user_code") else {
        return Err(bad_form());
    };
    let allow = match form.get("decision") {
        Some("allow") => true,
        Some("deny") => false,
        _ => return Err(bad_form()),
    };
    let (cookie, session) = checked(&state, &headers, &form).await?;
    let mut report = DeviceReport::default();
    let result = device::decide(
        &ctx(&state),
        &settings(&state),
        code,
        allow,
        &ip,
        session.as_ref(),
        &mut report,
    )
    .await
    .map(|page| (page, None));
    answer(&state, &meta, &report, result, cookie)
}

/// `POST /login` of a device sign-in (its `request` carries the code):
/// called by `authorize::post_login` after the CSRF check.
pub(crate) async fn login(
    state: &AppState,
    meta: &RequestMeta,
    cookie: Option<String>,
    previous: Option<&LiveSession>,
    code: &str,
    credentials: &Credentials<'_>,
) -> Result<Response, AppError> {
    let mut report = DeviceReport::default();
    let result = device::login(
        &ctx(state),
        &settings(state),
        code,
        credentials,
        previous,
        &mut report,
    )
    .await;
    answer(state, meta, &report, result, cookie)
}

/// `POST /login/factor` or `/login/passkey` of a device sign-in: called by
/// `mfa_login` after the CSRF check.
pub(crate) async fn step(
    state: &AppState,
    meta: &RequestMeta,
    cookie: Option<String>,
    code: &str,
    step: Step<'_>,
    origin: Origin<'_>,
) -> Result<Response, AppError> {
    let mut report = DeviceReport::default();
    let result = device::factor_login(
        &ctx(state),
        &settings(state),
        code,
        step,
        origin,
        &mut report,
    )
    .await;
    answer(state, meta, &report, result, cookie)
}
