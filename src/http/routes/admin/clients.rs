//! Admin API: clients (RFC 7591 metadata names).

use axum::response::Response;

use crate::error::AppError;

/// `get_clients` (declared; built by its issue-15 slice).
pub async fn get_clients(_caller: super::AdminRead) -> Result<Response, AppError> {
    super::not_built()
}

/// `post_clients` (declared; built by its issue-15 slice).
pub async fn post_clients(_caller: super::AdminWrite) -> Result<Response, AppError> {
    super::not_built()
}

/// `get_client` (declared; built by its issue-15 slice).
pub async fn get_client(_caller: super::AdminRead) -> Result<Response, AppError> {
    super::not_built()
}

/// `patch_client` (declared; built by its issue-15 slice).
pub async fn patch_client(_caller: super::AdminWrite) -> Result<Response, AppError> {
    super::not_built()
}

/// `delete_client` (declared; built by its issue-15 slice).
pub async fn delete_client(_caller: super::AdminWrite) -> Result<Response, AppError> {
    super::not_built()
}

/// `post_client_secret` (declared; built by its issue-15 slice).
pub async fn post_client_secret(_caller: super::AdminWrite) -> Result<Response, AppError> {
    super::not_built()
}
