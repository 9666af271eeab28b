//! The account page's sign-in methods (`/account/security`): TOTP enrolment, recovery codes, the list of passkeys.
//! FOUNDATION STUBS (issue 17): each answers 501 until its work lands.

use axum::http::StatusCode;

/// Not implemented yet.
pub async fn get_account_security() -> StatusCode {
    StatusCode::NOT_IMPLEMENTED
}

/// Not implemented yet.
pub async fn post_account_totp() -> StatusCode {
    StatusCode::NOT_IMPLEMENTED
}

/// Not implemented yet.
pub async fn post_account_totp_confirm() -> StatusCode {
    StatusCode::NOT_IMPLEMENTED
}

/// Not implemented yet.
pub async fn post_account_totp_remove() -> StatusCode {
    StatusCode::NOT_IMPLEMENTED
}

/// Not implemented yet.
pub async fn post_account_recovery_codes() -> StatusCode {
    StatusCode::NOT_IMPLEMENTED
}
