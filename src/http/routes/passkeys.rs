//! Passkeys (docs/MFA.md): WebAuthn options for sign-in
//! (`POST /login/passkey/options`) and registration
//! (`POST /account/passkeys/options`), registering (`POST /account/passkeys`)
//! and removing (`POST /account/passkeys/remove`) a passkey on the account
//! page, and the page script (`GET /static/passkey.js`).
//!
//! The options endpoints answer JSON for `static/passkey.js`:
//! `{"handle", "ceremony": "create"|"get", "publicKey"}`, or
//! `{"error": "..."}` with a status (400, 403, 503), never cached.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::account::{bad_form, checked, checked_recent, ctx, needs_reauth, unavailable};
use super::account_security::{codes_page, done};
use crate::app::passkeys::{self as app, Registered};
use crate::domain::mfa::CeremonyKind;
use crate::error::AppError;
use crate::http::audit::{self, RequestMeta};
use crate::http::extractors::PageForm;
use crate::http::session;
use crate::protocol::error::{ErrorCode, OAuthError};
use crate::protocol::interaction;
use crate::protocol::passkey::{self, Started};
use crate::state::AppState;

/// The script, embedded like the other assets.
const PASSKEY_JS: &str = include_str!("../../../static/passkey.js");

/// The last sentence of a CSRF refusal on the account page.
const START_OVER: &str = "Open your account security page again.";

/// A JSON answer that no cache keeps.
fn json_answer(status: StatusCode, body: &Value) -> Response {
    let mut r = (status, Json(body)).into_response();
    crate::error::no_store(&mut r);
    r
}

fn json_error(status: StatusCode, message: &str) -> Response {
    json_answer(status, &json!({ "error": message }))
}

/// The options of a started ceremony.
fn ceremony(started: &Started, kind: &str) -> Result<Response, AppError> {
    let options: Value = serde_json::from_str(&started.options).map_err(|e| unavailable(&e))?;
    let Some(public_key) = options.get("publicKey") else {
        return Err(unavailable(&"WebAuthn options without publicKey"));
    };
    Ok(json_answer(
        StatusCode::OK,
        &json!({ "handle": started.handle, "ceremony": kind, "publicKey": public_key }),
    ))
}

/// A failure to start a ceremony, as JSON: the user's mistake (400) or
/// passkeys unavailable (503, logged).
fn start_failed(e: &OAuthError) -> Response {
    if e.code == ErrorCode::InvalidRequest {
        return json_error(
            StatusCode::BAD_REQUEST,
            "You have no passkey to sign in with. Use another way to sign in.",
        );
    }
    tracing::warn!(error = %e, source = ?e.source, "passkeys: a ceremony did not start");
    json_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "Passkeys are not available right now. Try again later, or use another way to sign in.",
    )
}

const CSRF_JSON: &str =
    "For your security, this page can no longer be used. Reload the page and try again.";

/// `POST /login/passkey/options`: `mode=passwordless` (any discoverable
/// credential) or `mode=second_factor` (the passkeys of the user whose
/// password was accepted: the pending sign-in of the cookie). CSRF first.
pub async fn post_login_passkey_options(
    State(state): State<AppState>,
    headers: HeaderMap,
    PageForm(form): PageForm,
) -> Result<Response, AppError> {
    let cookie = session::read_cookie(&headers, &state.config, &state.session_key);
    if session::require_csrf(
        &state.session_key,
        cookie.as_deref(),
        form.get("csrf_token"),
        START_OVER,
    )
    .is_err()
    {
        return Ok(json_error(StatusCode::FORBIDDEN, CSRF_JSON));
    }
    let (kind, user) = match form.get("mode") {
        Some("passwordless") => (CeremonyKind::Passwordless, None),
        Some("second_factor") => {
            // The pending sign-in after the password, else a live session
            // stepping up (`POST /login/passkey` accepts the live one only
            // when the request needs the step-up).
            let pending = match cookie.as_deref() {
                Some(c) => match interaction::load_pending(&ctx(&state), c)
                    .await
                    .map_err(|e| unavailable(&e))?
                {
                    Some(p) => Some(p),
                    None => interaction::load_session(&ctx(&state), c)
                        .await
                        .map_err(|e| unavailable(&e))?,
                },
                None => None,
            };
            let Some(pending) = pending else {
                return Ok(json_error(
                    StatusCode::FORBIDDEN,
                    "Your sign-in has expired: sign in with your password again.",
                ));
            };
            (CeremonyKind::SecondFactor, Some(pending.user.id))
        }
        _ => {
            return Ok(json_error(
                StatusCode::BAD_REQUEST,
                "Unknown passkey sign-in mode: reload the page and try again.",
            ));
        }
    };
    match passkey::start_authentication(
        state.store.as_ref(),
        state.webauthn.as_ref(),
        state.rng.as_ref(),
        kind,
        user.as_ref(),
        state.clock.now(),
    )
    .await
    {
        Ok(started) => ceremony(&started, "get"),
        Err(e) => Ok(start_failed(&e)),
    }
}

/// `POST /account/passkeys/options`: registration options for the signed-in
/// user (CSRF, a live session and a sign-in within
/// `PORTCULLIS_ACCOUNT_REAUTH_SECS`; otherwise 403 JSON saying what to do).
pub async fn post_account_passkey_options(
    State(state): State<AppState>,
    headers: HeaderMap,
    PageForm(form): PageForm,
) -> Result<Response, AppError> {
    let live = match checked(&state, &headers, &form).await {
        Err(AppError::Page(StatusCode::FORBIDDEN, _)) => {
            return Ok(json_error(StatusCode::FORBIDDEN, CSRF_JSON));
        }
        Err(e) => return Err(e),
        Ok(Err(_login_page)) => {
            return Ok(json_error(
                StatusCode::FORBIDDEN,
                "Your session has ended. Sign in to continue.",
            ));
        }
        Ok(Ok((_, live))) => live,
    };
    if needs_reauth(&state, &live) {
        return Ok(json_error(
            StatusCode::FORBIDDEN,
            "For your security, sign in again to add a passkey: reload the page.",
        ));
    }
    match app::start(
        state.store.as_ref(),
        state.webauthn.as_ref(),
        state.rng.as_ref(),
        &live.user,
        state.clock.now(),
    )
    .await
    {
        Ok(Ok(started)) => ceremony(&started, "create"),
        Ok(Err(refused)) => Ok(json_error(StatusCode::BAD_REQUEST, refused.text())),
        Err(e) => Ok(start_failed(&e)),
    }
}

/// `POST /account/passkeys`: the browser's answer (`handle`, `credential`)
/// and the passkey's `name`. Registered: 303 to
/// `/account/security?done=passkey`, or, when the passkey is the user's
/// first factor and recovery codes were made, a page that shows them once.
/// Refused: an error page; nothing is stored.
pub async fn post_account_passkeys(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    PageForm(form): PageForm,
) -> Result<Response, AppError> {
    let (_, live) = match checked_recent(&state, &headers, &form).await? {
        Ok(v) => v,
        Err(page) => return Ok(page),
    };
    let (Some(handle), Some(credential)) = (form.get("handle"), form.get("credential")) else {
        return Err(bad_form());
    };
    let result = app::register(
        state.store.as_ref(),
        state.webauthn.as_ref(),
        state.rng.as_ref(),
        &live.user.id,
        handle,
        credential,
        form.get("name").unwrap_or_default(),
        state.clock.now(),
    )
    .await
    .map_err(|e| unavailable(&e))?;
    match result {
        Ok(Registered {
            factor,
            recovery_codes,
        }) => {
            tracing::info!(subject = %live.user.id, factor = %factor.id, "account: passkey registered");
            audit::mfa_enrolled(&state, &meta, &live.user.id, "passkey");
            let Some(codes) = recovery_codes else {
                return Ok(done("passkey"));
            };
            audit::mfa_enrolled(&state, &meta, &live.user.id, "recovery_codes");
            Ok(codes_page(
                &codes,
                "Your passkey was added. Save your recovery codes now.",
            ))
        }
        Err(refused) => Err(AppError::page(
            StatusCode::BAD_REQUEST,
            "The passkey was not added",
            refused.text(),
        )),
    }
}

/// `POST /account/passkeys/remove`: removes the user's passkey `id` (needs
/// a recent sign-in); another user's id changes nothing (404).
pub async fn post_account_passkey_remove(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    PageForm(form): PageForm,
) -> Result<Response, AppError> {
    let (_, live) = match checked_recent(&state, &headers, &form).await? {
        Ok(v) => v,
        Err(page) => return Ok(page),
    };
    let Some(id) = form.get("id") else {
        return Err(bad_form());
    };
    if app::remove(state.store.as_ref(), &live.user.id, id, state.clock.now())
        .await
        .map_err(|e| unavailable(&e))?
    {
        tracing::info!(subject = %live.user.id, factor = %id, "account: passkey removed");
        audit::mfa_removed(&state, &meta, &live.user.id, "passkey", "account", 1);
        Ok(done("passkey_removed"))
    } else {
        Err(AppError::page(
            StatusCode::NOT_FOUND,
            "No such passkey",
            "That passkey is not one of yours, or it was removed already.",
        ))
    }
}

/// `GET /static/passkey.js`: the passkey buttons' script.
pub async fn get_passkey_script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        PASSKEY_JS,
    )
}
