//! Admin API: users (`/admin/v1/users`), addressed by `user_id` (the
//! `sub`). Parse, call [`crate::app::users`] (the rules the CLI shares),
//! render [`UserView`]s (never the password hash), record `admin_change`.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Deserializer};

use super::{AdminRead, AdminWrite, ApiJson, changed, json, page, page_request};
use crate::app::operator::NewUser;
use crate::app::users::{self, NameChange, UserRef, UserUpdate, UserView};
use crate::app::verification;
use crate::domain::UserId;
use crate::domain::event::Event;
use crate::error::{ApiError, AppError};
use crate::http::audit::{RequestMeta, event_stamp};
use crate::http::extractors::Query;
use crate::state::AppState;

/// The one path parameter of a route: a segment that cannot be read (bad
/// percent-encoding) names nothing, 404 like an unknown id.
pub(super) fn path_id<T>(p: Result<Path<T>, PathRejection>) -> Result<T, AppError> {
    p.map(|Path(v)| v)
        .map_err(|_| ApiError::not_found("no such resource").into())
}

/// `POST /admin/v1/users` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    username: String,
    email: String,
    #[serde(default)]
    name: Option<String>,
    password: String,
}

/// `PATCH /admin/v1/users/{user_id}` body: the fields to change.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchUserBody {
    #[serde(default)]
    email: Option<String>,
    /// Absent: unchanged; `null`: cleared.
    #[serde(default, deserialize_with = "present")]
    name: Option<NameChange>,
    #[serde(default)]
    disabled: Option<bool>,
    /// `true`: the operator vouches for the address; `false`: unverified.
    #[serde(default)]
    email_verified: Option<bool>,
}

/// A `name` that is present is a change: a string sets it, `null` clears it.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NameChange>, D::Error> {
    Ok(Some(match Option::<String>::deserialize(d)? {
        Some(n) => NameChange::Set(n),
        None => NameChange::Clear,
    }))
}

/// `POST /admin/v1/users/{user_id}/password` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    password: String,
}

/// `GET /admin/v1/users?q=&limit=&cursor=`: a page of users ordered by
/// id; `q` searches usernames and e-mail addresses (a case-insensitive
/// substring, at most 128 characters).
pub async fn get_users(
    AdminRead(..): AdminRead,
    State(state): State<AppState>,
    Query(query): Query,
) -> Result<Response, AppError> {
    let req = page_request(&query)?;
    if query.is_repeated("q") {
        return Err(ApiError::invalid_request("q was given more than once").into());
    }
    let p = users::list(state.store.as_ref(), query.get("q"), &req).await?;
    Ok(page(&p))
}

/// `POST /admin/v1/users`: creates a user (201, with `Location`).
pub async fn post_users(
    AdminWrite(caller, meta): AdminWrite,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<NewUserBody>,
) -> Result<Response, AppError> {
    let created = users::create(
        state.store.as_ref(),
        state.passwords.as_ref(),
        state.clock.as_ref(),
        &verification::Sender::from_config(&state.config, state.rng.as_ref()),
        NewUser {
            username: body.username,
            email: body.email,
            name: body.name,
            password: body.password,
        },
    )
    .await?;
    state.mail_wake.notify_one();
    changed(&state, &meta, &caller, "user_created", &created.user_id);
    let mut resp = json(StatusCode::CREATED, &created);
    if let Ok(v) = HeaderValue::from_str(&format!("/admin/v1/users/{}", created.user_id)) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// `GET /admin/v1/users/{user_id}`.
pub async fn get_user(
    AdminRead(..): AdminRead,
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, AppError> {
    let id = path_id(id)?;
    let user = users::find(state.store.as_ref(), UserRef::Id(&id)).await?;
    Ok(json(StatusCode::OK, &UserView::from(&user)))
}

/// `PATCH /admin/v1/users/{user_id}`: e-mail (a new one gets a
/// verification link), `email_verified`, name, `disabled`.
pub async fn patch_user(
    AdminWrite(caller, meta): AdminWrite,
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    ApiJson(body): ApiJson<PatchUserBody>,
) -> Result<Response, AppError> {
    let id = path_id(id)?;
    let updated = users::update(
        state.store.as_ref(),
        state.clock.as_ref(),
        &verification::Sender::from_config(&state.config, state.rng.as_ref()),
        UserRef::Id(&id),
        UserUpdate {
            email: body.email,
            name: body.name,
            disabled: body.disabled,
            email_verified: body.email_verified,
        },
    )
    .await?;
    if updated.link_sent {
        state.mail_wake.notify_one();
    }
    for action in &updated.actions {
        changed(&state, &meta, &caller, action, &updated.user.user_id);
    }
    if updated.marked_verified {
        emit_verified(&state, &meta, &UserId::new(updated.user.user_id.clone()));
    }
    Ok(json(StatusCode::OK, &updated.user))
}

/// `email_verified`, `via` `operator`: an operator vouched for the address.
fn emit_verified(state: &AppState, meta: &RequestMeta, user: &UserId) {
    let e = Event::email_verified(
        event_stamp(state.rng.as_ref(), state.clock.now()),
        user,
        "operator",
    )
    .request(
        meta.ip,
        meta.user_agent.as_deref(),
        meta.request_id.as_deref(),
    );
    state.events.emit(e);
}

/// `DELETE /admin/v1/users/{user_id}` (204).
pub async fn delete_user(
    AdminWrite(caller, meta): AdminWrite,
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, AppError> {
    let id = path_id(id)?;
    let gone = users::delete(state.store.as_ref(), state.clock.as_ref(), UserRef::Id(&id)).await?;
    changed(&state, &meta, &caller, "user_deleted", gone.as_str());
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /admin/v1/users/{user_id}/password` (204): the user's sessions
/// end and every grant is revoked.
pub async fn post_user_password(
    AdminWrite(caller, meta): AdminWrite,
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    ApiJson(body): ApiJson<PasswordBody>,
) -> Result<Response, AppError> {
    let id = path_id(id)?;
    let user = users::set_password(
        state.store.as_ref(),
        state.passwords.as_ref(),
        state.clock.as_ref(),
        UserRef::Id(&id),
        &body.password,
    )
    .await?;
    changed(&state, &meta, &caller, "password_set", user.as_str());
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /admin/v1/users/{user_id}/unlock`: lifts the sign-in locks;
/// answers how many throttle entries were cleared.
pub async fn post_user_unlock(
    AdminWrite(caller, meta): AdminWrite,
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, AppError> {
    let id = path_id(id)?;
    let (user, cleared) = users::unlock(state.store.as_ref(), UserRef::Id(&id)).await?;
    changed(&state, &meta, &caller, "user_unlocked", user.as_str());
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "user_id": user.as_str(), "cleared": cleared }),
    ))
}
