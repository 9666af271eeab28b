//! Admin API: the APIs registered as resources for RFC 8707 resource
//! indicators (`/admin/v1/resources`, docs/ADMIN.md).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// `GET /admin/v1/resources` (not yet implemented).
pub async fn get_resources() -> Response {
    StatusCode::NOT_IMPLEMENTED.into_response()
}

/// `POST /admin/v1/resources` (not yet implemented).
pub async fn post_resources() -> Response {
    StatusCode::NOT_IMPLEMENTED.into_response()
}

/// `GET /admin/v1/resources/{resource_id}` (not yet implemented).
pub async fn get_resource() -> Response {
    StatusCode::NOT_IMPLEMENTED.into_response()
}

/// `PATCH /admin/v1/resources/{resource_id}` (not yet implemented).
pub async fn patch_resource() -> Response {
    StatusCode::NOT_IMPLEMENTED.into_response()
}

/// `DELETE /admin/v1/resources/{resource_id}` (not yet implemented).
pub async fn delete_resource() -> Response {
    StatusCode::NOT_IMPLEMENTED.into_response()
}
