//! The OAuth client aggregate (RFC 6749 §2, OpenID Connect Dynamic Client
//! Registration §2 for the metadata names).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::mfa::Acr;
use super::{ClientId, RedirectUri, ScopeSet, TokenHash};

/// Confidential clients hold a secret; public ones cannot (RFC 6749 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientKind {
    /// Can keep a credential confidential.
    Confidential,
    /// A native or browser app: PKCE is mandatory.
    Public,
}

/// How the client authenticates at the token endpoint (OIDC Core §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenEndpointAuthMethod {
    /// HTTP Basic with the client secret.
    ClientSecretBasic,
    /// The secret in the form body.
    ClientSecretPost,
    /// A JWT signed with the client's key (RFC 7523).
    PrivateKeyJwt,
    /// A public client: no authentication.
    None,
}

impl TokenEndpointAuthMethod {
    /// Whether the client authenticates with a secret the server issued
    /// (`client_secret_basic`, `client_secret_post`): only such clients get
    /// one (a `private_key_jwt` client has keys instead).
    pub fn uses_secret(self) -> bool {
        matches!(self, Self::ClientSecretBasic | Self::ClientSecretPost)
    }

    /// The registered metadata value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::None => "none",
        }
    }
}

impl FromStr for TokenEndpointAuthMethod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "client_secret_basic" => Self::ClientSecretBasic,
            "client_secret_post" => Self::ClientSecretPost,
            "private_key_jwt" => Self::PrivateKeyJwt,
            "none" => Self::None,
            other => return Err(format!("unknown token endpoint auth method {other:?}")),
        })
    }
}

impl fmt::Display for TokenEndpointAuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A security profile a client is held to beyond the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientProfile {
    /// The FAPI 2.0 Security Profile (docs/FAPI.md): pushed authorization
    /// requests, PKCE S256, `private_key_jwt`, DPoP-bound tokens, codes of
    /// at most 60 s, PS256 or ES256 only.
    #[serde(rename = "fapi2")]
    Fapi2,
}

impl ClientProfile {
    /// The registered metadata value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fapi2 => "fapi2",
        }
    }
}

impl FromStr for ClientProfile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fapi2" => Ok(Self::Fapi2),
            other => Err(format!("unknown client profile {other:?} (known: fapi2)")),
        }
    }
}

/// The grant types a client may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    /// RFC 6749 §4.1.
    AuthorizationCode,
    /// RFC 6749 §6.
    RefreshToken,
    /// RFC 6749 §4.4.
    ClientCredentials,
    /// RFC 8628 §3.4: the device authorization grant.
    #[serde(rename = "urn:ietf:params:oauth:grant-type:device_code")]
    DeviceCode,
}

impl GrantType {
    /// The `grant_type` parameter value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
            Self::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
        }
    }
}

impl FromStr for GrantType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "authorization_code" => Self::AuthorizationCode,
            "refresh_token" => Self::RefreshToken,
            "client_credentials" => Self::ClientCredentials,
            "urn:ietf:params:oauth:grant-type:device_code" => Self::DeviceCode,
            other => return Err(format!("unknown grant type {other:?}")),
        })
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A registered client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// `client_id`.
    pub id: ClientId,
    /// Display name shown on the login and consent pages.
    pub name: String,
    /// SHA-256 of the server-generated secret; `None` for public clients.
    pub secret_hash: Option<TokenHash>,
    /// When the secret was last set.
    pub secret_rotated_at: Option<DateTime<Utc>>,
    /// SHA-256 of the secret before the last rotation, still accepted until
    /// [`Self::previous_secret_expires_at`] (a rotation with an overlap
    /// window); `None` when there is none.
    pub previous_secret_hash: Option<TokenHash>,
    /// When the previous secret stops working.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// How the client authenticates at the token endpoint.
    pub auth_method: TokenEndpointAuthMethod,
    /// Registered redirect URIs, compared by exact string match.
    pub redirect_uris: Vec<RedirectUri>,
    /// Registered `post_logout_redirect_uris`.
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    /// Grant types the client may use.
    pub grant_types: Vec<GrantType>,
    /// Scopes the client may ask for.
    pub scopes: ScopeSet,
    /// A first-party client skips the consent page.
    pub first_party: bool,
    /// PKCE is required (always true for public clients).
    pub require_pkce: bool,
    /// Accept only two-factor sign-ins for this client (docs/MFA.md).
    pub require_mfa: bool,
    /// The audience of a protected resource (RFC 7662 §2.1, §4), set iff
    /// the client is a resource server: only such clients may call
    /// `/introspect`, and only for access tokens whose `aud` contains this
    /// value or that were issued to them (`protocol::introspect`).
    pub resource_audience: Option<String>,
    /// `id_token_signed_response_alg`; `None` means RS256.
    pub id_token_signed_response_alg: Option<String>,
    /// Registered JWKS (JSON) for `private_key_jwt`.
    pub jwks: Option<String>,
    /// Registered `jwks_uri` for `private_key_jwt`.
    pub jwks_uri: Option<String>,
    /// Access-token lifetime override, seconds.
    pub access_token_ttl_secs: Option<i64>,
    /// ID-token lifetime override, seconds.
    pub id_token_ttl_secs: Option<i64>,
    /// Refresh-token lifetime override, seconds.
    pub refresh_token_ttl_secs: Option<i64>,
    /// `backchannel_logout_uri` (OpenID Connect Back-Channel Logout 1.0
    /// §2.2): where logout tokens are POSTed.
    pub backchannel_logout_uri: Option<String>,
    /// `backchannel_logout_session_required`: the logout token must carry
    /// `sid`.
    pub backchannel_logout_session_required: bool,
    /// The resource indicators (RFC 8707) the client may ask tokens for;
    /// empty: the default resource only.
    pub allowed_resources: Vec<String>,
    /// `require_pushed_authorization_requests` (RFC 9126 §6): `/authorize`
    /// takes only a `request_uri` from `/par`.
    pub require_pushed_authorization_requests: bool,
    /// `dpop_bound_access_tokens` (RFC 9449 §5.2): every token request
    /// carries a DPoP proof and gets sender-constrained tokens.
    pub dpop_bound_access_tokens: bool,
    /// The security profile the client is held to, if any.
    pub profile: Option<ClientProfile>,
    /// `request_uris` (OpenID Connect Dynamic Client Registration 1.0 §2):
    /// the external `request_uri`s the client may send; a fragment, when
    /// present, is the hash of the object and is not part of the match.
    pub request_uris: Vec<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl Client {
    /// Public or confidential, from the authentication method.
    pub fn kind(&self) -> ClientKind {
        if self.auth_method == TokenEndpointAuthMethod::None {
            ClientKind::Public
        } else {
            ClientKind::Confidential
        }
    }

    /// Whether the external `request_uri` `uri` is one the client
    /// registered (RFC 9101 §10.4.1: the authorization server fetches only
    /// pre-registered locations). Exact string match of everything before
    /// the fragment (OpenID Connect Core 1.0 §6.2: the fragment may carry
    /// the object's hash and is never sent).
    pub fn has_request_uri(&self, uri: &str) -> bool {
        let bare = |u: &str| u.split('#').next().unwrap_or_default().to_owned();
        let wanted = bare(uri);
        !wanted.is_empty() && self.request_uris.iter().any(|r| bare(r) == wanted)
    }

    /// Whether `uri` is registered, by exact string match (invariant 1).
    pub fn has_redirect_uri(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|r| r.as_str() == uri)
    }

    /// The class of authentication the client requires at the least (its
    /// floor under any `acr_values`): [`Acr::TwoFactor`] with
    /// `require_mfa`, else [`Acr::OneFactor`]. The one home of that rule
    /// for `/authorize`, the device grant and `/userinfo` (RFC 9470).
    pub fn acr_floor(&self) -> Acr {
        if self.require_mfa {
            Acr::TwoFactor
        } else {
            Acr::OneFactor
        }
    }

    /// Whether the client may use `grant`.
    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }
}
