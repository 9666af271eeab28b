//! `GET|POST /authorize`, `POST /login` and `POST /consent`: thin handlers
//! over [`crate::protocol::interaction`].

use askama::Template as _;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::domain::ClientId;
use crate::error::{AppError, render_page};
use crate::http::audit::{self, RequestMeta};
use crate::http::extractors::{ClientIp, PageForm, is_form};
use crate::http::pages::{self, ConsentPage, FormPostPage, LoginPage, ScopeLine};
use crate::http::routes::mfa_login;
use crate::http::session;
use crate::protocol::authorize::{Progress, ResponseMode, VerifiedRedirect};
use crate::protocol::error::{ErrorCode, OAuthError};
use crate::protocol::interaction::{
    self, Credentials, Ctx, LiveSession, LoginForm, LoginMessage, NewSession, Outcome, Report,
};
use crate::state::AppState;

/// The last sentence of this page's CSRF refusal (`session::require_csrf`).
const START_OVER: &str = "Go back to the application and start again.";

pub(crate) fn ctx(state: &AppState) -> Ctx<'_> {
    Ctx {
        store: state.store.as_ref(),
        clock: state.clock.as_ref(),
        rng: state.rng.as_ref(),
        passwords: state.passwords.as_ref(),
        keys: state.keys.as_ref(),
        secrets: state.secrets.as_ref(),
        webauthn: state.webauthn.as_ref(),
        client_jwks: state.client_jwks.as_ref(),
        outbound: state.outbound.as_ref(),
        settings: &state.interaction,
    }
}

/// A failed dependency: a page, never a redirect with partial state.
pub(crate) fn failure_page(err: &OAuthError) -> AppError {
    if err.code == ErrorCode::TemporarilyUnavailable {
        tracing::warn!(error = %err, source = ?err.source, "authorization interaction: dependency unavailable");
        AppError::page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Temporarily unavailable",
            "The service cannot complete your request right now. Try again in a moment.",
        )
    } else {
        tracing::error!(error = %err, source = ?err.source, "authorization interaction failed");
        AppError::page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "The service could not complete your request. Try again later.",
        )
    }
}

pub(crate) async fn current_session(
    state: &AppState,
    cookie: Option<&str>,
) -> Result<Option<LiveSession>, OAuthError> {
    match cookie {
        Some(value) => interaction::load_session(&ctx(state), value).await,
        None => Ok(None),
    }
}

/// The response to the client: a 303 with the parameters in the query, or
/// the auto-submitted form (form_post).
fn respond(redirect: &VerifiedRedirect, params: &[(&'static str, String)]) -> Response {
    match redirect.mode() {
        ResponseMode::Query => {
            let mut r = StatusCode::SEE_OTHER.into_response();
            match HeaderValue::from_str(&redirect.query_url(params)) {
                Ok(v) => {
                    r.headers_mut().insert(header::LOCATION, v);
                }
                Err(_) => {
                    return failure_page(&OAuthError::server_error(
                        "redirect URI is not a valid header",
                    ))
                    .into_response();
                }
            }
            crate::error::no_store(&mut r);
            r
        }
        ResponseMode::FormPost => {
            let page = FormPostPage {
                action: redirect.uri(),
                fields: params,
            };
            let csp = format!(
                "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'; form-action {}",
                pages::form_action_source(redirect.uri())
            );
            pages::html(StatusCode::OK, page.render(), Some(csp))
        }
    }
}

/// Renders an outcome. `cookie` is the session cookie value the browser
/// will hold after this response (set here when `set_cookie`).
fn render(
    state: &AppState,
    outcome: Outcome,
    cookie: Option<String>,
    set_cookie: bool,
) -> Response {
    let config = &state.config;
    let (cookie, fresh) = session::cookie_or_fresh(cookie, state.rng.as_ref());
    let set_cookie = set_cookie || fresh;
    let mut resp = match outcome {
        Outcome::Page(e) => render_page(StatusCode::BAD_REQUEST, "Cannot continue", &e.to_string()),
        Outcome::Login {
            client_name,
            redirect_uri,
            request,
            login_hint,
            message,
        } => {
            let csrf = session::csrf_token(&state.session_key, &cookie);
            let page = LoginPage {
                client_name: &client_name,
                request: &request,
                csrf: &csrf,
                username: login_hint.as_deref().unwrap_or_default(),
                message: message.map(LoginMessage::text),
                signup: config.self_service.signup == crate::config::SignupMode::Open,
            };
            let status = if message == Some(LoginMessage::AddressThrottled) {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::OK
            };
            let csp = pages::interaction_csp(&redirect_uri);
            let mut r = pages::html(status, page.render(), Some(csp));
            if status == StatusCode::TOO_MANY_REQUESTS {
                let secs = state.config.auth.login_lockout.num_seconds().to_string();
                if let Ok(v) = HeaderValue::from_str(&secs) {
                    r.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            r
        }
        Outcome::SecondFactor {
            client_name,
            redirect_uri,
            request,
            offered,
            passkey_only,
            message,
        } => {
            let csrf = session::csrf_token(&state.session_key, &cookie);
            let page = mfa_login::FactorPage {
                client_name: Some(&client_name),
                request: &request,
                csrf: &csrf,
                offered,
                passkey_only,
                message: message.map(LoginMessage::text),
            };
            mfa_login::factor_response(
                state,
                &page,
                message,
                Some(pages::interaction_csp(&redirect_uri)),
            )
        }
        Outcome::Consent {
            client_name,
            redirect_uri,
            request,
            scopes,
            username,
        } => {
            let csrf = session::csrf_token(&state.session_key, &cookie);
            let lines = scopes
                .iter()
                .map(|s| ScopeLine {
                    text: pages::describe_scope(s),
                    scope: s.to_owned(),
                })
                .collect();
            let page = ConsentPage {
                client_name: &client_name,
                username: &username,
                lines,
                request: &request,
                csrf: &csrf,
            };
            let csp = pages::interaction_csp(&redirect_uri);
            pages::html(StatusCode::OK, page.render(), Some(csp))
        }
        Outcome::Respond { redirect, params } => respond(&redirect, &params),
    };
    if set_cookie && let Some(v) = session::set_cookie(config, &state.session_key, &cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// Logs an interaction's report and counts its failures.
pub(crate) fn log_report(report: &Report) {
    if let Some(failure) = report.login_failed {
        crate::metrics::login_failed(match failure {
            // One reason: the metric must not tell whether an account exists.
            interaction::LoginFailure::UnknownUser | interaction::LoginFailure::BadPassword => {
                "invalid_credentials"
            }
            interaction::LoginFailure::Locked => "locked",
            interaction::LoginFailure::Disabled => "disabled",
            interaction::LoginFailure::EmailNotVerified => "email_not_verified",
            interaction::LoginFailure::BadSecondFactor => "bad_second_factor",
            interaction::LoginFailure::UnmetRequirements => "unmet_requirements",
        });
    }
    tracing::info!(
        client_id = report.client_id.as_ref().map(ClientId::as_str),
        session_id = report.session_id.as_deref(),
        login_succeeded = report.login_succeeded,
        login_failed = ?report.login_failed,
        code_issued = report.code_issued.is_some(),
        error_sent = report.error_sent.map(ErrorCode::as_str),
        "authorization interaction"
    );
}

async fn run_authorize(
    state: &AppState,
    meta: &RequestMeta,
    headers: &HeaderMap,
    request: &[u8],
) -> Result<Response, AppError> {
    let cookie = session::read_cookie(headers, &state.config, &state.session_key);
    let session = current_session(state, cookie.as_deref())
        .await
        .map_err(|e| failure_page(&e))?;
    let mut report = Report::default();
    let outcome = interaction::authorize(
        &ctx(state),
        request,
        session.as_ref(),
        Progress::default(),
        &mut report,
    )
    .await;
    log_report(&report);
    audit::interaction(state, meta, &report);
    match outcome {
        Ok(o) => Ok(render(state, o, cookie, false)),
        Err(e) => Err(failure_page(&e)),
    }
}

/// `GET /authorize` (RFC 6749 §4.1.1, OpenID Connect Core §3.1.2.1).
pub async fn get_authorize(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, AppError> {
    run_authorize(
        &state,
        &meta,
        &headers,
        query.unwrap_or_default().as_bytes(),
    )
    .await
}

/// `POST /authorize`: the same request as a form body (OpenID Connect Core
/// §3.1.2.1 requires both methods).
pub async fn post_authorize(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    if !is_form(&headers) {
        return Err(AppError::page(
            StatusCode::BAD_REQUEST,
            "Cannot continue",
            "The authorization request must be sent as application/x-www-form-urlencoded.",
        ));
    }
    run_authorize(&state, &meta, &headers, &body).await
}

fn bad_form() -> AppError {
    AppError::page(
        StatusCode::BAD_REQUEST,
        "Cannot continue",
        "The form was incomplete or sent twice. Go back to the application and start again.",
    )
}

/// `POST /login`: username and password, CSRF-checked and throttled.
pub async fn post_login(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    PageForm(form): PageForm,
) -> Result<Response, AppError> {
    let (Some(request), Some(username)) = (form.get("request"), form.get("username")) else {
        return Err(bad_form());
    };
    let cookie = session::read_cookie(&headers, &state.config, &state.session_key);
    session::require_csrf(
        &state.session_key,
        cookie.as_deref(),
        form.get("csrf_token"),
        START_OVER,
    )?;
    let previous = current_session(&state, cookie.as_deref())
        .await
        .map_err(|e| failure_page(&e))?;
    let credentials = Credentials {
        username,
        password: form.get("password").unwrap_or_default(),
        ip: &ip,
        user_agent: meta.user_agent.as_deref(),
    };
    if let Some(code) = crate::protocol::device::continuation(request) {
        // A device sign-in (RFC 8628 §3.3): the device pages go on.
        return crate::http::routes::device::login(
            &state,
            &meta,
            cookie,
            previous.as_ref(),
            &code,
            &credentials,
        )
        .await;
    }
    let mut report = Report::default();
    let login = LoginForm {
        request,
        credentials,
    };
    let result = interaction::login(&ctx(&state), login, previous.as_ref(), &mut report).await;
    log_report(&report);
    audit::interaction(&state, &meta, &report);
    signed_in_answer(&state, result, cookie)
}

/// The answer to a sign-in step of the interaction: the outcome, with the
/// new session's cookie when the step started one (else the browser's
/// `cookie`).
pub(crate) fn signed_in_answer(
    state: &AppState,
    result: Result<(Outcome, Option<NewSession>), OAuthError>,
    cookie: Option<String>,
) -> Result<Response, AppError> {
    match result {
        Ok((outcome, Some(new))) => Ok(render(state, outcome, Some(new.cookie_value), true)),
        Ok((outcome, None)) => Ok(render(state, outcome, cookie, false)),
        Err(e) => Err(failure_page(&e)),
    }
}

/// `POST /consent`: `decision=allow` or `decision=deny`, CSRF-checked.
pub async fn post_consent(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    PageForm(form): PageForm,
) -> Result<Response, AppError> {
    let Some(request) = form.get("request") else {
        return Err(bad_form());
    };
    let allow = match form.get("decision") {
        Some("allow") => true,
        Some("deny") => false,
        _ => return Err(bad_form()),
    };
    let cookie = session::read_cookie(&headers, &state.config, &state.session_key);
    session::require_csrf(
        &state.session_key,
        cookie.as_deref(),
        form.get("csrf_token"),
        START_OVER,
    )?;
    let session = current_session(&state, cookie.as_deref())
        .await
        .map_err(|e| failure_page(&e))?;
    let mut report = Report::default();
    let result =
        interaction::consent(&ctx(&state), request, allow, session.as_ref(), &mut report).await;
    log_report(&report);
    audit::interaction(&state, &meta, &report);
    match result {
        Ok(outcome) => Ok(render(&state, outcome, cookie, false)),
        Err(e) => Err(failure_page(&e)),
    }
}
