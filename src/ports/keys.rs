//! Signing keys: the [`Signer`] the token endpoints use, and the
//! [`KeyProvider`] that also verifies our own tokens, publishes the JWK Set
//! and follows rotations made by other instances.
//!
//! Adapters: `adapters::keys` (a key ring over a local, KMS direct or KMS
//! envelope back end).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::domain::SigningKeyRecord;

/// The JWS algorithms we sign with (RFC 7518 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JwsAlg {
    /// ECDSA using P-256 and SHA-256 (RFC 7518 §3.4). Default for access tokens.
    Es256,
    /// RSASSA-PKCS1-v1_5 using SHA-256 (RFC 7518 §3.3). Required for ID
    /// tokens (OpenID Connect Core §15.1, Discovery §3).
    Rs256,
    /// RSASSA-PSS using SHA-256 and MGF1 with SHA-256 (RFC 7518 §3.5).
    Ps256,
}

impl JwsAlg {
    /// Every algorithm, in the order discovery lists them.
    pub const ALL: [Self; 3] = [Self::Rs256, Self::Es256, Self::Ps256];

    /// The `alg` header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::Rs256 => "RS256",
            Self::Ps256 => "PS256",
        }
    }

    /// The JWK `kty` of keys for this algorithm (RFC 7518 §6.1).
    pub fn key_type(self) -> &'static str {
        match self {
            Self::Es256 => "EC",
            Self::Rs256 | Self::Ps256 => "RSA",
        }
    }
}

impl fmt::Display for JwsAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JwsAlg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ES256" => Ok(Self::Es256),
            "RS256" => Ok(Self::Rs256),
            "PS256" => Ok(Self::Ps256),
            other => Err(format!(
                "unsupported algorithm {other:?} (expected ES256, RS256 or PS256)"
            )),
        }
    }
}

/// Why a key operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A dependency (KMS, the database) could not be reached or refused to
    /// work: the request may succeed later. Token endpoints answer
    /// `temporarily_unavailable` (503, RFC 6749 §5.2 / §4.1.2.1).
    #[error("signing keys unavailable: {0}")]
    Unavailable(String),
    /// The JWS signing input is larger than KMS `Sign` accepts with
    /// `MessageType=RAW` (KMS direct mode).
    #[error("the token to sign is {len} bytes; KMS signs at most {max} bytes (shorten the claims)")]
    PayloadTooLarge {
        /// Length of `header.payload`.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// An operator request that cannot be carried out: an algorithm this
    /// mode does not offer, a rotation already pending, a KMS key of the
    /// wrong type.
    #[error("{0}")]
    BadRequest(String),
    /// An operator named a key that does not exist (`keys revoke KID`).
    #[error("{0}")]
    NotFound(String),
    /// An operator request that conflicts with the key's state (revoking a
    /// key revoked already).
    #[error("{0}")]
    Conflict(String),
    /// No key signs with this algorithm now.
    #[error("no active signing key for {0}")]
    NoActiveKey(JwsAlg),
    /// A token under verification is malformed, names an unknown or expired
    /// key, or its signature does not verify. Says nothing about secrets.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// A bug or corrupt key material (wrong master key, undecodable record).
    #[error("key error: {0}")]
    Internal(String),
}

impl KeyError {
    /// Whether the failure is a dependency outage (answer 503 and retry).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

impl From<crate::ports::StoreError> for KeyError {
    fn from(e: crate::ports::StoreError) -> Self {
        match e {
            crate::ports::StoreError::Unavailable(m) => Self::Unavailable(format!("database: {m}")),
            other => Self::Internal(other.to_string()),
        }
    }
}

/// The JWK Set as served at `jwks_uri`: serialized once and rebuilt only
/// when the published keys change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedJwks {
    /// `{"keys":[...]}` (RFC 7517 §5), UTF-8 JSON.
    pub body: bytes::Bytes,
    /// A strong entity tag for the body, quoted (RFC 9110 §8.8.3).
    pub etag: String,
}

/// What revoking a key did (docs/KEYS.md, "Revoking a compromised key").
#[derive(Debug, Clone)]
pub struct KeyRevocation {
    /// The revoked key, as stored now (`revoked`, `revoked_at` set).
    pub revoked: SigningKeyRecord,
    /// The key that became active for its algorithm first, when the revoked
    /// key was the one signing (a published `next` key, or a new one).
    pub replacement: Option<SigningKeyRecord>,
}

/// Signs JWTs with the active key of an algorithm.
#[async_trait]
pub trait Signer: Send + Sync {
    /// Signs `claims` as a compact JWS (a JWT) with the ACTIVE key for
    /// `alg`; the protected header is `{alg, kid, typ}` (RFC 7515 §7.1,
    /// RFC 7519 §5.1; `typ` is `JWT`, `at+jwt` per RFC 9068 §2.1, ...).
    async fn sign_jwt(
        &self,
        alg: JwsAlg,
        typ: &str,
        claims: &Map<String, Value>,
    ) -> Result<String, KeyError>;
}

/// Signs, verifies our own tokens, and publishes the public keys.
#[async_trait]
pub trait KeyProvider: Signer {
    /// Verifies a JWS we issued: the signature is checked against the
    /// published key named by `kid`, with the algorithm of that key record,
    /// never one taken from the token (docs/SECURITY.md invariant 10; RFC 8725
    /// §3.1). Returns the claims. Does NOT check `exp`, `aud` or other
    /// claims: callers do.
    fn verify_jwt(&self, token: &str) -> Result<Map<String, Value>, KeyError>;

    /// The JWK Set document and its entity tag.
    fn jwks(&self) -> Arc<PublishedJwks>;

    /// The algorithms we can sign with now (for discovery).
    fn signing_algs(&self) -> Vec<JwsAlg>;

    /// Reloads keys from the database: promotes a `next` key whose time has
    /// come, retires what it replaces, forgets expired keys. Called
    /// periodically, so that instances sharing a database converge on the
    /// same active key without a restart.
    async fn refresh(&self) -> Result<(), KeyError>;

    /// Schedules a new key for `alg`: published as `next` now, signing
    /// after the pre-publication period, or at once with `immediately`.
    /// `kms_key_id` names the new KMS key (KMS direct mode only). Refused
    /// (`BadRequest`, nothing changed) for an algorithm this mode does not
    /// sign or when a rotation of `alg` is pending.
    async fn rotate(
        &self,
        alg: JwsAlg,
        kms_key_id: Option<&str>,
        immediately: bool,
    ) -> Result<SigningKeyRecord, KeyError>;

    /// Revokes the key `kid` (a compromised key): when it is the key that
    /// signs its algorithm, a replacement becomes active first (the
    /// published `next` key, else a new key; `kms_key_id` names it in KMS
    /// direct mode), so that signing never stops; then the key is marked
    /// `revoked` with a conditional update and this instance's snapshot is
    /// rebuilt, so the JWK Set and [`KeyProvider::verify_jwt`] drop it at
    /// once. Other instances drop it at their next [`KeyProvider::refresh`].
    /// `NotFound` for an unknown `kid`, `Conflict` for a key revoked
    /// already; nothing is changed then.
    async fn revoke(&self, kid: &str, kms_key_id: Option<&str>) -> Result<KeyRevocation, KeyError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithms_round_trip_through_their_names() {
        for alg in JwsAlg::ALL {
            assert_eq!(alg.as_str().parse::<JwsAlg>(), Ok(alg));
        }
        assert!("HS256".parse::<JwsAlg>().is_err());
        assert!("none".parse::<JwsAlg>().is_err());
        assert!(
            "es256".parse::<JwsAlg>().is_err(),
            "names are case-sensitive"
        );
    }

    #[test]
    fn database_outage_is_unavailable() {
        let e: KeyError = crate::ports::StoreError::Unavailable("down".into()).into();
        assert!(e.is_unavailable());
        let e: KeyError = crate::ports::StoreError::Internal("bug".into()).into();
        assert!(!e.is_unavailable());
    }
}
