//! Records of dynamic client registration (RFC 7591, RFC 7592).

use chrono::{DateTime, Utc};

use super::{ClientId, TokenHash};

/// An initial access token (RFC 7591 §3): lets its bearer register a
/// client while `PORTCULLIS_REGISTRATION=token`. Only its hash is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialAccessToken {
    /// A public id (for listing; never the token).
    pub id: String,
    /// SHA-256 of the token.
    pub token_hash: TokenHash,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// Registrations it may still make; `None`: any number until it expires.
    pub uses_left: Option<i64>,
}

/// The registration access token of a client registered through
/// `/register` (RFC 7592 §3): only its hash is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRegistration {
    /// The registered client.
    pub client_id: ClientId,
    /// SHA-256 of the registration access token.
    pub token_hash: TokenHash,
    /// When the client was registered.
    pub created_at: DateTime<Utc>,
}
