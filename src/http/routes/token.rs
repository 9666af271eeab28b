//! `POST /token` (RFC 6749 §3.2): a thin handler over
//! [`crate::protocol::token`]; the client is authenticated by the
//! [`AuthenticatedClient`] extractor.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
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
                dpop_bound = report.dpop_bound,
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

/// The values of a request's `DPoP` headers (RFC 9449 §4.1), in order; a
/// value that is not text is kept as an empty string, which no proof is.
pub fn dpop_headers(headers: &HeaderMap) -> Vec<&str> {
    headers
        .get_all(DPOP)
        .iter()
        .map(|v| v.to_str().unwrap_or_default())
        .collect()
}

/// The `DPoP` request header (RFC 9449 §4.1).
pub const DPOP: HeaderName = HeaderName::from_static("dpop");
/// The `DPoP-Nonce` response header (RFC 9449 §8.1).
pub const DPOP_NONCE: HeaderName = HeaderName::from_static("dpop-nonce");

/// Adds the current server nonce (RFC 9449 §8) to a response of the token
/// endpoint or of a resource, when nonces are on: the nonce a
/// `use_dpop_nonce` error asks for, and a fresh one on every other answer
/// (§8.2).
pub fn add_dpop_nonce(state: &AppState, resp: &mut Response) {
    if let Some(nonce) = crate::protocol::dpop::nonce(&state.tokens.dpop, state.clock.now())
        && let Ok(v) = HeaderValue::from_str(&nonce)
    {
        resp.headers_mut().insert(DPOP_NONCE, v);
    }
}

/// `POST /token`. A `DPoP` header's proof binds the tokens (RFC 9449 §5).
pub async fn post_token(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    req: AuthenticatedClient,
) -> Response {
    let mut report = TokenReport::default();
    let result = token::handle(
        &state.token_ctx(),
        &state.grants,
        &req.client,
        &req.form,
        &dpop_headers(&headers),
        &mut report,
    )
    .await;
    audit::token(&state, &meta, &report);
    log_report(&report, result.as_ref().err());
    let mut r = match result {
        Ok(body) => {
            let mut r = Json(body).into_response();
            no_store(&mut r);
            r
        }
        Err(e) => AppError::Token(e, req.scheme).into_response(),
    };
    add_dpop_nonce(&state, &mut r);
    r
}
