//! `/account` and its forms: the end user's account page (docs/ACCOUNT.md).
//!
//! Placeholder until this issue-16 slice lands: every handler answers 501.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Not built yet (issue 16).
pub async fn get_account() -> Response {
    StatusCode::NOT_IMPLEMENTED.into_response()
}

/// Not built yet (issue 16).
pub async fn post_account_login() -> Response {
    StatusCode::NOT_IMPLEMENTED.into_response()
}

/// Not built yet (issue 16).
pub async fn post_account_logout() -> Response {
    StatusCode::NOT_IMPLEMENTED.into_response()
}

/// Not built yet (issue 16).
pub async fn post_account_profile() -> Response {
    StatusCode::NOT_IMPLEMENTED.into_response()
}

/// Not built yet (issue 16).
pub async fn post_account_email() -> Response {
    StatusCode::NOT_IMPLEMENTED.into_response()
}

/// Not built yet (issue 16).
pub async fn post_account_password() -> Response {
    StatusCode::NOT_IMPLEMENTED.into_response()
}

/// Not built yet (issue 16).
pub async fn post_account_session_end() -> Response {
    StatusCode::NOT_IMPLEMENTED.into_response()
}

/// Not built yet (issue 16).
pub async fn post_account_app_revoke() -> Response {
    StatusCode::NOT_IMPLEMENTED.into_response()
}
