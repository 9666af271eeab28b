//! `GET|POST /logout` (OpenID Connect RP-Initiated Logout 1.0) and
//! `POST /logout/confirm`.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::{AppError, no_store};
use crate::http::audit::{self, RequestMeta};
use crate::http::extractors::{OptionalForm, PageForm, Query};
use crate::http::pages;
use crate::http::session;
use crate::protocol::interaction::{self, LiveSession};
use crate::protocol::logout::{self, Hint, LogoutError};
use crate::protocol::params::RawParams;
use crate::state::AppState;

/// The last sentence of this page's CSRF refusal (`session::require_csrf`).
const START_OVER: &str = "Go back to the application and sign out again.";

/// The parameters carried through the confirmation page.
const CARRIED: &[&str] = &[
    "id_token_hint",
    "client_id",
    "post_logout_redirect_uri",
    "state",
    "logout_hint",
    "ui_locales",
];

#[derive(Template)]
#[template(path = "logout_confirm.html")]
struct ConfirmPage<'a> {
    client_name: Option<&'a str>,
    username: &'a str,
    request: &'a str,
    csrf: &'a str,
}

#[derive(Template)]
#[template(path = "logged_out.html")]
struct DonePage<'a> {
    title: &'a str,
    detail: &'a str,
}

struct Checked {
    hint: Option<Hint>,
    client_name: Option<String>,
    redirect: Option<String>,
    state: Option<String>,
    carried: String,
}

async fn check(state: &AppState, params: &RawParams) -> Result<Checked, AppError> {
    let page =
        |e: LogoutError| AppError::page(StatusCode::BAD_REQUEST, "Cannot sign out", e.to_string());
    if params.first_repeated().is_some() {
        return Err(page(LogoutError::Repeated));
    }
    let hint = match params.get("id_token_hint") {
        Some(t) => {
            Some(logout::verify_hint(state.keys.as_ref(), &state.config.issuer, t).map_err(page)?)
        }
        None => None,
    };
    let client_id = logout::client_id(params, hint.as_ref()).map_err(page)?;
    let client = match client_id {
        Some(id) => match state.store.clients().get_client(&id).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "logout: client lookup failed");
                return Err(AppError::page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Temporarily unavailable",
                    "Try again in a moment.",
                ));
            }
        },
        None => None,
    };
    let redirect = logout::check_redirect(params, client.as_ref()).map_err(page)?;
    Ok(Checked {
        hint,
        client_name: client.map(|c| c.name),
        redirect,
        state: params.get("state").map(str::to_owned),
        carried: params.encode_only(CARRIED),
    })
}

async fn current(state: &AppState, cookie: Option<&str>) -> Option<LiveSession> {
    let value = cookie?;
    let ctx = crate::http::routes::authorize::ctx(state);
    interaction::load_session(&ctx, value).await.ok().flatten()
}

/// Ends the session and answers with the redirect or the signed-out page.
async fn finish(
    state: &AppState,
    meta: &RequestMeta,
    initiator: &str,
    session: Option<&LiveSession>,
    checked: &Checked,
) -> Result<Response, AppError> {
    if let Some(s) = session {
        let now = state.clock.now();
        // The session ends, and the grants made in it with it (not the
        // offline_access ones: OIDC Core §11).
        let ended = crate::app::sessions::end_one(state.store.as_ref(), now, &s.session.id).await;
        if let Err(e) = ended {
            tracing::warn!(error = %e, "logout: ending the session failed");
            return Err(AppError::page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "You are still signed in. Try again in a moment.",
            ));
        }
        tracing::info!(session_id = %s.session.id, subject = %s.user.id, "logout");
        audit::logout(state, meta, &s.user.id, &s.session.id, initiator);
    }
    let mut resp = match &checked.redirect {
        Some(uri) => {
            let mut r = StatusCode::SEE_OTHER.into_response();
            if let Ok(v) =
                HeaderValue::from_str(&logout::redirect_url(uri, checked.state.as_deref()))
            {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        None => pages::html(
            StatusCode::OK,
            DonePage {
                title: "You are signed out",
                detail: "You can close this window.",
            }
            .render(),
            None,
        ),
    };
    no_store(&mut resp);
    if let Some(v) = session::clear_cookie(&state.config) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}

/// `GET|POST /logout` (the `end_session_endpoint`): the parameters come
/// from the form of a POST, else from the query.
pub async fn logout(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    Query(query): Query,
    OptionalForm(form): OptionalForm,
) -> Result<Response, AppError> {
    let params = form.unwrap_or(query);
    let checked = check(&state, &params).await?;
    let cookie = session::read_cookie(&headers, &state.config, &state.session_key);
    let session = current(&state, cookie.as_deref()).await;
    let Some(live) = session else {
        // Nothing to end: no confirmation needed.
        return finish(&state, &meta, "rp", None, &checked).await;
    };
    // §2: a valid hint for this very session is trusted; anything else asks
    // the user first, so that a third party cannot sign them out.
    let trusted = checked.hint.as_ref().is_some_and(|h| {
        h.subject.as_deref() == Some(live.user.id.as_str())
            && h.session_id
                .as_deref()
                .is_none_or(|sid| sid == live.session.id)
    });
    if trusted {
        return finish(&state, &meta, "rp", Some(&live), &checked).await;
    }
    let Some(cookie) = cookie else {
        return finish(&state, &meta, "rp", None, &checked).await;
    };
    let csrf = session::csrf_token(&state.session_key, &cookie);
    let page = ConfirmPage {
        client_name: checked.client_name.as_deref(),
        username: live.user.username.as_str(),
        request: &checked.carried,
        csrf: &csrf,
    };
    // The answer to this form is a 303 to the validated
    // post_logout_redirect_uri, which Chromium checks against this page's
    // `form-action` (CSP Level 3 §6.4.1): allow its origin here, and only
    // here; every other page keeps `form-action 'self'`.
    let csp = checked.redirect.as_deref().map(pages::interaction_csp);
    Ok(pages::html(StatusCode::OK, page.render(), csp))
}

/// `POST /logout/confirm`: the user's answer.
pub async fn post_logout_confirm(
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
    let params = RawParams::parse(form.get("request").unwrap_or_default().as_bytes());
    let checked = check(&state, &params).await?;
    match form.get("decision") {
        Some("logout") => {
            let session = current(&state, cookie.as_deref()).await;
            finish(&state, &meta, "user", session.as_ref(), &checked).await
        }
        Some("stay") => Ok(pages::html(
            StatusCode::OK,
            DonePage {
                title: "You are still signed in",
                detail: "Nothing was changed. You can close this window.",
            }
            .render(),
            None,
        )),
        _ => Err(AppError::page(
            StatusCode::BAD_REQUEST,
            "Cannot sign out",
            "The form was incomplete. Try again from the application.",
        )),
    }
}
