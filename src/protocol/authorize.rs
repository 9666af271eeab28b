//! The authorization endpoint's rules (RFC 6749 §4.1.1–4.1.2, OpenID Connect
//! Core §3.1.2, RFC 7636, RFC 9207), as a chain of small checks in the order
//! node-oidc-provider runs them: client and redirect URI first (an error
//! there is shown as a page, never redirected), then everything else (an
//! error there is redirected to the client).

use std::borrow::Cow;

use chrono::{DateTime, Duration, Utc};
use oxide_auth::primitives::registrar::{ClientUrl, ExactUrl, Registrar as _};

use super::error::{ErrorCode, OAuthError};
use super::params::RawParams;
use super::pkce;
use super::registrar::ClientRegistrar;
use crate::domain::mfa::Acr;
use crate::domain::{Client, ClientId, ClientKind, GrantType, ScopeSet, UserId};
use crate::ports::KeyProvider;

/// The authorization request parameters we carry through login and consent.
pub const CARRIED_PARAMS: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "response_mode",
    "prompt",
    "max_age",
    "login_hint",
    "ui_locales",
    "acr_values",
    "claims",
    "display",
    "id_token_hint",
    "resource",
    "dpop_jkt",
];

/// How the response reaches the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    /// Parameters in the redirect URI's query (RFC 6749 §4.1.2).
    Query,
    /// An auto-submitted HTML form (OAuth 2.0 Form Post Response Mode).
    FormPost,
}

/// Why the request cannot be answered with a redirect: the user sees a
/// page (RFC 6749 §4.1.2.1 first paragraph, docs/SECURITY.md invariant 1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    /// `client_id` missing, repeated or malformed.
    #[error("The request does not name a valid application (client_id).")]
    MissingClient,
    /// No such client.
    #[error("The application that sent you here is not registered.")]
    UnknownClient,
    /// `redirect_uri` missing or repeated.
    #[error("The request does not say where to return to (redirect_uri).")]
    MissingRedirect,
    /// Not a registered redirect URI (exact string match).
    #[error("The return address (redirect_uri) is not registered for this application.")]
    UnregisteredRedirect,
    /// A `request_uri` of `/par` that is unknown, expired, already used or
    /// another client's, or a continued interaction without its secret
    /// (RFC 9126 §4: never redirected, the redirect URI is not known yet).
    #[error(
        "The application's pushed request (request_uri) is unknown, expired, already used or not this application's (invalid_request_uri). Go back to the application and start again."
    )]
    RequestUri,
    /// An external `request_uri` could not be fetched (RFC 9101 §5.2.3).
    #[error(
        "The application's request (request_uri) could not be fetched (invalid_request_uri). Go back to the application and start again."
    )]
    RequestUriUnavailable,
    /// An external `request_uri` the client did not register (`request_uris`,
    /// RFC 9101 §10.4.1): never fetched.
    #[error(
        "The application's request (request_uri) is not at an address it registered (invalid_request_uri). Go back to the application and start again."
    )]
    RequestUriUnregistered,
    /// A request object that did not verify, where no verified redirect URI
    /// can carry the error (RFC 9101 §6.3).
    #[error(
        "The application's signed request (request object) could not be verified (invalid_request_object)."
    )]
    RequestObject,
    /// `request` and `request_uri` together, or one of them repeated.
    #[error(
        "The request carries both request and request_uri, or one of them twice (invalid_request)."
    )]
    RequestConflict,
}

/// A redirect URI that the client registered, checked by exact match. Only
/// [`verify_client_and_redirect`] builds one, so that no code path can
/// redirect to an unverified address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedRedirect {
    uri: String,
    state: Option<String>,
    mode: ResponseMode,
}

impl VerifiedRedirect {
    /// The registered URI.
    pub fn uri(&self) -> &str {
        &self.uri
    }
    /// The client's `state`, echoed in every response.
    pub fn state(&self) -> Option<&str> {
        self.state.as_deref()
    }
    /// The response mode.
    pub fn mode(&self) -> ResponseMode {
        self.mode
    }

    /// The parameters of an authorization response: `params` plus `state`
    /// and `iss` (RFC 9207 §2).
    pub fn response_params(
        &self,
        issuer: &str,
        params: Vec<(&'static str, String)>,
    ) -> Vec<(&'static str, String)> {
        let mut out = params;
        if let Some(state) = &self.state {
            out.push(("state", state.clone()));
        }
        out.push(("iss", issuer.to_owned()));
        out
    }

    /// The query-mode redirect target: the registered URI with `params`
    /// appended to its existing query (RFC 6749 §3.1.2: the query component
    /// MUST be retained).
    pub fn query_url(&self, params: &[(&'static str, String)]) -> String {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            ser.append_pair(k, v);
        }
        let encoded = ser.finish();
        let sep = if self.uri.contains('?') { '&' } else { '?' };
        format!("{}{sep}{encoded}", self.uri)
    }
}

/// An error to send to the client by redirect.
#[derive(Debug)]
pub struct AuthorizeError {
    /// The error.
    pub error: OAuthError,
    /// Where it goes.
    pub redirect: VerifiedRedirect,
}

/// Checks `client_id` and `redirect_uri` (exact string match, through
/// oxide-auth's registrar). `client` is the client `client_id` names, if it
/// exists.
pub fn verify_client_and_redirect(
    params: &RawParams,
    client: Option<&Client>,
) -> Result<VerifiedRedirect, PageError> {
    if params.is_repeated("client_id")
        || params.get("client_id").and_then(ClientId::parse).is_none()
    {
        return Err(PageError::MissingClient);
    }
    let client = client.ok_or(PageError::UnknownClient)?;
    let uri = match params.get("redirect_uri") {
        Some(u) if !params.is_repeated("redirect_uri") => u,
        _ => return Err(PageError::MissingRedirect),
    };
    let exact = ExactUrl::new(uri.to_owned()).map_err(|_| PageError::UnregisteredRedirect)?;
    ClientRegistrar::new(client)
        .bound_redirect(ClientUrl {
            client_id: Cow::Borrowed(client.id.as_str()),
            redirect_uri: Some(Cow::Owned(exact)),
        })
        .map_err(|_| PageError::UnregisteredRedirect)?;
    let state = params
        .get("state")
        .filter(|_| !params.is_repeated("state"))
        .map(str::to_owned);
    let mode = match params.get("response_mode") {
        Some("form_post") if !params.is_repeated("response_mode") => ResponseMode::FormPost,
        _ => ResponseMode::Query,
    };
    Ok(VerifiedRedirect {
        uri: uri.to_owned(),
        state,
        mode,
    })
}

/// The `prompt` values (OpenID Connect Core §3.1.2.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    /// `none`: no UI at all.
    pub none: bool,
    /// `login`: re-authenticate.
    pub login: bool,
    /// `consent`: ask again.
    pub consent: bool,
    /// `select_account`: we have one account per session, so a sign-in.
    pub select_account: bool,
}

/// What the server may do, from configuration.
#[derive(Debug, Clone, Copy)]
pub struct AuthorizePolicy {
    /// Accept PKCE `plain`.
    pub pkce_allow_plain: bool,
    /// Every client must push its requests (`PORTCULLIS_REQUIRE_PAR`, RFC
    /// 9126 §6).
    pub require_pushed: bool,
}

/// A checked authorization request.
#[derive(Debug, Clone)]
pub struct ValidatedAuthorize {
    /// The client.
    pub client_id: ClientId,
    /// Where the response goes.
    pub redirect: VerifiedRedirect,
    /// Granted scopes (requested ∩ allowed for the client).
    pub scope: ScopeSet,
    /// An OpenID Connect request (`openid` in scope).
    pub openid: bool,
    /// `nonce`.
    pub nonce: Option<String>,
    /// PKCE challenge and method.
    pub pkce: Option<(String, &'static str)>,
    /// `prompt`.
    pub prompt: Prompt,
    /// `max_age`, seconds.
    pub max_age: Option<i64>,
    /// `login_hint`.
    pub login_hint: Option<String>,
    /// `claims` (JSON), stored with the code.
    pub claims: Option<String>,
    /// The authentication the request and the client require.
    pub acr: AcrRequest,
    /// The resources (RFC 8707 §2.1) the authorization is for, each in the
    /// client's `allowed_resources`; empty: the default resource.
    pub resources: Vec<String>,
    /// `dpop_jkt` (RFC 9449 §10): the code is redeemed only with a DPoP
    /// proof of this key.
    pub dpop_jkt: Option<String>,
    /// The longest the code may live whatever the configured lifetime
    /// (FAPI 2.0: 60 s, [`super::fapi::max_code_ttl`]).
    pub max_code_ttl: Option<Duration>,
}

/// The authentication context a request asks for (OpenID Connect Core
/// §3.1.2.1 `acr_values`, §5.5.1.1 an essential `acr` claim) and the one its
/// client requires (`require_mfa`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcrRequest {
    /// The known classes asked for, in the request's order of preference
    /// (never empty); `None` when the request asks for none.
    pub wanted: Option<Vec<Acr>>,
    /// The client's floor: [`Acr::TwoFactor`] with `require_mfa`.
    pub floor: Acr,
}

impl Default for AcrRequest {
    fn default() -> Self {
        Self {
            wanted: None,
            floor: Acr::OneFactor,
        }
    }
}

impl AcrRequest {
    /// The weakest class that satisfies the request: any one asked value
    /// satisfies it (a preference list), never below the client's floor.
    pub fn required(&self) -> Acr {
        self.wanted
            .as_ref()
            .and_then(|w| w.iter().copied().min())
            .map_or(self.floor, |m| m.max(self.floor))
    }

    /// The `acr` claim of a session whose class is `session`: the first
    /// value asked for that the session meets (and that meets the client's
    /// floor), else the session's own class.
    pub fn claim(&self, session: Acr) -> Acr {
        self.wanted
            .iter()
            .flatten()
            .copied()
            .find(|a| *a <= session && *a >= self.floor)
            .unwrap_or(session)
    }
}

/// The `acr` values of an essential `acr` claim of the ID token (OpenID
/// Connect Core §5.5.1.1: `values` or `value`); `None` when the claim is
/// not requested as essential with values.
fn essential_acr(claims: &serde_json::Value) -> Option<Vec<String>> {
    let acr = claims.get("id_token")?.get("acr")?;
    if acr.get("essential").and_then(serde_json::Value::as_bool) != Some(true) {
        return None;
    }
    let values: Vec<String> = match (acr.get("values"), acr.get("value")) {
        (Some(serde_json::Value::Array(v)), _) => v
            .iter()
            .filter_map(serde_json::Value::as_str)
            .map(str::to_owned)
            .collect(),
        (_, Some(serde_json::Value::String(v))) => vec![v.clone()],
        _ => return None,
    };
    // No usable value: the claim asks nothing, and `acr_values` (if any)
    // stays the request (never a silent "no requirement").
    (!values.is_empty()).then_some(values)
}

/// Reads what a request requires of the authentication: an essential `acr`
/// claim with values, else `acr_values` (space-separated); unknown values
/// are ignored, but a request that names none we know cannot be met
/// (Unmet Authentication Requirements 1.0 §2). `Err`: that error's text.
fn parse_acr(
    acr_values: Option<&str>,
    claims: Option<&serde_json::Value>,
    client: &Client,
) -> Result<AcrRequest, &'static str> {
    let floor = client.acr_floor();
    let asked: Option<Vec<String>> = match claims.and_then(essential_acr) {
        Some(v) => Some(v),
        None => acr_values.map(|raw| {
            raw.split(' ')
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .collect()
        }),
    };
    let wanted = match asked {
        None => None,
        Some(v) if v.is_empty() => None,
        Some(v) => {
            let known: Vec<Acr> = v.iter().filter_map(|a| Acr::parse(a)).collect();
            if known.is_empty() {
                return Err(
                    "none of the requested authentication context classes (acr) is supported",
                );
            }
            Some(known)
        }
    };
    Ok(AcrRequest { wanted, floor })
}

fn refuse(
    redirect: &VerifiedRedirect,
    code: ErrorCode,
    description: impl Into<Cow<'static, str>>,
) -> AuthorizeError {
    AuthorizeError {
        error: OAuthError::new(code, description),
        redirect: redirect.clone(),
    }
}

/// What [`validate`] refuses of `request`, `request_uri` and
/// `registration`. A request object or a pushed request is expanded into
/// the parameters before validation (`protocol::request`), so a `request`
/// left here was never verified (refused rather than ignored); a
/// `request_uri` left here is one of neither form while the operator
/// allows no external ones (RFC 9101 §5.2: `request_uri_not_supported`);
/// the registration parameter is not supported (OpenID Connect Core §7.2.1).
fn unsupported_features(
    params: &RawParams,
    redirect: &VerifiedRedirect,
) -> Result<(), AuthorizeError> {
    let bad = |code, text: &'static str| refuse(redirect, code, text);
    if params.get("request").is_some() {
        return Err(bad(
            ErrorCode::InvalidRequestObject,
            "the request object was not verified",
        ));
    }
    if params.get("request_uri").is_some() {
        return Err(bad(
            ErrorCode::RequestUriNotSupported,
            "only request_uri values issued by the pushed authorization request endpoint are supported",
        ));
    }
    if params.get("registration").is_some() {
        return Err(bad(
            ErrorCode::RegistrationNotSupported,
            "the registration parameter is not supported",
        ));
    }
    Ok(())
}

/// Validates everything after the client and redirect URI.
#[allow(clippy::too_many_lines)] // one check after another, in node-oidc-provider's order
pub fn validate(
    params: &RawParams,
    client: &Client,
    redirect: &VerifiedRedirect,
    policy: AuthorizePolicy,
) -> Result<ValidatedAuthorize, AuthorizeError> {
    let bad = |code, text: &'static str| refuse(redirect, code, text);
    if let Some(name) = params.first_repeated() {
        return Err(refuse(
            redirect,
            ErrorCode::InvalidRequest,
            format!("parameter {name} was given more than once (RFC 6749 section 3.1)"),
        ));
    }
    if let Some(name) = params.first_oversized() {
        return Err(refuse(
            redirect,
            ErrorCode::InvalidRequest,
            format!("parameter {name} is too long"),
        ));
    }
    unsupported_features(params, redirect)?;
    match params.get("response_type") {
        None => return Err(bad(ErrorCode::InvalidRequest, "response_type is required")),
        Some("code") => {}
        Some(_) => {
            return Err(bad(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            ));
        }
    }
    match params.get("response_mode") {
        None | Some("query" | "form_post") => {}
        Some(_) => {
            return Err(bad(
                ErrorCode::InvalidRequest,
                "response_mode must be query or form_post",
            ));
        }
    }
    if !client.allows_grant(GrantType::AuthorizationCode) {
        return Err(bad(
            ErrorCode::UnauthorizedClient,
            "the client may not use the authorization code grant",
        ));
    }
    let scope = negotiate_scope(params, client, redirect)?;
    let resources = requested_resources(params, client, redirect)?;
    let openid = scope.contains("openid");
    let prompt = parse_prompt(params.get("prompt"))
        .map_err(|d| refuse(redirect, ErrorCode::InvalidRequest, d))?;
    let max_age = match params.get("max_age") {
        None => None,
        Some(raw) => match raw.parse::<i64>() {
            Ok(v) if v >= 0 => Some(v),
            _ => {
                return Err(bad(
                    ErrorCode::InvalidRequest,
                    "max_age must be a non-negative integer",
                ));
            }
        },
    };
    let required = client.kind() == ClientKind::Public || client.require_pkce;
    let method = pkce::check_challenge(
        params.get("code_challenge"),
        params.get("code_challenge_method"),
        required,
        policy.pkce_allow_plain,
    )
    .map_err(|e| refuse(redirect, ErrorCode::InvalidRequest, e.to_string()))?;
    // FAPI 2.0 Security Profile §5.3.2.2 item 3: S256 only.
    super::fapi::check_pkce(client, method)
        .map_err(|d| refuse(redirect, ErrorCode::InvalidRequest, d))?;
    let pkce = match (params.get("code_challenge"), method) {
        (Some(c), Some(m)) => Some((c.to_owned(), m)),
        _ => None,
    };
    let (claims, claims_value) = match params.get("claims") {
        None => (None, None),
        Some(raw) => match serde_json::from_str::<serde_json::Value>(raw) {
            Ok(v) if v.is_object() => (Some(raw.to_owned()), Some(v)),
            _ => {
                return Err(bad(
                    ErrorCode::InvalidRequest,
                    "claims must be a JSON object (OpenID Connect Core section 5.5)",
                ));
            }
        },
    };
    let acr = parse_acr(params.get("acr_values"), claims_value.as_ref(), client)
        .map_err(|d| bad(ErrorCode::UnmetAuthenticationRequirements, d))?;
    let dpop_jkt = requested_dpop_jkt(params, redirect)?;
    Ok(ValidatedAuthorize {
        client_id: client.id.clone(),
        redirect: redirect.clone(),
        scope,
        openid,
        nonce: params.get("nonce").map(str::to_owned),
        pkce,
        prompt,
        max_age,
        login_hint: params.get("login_hint").map(str::to_owned),
        claims,
        acr,
        resources,
        dpop_jkt,
        max_code_ttl: super::fapi::max_code_ttl(client),
    })
}

/// RFC 9126 §6: a client registered with
/// `require_pushed_authorization_requests`, or every client when the
/// operator requires it, may use `/authorize` only with a `request_uri`
/// from `/par` (`pushed`); otherwise `invalid_request`, redirected (the
/// client and the redirect URI are verified).
fn require_pushed(
    client: &Client,
    policy: AuthorizePolicy,
    pushed: bool,
    redirect: &VerifiedRedirect,
) -> Result<(), AuthorizeError> {
    if !pushed && (policy.require_pushed || client.require_pushed_authorization_requests) {
        return Err(refuse(
            redirect,
            ErrorCode::InvalidRequest,
            "pushed authorization request required",
        ));
    }
    Ok(())
}

/// Verifies `id_token_hint` (OpenID Connect Core §3.1.2.1): an ID token we
/// signed, for our issuer; an expired one is still a good hint. The one
/// verifier is the one RP-initiated logout uses. `Ok`: the hinted `sub`.
pub fn verify_id_token_hint(
    keys: &dyn KeyProvider,
    issuer: &str,
    params: &RawParams,
) -> Result<Option<UserId>, OAuthError> {
    let Some(hint) = params.get("id_token_hint") else {
        return Ok(None);
    };
    let bad = || {
        OAuthError::new(
            ErrorCode::InvalidRequest,
            "id_token_hint is not an ID token this server issued",
        )
    };
    let verified = super::logout::verify_hint(keys, issuer, hint).map_err(|_| bad())?;
    verified.subject.map(UserId::new).map(Some).ok_or_else(bad)
}

/// Every check of a request whose client and redirect URI are verified,
/// shared by `/authorize` (a request, a request object, a pushed request)
/// and `/par` (which validates what it stores as `/authorize` would, RFC
/// 9126 §2.1): pushed requests required ([`require_pushed`]; `pushed`: the
/// request came through `/par`), [`validate`], then `id_token_hint`.
/// Returns the validated request and the hinted user.
pub fn check_request(
    params: &RawParams,
    client: &Client,
    redirect: &VerifiedRedirect,
    policy: AuthorizePolicy,
    pushed: bool,
    keys: &dyn KeyProvider,
    issuer: &str,
) -> Result<(ValidatedAuthorize, Option<UserId>), AuthorizeError> {
    require_pushed(client, policy, pushed, redirect)?;
    let validated = validate(params, client, redirect, policy)?;
    let hinted = verify_id_token_hint(keys, issuer, params).map_err(|error| AuthorizeError {
        error,
        redirect: redirect.clone(),
    })?;
    Ok((validated, hinted))
}

/// RFC 9449 §10: `dpop_jkt`, the JWK SHA-256 thumbprint (RFC 7638) of the
/// key the code will be bound to; malformed: `invalid_request` (returned
/// to the client).
fn requested_dpop_jkt(
    params: &RawParams,
    redirect: &VerifiedRedirect,
) -> Result<Option<String>, AuthorizeError> {
    match params.get("dpop_jkt") {
        None => Ok(None),
        Some(j) if super::dpop::is_jkt(j) => Ok(Some(j.to_owned())),
        Some(_) => Err(refuse(
            redirect,
            ErrorCode::InvalidRequest,
            "dpop_jkt must be a JWK SHA-256 thumbprint (43 base64url characters)",
        )),
    }
}

/// RFC 8707 §2: each `resource` in the client's `allowed_resources` (which
/// name registered APIs only: `app::resources`), else `invalid_target`
/// (returned to the client).
fn requested_resources(
    params: &RawParams,
    client: &Client,
    redirect: &VerifiedRedirect,
) -> Result<Vec<String>, AuthorizeError> {
    crate::domain::resource::authorization_resources(
        &params.get_all("resource"),
        &client.allowed_resources,
    )
    .map_err(|e| refuse(redirect, ErrorCode::InvalidTarget, e.to_string()))
}

fn negotiate_scope(
    params: &RawParams,
    client: &Client,
    redirect: &VerifiedRedirect,
) -> Result<ScopeSet, AuthorizeError> {
    let Some(raw) = params.get("scope") else {
        return Err(refuse(
            redirect,
            ErrorCode::InvalidScope,
            "scope is required",
        ));
    };
    let requested = ScopeSet::parse(raw)
        .map_err(|e| refuse(redirect, ErrorCode::InvalidScope, e.to_string()))?;
    let scope: oxide_auth::primitives::scope::Scope = requested
        .to_string()
        .parse()
        .map_err(|_| refuse(redirect, ErrorCode::InvalidScope, "scope is malformed"))?;
    let registrar = ClientRegistrar::new(client);
    let bound = registrar
        .bound_redirect(ClientUrl {
            client_id: Cow::Borrowed(client.id.as_str()),
            redirect_uri: ExactUrl::new(redirect.uri.clone()).ok().map(Cow::Owned),
        })
        .map_err(|_| {
            refuse(
                redirect,
                ErrorCode::InvalidRequest,
                "redirect_uri is not registered",
            )
        })?;
    let pre = registrar.negotiate(bound, Some(scope)).map_err(|_| {
        refuse(
            redirect,
            ErrorCode::InvalidScope,
            "none of the requested scopes is allowed for this client",
        )
    })?;
    ScopeSet::parse(&pre.scope.to_string())
        .map_err(|e| refuse(redirect, ErrorCode::InvalidScope, e.to_string()))
}

fn parse_prompt(raw: Option<&str>) -> Result<Prompt, String> {
    let mut p = Prompt::default();
    let Some(raw) = raw else { return Ok(p) };
    for v in raw.split(' ').filter(|v| !v.is_empty()) {
        match v {
            "none" => p.none = true,
            "login" => p.login = true,
            "consent" => p.consent = true,
            "select_account" => p.select_account = true,
            other => return Err(format!("unsupported prompt value {other:?}")),
        }
    }
    // OpenID Connect Core §3.1.2.1: none with any other value is an error.
    if p.none && (p.login || p.consent || p.select_account) {
        return Err("prompt=none cannot be combined with other values".into());
    }
    Ok(p)
}

/// The end user's authentication, as far as the authorization decision
/// needs it.
#[derive(Debug, Clone, Copy)]
pub struct Authentication {
    /// When the user signed in.
    pub auth_time: DateTime<Utc>,
    /// The signed-in user is the one `id_token_hint` names (true without a
    /// hint).
    pub matches_hint: bool,
    /// The class the session meets.
    pub acr: Acr,
    /// The strongest class the user can reach with the factors they have
    /// (a step-up beyond it is impossible).
    pub reachable: Acr,
}

/// When the consent page may be skipped for a client.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConsentPolicy {
    /// The client is first party: no consent page, except for
    /// `prompt=consent` and for `offline_access`.
    pub first_party: bool,
    /// The operator's explicit opt-out: first-party clients get
    /// `offline_access` without consent too
    /// (`PORTCULLIS_FIRST_PARTY_OFFLINE_WITHOUT_CONSENT`).
    pub first_party_offline_without_consent: bool,
}

/// What to do next with a valid request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Show the login page.
    Login,
    /// Show the second-factor page for the live session (a step-up: its
    /// class is below what the request requires).
    SecondFactor,
    /// Show the consent page.
    Consent,
    /// Issue the code.
    Issue,
}

/// Where the request stands in the interaction.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    /// The user signed in during this request's interaction (so `prompt=login`
    /// and `max_age` are satisfied).
    pub just_authenticated: bool,
    /// The user answered the consent page during this interaction.
    pub just_consented: bool,
}

/// Decides between login, consent and issuing the code (OpenID Connect Core
/// §3.1.2.3–3.1.2.4 and §3.1.2.6 for `prompt=none`).
///
/// Consent is asked when the request says `prompt=consent` (whatever the
/// client), when a third-party client asks for scopes the user has not
/// granted, and when a first-party client asks for `offline_access` the
/// user has not granted: OpenID Connect Core §11 wants consent for offline
/// access unless the operator said otherwise
/// ([`ConsentPolicy::first_party_offline_without_consent`]).
pub fn decide(
    v: &ValidatedAuthorize,
    auth: Option<Authentication>,
    consented: Option<&ScopeSet>,
    policy: ConsentPolicy,
    progress: Progress,
    now: DateTime<Utc>,
) -> Result<Next, OAuthError> {
    let stale = |a: &Authentication| {
        v.max_age
            .is_some_and(|m| a.auth_time + Duration::seconds(m) < now)
    };
    let needs_login = match &auth {
        None => true,
        // A user other than the hinted one must sign in again, even right
        // after a sign-in (OpenID Connect Core §3.1.2.1, id_token_hint).
        Some(a) if !a.matches_hint => true,
        Some(a) => {
            !progress.just_authenticated && (v.prompt.login || v.prompt.select_account || stale(a))
        }
    };
    if needs_login {
        return if v.prompt.none {
            Err(OAuthError::new(
                ErrorCode::LoginRequired,
                "the user is not signed in",
            ))
        } else {
            Ok(Next::Login)
        };
    }
    let required = v.acr.required();
    if let Some(a) = auth.filter(|a| a.acr < required) {
        if a.reachable < required {
            // Unmet Authentication Requirements 1.0 §2: not a downgrade.
            return Err(OAuthError::new(
                ErrorCode::UnmetAuthenticationRequirements,
                "the user cannot meet the requested authentication context class",
            ));
        }
        // OpenID Connect Core §3.1.2.6: login_required "MAY be returned if
        // [...] the Authentication Request cannot be completed without
        // displaying a user interface for End-User authentication"; a
        // step-up is an authentication.
        return if v.prompt.none {
            Err(OAuthError::new(
                ErrorCode::LoginRequired,
                "the request requires a stronger authentication than the session's",
            ))
        } else {
            Ok(Next::SecondFactor)
        };
    }
    let covered = consented.is_some_and(|c| v.scope.is_subset(c));
    let offline_covered = !v.scope.contains("offline_access")
        || policy.first_party_offline_without_consent
        || consented.is_some_and(|c| c.contains("offline_access"));
    let unconsented = if policy.first_party {
        !offline_covered
    } else {
        !covered
    };
    let needs_consent = !progress.just_consented && (v.prompt.consent || unconsented);
    if needs_consent {
        return if v.prompt.none {
            Err(OAuthError::new(
                ErrorCode::ConsentRequired,
                "the user has not consented to this request",
            ))
        } else {
            Ok(Next::Consent)
        };
    }
    Ok(Next::Issue)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{RedirectUri, TokenEndpointAuthMethod, TokenHash};

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn client(public: bool) -> Client {
        Client {
            id: ClientId::parse("c1").unwrap(),
            name: "App".into(),
            secret_hash: (!public).then(|| TokenHash::of("s")),
            secret_rotated_at: None,
            previous_secret_hash: None,
            previous_secret_expires_at: None,
            auth_method: if public {
                TokenEndpointAuthMethod::None
            } else {
                TokenEndpointAuthMethod::ClientSecretBasic
            },
            redirect_uris: vec![
                RedirectUri::parse("https://app.example/cb?tenant=1", false).unwrap(),
            ],
            post_logout_redirect_uris: vec![],
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            scopes: ScopeSet::parse("openid profile email").unwrap(),
            first_party: false,
            require_pkce: false,
            require_mfa: false,
            resource_audience: None,
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

    const BASE: &str = "client_id=c1&redirect_uri=https%3A%2F%2Fapp.example%2Fcb%3Ftenant%3D1&response_type=code&scope=openid&state=xyz";
    const POLICY: AuthorizePolicy = AuthorizePolicy {
        pkce_allow_plain: false,
        require_pushed: false,
    };

    fn run(extra: &str, public: bool) -> Result<ValidatedAuthorize, ErrorCode> {
        let p = RawParams::parse(format!("{BASE}{extra}").as_bytes());
        let c = client(public);
        let r = verify_client_and_redirect(&p, Some(&c)).unwrap();
        validate(&p, &c, &r, POLICY).map_err(|e| e.error.code)
    }

    #[test]
    fn page_errors_for_client_and_redirect_problems() {
        let c = client(false);
        let cases: &[(&str, Option<&Client>, PageError)] = &[
            (
                "redirect_uri=https%3A%2F%2Fapp.example%2Fcb%3Ftenant%3D1",
                Some(&c),
                PageError::MissingClient,
            ),
            (
                "client_id=c1&client_id=c1&redirect_uri=x",
                Some(&c),
                PageError::MissingClient,
            ),
            (
                "client_id=zz&redirect_uri=x",
                None,
                PageError::UnknownClient,
            ),
            ("client_id=c1", Some(&c), PageError::MissingRedirect),
            (
                "client_id=c1&redirect_uri=https%3A%2F%2Fapp.example%2Fcb",
                Some(&c),
                PageError::UnregisteredRedirect,
            ),
            (
                "client_id=c1&redirect_uri=https%3A%2F%2Fevil.example%2Fcb",
                Some(&c),
                PageError::UnregisteredRedirect,
            ),
        ];
        for (q, client, want) in cases {
            let p = RawParams::parse(q.as_bytes());
            assert_eq!(
                verify_client_and_redirect(&p, *client).unwrap_err(),
                *want,
                "{q}"
            );
        }
    }

    #[test]
    fn each_redirect_error_has_its_spec_code() {
        use ErrorCode::*;
        let cases: &[(&str, bool, ErrorCode)] = &[
            ("&scope=openid", false, InvalidRequest), // repeated (RFC 6749 §3.1)
            ("&request=eyJ", false, InvalidRequestObject), // never verified: refused
            (
                "&request_uri=https%3A%2F%2Fx",
                false,
                RequestUriNotSupported,
            ),
            ("&registration=%7B%7D", false, RegistrationNotSupported),
            ("&response_mode=fragment", false, InvalidRequest),
            ("&prompt=none%20login", false, InvalidRequest), // OIDC Core §3.1.2.1
            ("&prompt=bogus", false, InvalidRequest),
            ("&max_age=-1", false, InvalidRequest),
            ("&max_age=abc", false, InvalidRequest),
            ("", true, InvalidRequest), // public client without PKCE
            (
                "&code_challenge=short&code_challenge_method=S256",
                false,
                InvalidRequest,
            ),
            (
                "&code_challenge_method=plain&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                false,
                InvalidRequest,
            ),
            ("&claims=notjson", false, InvalidRequest),
        ];
        for (extra, public, want) in cases {
            assert_eq!(run(extra, *public).unwrap_err(), *want, "{extra}");
        }
        let p = RawParams::parse(
            BASE.replace("response_type=code", "response_type=token")
                .as_bytes(),
        );
        let c = client(false);
        let r = verify_client_and_redirect(&p, Some(&c)).unwrap();
        assert_eq!(
            validate(&p, &c, &r, POLICY).unwrap_err().error.code,
            UnsupportedResponseType
        );
        let p = RawParams::parse(BASE.replace("&response_type=code", "").as_bytes());
        assert_eq!(
            validate(&p, &c, &r, POLICY).unwrap_err().error.code,
            InvalidRequest
        );
        let p = RawParams::parse(BASE.replace("scope=openid", "scope=admin").as_bytes());
        assert_eq!(
            validate(&p, &c, &r, POLICY).unwrap_err().error.code,
            InvalidScope
        );
        let mut cc = client(false);
        cc.grant_types = vec![GrantType::ClientCredentials];
        assert_eq!(
            validate(&RawParams::parse(BASE.as_bytes()), &cc, &r, POLICY)
                .unwrap_err()
                .error
                .code,
            UnauthorizedClient
        );
    }

    #[test]
    fn a_client_that_must_push_gets_invalid_request_for_a_plain_request() {
        // RFC 9126 §6: per client, or for every client (PORTCULLIS_REQUIRE_PAR).
        let p = RawParams::parse(BASE.as_bytes());
        let mut c = client(false);
        let r = verify_client_and_redirect(&p, Some(&c)).unwrap();
        assert!(require_pushed(&c, POLICY, false, &r).is_ok());
        let everyone = AuthorizePolicy {
            require_pushed: true,
            ..POLICY
        };
        let e = require_pushed(&c, everyone, false, &r).unwrap_err();
        assert_eq!(e.error.code, ErrorCode::InvalidRequest);
        assert_eq!(e.error.description, "pushed authorization request required");
        assert_eq!(
            e.redirect.state(),
            Some("xyz"),
            "redirected: the client is verified"
        );
        assert!(require_pushed(&c, everyone, true, &r).is_ok());
        c.require_pushed_authorization_requests = true;
        assert!(require_pushed(&c, POLICY, false, &r).is_err());
        assert!(require_pushed(&c, POLICY, true, &r).is_ok());
    }

    #[test]
    fn a_good_request_is_validated_and_scopes_trimmed() {
        let query_string = format!(
            "client_id=c1&redirect_uri=https%3A%2F%2Fapp.example%2Fcb%3Ftenant%3D1&response_type=code&scope=openid%20profile%20admin&state=xyz&nonce=n1&code_challenge={CHALLENGE}&code_challenge_method=S256&max_age=60&login_hint=alice&response_mode=form_post"
        );
        let p = RawParams::parse(query_string.as_bytes());
        let c = client(true);
        let r = verify_client_and_redirect(&p, Some(&c)).unwrap();
        assert_eq!(r.mode(), ResponseMode::FormPost);
        let v = validate(&p, &c, &r, POLICY).unwrap();
        assert_eq!(
            v.scope.to_string(),
            "openid profile",
            "admin is not allowed and is dropped"
        );
        assert!(v.openid);
        assert_eq!(v.pkce, Some((CHALLENGE.to_owned(), "S256")));
        assert_eq!(v.max_age, Some(60));
        assert_eq!(v.login_hint.as_deref(), Some("alice"));
    }

    #[test]
    fn resources_must_be_allowed_for_the_client() {
        let mut c = client(false);
        c.allowed_resources = vec!["https://a.example".into(), "https://b.example".into()];
        let go = |extra: &str| {
            let p = RawParams::parse(format!("{BASE}{extra}").as_bytes());
            let r = verify_client_and_redirect(&p, Some(&c)).unwrap();
            validate(&p, &c, &r, POLICY).map_err(|e| (e.error.code, e.redirect))
        };
        let v = go("&resource=https%3A%2F%2Fb.example&resource=https%3A%2F%2Fa.example").unwrap();
        assert_eq!(v.resources, ["https://a.example", "https://b.example"]);
        assert!(go("").unwrap().resources.is_empty(), "the default resource");
        for bad in [
            "&resource=https%3A%2F%2Fc.example",
            "&resource=https%3A%2F%2Fa.example&resource=https%3A%2F%2Fc.example",
            "&resource=https%3A%2F%2Fa.example%23frag",
            "&resource=relative",
        ] {
            let (code, redirect) = go(bad).unwrap_err();
            assert_eq!(code, ErrorCode::InvalidTarget, "{bad}");
            // RFC 8707 §2: returned to the client, as other request errors.
            assert_eq!(redirect.state(), Some("xyz"));
        }
        assert_eq!(
            run("&resource=https%3A%2F%2Fa.example", false).unwrap_err(),
            ErrorCode::InvalidTarget,
            "a client that allows none"
        );
    }

    #[test]
    fn response_keeps_the_registered_query_and_adds_state_and_iss() {
        let p = RawParams::parse(BASE.as_bytes());
        let c = client(false);
        let r = verify_client_and_redirect(&p, Some(&c)).unwrap();
        let params = r.response_params("https://id.example", vec![("code", "abc".into())]);
        assert_eq!(
            r.query_url(&params),
            "https://app.example/cb?tenant=1&code=abc&state=xyz&iss=https%3A%2F%2Fid.example"
        );
    }

    fn validated(extra: &str) -> ValidatedAuthorize {
        run(extra, false).unwrap()
    }

    fn d(
        v: &ValidatedAuthorize,
        auth: Option<Authentication>,
        consented: Option<&ScopeSet>,
        first_party: bool,
        progress: Progress,
        now: DateTime<Utc>,
    ) -> Result<Next, ErrorCode> {
        let policy = ConsentPolicy {
            first_party,
            first_party_offline_without_consent: false,
        };
        decide(v, auth, consented, policy, progress, now).map_err(|e| e.code)
    }

    #[test]
    fn decide_follows_prompt_and_max_age() {
        let now = Utc::now();
        let fresh = Some(Authentication {
            auth_time: now - Duration::seconds(10),
            matches_hint: true,
            acr: Acr::OneFactor,
            reachable: Acr::OneFactor,
        });
        let old = Some(Authentication {
            auth_time: now - Duration::seconds(3600),
            matches_hint: true,
            acr: Acr::OneFactor,
            reachable: Acr::OneFactor,
        });
        let all = ScopeSet::parse("openid profile").unwrap();
        let none = Progress::default();
        let logged_in = Progress {
            just_authenticated: true,
            just_consented: false,
        };
        let consented = Progress {
            just_authenticated: false,
            just_consented: true,
        };

        let v = validated("");
        assert_eq!(d(&v, None, None, false, none, now), Ok(Next::Login));
        assert_eq!(d(&v, fresh, None, false, none, now), Ok(Next::Consent));
        assert_eq!(d(&v, fresh, Some(&all), false, none, now), Ok(Next::Issue));
        assert_eq!(
            d(&v, fresh, None, true, none, now),
            Ok(Next::Issue),
            "first party skips consent"
        );
        assert_eq!(d(&v, fresh, None, false, consented, now), Ok(Next::Issue));

        let v = validated("&prompt=none");
        assert_eq!(
            d(&v, None, None, false, none, now).unwrap_err(),
            ErrorCode::LoginRequired
        );
        assert_eq!(
            d(&v, fresh, None, false, none, now).unwrap_err(),
            ErrorCode::ConsentRequired
        );
        assert_eq!(d(&v, fresh, Some(&all), false, none, now), Ok(Next::Issue));

        let v = validated("&prompt=login");
        assert_eq!(d(&v, fresh, Some(&all), false, none, now), Ok(Next::Login));
        assert_eq!(
            d(&v, fresh, Some(&all), false, logged_in, now),
            Ok(Next::Issue)
        );

        let v = validated("&prompt=consent");
        assert_eq!(
            d(&v, fresh, Some(&all), false, none, now),
            Ok(Next::Consent)
        );
        assert_eq!(
            d(&v, fresh, Some(&all), false, consented, now),
            Ok(Next::Issue)
        );

        let v = validated("&max_age=60");
        assert_eq!(d(&v, old, Some(&all), false, none, now), Ok(Next::Login));
        assert_eq!(d(&v, fresh, Some(&all), false, none, now), Ok(Next::Issue));
        let v = validated("&max_age=60&prompt=none");
        assert_eq!(
            d(&v, old, Some(&all), false, none, now).unwrap_err(),
            ErrorCode::LoginRequired
        );
    }

    #[test]
    fn prompt_consent_and_offline_access_ask_first_party_clients_too() {
        // OpenID Connect Core §3.1.2.1 (prompt=consent) and §11 (offline_access).
        let now = Utc::now();
        let fresh = Some(Authentication {
            auth_time: now - Duration::seconds(10),
            matches_hint: true,
            acr: Acr::OneFactor,
            reachable: Acr::OneFactor,
        });
        let none = Progress::default();
        let first = ConsentPolicy {
            first_party: true,
            first_party_offline_without_consent: false,
        };
        let waived = ConsentPolicy {
            first_party: true,
            first_party_offline_without_consent: true,
        };
        let mut c = client(false);
        c.scopes = ScopeSet::parse("openid profile offline_access").unwrap();
        let run = |extra: &str| {
            let p = RawParams::parse(format!("{BASE}{extra}").as_bytes());
            let r = verify_client_and_redirect(&p, Some(&c)).unwrap();
            validate(&p, &c, &r, POLICY).unwrap()
        };
        let dd = |v: &ValidatedAuthorize, consented, policy, progress| {
            decide(v, fresh, consented, policy, progress, now).map_err(|e| e.code)
        };
        let v = run("");
        assert_eq!(dd(&v, None, first, none), Ok(Next::Issue));
        let v = run("&prompt=consent");
        assert_eq!(dd(&v, None, first, none), Ok(Next::Consent));
        let done = Progress {
            just_authenticated: false,
            just_consented: true,
        };
        assert_eq!(dd(&v, None, first, done), Ok(Next::Issue));

        let v = ValidatedAuthorize {
            scope: ScopeSet::parse("openid offline_access").unwrap(),
            ..run("")
        };
        assert_eq!(dd(&v, None, first, none), Ok(Next::Consent));
        let openid_only = ScopeSet::parse("openid").unwrap();
        assert_eq!(dd(&v, Some(&openid_only), first, none), Ok(Next::Consent));
        let granted = ScopeSet::parse("openid offline_access").unwrap();
        assert_eq!(dd(&v, Some(&granted), first, none), Ok(Next::Issue));
        assert_eq!(dd(&v, None, waived, none), Ok(Next::Issue));
        let v = ValidatedAuthorize {
            prompt: Prompt {
                none: true,
                ..Prompt::default()
            },
            ..v
        };
        assert_eq!(dd(&v, None, first, none), Err(ErrorCode::ConsentRequired));
    }

    #[test]
    fn a_user_other_than_the_hinted_one_signs_in_again() {
        let now = Utc::now();
        let other = Some(Authentication {
            auth_time: now - Duration::seconds(10),
            matches_hint: false,
            acr: Acr::OneFactor,
            reachable: Acr::OneFactor,
        });
        let all = ScopeSet::parse("openid profile").unwrap();
        let just = Progress {
            just_authenticated: true,
            just_consented: true,
        };
        let v = validated("");
        assert_eq!(d(&v, other, Some(&all), true, just, now), Ok(Next::Login));
        let v = validated("&prompt=none");
        assert_eq!(
            d(&v, other, Some(&all), true, Progress::default(), now),
            Err(ErrorCode::LoginRequired)
        );
    }

    /// What [`parse_acr`] gives: (wanted, required) or the error code.
    type Want = Result<(Option<Vec<Acr>>, Acr), ErrorCode>;

    #[test]
    fn acr_values_and_essential_acr_claims_are_parsed_into_a_requirement() {
        use Acr::*;
        let two = "urn:portcullis:acr:2fa";
        let one = "urn:portcullis:acr:1fa";
        let essential = |values: &str| {
            let claims =
                format!(r#"{{"id_token":{{"acr":{{"essential":true,"values":{values}}}}}}}"#);
            let mut ser = url::form_urlencoded::Serializer::new(String::new());
            ser.append_pair("claims", &claims);
            format!("&{}", ser.finish())
        };
        // (extra parameters, (wanted, required) or the error)
        let cases: Vec<(String, Want)> = vec![
            (String::new(), Ok((None, OneFactor))),
            (format!("&acr_values={two}"), Ok((Some(vec![TwoFactor]), TwoFactor))),
            // A preference list: any one value satisfies, so the weakest.
            (format!("&acr_values=phr%20{two}"), Ok((Some(vec![PhishingResistant, TwoFactor]), TwoFactor))),
            // Unknown values are skipped ...
            (format!("&acr_values=urn%3Ax%3Agold%20{one}"), Ok((Some(vec![OneFactor]), OneFactor))),
            // ... but none known cannot be met.
            ("&acr_values=urn%3Ax%3Agold".to_owned(), Err(ErrorCode::UnmetAuthenticationRequirements)),
            (essential(&format!(r#"["{two}"]"#)), Ok((Some(vec![TwoFactor]), TwoFactor))),
            (essential(r#"["silver"]"#), Err(ErrorCode::UnmetAuthenticationRequirements)),
            // Not essential: no requirement.
            (
                "&claims=%7B%22id_token%22%3A%7B%22acr%22%3A%7B%22values%22%3A%5B%22phr%22%5D%7D%7D%7D".to_owned(),
                Ok((None, OneFactor)),
            ),
        ];
        for (extra, want) in cases {
            let got = run(&extra, false).map(|v| (v.acr.wanted.clone(), v.acr.required()));
            assert_eq!(got, want, "{extra}");
        }
        // The client's require_mfa is a floor.
        let mut c = client(false);
        c.require_mfa = true;
        let p = RawParams::parse(format!("{BASE}&acr_values={one}").as_bytes());
        let r = verify_client_and_redirect(&p, Some(&c)).unwrap();
        let v = validate(&p, &c, &r, POLICY).unwrap();
        assert_eq!(v.acr.required(), TwoFactor);
        // The claim: the first asked value the session meets, at least the floor.
        assert_eq!(v.acr.claim(TwoFactor), TwoFactor);
        let req = AcrRequest {
            wanted: Some(vec![PhishingResistant, OneFactor]),
            floor: OneFactor,
        };
        assert_eq!(req.claim(TwoFactor), OneFactor);
        assert_eq!(req.claim(PhishingResistant), PhishingResistant);
        assert_eq!(AcrRequest::default().claim(TwoFactor), TwoFactor);
    }

    #[test]
    fn a_session_below_the_requirement_steps_up_or_is_refused() {
        let now = Utc::now();
        let all = ScopeSet::parse("openid profile").unwrap();
        let session = |acr, reachable| {
            Some(Authentication {
                auth_time: now - Duration::seconds(10),
                matches_hint: true,
                acr,
                reachable,
            })
        };
        let none = Progress::default();
        let v = validated("&acr_values=urn%3Aportcullis%3Aacr%3A2fa");
        let one = session(Acr::OneFactor, Acr::TwoFactor);
        assert_eq!(
            d(&v, one, Some(&all), false, none, now),
            Ok(Next::SecondFactor)
        );
        assert_eq!(
            d(
                &v,
                session(Acr::OneFactor, Acr::OneFactor),
                Some(&all),
                false,
                none,
                now
            ),
            Err(ErrorCode::UnmetAuthenticationRequirements)
        );
        assert_eq!(
            d(
                &v,
                session(Acr::TwoFactor, Acr::TwoFactor),
                Some(&all),
                false,
                none,
                now
            ),
            Ok(Next::Issue)
        );
        assert_eq!(d(&v, None, Some(&all), false, none, now), Ok(Next::Login));
        let v = validated("&acr_values=urn%3Aportcullis%3Aacr%3A2fa&prompt=none");
        assert_eq!(
            d(&v, one, Some(&all), false, none, now),
            Err(ErrorCode::LoginRequired)
        );
    }
}
