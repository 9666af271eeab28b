//! Application state shared by handlers: configuration and ports, each as
//! `Arc<dyn Trait>` (docs/ARCHITECTURE.md).

use std::sync::Arc;

use crate::config::Config;
use crate::ports::{
    Clock, EventReader, EventSink, KeyProvider, OutboundHttp, PasswordHasher, Rng, Store,
};
use crate::protocol::client_auth::ClientJwksFetcher;
use crate::protocol::interaction::InteractionSettings;
use crate::protocol::token::{GrantRegistry, TokenCtx, TokenSettings};

/// Everything a handler may need, behind one `Arc`: axum clones the state
/// for every request, and one reference count is cheaper than eleven
/// (docs/BENCHMARKS.md, "Where the time goes").
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl AppState {
    /// Wraps the services.
    pub fn new(services: Services) -> Self {
        Self(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// The configuration and ports of an [`AppState`].
pub struct Services {
    /// Validated configuration.
    pub config: Arc<Config>,
    /// Repositories and units of work.
    pub store: Arc<dyn Store>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Randomness.
    pub rng: Arc<dyn Rng>,
    /// Password hashing.
    pub passwords: Arc<dyn PasswordHasher>,
    /// Settings of the authorization interaction.
    pub interaction: Arc<InteractionSettings>,
    /// Token lifetimes and formats.
    pub tokens: Arc<TokenSettings>,
    /// Grant handlers by grant type.
    pub grants: Arc<GrantRegistry>,
    /// Fetches clients' `jwks_uri` for `private_key_jwt`.
    pub client_jwks: Arc<dyn ClientJwksFetcher>,
    /// The one outbound HTTP client (requests to URLs clients registered).
    pub outbound: Arc<dyn OutboundHttp>,
    /// Signing keys: sign, verify our own tokens, the JWK Set.
    pub keys: Arc<dyn KeyProvider>,
    /// Grant and consent events (`emit` never waits).
    pub events: Arc<dyn EventSink>,
    /// The security-alert queue (`PORTCULLIS_ALERTS_SQS_QUEUE_URL`), when
    /// configured; the delivery worker sends the queued alerts to it
    /// (`app::alerts`).
    pub alerts: Option<Arc<dyn crate::ports::AlertQueue>>,
    /// Reads stored events back (the admin API's events routes).
    pub event_reader: Arc<dyn EventReader>,
    /// The event archive on S3 (`PORTCULLIS_ARCHIVE_S3_BUCKET`); `None`:
    /// not configured.
    pub archive: Option<Arc<crate::app::archive::Archive>>,
    /// The key of session cookies and CSRF tokens (`http::session`).
    pub session_key: Arc<crate::http::session::SessionKey>,
    /// Wakes the outbox worker (`app::outbox`) after a request queued mail,
    /// so that it goes out at once rather than at the next poll.
    pub mail_wake: Arc<tokio::sync::Notify>,
    /// Seals TOTP secrets at rest (master key or KMS).
    pub secrets: Arc<dyn crate::ports::SecretBox>,
    /// The WebAuthn relying party (passkeys).
    pub webauthn: Arc<dyn crate::ports::WebAuthn>,
}

impl Services {
    /// The context of the token endpoint and of the endpoints that check
    /// our tokens (revocation, introspection, userinfo).
    pub fn token_ctx(&self) -> TokenCtx<'_> {
        TokenCtx {
            store: self.store.as_ref(),
            clock: self.clock.as_ref(),
            rng: self.rng.as_ref(),
            keys: self.keys.as_ref(),
            settings: &self.tokens,
            dpop: None,
        }
    }
}
