//! Token introspection (RFC 7662): the rules of `POST /introspect`, after
//! the client authenticated ([`super::client_auth`]).
//!
//! Who may introspect what (RFC 7662 §2.1, §4): the caller is a protected
//! resource, so only a confidential client registered as a resource server
//! (`client create --resource-server [--audience VALUE]`, `client update ID
//! --resource-server true`, `client update ID --audience VALUE`) may call
//! the endpoint; any other client gets `unauthorized_client` (400, RFC 7662
//! §2.3 → RFC 6749 §5.2: it authenticated, but is not authorized for this
//! endpoint). Each resource server has an audience of its own (default: its
//! client id) and learns about:
//!
//! - an access token meant for it ([`meant_for`]: its `aud` contains the
//!   caller's audience), or issued to it (its `client_id` is the caller's);
//! - a refresh token only when issued to it.
//!
//! The default resource (`PORTCULLIS_ACCESS_TOKEN_AUDIENCE`, default the
//! issuer), which every access token without an RFC 8707 `resource`
//! carries, is no resource server's unless an operator registers one with
//! exactly that `--audience`: otherwise any resource server would read
//! every user's tokens of every client. A token for a registered API
//! (`portcullis resource create`) carries the API's identifier as `aud`:
//! the resource server registered with `--audience` equal to it sees it
//! active; every other resource server is told `{"active": false}`.
//!
//! Any other token, like a revoked, expired or unknown one, or a token of a
//! user who was disabled since, is answered `{"active": false}` and nothing
//! more (§2.2: no more information about an inactive token; §4: the server
//! decides whether the token can be used at the protected resource asking).

use serde_json::{Value, json};

use super::error::{ErrorCode, OAuthError};
use super::params::RawParams;
use super::resource::{self, AccessClaims};
use super::token::TokenCtx;
use super::token::issue::GRANT_ID_CLAIM;
use crate::domain::{Client, ClientKind, TokenHash, UserId};
use crate::ports::{Store, StoreError};

/// The pure step: `token` is required (§2.1); a public client may not
/// introspect (§2.1: the endpoint requires authorization), and neither may a
/// confidential client that is not registered as a resource server.
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
    if client.resource_audience.is_none() {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "only clients registered as resource servers may introspect (RFC 7662 section 2.1)",
        ));
    }
    Ok(token)
}

/// Whether an access token is meant for `caller` or was issued to it (RFC
/// 7662 §4): its `aud` (a string or an array, RFC 7519 §4.1.3) contains the
/// caller's resource-server audience, exact match, or its `client_id` is
/// the caller's. A client that is no resource server has no audience.
pub fn meant_for(caller: &Client, claims: &AccessClaims) -> bool {
    if claims.client_id == caller.id.as_str() {
        return true;
    }
    let Some(audience) = caller.resource_audience.as_deref() else {
        return false;
    };
    let names = |a: &str| a == audience;
    match claims.all.get("aud") {
        Some(Value::String(a)) => names(a),
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).any(names),
        _ => false,
    }
}

/// Whether the user `sub` still exists and is enabled (a disabled user's
/// tokens are inactive, as `/userinfo` refuses them).
async fn user_enabled(store: &dyn Store, sub: &str) -> Result<bool, StoreError> {
    Ok(store
        .users()
        .user_by_id(&UserId::new(sub.to_owned()))
        .await?
        .is_some_and(|u| !u.disabled))
}

/// The introspection response (§2.2): an active access token meant for the
/// caller ([`meant_for`]), an active refresh token of the caller, else
/// `{"active": false}`. Tokens of a disabled user are inactive.
pub async fn handle(ctx: &TokenCtx<'_>, client: &Client, token: &str) -> Result<Value, OAuthError> {
    match resource::validate_issued(ctx, token).await {
        Ok(claims) => {
            if !meant_for(client, &claims) {
                return Ok(json!({ "active": false }));
            }
            // A token of a user (one with a grant; client_credentials tokens
            // have none) is active only while the user is enabled.
            if claims.all.contains_key(GRANT_ID_CLAIM)
                && !user_enabled(ctx.store, &claims.subject).await?
            {
                return Ok(json!({ "active": false }));
            }
            // RFC 9449 §6.2: a DPoP-bound token is described with its
            // `cnf` (among its claims) and `token_type` `DPoP`.
            let token_type = if claims.dpop_jkt().is_some() {
                "DPoP"
            } else {
                "Bearer"
            };
            let mut v = Value::Object(claims.all);
            v["active"] = json!(true);
            v["token_type"] = json!(token_type);
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
            let live = grant.is_some_and(|g| g.revoked_at.is_none())
                && user_enabled(ctx.store, rt.user_id.as_str()).await?;
            live.then_some(rt)
        }
        _ => None,
    };
    Ok(match rt {
        Some(rt) => {
            let mut v = json!({
                "active": true,
                "token_type": "refresh_token",
                "client_id": rt.client_id.as_str(),
                "sub": rt.user_id.as_str(),
                "scope": rt.scope.to_string(),
                "exp": rt.expires_at.timestamp(),
                "iat": rt.created_at.timestamp(),
                "iss": ctx.settings.issuer,
            });
            // A public client's refresh token bound to a DPoP key (RFC 9449
            // §5) says so as an access token does (§6.2).
            if let Some(jkt) = &rt.dpop_jkt {
                v["cnf"] = json!({ "jkt": jkt });
            }
            v
        }
        _ => json!({ "active": false }),
    })
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use serde_json::json;

    use super::*;
    use crate::domain::{ClientId, ScopeSet, TokenEndpointAuthMethod};

    fn client(id: &str, auth: TokenEndpointAuthMethod, audience: Option<&str>) -> Client {
        Client {
            id: ClientId::parse(id).unwrap(),
            name: "API".into(),
            secret_hash: None,
            secret_rotated_at: None,
            previous_secret_hash: None,
            previous_secret_expires_at: None,
            auth_method: auth,
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            grant_types: vec![],
            scopes: ScopeSet::parse("openid").unwrap(),
            first_party: false,
            require_pkce: false,
            require_mfa: false,
            resource_audience: audience.map(str::to_owned),
            id_token_signed_response_alg: None,
            jwks: None,
            jwks_uri: None,
            access_token_ttl_secs: None,
            id_token_ttl_secs: None,
            refresh_token_ttl_secs: None,
            backchannel_logout_uri: None,
            backchannel_logout_session_required: false,
            allowed_resources: Vec::new(),
            require_pushed_authorization_requests: false,
            dpop_bound_access_tokens: false,
            profile: None,
            request_uris: Vec::new(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn claims(client_id: &str, aud: &Value) -> AccessClaims {
        let all = json!({"client_id": client_id, "aud": aud});
        AccessClaims {
            all: all.as_object().unwrap().clone(),
            subject: "u1".into(),
            client_id: client_id.into(),
            scope: ScopeSet::parse("openid").unwrap(),
            jti: "j".into(),
            expires_at: Utc::now(),
        }
    }

    #[test]
    fn only_resource_servers_may_introspect() {
        let form = RawParams::parse(b"token=t");
        let basic = TokenEndpointAuthMethod::ClientSecretBasic;
        assert_eq!(
            validate(&client("rs", basic, Some("rs")), &form).unwrap(),
            "t"
        );
        assert_eq!(
            validate(&client("app", basic, None), &form)
                .unwrap_err()
                .code,
            ErrorCode::UnauthorizedClient
        );
        let public = client("spa", TokenEndpointAuthMethod::None, None);
        assert_eq!(
            validate(&public, &form).unwrap_err().code,
            ErrorCode::InvalidClient
        );
        assert_eq!(
            validate(&client("rs", basic, Some("rs")), &RawParams::parse(b""))
                .unwrap_err()
                .code,
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn a_token_is_described_only_to_its_audience_or_its_client() {
        const SHARED: &str = "https://as.example";
        let basic = TokenEndpointAuthMethod::ClientSecretBasic;
        // rs1 serves its own audience (the default: its client id).
        let rs = client("rs1", basic, Some("rs1"));
        for (why, c, ok) in [
            (
                "the server-wide audience",
                claims("app", &json!(SHARED)),
                false,
            ),
            (
                "the server-wide audience in an array",
                claims("app", &json!(["x", SHARED])),
                false,
            ),
            ("its audience", claims("app", &json!("rs1")), true),
            (
                "its audience in an array",
                claims("app", &json!(["rs2", "rs1"])),
                true,
            ),
            (
                "another resource server only",
                claims("app", &json!("rs2")),
                false,
            ),
            ("a prefix of it", claims("app", &json!("rs")), false),
            ("no aud", claims("app", &Value::Null), false),
            ("issued to the caller", claims("rs1", &json!(SHARED)), true),
        ] {
            assert_eq!(meant_for(&rs, &c), ok, "{why}");
        }
        // Registered with the server-wide audience: it reads those tokens.
        let wide = client("api", basic, Some(SHARED));
        assert!(meant_for(&wide, &claims("app", &json!(SHARED))));
        assert!(meant_for(&wide, &claims("app", &json!(["x", SHARED]))));
        assert!(!meant_for(&wide, &claims("app", &json!("api"))));
        // No resource server: only its own tokens (validate refuses it first).
        let none = client("app2", basic, None);
        assert!(!meant_for(&none, &claims("app", &json!(SHARED))));
    }
}
