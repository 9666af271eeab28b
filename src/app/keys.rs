//! Signing keys as an operator service: list, rotate now, revoke a
//! compromised key. The one home that `portcullis keys …` (`src/cli/keys.rs`)
//! and the admin API (`src/http/routes/admin/keys.rs`) call; the key life
//! cycle itself is the key ring's (`adapters::keys::KeyRing`, behind the
//! [`KeyProvider`] port), the rules of each step are documented in
//! docs/KEYS.md. The callers record each change as an `admin_change`
//! event (the API naming the acting client, the CLI `initiator=cli`).

use crate::domain::SigningKeyRecord;
use crate::ports::{JwsAlg, KeyError, KeyProvider, KeyRevocation, Store};

/// What a rotation is called in the `admin_change` event (`detail.action`).
pub const ACTION_ROTATED: &str = "key_rotated";
/// What a revocation is called in the `admin_change` event.
pub const ACTION_REVOKED: &str = crate::domain::alert::KEY_REVOKED_ACTION;

/// The ports the key services use.
#[derive(Clone, Copy)]
pub struct KeyServices<'a> {
    /// The signing keys (this instance's key ring).
    pub keys: &'a dyn KeyProvider,
    /// The store (to list the keys).
    pub store: &'a dyn Store,
}

impl<'a> KeyServices<'a> {
    /// The services of a running server.
    pub fn of(state: &'a crate::state::Services) -> Self {
        Self {
            keys: state.keys.as_ref(),
            store: state.store.as_ref(),
        }
    }
}

/// A key as the CLI (`keys list --json`) and the admin API show it: the
/// public fields only (never the sealed or wrapped private part), times in
/// RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeyView {
    /// `kid` (RFC 7638 thumbprint).
    pub kid: String,
    /// `ES256`, `RS256` or `PS256`.
    pub alg: String,
    /// `next`, `active`, `retired` or `revoked`.
    pub state: &'static str,
    /// `local`, `kms_direct` or `kms_envelope`.
    pub backend: String,
    /// The KMS key behind it (KMS modes).
    pub kms_key_id: Option<String>,
    /// Created.
    pub created_at: String,
    /// Signs (or signed) from.
    pub activates_at: String,
    /// Stopped signing.
    pub retired_at: Option<String>,
    /// Leaves the JWK Set.
    pub expires_at: Option<String>,
    /// Revoked by an operator.
    pub revoked_at: Option<String>,
}

impl From<&SigningKeyRecord> for KeyView {
    fn from(k: &SigningKeyRecord) -> Self {
        let t = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339();
        Self {
            kid: k.kid.clone(),
            alg: k.alg.clone(),
            state: k.state.as_str(),
            backend: k.backend.clone(),
            kms_key_id: k.kms_key_id.clone(),
            created_at: t(k.created_at),
            activates_at: t(k.activates_at),
            retired_at: k.retired_at.map(t),
            expires_at: k.expires_at.map(t),
            revoked_at: k.revoked_at.map(t),
        }
    }
}

/// What `keys rotate` / `POST /admin/v1/keys/rotate` asks for.
#[derive(Debug, Clone, Default)]
pub struct Rotation {
    /// One algorithm; `None`: every algorithm the server signs with now.
    pub alg: Option<JwsAlg>,
    /// KMS direct mode: the new KMS key (needs `alg`).
    pub kms_key_id: Option<String>,
    /// Skip the pre-publication period.
    pub immediately: bool,
}

/// Every signing key, oldest first, in every state (the private part is
/// never shown: [`SigningKeyRecord`]'s `Debug` redacts it and callers
/// render only public fields).
pub async fn list(store: &dyn Store) -> Result<Vec<SigningKeyRecord>, KeyError> {
    Ok(store.signing_keys().list_signing_keys().await?)
}

/// Starts a rotation (docs/KEYS.md, "Key states and rotation"): a new key
/// per algorithm, `next` until `activates_at`. Checked before anything is
/// written: `kms_key_id` needs `alg`. Algorithms are rotated one by one; a
/// refusal of one (a rotation pending) stops there and is returned, the
/// keys scheduled before it stay scheduled.
pub async fn rotate(
    s: &KeyServices<'_>,
    req: &Rotation,
) -> Result<Vec<SigningKeyRecord>, KeyError> {
    if req.kms_key_id.is_some() && req.alg.is_none() {
        return Err(KeyError::BadRequest(
            "a KMS key id names the key of one algorithm: give the algorithm too".into(),
        ));
    }
    let algs = match req.alg {
        Some(a) => vec![a],
        None => s.keys.signing_algs(),
    };
    let mut rotated = Vec::with_capacity(algs.len());
    for alg in algs {
        let key = s
            .keys
            .rotate(alg, req.kms_key_id.as_deref(), req.immediately)
            .await?;
        rotated.push(key);
    }
    Ok(rotated)
}

/// Revokes a compromised key (docs/KEYS.md, "Revoking a compromised key"):
/// see [`KeyProvider::revoke`]. `kms_key_id` names the replacement in KMS
/// direct mode when the key signs now.
pub async fn revoke(
    s: &KeyServices<'_>,
    kid: &str,
    kms_key_id: Option<&str>,
) -> Result<KeyRevocation, KeyError> {
    let kid = kid.trim();
    if kid.is_empty() || kid.len() > 128 || kid.chars().any(char::is_control) {
        return Err(KeyError::BadRequest(
            "a kid is 1 to 128 printable characters".into(),
        ));
    }
    s.keys.revoke(kid, kms_key_id).await
}
