//! Admin API: invitations to sign up, `POST /admin/v1/invitations`. The
//! rule is [`crate::app::signup::invite`], shared with `portcullis user
//! invite`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::{AdminWrite, ApiJson, changed, json};
use crate::app::signup;
use crate::error::AppError;
use crate::state::AppState;

/// `POST` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewInvitation {
    /// The address to invite.
    pub email: String,
    /// The link's lifetime in seconds (default seven days, at most 30).
    #[serde(default)]
    pub ttl_secs: Option<i64>,
}

/// The answer: the address and the link's expiry (Unix seconds), never the
/// link (it is only in the mail).
#[derive(Serialize)]
struct Created {
    email: String,
    expires_at: i64,
}

/// `POST /admin/v1/invitations`: mails an invitation link to `email`; 201
/// with `{email, expires_at}`; 400 for a bad address or lifetime, or while
/// sign-up is `off`; 409 when the address has an account.
pub async fn post_invitations(
    State(state): State<AppState>,
    AdminWrite(caller, meta): AdminWrite,
    ApiJson(req): ApiJson<NewInvitation>,
) -> Result<Response, AppError> {
    let ttl = req
        .ttl_secs
        .map(|s| chrono::Duration::try_seconds(s).unwrap_or(chrono::Duration::MAX));
    let sent = signup::invite(
        state.store.as_ref(),
        state.rng.as_ref(),
        state.clock.as_ref(),
        &state.config.self_service,
        &state.config.issuer,
        &req.email,
        ttl,
    )
    .await?;
    state.mail_wake.notify_one();
    // The invitation has no id of its own: the address names it (one live
    // invitation per address).
    changed(&state, &meta, &caller, "invitation_created", &sent.email);
    Ok(json(
        StatusCode::CREATED,
        &Created {
            email: sent.email,
            expires_at: sent.expires_at.timestamp(),
        },
    ))
}
