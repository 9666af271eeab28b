//! Client authentication (RFC 6749 §2.3, OpenID Connect Core §9, RFC 7523
//! §2.2/§3): the one module that reads and checks client credentials, for
//! the token, revocation and introspection endpoints alike. Its HTTP Basic
//! parser ([`parse_basic`]) is the one the server runs and the one
//! `fuzz/fuzz_targets/basic_auth.rs` fuzzes.

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use chrono::{DateTime, Utc};
use oxide_auth::primitives::registrar::Registrar as _;

use super::params::MAX_VALUE_LEN;
use super::registrar::ClientRegistrar;
use crate::domain::{Client, ClientId, RevokedAccessToken, TokenEndpointAuthMethod};
use crate::ports::{JwsAlg, Store};
use crate::protocol::error::{ErrorCode, OAuthError};
use crate::protocol::jwt;
use crate::protocol::params::RawParams;

/// Standard base64 (RFC 4648 §4), with or without padding: RFC 7617 pads,
/// but some clients do not, and the padding carries no information.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Parses an `Authorization: Basic …` header value into the client id and
/// secret.
///
/// RFC 6749 §2.3.1: the client id and secret are each encoded with
/// `application/x-www-form-urlencoded` (Appendix B), then joined by `:` and
/// base64-encoded as in HTTP Basic (RFC 7617 §2). So the user-id is split at
/// the first `:`, and each part is percent-decoded (`+` is a space).
///
/// Returns `None` for anything malformed: another scheme, bad base64, no
/// `:`, an empty client id, a bad `%` escape, text that is not UTF-8, or a
/// part longer than [`MAX_VALUE_LEN`] bytes. An empty secret is returned as
/// `""` (RFC 7617 allows it); it authenticates no client.
pub fn parse_basic(authorization: &str) -> Option<(String, String)> {
    // RFC 9110 §11.1: the scheme is case-insensitive; 1*SP before token68.
    let (scheme, rest) = authorization.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let token = rest.trim_start_matches(' ');
    // Two parts of MAX_VALUE_LEN bytes, each up to 3x longer when
    // percent-encoded, then 4/3 longer in base64: under 8x MAX_VALUE_LEN.
    if token.is_empty() || token.len() > 8 * MAX_VALUE_LEN + 16 {
        return None;
    }
    let decoded = BASE64.decode(token).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let id = form_decode(id)?;
    let secret = form_decode(secret)?;
    if id.is_empty() || id.len() > MAX_VALUE_LEN || secret.len() > MAX_VALUE_LEN {
        return None;
    }
    Some((id, secret))
}

/// Strict `application/x-www-form-urlencoded` decoding of one value: `+` is
/// a space, `%XX` a byte; a `%` not followed by two hex digits is an error,
/// and so is a result that is not UTF-8.
fn form_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = hex(*bytes.get(i + 1)?)?;
                let lo = hex(*bytes.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The client assertion type of RFC 7523 §2.2.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Credentials as presented, before checking.
#[derive(Debug, PartialEq, Eq)]
pub enum Presented {
    /// `Authorization: Basic` (RFC 6749 §2.3.1).
    Basic {
        /// Client id.
        id: String,
        /// Secret.
        secret: String,
    },
    /// `client_id` + `client_secret` in the body.
    Post {
        /// Client id.
        id: String,
        /// Secret.
        secret: String,
    },
    /// `client_assertion` (RFC 7523).
    Jwt {
        /// The assertion.
        assertion: String,
        /// `client_id`, if also sent.
        id: Option<String>,
    },
    /// Only `client_id`: a public client.
    Public {
        /// Client id.
        id: String,
    },
}

impl Presented {
    /// Whether HTTP Basic was used (for the 401 challenge).
    pub fn is_basic(&self) -> bool {
        matches!(self, Self::Basic { .. })
    }
}

/// Reads the credentials from the `Authorization` header and the form. More
/// than one method is an `invalid_request` (RFC 6749 §2.3: "MUST NOT use
/// more than one authentication method in each request").
pub fn presented(authorization: Option<&str>, form: &RawParams) -> Result<Presented, OAuthError> {
    let basic = match authorization {
        Some(h) if h.trim_start().to_ascii_lowercase().starts_with("basic ") => {
            Some(parse_basic(h).ok_or_else(|| {
                OAuthError::new(ErrorCode::InvalidClient, "malformed HTTP Basic credentials")
            })?)
        }
        _ => None,
    };
    let id = form.get("client_id").map(str::to_owned);
    let secret = form.get("client_secret").map(str::to_owned);
    let assertion = form.get("client_assertion").map(str::to_owned);
    let methods = usize::from(basic.is_some())
        + usize::from(secret.is_some())
        + usize::from(assertion.is_some());
    if methods > 1 {
        return Err(OAuthError::invalid_request(
            "use exactly one client authentication method",
        ));
    }
    if let Some((bid, bsecret)) = basic {
        if id.as_ref().is_some_and(|i| *i != bid) {
            return Err(OAuthError::invalid_request(
                "client_id does not match the Basic credentials",
            ));
        }
        return Ok(Presented::Basic {
            id: bid,
            secret: bsecret,
        });
    }
    if let Some(assertion) = assertion {
        if form.get("client_assertion_type") != Some(JWT_BEARER) {
            return Err(OAuthError::invalid_request(format!(
                "client_assertion_type must be {JWT_BEARER}"
            )));
        }
        return Ok(Presented::Jwt { assertion, id });
    }
    match (id, secret) {
        (Some(id), Some(secret)) => Ok(Presented::Post { id, secret }),
        (Some(id), None) => Ok(Presented::Public { id }),
        (None, _) => Err(OAuthError::new(
            ErrorCode::InvalidClient,
            "client authentication is required",
        )),
    }
}

/// The client authentication method a request used (for events): Basic
/// when the `Authorization` header uses that scheme, else what the form
/// carries.
pub fn method_used(authorization: Option<&str>, form: &RawParams) -> &'static str {
    if uses_basic(authorization) {
        "client_secret_basic"
    } else if form.get("client_assertion").is_some() {
        "private_key_jwt"
    } else if form.get("client_secret").is_some() {
        "client_secret_post"
    } else {
        "none"
    }
}

/// Whether the `Authorization` header uses the Basic scheme (RFC 9110
/// §11.1: case-insensitive).
fn uses_basic(authorization: Option<&str>) -> bool {
    authorization.is_some_and(|h| {
        h.trim_start()
            .get(..6)
            .is_some_and(|p| p.eq_ignore_ascii_case("basic "))
    })
}

/// What client authentication needs.
pub struct ClientAuthCtx<'a> {
    /// Repositories (clients; the assertion replay table).
    pub store: &'a dyn Store,
    /// Fetches a client's `jwks_uri`.
    pub fetcher: &'a dyn ClientJwksFetcher,
    /// The values a client assertion may carry in `aud` (RFC 7523 §3 item
    /// 3): the token endpoint URL and the issuer, at every endpoint.
    pub audiences: &'a [&'a str],
    /// The issuer: the only audience a FAPI 2.0 client's assertion may name
    /// (`fapi::assertion_audience_ok`).
    pub issuer: &'a str,
    /// Now.
    pub now: DateTime<Utc>,
}

/// A client-authenticated request was refused.
#[derive(Debug)]
pub struct ClientAuthFailure {
    /// The error (`invalid_request` or `invalid_client`).
    pub error: OAuthError,
    /// HTTP Basic was used: an `invalid_client` answers 401 with a Basic
    /// challenge (RFC 6749 §5.2); no other request gets one.
    pub basic: bool,
    /// The method the request used, for the event.
    pub method: &'static str,
    /// The client id the request named, if any, for the event.
    pub client_id: Option<String>,
}

impl ClientAuthFailure {
    /// Whether the client failed to authenticate (`invalid_client`): the
    /// `client_authentication_failed` event.
    pub fn is_auth_failure(&self) -> bool {
        self.error.code == ErrorCode::InvalidClient
    }
}

/// The one client-authentication pipeline of every endpoint that
/// authenticates clients (token, revocation, introspection, and the ones to
/// come): no repeated parameter (RFC 6749 §3.2) and none oversized, exactly
/// one authentication method (§2.3), then [`authenticate`] (the secret, or
/// the `private_key_jwt` assertion with its audience, lifetime and replay
/// checks).
pub async fn authenticate_request(
    ctx: &ClientAuthCtx<'_>,
    authorization: Option<&str>,
    form: &RawParams,
) -> Result<Client, ClientAuthFailure> {
    let basic = uses_basic(authorization);
    let fail = |error: OAuthError, client_id: Option<String>| ClientAuthFailure {
        error,
        basic,
        method: method_used(authorization, form),
        client_id,
    };
    let named = || {
        authorization
            .and_then(parse_basic)
            .map(|(id, _)| id)
            .or_else(|| form.get("client_id").map(str::to_owned))
    };
    if let Some(name) = form.first_repeated() {
        return Err(fail(
            OAuthError::invalid_request(format!(
                "parameter {name} was given more than once (RFC 6749 section 3.2)"
            )),
            named(),
        ));
    }
    if let Some(name) = form.first_oversized() {
        return Err(fail(
            OAuthError::invalid_request(format!("parameter {name} is too long")),
            named(),
        ));
    }
    let presented = presented(authorization, form).map_err(|e| fail(e, named()))?;
    authenticate(&presented, ctx).await.map_err(|e| {
        let id = match &presented {
            Presented::Basic { id, .. } | Presented::Post { id, .. } | Presented::Public { id } => {
                Some(id.clone())
            }
            Presented::Jwt { id, .. } => id.clone(),
        };
        fail(e, id)
    })
}

/// Fetches a client's JWK Set from its `jwks_uri` (an adapter: HTTP with a
/// cache).
#[async_trait]
pub trait ClientJwksFetcher: Send + Sync {
    /// The JWK Set document at `uri`; `refresh` bypasses any cache (after a
    /// `kid` was not found).
    async fn fetch(&self, uri: &str, refresh: bool) -> Result<String, String>;
}

fn invalid_client(detail: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClient, detail)
}

/// Authenticates the client. `ctx.audiences` are the values a client
/// assertion may carry in `aud` (the token endpoint URL and the issuer).
pub async fn authenticate(
    presented: &Presented,
    ctx: &ClientAuthCtx<'_>,
) -> Result<Client, OAuthError> {
    let (store, now) = (ctx.store, ctx.now);
    let method = match presented {
        Presented::Basic { .. } => TokenEndpointAuthMethod::ClientSecretBasic,
        Presented::Post { .. } => TokenEndpointAuthMethod::ClientSecretPost,
        Presented::Public { .. } => TokenEndpointAuthMethod::None,
        Presented::Jwt { .. } => TokenEndpointAuthMethod::PrivateKeyJwt,
    };
    let id = match presented {
        Presented::Basic { id, .. } | Presented::Post { id, .. } | Presented::Public { id } => {
            Some(id.clone())
        }
        Presented::Jwt { id, assertion } => id.clone().or_else(|| {
            jwt::split_compact(assertion)
                .and_then(|(_, claims)| claims.get("iss")?.as_str().map(str::to_owned))
        }),
    };
    let client_id = id
        .as_deref()
        .and_then(ClientId::parse)
        .ok_or_else(|| invalid_client("unknown client"))?;
    let client = store
        .clients()
        .get_client(&client_id)
        .await?
        .ok_or_else(|| invalid_client("unknown client"))?;
    // OIDC Core §9: the client uses the method it registered, no other.
    if client.auth_method != method {
        return Err(invalid_client(
            "the client is not registered for this authentication method",
        ));
    }
    match presented {
        Presented::Basic { secret, .. } | Presented::Post { secret, .. } => {
            if !secret_matches(&client, secret, now) {
                return Err(invalid_client("client authentication failed"));
            }
        }
        Presented::Public { .. } => {}
        Presented::Jwt { assertion, .. } => {
            verify_assertion(&client, assertion, ctx).await?;
        }
    }
    Ok(client)
}

/// The client-secret check (RFC 6749 §2.3.1), in constant time against
/// stored SHA-256 hashes: the current secret through oxide-auth's
/// Registrar (which decides the redirect URI and the scope at /authorize
/// too), and the previous secret of a rotation with an overlap window
/// while `now` is before its end (`app::clients::rotate_client_secret`).
/// Both are compared whichever matches, so the time taken does not say
/// which one did.
pub fn secret_matches(client: &Client, secret: &str, now: DateTime<Utc>) -> bool {
    let current = ClientRegistrar::new(client)
        .check(client.id.as_str(), Some(secret.as_bytes()))
        .is_ok();
    let previous = match (
        &client.previous_secret_hash,
        client.previous_secret_expires_at,
    ) {
        (Some(hash), Some(until)) => hash.matches(secret) && now < until,
        _ => false,
    };
    current || previous
}

/// RFC 7523 §3 and OIDC Core §9: `iss` = `sub` = client id, `aud` names us,
/// `exp` in the future, `jti` used once, signed by a key of the client.
async fn verify_assertion(
    client: &Client,
    assertion: &str,
    ctx: &ClientAuthCtx<'_>,
) -> Result<(), OAuthError> {
    let (store, now) = (ctx.store, ctx.now);
    let claims = verify_client_jws(client, assertion, ClientJwsKind::Assertion, ctx.fetcher)
        .await
        .map_err(|e| match e {
            ClientJwsError::Malformed => invalid_client("malformed client assertion"),
            ClientJwsError::Type => invalid_client(
                "the client assertion's typ names another kind of token (JWT or client-authentication+jwt expected)",
            ),
            ClientJwsError::Algorithm => invalid_client(
                "client assertion algorithm must be RS256, ES256 or PS256 (PS256 or ES256 for a FAPI 2.0 client)",
            ),
            ClientJwsError::NoKeys => invalid_client("the client has no registered keys"),
            ClientJwsError::KeysUnavailable(e) => OAuthError::new(
                ErrorCode::InvalidClient,
                "the client's jwks_uri could not be fetched",
            )
            .with_source(e),
            ClientJwsError::InvalidKeys(e) => {
                OAuthError::new(ErrorCode::InvalidClient, "the client's JWK Set is invalid")
                    .with_source(e)
            }
            ClientJwsError::Signature => {
                invalid_client("client assertion signature does not verify")
            }
        })?;
    // A signed request object (RFC 9101) of the client travels through
    // browsers and may carry iss, sub, aud and jti too: it is never a
    // client assertion.
    if claims.contains_key("response_type") {
        return Err(invalid_client("a request object is not a client assertion"));
    }
    let (jti, exp) = check_assertion_claims(&claims, &client.id, ctx.audiences, now)?;
    // FAPI 2.0 Security Profile §5.3.2.1 item 8: the issuer, as a string.
    let aud = claims.get("aud").unwrap_or(&serde_json::Value::Null);
    if !super::fapi::assertion_audience_ok(client, aud, ctx.issuer) {
        return Err(invalid_client(
            "a FAPI 2.0 client's assertion must name the issuer, as a single string, as its aud",
        ));
    }
    // One use per jti (RFC 7523 §3 item 7), decided by ONE unique insert
    // (docs/SECURITY.md invariant 15): of parallel requests carrying the same
    // assertion exactly one inserts the key; every other one is a replay.
    // The key is remembered until the assertion expires, in the
    // revoked-token table under a key of its own.
    let first_use = store
        .revoked_tokens()
        .insert_revoked_token_once(&RevokedAccessToken {
            jti: assertion_replay_key(&client.id, jti),
            client_id: client.id.clone(),
            revoked_at: now,
            expires_at: exp + ASSERTION_CLOCK_SKEW,
        })
        .await?;
    if !first_use {
        return Err(invalid_client("client assertion was already used"));
    }
    Ok(())
}

/// The longest an assertion may live: `exp` − `iat` (or `exp` − now when it
/// has no `iat`). RFC 7523 §3 items 4 and 6 let the authorization server
/// reject an `exp` "unreasonably far in the future" and an `iat`
/// "unreasonably far in the past" without fixing a bound; five minutes keeps
/// the replay window (and the `jti`s remembered) short.
pub const ASSERTION_MAX_LIFETIME: chrono::Duration = chrono::Duration::minutes(5);

/// The clock skew allowed between the client and us when checking `exp`,
/// `nbf` and `iat` (RFC 7519 §4.1.4/§4.1.5: "a small leeway, usually no
/// more than a few minutes").
pub const ASSERTION_CLOCK_SKEW: chrono::Duration = chrono::Duration::seconds(30);

/// The claim checks of a client assertion whose signature verified (RFC 7523
/// §3, OpenID Connect Core §9, draft-ietf-oauth-rfc7523bis §4): `iss` =
/// `sub` = the client id; `aud` names us and nothing else; `exp` required,
/// not past and within [`ASSERTION_MAX_LIFETIME`]; `nbf` and `iat`, when
/// present, not in the future; `jti` required. Skew: [`ASSERTION_CLOCK_SKEW`].
/// Returns the `jti` and `exp`.
fn check_assertion_claims<'c>(
    claims: &'c serde_json::Map<String, serde_json::Value>,
    client: &ClientId,
    audiences: &[&str],
    now: DateTime<Utc>,
) -> Result<(&'c str, DateTime<Utc>), OAuthError> {
    let s = |k: &str| claims.get(k).and_then(|v| v.as_str());
    if s("iss") != Some(client.as_str()) || s("sub") != Some(client.as_str()) {
        return Err(invalid_client(
            "client assertion iss and sub must be the client id",
        ));
    }
    // RFC 7523 §3 item 3 and draft-ietf-oauth-rfc7523bis: the audience is
    // the authorization server and nothing else (the draft wants the issuer
    // as the sole value; the token endpoint URL stays accepted for the
    // clients that follow OpenID Connect Core §9). An array is accepted only
    // when every member is one of our values: an assertion also addressed to
    // another party could be replayed by that party at our endpoints.
    let aud_ok = match claims.get("aud") {
        Some(serde_json::Value::String(a)) => audiences.contains(&a.as_str()),
        Some(serde_json::Value::Array(list)) => {
            !list.is_empty()
                && list
                    .iter()
                    .all(|v| v.as_str().is_some_and(|a| audiences.contains(&a)))
        }
        _ => false,
    };
    if !aud_ok {
        return Err(invalid_client(
            "client assertion aud must be the issuer or the token endpoint, and nothing else",
        ));
    }
    let exp = jwt::check_times(
        claims,
        now,
        jwt::TimeRules {
            skew: ASSERTION_CLOCK_SKEW,
            max_lifetime: ASSERTION_MAX_LIFETIME,
            // The lifetime is counted from iat when given, else from now.
            lifetime_from: &["iat"],
        },
    )
    .map_err(|p| {
        invalid_client(match p {
            jwt::TimeProblem::Malformed => "client assertion has a malformed time claim",
            jwt::TimeProblem::NoExp => "client assertion has no exp",
            jwt::TimeProblem::Expired => "client assertion has expired",
            jwt::TimeProblem::NotYetValid => "client assertion is not valid yet (nbf)",
            jwt::TimeProblem::IssuedInFuture => "client assertion was issued in the future (iat)",
            jwt::TimeProblem::TooLong => "client assertion lives too long (more than 5 minutes)",
        })
    })?;
    let jti = s("jti")
        .filter(|j| !j.is_empty())
        .ok_or_else(|| invalid_client("client assertion has no jti"))?;
    Ok((jti, exp))
}

/// The key under which a used client assertion is remembered in the
/// revoked-token table: `assertion:` and the unpadded base64url SHA-256 of
/// the client id, a space and the whole `jti` — 53 characters whatever the
/// `jti`, so it fits the table's 64-character key column. A client id has
/// no space ([`ClientId::parse`]), so distinct (client, jti) pairs hash
/// distinct inputs; the `:` keeps the key apart from every access-token
/// `jti` (a UUID, which has none).
fn assertion_replay_key(client: &ClientId, jti: &str) -> String {
    use sha2::{Digest as _, Sha256};
    let digest = Sha256::new()
        .chain_update(client.as_str().as_bytes())
        .chain_update(b" ")
        .chain_update(jti.as_bytes())
        .finalize();
    format!(
        "assertion:{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
    )
}

/// The algorithms a JWS signed by a client may use (client assertions,
/// request objects): RS256, ES256, PS256 (the order discovery lists them);
/// never `none`, never an HMAC (a client's secret is stored only as a hash).
pub const CLIENT_JWS_ALGS: [JwsAlg; 3] = JwsAlg::ALL;

/// What a JWS a client signed is meant to be: its `typ` must not say it
/// is something else (RFC 8725 §3.11, explicit typing), so that one kind
/// of token can never be replayed as another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientJwsKind {
    /// A client assertion (RFC 7523): `typ` absent, `JWT`, or
    /// `client-authentication+jwt` (draft-ietf-oauth-rfc7523bis §4).
    Assertion,
    /// A request object (RFC 9101 §4, §10.8): `typ` absent, `JWT`, or
    /// `oauth-authz-req+jwt`.
    RequestObject,
}

impl ClientJwsKind {
    /// The explicit type of this kind.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Assertion => "client-authentication+jwt",
            Self::RequestObject => "oauth-authz-req+jwt",
        }
    }

    /// Whether the JOSE header's `typ` fits this kind: absent, `JWT`, or
    /// the kind's own type (compared without case and with an optional
    /// `application/` prefix, RFC 7515 §4.1.9). Any other type names a
    /// different token (`dpop+jwt`, `at+jwt`, a request object offered as
    /// an assertion, ...) and is refused.
    pub fn typ_allowed(self, typ: Option<&serde_json::Value>) -> bool {
        let Some(typ) = typ else {
            return true;
        };
        let Some(typ) = typ.as_str() else {
            return false;
        };
        let lower = typ.to_ascii_lowercase();
        let bare = lower.strip_prefix("application/").unwrap_or(&lower);
        bare == "jwt" || bare == self.media_type()
    }
}

/// Why a JWS a client signed was refused ([`verify_client_jws`]).
#[derive(Debug)]
pub enum ClientJwsError {
    /// Not a JWS compact serialization ([`jwt::split_compact`]).
    Malformed,
    /// Its `typ` names another kind of token ([`ClientJwsKind::typ_allowed`]).
    Type,
    /// `alg` is not one of [`CLIENT_JWS_ALGS`].
    Algorithm,
    /// The client registered no keys (`jwks`, `jwks_uri`).
    NoKeys,
    /// The client's `jwks_uri` could not be fetched (the cause, for the log).
    KeysUnavailable(String),
    /// The client's JWK Set is not one.
    InvalidKeys(josekit::JoseError),
    /// No key of the client verifies the signature.
    Signature,
}

/// Verifies a JWS compact serialization signed by `client` with one of its
/// registered keys (`jwks`, or `jwks_uri` through `fetcher` and its cache;
/// when no key verifies it, the `jwks_uri` is fetched once more, as the
/// client may have rotated), with an algorithm of [`CLIENT_JWS_ALGS`], and
/// returns its claims. The one verifier of what clients sign: client
/// assertions (RFC 7523) and request objects (RFC 9101), each of its
/// `expected` kind's type. The claims are the caller's to check.
pub async fn verify_client_jws(
    client: &Client,
    token: &str,
    expected: ClientJwsKind,
    fetcher: &dyn ClientJwksFetcher,
) -> Result<serde_json::Map<String, serde_json::Value>, ClientJwsError> {
    let (header, _) = jwt::split_compact(token).ok_or(ClientJwsError::Malformed)?;
    if !expected.typ_allowed(header.get("typ")) {
        return Err(ClientJwsError::Type);
    }
    let alg = header
        .get("alg")
        .and_then(|v| v.as_str())
        .and_then(|a| CLIENT_JWS_ALGS.into_iter().find(|c| c.as_str() == a))
        // FAPI 2.0 Security Profile §5.4.1: PS256 or ES256 for its clients.
        .filter(|a| super::fapi::alg_allowed(client, a.as_str()))
        .ok_or(ClientJwsError::Algorithm)?;
    let kid = header.get("kid").and_then(|v| v.as_str());
    match verify_with_client_keys(client, token, alg, kid, fetcher, false).await? {
        Some(c) => Ok(c),
        None if client.jwks_uri.is_some() && client.jwks.is_none() => {
            verify_with_client_keys(client, token, alg, kid, fetcher, true)
                .await?
                .ok_or(ClientJwsError::Signature)
        }
        None => Err(ClientJwsError::Signature),
    }
}

async fn verify_with_client_keys(
    client: &Client,
    token: &str,
    alg: JwsAlg,
    kid: Option<&str>,
    fetcher: &dyn ClientJwksFetcher,
    refresh: bool,
) -> Result<Option<serde_json::Map<String, serde_json::Value>>, ClientJwsError> {
    let doc = match (&client.jwks, &client.jwks_uri) {
        (Some(jwks), _) => jwks.clone(),
        (None, Some(uri)) => fetcher
            .fetch(uri, refresh)
            .await
            .map_err(ClientJwsError::KeysUnavailable)?,
        (None, None) => return Err(ClientJwsError::NoKeys),
    };
    let set =
        josekit::jwk::JwkSet::from_bytes(doc.as_bytes()).map_err(ClientJwsError::InvalidKeys)?;
    let candidates: Vec<&josekit::jwk::Jwk> = match kid {
        Some(k) => set.get(k),
        None => set.keys(),
    };
    for jwk in candidates {
        let verified = match alg {
            JwsAlg::Rs256 => josekit::jws::RS256
                .verifier_from_jwk(jwk)
                .ok()
                .map(|v| josekit::jwt::decode_with_verifier(token, &v)),
            JwsAlg::Ps256 => josekit::jws::PS256
                .verifier_from_jwk(jwk)
                .ok()
                .map(|v| josekit::jwt::decode_with_verifier(token, &v)),
            JwsAlg::Es256 => josekit::jws::ES256
                .verifier_from_jwk(jwk)
                .ok()
                .map(|v| josekit::jwt::decode_with_verifier(token, &v)),
        };
        if let Some(Ok((payload, _))) = verified {
            return Ok(Some(payload.claims_set().clone()));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_takes_its_own_typ_and_no_other() {
        use serde_json::json;
        let (a, r) = (ClientJwsKind::Assertion, ClientJwsKind::RequestObject);
        for kind in [a, r] {
            assert!(kind.typ_allowed(None));
            for typ in ["JWT", "jwt", "application/jwt"] {
                assert!(kind.typ_allowed(Some(&json!(typ))), "{kind:?} {typ}");
            }
            for typ in ["dpop+jwt", "at+jwt", "logout+jwt", "secevent+jwt", ""] {
                assert!(!kind.typ_allowed(Some(&json!(typ))), "{kind:?} {typ}");
            }
            assert!(!kind.typ_allowed(Some(&json!(1))));
        }
        assert!(a.typ_allowed(Some(&json!("client-authentication+jwt"))));
        assert!(!a.typ_allowed(Some(&json!("oauth-authz-req+jwt"))));
        assert!(r.typ_allowed(Some(&json!("application/oauth-authz-req+jwt"))));
        assert!(!r.typ_allowed(Some(&json!("client-authentication+jwt"))));
    }

    fn basic(raw: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    #[allow(clippy::unnecessary_wraps)] // compared with parse_basic's result
    fn pair(id: &str, secret: &str) -> Option<(String, String)> {
        Some((id.to_owned(), secret.to_owned()))
    }

    #[test]
    fn the_rfc_6749_example_parses() {
        // RFC 6749 §2.3.1.
        assert_eq!(
            parse_basic("Basic czZCaGRSa3F0Mzo3RmpmcDBaQnIxS3REUmJuZlZkbUl3"),
            pair("s6BhdRkqt3", "7Fjfp0ZBr1KtDRbnfVdmIw")
        );
    }

    #[test]
    fn parts_are_form_urldecoded_after_splitting_at_the_first_colon() {
        assert_eq!(
            parse_basic(&basic("a%3Ab:p%40ss%2Bw+rd%3Ax")),
            pair("a:b", "p@ss+w rd:x")
        );
        assert_eq!(parse_basic(&basic("id:a:b")), pair("id", "a:b"));
        assert_eq!(
            parse_basic(&basic("my%20app:p%3Aw+d")),
            pair("my app", "p:w d")
        );
        assert_eq!(
            parse_basic(&basic("caf%C3%A9:s")),
            pair("café", "s"),
            "percent-encoded UTF-8"
        );
    }

    #[test]
    fn scheme_case_spacing_and_padding_are_lenient() {
        let want = pair("client", "secret");
        assert_eq!(parse_basic("basic Y2xpZW50OnNlY3JldA=="), want);
        assert_eq!(parse_basic("BASIC   Y2xpZW50OnNlY3JldA=="), want);
        assert_eq!(parse_basic("Basic Y2xpZW50OnNlY3JldA"), want, "no padding");
        assert_eq!(parse_basic(&basic("client:")), pair("client", ""));
    }

    #[test]
    fn malformed_values_are_refused() {
        let long = "x".repeat(MAX_VALUE_LEN + 1);
        for bad in [
            String::new(),
            "Basic".into(),
            "Basic ".into(),
            "Bearer Y2xpZW50OnNlY3JldA==".into(),
            "Basic !!!!".into(),
            "Basic Y2xp ZW50OnNlY3JldA==".into(),
            basic("no-colon"),
            basic(":secret"),
            basic("id%zz:secret"),
            basic("id:secret%4"),
            basic("id:%FF"),
            basic(&format!("{long}:s")),
            basic(&format!("id:{long}")),
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode([0xff, b':', b'x'])
            ),
        ] {
            assert_eq!(parse_basic(&bad), None, "{bad:?}");
        }
    }

    #[test]
    fn more_than_one_method_is_invalid_request() {
        let form = RawParams::parse(b"client_id=c1&client_secret=s");
        let basic = basic("c1:s");
        assert_eq!(
            presented(Some(&basic), &form).unwrap_err().code,
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            presented(None, &form).unwrap(),
            Presented::Post {
                id: "c1".into(),
                secret: "s".into()
            }
        );
        let form = RawParams::parse(b"client_id=c1");
        assert_eq!(
            presented(None, &form).unwrap(),
            Presented::Public { id: "c1".into() }
        );
        assert_eq!(
            presented(None, &RawParams::parse(b"")).unwrap_err().code,
            ErrorCode::InvalidClient
        );
        let form = RawParams::parse(b"client_assertion=x.y.z&client_assertion_type=wrong");
        assert_eq!(
            presented(None, &form).unwrap_err().code,
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            presented(Some("Basic %%%"), &RawParams::parse(b""))
                .unwrap_err()
                .code,
            ErrorCode::InvalidClient
        );
    }

    #[test]
    fn the_assertion_replay_key_has_a_fixed_length_and_a_domain_of_its_own() {
        let c1 = ClientId::parse("c1").unwrap();
        let uuid = "0b6a7e3c-5f2d-4c1e-9a8b-7d6c5b4a3f21";
        let long = "j".repeat(5000);
        let long_client = ClientId::parse(&"c".repeat(ClientId::MAX_LEN)).unwrap();
        let keys = [
            assertion_replay_key(&c1, uuid),
            assertion_replay_key(&c1, &long),
            assertion_replay_key(&c1, &format!("{long}x")),
            assertion_replay_key(&long_client, uuid),
            assertion_replay_key(&ClientId::parse("c").unwrap(), &format!("1 {uuid}")),
            assertion_replay_key(&c1, ""),
        ];
        for k in &keys {
            assert_eq!(k.len(), 53, "{k}");
            assert!(k.len() <= 64, "fits revoked_access_tokens.jti");
            assert!(k.starts_with("assertion:"), "never a UUID access-token jti");
        }
        let distinct: std::collections::HashSet<_> = keys.iter().collect();
        assert_eq!(distinct.len(), keys.len());
        assert_eq!(assertion_replay_key(&c1, uuid), keys[0], "deterministic");
    }

    #[test]
    fn assertion_claims_table() {
        use serde_json::json;
        const ISS: &str = "https://as.example";
        const TOKEN: &str = "https://as.example/token";
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let t = now.timestamp();
        let client = ClientId::parse("c1").unwrap();
        let base =
            || json!({"iss": "c1", "sub": "c1", "aud": ISS, "jti": "j", "iat": t, "exp": t + 60});
        let with = |k: &str, v: serde_json::Value| {
            let mut c = base();
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v;
            }
            c
        };
        let cases: Vec<(&str, serde_json::Value, bool)> = vec![
            ("the issuer as aud", base(), true),
            ("the token endpoint as aud", with("aud", json!(TOKEN)), true),
            (
                "an array of our values",
                with("aud", json!([ISS, TOKEN])),
                true,
            ),
            (
                "a foreign aud",
                with("aud", json!("https://rs.example")),
                false,
            ),
            (
                "an array with a foreign value",
                with("aud", json!([ISS, "https://rs.example"])),
                false,
            ),
            ("an empty array", with("aud", json!([])), false),
            ("a non-string member", with("aud", json!([ISS, 1])), false),
            ("no aud", with("aud", json!(null)), false),
            ("no exp", with("exp", json!(null)), false),
            ("exp as text", with("exp", json!("soon")), false),
            ("expired beyond the skew", with("exp", json!(t - 31)), false),
            ("expired within the skew", with("exp", json!(t - 29)), true),
            (
                "lives exactly the maximum",
                with("exp", json!(t + 300)),
                true,
            ),
            (
                "lives longer than the maximum",
                with("exp", json!(t + 301)),
                false,
            ),
            (
                "nbf in the future beyond the skew",
                with("nbf", json!(t + 31)),
                false,
            ),
            ("nbf within the skew", with("nbf", json!(t + 29)), true),
            (
                "iat in the future beyond the skew",
                with("iat", json!(t + 31)),
                false,
            ),
            (
                "no iat, exp within the maximum",
                with("iat", json!(null)),
                true,
            ),
            ("no jti", with("jti", json!(null)), false),
            ("an empty jti", with("jti", json!("")), false),
            ("iss is not the client", with("iss", json!("c2")), false),
            ("sub is not the client", with("sub", json!("c2")), false),
        ];
        let mut no_iat_long = with("iat", json!(null));
        no_iat_long["exp"] = json!(t + 400);
        let mut old_iat = base();
        old_iat["iat"] = json!(t - 600);
        old_iat["exp"] = json!(t + 60);
        let cases = cases.into_iter().chain([
            ("no iat, exp beyond the maximum", no_iat_long, false),
            ("iat long ago: exp - iat beyond the maximum", old_iat, false),
        ]);
        for (why, claims, ok) in cases {
            let got =
                check_assertion_claims(claims.as_object().unwrap(), &client, &[TOKEN, ISS], now);
            assert_eq!(got.is_ok(), ok, "{why}: {got:?}");
            if let Err(e) = got {
                assert_eq!(e.code, ErrorCode::InvalidClient, "{why}");
            }
        }
    }

    #[test]
    fn the_method_used_is_named_for_events() {
        let none = RawParams::parse(b"client_id=c1");
        assert_eq!(method_used(Some("basic abc"), &none), "client_secret_basic");
        assert_eq!(method_used(Some("Bearer abc"), &none), "none");
        assert_eq!(method_used(None, &none), "none");
        let post = RawParams::parse(b"client_id=c1&client_secret=s");
        assert_eq!(method_used(None, &post), "client_secret_post");
        let jwt = RawParams::parse(b"client_assertion=a.b.c");
        assert_eq!(method_used(None, &jwt), "private_key_jwt");
    }
}
