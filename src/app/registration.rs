//! Dynamic client registration (RFC 7591) and its management protocol
//! (RFC 7592): the one service behind `/register`, `/register/{client_id}`,
//! `POST /admin/v1/initial-access-tokens` and `portcullis registration
//! token create`.
//!
//! - **Initial access tokens** (RFC 7591 §3): 256-bit random, stored only
//!   as SHA-256, with an expiry and an optional number of uses; a use is
//!   spent by one conditional `UPDATE` (docs/SECURITY.md invariant 15).
//! - **Registration** (RFC 7591 §3.1): the client's metadata (RFC 7591 §2)
//!   go through the very rules of `client create` ([`operator::create_client`]),
//!   after the checks that only a registrant faces ([`check_registrant`]):
//!   no operator-only field, scopes from `PORTCULLIS_REGISTRATION_SCOPES`,
//!   lifetimes no longer than the server's.
//! - **Management** (RFC 7592 §2): the registration access token issued
//!   with the client (only its hash stored) reads, replaces and deletes
//!   that client's record, and nothing else.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::client_metadata::{ClientMetadata, ClientView};
use super::clients;
use super::operator::{self, OperatorError};
use crate::config::{Config, RegistrationMode};
use crate::domain::{
    Client, ClientId, ClientRegistration, InitialAccessToken, ScopeSet, TokenHash,
};
use crate::ports::{Clock, Rng, Store, StoreError};
use crate::protocol::admin::has_operator_only_scope;

/// The scopes a registration without `scope` asks for (those of them that
/// `PORTCULLIS_REGISTRATION_SCOPES` offers): `client create`'s default.
pub const DEFAULT_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// The longest life of an initial access token.
pub const MAX_INITIAL_TOKEN_TTL: Duration = Duration::days(366);

/// What the server lets a registrant ask for (from [`Config`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationPolicy {
    /// `PORTCULLIS_REGISTRATION`.
    pub mode: RegistrationMode,
    /// `PORTCULLIS_REGISTRATION_SCOPES`.
    pub scopes: ScopeSet,
    /// The server's access-token lifetime, seconds: a registrant may ask
    /// for less, never more.
    pub max_access_token_ttl: i64,
    /// The server's ID-token lifetime, seconds.
    pub max_id_token_ttl: i64,
    /// The server's refresh-token lifetime, seconds.
    pub max_refresh_token_ttl: i64,
    /// `PORTCULLIS_ALLOW_HTTP_REDIRECT_URIS` (development only): the
    /// server's switch, never the registrant's.
    pub allow_http_redirect_uris: bool,
    /// `PORTCULLIS_OUTBOUND_ALLOW_INSECURE`: how a `jwks_uri` is judged.
    pub outbound_allow_insecure: bool,
}

impl RegistrationPolicy {
    /// The policy of a server running `config`.
    pub fn of(config: &Config) -> Self {
        Self {
            mode: config.registration.mode,
            scopes: config.registration.scopes.clone(),
            max_access_token_ttl: config.tokens.access_ttl.num_seconds(),
            max_id_token_ttl: config.tokens.id_ttl.num_seconds(),
            max_refresh_token_ttl: config.tokens.refresh_ttl.num_seconds(),
            allow_http_redirect_uris: config.allow_http_redirect_uris,
            outbound_allow_insecure: config.outbound.allow_insecure,
        }
    }
}

/// Why a registration or management request was refused. Nothing was
/// written (a spent use of an initial access token is given back).
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    /// No token was presented where one is needed: RFC 6750 §3.1, a
    /// challenge without an error code (401).
    #[error("{0}")]
    MissingToken(&'static str),
    /// The initial or registration access token is missing, unknown,
    /// expired, used up, or another client's: RFC 6750 §3.1 `invalid_token`
    /// (401). The same for every case, so that it reveals nothing.
    #[error("{0}")]
    InvalidToken(&'static str),
    /// RFC 7591 §3.2.2 `invalid_redirect_uri`.
    #[error("{0}")]
    InvalidRedirectUri(String),
    /// RFC 7591 §3.2.2 `invalid_client_metadata`.
    #[error("{0}")]
    InvalidClientMetadata(String),
    /// Anything else (the store failed, an id collided).
    #[error(transparent)]
    Failed(OperatorError),
}

impl From<OperatorError> for RegistrationError {
    /// A rule of `client create` refused the metadata: a redirect URI
    /// (`invalid_redirect_uri`) or any other (`invalid_client_metadata`).
    fn from(e: OperatorError) -> Self {
        match e {
            OperatorError::InvalidRedirectUri(m) => Self::InvalidRedirectUri(m),
            OperatorError::Invalid(m) => Self::InvalidClientMetadata(m),
            other => Self::Failed(other),
        }
    }
}

impl From<StoreError> for RegistrationError {
    fn from(e: StoreError) -> Self {
        Self::Failed(OperatorError::Store(e))
    }
}

// ---- initial access tokens ------------------------------------------------

/// An initial access token just made: the token itself is shown once.
pub struct IssuedInitialAccessToken {
    /// The token (never stored; only its hash is).
    pub token: String,
    /// What is stored and listed.
    pub view: InitialAccessTokenView,
}

impl std::fmt::Debug for IssuedInitialAccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedInitialAccessToken")
            .field("token", &"[redacted]")
            .field("view", &self.view)
            .finish()
    }
}

/// An initial access token as the CLI and the admin API list it: never the
/// token, never its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InitialAccessTokenView {
    /// Its id.
    pub id: String,
    /// When it was made, seconds since the epoch.
    pub created_at: i64,
    /// When it stops working, seconds since the epoch.
    pub expires_at: i64,
    /// Registrations it may still make; `null`: any number until it
    /// expires.
    pub uses_left: Option<i64>,
}

impl InitialAccessTokenView {
    fn of(t: &InitialAccessToken) -> Self {
        Self {
            id: t.id.clone(),
            created_at: t.created_at.timestamp(),
            expires_at: t.expires_at.timestamp(),
            uses_left: t.uses_left,
        }
    }
}

/// Makes an initial access token valid for `ttl` (1 second to 366 days)
/// and, when `uses` is given, for that many registrations (at least one).
pub async fn create_initial_access_token(
    store: &dyn Store,
    rng: &dyn Rng,
    clock: &dyn Clock,
    ttl: Duration,
    uses: Option<u32>,
) -> Result<IssuedInitialAccessToken, OperatorError> {
    if ttl <= Duration::zero() || ttl > MAX_INITIAL_TOKEN_TTL {
        return Err(OperatorError::Invalid(
            "the lifetime (--ttl, ttl_secs) must be between 1 second and 366 days".into(),
        ));
    }
    if uses.is_some_and(|n| n == 0 || i32::try_from(n).is_err()) {
        return Err(OperatorError::Invalid(
            "uses (--uses) must be a whole number from 1 to 2147483647".into(),
        ));
    }
    let id = {
        let mut b = [0_u8; 16];
        rng.fill(&mut b);
        hex::encode(b)
    };
    let token = rng.token();
    let now = clock.now();
    let record = InitialAccessToken {
        id,
        token_hash: TokenHash::of(&token),
        created_at: now,
        expires_at: now + ttl,
        uses_left: uses.map(i64::from),
    };
    store
        .registrations()
        .insert_initial_access_token(&record)
        .await?;
    Ok(IssuedInitialAccessToken {
        token,
        view: InitialAccessTokenView::of(&record),
    })
}

/// Every initial access token, newest first (expired and used-up ones
/// too, until they are deleted).
pub async fn list_initial_access_tokens(
    store: &dyn Store,
) -> Result<Vec<InitialAccessTokenView>, OperatorError> {
    Ok(store
        .registrations()
        .list_initial_access_tokens()
        .await?
        .iter()
        .map(InitialAccessTokenView::of)
        .collect())
}

/// Revokes the initial access token `id` (from `list`): it stops working
/// at once. A leaked token is pulled this way rather than waiting for its
/// expiry.
pub async fn revoke_initial_access_token(store: &dyn Store, id: &str) -> Result<(), OperatorError> {
    if id.is_empty() || id.len() > 128 {
        return Err(OperatorError::NotFound(format!(
            "no initial access token {id:?}"
        )));
    }
    if store
        .registrations()
        .delete_initial_access_token(id)
        .await?
    {
        Ok(())
    } else {
        Err(OperatorError::NotFound(format!(
            "no initial access token {id:?}"
        )))
    }
}

// ---- registration (RFC 7591 §3) --------------------------------------------

/// The Client Information Response (RFC 7591 §3.2.1, RFC 7592 §3): the
/// client's metadata, the secret when just issued, and what the client
/// needs to manage its registration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClientInformation {
    /// The registered metadata (RFC 7591 §3.2.1: all of it).
    #[serde(flatten)]
    pub client: ClientView,
    /// RFC 7592 §3: the bearer token of the client configuration endpoint.
    pub registration_access_token: String,
    /// RFC 7592 §3: the client configuration endpoint,
    /// `<issuer>/register/<client_id>`.
    pub registration_client_uri: String,
}

/// A client just registered.
pub struct Registered {
    /// The stored client.
    pub client: Client,
    /// Its secret (confidential clients), shown once.
    pub secret: Option<String>,
    /// The registration access token (RFC 7592 §3), shown once.
    pub registration_access_token: String,
}

impl std::fmt::Debug for Registered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registered")
            .field("client", &self.client.id)
            .finish_non_exhaustive()
    }
}

/// The checks only a registrant faces, before the rules of `client
/// create`: RFC 7591 §2 lets the server refuse any metadata it will not
/// grant. A registrant may not set an operator-only field (`first_party`,
/// `resource_server`, `audience`, `allow_http_redirect_uris`), ask for a
/// scope the server does not offer to registrants (admin scopes never), or
/// a token lifetime longer than the server's. Returns the metadata with
/// `scope` settled (the default when absent).
pub fn check_registrant(
    mut m: ClientMetadata,
    policy: &RegistrationPolicy,
) -> Result<ClientMetadata, RegistrationError> {
    let refuse = |msg: String| Err(RegistrationError::InvalidClientMetadata(msg));
    // RFC 7591 §2: client_name is optional. The sign-in and consent pages
    // need a name: the host of the first redirect URI, else a generic one.
    if m.client_name.is_none() {
        let host = m
            .redirect_uris
            .as_ref()
            .and_then(|u| u.first())
            .and_then(|u| url::Url::parse(u).ok())
            .and_then(|u| u.host_str().map(str::to_owned));
        m.client_name = Some(host.unwrap_or_else(|| "Registered client".to_owned()));
    }
    for (field, set) in [
        ("first_party", m.first_party == Some(true)),
        ("resource_server", m.resource_server == Some(true)),
        ("audience", m.audience.is_some()),
        (
            "allowed_resources",
            m.allowed_resources.as_ref().is_some_and(|r| !r.is_empty()),
        ),
        (
            "allow_http_redirect_uris",
            m.allow_http_redirect_uris == Some(true),
        ),
    ] {
        if set {
            return refuse(format!(
                "{field} is set by an operator only, never through registration"
            ));
        }
    }
    for (field, asked, max) in [
        (
            "access_token_ttl",
            m.access_token_ttl,
            policy.max_access_token_ttl,
        ),
        ("id_token_ttl", m.id_token_ttl, policy.max_id_token_ttl),
        (
            "refresh_token_ttl",
            m.refresh_token_ttl,
            policy.max_refresh_token_ttl,
        ),
    ] {
        if asked.is_some_and(|t| t > max) {
            return refuse(format!(
                "{field} may not exceed the server's lifetime ({max} seconds)"
            ));
        }
    }
    let asked = match m.scope.as_deref() {
        None => None,
        Some(s) => Some(
            ScopeSet::parse(s)
                .map_err(|e| RegistrationError::InvalidClientMetadata(format!("scope: {e}")))?,
        )
        .filter(|s| !s.is_empty()),
    };
    let scopes = match asked {
        Some(s) if has_operator_only_scope(&s) => {
            return refuse(
                "scope: admin:read, admin:write and ssf:receiver are given by an operator only"
                    .into(),
            );
        }
        Some(s) if !s.is_subset(&policy.scopes) => {
            return refuse(format!(
                "scope: a registered client may ask only for {}",
                policy.scopes
            ));
        }
        Some(s) => s,
        None => {
            let default = ScopeSet::from_tokens(DEFAULT_SCOPES)
                .map_err(|e| RegistrationError::InvalidClientMetadata(e.to_string()))?
                .intersection(&policy.scopes);
            if default.is_empty() {
                return refuse(format!("scope is required: choose from {}", policy.scopes));
            }
            default
        }
    };
    m.scope = Some(scopes.to_string());
    Ok(m)
}

/// The initial access token check of RFC 7591 §3 for `mode`: in `token`
/// mode `bearer` must be a live initial access token, and one of its uses
/// is spent here (atomically); the hash returned is for
/// [`give_back`]. `open` mode needs nothing.
async fn admit(
    store: &dyn Store,
    clock: &dyn Clock,
    mode: RegistrationMode,
    bearer: Option<&str>,
) -> Result<Option<TokenHash>, RegistrationError> {
    match mode {
        RegistrationMode::Open => Ok(None),
        RegistrationMode::Off => Err(RegistrationError::InvalidToken(
            "dynamic registration is off",
        )),
        RegistrationMode::Token => {
            let token = bearer.ok_or(RegistrationError::MissingToken(
                "an initial access token is required (RFC 7591 section 3)",
            ))?;
            let hash = TokenHash::of(token);
            if store
                .registrations()
                .consume_initial_access_token(&hash, clock.now())
                .await?
            {
                Ok(Some(hash))
            } else {
                Err(RegistrationError::InvalidToken(
                    "the initial access token is invalid, expired or used up",
                ))
            }
        }
    }
}

/// Gives the spent use back after a refusal; a failure here is logged,
/// never the answer (the refusal is).
async fn give_back(store: &dyn Store, spent: Option<&TokenHash>) {
    if let Some(hash) = spent
        && let Err(e) = store
            .registrations()
            .refund_initial_access_token(hash)
            .await
    {
        tracing::warn!(error = %e, "could not give back an initial access token's use");
    }
}

/// Registers a client (RFC 7591 §3.1): admits the request
/// (`PORTCULLIS_REGISTRATION`, the initial access token `bearer`), checks
/// `metadata` ([`check_registrant`], then every rule of `client create`),
/// stores the client and its registration access token's hash.
pub async fn register(
    store: &dyn Store,
    rng: &dyn Rng,
    clock: &dyn Clock,
    policy: &RegistrationPolicy,
    bearer: Option<&str>,
    metadata: ClientMetadata,
) -> Result<Registered, RegistrationError> {
    let spent = admit(store, clock, policy.mode, bearer).await?;
    let result = create(store, rng, clock, policy, metadata).await;
    if result.is_err() {
        give_back(store, spent.as_ref()).await;
    }
    result
}

async fn create(
    store: &dyn Store,
    rng: &dyn Rng,
    clock: &dyn Clock,
    policy: &RegistrationPolicy,
    metadata: ClientMetadata,
) -> Result<Registered, RegistrationError> {
    let metadata = check_registrant(metadata, policy)?;
    let mut new = metadata.into_new_client()?;
    new.allow_http = policy.allow_http_redirect_uris;
    let created =
        operator::create_client(store, rng, clock, new, policy.outbound_allow_insecure).await?;
    let token = rng.token();
    let registration = ClientRegistration {
        client_id: created.client.id.clone(),
        token_hash: TokenHash::of(&token),
        created_at: clock.now(),
    };
    if let Err(e) = store
        .registrations()
        .insert_client_registration(&registration)
        .await
    {
        // Nothing half-made: a client nobody can manage is taken back.
        let _ = store.clients().delete_client(&created.client.id).await;
        return Err(e.into());
    }
    Ok(Registered {
        client: created.client,
        secret: created.secret,
        registration_access_token: token,
    })
}

// ---- management (RFC 7592 §2) -----------------------------------------------

/// The one answer to every refused registration access token.
const REFUSED: &str = "the registration access token is invalid for this client";

/// The client that the registration access token `bearer` manages, if it
/// is `client_id` (RFC 7592 §2). Every refusal is the same
/// `invalid_token`: a missing or unknown token, another client's token, a
/// client that no longer exists (whose registration is then forgotten, as
/// RFC 7592 §2 asks).
pub async fn authenticate(
    store: &dyn Store,
    client_id: &str,
    bearer: Option<&str>,
) -> Result<Client, RegistrationError> {
    let token = bearer.ok_or(RegistrationError::MissingToken(
        "a registration access token is required (RFC 7592 section 2)",
    ))?;
    let Some(registration) = store
        .registrations()
        .client_registration(&TokenHash::of(token))
        .await?
    else {
        return Err(RegistrationError::InvalidToken(REFUSED));
    };
    if registration.client_id.as_str() != client_id {
        return Err(RegistrationError::InvalidToken(REFUSED));
    }
    if let Some(client) = store.clients().get_client(&registration.client_id).await? {
        return Ok(client);
    }
    store
        .registrations()
        .delete_client_registration(&registration.client_id)
        .await?;
    Err(RegistrationError::InvalidToken(REFUSED))
}

/// The Client Information Response for `client` (RFC 7592 §3), with the
/// secret when one was just issued. The registration access token is the
/// one the client holds (only its hash is stored, so a read answers the
/// token it was presented with).
pub fn information(
    issuer: &str,
    client: &Client,
    secret: Option<String>,
    registration_access_token: &str,
) -> ClientInformation {
    ClientInformation {
        client: ClientView::of(client).with_secret(secret),
        registration_access_token: registration_access_token.to_owned(),
        registration_client_uri: registration_client_uri(issuer, &client.id),
    }
}

/// `<issuer>/register/<client_id>` (RFC 7592 §3).
pub fn registration_client_uri(issuer: &str, id: &ClientId) -> String {
    format!("{issuer}/register/{id}")
}

/// The body of a Client Update Request (RFC 7592 §2.2): the whole
/// metadata, the `client_id` (required, the one in the path) and, if the
/// client sends it, its current `client_secret`. The fields a read
/// answers but an update must not carry (`registration_access_token`,
/// `registration_client_uri`, `client_id_issued_at`,
/// `client_secret_expires_at`) are ignored, like any unknown metadata
/// (RFC 7591 §2), so that a client may send back what it read.
#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct UpdateRequest {
    /// `client_id`: REQUIRED, equal to the client's.
    pub client_id: Option<String>,
    /// `client_secret`: if sent, it MUST match the current secret (the
    /// client never chooses its secret).
    pub client_secret: Option<String>,
    /// Everything else.
    #[serde(flatten)]
    pub metadata: ClientMetadata,
}

impl std::fmt::Debug for UpdateRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateRequest")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("metadata", &self.metadata)
            .finish()
    }
}

/// Replaces the registration of `client` (RFC 7592 §2.2): the request's
/// metadata, checked as at registration ([`check_registrant`], then the
/// rules of a new client through [`clients::update_client`]), replace all
/// of it; a field left out takes its default. The `client_id`, the secret
/// and the registration access token stay (nothing is rotated). On any
/// refusal nothing changes.
pub async fn update(
    store: &dyn Store,
    clock: &dyn Clock,
    policy: &RegistrationPolicy,
    client: &Client,
    req: UpdateRequest,
) -> Result<Client, RegistrationError> {
    if req.client_id.as_deref() != Some(client.id.as_str()) {
        return Err(RegistrationError::InvalidClientMetadata(
            "client_id is required and must be this client's (RFC 7592 section 2.2)".into(),
        ));
    }
    if let Some(sent) = &req.client_secret
        && !client.secret_hash.as_ref().is_some_and(|h| h.matches(sent))
    {
        return Err(RegistrationError::InvalidClientMetadata(
            "client_secret does not match the current secret; a client cannot choose its \
             secret (RFC 7592 section 2.2)"
                .into(),
        ));
    }
    let mut metadata = check_registrant(req.metadata, policy)?;
    // The server's development switch, never the registrant's.
    metadata.allow_http_redirect_uris = policy.allow_http_redirect_uris.then_some(true);
    clients::update_client(
        store,
        clock,
        client.id.as_str(),
        metadata,
        policy.outbound_allow_insecure,
    )
    .await
    .map_err(|e| match e {
        OperatorError::NotFound(_) => RegistrationError::InvalidToken(REFUSED),
        other => other.into(),
    })
}

/// Deletes a registered client (RFC 7592 §2.3) through
/// [`clients::delete_client`], the one deletion of the admin API and the
/// CLI too: every grant made to it is revoked (and so every token issued
/// from them), the client and its registration access token are deleted.
pub async fn delete(
    store: &dyn Store,
    clock: &dyn Clock,
    client: &ClientId,
) -> Result<(), RegistrationError> {
    match clients::delete_client(store, clock, client.as_str()).await {
        Ok(_) | Err(OperatorError::NotFound(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// When an initial access token stops working, for printing.
pub fn expires(view: &InitialAccessTokenView) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(view.expires_at, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RegistrationPolicy {
        RegistrationPolicy {
            mode: RegistrationMode::Token,
            scopes: ScopeSet::parse("openid profile email offline_access api:read").unwrap(),
            max_access_token_ttl: 600,
            max_id_token_ttl: 600,
            max_refresh_token_ttl: 86_400,
            allow_http_redirect_uris: false,
            outbound_allow_insecure: false,
        }
    }

    fn meta(v: serde_json::Value) -> ClientMetadata {
        serde_json::from_value(v).unwrap()
    }

    fn refused(v: &serde_json::Value) -> String {
        match check_registrant(meta(v.clone()), &policy()) {
            Err(RegistrationError::InvalidClientMetadata(m)) => m,
            other => panic!("{v}: {other:?}"),
        }
    }

    #[test]
    fn operator_only_fields_are_refused_when_set() {
        // RFC 7591 §2: the server may refuse metadata it will not grant.
        assert!(refused(&serde_json::json!({"first_party": true})).contains("first_party"));
        assert!(refused(&serde_json::json!({"resource_server": true})).contains("resource_server"));
        assert!(refused(&serde_json::json!({"audience": "x"})).contains("audience"));
        assert!(
            refused(&serde_json::json!({"allow_http_redirect_uris": true}))
                .contains("allow_http_redirect_uris")
        );
        // The same fields at their defaults (a read's answer sent back)
        // are fine.
        let ok = serde_json::json!({"first_party": false, "resource_server": false,
            "allow_http_redirect_uris": false});
        assert!(check_registrant(meta(ok), &policy()).is_ok());
    }

    #[test]
    fn scopes_are_those_offered_and_never_admin() {
        assert!(refused(&serde_json::json!({"scope": "openid admin:read"})).contains("operator"));
        assert!(refused(&serde_json::json!({"scope": "openid payroll"})).contains("only"));
        let ok = check_registrant(
            meta(serde_json::json!({"scope": "api:read openid"})),
            &policy(),
        )
        .unwrap();
        assert_eq!(ok.scope.as_deref(), Some("api:read openid"));
        // Absent or empty: the default scopes the server offers.
        for absent in [serde_json::json!({}), serde_json::json!({"scope": ""})] {
            let m = check_registrant(meta(absent), &policy()).unwrap();
            assert_eq!(
                m.scope.as_deref(),
                Some("email offline_access openid profile")
            );
        }
        let narrow = RegistrationPolicy {
            scopes: ScopeSet::parse("openid").unwrap(),
            ..policy()
        };
        let m = check_registrant(meta(serde_json::json!({})), &narrow).unwrap();
        assert_eq!(m.scope.as_deref(), Some("openid"));
        let none = RegistrationPolicy {
            scopes: ScopeSet::parse("api:read").unwrap(),
            ..policy()
        };
        assert!(check_registrant(meta(serde_json::json!({})), &none).is_err());
    }

    #[test]
    fn lifetimes_may_be_shorter_never_longer() {
        assert!(refused(&serde_json::json!({"access_token_ttl": 601})).contains("600"));
        assert!(refused(&serde_json::json!({"id_token_ttl": 601})).contains("id_token_ttl"));
        assert!(refused(&serde_json::json!({"refresh_token_ttl": 86_401})).contains("refresh"));
        let ok = serde_json::json!({"access_token_ttl": 600, "refresh_token_ttl": 60});
        assert!(check_registrant(meta(ok), &policy()).is_ok());
    }
}
