//! Admin API: a user's second factors (`/admin/v1/users/{user_id}/factors`).
//! FOUNDATION STUBS (issue 17): each answers 501 until its work lands.

use axum::http::StatusCode;

/// Not implemented yet.
pub async fn get_user_factors() -> StatusCode {
    StatusCode::NOT_IMPLEMENTED
}

/// Not implemented yet.
pub async fn delete_user_factors() -> StatusCode {
    StatusCode::NOT_IMPLEMENTED
}
