//! The stored aggregates besides clients and users: grants, codes, refresh
//! tokens, sessions, consents, signing keys and revoked access tokens.
//! Every secret is present only as its [`TokenHash`].

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use super::{ClientId, ScopeSet, TokenHash, UserId};

/// One authorization given by a user to a client; codes and refresh tokens
/// hang off it, so revoking it revokes everything issued from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Grant id (UUID).
    pub id: String,
    /// The client.
    pub client_id: ClientId,
    /// The user.
    pub user_id: UserId,
    /// Granted scopes.
    pub scope: ScopeSet,
    /// The login session it came from.
    pub session_id: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Set when revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// An authorization code (docs/SECURITY.md invariant 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCode {
    /// SHA-256 of the code.
    pub code_hash: TokenHash,
    /// The grant it belongs to.
    pub grant_id: String,
    /// Bound client.
    pub client_id: ClientId,
    /// Bound user.
    pub user_id: UserId,
    /// Bound redirect URI, exactly as sent to `/authorize`.
    pub redirect_uri: String,
    /// Granted scopes.
    pub scope: ScopeSet,
    /// OIDC `nonce`, echoed in the ID token.
    pub nonce: Option<String>,
    /// PKCE challenge.
    pub code_challenge: Option<String>,
    /// PKCE method (`S256` or `plain`).
    pub code_challenge_method: Option<String>,
    /// Login session.
    pub session_id: Option<String>,
    /// When the user authenticated.
    pub auth_time: DateTime<Utc>,
    /// Authentication methods (JSON array).
    pub amr: Option<String>,
    /// Authentication context class (`acr`, docs/MFA.md).
    pub acr: Option<String>,
    /// The resources (RFC 8707 §2.1) the authorization was for; empty:
    /// the default resource.
    pub resources: Vec<String>,
    /// Requested claims (JSON), if any.
    pub claims: Option<String>,
    /// The JWK SHA-256 thumbprint (RFC 7638) of the DPoP key the code is
    /// bound to (RFC 9449 §10: `dpop_jkt`, or the key of the proof at
    /// `/par`); the token request must prove that key.
    pub dpop_jkt: Option<String>,
    /// Issue time.
    pub created_at: DateTime<Utc>,
    /// Expiry (60 s by default).
    pub expires_at: DateTime<Utc>,
    /// Set once redeemed.
    pub consumed_at: Option<DateTime<Utc>>,
}

/// A refresh token (docs/SECURITY.md invariant 4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    /// SHA-256 of the token.
    pub token_hash: TokenHash,
    /// Rotation family: every token rotated from the same first one.
    pub family_id: String,
    /// Bound client.
    pub client_id: ClientId,
    /// Bound user.
    pub user_id: UserId,
    /// Granted scopes.
    pub scope: ScopeSet,
    /// Login session.
    pub session_id: Option<String>,
    /// When the user authenticated.
    pub auth_time: DateTime<Utc>,
    /// Authentication context class of that authentication (`acr`).
    pub acr: Option<String>,
    /// The resources (RFC 8707) the grant covers; a refresh may narrow
    /// them, never widen them. Empty: the default resource.
    pub resources: Vec<String>,
    /// The answer that rotated this token, sealed under a key derived from
    /// the token itself (RFC 9700 §4.14.2 grace window); `None` before the
    /// rotation.
    pub successor: Option<String>,
    /// The DPoP key thumbprint (RFC 7638) a public client's refresh token
    /// is bound to (RFC 9449 §5): every refresh must prove that key.
    pub dpop_jkt: Option<String>,
    /// Issue time.
    pub created_at: DateTime<Utc>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// Set when rotated (used).
    pub rotated_at: Option<DateTime<Utc>>,
    /// Set when revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A server-side login session (docs/SECURITY.md invariant 7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Internal id, used as the `sid` claim.
    pub id: String,
    /// SHA-256 of the cookie value.
    pub id_hash: TokenHash,
    /// Signed-in user, once authenticated.
    pub user_id: Option<UserId>,
    /// When the user authenticated.
    pub auth_time: Option<DateTime<Utc>>,
    /// Authentication methods (JSON array).
    pub amr: Option<String>,
    /// Authentication context class (`acr`, docs/MFA.md).
    pub acr: Option<String>,
    /// The user passed the first factor and still owes the second: the
    /// session signs nobody in until then ([`Session::is_live`] is false).
    pub second_factor_due: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last request seen (idle timeout).
    pub last_seen_at: DateTime<Utc>,
    /// Absolute expiry.
    pub expires_at: DateTime<Utc>,
    /// Set at logout.
    pub ended_at: Option<DateTime<Utc>>,
    /// The client address that started the session (for the account page).
    pub ip: Option<String>,
    /// The browser's `User-Agent` when the session started, cut to 256
    /// characters (for the account page).
    pub user_agent: Option<String>,
}

impl Session {
    /// Whether the session still signs its user in at `now`: not ended,
    /// before its absolute expiry, and seen within `idle` (docs/SECURITY.md
    /// invariant 7). Lists of live sessions apply the same rule in SQL
    /// (`SessionRepository::list_live_sessions`, `idle_since = now - idle`).
    pub fn is_live(&self, now: DateTime<Utc>, idle: chrono::Duration) -> bool {
        !self.second_factor_due
            && self.ended_at.is_none()
            && self.expires_at > now
            && self.last_seen_at + idle > now
    }
}

/// A remembered consent decision for one user and client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    /// The user.
    pub user_id: UserId,
    /// The client.
    pub client_id: ClientId,
    /// Scopes consented to.
    pub scopes: ScopeSet,
    /// First given.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Set when revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Life cycle of a signing key: published first, then signing, then kept for
/// verification until what it signed has expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyState {
    /// Published in JWKS, not yet signing.
    Next,
    /// Signs new tokens.
    Active,
    /// No longer signs; published until `expires_at`.
    Retired,
    /// Revoked by an operator (a compromised key): unpublished at once,
    /// every token it signed refused, never signs again, never purged
    /// (docs/KEYS.md, "Revoking a compromised key").
    Revoked,
}

impl KeyState {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Active => "active",
            Self::Retired => "retired",
            Self::Revoked => "revoked",
        }
    }
}

impl FromStr for KeyState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "next" => Ok(Self::Next),
            "active" => Ok(Self::Active),
            "retired" => Ok(Self::Retired),
            "revoked" => Ok(Self::Revoked),
            other => Err(format!("unknown key state {other:?}")),
        }
    }
}

impl fmt::Display for KeyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A signing key as stored. The private part is never stored in the clear:
/// it is sealed (local), wrapped by KMS (envelope) or absent (KMS direct).
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    /// Key id (`kid`).
    pub kid: String,
    /// JWS algorithm (`ES256`, `RS256`, ...).
    pub alg: String,
    /// Life-cycle state.
    pub state: KeyState,
    /// `local`, `kms_direct` or `kms_envelope`.
    pub backend: String,
    /// Public JWK (JSON).
    pub public_jwk: String,
    /// Sealed or KMS-wrapped private key (base64), if any.
    pub private_key_sealed: Option<String>,
    /// KMS key id or ARN, for KMS back ends.
    pub kms_key_id: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// When it starts (or started) signing.
    pub activates_at: DateTime<Utc>,
    /// When it stopped signing.
    pub retired_at: Option<DateTime<Utc>>,
    /// When it leaves JWKS (none for a revoked key: it left at once).
    pub expires_at: Option<DateTime<Utc>>,
    /// When an operator revoked it.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("state", &self.state)
            .field("backend", &self.backend)
            .field(
                "private_key_sealed",
                &self.private_key_sealed.as_ref().map(|_| "<sealed>"),
            )
            .finish_non_exhaustive()
    }
}

/// A revoked JWT access token, remembered by `jti` until it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedAccessToken {
    /// The token's `jti`.
    pub jti: String,
    /// Client it was issued to.
    pub client_id: ClientId,
    /// Revocation time.
    pub revoked_at: DateTime<Utc>,
    /// The token's own expiry; the row may be purged after it.
    pub expires_at: DateTime<Utc>,
}
