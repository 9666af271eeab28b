//! `grant_type=refresh_token` (RFC 6749 §6; OAuth 2.0 Security BCP §4.14:
//! rotation, and reuse detection that revokes the whole family).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::issue::{self, IdTokenInput, Principal};
use super::{GrantHandler, TokenCtx, TokenReport, TokenResponse};
use crate::domain::{Client, GrantType, RefreshToken, ScopeSet, TokenHash};
use crate::protocol::error::{ErrorCode, OAuthError};
use crate::protocol::grant;
use crate::protocol::params::RawParams;

/// The refresh token grant.
pub struct RefreshTokenGrant;

/// A rotated token came back: someone holds a copy. Revoke its grant (the
/// family), committed before the error (docs/SECURITY.md invariant 4).
async fn reuse_detected(
    ctx: &TokenCtx<'_>,
    rec: &RefreshToken,
    now: DateTime<Utc>,
    report: &mut TokenReport,
) -> OAuthError {
    report.refresh_reuse_detected = true;
    grant::revoke_after_misuse(
        ctx.store,
        &rec.family_id,
        now,
        "the refresh token was already used; the token family is revoked",
    )
    .await
}

/// §6: a narrower scope may be asked for; a wider one is refused.
fn narrowed_scope(params: &RawParams, granted: &ScopeSet) -> Result<ScopeSet, OAuthError> {
    let Some(raw) = params.get("scope") else {
        return Ok(granted.clone());
    };
    let asked = ScopeSet::parse(raw)
        .map_err(|e| OAuthError::new(ErrorCode::InvalidScope, e.to_string()))?;
    if !asked.is_subset(granted) {
        return Err(OAuthError::new(
            ErrorCode::InvalidScope,
            "the requested scope exceeds the original grant",
        ));
    }
    Ok(asked)
}

#[async_trait]
impl GrantHandler for RefreshTokenGrant {
    fn grant_type(&self) -> GrantType {
        GrantType::RefreshToken
    }

    async fn handle(
        &self,
        ctx: &TokenCtx<'_>,
        client: &Client,
        params: &RawParams,
        report: &mut TokenReport,
    ) -> Result<TokenResponse, OAuthError> {
        let token = params
            .get("refresh_token")
            .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
        let now = ctx.clock.now();
        let hash = TokenHash::of(token);
        let rec = ctx
            .store
            .refresh_tokens()
            .get_refresh_token(&hash)
            .await?
            .ok_or_else(|| OAuthError::invalid_grant("the refresh token is invalid"))?;
        if rec.client_id != client.id {
            return Err(OAuthError::invalid_grant(
                "the refresh token was issued to another client",
            ));
        }
        report.subject = Some(rec.user_id.to_string());
        report.session_id.clone_from(&rec.session_id);
        if rec.revoked_at.is_some() {
            return Err(OAuthError::invalid_grant("the refresh token was revoked"));
        }
        // The grant first: a revoked grant (logout, user disabled, ...) kills
        // every token of the family, rotated ones included.
        let grant = ctx
            .store
            .grants()
            .get_grant(&rec.family_id)
            .await?
            .ok_or_else(|| {
                OAuthError::invalid_grant("the grant of the refresh token is unknown")
            })?;
        if grant.revoked_at.is_some() {
            return Err(OAuthError::invalid_grant("the grant was revoked"));
        }
        if rec.rotated_at.is_some() {
            return Err(reuse_detected(ctx, &rec, now, report).await);
        }
        // The sliding lifetime, then the absolute one (a lowered setting
        // applies to tokens issued before it).
        if rec.expires_at <= now || issue::family_end(ctx.settings, grant.created_at) <= now {
            return Err(OAuthError::invalid_grant("the refresh token has expired"));
        }
        let scope = narrowed_scope(params, &rec.scope)?;
        let user = issue::active_user(ctx, &rec.user_id).await?;

        let uow = ctx.store.begin().await?;
        if !uow
            .refresh_tokens()
            .rotate_refresh_token(&hash, now)
            .await?
        {
            drop(uow);
            return Err(reuse_detected(ctx, &rec, now, report).await);
        }
        // §6: the new refresh token keeps the original scope.
        let (next, record) = issue::refresh_token(
            ctx,
            client,
            &user,
            &issue::Lineage {
                family: &rec.family_id,
                scope: &rec.scope,
                session_id: rec.session_id.as_deref(),
                auth_time: rec.auth_time,
                acr: rec.acr.as_deref(),
                started_at: grant.created_at,
            },
            now,
        );
        uow.refresh_tokens().insert_refresh_token(&record).await?;
        let who = Principal {
            subject: user.id.as_str(),
            auth_time: Some(rec.auth_time),
            session_id: rec.session_id.as_deref(),
            grant_id: Some(&rec.family_id),
            acr: rec.acr.as_deref(),
        };
        let (access_token, lifetime) = issue::access_token(ctx, client, &who, &scope, now).await?;
        let mut issued = vec!["access_token", "refresh_token"];
        // OIDC Core §12.2: an ID token may come with a refreshed access token.
        let id_token = if scope.contains("openid") {
            issued.push("id_token");
            let input = IdTokenInput {
                user: &user,
                scope: &scope,
                auth_time: rec.auth_time,
                nonce: None,
                session_id: rec.session_id.as_deref(),
                amr: None,
                acr: rec.acr.as_deref(),
                access_token: &access_token,
            };
            Some(issue::id_token(ctx, client, &input, now).await?)
        } else {
            None
        };
        uow.commit().await?;
        report.refresh_rotated = true;
        report.issued = issued;
        report.scope = Some(scope.to_string());
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: lifetime.num_seconds(),
            refresh_token: Some(next),
            id_token,
            scope: scope.to_string(),
        })
    }
}
