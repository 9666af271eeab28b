//! `grant_type=client_credentials` (RFC 6749 §4.4): confidential clients
//! only, scopes limited to the client's allowed set; an RFC 8707 `resource`
//! among the client's `allowed_resources`. Writes nothing to the
//! database: the access token is a self-contained JWT.

use async_trait::async_trait;

use super::issue::{self, Principal};
use super::{GrantHandler, TokenCtx, TokenReport, TokenResponse};
use crate::domain::{Client, ClientKind, GrantType, ScopeSet};
use crate::protocol::error::{ErrorCode, OAuthError};
use crate::protocol::params::RawParams;

/// Scopes that only make sense with a user.
const USER_ONLY: [&str; 2] = ["openid", "offline_access"];

/// The client credentials grant.
pub struct ClientCredentialsGrant;

#[async_trait]
impl GrantHandler for ClientCredentialsGrant {
    fn grant_type(&self) -> GrantType {
        GrantType::ClientCredentials
    }

    async fn handle(
        &self,
        ctx: &TokenCtx<'_>,
        client: &Client,
        params: &RawParams,
        report: &mut TokenReport,
    ) -> Result<TokenResponse, OAuthError> {
        // §4.4: "MUST only be used by confidential clients".
        if client.kind() == ClientKind::Public {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "client_credentials needs a confidential client",
            ));
        }
        let allowed: Vec<&str> = client
            .scopes
            .iter()
            .filter(|s| !USER_ONLY.contains(s))
            .collect();
        let allowed = ScopeSet::from_tokens(&allowed).map_err(OAuthError::server_error)?;
        let scope = match params.get("scope") {
            None => allowed,
            Some(raw) => {
                let asked = ScopeSet::parse(raw)
                    .map_err(|e| OAuthError::new(ErrorCode::InvalidScope, e.to_string()))?;
                if !asked.is_subset(&allowed) {
                    return Err(OAuthError::new(
                        ErrorCode::InvalidScope,
                        "the requested scope is not allowed for this client",
                    ));
                }
                asked
            }
        };
        // RFC 8707: at most one resource, allowed for the client and
        // registered; its token carries the scopes the API defines.
        let target = issue::client_target(ctx, params, client, &scope).await?;
        let now = ctx.clock.now();
        let who = Principal {
            subject: client.id.as_str(),
            auth_time: None,
            session_id: None,
            grant_id: None,
            acr: None,
        };
        let (access_token, lifetime) =
            issue::access_token_for(ctx, client, &who, &target, now).await?;
        report.issued = vec!["access_token"];
        report.scope = Some(target.scope.to_string());
        Ok(TokenResponse {
            access_token,
            token_type: issue::token_type(ctx),
            expires_in: lifetime.num_seconds(),
            refresh_token: None,
            id_token: None,
            scope: target.scope.to_string(),
        })
    }
}
