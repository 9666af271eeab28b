//! `/password/forgot` and `/password/reset`: password reset by mail (docs/ACCOUNT.md).
//!
//! Placeholder until this issue-16 slice lands: every handler answers 501.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Not built yet (issue 16).
pub async fn get_forgot() -> Response {
    StatusCode::NOT_IMPLEMENTED.into_response()
}

/// Not built yet (issue 16).
pub async fn post_forgot() -> Response {
    StatusCode::NOT_IMPLEMENTED.into_response()
}

/// Not built yet (issue 16).
pub async fn get_reset() -> Response {
    StatusCode::NOT_IMPLEMENTED.into_response()
}

/// Not built yet (issue 16).
pub async fn post_reset() -> Response {
    StatusCode::NOT_IMPLEMENTED.into_response()
}
