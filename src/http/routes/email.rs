//! `/email/verify`: e-mail verification links (docs/ACCOUNT.md, "E-mail
//! verification"). Opening the link (`GET`) shows a "Verify" button and
//! uses nothing, so that a mail scanner fetching every URL verifies
//! nothing; posting the form uses the link (one conditional update) and
//! marks the address verified while it is still the user's.

use askama::Template as _;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::password::{browser_cookie, check_csrf, emit, notice, page, unavailable};
use crate::app::links;
use crate::domain::event::Event;
use crate::domain::{LinkPurpose, TokenHash};
use crate::error::AppError;
use crate::http::audit::{RequestMeta, event_stamp};
use crate::http::extractors::{PageForm, Query};
use crate::http::pages::VerifyEmailPage;
use crate::http::session;
use crate::state::AppState;

fn bad_link() -> Response {
    notice(
        StatusCode::BAD_REQUEST,
        "This link does not work",
        "This verification link has expired or was already used (a newer link replaces older ones). Ask for a new link: change your address again on your account page, or ask the service's operator.",
        None,
    )
}

/// `GET /email/verify?token=`: the "Verify" button, or a page saying the
/// link does not work.
pub async fn get_verify(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query,
) -> Result<Response, AppError> {
    let token = query.get("token").unwrap_or_default();
    if query.first_repeated().is_some() || !links::token_shape_ok(token) {
        return Ok(bad_link());
    }
    let link = links::peek(
        state.store.as_ref(),
        token,
        LinkPurpose::VerifyEmail,
        state.clock.now(),
    )
    .await
    .map_err(|e| unavailable("e-mail verification", &e))?;
    let Some(link) = link else {
        return Ok(bad_link());
    };
    // The page names the account, as the mail does.
    let username = match &link.user_id {
        Some(id) => state
            .store
            .users()
            .user_by_id(id)
            .await
            .map_err(|e| unavailable("e-mail verification", &e))?
            .map(|u| u.username.to_string()),
        None => None,
    };
    let Some(username) = username else {
        return Ok(bad_link());
    };
    let (cookie, set) = browser_cookie(&state, &headers);
    let csrf = session::csrf_token(&state.session_key, &cookie);
    Ok(page(
        StatusCode::OK,
        VerifyEmailPage {
            username: &username,
            email: &link.email,
            token,
            csrf: &csrf,
        }
        .render(),
        set,
    ))
}

/// `POST /email/verify`: uses the link and marks its address verified.
pub async fn post_verify(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    PageForm(form): PageForm,
) -> Result<Response, AppError> {
    check_csrf(&state, &headers, &form)?;
    let token = form.get("token").unwrap_or_default();
    if !links::token_shape_ok(token) {
        return Ok(bad_link());
    }
    let now = state.clock.now();
    let link = state
        .store
        .links()
        .use_link(&TokenHash::of(token), LinkPurpose::VerifyEmail, now)
        .await
        .map_err(|e| unavailable("e-mail verification", &e))?;
    let Some((link, subject)) = link.and_then(|l| l.user_id.clone().map(|u| (l, u))) else {
        return Ok(bad_link());
    };
    let verified = state
        .store
        .users()
        .set_email_verified(&subject, &link.email, now)
        .await
        .map_err(|e| unavailable("e-mail verification", &e))?;
    if !verified {
        return Ok(notice(
            StatusCode::BAD_REQUEST,
            "Nothing was verified",
            "This link was sent to an address that is no longer the one on your account. Use the link in the newest mail instead.",
            None,
        ));
    }
    tracing::info!(subject = %subject, "e-mail address verified");
    emit(
        &state,
        &meta,
        Event::email_verified(event_stamp(state.rng.as_ref(), now), &subject, "link"),
    );
    Ok(notice(
        StatusCode::OK,
        "Your e-mail address is verified",
        "Thank you. You can close this page.",
        None,
    ))
}
