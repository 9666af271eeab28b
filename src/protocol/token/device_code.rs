//! `grant_type=urn:ietf:params:oauth:grant-type:device_code` (RFC 8628
//! §3.4–3.5): the device polls with its device code until the user decides.
//! Tokens are issued as the authorization-code grant issues them: a grant
//! row with the session that approved (logout and revocation reach it), an
//! access token, a refresh token with `offline_access`, an ID token with
//! `openid`.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use super::issue::{self, Lineage};
use super::{GrantHandler, TokenCtx, TokenReport, TokenResponse};
use crate::domain::device::{DeviceAuthorization, DeviceStatus};
use crate::domain::{Client, Grant, GrantType, TokenHash};
use crate::protocol::device::SLOW_DOWN_SECS;
use crate::protocol::error::{ErrorCode, OAuthError};
use crate::protocol::params::RawParams;

/// The device code grant.
pub struct DeviceCodeGrant;

/// What a poll of a known device code of this client leads to (§3.5),
/// before the poll is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    /// `expired_token`.
    Expired,
    /// `invalid_grant`: the tokens were fetched already.
    Redeemed,
    /// `slow_down`: sooner than the interval after the last poll.
    TooFast,
    /// `authorization_pending`.
    Pending,
    /// `access_denied`.
    Denied,
    /// Issue the tokens.
    Approved,
}

/// The pure rule of a poll at `now`.
pub fn validate(rec: &DeviceAuthorization, now: DateTime<Utc>) -> Poll {
    if rec.expires_at <= now {
        return Poll::Expired;
    }
    if rec.status == DeviceStatus::Redeemed {
        return Poll::Redeemed;
    }
    if rec
        .last_polled_at
        .is_some_and(|last| now - last < Duration::seconds(rec.interval_secs))
    {
        return Poll::TooFast;
    }
    match rec.status {
        DeviceStatus::Pending => Poll::Pending,
        DeviceStatus::Denied => Poll::Denied,
        DeviceStatus::Approved | DeviceStatus::Redeemed => Poll::Approved,
    }
}

fn slow_down() -> OAuthError {
    OAuthError::new(
        ErrorCode::SlowDown,
        "polling too fast: wait the interval, which grew by 5 seconds",
    )
}

#[async_trait]
impl GrantHandler for DeviceCodeGrant {
    fn grant_type(&self) -> GrantType {
        GrantType::DeviceCode
    }

    async fn handle(
        &self,
        ctx: &TokenCtx<'_>,
        client: &Client,
        params: &RawParams,
        report: &mut TokenReport,
    ) -> Result<TokenResponse, OAuthError> {
        let code = params
            .get("device_code")
            .ok_or_else(|| OAuthError::invalid_request("device_code is required"))?;
        let now = ctx.clock.now();
        let hash = TokenHash::of(code);
        let rec = ctx
            .store
            .device_codes()
            .device_code_by_hash(&hash)
            .await?
            .ok_or_else(|| OAuthError::invalid_grant("the device code is invalid"))?;
        // §3.4: the code is bound to the client it was issued to.
        if rec.client_id != client.id {
            return Err(OAuthError::invalid_grant(
                "the device code was issued to another client",
            ));
        }
        let poll = validate(&rec, now);
        match poll {
            Poll::Expired => {
                return Err(OAuthError::new(
                    ErrorCode::ExpiredToken,
                    "the device code has expired",
                ));
            }
            Poll::Redeemed => {
                return Err(OAuthError::invalid_grant(
                    "the device code was already used",
                ));
            }
            _ => {}
        }
        // One conditional update: a poll that another poll beat is too fast.
        let slower = (poll == Poll::TooFast).then_some(SLOW_DOWN_SECS);
        let recorded = ctx
            .store
            .device_codes()
            .record_poll(&hash, rec.last_polled_at, now, slower)
            .await?;
        if poll == Poll::TooFast || !recorded {
            return Err(slow_down());
        }
        match poll {
            Poll::Pending => Err(OAuthError::new(
                ErrorCode::AuthorizationPending,
                "the user has not decided yet",
            )),
            Poll::Denied => Err(OAuthError::new(
                ErrorCode::AccessDenied,
                "the user denied the request",
            )),
            _ => redeem(ctx, client, &rec, params, now, report).await,
        }
    }
}

/// Redeems an approved code once and issues its tokens.
async fn redeem(
    ctx: &TokenCtx<'_>,
    client: &Client,
    rec: &DeviceAuthorization,
    params: &RawParams,
    now: DateTime<Utc>,
    report: &mut TokenReport,
) -> Result<TokenResponse, OAuthError> {
    let (Some(user_id), Some(auth_time)) = (&rec.user_id, rec.auth_time) else {
        return Err(OAuthError::server_error(
            "an approved device code without its user",
        ));
    };
    report.subject = Some(user_id.to_string());
    report.session_id.clone_from(&rec.session_id);
    let user = issue::active_user(ctx, user_id).await?;
    // The session that approved must still be on: a logout in between
    // ends what it approved (the grant row would come too late for it).
    if let Some(sid) = &rec.session_id {
        let session = ctx.store.sessions().session_by_id(sid).await?;
        if session.is_none_or(|s| s.ended_at.is_some()) {
            return Err(OAuthError::invalid_grant(
                "the sign-in that approved the device has ended",
            ));
        }
    }
    // RFC 8707 §2.2: the access token's resource, among those the device
    // authorization named; checked before the code is used, so that a
    // refused `resource` leaves it for a corrected request.
    let target = issue::grant_target(ctx, client, params, &rec.resources, &rec.scope).await?;
    let grant = Grant {
        id: ctx
            .rng
            .uuid_v7(u64::try_from(now.timestamp_millis()).unwrap_or_default()),
        client_id: client.id.clone(),
        user_id: user_id.clone(),
        scope: rec.scope.clone(),
        session_id: rec.session_id.clone(),
        created_at: now,
        revoked_at: None,
    };
    let uow = ctx.store.begin().await?;
    if !uow
        .device_codes()
        .redeem_device_code(&rec.code_hash, now)
        .await?
    {
        return Err(OAuthError::invalid_grant(
            "the device code was already used",
        ));
    }
    uow.grants().insert_grant(&grant).await?;
    let issued = issue::UserGrant {
        user: &user,
        nonce: None,
        amr: rec.amr.as_deref(),
        lineage: Lineage {
            family: &grant.id,
            scope: &rec.scope,
            session_id: rec.session_id.as_deref(),
            auth_time,
            acr: rec.acr.as_deref(),
            resources: &rec.resources,
            // The grant started when the user approved.
            started_at: rec.decided_at.unwrap_or(now),
            dpop_jkt: None,
        },
    };
    let response =
        issue::user_tokens(ctx, uow.as_ref(), client, &issued, &target, now, report).await?;
    uow.commit().await?;
    // A logout that committed between the check above and this commit
    // revoked nothing of this grant (it did not exist yet) and told its
    // client nothing: look again, and revoke rather than hand out tokens
    // of an ended sign-in.
    if let Some(sid) = &rec.session_id {
        let session = ctx.store.sessions().session_by_id(sid).await?;
        if session.is_none_or(|s| s.ended_at.is_some()) {
            crate::protocol::grant::revoke(
                ctx.store,
                crate::protocol::grant::GrantSelector::Id(&grant.id),
                now,
            )
            .await?;
            report.issued.clear();
            report.scope = None;
            return Err(OAuthError::invalid_grant(
                "the sign-in that approved the device has ended",
            ));
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::device::UserCode;
    use crate::domain::{ClientId, ScopeSet};

    fn rec(status: DeviceStatus, last: Option<i64>) -> (DeviceAuthorization, DateTime<Utc>) {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let r = DeviceAuthorization {
            code_hash: TokenHash::of("d"),
            user_code: UserCode::parse("BCDFGHJK").unwrap(),
            client_id: ClientId::parse("c1").unwrap(),
            scope: ScopeSet::parse("openid").unwrap(),
            resources: Vec::new(),
            status,
            user_id: None,
            session_id: None,
            auth_time: None,
            amr: None,
            acr: None,
            interval_secs: 5,
            last_polled_at: last.map(|s| now - Duration::seconds(s)),
            created_at: now - Duration::seconds(60),
            expires_at: now + Duration::seconds(60),
            decided_at: None,
        };
        (r, now)
    }

    #[test]
    fn a_poll_follows_rfc_8628_section_3_5() {
        use DeviceStatus::*;
        for (status, last, want) in [
            (Pending, None, Poll::Pending),
            (Pending, Some(5), Poll::Pending),
            (Pending, Some(4), Poll::TooFast),
            (Approved, Some(1), Poll::TooFast),
            (Approved, None, Poll::Approved),
            (Denied, Some(10), Poll::Denied),
            (Redeemed, Some(0), Poll::Redeemed),
        ] {
            let (r, now) = rec(status, last);
            assert_eq!(validate(&r, now), want, "{status:?} {last:?}");
        }
        let (mut r, now) = rec(Approved, None);
        r.expires_at = now;
        assert_eq!(validate(&r, now), Poll::Expired);
    }
}
