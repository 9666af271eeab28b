//! `POST /introspect` (RFC 7662): a thin handler over
//! [`crate::protocol::introspect`].

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

use crate::error::{AppError, no_store};
use crate::http::extractors::AuthenticatedClient;
use crate::protocol::introspect;
use crate::state::AppState;

/// `POST /introspect` (RFC 7662 §2). Public clients may not introspect.
pub async fn post_introspect(
    State(state): State<AppState>,
    req: AuthenticatedClient,
) -> Result<Response, AppError> {
    let token =
        introspect::validate(&req.client, &req.form).map_err(|e| AppError::Token(e, req.scheme))?;
    let body = introspect::handle(&state.token_ctx(), &req.client, token)
        .await
        .map_err(|e| AppError::Token(e, req.scheme))?;
    let mut r = Json(body).into_response();
    no_store(&mut r);
    Ok(r)
}
