//! `GET|POST /userinfo` (OpenID Connect Core §5.3, RFC 6750).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::domain::UserId;
use crate::error::{AppError, no_store};
use crate::http::routes::token::is_form;
use crate::protocol::error::{ErrorCode, OAuthError};
use crate::protocol::params::RawParams;
use crate::protocol::resource;
use crate::protocol::token::issue::user_claims;
use crate::state::AppState;

/// RFC 6750 §3.1: a request without any credentials gets the challenge
/// without an error code (the JSON body says what is missing, as every
/// other error of this endpoint has one).
fn no_credentials() -> Response {
    let body = serde_json::json!({
        "error": "invalid_token",
        "error_description": "no access token was presented",
    });
    let mut r = (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"portcullis\""),
    );
    no_store(&mut r);
    r
}

/// The bearer token: from `Authorization: Bearer` or, for POST, the
/// `access_token` form field (RFC 6750 §2.1–2.2); never both, never the
/// query.
pub fn bearer_token(
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Option<String>, OAuthError> {
    let header_token = match headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        Some(h) => {
            let (scheme, token) = h.trim().split_once(' ').unwrap_or((h, ""));
            if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
                return Err(OAuthError::invalid_request(
                    "the Authorization header must be Bearer <token>",
                ));
            }
            Some(token.trim().to_owned())
        }
        None => None,
    };
    let form_token = if *method == Method::POST && is_form(headers) {
        let form = RawParams::parse(body);
        if form.is_repeated("access_token") {
            return Err(OAuthError::invalid_request(
                "access_token was given more than once",
            ));
        }
        form.get("access_token").map(str::to_owned)
    } else {
        None
    };
    match (header_token, form_token) {
        (Some(_), Some(_)) => Err(OAuthError::invalid_request(
            "use one way to send the access token (RFC 6750 section 2)",
        )),
        (a, b) => Ok(a.or(b)),
    }
}

/// `GET|POST /userinfo`.
pub async fn userinfo(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let token = match bearer_token(&method, &headers, &body) {
        Ok(Some(t)) => t,
        Ok(None) => return no_credentials(),
        Err(e) => return AppError::Bearer(e).into_response(),
    };
    let s = &state.tokens;
    let now = state.clock.now();
    let claims = match resource::validate_access_token(
        state.keys.as_ref(),
        state.store.as_ref(),
        &s.issuer,
        &s.access_token_audience,
        &token,
        now,
    )
    .await
    {
        Ok(c) => c,
        Err(e) => return AppError::Bearer(e).into_response(),
    };
    if !claims.scope.contains("openid") {
        let e = OAuthError::new(
            ErrorCode::InsufficientScope,
            "the access token lacks the openid scope",
        );
        return AppError::Bearer(e).into_response();
    }
    let user = match state
        .store
        .user_by_id(&UserId::new(claims.subject.clone()))
        .await
    {
        Ok(Some(u)) if !u.disabled => u,
        Ok(_) => {
            return AppError::Bearer(OAuthError::new(
                ErrorCode::InvalidToken,
                "the user no longer exists",
            ))
            .into_response();
        }
        Err(e) => return AppError::Bearer(OAuthError::from(e)).into_response(),
    };
    let mut r = Json(user_claims(&user, &claims.scope)).into_response();
    no_store(&mut r);
    r
}
