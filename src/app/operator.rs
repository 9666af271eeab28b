//! Operator actions behind the CLI: registering clients and users. The
//! rules live here so that tests run them without a process.

use chrono::{DateTime, Utc};

use crate::domain::{
    Client, ClientId, ClientProfile, GrantType, RedirectUri, ScopeSet, TokenEndpointAuthMethod,
    TokenHash, User, UserId, Username,
};
use crate::ports::{Clock, PasswordHasher, Repositories, Rng, Store, StoreError};

/// Shortest accepted password (NIST SP 800-63B §5.1.1.2 asks for at least 8).
pub const MIN_PASSWORD_CHARS: usize = crate::domain::password::MIN_CHARS;
/// Longest accepted password (bounds hashing work).
pub const MAX_PASSWORD_BYTES: usize = crate::domain::password::MAX_BYTES;

/// Why an operator action was refused. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// Bad input; the message says which.
    #[error("{0}")]
    Invalid(String),
    /// A redirect URI (or post-logout redirect URI) is malformed, not
    /// allowed, or missing where the grant types need one: RFC 7591
    /// §3.2.2 `invalid_redirect_uri`.
    #[error("{0}")]
    InvalidRedirectUri(String),
    /// Already exists.
    #[error("{0}")]
    Conflict(String),
    /// No such client or user.
    #[error("{0}")]
    NotFound(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Hashing failed.
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// What `client create` asks for.
#[derive(Debug, Clone, Default)]
pub struct NewClient {
    /// Display name.
    pub name: String,
    /// Redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// A public client (no secret; PKCE required).
    pub public: bool,
    /// Grant types; empty means `authorization_code` + `refresh_token`.
    pub grant_types: Vec<String>,
    /// Scopes; empty means `openid profile email offline_access`.
    pub scopes: Vec<String>,
    /// Authentication method for confidential clients; `None` means
    /// `client_secret_basic`.
    pub auth_method: Option<String>,
    /// Skip consent.
    pub first_party: bool,
    /// Require PKCE of a confidential client (always required of public ones).
    pub require_pkce: bool,
    /// Accept only two-factor sign-ins (docs/MFA.md).
    pub require_mfa: bool,
    /// A resource server: may call `/introspect` (RFC 7662 §2.1).
    pub resource_server: bool,
    /// The resource server's audience (`--audience`); `None` means its
    /// client id. Only with `resource_server`.
    pub audience: Option<String>,
    /// Permit http redirect URIs (and post-logout redirect URIs) to
    /// non-loopback hosts. Redirect URIs only: the `jwks_uri` rule follows
    /// the server's outbound setting (the `outbound_allow_insecure`
    /// argument of [`create_client`]).
    pub allow_http: bool,
    /// Registered JWKS (JSON text) for `private_key_jwt`.
    pub jwks: Option<String>,
    /// Registered `jwks_uri` for `private_key_jwt`.
    pub jwks_uri: Option<String>,
    /// `id_token_signed_response_alg`.
    pub id_token_alg: Option<String>,
    /// Lifetime overrides, seconds.
    pub access_token_ttl_secs: Option<i64>,
    /// ID-token lifetime, seconds.
    pub id_token_ttl_secs: Option<i64>,
    /// Refresh-token lifetime, seconds.
    pub refresh_token_ttl_secs: Option<i64>,
    /// `backchannel_logout_uri` (OpenID Connect Back-Channel Logout 1.0
    /// §2.2); the outbound destination rule applies, as to `jwks_uri`.
    pub backchannel_logout_uri: Option<String>,
    /// `backchannel_logout_session_required`.
    pub backchannel_logout_session_required: bool,
    /// The resource indicators (RFC 8707) the client may ask tokens for
    /// (`--allowed-resource`; operators only).
    pub allowed_resources: Vec<String>,
    /// `require_pushed_authorization_requests` (RFC 9126 §6).
    pub require_pushed_authorization_requests: bool,
    /// `dpop_bound_access_tokens` (RFC 9449 §5.2).
    pub dpop_bound_access_tokens: bool,
    /// The security profile (`--profile fapi2`), if any.
    pub profile: Option<ClientProfile>,
    /// `request_uris` (OpenID Connect Dynamic Client Registration 1.0 §2,
    /// `--request-uri`): the external `request_uri`s the client may send;
    /// the outbound destination rule applies, as to `jwks_uri`.
    pub request_uris: Vec<String>,
}

/// A registered client and, for confidential ones, the secret (shown once).
#[derive(Debug)]
pub struct CreatedClient {
    /// The stored client.
    pub client: Client,
    /// The plain secret; never stored.
    pub secret: Option<String>,
}

fn invalid(msg: impl Into<String>) -> OperatorError {
    OperatorError::Invalid(msg.into())
}

/// Validates and stores a new client. The id (128-bit) and the secret
/// (256-bit) are generated here; only the secret's SHA-256 is stored.
///
/// `outbound_allow_insecure` is the server's
/// `PORTCULLIS_OUTBOUND_ALLOW_INSECURE` (`config.outbound.allow_insecure`):
/// the one switch of the outbound destination rule, so that a `jwks_uri`
/// is judged at registration as the outbound client will judge it.
pub async fn create_client(
    store: &dyn Store,
    rng: &dyn Rng,
    clock: &dyn Clock,
    req: NewClient,
    outbound_allow_insecure: bool,
) -> Result<CreatedClient, OperatorError> {
    let id_raw = {
        let mut b = [0_u8; 16];
        rng.fill(&mut b);
        hex::encode(b)
    };
    let id = ClientId::parse(&id_raw).ok_or_else(|| invalid("generated client id is invalid"))?;
    let now = clock.now();
    let mut client = validated_client(req, id, now, outbound_allow_insecure)?;
    super::resources::check_registered(store, &client.allowed_resources).await?;
    let secret = client.auth_method.uses_secret().then(|| rng.token());
    client.secret_hash = secret.as_deref().map(TokenHash::of);
    client.secret_rotated_at = secret.as_ref().map(|_| now);
    match store.clients().insert_client(&client).await {
        Ok(()) => Ok(CreatedClient { client, secret }),
        Err(StoreError::Conflict(_)) => Err(OperatorError::Conflict(
            "client id collision; run again".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Every rule a client's settings must meet, the one check of a new client
/// ([`create_client`]) and of a changed one
/// ([`super::clients::update_client`]): returns the client `req` describes
/// under `id`, without a secret, created and updated `now`.
#[allow(clippy::too_many_lines)] // one field per line of the client, read top to bottom
pub fn validated_client(
    req: NewClient,
    id: ClientId,
    now: DateTime<Utc>,
    outbound_allow_insecure: bool,
) -> Result<Client, OperatorError> {
    let name = req.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 256 || name.chars().any(char::is_control) {
        return Err(invalid(
            "client_name (--name) must be 1 to 256 printable characters",
        ));
    }
    let bad_uri =
        |e: crate::domain::RedirectUriError| OperatorError::InvalidRedirectUri(e.to_string());
    let redirect_uris = req
        .redirect_uris
        .iter()
        .map(|u| RedirectUri::parse(u, req.allow_http).map_err(bad_uri))
        .collect::<Result<Vec<_>, _>>()?;
    let post_logout_redirect_uris = req
        .post_logout_redirect_uris
        .iter()
        .map(|u| RedirectUri::parse(u, req.allow_http).map_err(bad_uri))
        .collect::<Result<Vec<_>, _>>()?;
    let mut grant_types = if req.grant_types.is_empty() {
        vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
    } else {
        req.grant_types
            .iter()
            .map(|g| g.parse::<GrantType>().map_err(invalid))
            .collect::<Result<Vec<_>, _>>()?
    };
    grant_types.sort();
    grant_types.dedup();
    let scopes = if req.scopes.is_empty() {
        ScopeSet::parse("openid profile email offline_access")
    } else {
        ScopeSet::from_tokens(&req.scopes)
    }
    .map_err(|e| invalid(e.to_string()))?;
    let auth_method = if req.public {
        if req.auth_method.as_deref().is_some_and(|m| m != "none") {
            return Err(invalid(
                "a public client authenticates with \"none\": drop token_endpoint_auth_method (--auth-method)",
            ));
        }
        TokenEndpointAuthMethod::None
    } else {
        let m = req
            .auth_method
            .as_deref()
            .unwrap_or("client_secret_basic")
            .parse::<TokenEndpointAuthMethod>()
            .map_err(invalid)?;
        if m == TokenEndpointAuthMethod::None {
            return Err(invalid(
                "token_endpoint_auth_method \"none\" is for public clients (--public)",
            ));
        }
        m
    };
    check_confidential_only(&req, &grant_types)?;
    if grant_types.contains(&GrantType::AuthorizationCode) && redirect_uris.is_empty() {
        return Err(OperatorError::InvalidRedirectUri(
            "authorization_code needs at least one redirect URI (redirect_uris, --redirect-uri)"
                .into(),
        ));
    }
    check_key_material(&req, auth_method, outbound_allow_insecure)?;
    if let Some(a) = &req.audience {
        check_audience(a)?;
    }
    let resource_audience = resource_audience(&req, &id);
    if let Some(uri) = &req.backchannel_logout_uri {
        check_backchannel_logout_uri(uri, outbound_allow_insecure)?;
    }
    let allowed_resources = allowed_resources(&req.allowed_resources)?;
    let request_uris = request_uris(&req.request_uris, outbound_allow_insecure)?;
    let fapi2 = req.profile == Some(ClientProfile::Fapi2);
    if fapi2 {
        check_fapi2(&req, auth_method)?;
    }
    Ok(Client {
        id,
        name,
        secret_hash: None,
        secret_rotated_at: None,
        previous_secret_hash: None,
        previous_secret_expires_at: None,
        auth_method,
        redirect_uris,
        post_logout_redirect_uris,
        grant_types,
        scopes,
        first_party: req.first_party,
        require_pkce: req.public || req.require_pkce || fapi2,
        require_mfa: req.require_mfa,
        resource_audience,
        id_token_signed_response_alg: req.id_token_alg,
        jwks: req.jwks,
        jwks_uri: req.jwks_uri,
        access_token_ttl_secs: req.access_token_ttl_secs,
        id_token_ttl_secs: req.id_token_ttl_secs,
        refresh_token_ttl_secs: req.refresh_token_ttl_secs,
        backchannel_logout_uri: req.backchannel_logout_uri,
        backchannel_logout_session_required: req.backchannel_logout_session_required,
        allowed_resources,
        // The FAPI 2.0 profile implies both (docs/FAPI.md).
        require_pushed_authorization_requests: req.require_pushed_authorization_requests || fapi2,
        dpop_bound_access_tokens: req.dpop_bound_access_tokens || fapi2,
        profile: req.profile,
        request_uris,
        created_at: now,
        updated_at: now,
    })
}

/// The most `request_uris` a client may register.
pub const MAX_REQUEST_URIS: usize = 20;

/// `request_uris` (OpenID Connect Dynamic Client Registration 1.0 §2): the
/// server fetches them, so each follows the outbound destination rule
/// (https, no internal address, unless `PORTCULLIS_OUTBOUND_ALLOW_INSECURE`);
/// a fragment (the object's hash, OpenID Connect Core 1.0 §6.2) is allowed.
/// At most [`MAX_REQUEST_URIS`], without duplicates.
fn request_uris(
    list: &[String],
    outbound_allow_insecure: bool,
) -> Result<Vec<String>, OperatorError> {
    if list.len() > MAX_REQUEST_URIS {
        return Err(invalid(format!(
            "request_uris (--request-uri) may hold at most {MAX_REQUEST_URIS} URIs"
        )));
    }
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for uri in list {
        let fetched = uri.split('#').next().unwrap_or_default();
        crate::domain::destination::check_outbound_url(fetched, outbound_allow_insecure)
            .map_err(|e| invalid(format!("request_uris (--request-uri) {e}")))?;
        if !out.contains(uri) {
            out.push(uri.clone());
        }
    }
    Ok(out)
}

/// The FAPI 2.0 Security Profile's rules for a client's registration
/// (docs/FAPI.md): `private_key_jwt` only (§5.3.2.1: mutual TLS is out of
/// scope here), ID tokens signed with PS256 or ES256 only (§5.4.1).
fn check_fapi2(req: &NewClient, auth_method: TokenEndpointAuthMethod) -> Result<(), OperatorError> {
    // §5.3.2.2: the authorization code flow (with PAR, PKCE and a short
    // code), refresh, and client credentials; the device grant would skip
    // all three.
    if req.grant_types.iter().any(|g| {
        !matches!(
            g.as_str(),
            "authorization_code" | "refresh_token" | "client_credentials"
        )
    }) {
        return Err(invalid(
            "profile fapi2 allows only the grant types authorization_code, refresh_token and client_credentials",
        ));
    }
    if auth_method != TokenEndpointAuthMethod::PrivateKeyJwt {
        return Err(invalid(
            "profile fapi2 requires token_endpoint_auth_method private_key_jwt (FAPI 2.0 Security Profile §5.3.2.1)",
        ));
    }
    if !matches!(req.id_token_alg.as_deref(), Some("PS256" | "ES256")) {
        return Err(invalid(
            "profile fapi2 requires id_token_signed_response_alg PS256 or ES256 (FAPI 2.0 Security Profile §5.4.1)",
        ));
    }
    Ok(())
}

/// OpenID Connect Back-Channel Logout 1.0 §2.2: an absolute URL that MAY
/// have a query and MUST NOT have a fragment; the server POSTs to it, so
/// the outbound destination rule applies (https, no internal address,
/// unless `PORTCULLIS_OUTBOUND_ALLOW_INSECURE`).
fn check_backchannel_logout_uri(
    uri: &str,
    outbound_allow_insecure: bool,
) -> Result<(), OperatorError> {
    if uri.contains('#') {
        return Err(invalid(
            "backchannel_logout_uri (--backchannel-logout-uri) must not have a fragment (Back-Channel Logout 1.0 §2.2)",
        ));
    }
    crate::domain::destination::check_outbound_url(uri, outbound_allow_insecure)
        .map(|_| ())
        .map_err(|e| {
            invalid(format!(
                "backchannel_logout_uri (--backchannel-logout-uri) {e}"
            ))
        })
}

/// RFC 8707 §2: a resource indicator is an absolute URI without a
/// fragment. Whether each is registered is checked by the caller that has
/// the store (`app::resources::check_registered`). Sorted, without duplicates.
fn allowed_resources(list: &[String]) -> Result<Vec<String>, OperatorError> {
    let mut out = Vec::with_capacity(list.len());
    for r in list {
        if !crate::domain::resource::is_resource_indicator(r) {
            return Err(invalid(format!(
                "allowed_resources (--allowed-resource): {r:?} is not an absolute URI without a fragment (RFC 8707 §2)"
            )));
        }
        out.push(r.clone());
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// A resource server serves its own audience: its client id unless
/// `--audience` says otherwise (RFC 7662 §4; `protocol::introspect::meant_for`).
fn resource_audience(req: &NewClient, id: &ClientId) -> Option<String> {
    req.resource_server.then(|| {
        req.audience
            .clone()
            .unwrap_or_else(|| id.as_str().to_owned())
    })
}

/// What only a confidential client may be: a `client_credentials` client
/// (RFC 6749 §4.4) and a resource server, which authenticates at
/// `/introspect` (RFC 7662 §2.1); and a resource server's `--audience`.
fn check_confidential_only(
    req: &NewClient,
    grant_types: &[GrantType],
) -> Result<(), OperatorError> {
    if req.audience.is_some() && !req.resource_server {
        return Err(invalid(
            "audience (--audience) is for a resource server: add resource_server (--resource-server)",
        ));
    }
    if req.public && req.resource_server {
        return Err(invalid(
            "a resource server authenticates at /introspect: it cannot be public (RFC 7662 §2.1)",
        ));
    }
    if req.public && grant_types.contains(&GrantType::ClientCredentials) {
        return Err(invalid(
            "client_credentials needs a confidential client (RFC 6749 §4.4)",
        ));
    }
    Ok(())
}

/// Checks the `private_key_jwt` key material, the ID token algorithm and the
/// lifetimes.
fn check_key_material(
    req: &NewClient,
    auth_method: TokenEndpointAuthMethod,
    outbound_allow_insecure: bool,
) -> Result<(), OperatorError> {
    if auth_method == TokenEndpointAuthMethod::PrivateKeyJwt
        && req.jwks.is_none()
        && req.jwks_uri.is_none()
    {
        return Err(invalid(
            "private_key_jwt needs jwks or jwks_uri (--jwks FILE or --jwks-uri URL)",
        ));
    }
    if let Some(jwks) = &req.jwks {
        let v: serde_json::Value = serde_json::from_str(jwks)
            .map_err(|e| invalid(format!("jwks (--jwks) is not JSON: {e}")))?;
        let Some(keys) = v.get("keys").and_then(serde_json::Value::as_array) else {
            return Err(invalid(
                "jwks (--jwks) must be a JWK Set ({\"keys\": [...]})",
            ));
        };
        check_public_keys(keys)?;
    }
    if let Some(uri) = &req.jwks_uri {
        // The server will call it: https, and no literal internal address
        // (a name is checked on the addresses it resolves to, at connect
        // time). The development exception is the outbound client's own
        // setting, never `--allow-http` (redirect URIs only).
        crate::domain::destination::check_outbound_url(uri, outbound_allow_insecure)
            .map_err(|e| invalid(format!("jwks_uri (--jwks-uri) {e}")))?;
    }
    if req
        .id_token_alg
        .as_deref()
        .is_some_and(|a| !matches!(a, "RS256" | "ES256" | "PS256"))
    {
        return Err(invalid(
            "id_token_signed_response_alg (--id-token-alg) must be RS256, ES256 or PS256",
        ));
    }
    for (flag, ttl) in [
        (
            "access_token_ttl (--access-token-ttl)",
            req.access_token_ttl_secs,
        ),
        ("id_token_ttl (--id-token-ttl)", req.id_token_ttl_secs),
        (
            "refresh_token_ttl (--refresh-token-ttl)",
            req.refresh_token_ttl_secs,
        ),
    ] {
        if ttl.is_some_and(|t| !(1..=366 * 86_400).contains(&t)) {
            return Err(invalid(format!(
                "{flag} must be between 1 and 31622400 seconds"
            )));
        }
    }
    Ok(())
}

/// The members of a JWK that hold private or symmetric key material
/// (RFC 7518 §6.2.2, §6.3.2, §6.4.1; RFC 8037 §2).
const PRIVATE_JWK_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// A client registers its *public* keys (RFC 7591 §2 `jwks`): a key with
/// private or symmetric material is refused (it would be stored and shown
/// back), and so is a key type we would never verify with.
fn check_public_keys(keys: &[serde_json::Value]) -> Result<(), OperatorError> {
    for (i, key) in keys.iter().enumerate() {
        let Some(key) = key.as_object() else {
            return Err(invalid(format!("jwks: key {i} is not a JSON object")));
        };
        if let Some(m) = PRIVATE_JWK_MEMBERS.iter().find(|m| key.contains_key(**m)) {
            return Err(invalid(format!(
                "jwks must hold public keys only: key {i} has the private member \"{m}\""
            )));
        }
        if !matches!(
            key.get("kty").and_then(serde_json::Value::as_str),
            Some("RSA" | "EC" | "OKP")
        ) {
            return Err(invalid(format!(
                "jwks: key {i} must have kty RSA, EC or OKP"
            )));
        }
    }
    Ok(())
}

/// The longest resource-server audience accepted.
const MAX_AUDIENCE_CHARS: usize = 1024;

/// A resource server's audience (`--audience`): an `aud` value (RFC 7519
/// §4.1.3, a StringOrURI), compared by exact string match; 1 to 1024
/// characters, no whitespace or control characters.
fn check_audience(a: &str) -> Result<String, OperatorError> {
    if a.is_empty()
        || a.chars().count() > MAX_AUDIENCE_CHARS
        || a.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(invalid(
            "audience (--audience) must be 1 to 1024 characters without spaces or control characters",
        ));
    }
    Ok(a.to_owned())
}

/// What `user create` asks for.
#[derive(Clone, Default)]
pub struct NewUser {
    /// Login name.
    pub username: String,
    /// E-mail address.
    pub email: String,
    /// Full name.
    pub name: Option<String>,
    /// Plain password (hashed here, never stored).
    pub password: String,
}

/// Checks a new password against the rules of
/// [`crate::domain::password`] (NIST SP 800-63B §5.1.1.2: length, the list
/// of common passwords, and not the user's own username or e-mail address,
/// given in `personal`). The one check of every new password: user
/// creation, `set-password`, the admin API, the reset and account pages.
pub fn check_password(password: &str, personal: &[&str]) -> Result<(), OperatorError> {
    crate::domain::password::check(password, personal).map_err(|e| invalid(e.to_string()))
}

/// Checks an e-mail address: at most 320 bytes, a bare `local@domain.tld`
/// with exactly one `@`: no spaces, control characters or the characters
/// of RFC 5322's display-name and group syntax (`<>()[],;:"\`), so that the
/// address checked, rate-limited and stored is the one a mail goes to (a
/// mail library reads `x<victim@example.com>` as `victim@example.com`).
pub fn check_email(email: &str) -> Result<(), OperatorError> {
    let ok = email.len() <= 320
        && !email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>()[],;:\"\\".contains(c))
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if ok {
        Ok(())
    } else {
        Err(invalid(format!("{email:?} is not an e-mail address")))
    }
}

/// Checks a user's full name: at most 256 printable characters.
pub fn check_name(name: &str) -> Result<(), OperatorError> {
    if name.chars().count() > 256 || name.chars().any(char::is_control) {
        return Err(invalid("the name must be at most 256 printable characters"));
    }
    Ok(())
}

/// Every rule a new user's username, e-mail address, name and password
/// must meet: the checks of [`create_user`], for a form that must answer
/// before it looks anything up (sign-up, `app::signup`). Returns the
/// username.
pub fn check_new_user(req: &NewUser) -> Result<Username, OperatorError> {
    let username = Username::parse(&req.username).map_err(invalid)?;
    check_email(&req.email)?;
    check_password(&req.password, &[username.as_str(), &req.email])?;
    if let Some(name) = &req.name {
        check_name(name)?;
    }
    Ok(username)
}

/// Creates a user with an argon2id password hash, through `store` (the
/// store, or a unit of work: sign-up by invitation creates the user in the
/// unit that uses the invitation).
pub async fn create_user(
    store: &dyn Repositories,
    hasher: &dyn PasswordHasher,
    clock: &dyn Clock,
    req: NewUser,
) -> Result<User, OperatorError> {
    let username = check_new_user(&req)?;
    if store.users().user_by_username(&username).await?.is_some() {
        return Err(OperatorError::Conflict(format!(
            "user {username} already exists"
        )));
    }
    let hash = hasher
        .hash(&req.password)
        .await
        .map_err(|e| OperatorError::Hash(e.to_string()))?;
    let now = clock.now();
    let user = User {
        id: UserId::new(uuid::Uuid::now_v7().to_string()),
        username: username.clone(),
        email: req.email,
        email_verified: false,
        name: req.name,
        password_hash: hash,
        disabled: false,
        created_at: now,
        updated_at: now,
    };
    match store.users().insert_user(&user).await {
        Ok(()) => Ok(user),
        Err(StoreError::Conflict(_)) => Err(OperatorError::Conflict(format!(
            "user {username} already exists"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Replaces a user's password.
pub async fn set_password(
    store: &dyn Store,
    hasher: &dyn PasswordHasher,
    clock: &dyn Clock,
    username: &str,
    password: &str,
) -> Result<(), OperatorError> {
    let username = Username::parse(username).map_err(invalid)?;
    let Some(user) = store.users().user_by_username(&username).await? else {
        return Err(OperatorError::NotFound(format!("no user {username}")));
    };
    check_password(password, &[username.as_str(), &user.email])?;
    let hash = hasher
        .hash(password)
        .await
        .map_err(|e| OperatorError::Hash(e.to_string()))?;
    if store
        .users()
        .set_user_password(&username, &hash, clock.now())
        .await?
    {
        revoke_user_grants(store, clock, &username).await
    } else {
        Err(OperatorError::NotFound(format!("no user {username}")))
    }
}

/// Ends every session of a user and revokes every grant, and so every
/// token issued from them (`protocol::grant`: codes, refresh tokens, access
/// tokens at userinfo and introspection): after a password change or when
/// disabled. The sessions end first, so that no browser signs in again
/// with a session opened under the old password.
async fn revoke_user_grants(
    store: &dyn Store,
    clock: &dyn Clock,
    username: &Username,
) -> Result<(), OperatorError> {
    if let Some(user) = store.users().user_by_username(username).await? {
        let now = clock.now();
        // Each session ends as a logout does: its clients are notified
        // (back-channel logout), in one unit of work.
        let uow = store.begin().await?;
        crate::protocol::logout::end_user_sessions(uow.as_ref(), &user.id, now).await?;
        uow.commit().await?;
        crate::protocol::grant::revoke(
            store,
            crate::protocol::grant::GrantSelector::User(&user.id),
            now,
        )
        .await?;
    }
    Ok(())
}

/// Lifts the sign-in locks of a user: the account's own count and lock and
/// those of every (account, client address) pair (`portcullis user unlock`).
/// Returns how many throttle entries were cleared.
pub async fn unlock_user(store: &dyn Store, username: &str) -> Result<u64, OperatorError> {
    let username = Username::parse(username).map_err(invalid)?;
    let Some(user) = store.users().user_by_username(&username).await? else {
        return Err(OperatorError::NotFound(format!("no user {username}")));
    };
    Ok(store
        .throttles()
        .unlock_account(&user.id, username.as_str())
        .await?)
}

/// Disables or re-enables a user.
pub async fn set_disabled(
    store: &dyn Store,
    clock: &dyn Clock,
    username: &str,
    disabled: bool,
) -> Result<(), OperatorError> {
    let username = Username::parse(username).map_err(invalid)?;
    if store
        .users()
        .set_user_disabled(&username, disabled, clock.now())
        .await?
    {
        if disabled {
            revoke_user_grants(store, clock, &username).await?;
        }
        Ok(())
    } else {
        Err(OperatorError::NotFound(format!("no user {username}")))
    }
}

#[cfg(test)]
mod email_tests {
    use super::check_email;

    #[test]
    fn only_a_bare_address_is_an_address() {
        for ok in ["a@example.com", "first.last+tag@sub.example.org"] {
            assert!(check_email(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a@example",
            "@example.com",
            "a b@example.com",
            "x<victim@example.com>",
            "victim.bank.com<attacker@evil.com>",
            "\"a\"@example.com",
            "a@b@example.com",
            "a@example.com,b@example.com",
            "a@example.com;",
            "(c)a@example.com",
        ] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }
}
