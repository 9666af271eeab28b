//! `POST /login/factor` and `POST /login/passkey`: the second factor and passkey sign-ins of an authorization request, over [`crate::protocol::interaction`].
//! FOUNDATION STUBS (issue 17): each answers 501 until its work lands.

use axum::http::StatusCode;

/// Not implemented yet.
pub async fn post_login_factor() -> StatusCode {
    StatusCode::NOT_IMPLEMENTED
}

/// Not implemented yet.
pub async fn post_login_passkey() -> StatusCode {
    StatusCode::NOT_IMPLEMENTED
}
