//! Dynamic client registration (RFC 7591) and its management protocol (RFC 7592).

use axum::response::Response;

use crate::error::AppError;

/// `post_register` (declared; built by its issue-15 slice).
pub async fn post_register() -> Result<Response, AppError> {
    crate::http::routes::admin::not_built()
}

/// `get_registered_client` (declared; built by its issue-15 slice).
pub async fn get_registered_client() -> Result<Response, AppError> {
    crate::http::routes::admin::not_built()
}

/// `put_registered_client` (declared; built by its issue-15 slice).
pub async fn put_registered_client() -> Result<Response, AppError> {
    crate::http::routes::admin::not_built()
}

/// `delete_registered_client` (declared; built by its issue-15 slice).
pub async fn delete_registered_client() -> Result<Response, AppError> {
    crate::http::routes::admin::not_built()
}
