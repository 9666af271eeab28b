//! Admin API: a user's second factors (`/admin/v1/users/{user_id}/factors`,
//! docs/ADMIN.md, docs/MFA.md). Parse, call [`crate::app::mfa`] (the rules
//! the CLI shares), render [`FactorsView`]s (never a secret or credential),
//! record `admin_change` and `mfa_removed`.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::users::path_id;
use super::{AdminRead, AdminWrite, changed, json};
use crate::app::mfa::{self, FactorsView};
use crate::app::users::UserRef;
use crate::error::AppError;
use crate::http::audit;
use crate::state::AppState;

/// `GET /admin/v1/users/{user_id}/factors`: the user's factors (kind,
/// name, creation and last use) and how many recovery codes are left.
pub async fn get_user_factors(
    AdminRead(..): AdminRead,
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, AppError> {
    let id = path_id(id)?;
    let view: FactorsView = mfa::list(state.store.as_ref(), UserRef::Id(&id)).await?;
    Ok(json(StatusCode::OK, &view))
}

/// `DELETE /admin/v1/users/{user_id}/factors` (204): removes every factor
/// and recovery code of the user ([`mfa::reset`]); they sign in with their
/// password alone until they enrol again.
pub async fn delete_user_factors(
    AdminWrite(caller, meta): AdminWrite,
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, AppError> {
    let id = path_id(id)?;
    let (user, removed) = mfa::reset(state.store.as_ref(), UserRef::Id(&id)).await?;
    changed(&state, &meta, &caller, mfa::ACTION_RESET, user.as_str());
    if removed > 0 {
        audit::mfa_removed(&state, &meta, &user, "all", "operator", removed);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
