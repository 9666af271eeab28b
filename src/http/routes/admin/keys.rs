//! Admin API: signing keys.

use axum::response::Response;

use crate::error::AppError;

/// `get_keys` (declared; built by its issue-15 slice).
pub async fn get_keys(_caller: super::AdminRead) -> Result<Response, AppError> {
    super::not_built()
}

/// `post_keys_rotate` (declared; built by its issue-15 slice).
pub async fn post_keys_rotate(_caller: super::AdminWrite) -> Result<Response, AppError> {
    super::not_built()
}

/// `post_key_revoke` (declared; built by its issue-15 slice).
pub async fn post_key_revoke(_caller: super::AdminWrite) -> Result<Response, AppError> {
    super::not_built()
}
