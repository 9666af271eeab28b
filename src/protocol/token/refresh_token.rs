//! `grant_type=refresh_token` (RFC 6749 §6; OAuth 2.0 Security BCP §4.14:
//! rotation, and reuse detection that revokes the whole family).
//!
//! The grace window (RFC 9700 §4.14.2, `PORTCULLIS_REFRESH_GRACE_SECS`):
//! two refreshes of one token sent at once (two tabs, a retry after a lost
//! response) are not an attack. The rotation stores its answer, sealed
//! under a key derived from the presented token ([`successor`]), in the
//! same conditional update that marks the token rotated; the same token
//! presented again by the same client within the window gets that answer
//! back (the same successor, not a new pair). After the window, reuse
//! revokes the family as before.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::issue::{self, IdTokenInput, Principal};
use super::{GrantHandler, TokenCtx, TokenReport, TokenResponse};
use crate::domain::{Client, GrantType, RefreshToken, ScopeSet, TokenHash};
use crate::protocol::dpop;
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

/// The rotated token came back (or this request lost the race to rotate
/// it): within the grace window, with the winner's answer stored, that
/// answer again; otherwise reuse, and the family is revoked.
async fn presented_again(
    ctx: &TokenCtx<'_>,
    token: &str,
    params: &RawParams,
    rec: &RefreshToken,
    now: DateTime<Utc>,
    report: &mut TokenReport,
) -> Result<TokenResponse, OAuthError> {
    let grace = ctx.settings.refresh_grace;
    if let (Some(rotated_at), Some(sealed)) = (rec.rotated_at, rec.successor.as_deref())
        && grace > chrono::Duration::zero()
        && rec.revoked_at.is_none()
        && now < rotated_at + grace
        && let Some(answer) = successor::open(token, sealed)
    {
        // A retry is the same request: one asking for another scope or
        // resource would get a token it did not ask for. It is refused,
        // without revoking anything (it is the same client, in the window).
        if answer.asked != successor::asked(params, ctx.dpop) {
            return Err(OAuthError::invalid_grant(
                "the refresh token was just rotated for a different request; use its successor",
            ));
        }
        report.refresh_retried = true;
        report.issued = if answer.id_token.is_some() {
            vec!["access_token", "refresh_token", "id_token"]
        } else {
            vec!["access_token", "refresh_token"]
        };
        report.scope = Some(answer.scope.clone());
        return Ok(answer.into_response(now));
    }
    Err(reuse_detected(ctx, rec, now, report).await)
}

/// The answer of a rotation, sealed for the grace window: AES-256-GCM under
/// SHA-256 of a label and the presented refresh token, so that only a
/// holder of that token can read it (the database keeps token hashes
/// only, and a copy of it does not yield the successor).
pub mod successor {
    use aes_gcm::aead::{Aead, KeyInit};
    use aes_gcm::{Aes256Gcm, Nonce};
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Serialize};
    use sha2::{Digest, Sha256};

    use super::TokenResponse;
    use crate::ports::Rng;
    use crate::protocol::dpop::Proof;
    use crate::protocol::params::RawParams;

    const LABEL: &[u8] = b"portcullis refresh successor v1\0";

    /// What is sealed: the answer, with the access token's absolute expiry
    /// (a replay answers with the seconds left).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Answer {
        /// `access_token`.
        pub access_token: String,
        /// `token_type`.
        pub token_type: String,
        /// When the access token expires.
        pub expires_at: DateTime<Utc>,
        /// `refresh_token`.
        pub refresh_token: Option<String>,
        /// `id_token`.
        pub id_token: Option<String>,
        /// `scope`.
        pub scope: String,
        /// What the request asked for ([`asked`]): a retry must ask the
        /// same.
        #[serde(default)]
        pub asked: String,
    }

    /// The `scope` and `resource` parameters of a refresh request and the
    /// key of its DPoP proof (RFC 9449: the answer's access token is bound
    /// to it), as one string: what makes two requests the same one.
    pub fn asked(params: &RawParams, dpop: Option<&Proof>) -> String {
        let mut resources = params.get_all("resource");
        resources.sort_unstable();
        format!(
            "{}\n{}\n{}",
            params.get("scope").unwrap_or_default(),
            resources.join(" "),
            dpop.map(|p| p.jkt.as_str()).unwrap_or_default()
        )
    }

    impl Answer {
        /// The answer of `response` to a request that `asked`, issued `now`.
        pub fn of(response: &TokenResponse, asked: String, now: DateTime<Utc>) -> Self {
            Self {
                asked,
                access_token: response.access_token.clone(),
                token_type: response.token_type.to_owned(),
                expires_at: now + chrono::Duration::seconds(response.expires_in),
                refresh_token: response.refresh_token.clone(),
                id_token: response.id_token.clone(),
                scope: response.scope.clone(),
            }
        }

        /// The same answer given again at `now`.
        pub fn into_response(self, now: DateTime<Utc>) -> TokenResponse {
            TokenResponse {
                access_token: self.access_token,
                token_type: if self.token_type == "Bearer" {
                    "Bearer"
                } else {
                    "DPoP"
                },
                expires_in: (self.expires_at - now).num_seconds().max(0),
                refresh_token: self.refresh_token,
                id_token: self.id_token,
                scope: self.scope,
            }
        }
    }

    fn cipher(token: &str) -> Aes256Gcm {
        let mut h = Sha256::new();
        h.update(LABEL);
        h.update(token.as_bytes());
        let key: [u8; 32] = h.finalize().into();
        #[allow(clippy::expect_used)] // a 32-byte key is always accepted
        Aes256Gcm::new_from_slice(&key).expect("AES-256 takes a 32-byte key")
    }

    /// Seals `answer` under `token`: base64url of nonce and ciphertext.
    pub fn seal(token: &str, answer: &Answer, rng: &dyn Rng) -> String {
        let mut nonce = [0_u8; 12];
        rng.fill(&mut nonce);
        let plain = serde_json::to_vec(answer).unwrap_or_default();
        let mut out = nonce.to_vec();
        // Encryption with a valid key and nonce cannot fail.
        out.extend(
            cipher(token)
                .encrypt(&Nonce::from(nonce), plain.as_slice())
                .unwrap_or_default(),
        );
        URL_SAFE_NO_PAD.encode(out)
    }

    /// The answer sealed under `token`, if `sealed` is one (`None` for
    /// another token, a tampered value or garbage).
    pub fn open(token: &str, sealed: &str) -> Option<Answer> {
        let bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        if bytes.len() < 12 + 16 {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().ok()?;
        let plain = cipher(token)
            .decrypt(&Nonce::from(nonce), ciphertext)
            .ok()?;
        serde_json::from_slice(&plain).ok()
    }
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

/// Who a refreshed access token is about: the grant's user and
/// authentication (`auth_time`, `acr`: RFC 9068 §2.2.1), kept from the
/// code.
fn principal(rec: &crate::domain::RefreshToken) -> Principal<'_> {
    Principal {
        subject: rec.user_id.as_str(),
        auth_time: Some(rec.auth_time),
        session_id: rec.session_id.as_deref(),
        grant_id: Some(&rec.family_id),
        acr: rec.acr.as_deref(),
    }
}

#[async_trait]
impl GrantHandler for RefreshTokenGrant {
    fn grant_type(&self) -> GrantType {
        GrantType::RefreshToken
    }

    #[allow(clippy::too_many_lines)] // one grant, read top to bottom
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
        // RFC 9449 §5: a public client's refresh token issued with a proof
        // is used only with a proof of the same key, a retry in the grace
        // window too (checked before reuse detection: without the key, the
        // token is of no use to whoever holds a copy).
        dpop::require_key(rec.dpop_jkt.as_deref(), ctx.dpop, "refresh token")?;
        if rec.rotated_at.is_some() {
            return presented_again(ctx, token, params, &rec, now, report).await;
        }
        // The sliding lifetime, then the absolute one (a lowered setting
        // applies to tokens issued before it).
        if rec.expires_at <= now || issue::family_end(ctx.settings, grant.created_at) <= now {
            return Err(OAuthError::invalid_grant("the refresh token has expired"));
        }
        let scope = narrowed_scope(params, &rec.scope)?;
        let user = issue::active_user(ctx, &rec.user_id).await?;

        // The whole answer is built (and signed) first, so that the
        // rotation can store it with the conditional update that wins it.
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
                resources: &rec.resources,
                started_at: grant.created_at,
                // A bound refresh token stays bound (RFC 9449 §5).
                dpop_jkt: rec.dpop_jkt.as_deref(),
            },
            now,
        );
        // RFC 8707 §2.2: the access token's resource, among those the grant
        // was authorized for (narrower, never wider); the new refresh token
        // keeps them all.
        let target = issue::grant_target(ctx, client, params, &rec.resources, &scope).await?;
        let (access_token, lifetime) =
            issue::access_token_for(ctx, client, &principal(&rec), &target, now).await?;
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
        if !crate::protocol::fapi::rotates_refresh_tokens(client) {
            // FAPI 2.0 Security Profile §5.3.2.1 item 10: no rotation; the
            // client keeps its refresh token (RFC 6749 §6: a new one MAY be
            // issued), so a lost answer is simply asked again.
            issued.retain(|i| *i != "refresh_token");
            report.issued = issued;
            report.scope = Some(target.scope.to_string());
            return Ok(TokenResponse {
                access_token,
                token_type: issue::token_type(ctx),
                expires_in: lifetime.num_seconds(),
                refresh_token: None,
                id_token,
                scope: target.scope.to_string(),
            });
        }
        let response = TokenResponse {
            access_token,
            token_type: issue::token_type(ctx),
            expires_in: lifetime.num_seconds(),
            refresh_token: Some(next),
            id_token,
            // RFC 6749 §5.1: the access token's scope.
            scope: target.scope.to_string(),
        };
        let sealed = (ctx.settings.refresh_grace > chrono::Duration::zero()).then(|| {
            let answer = successor::Answer::of(&response, successor::asked(params, ctx.dpop), now);
            successor::seal(token, &answer, ctx.rng)
        });
        let uow = ctx.store.begin().await?;
        if !uow
            .refresh_tokens()
            .rotate_refresh_token(&hash, now, sealed.as_deref())
            .await?
        {
            drop(uow);
            // Another request rotated it first (or it was revoked): read
            // what it left, once it has committed.
            let again = ctx
                .store
                .refresh_tokens()
                .get_refresh_token(&hash)
                .await?
                .ok_or_else(|| OAuthError::invalid_grant("the refresh token is invalid"))?;
            return presented_again(ctx, token, params, &again, now, report).await;
        }
        uow.refresh_tokens().insert_refresh_token(&record).await?;
        uow.commit().await?;
        report.refresh_rotated = true;
        report.issued = issued;
        report.scope = Some(target.scope.to_string());
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::successor::{self, Answer};
    use crate::testing::SeqRng;

    fn answer() -> Answer {
        Answer {
            access_token: "at".into(),
            token_type: "Bearer".into(),
            expires_at: chrono::Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap(),
            refresh_token: Some("rt2".into()),
            id_token: None,
            scope: "openid".into(),
            asked: "openid\n\n".into(),
        }
    }

    #[test]
    fn only_the_presented_token_opens_its_successor() {
        let rng = SeqRng::default();
        let sealed = successor::seal("rt1", &answer(), &rng);
        assert_eq!(successor::open("rt1", &sealed), Some(answer()));
        assert_eq!(successor::open("rt1x", &sealed), None, "another token");
        assert!(!sealed.contains("rt2"), "sealed, not in the clear");
        // A flipped bit or garbage is refused, never a panic.
        let mut bytes = sealed.into_bytes();
        let last = bytes.len() - 1;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert_eq!(successor::open("rt1", &tampered), None);
        assert_eq!(successor::open("rt1", "not base64!"), None);
        assert_eq!(successor::open("rt1", ""), None);
    }

    #[test]
    fn a_replayed_answer_counts_down_its_lifetime() {
        let a = answer();
        let now = a.expires_at - chrono::Duration::seconds(95);
        let r = a.clone().into_response(now);
        assert_eq!(r.expires_in, 95);
        assert_eq!(r.token_type, "Bearer");
        assert_eq!(
            a.into_response(now + chrono::Duration::hours(1)).expires_in,
            0
        );
    }
}
