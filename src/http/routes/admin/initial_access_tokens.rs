//! Admin API: initial access tokens for dynamic registration (RFC 7591 §3).

use axum::response::Response;

use crate::error::AppError;

/// `get_initial_access_tokens` (declared; built by its issue-15 slice).
pub async fn get_initial_access_tokens(_caller: super::AdminRead) -> Result<Response, AppError> {
    super::not_built()
}

/// `post_initial_access_tokens` (declared; built by its issue-15 slice).
pub async fn post_initial_access_tokens(_caller: super::AdminWrite) -> Result<Response, AppError> {
    super::not_built()
}
