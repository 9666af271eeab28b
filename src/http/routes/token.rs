//! `POST /token` (RFC 6749 §3.2): a thin handler over
//! [`crate::protocol::token`]; the client is authenticated by the
//! [`AuthenticatedClient`] extractor.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

use crate::error::{AppError, no_store};
use crate::http::audit::{self, RequestMeta};
use crate::http::extractors::AuthenticatedClient;
use crate::protocol::error::OAuthError;
use crate::protocol::token::{self, TokenReport};
use crate::state::AppState;

/// Logs the outcome. Successful requests are the hot path and log at
/// `debug` (a line per token at `info` costs more than the signature at a
/// few thousand requests a second; the event sink keeps the audit trail);
/// failures log at `info`, and a replayed code or refresh token at `warn`.
fn log_report(report: &TokenReport, error: Option<&OAuthError>) {
    macro_rules! log_at {
        ($level:expr) => {
            tracing::event!(
                $level,
                client_id = report.client_id.as_deref(),
                grant_type = report.grant_type,
                issued = ?report.issued,
                refresh_reuse_detected = report.refresh_reuse_detected,
                refresh_retried = report.refresh_retried,
                code_replayed = report.code_replayed,
                error = error.map(|e| e.code.as_str()),
                "token request"
            )
        };
    }
    if report.refresh_reuse_detected || report.code_replayed {
        log_at!(tracing::Level::WARN);
    } else if error.is_some() {
        log_at!(tracing::Level::INFO);
    } else {
        log_at!(tracing::Level::DEBUG);
    }
}

/// `POST /token`.
pub async fn post_token(
    State(state): State<AppState>,
    meta: RequestMeta,
    req: AuthenticatedClient,
) -> Result<Response, AppError> {
    let mut report = TokenReport::default();
    let result = token::handle(
        &state.token_ctx(),
        &state.grants,
        &req.client,
        &req.form,
        &mut report,
    )
    .await;
    audit::token(&state, &meta, &report);
    log_report(&report, result.as_ref().err());
    let mut r = Json(result.map_err(|e| AppError::Token(e, req.scheme))?).into_response();
    no_store(&mut r);
    Ok(r)
}
