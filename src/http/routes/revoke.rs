//! `POST /revoke` (RFC 7009): a thin handler over
//! [`crate::protocol::revoke`].

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::domain::event::TokenKind;
use crate::error::{AppError, no_store};
use crate::http::audit::{self, RequestMeta};
use crate::http::extractors::AuthenticatedClient;
use crate::protocol::revoke::{self, Revoked};
use crate::state::AppState;

/// `POST /revoke` (RFC 7009 §2). Unknown or invalid tokens answer 200
/// (§2.2); a token of another client is refused (§2.1).
pub async fn post_revoke(
    State(state): State<AppState>,
    meta: RequestMeta,
    req: AuthenticatedClient,
) -> Result<Response, AppError> {
    let token = revoke::validate(&req.form).map_err(|e| AppError::Token(e, req.scheme))?;
    let revoked = revoke::handle(&state.token_ctx(), &req.client, token)
        .await
        .map_err(|e| AppError::Token(e, req.scheme))?;
    let kind = match revoked {
        Revoked::RefreshToken => Some(TokenKind::RefreshToken),
        Revoked::AccessToken => Some(TokenKind::AccessToken),
        Revoked::Nothing => None,
    };
    if let Some(kind) = kind {
        tracing::info!(client_id = %req.client.id, kind = ?kind, "token revoked");
        audit::revoked(&state, &meta, &req.client.id, kind);
    }
    let mut r = StatusCode::OK.into_response();
    no_store(&mut r);
    Ok(r)
}
