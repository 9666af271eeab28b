//! Admin API: grants and consents (`/admin/v1/grants`,
//! `/admin/v1/consents`). Revocations go through the one grant-revocation
//! operation ([`crate::app::grants`]), so every token of a grant stops
//! working.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::users::path_id;
use super::{AdminRead, AdminWrite, changed, json, page, page_request};
use crate::app::grants::{self, Owner};
use crate::domain::UserId;
use crate::error::{ApiError, AppError};
use crate::http::audit;
use crate::http::extractors::Query;
use crate::protocol::params::RawParams;
use crate::state::AppState;

/// The `user_id` / `client_id` filters of a list (at least one).
fn owner(query: &RawParams) -> Result<Owner, AppError> {
    for name in ["user_id", "client_id"] {
        if query.is_repeated(name) {
            return Err(
                ApiError::invalid_request(format!("{name} was given more than once")).into(),
            );
        }
    }
    Ok(Owner::parse(query.get("user_id"), query.get("client_id"))?)
}

/// `GET /admin/v1/grants?user_id=&client_id=`: a page of live grants.
pub async fn get_grants(
    AdminRead(..): AdminRead,
    State(state): State<AppState>,
    Query(query): Query,
) -> Result<Response, AppError> {
    let req = page_request(&query)?;
    let owner = owner(&query)?;
    let p = grants::list_grants(state.store.as_ref(), &owner, &req).await?;
    Ok(page(&p))
}

/// `GET /admin/v1/grants/{grant_id}`: a grant, revoked or not.
pub async fn get_grant(
    AdminRead(..): AdminRead,
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, AppError> {
    let id = path_id(id)?;
    let g = grants::show_grant(state.store.as_ref(), &id).await?;
    Ok(json(StatusCode::OK, &g))
}

/// `DELETE /admin/v1/grants/{grant_id}` (204): revokes the grant and every
/// token of it (again: nothing changes).
pub async fn delete_grant(
    AdminWrite(caller, meta): AdminWrite,
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, AppError> {
    let id = path_id(id)?;
    if grants::revoke_grant(state.store.as_ref(), state.clock.as_ref(), &id).await? {
        changed(&state, &meta, &caller, "grant_revoked", &id);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /admin/v1/consents?user_id=&client_id=`: a page of live consents.
pub async fn get_consents(
    AdminRead(..): AdminRead,
    State(state): State<AppState>,
    Query(query): Query,
) -> Result<Response, AppError> {
    let req = page_request(&query)?;
    let owner = owner(&query)?;
    let p = grants::list_consents(state.store.as_ref(), &owner, &req).await?;
    Ok(page(&p))
}

/// `DELETE /admin/v1/consents/{user_id}/{client_id}` (204): revokes the
/// consent and every grant of the user to the client. The `admin_change`
/// target is `user_id:client_id` (a `/` would make it look like a
/// credential to the event redaction).
pub async fn delete_consent(
    AdminWrite(caller, meta): AdminWrite,
    State(state): State<AppState>,
    ids: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, AppError> {
    let (user, client) = path_id(ids)?;
    let user = UserId::new(user);
    let done =
        grants::revoke_consent(state.store.as_ref(), state.clock.as_ref(), &user, &client).await?;
    if done.consent
        && let Some(c) = crate::domain::ClientId::parse(&client)
    {
        audit::consent_revoked(&state, &meta, &c, &user, "operator");
    }
    changed(
        &state,
        &meta,
        &caller,
        "consent_revoked",
        &format!("{user}:{client}"),
    );
    Ok(StatusCode::NO_CONTENT.into_response())
}
