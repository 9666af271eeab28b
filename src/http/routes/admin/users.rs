//! Admin API: users.

use axum::response::Response;

use crate::error::AppError;

/// `get_users` (declared; built by its issue-15 slice).
pub async fn get_users(_caller: super::AdminRead) -> Result<Response, AppError> {
    super::not_built()
}

/// `post_users` (declared; built by its issue-15 slice).
pub async fn post_users(_caller: super::AdminWrite) -> Result<Response, AppError> {
    super::not_built()
}

/// `get_user` (declared; built by its issue-15 slice).
pub async fn get_user(_caller: super::AdminRead) -> Result<Response, AppError> {
    super::not_built()
}

/// `patch_user` (declared; built by its issue-15 slice).
pub async fn patch_user(_caller: super::AdminWrite) -> Result<Response, AppError> {
    super::not_built()
}

/// `delete_user` (declared; built by its issue-15 slice).
pub async fn delete_user(_caller: super::AdminWrite) -> Result<Response, AppError> {
    super::not_built()
}

/// `post_user_password` (declared; built by its issue-15 slice).
pub async fn post_user_password(_caller: super::AdminWrite) -> Result<Response, AppError> {
    super::not_built()
}

/// `post_user_unlock` (declared; built by its issue-15 slice).
pub async fn post_user_unlock(_caller: super::AdminWrite) -> Result<Response, AppError> {
    super::not_built()
}
