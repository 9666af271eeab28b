//! Admin API: initial access tokens for dynamic registration (RFC 7591 §3),
//! `GET`/`POST /admin/v1/initial-access-tokens`. The rules are
//! [`crate::app::registration`]'s, shared with `portcullis registration
//! token create`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::{AdminRead, AdminWrite, ApiJson, changed, json};
use crate::app::registration::{self, InitialAccessTokenView};
use crate::error::AppError;
use crate::protocol::admin::Page;
use crate::state::AppState;

/// The lifetime of an initial access token when the request names none.
const DEFAULT_TTL_SECS: i64 = 86_400;

/// `POST` body: both fields optional.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NewInitialAccessToken {
    /// Lifetime in seconds (default one day, at most 366 days).
    pub ttl_secs: Option<i64>,
    /// Registrations it allows (default: any number until it expires).
    pub uses: Option<u32>,
}

/// The answer to `POST`: the token, shown this once, and what is listed.
#[derive(Serialize)]
struct Created {
    token: String,
    #[serde(flatten)]
    view: InitialAccessTokenView,
}

/// `GET /admin/v1/initial-access-tokens`: every token, newest first,
/// without secrets (`id`, `created_at`, `expires_at`, `uses_left`), paged
/// with `limit` and `cursor` like every admin list.
pub async fn get_initial_access_tokens(
    State(state): State<AppState>,
    _caller: AdminRead,
    crate::http::extractors::Query(query): crate::http::extractors::Query,
) -> Result<Response, AppError> {
    let req = super::page_request(&query)?;
    let items = registration::list_initial_access_tokens(state.store.as_ref()).await?;
    // Few rows: paged in memory, in the list's order (newest first), the
    // cursor being the last id shown.
    let rows: Vec<InitialAccessTokenView> = match &req.after {
        None => items,
        Some(after) => items
            .into_iter()
            .skip_while(|t| &t.id != after)
            .skip(1)
            .collect(),
    };
    let rows = rows
        .into_iter()
        .take(usize::try_from(req.fetch()).unwrap_or(usize::MAX))
        .collect();
    Ok(super::page(&Page::of(
        rows,
        &req,
        |t: &InitialAccessTokenView| t.id.clone(),
    )))
}

/// `POST /admin/v1/initial-access-tokens`: makes one; 201 with the token.
pub async fn post_initial_access_tokens(
    State(state): State<AppState>,
    AdminWrite(caller, meta): AdminWrite,
    ApiJson(req): ApiJson<NewInitialAccessToken>,
) -> Result<Response, AppError> {
    let ttl = chrono::Duration::try_seconds(req.ttl_secs.unwrap_or(DEFAULT_TTL_SECS))
        .unwrap_or(chrono::Duration::MAX);
    let issued = registration::create_initial_access_token(
        state.store.as_ref(),
        state.rng.as_ref(),
        state.clock.as_ref(),
        ttl,
        req.uses,
    )
    .await?;
    changed(
        &state,
        &meta,
        &caller,
        "initial_access_token_created",
        &issued.view.id,
    );
    Ok(json(
        StatusCode::CREATED,
        &Created {
            token: issued.token,
            view: issued.view,
        },
    ))
}

/// `DELETE /admin/v1/initial-access-tokens/{id}`: revokes the token (it
/// stops working at once); 204, or 404 `not_found`.
pub async fn delete_initial_access_token(
    State(state): State<AppState>,
    AdminWrite(caller, meta): AdminWrite,
    path: Result<axum::extract::Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<Response, AppError> {
    let axum::extract::Path(id) =
        path.map_err(|_| crate::error::ApiError::not_found("no such initial access token"))?;
    registration::revoke_initial_access_token(state.store.as_ref(), &id).await?;
    changed(&state, &meta, &caller, "initial_access_token_revoked", &id);
    Ok(axum::response::IntoResponse::into_response(
        StatusCode::NO_CONTENT,
    ))
}
