//! Admin API: signing keys (docs/KEYS.md, docs/ADMIN.md). List, rotate
//! now, and revoke a compromised key; the rules are `app::keys`, which the
//! CLI calls too.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::{AdminRead, AdminWrite, OptionalApiJson, changed, json as respond};
use crate::app::keys::{self as app_keys, KeyServices, KeyView, Rotation};
use crate::error::{ApiError, AppError};
use crate::ports::{JwsAlg, KeyError};
use crate::state::AppState;

/// A key operation's failure as the API says it.
fn refused(e: KeyError) -> AppError {
    match e {
        KeyError::NotFound(m) => ApiError::not_found(m).into(),
        KeyError::Conflict(m) => ApiError::conflict(m).into(),
        KeyError::BadRequest(m) => ApiError::invalid_request(m).into(),
        KeyError::Unavailable(m) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            format!("the signing keys cannot be changed now: {m}"),
        )
        .into(),
        other => AppError::Internal(other.to_string().into()),
    }
}

/// `GET /admin/v1/keys`: every signing key (public fields), oldest first.
pub async fn get_keys(
    _caller: AdminRead,
    State(state): State<AppState>,
) -> Result<Response, AppError> {
    let keys = app_keys::list(state.store.as_ref())
        .await
        .map_err(refused)?;
    let keys: Vec<KeyView> = keys.iter().map(KeyView::from).collect();
    Ok(respond(StatusCode::OK, &json!({ "keys": keys })))
}

/// The body of `POST /admin/v1/keys/rotate`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateBody {
    /// One algorithm; absent: every algorithm the server signs with.
    alg: Option<String>,
    /// KMS direct mode: the new KMS key (needs `alg`).
    kms_key_id: Option<String>,
    /// Skip the pre-publication period.
    #[serde(default)]
    immediately: bool,
}

/// `POST /admin/v1/keys/rotate`: schedules a new key per algorithm (or for
/// `alg`), `next` until `activates_at`; `201` with the new keys.
pub async fn post_keys_rotate(
    AdminWrite(caller, meta): AdminWrite,
    State(state): State<AppState>,
    OptionalApiJson(body): OptionalApiJson<RotateBody>,
) -> Result<Response, AppError> {
    let alg = body
        .alg
        .as_deref()
        .map(str::parse::<JwsAlg>)
        .transpose()
        .map_err(ApiError::invalid_request)?;
    let req = Rotation {
        alg,
        kms_key_id: body.kms_key_id,
        immediately: body.immediately,
    };
    let rotated = app_keys::rotate(&KeyServices::of(&state), &req)
        .await
        .map_err(refused)?;
    for key in &rotated {
        changed(&state, &meta, &caller, app_keys::ACTION_ROTATED, &key.kid);
    }
    let keys: Vec<KeyView> = rotated.iter().map(KeyView::from).collect();
    Ok(respond(StatusCode::CREATED, &json!({ "keys": keys })))
}

/// The body of `POST /admin/v1/keys/{kid}/revoke`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeBody {
    /// KMS direct mode: the KMS key that replaces the revoked one.
    kms_key_id: Option<String>,
}

/// `POST /admin/v1/keys/{kid}/revoke`: the emergency path for a
/// compromised key (docs/KEYS.md): it leaves the JWK Set at once and every
/// token it signed is refused; `200` with the revoked key and the key that
/// replaced it as signer (or `null`).
pub async fn post_key_revoke(
    AdminWrite(caller, meta): AdminWrite,
    State(state): State<AppState>,
    Path(kid): Path<String>,
    OptionalApiJson(body): OptionalApiJson<RevokeBody>,
) -> Result<Response, AppError> {
    let done = app_keys::revoke(&KeyServices::of(&state), &kid, body.kms_key_id.as_deref())
        .await
        .map_err(refused)?;
    changed(
        &state,
        &meta,
        &caller,
        app_keys::ACTION_REVOKED,
        &done.revoked.kid,
    );
    Ok(respond(
        StatusCode::OK,
        &json!({
            "revoked": KeyView::from(&done.revoked),
            "replacement": done.replacement.as_ref().map(KeyView::from),
        }),
    ))
}
