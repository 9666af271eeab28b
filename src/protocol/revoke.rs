//! Token revocation (RFC 7009): the rules of `POST /revoke`, after the
//! client authenticated ([`super::client_auth`]).

use super::error::{ErrorCode, OAuthError};
use super::grant::{self, GrantSelector};
use super::params::RawParams;
use super::resource;
use super::token::TokenCtx;
use crate::domain::{Client, RevokedAccessToken, TokenHash};

/// What was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    /// A refresh token, with its grant and every token of it.
    RefreshToken,
    /// A JWT access token (its `jti` is remembered until it expires).
    AccessToken,
    /// Nothing: the token is unknown, invalid or expired (§2.2: still 200).
    Nothing,
}

/// The pure step: `token` is required (§2.1). `token_type_hint` is only a
/// hint (§2.1: the server searches every kind anyway).
pub fn validate(form: &RawParams) -> Result<&str, OAuthError> {
    form.get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))
}

fn other_client() -> OAuthError {
    OAuthError::invalid_request("the token was not issued to this client")
}

/// Revokes `token` for `client`. A token of another client is refused
/// (§2.1); a refresh token takes its grant, and so every token of the
/// grant, with it (§2.1: SHOULD also invalidate what the same grant
/// issued).
pub async fn handle(
    ctx: &TokenCtx<'_>,
    client: &Client,
    token: &str,
) -> Result<Revoked, OAuthError> {
    let now = ctx.clock.now();
    if let Some(rt) = ctx
        .store
        .refresh_tokens()
        .get_refresh_token(&TokenHash::of(token))
        .await?
    {
        if rt.client_id != client.id {
            return Err(other_client());
        }
        grant::revoke(ctx.store, GrantSelector::Id(&rt.family_id), now).await?;
        return Ok(Revoked::RefreshToken);
    }
    match resource::validate_issued(ctx, token).await {
        Ok(claims) => {
            if claims.client_id != client.id.as_str() {
                return Err(other_client());
            }
            let record = RevokedAccessToken {
                jti: claims.jti,
                client_id: client.id.clone(),
                revoked_at: now,
                expires_at: claims.expires_at,
            };
            ctx.store
                .revoked_tokens()
                .insert_revoked_token(&record)
                .await?;
            Ok(Revoked::AccessToken)
        }
        Err(e) if e.code == ErrorCode::TemporarilyUnavailable => Err(e),
        Err(_) => Ok(Revoked::Nothing),
    }
}
