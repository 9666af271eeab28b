//! `POST /revoke` (RFC 7009) and `POST /introspect` (RFC 7662): both need
//! client authentication and take `token` and `token_type_hint`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::domain::{Client, ClientKind, RevokedAccessToken, TokenHash};
use crate::error::{AppError, AuthScheme, no_store};
use crate::http::audit::{self, RequestMeta};
use crate::http::routes::token::is_form;
use crate::ports::events::TokenKind;
use crate::protocol::client_auth;
use crate::protocol::error::{ErrorCode, OAuthError};
use crate::protocol::params::RawParams;
use crate::protocol::resource;
use crate::state::AppState;

/// Records a failed client authentication at `endpoint`.
fn audit_failure(
    state: &AppState,
    meta: &RequestMeta,
    headers: &HeaderMap,
    body: &[u8],
    err: &AppError,
    endpoint: &str,
) {
    if let AppError::Token(e, _) = err
        && e.code == ErrorCode::InvalidClient
    {
        let form = RawParams::parse(body);
        let authorization = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let basic_id = authorization
            .and_then(client_auth::parse_basic)
            .map(|(id, _)| id);
        let id = basic_id.or_else(|| form.get("client_id").map(str::to_owned));
        let method = crate::http::routes::token::auth_method(authorization, &form);
        audit::client_auth_failed(state, meta, id.as_deref(), method, endpoint);
    }
}

/// Authenticates the client and reads `token`.
async fn authenticated(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Client, String, RawParams), AppError> {
    if !is_form(headers) {
        return Err(AppError::Token(
            OAuthError::invalid_request("the body must be application/x-www-form-urlencoded"),
            AuthScheme::Other,
        ));
    }
    let form = RawParams::parse(body);
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let scheme = if authorization.is_some() {
        AuthScheme::Basic
    } else {
        AuthScheme::Other
    };
    if let Some(name) = form.first_repeated() {
        return Err(AppError::Token(
            OAuthError::invalid_request(format!("parameter {name} was given more than once")),
            scheme,
        ));
    }
    let presented =
        client_auth::presented(authorization, &form).map_err(|e| AppError::Token(e, scheme))?;
    let t = &state.tokens;
    let audiences = [t.token_endpoint.as_str(), t.issuer.as_str()];
    let client = client_auth::authenticate(
        &presented,
        state.store.as_ref(),
        state.client_jwks.as_ref(),
        &audiences,
        state.clock.now(),
    )
    .await
    .map_err(|e| AppError::Token(e, scheme))?;
    let token = form
        .get("token")
        .map(str::to_owned)
        .ok_or_else(|| AppError::Token(OAuthError::invalid_request("token is required"), scheme))?;
    Ok((client, token, form))
}

/// `POST /revoke` (RFC 7009 §2). Unknown or invalid tokens answer 200
/// (§2.2); a token of another client is refused (§2.1).
pub async fn post_revoke(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (client, token, _form) = match authenticated(&state, &headers, &body).await {
        Ok(v) => v,
        Err(e) => {
            audit_failure(&state, &meta, &headers, &body, &e, "revoke");
            return e.into_response();
        }
    };
    let now = state.clock.now();
    let other_client = || {
        AppError::Token(
            OAuthError::invalid_request("the token was not issued to this client"),
            AuthScheme::Other,
        )
    };
    // A refresh token: revoke its family and grant (§2.1: SHOULD also
    // invalidate what the same grant issued).
    match state.store.get_refresh_token(&TokenHash::of(&token)).await {
        Ok(Some(rt)) => {
            if rt.client_id != client.id {
                return other_client().into_response();
            }
            let revoked = async {
                state
                    .store
                    .revoke_refresh_family(&rt.family_id, now)
                    .await?;
                state.store.revoke_grant(&rt.family_id, now).await
            }
            .await;
            if let Err(e) = revoked {
                return AppError::Token(OAuthError::from(e), AuthScheme::Other).into_response();
            }
            tracing::info!(client_id = %client.id, kind = "refresh_token", "token revoked");
            audit::revoked(&state, &meta, &client.id, TokenKind::RefreshToken);
            return ok_empty();
        }
        Ok(None) => {}
        Err(e) => return AppError::Token(OAuthError::from(e), AuthScheme::Other).into_response(),
    }
    // An access token (a JWT): remember its jti until it expires.
    let t = &state.tokens;
    match resource::validate_access_token(
        state.keys.as_ref(),
        state.store.as_ref(),
        &t.issuer,
        &t.access_token_audience,
        &token,
        now,
    )
    .await
    {
        Ok(claims) => {
            if claims.client_id != client.id.as_str() {
                return other_client().into_response();
            }
            let record = RevokedAccessToken {
                jti: claims.jti,
                client_id: client.id.clone(),
                revoked_at: now,
                expires_at: claims.expires_at,
            };
            if let Err(e) = state.store.insert_revoked_token(&record).await {
                return AppError::Token(OAuthError::from(e), AuthScheme::Other).into_response();
            }
            tracing::info!(client_id = %client.id, kind = "access_token", "token revoked");
            audit::revoked(&state, &meta, &client.id, TokenKind::AccessToken);
            ok_empty()
        }
        Err(e) if e.code == ErrorCode::TemporarilyUnavailable => {
            AppError::Token(e, AuthScheme::Other).into_response()
        }
        Err(_) => ok_empty(),
    }
}

fn ok_empty() -> Response {
    let mut r = StatusCode::OK.into_response();
    no_store(&mut r);
    r
}

fn inactive() -> Response {
    let mut r = Json(json!({ "active": false })).into_response();
    no_store(&mut r);
    r
}

/// `POST /introspect` (RFC 7662 §2). Public clients may not introspect.
pub async fn post_introspect(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (client, token, _form) = match authenticated(&state, &headers, &body).await {
        Ok(v) => v,
        Err(e) => {
            audit_failure(&state, &meta, &headers, &body, &e, "introspect");
            return e.into_response();
        }
    };
    if client.kind() == ClientKind::Public {
        let e = OAuthError::new(
            ErrorCode::InvalidClient,
            "introspection requires a confidential client",
        );
        return AppError::Token(e, AuthScheme::Other).into_response();
    }
    let now = state.clock.now();
    let t = &state.tokens;
    match resource::validate_access_token(
        state.keys.as_ref(),
        state.store.as_ref(),
        &t.issuer,
        &t.access_token_audience,
        &token,
        now,
    )
    .await
    {
        Ok(claims) => {
            let mut v = serde_json::Value::Object(claims.all);
            v["active"] = json!(true);
            v["token_type"] = json!("Bearer");
            let mut r = Json(v).into_response();
            no_store(&mut r);
            return r;
        }
        Err(e) if e.code == ErrorCode::TemporarilyUnavailable => {
            return AppError::Token(e, AuthScheme::Other).into_response();
        }
        Err(_) => {}
    }
    let rt = match state.store.get_refresh_token(&TokenHash::of(&token)).await {
        Ok(rt) => rt,
        Err(e) => return AppError::Token(OAuthError::from(e), AuthScheme::Other).into_response(),
    };
    // A refresh token is described only to the client that holds it.
    match rt {
        Some(rt)
            if rt.client_id == client.id
                && rt.revoked_at.is_none()
                && rt.rotated_at.is_none()
                && rt.expires_at > now =>
        {
            let mut r = Json(json!({
                "active": true,
                "token_type": "refresh_token",
                "client_id": rt.client_id.as_str(),
                "sub": rt.user_id.as_str(),
                "scope": rt.scope.to_string(),
                "exp": rt.expires_at.timestamp(),
                "iat": rt.created_at.timestamp(),
                "iss": t.issuer,
            }))
            .into_response();
            no_store(&mut r);
            r
        }
        _ => inactive(),
    }
}
