//! Admin API: sessions (`/admin/v1/users/{user_id}/sessions`,
//! `/admin/v1/sessions/{session_id}`). Ending a session is a logout by the
//! operator ([`crate::app::sessions`]): each one ended is recorded as a
//! `logout` event with `initiator: operator`, besides the `admin_change`.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::users::path_id;
use super::{AdminRead, AdminWrite, changed, json, page, page_request};
use crate::app::sessions;
use crate::app::users::UserRef;
use crate::error::AppError;
use crate::http::audit;
use crate::http::extractors::Query;
use crate::state::AppState;

/// `GET /admin/v1/users/{user_id}/sessions`: a page of the user's live
/// sessions.
pub async fn get_user_sessions(
    AdminRead(..): AdminRead,
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    Query(query): Query,
) -> Result<Response, AppError> {
    let id = path_id(id)?;
    let req = page_request(&query)?;
    let p = sessions::list(
        state.store.as_ref(),
        state.clock.as_ref(),
        state.interaction.session_idle,
        UserRef::Id(&id),
        &req,
    )
    .await?;
    Ok(page(&p))
}

/// `DELETE /admin/v1/users/{user_id}/sessions`: ends every live session of
/// the user; answers how many.
pub async fn delete_user_sessions(
    AdminWrite(caller, meta): AdminWrite,
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, AppError> {
    let id = path_id(id)?;
    let (user, ended) = sessions::end_all(
        state.store.as_ref(),
        state.clock.as_ref(),
        state.interaction.session_idle,
        UserRef::Id(&id),
    )
    .await?;
    for sid in &ended {
        audit::logout(&state, &meta, &user, sid, "operator");
    }
    if !ended.is_empty() {
        changed(&state, &meta, &caller, "sessions_ended", user.as_str());
    }
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "ended": ended.len() }),
    ))
}

/// `GET /admin/v1/sessions/{session_id}`: a session, ended or not.
pub async fn get_session(
    AdminRead(..): AdminRead,
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, AppError> {
    let id = path_id(id)?;
    let s = sessions::show(state.store.as_ref(), &id).await?;
    Ok(json(StatusCode::OK, &s))
}

/// `DELETE /admin/v1/sessions/{session_id}` (204): ends the session as a
/// logout does.
pub async fn delete_session(
    AdminWrite(caller, meta): AdminWrite,
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, AppError> {
    let id = path_id(id)?;
    let ended = sessions::end(state.store.as_ref(), state.clock.as_ref(), &id).await?;
    audit::logout(&state, &meta, &ended.user_id, &ended.session_id, "operator");
    changed(&state, &meta, &caller, "session_ended", &ended.session_id);
    Ok(StatusCode::NO_CONTENT.into_response())
}
