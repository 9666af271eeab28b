//! `GET|POST /signup`: self-registration (docs/ACCOUNT.md "Sign-up"),
//! routed only while `PORTCULLIS_SIGNUP` is not `off`. Thin: the rules are
//! [`crate::app::signup`]'s.

use askama::Template as _;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;

use crate::app::operator::{MIN_PASSWORD_CHARS, OperatorError};
use crate::app::signup::{self, SignupCtx, SignupOutcome, SignupRequest, Via};
use crate::error::AppError;
use crate::http::audit::{self, RequestMeta};
use crate::http::extractors::{ClientIp, PageForm, Query};
use crate::http::pages::{self, SignupDonePage, SignupPage};
use crate::http::session;
use crate::ports::StoreError;
use crate::state::AppState;

/// The last sentence of this page's CSRF refusal (`session::require_csrf`).
const START_OVER: &str = "Open the sign-up page again.";

/// A failed dependency: a generic page, the detail in the log.
fn failure(e: &OperatorError) -> AppError {
    if matches!(e, OperatorError::Store(StoreError::Unavailable(_))) {
        tracing::warn!(error = %e, "sign-up: dependency unavailable");
        AppError::page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Temporarily unavailable",
            "The service cannot complete your request right now. Try again in a moment.",
        )
    } else {
        tracing::error!(error = %e, "sign-up failed");
        AppError::page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "The service could not complete your request. Try again later.",
        )
    }
}

/// The page instead of the form when an invitation is needed or unusable.
fn refusal(outcome: &SignupOutcome) -> AppError {
    if matches!(outcome, SignupOutcome::InvitationNeeded) {
        AppError::page(
            StatusCode::FORBIDDEN,
            "Sign-up is by invitation",
            "You can create an account here only with an invitation link sent to you by mail. \
             Ask the operator of this service for one.",
        )
    } else {
        AppError::page(
            StatusCode::FORBIDDEN,
            "This invitation cannot be used",
            "The invitation link was used already, has expired, or a newer invitation \
             replaced it. Ask the operator of this service for a new one.",
        )
    }
}

/// The form. `cookie` is the browser's session cookie value, if it has
/// one; otherwise a fresh one is set (the CSRF token is bound to it).
fn form(
    state: &AppState,
    status: StatusCode,
    cookie: Option<String>,
    values: &SignupPage<'_>,
) -> Response {
    let (cookie, fresh) = session::cookie_or_fresh(cookie, state.rng.as_ref());
    let csrf = session::csrf_token(&state.session_key, &cookie);
    let page = SignupPage {
        csrf: &csrf,
        ..*values
    };
    let mut resp = pages::html(status, page.render(), None);
    if fresh && let Some(v) = session::set_cookie(&state.config, &state.session_key, &cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// `GET /signup`: the form; with `?token=` (an invitation link) the
/// invited address is fixed. In `invite` mode without a usable invitation:
/// a page that says so (403).
pub async fn get_signup(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query,
) -> Result<Response, AppError> {
    let token = query.get("token").unwrap_or_default();
    let invited = signup::invited_address(
        state.store.as_ref(),
        &state.config.self_service,
        Some(token),
        state.clock.now(),
    )
    .await
    .map_err(|e| failure(&e.into()))?
    .map_err(|answer| refusal(&answer))?;
    let cookie = session::read_cookie(&headers, &state.config, &state.session_key);
    Ok(form(
        &state,
        StatusCode::OK,
        cookie,
        &SignupPage {
            csrf: "",
            invitation: if invited.is_some() { token } else { "" },
            invited: invited.as_deref(),
            username: "",
            email: "",
            name: "",
            message: None,
            min_password_chars: MIN_PASSWORD_CHARS,
        },
    ))
}

/// `POST /signup`: CSRF-checked; creates the account (or, for an address
/// that has one, mails its owner and answers the same page).
pub async fn post_signup(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    PageForm(form_values): PageForm,
) -> Result<Response, AppError> {
    let cookie = session::read_cookie(&headers, &state.config, &state.session_key);
    session::require_csrf(
        &state.session_key,
        cookie.as_deref(),
        form_values.get("csrf_token"),
        START_OVER,
    )?;
    let field = |name: &str| form_values.get(name).unwrap_or_default().to_owned();
    let req = SignupRequest {
        username: field("username"),
        email: field("email"),
        name: Some(field("name")),
        password: field("password"),
        password_again: field("password_again"),
        invitation: form_values.get("token").map(str::to_owned),
    };
    let ctx = SignupCtx {
        store: state.store.as_ref(),
        hasher: state.passwords.as_ref(),
        clock: state.clock.as_ref(),
        rng: state.rng.as_ref(),
        settings: &state.config.self_service,
        issuer: &state.config.issuer,
        ip: &ip,
    };
    let outcome = signup::sign_up(&ctx, req.clone())
        .await
        .map_err(|e| failure(&e))?;
    let done = |email: &str, check_mail: bool| {
        // Mail may have been queued: the outbox worker sends it now.
        state.mail_wake.notify_one();
        let page = SignupDonePage {
            email,
            check_mail,
            must_verify: state.config.self_service.require_verified_email,
        };
        pages::html(StatusCode::OK, page.render(), None)
    };
    match outcome {
        SignupOutcome::Registered { user, via } => {
            tracing::info!(
                user_id = user.id.as_str(),
                via = via.as_str(),
                "user signed up"
            );
            audit::user_registered(&state, &meta, &user.id, via.as_str());
            Ok(done(&user.email, via == Via::Open))
        }
        SignupOutcome::CheckMail { email } => Ok(done(&email, true)),
        SignupOutcome::Invalid { message, invited } => Ok(form(
            &state,
            StatusCode::BAD_REQUEST,
            cookie,
            &SignupPage {
                csrf: "",
                invitation: if invited.is_some() {
                    req.invitation.as_deref().unwrap_or_default()
                } else {
                    ""
                },
                invited: invited.as_deref(),
                username: &req.username,
                email: &req.email,
                name: req.name.as_deref().unwrap_or_default(),
                message: Some(&message),
                min_password_chars: MIN_PASSWORD_CHARS,
            },
        )),
        answer @ (SignupOutcome::InvitationNeeded | SignupOutcome::InvitationInvalid) => {
            Err(refusal(&answer))
        }
    }
}
