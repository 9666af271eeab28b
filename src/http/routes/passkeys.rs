//! Passkey ceremonies: WebAuthn options for sign-in and registration, registering and removing a passkey on the account page, and the page script.
//! FOUNDATION STUBS (issue 17): each answers 501 until its work lands.

use axum::http::StatusCode;

/// Not implemented yet.
pub async fn post_login_passkey_options() -> StatusCode {
    StatusCode::NOT_IMPLEMENTED
}

/// Not implemented yet.
pub async fn post_account_passkey_options() -> StatusCode {
    StatusCode::NOT_IMPLEMENTED
}

/// Not implemented yet.
pub async fn post_account_passkeys() -> StatusCode {
    StatusCode::NOT_IMPLEMENTED
}

/// Not implemented yet.
pub async fn post_account_passkey_remove() -> StatusCode {
    StatusCode::NOT_IMPLEMENTED
}

/// Not implemented yet.
pub async fn get_passkey_script() -> StatusCode {
    StatusCode::NOT_IMPLEMENTED
}
