//! Building and signing the tokens: JWT access tokens (RFC 9068), ID
//! tokens (OpenID Connect Core §2, §3.1.3.6) and opaque refresh tokens.

use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::{TokenCtx, TokenReport, TokenResponse, TokenSettings};
use crate::domain::resource::{self, TargetError};
use crate::domain::{Client, GrantType, ScopeSet, User};
use crate::ports::{JwsAlg, KeyError, UnitOfWork};
use crate::protocol::error::{ErrorCode, OAuthError};
use crate::protocol::params::RawParams;

/// Maps a key failure: an outage is `temporarily_unavailable` (503), the
/// rest `server_error`.
pub fn key_error(e: KeyError) -> OAuthError {
    if e.is_unavailable() {
        OAuthError::temporarily_unavailable(e)
    } else {
        OAuthError::server_error(e)
    }
}

fn ttl(client_override: Option<i64>, default: Duration, cap: Duration) -> Duration {
    client_override.map_or(default, Duration::seconds).min(cap)
}

/// The access-token lifetime for `client`.
pub fn access_ttl(s: &TokenSettings, client: &Client) -> Duration {
    ttl(client.access_token_ttl_secs, s.access_ttl, s.max_jwt_ttl)
}

/// The ID-token lifetime for `client`.
pub fn id_ttl(s: &TokenSettings, client: &Client) -> Duration {
    ttl(client.id_token_ttl_secs, s.id_ttl, s.max_jwt_ttl)
}

/// The refresh-token lifetime for `client`.
pub fn refresh_ttl(s: &TokenSettings, client: &Client) -> Duration {
    client
        .refresh_token_ttl_secs
        .map_or(s.refresh_ttl, Duration::seconds)
}

/// When a refresh token issued at `now` expires: its sliding lifetime,
/// capped by the family's absolute lifetime counted from the grant's start
/// (RFC 9700 §4.14.2 lets refresh tokens expire; like Keycloak's session
/// maximum, rotation never keeps a grant alive for ever).
pub fn refresh_expiry(
    s: &TokenSettings,
    client: &Client,
    started_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    (now + refresh_ttl(s, client)).min(family_end(s, started_at))
}

/// The end of a refresh-token family whose grant started at `started_at`.
pub fn family_end(s: &TokenSettings, started_at: DateTime<Utc>) -> DateTime<Utc> {
    started_at + s.refresh_absolute_ttl
}

/// What a refresh token inherits from its grant.
pub struct Lineage<'a> {
    /// Rotation family (the grant id).
    pub family: &'a str,
    /// Scope of the grant.
    pub scope: &'a ScopeSet,
    /// Session (`sid`).
    pub session_id: Option<&'a str>,
    /// When the user authenticated.
    pub auth_time: DateTime<Utc>,
    /// The authentication context class of that authentication.
    pub acr: Option<&'a str>,
    /// The resources (RFC 8707) the grant covers.
    pub resources: &'a [String],
    /// When the grant started (the user's authorization): the family's
    /// absolute lifetime counts from here.
    pub started_at: DateTime<Utc>,
    /// The DPoP key a public client's refresh token is bound to (RFC 9449
    /// §5); `None`: unbound.
    pub dpop_jkt: Option<&'a str>,
}

impl<'a> Lineage<'a> {
    /// The lineage of a grant's first refresh token: its authorization
    /// code (the grant was made with the code, so it started then).
    pub fn of_code(code: &'a crate::domain::AuthorizationCode) -> Self {
        Self {
            family: &code.grant_id,
            scope: &code.scope,
            session_id: code.session_id.as_deref(),
            auth_time: code.auth_time,
            acr: code.acr.as_deref(),
            resources: &code.resources,
            started_at: code.created_at,
            dpop_jkt: None,
        }
    }
}

/// `token_type` of the response (RFC 9449 §5): `DPoP` when the access
/// token is bound to the request's proof, else `Bearer` (RFC 6750 §4).
pub fn token_type(ctx: &TokenCtx<'_>) -> &'static str {
    if ctx.dpop.is_some() { "DPoP" } else { "Bearer" }
}

/// The DPoP key a new refresh token is bound to (RFC 9449 §5): its
/// lineage's (a bound token stays bound through rotation), else, for a
/// public client, the key of the request's proof. A confidential client's
/// refresh tokens stay unbound: the client authenticates to use them.
fn refresh_binding(ctx: &TokenCtx<'_>, client: &Client, lineage: &Lineage<'_>) -> Option<String> {
    lineage
        .dpop_jkt
        .map(str::to_owned)
        .or_else(|| match client.kind() {
            crate::domain::ClientKind::Public => ctx.dpop.map(|p| p.jkt.clone()),
            crate::domain::ClientKind::Confidential => None,
        })
}

/// A new refresh token (its plain value, and the record that stores only
/// its hash).
pub fn refresh_token(
    ctx: &TokenCtx<'_>,
    client: &Client,
    user: &User,
    lineage: &Lineage<'_>,
    now: DateTime<Utc>,
) -> (String, crate::domain::RefreshToken) {
    let token = ctx.rng.token();
    let record = crate::domain::RefreshToken {
        token_hash: crate::domain::TokenHash::of(&token),
        family_id: lineage.family.to_owned(),
        client_id: client.id.clone(),
        user_id: user.id.clone(),
        scope: lineage.scope.clone(),
        session_id: lineage.session_id.map(str::to_owned),
        auth_time: lineage.auth_time,
        acr: lineage.acr.map(str::to_owned),
        resources: lineage.resources.to_vec(),
        successor: None,
        dpop_jkt: refresh_binding(ctx, client, lineage),
        created_at: now,
        expires_at: refresh_expiry(ctx.settings, client, lineage.started_at, now),
        rotated_at: None,
        revoked_at: None,
    };
    (token, record)
}

/// A user's grant redeemed at the token endpoint (an authorization code, an
/// approved device authorization): what its tokens say.
pub struct UserGrant<'a> {
    /// The user (enabled: [`active_user`]).
    pub user: &'a User,
    /// `nonce` from the authorization request, echoed in the ID token.
    pub nonce: Option<&'a str>,
    /// Authentication methods (JSON array text) for the ID token's `amr`.
    pub amr: Option<&'a str>,
    /// The grant (its id is the family), its scope, session, sign-in and
    /// resources.
    pub lineage: Lineage<'a>,
}

/// Issues a redeemed user grant's tokens, the one home of that rule for
/// the authorization code and the device code: an access token for
/// `target`; an ID token when the grant has `openid` (OIDC Core §3.1.3.3);
/// a refresh token, stored in `uow`, when the client may refresh and the
/// grant has `offline_access` (OIDC Core §11). `scope` in the response is
/// the access token's (RFC 6749 §5.1; for an API the scopes it defines, the
/// ID and refresh tokens keep the whole grant). Records what was issued in
/// `report`; `uow` is committed by the caller.
pub async fn user_tokens(
    ctx: &TokenCtx<'_>,
    uow: &dyn UnitOfWork,
    client: &Client,
    g: &UserGrant<'_>,
    target: &Target,
    now: DateTime<Utc>,
    report: &mut TokenReport,
) -> Result<TokenResponse, OAuthError> {
    let l = &g.lineage;
    let who = Principal {
        subject: g.user.id.as_str(),
        auth_time: Some(l.auth_time),
        session_id: l.session_id,
        grant_id: Some(l.family),
        acr: l.acr,
    };
    let (access_token, lifetime) = access_token_for(ctx, client, &who, target, now).await?;
    let mut issued = vec!["access_token"];
    let id_token = if l.scope.contains("openid") {
        issued.push("id_token");
        let input = IdTokenInput {
            user: g.user,
            scope: l.scope,
            auth_time: l.auth_time,
            nonce: g.nonce,
            session_id: l.session_id,
            amr: g.amr,
            acr: l.acr,
            access_token: &access_token,
        };
        Some(id_token(ctx, client, &input, now).await?)
    } else {
        None
    };
    let refresh_token =
        if client.allows_grant(GrantType::RefreshToken) && l.scope.contains("offline_access") {
            issued.push("refresh_token");
            let (token, record) = refresh_token(ctx, client, g.user, l, now);
            uow.refresh_tokens().insert_refresh_token(&record).await?;
            Some(token)
        } else {
            None
        };
    report.issued = issued;
    report.scope = Some(target.scope.to_string());
    Ok(TokenResponse {
        access_token,
        token_type: token_type(ctx),
        expires_in: lifetime.num_seconds(),
        refresh_token,
        id_token,
        scope: target.scope.to_string(),
    })
}

/// The user a grant belongs to, if it still exists and is enabled.
pub async fn active_user(
    ctx: &TokenCtx<'_>,
    id: &crate::domain::UserId,
) -> Result<User, OAuthError> {
    ctx.store
        .users()
        .user_by_id(id)
        .await?
        .filter(|u| !u.disabled)
        .ok_or_else(|| OAuthError::invalid_grant("the user no longer exists or is disabled"))
}

/// The private claim of an access token that names its grant.
pub const GRANT_ID_CLAIM: &str = "grant_id";

/// Who the access token is about.
pub struct Principal<'a> {
    /// `sub`: the user id, or the client id for client credentials.
    pub subject: &'a str,
    /// When the user authenticated.
    pub auth_time: Option<DateTime<Utc>>,
    /// Session (`sid`).
    pub session_id: Option<&'a str>,
    /// The grant the token comes from (the `grant_id` claim, checked at
    /// every use: [`crate::protocol::grant`]); `None` for client
    /// credentials.
    pub grant_id: Option<&'a str>,
    /// The authentication context class of the user's authentication
    /// (RFC 9068 §2.2.1 `acr`).
    pub acr: Option<&'a str>,
}

/// What an access token is for (RFC 8707): its `aud` and its `scope`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `aud`: a registered API's resource indicator, or the default
    /// resource (`PORTCULLIS_ACCESS_TOKEN_AUDIENCE`).
    pub audience: String,
    /// `scope`: for an API, the granted scopes it defines; for the default
    /// resource, every granted scope.
    pub scope: ScopeSet,
}

impl Target {
    /// The default resource: `PORTCULLIS_ACCESS_TOKEN_AUDIENCE` and every
    /// granted scope (the token `/userinfo` and the admin API accept).
    pub fn default_resource(s: &TokenSettings, granted: &ScopeSet) -> Self {
        Self {
            audience: s.access_token_audience.clone(),
            scope: granted.clone(),
        }
    }
}

fn target_error(e: &TargetError) -> OAuthError {
    OAuthError::invalid_target(e.to_string())
}

/// The target of an access token for `resource` out of the `granted`
/// scopes: a registered API (else `invalid_target`) with the granted scopes
/// it defines (none: `invalid_scope`, so that no API receives a token that
/// grants nothing); `None`: the default resource.
pub async fn target(
    ctx: &TokenCtx<'_>,
    resource: Option<&str>,
    granted: &ScopeSet,
) -> Result<Target, OAuthError> {
    let Some(id) = resource else {
        return Ok(Target::default_resource(ctx.settings, granted));
    };
    let api = ctx
        .store
        .resources()
        .get_resource(id)
        .await?
        .ok_or_else(|| target_error(&TargetError::Unknown(id.to_owned())))?;
    let scope = api.scope_of(granted);
    if scope.is_empty() {
        return Err(OAuthError::new(
            ErrorCode::InvalidScope,
            format!("none of the granted scopes is defined by the resource {id}"),
        ));
    }
    Ok(Target {
        audience: api.id,
        scope,
    })
}

/// The target of an access token from a grant (a code, a refresh token)
/// authorized for `granted_resources` (RFC 8707 §2.2): at most one
/// `resource` in `params`, among them (a narrower set, never a wider one);
/// none: the grant's resource when it has exactly one, else the default
/// resource ([`resource::grant_resource`]). The resource must still be in
/// the client's `allowed_resources`: an operator who withdraws an API from
/// a client cuts its existing codes and refresh tokens off it too.
pub async fn grant_target(
    ctx: &TokenCtx<'_>,
    client: &Client,
    params: &RawParams,
    granted_resources: &[String],
    granted: &ScopeSet,
) -> Result<Target, OAuthError> {
    let asked = params.get_all("resource");
    let chosen =
        resource::grant_resource(&asked, granted_resources).map_err(|e| target_error(&e))?;
    if let Some(r) = chosen
        && !client.allowed_resources.iter().any(|a| a == r)
    {
        return Err(target_error(&TargetError::NotAllowed(r.to_owned())));
    }
    target(ctx, chosen, granted).await
}

/// The target of a client's own access token (client credentials): at
/// most one `resource` in `params`, in the client's `allowed_resources`
/// and registered; none: the default resource.
pub async fn client_target(
    ctx: &TokenCtx<'_>,
    params: &RawParams,
    client: &Client,
    granted: &ScopeSet,
) -> Result<Target, OAuthError> {
    let asked = params.get_all("resource");
    let chosen = resource::client_resource(&asked, &client.allowed_resources)
        .map_err(|e| target_error(&e))?;
    target(ctx, chosen, granted).await
}

/// Signs an RFC 9068 access token for the default resource
/// ([`Target::default_resource`]); returns it with its lifetime.
pub async fn access_token(
    ctx: &TokenCtx<'_>,
    client: &Client,
    who: &Principal<'_>,
    scope: &ScopeSet,
    now: DateTime<Utc>,
) -> Result<(String, Duration), OAuthError> {
    let target = Target::default_resource(ctx.settings, scope);
    access_token_for(ctx, client, who, &target, now).await
}

/// Signs an RFC 9068 access token for `target` (`aud`, `scope`); returns
/// it with its lifetime.
pub async fn access_token_for(
    ctx: &TokenCtx<'_>,
    client: &Client,
    who: &Principal<'_>,
    target: &Target,
    now: DateTime<Utc>,
) -> Result<(String, Duration), OAuthError> {
    let s = ctx.settings;
    let lifetime = access_ttl(s, client);
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(s.issuer));
    claims.insert("sub".into(), json!(who.subject));
    claims.insert("aud".into(), json!(target.audience));
    claims.insert("exp".into(), json!((now + lifetime).timestamp()));
    claims.insert("iat".into(), json!(now.timestamp()));
    claims.insert("jti".into(), json!(ctx.rng.uuid_v4()));
    claims.insert("client_id".into(), json!(client.id.as_str()));
    claims.insert("scope".into(), json!(target.scope.to_string()));
    // RFC 9068 §2.2.1: auth_time and acr of the user's authentication.
    if let Some(at) = who.auth_time {
        claims.insert("auth_time".into(), json!(at.timestamp()));
    }
    if let Some(acr) = who.acr {
        claims.insert("acr".into(), json!(acr));
    }
    if let Some(sid) = who.session_id {
        claims.insert("sid".into(), json!(sid));
    }
    if let Some(grant) = who.grant_id {
        claims.insert(GRANT_ID_CLAIM.into(), json!(grant));
    }
    // RFC 9449 §6.1 (RFC 7800 §3.1): a DPoP-bound token names its key's
    // thumbprint; every resource then wants a proof of that key
    // (`resource::validate_presented`).
    if let Some(proof) = ctx.dpop {
        claims.insert("cnf".into(), json!({ "jkt": proof.jkt }));
    }
    // RFC 9068 §2.1: `typ` is `at+jwt`.
    let token = ctx
        .keys
        .sign_jwt(
            crate::protocol::fapi::access_token_alg(client, s.access_token_alg),
            "at+jwt",
            &claims,
        )
        .await
        .map_err(key_error)?;
    Ok((token, lifetime))
}

/// `at_hash` (OIDC Core §3.1.3.6): the left half of the SHA-256 of the
/// access token, base64url. All our algorithms use SHA-256.
pub fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// The ID token's algorithm: the client's `id_token_signed_response_alg`,
/// else RS256 (OIDC Core §3.1.3.7 item 7 default).
pub fn id_token_alg(client: &Client) -> JwsAlg {
    client
        .id_token_signed_response_alg
        .as_deref()
        .and_then(|a| a.parse().ok())
        .unwrap_or(JwsAlg::Rs256)
}

/// The claims a scope releases about a user (OIDC Core §5.4).
pub fn user_claims(user: &User, scope: &ScopeSet) -> Map<String, Value> {
    let mut c = Map::new();
    c.insert("sub".into(), json!(user.id.as_str()));
    if scope.contains("profile") {
        c.insert("preferred_username".into(), json!(user.username.as_str()));
        if let Some(name) = &user.name {
            c.insert("name".into(), json!(name));
        }
        c.insert("updated_at".into(), json!(user.updated_at.timestamp()));
    }
    if scope.contains("email") {
        c.insert("email".into(), json!(user.email));
        c.insert("email_verified".into(), json!(user.email_verified));
    }
    c
}

/// What the ID token says about the authentication.
pub struct IdTokenInput<'a> {
    /// The user.
    pub user: &'a User,
    /// Granted scopes (claims by scope are included).
    pub scope: &'a ScopeSet,
    /// When the user authenticated.
    pub auth_time: DateTime<Utc>,
    /// `nonce` from the authorization request.
    pub nonce: Option<&'a str>,
    /// Session id (`sid`).
    pub session_id: Option<&'a str>,
    /// Authentication methods (JSON array text).
    pub amr: Option<&'a str>,
    /// Authentication context class (OIDC Core §2 `acr`).
    pub acr: Option<&'a str>,
    /// The access token issued with it (for `at_hash`).
    pub access_token: &'a str,
}

/// Signs an ID token (OIDC Core §2: iss, sub, aud, exp, iat, auth_time,
/// nonce, at_hash, sid, azp, amr, acr).
pub async fn id_token(
    ctx: &TokenCtx<'_>,
    client: &Client,
    input: &IdTokenInput<'_>,
    now: DateTime<Utc>,
) -> Result<String, OAuthError> {
    let s = ctx.settings;
    let mut claims = user_claims(input.user, input.scope);
    claims.insert("iss".into(), json!(s.issuer));
    claims.insert("aud".into(), json!(client.id.as_str()));
    claims.insert("azp".into(), json!(client.id.as_str()));
    claims.insert("exp".into(), json!((now + id_ttl(s, client)).timestamp()));
    claims.insert("iat".into(), json!(now.timestamp()));
    claims.insert("auth_time".into(), json!(input.auth_time.timestamp()));
    if let Some(nonce) = input.nonce {
        claims.insert("nonce".into(), json!(nonce));
    }
    if let Some(sid) = input.session_id {
        claims.insert("sid".into(), json!(sid));
    }
    if let Some(amr) = input
        .amr
        .and_then(|a| serde_json::from_str::<Value>(a).ok())
    {
        claims.insert("amr".into(), amr);
    }
    if let Some(acr) = input.acr {
        claims.insert("acr".into(), json!(acr));
    }
    claims.insert("at_hash".into(), json!(at_hash(input.access_token)));
    ctx.keys
        .sign_jwt(id_token_alg(client), "JWT", &claims)
        .await
        .map_err(key_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_matches_the_oidc_core_example() {
        // OpenID Connect Core, Appendix A.3 (RS256, SHA-256).
        assert_eq!(
            at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }
}
