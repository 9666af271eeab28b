//! The account page's sign-in methods (`/account/security`, docs/MFA.md):
//! TOTP enrolment (QR code rendered here, no JavaScript), removal, recovery
//! codes (shown once), and the list of passkeys with the registration form
//! that `static/passkey.js` drives. Thin handlers over [`crate::app::totp`]
//! and [`crate::app::mfa::overview`]; every POST checks the CSRF token,
//! then the session, then a recent sign-in (`PORTCULLIS_ACCOUNT_REAUTH_SECS`).

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::account::{bad_form, checked_recent, current, login_page, unavailable, when};
use crate::app::totp::{self, Confirmation, Enrolment};
use crate::error::AppError;
use crate::http::audit::{self, RequestMeta};
use crate::http::extractors::{PageForm, Query};
use crate::http::{pages, session};
use crate::protocol::endpoints::Endpoint;
use crate::protocol::interaction::LiveSession;
use crate::state::AppState;

/// The sign-in methods page.
pub const SECURITY_PATH: &str = Endpoint::AccountSecurity.path();
/// `action` of "Set up an authenticator app".
pub const TOTP_PATH: &str = Endpoint::AccountTotp.path();
/// `action` of the first-code form.
pub const TOTP_CONFIRM_PATH: &str = Endpoint::AccountTotpConfirm.path();
/// `action` of "Remove the authenticator app".
pub const TOTP_REMOVE_PATH: &str = Endpoint::AccountTotpRemove.path();
/// `action` of "Make a new set of recovery codes".
pub const RECOVERY_CODES_PATH: &str = Endpoint::AccountRecoveryCodes.path();
/// The passkey button's options URL (`data-passkey`).
pub const PASSKEY_OPTIONS_PATH: &str = Endpoint::AccountPasskeyOptions.path();
/// `action` of the passkey registration form.
pub const PASSKEYS_PATH: &str = Endpoint::AccountPasskeys.path();
/// `action` of each passkey's removal form.
pub const PASSKEY_REMOVE_PATH: &str = Endpoint::AccountPasskeyRemove.path();

/// One passkey line.
struct PasskeyRow {
    id: String,
    name: String,
    added: String,
    last_used: String,
}

/// The sign-in methods page.
#[derive(Template)]
#[template(path = "account_security.html")]
struct SecurityPage<'a> {
    csrf: &'a str,
    username: &'a str,
    notice: Option<&'a str>,
    error: Option<&'a str>,
    totp_added: Option<String>,
    totp_used: Option<String>,
    passkeys: Vec<PasskeyRow>,
    recovery_left: u64,
    has_factor: bool,
}

/// The enrolment page: QR code, key, first-code form.
#[derive(Template)]
#[template(path = "account_totp.html")]
struct TotpPage<'a> {
    csrf: &'a str,
    username: &'a str,
    issuer: &'a str,
    error: Option<&'a str>,
    key_grouped: &'a str,
    /// Our own generated SVG (`app::totp::qr_svg`): embedded with `|safe`.
    qr_svg: &'a str,
}

/// The recovery codes, shown once.
#[derive(Template)]
#[template(path = "account_recovery_codes.html")]
struct RecoveryCodesPage<'a> {
    notice: Option<&'a str>,
    codes: Vec<&'a str>,
}

/// The one-time messages of `?done=`: fixed texts, never the query's.
fn done_text(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "totp" => {
            "Your authenticator app is set up. You will be asked for a code when you sign in."
        }
        "totp_removed" => "The authenticator app was removed.",
        "recovery" => "Your new recovery codes replace the old ones.",
        "passkey" => "The passkey was added.",
        "passkey_removed" => "The passkey was removed.",
        _ => return None,
    })
}

/// A 303 to the sign-in methods page with a one-time message (the
/// passkey routes use it too).
pub(crate) fn done(what: &str) -> Response {
    pages::see_other(&format!("{SECURITY_PATH}?done={what}"))
}

async fn security_page(
    state: &AppState,
    cookie: &str,
    live: &LiveSession,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<&str>,
) -> Result<Response, AppError> {
    let overview = crate::app::mfa::overview(state.store.as_ref(), &live.user.id)
        .await
        .map_err(|e| unavailable(&e))?;
    let csrf = session::csrf_token(&state.session_key, cookie);
    let page = SecurityPage {
        csrf: &csrf,
        username: live.user.username.as_str(),
        notice,
        error,
        totp_added: overview
            .totp
            .as_ref()
            .and_then(|t| t.confirmed_at)
            .map(when),
        totp_used: overview
            .totp
            .as_ref()
            .and_then(|t| t.last_used_at)
            .map(when),
        has_factor: overview.totp.is_some() || !overview.passkeys.is_empty(),
        passkeys: overview
            .passkeys
            .into_iter()
            .map(|p| PasskeyRow {
                added: when(p.created_at),
                last_used: p.last_used_at.map_or_else(|| "never".to_owned(), when),
                id: p.id,
                name: p.name,
            })
            .collect(),
        recovery_left: overview.recovery_codes_left,
    };
    Ok(pages::html(status, page.render(), None))
}

fn totp_page(
    state: &AppState,
    cookie: &str,
    live: &LiveSession,
    enrolment: &Enrolment,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let csrf = session::csrf_token(&state.session_key, cookie);
    let page = TotpPage {
        csrf: &csrf,
        username: live.user.username.as_str(),
        issuer: &state.config.mfa.totp_issuer,
        error,
        key_grouped: &enrolment.key_grouped,
        qr_svg: &enrolment.qr_svg,
    };
    pages::html(status, page.render(), None)
}

/// The recovery codes page, shown once (after TOTP or a first passkey,
/// or a new set).
pub(crate) fn codes_page(codes: &[zeroize::Zeroizing<String>], notice: &str) -> Response {
    let page = RecoveryCodesPage {
        notice: Some(notice),
        codes: codes.iter().map(|c| c.as_str()).collect(),
    };
    pages::html(StatusCode::OK, page.render(), None)
}

/// `GET /account/security`: the sign-in methods, or the sign-in form
/// without a live session.
pub async fn get_account_security(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query,
) -> Result<Response, AppError> {
    let notice = done_text(query.get("done"));
    match current(&state, &headers).await? {
        (Some(cookie), Some(live)) => {
            security_page(&state, &cookie, &live, StatusCode::OK, notice, None).await
        }
        (cookie, _) => Ok(login_page(&state, cookie, StatusCode::OK, None, None, "")),
    }
}

/// `POST /account/totp`: starts an enrolment (a new key, replacing one
/// under way) and shows it. Needs a recent sign-in.
pub async fn post_account_totp(
    State(state): State<AppState>,
    headers: HeaderMap,
    PageForm(form): PageForm,
) -> Result<Response, AppError> {
    let (cookie, live) = match checked_recent(&state, &headers, &form).await? {
        Ok(v) => v,
        Err(page) => return Ok(page),
    };
    let enrolment = totp::start(
        state.store.as_ref(),
        state.secrets.as_ref(),
        state.rng.as_ref(),
        state.clock.as_ref(),
        &live.user,
        &state.config.mfa.totp_issuer,
    )
    .await
    .map_err(|e| unavailable(&e))?;
    Ok(totp_page(
        &state,
        &cookie,
        &live,
        &enrolment,
        StatusCode::OK,
        None,
    ))
}

/// `POST /account/totp/confirm`: the first `code` confirms the enrolment
/// (the previous authenticator goes); a first factor also gets recovery
/// codes, shown once. A wrong code changes nothing and shows the key again.
pub async fn post_account_totp_confirm(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    PageForm(form): PageForm,
) -> Result<Response, AppError> {
    let (cookie, live) = match checked_recent(&state, &headers, &form).await? {
        Ok(v) => v,
        Err(page) => return Ok(page),
    };
    let Some(code) = form.get("code") else {
        return Err(bad_form());
    };
    let (store, secrets) = (state.store.as_ref(), state.secrets.as_ref());
    let result = totp::confirm(
        store,
        secrets,
        state.rng.as_ref(),
        state.clock.as_ref(),
        &live.user,
        code,
    )
    .await
    .map_err(|e| unavailable(&e))?;
    let user = &live.user.id;
    match result {
        Confirmation::Confirmed(codes) => {
            tracing::info!(subject = %user, "account: authenticator app enrolled");
            audit::mfa_enrolled(&state, &meta, user, "totp");
            match codes {
                Some(codes) => {
                    audit::mfa_enrolled(&state, &meta, user, "recovery_codes");
                    Ok(codes_page(
                        &codes.codes,
                        done_text(Some("totp")).unwrap_or_default(),
                    ))
                }
                None => Ok(done("totp")),
            }
        }
        Confirmation::WrongCode => {
            let issuer = &state.config.mfa.totp_issuer;
            match totp::pending(store, secrets, &live.user, issuer)
                .await
                .map_err(|e| unavailable(&e))?
            {
                Some(enrolment) => Ok(totp_page(
                    &state,
                    &cookie,
                    &live,
                    &enrolment,
                    StatusCode::BAD_REQUEST,
                    Some(
                        "That code is not right. Check the time on your device and type the \
                         code your app shows now.",
                    ),
                )),
                None => no_enrolment(&state, &cookie, &live).await,
            }
        }
        Confirmation::NoEnrolment => no_enrolment(&state, &cookie, &live).await,
    }
}

async fn no_enrolment(
    state: &AppState,
    cookie: &str,
    live: &LiveSession,
) -> Result<Response, AppError> {
    security_page(
        state,
        cookie,
        live,
        StatusCode::BAD_REQUEST,
        None,
        Some("No authenticator app set-up is under way. Start again."),
    )
    .await
}

/// `POST /account/totp/remove`: removes the authenticator app. Needs a
/// recent sign-in.
pub async fn post_account_totp_remove(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    PageForm(form): PageForm,
) -> Result<Response, AppError> {
    let (_, live) = match checked_recent(&state, &headers, &form).await? {
        Ok(v) => v,
        Err(page) => return Ok(page),
    };
    let removed = totp::remove(state.store.as_ref(), &live.user, state.clock.now())
        .await
        .map_err(|e| unavailable(&e))?;
    if removed > 0 {
        tracing::info!(subject = %live.user.id, "account: authenticator app removed");
        audit::mfa_removed(&state, &meta, &live.user.id, "totp", "account", removed);
    }
    Ok(done("totp_removed"))
}

/// `POST /account/recovery-codes`: a new set of recovery codes, replacing
/// the old one, shown once. Needs a recent sign-in.
pub async fn post_account_recovery_codes(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    PageForm(form): PageForm,
) -> Result<Response, AppError> {
    let (_, live) = match checked_recent(&state, &headers, &form).await? {
        Ok(v) => v,
        Err(page) => return Ok(page),
    };
    let Some(codes) = crate::app::mfa::regenerate_recovery_codes(
        state.store.as_ref(),
        state.rng.as_ref(),
        &live.user.id,
        state.clock.now(),
    )
    .await
    .map_err(|e| unavailable(&e))?
    else {
        // No second factor: no recovery codes (the page offers none).
        return Ok(done("security"));
    };
    tracing::info!(subject = %live.user.id, "account: new recovery codes");
    audit::mfa_enrolled(&state, &meta, &live.user.id, "recovery_codes");
    Ok(codes_page(
        &codes.codes,
        done_text(Some("recovery")).unwrap_or_default(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn done_messages_are_fixed_texts() {
        for v in [
            "totp",
            "totp_removed",
            "recovery",
            "passkey",
            "passkey_removed",
        ] {
            assert!(done_text(Some(v)).is_some(), "{v}");
        }
        assert_eq!(done_text(Some("<script>")), None);
        assert_eq!(done_text(None), None);
    }
}
