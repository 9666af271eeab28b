//! Checking the access tokens we issued, at userinfo and introspection
//! (RFC 9068 §4, RFC 6750 §3.1), and how they were presented: a
//! DPoP-bound token (`cnf.jkt`, RFC 9449 §6.1) only with the `DPoP` scheme
//! and a proof of its key, never as a bearer token (§7;
//! [`validate_presented`]).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::dpop;
use super::error::{ErrorCode, OAuthError};
use super::token::TokenCtx;
use super::token::issue::GRANT_ID_CLAIM;
use crate::domain::ScopeSet;
use crate::ports::{KeyProvider, Store};

/// A valid access token's claims.
#[derive(Debug, Clone)]
pub struct AccessClaims {
    /// Every claim, as signed.
    pub all: Map<String, Value>,
    /// `sub`.
    pub subject: String,
    /// `client_id`.
    pub client_id: String,
    /// `scope`.
    pub scope: ScopeSet,
    /// `jti`.
    pub jti: String,
    /// `exp`.
    pub expires_at: DateTime<Utc>,
}

impl AccessClaims {
    /// The thumbprint of the DPoP key the token is bound to (`cnf.jkt`,
    /// RFC 9449 §6.1); `None`: a bearer token.
    pub fn dpop_jkt(&self) -> Option<&str> {
        self.all.get("cnf")?.get("jkt")?.as_str()
    }
}

fn invalid(text: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidToken, text)
}

/// How an access token was presented at a protected resource.
#[derive(Debug, Clone, Copy)]
pub enum Presentation<'a> {
    /// `Authorization: Bearer` or the `access_token` form field (RFC 6750
    /// §2).
    Bearer,
    /// `Authorization: DPoP` (RFC 9449 §7.1) with the request's `DPoP`
    /// header values, its method and the resource's URL (the issuer and
    /// the endpoint path, never the `Host` header).
    Dpop {
        /// The values of the request's `DPoP` headers.
        proofs: &'a [&'a str],
        /// The request method (`htm`).
        method: &'a str,
        /// The resource's URL (`htu`).
        uri: &'a str,
    },
}

/// [`validate`] for a token presented as `presentation`, the one home of
/// the DPoP rules of protected resources (RFC 9449 §7):
///
/// - a `DPoP` presentation needs a valid proof (`dpop::check`, with `ath`
///   the hash of this token: §4.3 item 12) of the key the token is bound
///   to, used once (`dpop::record_use`); a token that is not bound is
///   refused with it (`invalid_token`);
/// - a bearer presentation of a bound token is refused (`invalid_token`,
///   §7.2: a stolen bound token must not work as a bearer token).
pub async fn validate_presented(
    ctx: &TokenCtx<'_>,
    token: &str,
    presentation: &Presentation<'_>,
) -> Result<AccessClaims, OAuthError> {
    let Presentation::Dpop {
        proofs,
        method,
        uri,
    } = *presentation
    else {
        let claims = validate_default(ctx, token).await?;
        if claims.dpop_jkt().is_some() {
            return Err(invalid(
                "the access token is DPoP-bound: present it with the DPoP scheme and a proof",
            ));
        }
        return Ok(claims);
    };
    let now = ctx.clock.now();
    let expected = dpop::Expected {
        method,
        uri,
        access_token: Some(token),
    };
    let proof = dpop::check(proofs, &expected, &ctx.settings.dpop, now)?
        .ok_or_else(|| dpop::invalid("the DPoP scheme needs a DPoP proof"))?;
    let claims = validate_default(ctx, token).await?;
    match claims.dpop_jkt() {
        None => {
            return Err(invalid(
                "the access token is not DPoP-bound: present it as a bearer token",
            ));
        }
        // §4.3 item 12: the key the token is bound to is the proof's.
        Some(jkt) if jkt != proof.jkt => {
            return Err(dpop::invalid(
                "the DPoP proof is not signed by the key the access token is bound to",
            ));
        }
        Some(_) => {}
    }
    let client = crate::domain::ClientId::parse(&claims.client_id)
        .ok_or_else(|| invalid("the access token names no valid client"))?;
    // FAPI 2.0 Security Profile §5.4.1: a FAPI 2.0 client's proofs are
    // PS256 or ES256 here too. Only an algorithm outside that set needs the
    // client's profile, so the usual proof costs no lookup.
    if !super::fapi::ALGS.contains(&proof.alg) {
        let registered = ctx.store.clients().get_client(&client).await?;
        if registered
            .as_ref()
            .is_some_and(|c| !super::fapi::alg_allowed(c, proof.alg))
        {
            return Err(dpop::invalid(
                "a FAPI 2.0 client's DPoP proof must be signed with PS256 or ES256",
            ));
        }
    }
    dpop::record_use(ctx.store, &proof, &client, &ctx.settings.dpop, now).await?;
    Ok(claims)
}

/// Whether a resource's error challenge uses the `DPoP` scheme (RFC 9449
/// §7.1): the request used it, the error is a DPoP one, or the presented
/// token is DPoP-bound (read without verifying it: it only picks the
/// challenge, never grants anything).
pub fn dpop_challenge(used_dpop: bool, token: Option<&str>, error: &OAuthError) -> bool {
    used_dpop
        || matches!(
            error.code,
            ErrorCode::InvalidDpopProof | ErrorCode::UseDpopNonce
        )
        || token
            .and_then(super::jwt::split_compact)
            .is_some_and(|(_, claims)| claims.get("cnf").and_then(|c| c.get("jkt")).is_some())
}

/// Which `aud` an access token must carry to be accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience<'a> {
    /// Exactly this one (userinfo, the admin API, revocation: the default
    /// resource, `PORTCULLIS_ACCESS_TOKEN_AUDIENCE`; a token meant for a
    /// registered API is not theirs).
    Exactly(&'a str),
    /// Any audience we issued for (introspection: the default resource or
    /// a registered API, RFC 8707; `introspect::meant_for` then decides
    /// whether the caller may see it).
    AnyIssued,
}

/// The caller of an API that takes access tokens of the client-credentials
/// grant (the admin API, `protocol::admin`; the Shared Signals management
/// API, `protocol::ssf`), and the scope of its token that the client
/// *still* holds:
///
/// 1. a valid access token of ours, not revoked ([`validate`]);
/// 2. from the client-credentials grant: its subject is its client and it
///    carries no grant (a user's token never reaches these APIs, even if
///    its client holds their scope);
/// 3. its client still exists (a deleted client's tokens stop at once);
/// 4. the scope in effect is the token's scope that the client still
///    holds (an operator who takes a scope away from a client takes it
///    from its live tokens too).
pub async fn client_credentials_caller(
    ctx: &TokenCtx<'_>,
    token: &str,
) -> Result<(crate::domain::ClientId, ScopeSet), OAuthError> {
    let claims = validate(ctx, token).await?;
    if claims.subject != claims.client_id || claims.all.contains_key(GRANT_ID_CLAIM) {
        return Err(invalid(
            "this API takes access tokens of the client credentials grant only",
        ));
    }
    let id = crate::domain::ClientId::parse(&claims.client_id)
        .ok_or_else(|| invalid("the access token names no valid client"))?;
    let client = ctx
        .store
        .clients()
        .get_client(&id)
        .await?
        .ok_or_else(|| invalid("the client of this access token no longer exists"))?;
    let scope = claims.scope.intersection(&client.scopes);
    Ok((id, scope))
}

/// [`validate_presented`] for a bearer token: the check of the admin API
/// (which takes bearer tokens only; a DPoP-bound token is refused).
pub async fn validate(ctx: &TokenCtx<'_>, token: &str) -> Result<AccessClaims, OAuthError> {
    validate_presented(ctx, token, &Presentation::Bearer).await
}

/// [`validate_access_token`] with the issuer, the default audience, clock
/// and ports of `ctx`, whatever the presentation. A token meant for a
/// registered API (RFC 8707) is refused.
async fn validate_default(ctx: &TokenCtx<'_>, token: &str) -> Result<AccessClaims, OAuthError> {
    let s = ctx.settings;
    validate_access_token(
        ctx.keys,
        ctx.store,
        &s.issuer,
        Audience::Exactly(&s.access_token_audience),
        token,
        ctx.clock.now(),
    )
    .await
}

/// [`validate_access_token`] for any audience we issue for (the default
/// resource or a registered API): the check of introspection, whose
/// caller sees only the tokens meant for it (`introspect::meant_for`).
pub async fn validate_issued(ctx: &TokenCtx<'_>, token: &str) -> Result<AccessClaims, OAuthError> {
    validate_access_token(
        ctx.keys,
        ctx.store,
        &ctx.settings.issuer,
        Audience::AnyIssued,
        token,
        ctx.clock.now(),
    )
    .await
}

/// Validates an access token: our signature (algorithm from our key record,
/// never from the token), `typ` `at+jwt`, `iss`, `aud` ([`Audience`]),
/// `exp`, not revoked (itself, or its grant), and, for a token without a
/// grant (the client-credentials grant), its client still registered.
pub async fn validate_access_token(
    keys: &dyn KeyProvider,
    store: &dyn Store,
    issuer: &str,
    audience: Audience<'_>,
    token: &str,
    now: DateTime<Utc>,
) -> Result<AccessClaims, OAuthError> {
    let claims = keys.verify_jwt(token).map_err(|e| {
        if e.is_unavailable() {
            OAuthError::temporarily_unavailable(e)
        } else {
            invalid("the access token is invalid")
        }
    })?;
    // RFC 9068 §4: the header's typ must be at+jwt (the header is signed,
    // and the signature was just checked).
    let typ = super::jwt::split_compact(token)
        .and_then(|(h, _)| h.get("typ").and_then(Value::as_str).map(str::to_owned));
    if typ.as_deref().map(str::to_ascii_lowercase).as_deref() != Some("at+jwt") {
        return Err(invalid("not an access token"));
    }
    let s = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_owned);
    if s("iss").as_deref() != Some(issuer) {
        return Err(invalid("the access token was issued by someone else"));
    }
    let aud_ok = match (audience, claims.get("aud")) {
        (Audience::Exactly(want), Some(Value::String(a))) => a == want,
        (Audience::Exactly(want), Some(Value::Array(list))) => {
            list.iter().any(|v| v.as_str() == Some(want))
        }
        (Audience::AnyIssued, Some(Value::String(a))) => !a.is_empty(),
        (Audience::AnyIssued, Some(Value::Array(list))) => list
            .iter()
            .any(|v| v.as_str().is_some_and(|a| !a.is_empty())),
        _ => false,
    };
    if !aud_ok {
        return Err(invalid("the access token is not for this audience"));
    }
    let exp = claims
        .get("exp")
        .and_then(super::jwt::numeric_date)
        .and_then(|e| DateTime::from_timestamp(e, 0))
        .ok_or_else(|| invalid("the access token has no expiry"))?;
    if exp <= now {
        return Err(invalid("the access token has expired"));
    }
    let (Some(subject), Some(client_id), Some(jti), Some(scope)) =
        (s("sub"), s("client_id"), s("jti"), s("scope"))
    else {
        return Err(invalid("the access token lacks required claims"));
    };
    if store.revoked_tokens().is_token_revoked(&jti).await? {
        return Err(invalid("the access token was revoked"));
    }
    // The grant it came from, if any (not client credentials): revoking the
    // grant revokes the token (protocol::grant).
    if let Some(grant_id) = claims.get(GRANT_ID_CLAIM) {
        let live = match grant_id.as_str() {
            Some(id) => store
                .grants()
                .get_grant(id)
                .await?
                .is_some_and(|g| g.revoked_at.is_none()),
            None => false,
        };
        if !live {
            return Err(invalid("the access token was revoked"));
        }
    } else {
        // A client-credentials token has no grant to revoke: it stops when
        // its client is deleted (`app::clients::delete_client`).
        let client = crate::domain::ClientId::parse(&client_id);
        let exists = match client {
            Some(id) => store.clients().get_client(&id).await?.is_some(),
            None => false,
        };
        if !exists {
            return Err(invalid("the client of this access token no longer exists"));
        }
    }
    let scope =
        ScopeSet::parse(&scope).map_err(|_| invalid("the access token scope is malformed"))?;
    Ok(AccessClaims {
        all: claims,
        subject,
        client_id,
        scope,
        jti,
        expires_at: exp,
    })
}
