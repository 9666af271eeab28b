//! The device authorization grant's endpoints (RFC 8628): `/device_authorization`
//! (§3.1, a client asks for a device and a user code) and the hosted pages
//! `/device` (§3.3: enter the code, sign in, consent) and `/device/consent`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// `POST /device_authorization` (not yet implemented).
pub async fn post_device_authorization() -> Response {
    StatusCode::NOT_IMPLEMENTED.into_response()
}

/// `GET /device` (not yet implemented).
pub async fn get_device() -> Response {
    StatusCode::NOT_IMPLEMENTED.into_response()
}

/// `POST /device` (not yet implemented).
pub async fn post_device() -> Response {
    StatusCode::NOT_IMPLEMENTED.into_response()
}

/// `POST /device/consent` (not yet implemented).
pub async fn post_device_consent() -> Response {
    StatusCode::NOT_IMPLEMENTED.into_response()
}
