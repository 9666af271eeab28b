//! The token endpoint (RFC 6749 §3.2, §4.1.3, §4.4, §6; OpenID Connect Core
//! §3.1.3): client authentication, then one [`GrantHandler`] per grant type
//! from a [`GrantRegistry`] (Strategy; fosite's `TokenEndpointHandler`,
//! node-oidc-provider's `grants/*.js`).

pub mod authorization_code;
pub mod client_credentials;
pub mod issue;
pub mod refresh_token;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::Duration;
use serde::Serialize;

use super::client_auth::{self, ClientJwksFetcher, Presented};
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
    /// Refresh-token lifetime.
    pub refresh_ttl: Duration,
    /// Algorithm of access tokens (ES256 by default).
    pub access_token_alg: JwsAlg,
    /// No JWT may outlive this (retired keys stay published this long).
    pub max_jwt_ttl: Duration,
}

/// What a grant handler needs.
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
}

/// The successful response (RFC 6749 §5.1, OIDC Core §3.1.3.3).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TokenResponse {
    /// The access token (a JWT, RFC 9068).
    pub access_token: String,
    /// Always `Bearer`.
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
    /// A used code was presented again: its grant was revoked.
    pub code_replayed: bool,
    /// Client authentication failed.
    pub client_auth_failed: bool,
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
    /// The three grants of this server.
    pub fn standard() -> Self {
        let mut r = Self::default();
        r.register(Arc::new(authorization_code::AuthorizationCodeGrant));
        r.register(Arc::new(refresh_token::RefreshTokenGrant));
        r.register(Arc::new(client_credentials::ClientCredentialsGrant));
        r
    }

    /// Adds a handler (replacing one for the same grant type).
    pub fn register(&mut self, handler: Arc<dyn GrantHandler>) {
        self.handlers.insert(handler.grant_type().as_str(), handler);
    }

    /// The handler for `grant_type`.
    pub fn get(&self, grant_type: &str) -> Option<&Arc<dyn GrantHandler>> {
        self.handlers.get(grant_type)
    }
}

/// A token request failed; `basic` says whether to send the Basic challenge.
#[derive(Debug)]
pub struct TokenFailure {
    /// The error.
    pub error: OAuthError,
    /// HTTP Basic was used.
    pub basic: bool,
}

/// Handles a token request: parameters, client authentication, grant.
pub async fn handle(
    ctx: &TokenCtx<'_>,
    registry: &GrantRegistry,
    fetcher: &dyn ClientJwksFetcher,
    authorization: Option<&str>,
    form: &RawParams,
    report: &mut TokenReport,
) -> Result<TokenResponse, TokenFailure> {
    let fail = |error: OAuthError, basic: bool| TokenFailure { error, basic };
    if let Some(name) = form.first_repeated() {
        return Err(fail(
            OAuthError::invalid_request(format!(
                "parameter {name} was given more than once (RFC 6749 section 3.2)"
            )),
            false,
        ));
    }
    if let Some(name) = form.first_oversized() {
        return Err(fail(
            OAuthError::invalid_request(format!("parameter {name} is too long")),
            false,
        ));
    }
    let presented = client_auth::presented(authorization, form)
        .map_err(|e| fail(e, authorization.is_some()))?;
    let basic = presented.is_basic();
    let audiences = [
        ctx.settings.token_endpoint.as_str(),
        ctx.settings.issuer.as_str(),
    ];
    let client = match client_auth::authenticate(
        &presented,
        ctx.store,
        fetcher,
        &audiences,
        ctx.clock.now(),
    )
    .await
    {
        Ok(c) => c,
        Err(e) => {
            if e.code == ErrorCode::InvalidClient {
                report.client_auth_failed = true;
                report.client_id = match &presented {
                    Presented::Basic { id, .. }
                    | Presented::Post { id, .. }
                    | Presented::Public { id } => Some(id.clone()),
                    Presented::Jwt { id, .. } => id.clone(),
                };
            }
            return Err(fail(e, basic));
        }
    };
    report.client_id = Some(client.id.to_string());
    let Some(grant_type) = form.get("grant_type") else {
        return Err(fail(
            OAuthError::invalid_request("grant_type is required"),
            basic,
        ));
    };
    let Some(handler) = registry.get(grant_type) else {
        return Err(fail(
            OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                "this grant type is not supported",
            ),
            basic,
        ));
    };
    report.grant_type = Some(handler.grant_type().as_str());
    if !client.allows_grant(handler.grant_type()) {
        return Err(fail(
            OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "the client may not use this grant type",
            ),
            basic,
        ));
    }
    handler
        .handle(ctx, &client, form, report)
        .await
        .map_err(|e| fail(e, basic))
}
