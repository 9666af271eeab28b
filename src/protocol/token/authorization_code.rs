//! `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.5–4.6,
//! OpenID Connect Core §3.1.3.2, RFC 8707 §2.2 `resource`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::issue;
use super::{GrantHandler, TokenCtx, TokenReport, TokenResponse};
use crate::domain::{AuthorizationCode, Client, GrantType, TokenHash};
use crate::protocol::dpop;
use crate::protocol::error::OAuthError;
use crate::protocol::grant;
use crate::protocol::params::RawParams;
use crate::protocol::pkce;

/// The authorization code grant.
pub struct AuthorizationCodeGrant;

/// A used code was presented again: revoke its grant and every token issued
/// from it, committed BEFORE the error is returned (RFC 6749 §4.1.2 "SHOULD
/// revoke"; docs/SECURITY.md invariant 2).
async fn revoke_replayed(
    ctx: &TokenCtx<'_>,
    code: &AuthorizationCode,
    now: DateTime<Utc>,
    report: &mut TokenReport,
) -> OAuthError {
    report.code_replayed = true;
    grant::revoke_after_misuse(
        ctx.store,
        &code.grant_id,
        now,
        "the authorization code was already used; what it issued is revoked",
    )
    .await
}

#[async_trait]
impl GrantHandler for AuthorizationCodeGrant {
    fn grant_type(&self) -> GrantType {
        GrantType::AuthorizationCode
    }

    async fn handle(
        &self,
        ctx: &TokenCtx<'_>,
        client: &Client,
        params: &RawParams,
        report: &mut TokenReport,
    ) -> Result<TokenResponse, OAuthError> {
        let code = params
            .get("code")
            .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
        let now = ctx.clock.now();
        let hash = TokenHash::of(code);
        let rec = ctx.store.codes().get_code(&hash).await?;
        let rec =
            rec.ok_or_else(|| OAuthError::invalid_grant("the authorization code is invalid"))?;
        // The code is bound to the client it was issued to (§4.1.3).
        if rec.client_id != client.id {
            return Err(OAuthError::invalid_grant(
                "the authorization code was issued to another client",
            ));
        }
        report.subject = Some(rec.user_id.to_string());
        report.session_id.clone_from(&rec.session_id);
        if rec.consumed_at.is_some() {
            return Err(revoke_replayed(ctx, &rec, now, report).await);
        }
        if rec.expires_at <= now {
            return Err(OAuthError::invalid_grant(
                "the authorization code has expired",
            ));
        }
        // §4.1.3: redirect_uri is REQUIRED when it was in the authorization
        // request (always, here) and the values MUST be identical.
        if params.get("redirect_uri") != Some(rec.redirect_uri.as_str()) {
            return Err(OAuthError::invalid_grant(
                "redirect_uri does not match the authorization request",
            ));
        }
        pkce::verify(
            rec.code_challenge.as_deref(),
            rec.code_challenge_method.as_deref(),
            params.get("code_verifier"),
        )
        .map_err(|_| OAuthError::invalid_grant("PKCE verification failed (code_verifier)"))?;
        // RFC 9449 §10: a code asked for with `dpop_jkt` is redeemed only
        // with a proof of that key (checked before the code is used).
        dpop::require_key(rec.dpop_jkt.as_deref(), ctx.dpop, "authorization code")?;
        let grant = ctx.store.grants().get_grant(&rec.grant_id).await?;
        if grant.is_none_or(|g| g.revoked_at.is_some()) {
            return Err(OAuthError::invalid_grant("the grant was revoked"));
        }
        let user = issue::active_user(ctx, &rec.user_id).await?;
        // RFC 8707 §2.2: the access token's resource, among those the code
        // was authorized for (checked before the code is used, so that a
        // refused resource leaves it for a corrected request).
        let target = issue::grant_target(ctx, client, params, &rec.resources, &rec.scope).await?;

        let uow = ctx.store.begin().await?;
        if !uow.codes().consume_code(&hash, now).await? {
            drop(uow);
            return Err(revoke_replayed(ctx, &rec, now, report).await);
        }
        let grant = issue::UserGrant {
            user: &user,
            nonce: rec.nonce.as_deref(),
            amr: rec.amr.as_deref(),
            lineage: issue::Lineage::of_code(&rec),
        };
        let response =
            issue::user_tokens(ctx, uow.as_ref(), client, &grant, &target, now, report).await?;
        uow.commit().await?;
        Ok(response)
    }
}
