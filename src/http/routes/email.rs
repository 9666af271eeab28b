//! `/email/verify`: e-mail verification links (docs/ACCOUNT.md).
//!
//! Placeholder until this issue-16 slice lands: every handler answers 501.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Not built yet (issue 16).
pub async fn get_verify() -> Response {
    StatusCode::NOT_IMPLEMENTED.into_response()
}

/// Not built yet (issue 16).
pub async fn post_verify() -> Response {
    StatusCode::NOT_IMPLEMENTED.into_response()
}
