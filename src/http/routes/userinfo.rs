//! `GET|POST /userinfo` (OpenID Connect Core §5.3, RFC 6750): a thin
//! handler over [`crate::protocol::userinfo`].

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use crate::error::{AppError, no_store};
use crate::http::extractors::{OptionalForm, authorization};
use crate::protocol::userinfo;
use crate::state::AppState;

/// `GET|POST /userinfo`.
pub async fn userinfo(
    State(state): State<AppState>,
    headers: HeaderMap,
    OptionalForm(form): OptionalForm,
) -> Result<Response, AppError> {
    let token = userinfo::bearer_token(authorization(&headers), form.as_ref())
        .map_err(AppError::Bearer)?
        .ok_or(AppError::NoBearer)?;
    let claims = userinfo::handle(&state.token_ctx(), &token)
        .await
        .map_err(AppError::Bearer)?;
    let mut r = Json(claims).into_response();
    no_store(&mut r);
    Ok(r)
}
