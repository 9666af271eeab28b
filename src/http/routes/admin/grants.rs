//! Admin API: grants and consents.

use axum::response::Response;

use crate::error::AppError;

/// `get_grants` (declared; built by its issue-15 slice).
pub async fn get_grants(_caller: super::AdminRead) -> Result<Response, AppError> {
    super::not_built()
}

/// `get_grant` (declared; built by its issue-15 slice).
pub async fn get_grant(_caller: super::AdminRead) -> Result<Response, AppError> {
    super::not_built()
}

/// `delete_grant` (declared; built by its issue-15 slice).
pub async fn delete_grant(_caller: super::AdminWrite) -> Result<Response, AppError> {
    super::not_built()
}

/// `get_consents` (declared; built by its issue-15 slice).
pub async fn get_consents(_caller: super::AdminRead) -> Result<Response, AppError> {
    super::not_built()
}

/// `delete_consent` (declared; built by its issue-15 slice).
pub async fn delete_consent(_caller: super::AdminWrite) -> Result<Response, AppError> {
    super::not_built()
}
