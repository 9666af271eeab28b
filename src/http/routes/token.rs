//! `POST /token` (RFC 6749 §3.2): a thin handler over
//! [`crate::protocol::token`].

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

use crate::error::{AppError, AuthScheme, no_store};
use crate::http::audit::{self, RequestMeta};
use crate::protocol::error::OAuthError;
use crate::protocol::params::RawParams;
use crate::protocol::token::{self, TokenCtx, TokenReport};
use crate::state::AppState;

/// Whether the body is `application/x-www-form-urlencoded` (RFC 6749 §3.2).
pub fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// The token-endpoint context of `state`.
pub fn ctx(state: &AppState) -> TokenCtx<'_> {
    TokenCtx {
        store: state.store.as_ref(),
        clock: state.clock.as_ref(),
        rng: state.rng.as_ref(),
        keys: state.keys.as_ref(),
        settings: &state.tokens,
    }
}

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

/// The client authentication method a request used, for events.
pub fn auth_method(authorization: Option<&str>, form: &RawParams) -> &'static str {
    if authorization.is_some_and(|a| a.trim_start().to_ascii_lowercase().starts_with("basic ")) {
        "client_secret_basic"
    } else if form.get("client_assertion").is_some() {
        "private_key_jwt"
    } else if form.get("client_secret").is_some() {
        "client_secret_post"
    } else {
        "none"
    }
}

/// `POST /token`.
pub async fn post_token(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !is_form(&headers) {
        let e = OAuthError::invalid_request("the body must be application/x-www-form-urlencoded");
        return AppError::Token(e, AuthScheme::Other).into_response();
    }
    let form = RawParams::parse(&body);
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let mut report = TokenReport::default();
    let result = token::handle(
        &ctx(&state),
        &state.grants,
        state.client_jwks.as_ref(),
        authorization,
        &form,
        &mut report,
    )
    .await;
    audit::token(&state, &meta, &report, auth_method(authorization, &form));
    match result {
        Ok(resp) => {
            log_report(&report, None);
            let mut r = Json(resp).into_response();
            no_store(&mut r);
            r
        }
        Err(f) => {
            log_report(&report, Some(&f.error));
            let scheme = if f.basic {
                AuthScheme::Basic
            } else {
                AuthScheme::Other
            };
            AppError::Token(f.error, scheme).into_response()
        }
    }
}
