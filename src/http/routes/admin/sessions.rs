//! Admin API: sessions.

use axum::response::Response;

use crate::error::AppError;

/// `get_user_sessions` (declared; built by its issue-15 slice).
pub async fn get_user_sessions(_caller: super::AdminRead) -> Result<Response, AppError> {
    super::not_built()
}

/// `delete_user_sessions` (declared; built by its issue-15 slice).
pub async fn delete_user_sessions(_caller: super::AdminWrite) -> Result<Response, AppError> {
    super::not_built()
}

/// `get_session` (declared; built by its issue-15 slice).
pub async fn get_session(_caller: super::AdminRead) -> Result<Response, AppError> {
    super::not_built()
}

/// `delete_session` (declared; built by its issue-15 slice).
pub async fn delete_session(_caller: super::AdminWrite) -> Result<Response, AppError> {
    super::not_built()
}
