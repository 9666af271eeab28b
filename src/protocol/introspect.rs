//! Token introspection (RFC 7662): the rules of `POST /introspect`, after
//! the client authenticated ([`super::client_auth`]).

use serde_json::{Value, json};

use super::error::{ErrorCode, OAuthError};
use super::params::RawParams;
use super::resource;
use super::token::TokenCtx;
use crate::domain::{Client, ClientKind, TokenHash};

/// The pure step: `token` is required (§2.1), and a public client may not
/// introspect (§2.1: the endpoint requires authorization).
pub fn validate<'f>(client: &Client, form: &'f RawParams) -> Result<&'f str, OAuthError> {
    let token = form
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    if client.kind() == ClientKind::Public {
        return Err(OAuthError::new(
            ErrorCode::InvalidClient,
            "introspection requires a confidential client",
        ));
    }
    Ok(token)
}

/// The introspection response (§2.2): an active access token's claims, an
/// active refresh token of this client, else `{"active": false}`.
pub async fn handle(ctx: &TokenCtx<'_>, client: &Client, token: &str) -> Result<Value, OAuthError> {
    match resource::validate(ctx, token).await {
        Ok(claims) => {
            let mut v = Value::Object(claims.all);
            v["active"] = json!(true);
            v["token_type"] = json!("Bearer");
            return Ok(v);
        }
        Err(e) if e.code == ErrorCode::TemporarilyUnavailable => return Err(e),
        Err(_) => {}
    }
    let now = ctx.clock.now();
    let rt = ctx
        .store
        .refresh_tokens()
        .get_refresh_token(&TokenHash::of(token))
        .await?;
    // A refresh token is described only to the client that holds it, while
    // it and its grant live.
    let rt = match rt {
        Some(rt)
            if rt.client_id == client.id
                && rt.revoked_at.is_none()
                && rt.rotated_at.is_none()
                && rt.expires_at > now =>
        {
            let grant = ctx.store.grants().get_grant(&rt.family_id).await?;
            grant.is_some_and(|g| g.revoked_at.is_none()).then_some(rt)
        }
        _ => None,
    };
    Ok(match rt {
        Some(rt) => {
            json!({
                "active": true,
                "token_type": "refresh_token",
                "client_id": rt.client_id.as_str(),
                "sub": rt.user_id.as_str(),
                "scope": rt.scope.to_string(),
                "exp": rt.expires_at.timestamp(),
                "iat": rt.created_at.timestamp(),
                "iss": ctx.settings.issuer,
            })
        }
        _ => json!({ "active": false }),
    })
}
