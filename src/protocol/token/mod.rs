//! The token endpoint (RFC 6749 §3.2, §4.1.3, §4.4, §6; OpenID Connect Core
//! §3.1.3): after client authentication ([`super::client_auth`]), one
//! [`GrantHandler`] per grant type
//! from a [`GrantRegistry`] (Strategy; fosite's `TokenEndpointHandler`,
//! node-oidc-provider's `grants/*.js`).

pub mod authorization_code;
pub mod client_credentials;
pub mod device_code;
pub mod issue;
pub mod refresh_token;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::Duration;
use serde::Serialize;

use super::dpop::{self, DpopSettings, Proof};
use super::error::{ErrorCode, OAuthError};
use super::params::RawParams;
use crate::domain::{Client, GrantType};
use crate::ports::{Clock, JwsAlg, KeyProvider, Rng, Store};

/// Token lifetimes and formats, from configuration.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// Issuer (`iss`).
    pub issuer: String,
    /// The token endpoint URL (a client assertion's `aud`).
    pub token_endpoint: String,
    /// `aud` of access tokens (RFC 9068 §2.2).
    pub access_token_audience: String,
    /// Access-token lifetime.
    pub access_ttl: Duration,
    /// ID-token lifetime.
    pub id_ttl: Duration,
    /// Refresh-token lifetime (sliding: each rotation starts it again).
    pub refresh_ttl: Duration,
    /// Absolute lifetime of a refresh-token family, from the grant's start.
    pub refresh_absolute_ttl: Duration,
    /// The grace window of refresh rotation (RFC 9700 §4.14.2): a rotated
    /// token presented again within it gets the same successor; zero: none.
    pub refresh_grace: Duration,
    /// Algorithm of access tokens (ES256 by default).
    pub access_token_alg: JwsAlg,
    /// No JWT may outlive this (retired keys stay published this long).
    pub max_jwt_ttl: Duration,
    /// DPoP (RFC 9449): the proof window and the nonce key.
    pub dpop: DpopSettings,
}

/// What a grant handler needs.
#[derive(Clone, Copy)]
pub struct TokenCtx<'a> {
    /// Repositories.
    pub store: &'a dyn Store,
    /// Time.
    pub clock: &'a dyn Clock,
    /// Randomness.
    pub rng: &'a dyn Rng,
    /// Signing.
    pub keys: &'a dyn KeyProvider,
    /// Settings.
    pub settings: &'a TokenSettings,
    /// The token request's verified DPoP proof (RFC 9449 §5): the tokens
    /// issued are bound to its key ([`issue::access_token_for`],
    /// [`issue::refresh_token`]). `None` elsewhere and without a proof.
    pub dpop: Option<&'a Proof>,
}

/// The successful response (RFC 6749 §5.1, OIDC Core §3.1.3.3).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TokenResponse {
    /// The access token (a JWT, RFC 9068).
    pub access_token: String,
    /// `Bearer`, or `DPoP` for a DPoP-bound access token (RFC 9449 §5).
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// A refresh token, when issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// An ID token, for OpenID requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// The granted scope (RFC 6749 §5.1: required when it differs from the
    /// request; always sent).
    pub scope: String,
}

/// What happened, for events and logs.
#[derive(Debug, Default, Clone)]
pub struct TokenReport {
    /// The authenticated client.
    pub client_id: Option<String>,
    /// The grant type.
    pub grant_type: Option<&'static str>,
    /// The user, when the grant has one.
    pub subject: Option<String>,
    /// Session (`sid`).
    pub session_id: Option<String>,
    /// Scopes issued.
    pub scope: Option<String>,
    /// Kinds of tokens issued.
    pub issued: Vec<&'static str>,
    /// A refresh token was rotated.
    pub refresh_rotated: bool,
    /// A rotated refresh token was presented again: the family was revoked.
    pub refresh_reuse_detected: bool,
    /// A just-rotated refresh token was presented again within the grace
    /// window: the same successor was answered again.
    pub refresh_retried: bool,
    /// A used code was presented again: its grant was revoked.
    pub code_replayed: bool,
    /// The tokens were bound to a DPoP key (RFC 9449 §5).
    pub dpop_bound: bool,
}

/// One grant type.
#[async_trait]
pub trait GrantHandler: Send + Sync {
    /// The `grant_type` value it handles.
    fn grant_type(&self) -> GrantType;
    /// Runs the grant for an authenticated client.
    async fn handle(
        &self,
        ctx: &TokenCtx<'_>,
        client: &Client,
        params: &RawParams,
        report: &mut TokenReport,
    ) -> Result<TokenResponse, OAuthError>;
}

/// The grant handlers by `grant_type`.
#[derive(Clone, Default)]
pub struct GrantRegistry {
    handlers: HashMap<&'static str, Arc<dyn GrantHandler>>,
}

impl GrantRegistry {
    /// The grants of this server.
    pub fn standard() -> Self {
        let mut r = Self::default();
        r.register(Arc::new(authorization_code::AuthorizationCodeGrant));
        r.register(Arc::new(refresh_token::RefreshTokenGrant));
        r.register(Arc::new(client_credentials::ClientCredentialsGrant));
        r.register(Arc::new(device_code::DeviceCodeGrant));
        r
    }

    /// Adds a handler (replacing one for the same grant type).
    pub fn register(&mut self, handler: Arc<dyn GrantHandler>) {
        self.handlers.insert(handler.grant_type().as_str(), handler);
    }

    /// The `grant_type` values it handles (in no particular order).
    pub fn grant_types(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.handlers.keys().copied()
    }

    /// The handler for `grant_type`.
    pub fn get(&self, grant_type: &str) -> Option<&Arc<dyn GrantHandler>> {
        self.handlers.get(grant_type)
    }
}

/// Handles a token request of a client that
/// [`client_auth::authenticate_request`] authenticated: the grant type,
/// the DPoP proof of the request (`dpop`: the values of its `DPoP`
/// headers, RFC 9449 §5), then the grant's handler, which binds what it
/// issues to the proof's key.
pub async fn handle(
    ctx: &TokenCtx<'_>,
    registry: &GrantRegistry,
    client: &Client,
    form: &RawParams,
    dpop: &[&str],
    report: &mut TokenReport,
) -> Result<TokenResponse, OAuthError> {
    report.client_id = Some(client.id.to_string());
    let Some(grant_type) = form.get("grant_type") else {
        return Err(OAuthError::invalid_request("grant_type is required"));
    };
    let Some(handler) = registry.get(grant_type) else {
        return Err(OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            "this grant type is not supported",
        ));
    };
    report.grant_type = Some(handler.grant_type().as_str());
    if !client.allows_grant(handler.grant_type()) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "the client may not use this grant type",
        ));
    }
    // RFC 9449 §5: a proof for this request (POST to the token endpoint),
    // verified and used once before the grant is looked at, so that a bad
    // proof leaves a code or a refresh token untouched.
    let proof = dpop::verify_proof(
        ctx.store,
        &ctx.settings.dpop,
        &client.id,
        dpop,
        &dpop::Expected {
            method: "POST",
            uri: &ctx.settings.token_endpoint,
            access_token: None,
        },
        ctx.clock.now(),
    )
    .await?;
    // FAPI 2.0 Security Profile §5.4.1: PS256 or ES256 for its clients.
    if let Some(p) = &proof
        && !super::fapi::alg_allowed(client, p.alg)
    {
        return Err(dpop::invalid(
            "a FAPI 2.0 client's DPoP proof must be signed with PS256 or ES256",
        ));
    }
    // §5.2: a client registered with dpop_bound_access_tokens always sends
    // one (the RFC says "reject" without naming the code; a missing proof
    // is answered as an invalid one, as Keycloak does).
    if proof.is_none() && client.dpop_bound_access_tokens {
        return Err(dpop::invalid(
            "this client must send a DPoP proof (dpop_bound_access_tokens)",
        ));
    }
    report.dpop_bound = proof.is_some();
    let ctx = TokenCtx {
        dpop: proof.as_ref(),
        ..*ctx
    };
    handler.handle(&ctx, client, form, report).await
}
