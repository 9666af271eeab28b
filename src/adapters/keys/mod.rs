//! Signing keys: a [`KeyRing`] implementing the [`KeyProvider`] port over
//! one of three back ends (where the private keys live):
//!
//! - [`LocalSigner`]: generated here, sealed in the database with AES-256-GCM
//!   under `<data_dir>/master.key` (embedded default);
//! - [`KmsDirectSigner`]: every signature is a KMS `Sign` call;
//! - [`KmsEnvelopeSigner`]: generated here, wrapped by KMS `Encrypt`,
//!   unwrapped into memory at start and at rotation.
//!
//! The ring owns what is common: the `signing_keys` rows and their life
//! cycle (`next` → `active` → `retired`, see docs/KEYS.md), the in-memory
//! snapshot the hot paths read (signers, verifiers, the serialized JWK
//! Set), and refreshing that snapshot so that instances sharing a database
//! converge on the same active key.

pub mod kms;
pub mod kms_direct;
pub mod kms_envelope;
pub mod kms_metrics;
pub mod local;
pub mod material;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use josekit::jws::JwsVerifier;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

pub use kms_direct::KmsDirectSigner;
pub use kms_envelope::KmsEnvelopeSigner;
pub use local::{LocalSigner, MasterKey};

use crate::config::KeyRotation;
use crate::domain::{KeyState, SigningKeyRecord};
use crate::ports::{
    Clock, JwsAlg, KeyError, KeyProvider, KeyRevocation, PublishedJwks, Signer, Store, StoreError,
};

/// The longest token [`KeyRing::verify_jwt`] looks at.
const MAX_TOKEN_BYTES: usize = 64 * 1024;

/// Produces the JWS signature (JOSE form) over a signing input.
#[async_trait]
pub trait RawSigner: Send + Sync {
    /// Signs `input` (`BASE64URL(header) || '.' || BASE64URL(payload)`,
    /// RFC 7515 §5.1).
    async fn sign(&self, input: &[u8]) -> Result<Vec<u8>, KeyError>;
}

/// A key a back end created or found, ready to be stored.
#[derive(Clone)]
pub struct NewKey {
    /// Algorithm.
    pub alg: JwsAlg,
    /// RFC 7638 thumbprint.
    pub kid: String,
    /// Published JWK.
    pub public_jwk: String,
    /// Sealed or wrapped private key, when the back end keeps one.
    pub private_key_sealed: Option<String>,
    /// The KMS key behind it (signing key or wrapping key).
    pub kms_key_id: Option<String>,
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("kms_key_id", &self.kms_key_id)
            .finish_non_exhaustive()
    }
}

/// Where private keys live: the part that differs between modes.
#[async_trait]
pub trait KeyBackend: Send + Sync {
    /// The `signing_keys.backend` value of keys this back end creates.
    fn name(&self) -> &'static str;
    /// The algorithms this back end signs with.
    fn algs(&self) -> Vec<JwsAlg>;
    /// Checks at start that the back end works (KMS reachable, the
    /// configured keys usable).
    async fn check(&self) -> Result<(), KeyError>;
    /// Keys named by the configuration that must be registered (KMS
    /// direct: the configured KMS keys, read with `GetPublicKey`); empty for
    /// back ends that generate their keys.
    async fn configured_keys(&self) -> Result<Vec<NewKey>, KeyError>;
    /// Creates a key for `alg`; `kms_key_id` names an existing KMS key
    /// (KMS direct only).
    async fn create(&self, alg: JwsAlg, kms_key_id: Option<&str>) -> Result<NewKey, KeyError>;
    /// Makes a signer for a stored key of this back end.
    async fn load(
        &self,
        record: &SigningKeyRecord,
        alg: JwsAlg,
    ) -> Result<Arc<dyn RawSigner>, KeyError>;
}

/// A published key, as the verifier needs it.
struct PublishedKey {
    alg: JwsAlg,
    verifier: Arc<dyn JwsVerifier>,
    expires_at: Option<DateTime<Utc>>,
}

/// What the hot paths read: replaced as a whole by each refresh.
struct Snapshot {
    published: HashMap<String, PublishedKey>,
    signers: HashMap<String, Arc<dyn RawSigner>>,
    active: BTreeMap<JwsAlg, String>,
    jwks_members: Vec<String>,
    jwks: Arc<PublishedJwks>,
}

impl Snapshot {
    fn empty() -> Self {
        Self {
            published: HashMap::new(),
            signers: HashMap::new(),
            active: BTreeMap::new(),
            jwks_members: Vec::new(),
            jwks: Arc::new(publish(&[])),
        }
    }
}

/// Serializes the JWK Set (RFC 7517 §5) and its entity tag.
fn publish(members: &[String]) -> PublishedJwks {
    let body = format!("{{\"keys\":[{}]}}", members.join(","));
    let digest = Sha256::digest(body.as_bytes());
    PublishedJwks {
        etag: format!("\"{}\"", URL_SAFE_NO_PAD.encode(&digest[..16])),
        body: bytes::Bytes::from(body),
    }
}

fn chrono_duration(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

fn parse_alg(r: &SigningKeyRecord) -> Option<JwsAlg> {
    r.alg.parse().ok()
}

/// The order in which instances pick among candidates: latest
/// `activates_at`, then latest `created_at`, then greatest `kid`. Every
/// instance sorts the same rows the same way, so they agree without
/// talking to each other.
fn precedence(r: &SigningKeyRecord) -> (DateTime<Utc>, DateTime<Utc>, &str) {
    (r.activates_at, r.created_at, r.kid.as_str())
}

/// The signing keys of one instance (see the module documentation).
pub struct KeyRing {
    backend: Arc<dyn KeyBackend>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    rotation: KeyRotation,
    current: RwLock<Arc<Snapshot>>,
    refreshing: tokio::sync::Mutex<()>,
    sign_failures: AtomicU64,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("backend", &self.backend.name())
            .finish_non_exhaustive()
    }
}

impl KeyRing {
    /// Opens the ring at start: checks the back end, registers configured
    /// KMS keys, creates a key for every algorithm that has none, then
    /// loads everything. Fails when the back end (KMS) or the database is
    /// unreachable, or a key cannot be unsealed.
    pub async fn open(
        backend: Arc<dyn KeyBackend>,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        rotation: KeyRotation,
    ) -> Result<Self, KeyError> {
        backend.check().await?;
        let ring = Self {
            backend,
            store,
            clock,
            rotation,
            current: RwLock::new(Arc::new(Snapshot::empty())),
            refreshing: tokio::sync::Mutex::new(()),
            sign_failures: AtomicU64::new(0),
        };
        ring.register_configured().await?;
        ring.ensure_keys().await?;
        ring.refresh_now().await?;
        let snap = ring.snapshot();
        for alg in ring.backend.algs() {
            if !snap.active.contains_key(&alg) {
                return Err(KeyError::NoActiveKey(alg));
            }
        }
        Ok(ring)
    }

    /// The back end's name (`local`, `kms_direct`, `kms_envelope`).
    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    /// How many signatures failed since start (logged one by one too).
    pub fn sign_failures(&self) -> u64 {
        self.sign_failures.load(Ordering::Relaxed)
    }

    /// The `kid` of the key that signs `alg` now.
    pub fn active_kid(&self, alg: JwsAlg) -> Option<String> {
        self.snapshot().active.get(&alg).cloned()
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    async fn insert(
        &self,
        key: &NewKey,
        state: KeyState,
        activates_at: DateTime<Utc>,
    ) -> Result<bool, KeyError> {
        let record = SigningKeyRecord {
            kid: key.kid.clone(),
            alg: key.alg.as_str().to_owned(),
            state,
            backend: self.backend.name().to_owned(),
            public_jwk: key.public_jwk.clone(),
            private_key_sealed: key.private_key_sealed.clone(),
            kms_key_id: key.kms_key_id.clone(),
            created_at: self.clock.now(),
            activates_at,
            retired_at: None,
            expires_at: None,
            revoked_at: None,
        };
        match self.store.signing_keys().insert_signing_key(&record).await {
            Ok(()) => Ok(true),
            // Another instance registered the same key first.
            Err(StoreError::Conflict(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// KMS direct: the configured KMS keys become rows. A key not yet known
    /// becomes `active` when its algorithm has no active key, otherwise
    /// `next` (changing `PORTCULLIS_KMS_KEY_ID_*` is a rotation).
    async fn register_configured(&self) -> Result<(), KeyError> {
        let configured = self.backend.configured_keys().await?;
        if configured.is_empty() {
            return Ok(());
        }
        let rows = self.store.signing_keys().list_signing_keys().await?;
        let now = self.clock.now();
        for key in configured {
            if rows.iter().any(|r| r.kid == key.kid) {
                continue;
            }
            let has_active = rows
                .iter()
                .any(|r| r.alg == key.alg.as_str() && r.state == KeyState::Active);
            let (state, at) = if has_active {
                (
                    KeyState::Next,
                    now + chrono_duration(self.rotation.prepublish),
                )
            } else {
                (KeyState::Active, now)
            };
            if self.insert(&key, state, at).await? {
                tracing::info!(kid = %key.kid, alg = %key.alg, kms_key_id = ?key.kms_key_id, %state, activates_at = %at, "registered KMS signing key");
            }
        }
        Ok(())
    }

    /// Creates an active key for every algorithm of this back end that has
    /// no active key of it (first start, or a change of mode).
    async fn ensure_keys(&self) -> Result<(), KeyError> {
        let rows = self.store.signing_keys().list_signing_keys().await?;
        let now = self.clock.now();
        let ours = self.backend.name();
        // Key generation (RSA above all) is slow: make the keys in parallel.
        let mut making = tokio::task::JoinSet::new();
        for alg in self.backend.algs() {
            let of_alg = |r: &&SigningKeyRecord| r.alg == alg.as_str();
            let our_active = rows
                .iter()
                .filter(of_alg)
                .any(|r| r.backend == ours && r.state == KeyState::Active);
            let any_active = rows
                .iter()
                .filter(of_alg)
                .any(|r| r.state == KeyState::Active);
            let our_next = rows
                .iter()
                .filter(of_alg)
                .any(|r| r.backend == ours && r.state == KeyState::Next);
            // A lone `next` key of ours is promoted by the refresh below.
            if our_active || (our_next && !any_active) {
                continue;
            }
            let backend = self.backend.clone();
            making.spawn(async move { backend.create(alg, None).await });
        }
        while let Some(made) = making.join_next().await {
            let key = made.map_err(|e| KeyError::Internal(format!("key generation: {e}")))??;
            self.insert(&key, KeyState::Active, now).await?;
            tracing::info!(kid = %key.kid, alg = %key.alg, backend = ours, "created signing key");
        }
        Ok(())
    }

    /// Schedules a new key for `alg`: published as `next` at once, signing
    /// after the pre-publication period (or at once with `immediately`;
    /// relying parties that cached the JWK Set then meet an unknown `kid`
    /// and must fetch it again). The key it replaces is retired at the
    /// promotion and stays published for `max_token_ttl`.
    pub async fn rotate(
        &self,
        alg: JwsAlg,
        kms_key_id: Option<&str>,
        immediately: bool,
    ) -> Result<SigningKeyRecord, KeyError> {
        if !self.backend.algs().contains(&alg) {
            return Err(KeyError::BadRequest(format!(
                "{alg} is not signed in {} mode",
                self.backend.name()
            )));
        }
        let rows = self.store.signing_keys().list_signing_keys().await?;
        if let Some(pending) = rows
            .iter()
            .find(|r| r.alg == alg.as_str() && r.state == KeyState::Next)
        {
            return Err(KeyError::BadRequest(format!(
                "{alg} already has a next key ({}) that starts signing at {}; rotate again after that",
                pending.kid,
                pending.activates_at.to_rfc3339()
            )));
        }
        let key = self.backend.create(alg, kms_key_id).await?;
        if rows.iter().any(|r| r.kid == key.kid) {
            return Err(KeyError::BadRequest(format!(
                "key {} is already registered; a rotation needs a new key",
                key.kid
            )));
        }
        let now = self.clock.now();
        let at = if immediately {
            now
        } else {
            now + chrono_duration(self.rotation.prepublish)
        };
        self.insert(&key, KeyState::Next, at).await?;
        tracing::info!(kid = %key.kid, %alg, activates_at = %at, "scheduled key rotation");
        self.refresh_now().await?;
        let rows = self.store.signing_keys().list_signing_keys().await?;
        rows.into_iter()
            .find(|r| r.kid == key.kid)
            .ok_or_else(|| KeyError::Internal(format!("key {} vanished", key.kid)))
    }

    /// Revokes `kid` (see [`KeyProvider::revoke`]): the emergency path
    /// for a compromised key. Steps, each a conditional update so that
    /// instances and operators racing agree:
    ///
    /// 1. when the key is the active signer of an algorithm this back end
    ///    signs and no other active key of it remains, a replacement becomes
    ///    active first: the published `next` key (relying parties have it
    ///    cached already) or, with none, a new key (`kms_key_id` in KMS
    ///    direct mode);
    /// 2. the key becomes `revoked` (`revoked_at = now`, never purged);
    /// 3. this instance's snapshot is rebuilt: the JWK Set and verification
    ///    drop the key at once. Other instances drop it at their next
    ///    refresh (`PORTCULLIS_KEY_REFRESH_SECS`).
    pub async fn revoke(
        &self,
        kid: &str,
        kms_key_id: Option<&str>,
    ) -> Result<KeyRevocation, KeyError> {
        let repo = self.store.signing_keys();
        let rows = repo.list_signing_keys().await?;
        let Some(target) = rows.iter().find(|r| r.kid == kid) else {
            return Err(KeyError::NotFound(format!(
                "no signing key with kid {kid:?}"
            )));
        };
        if target.state == KeyState::Revoked {
            return Err(KeyError::Conflict(format!(
                "key {kid} was already revoked at {}",
                target
                    .revoked_at
                    .map_or_else(|| "an unknown time".to_owned(), |t| t.to_rfc3339())
            )));
        }
        let alg = parse_alg(target);
        let needs_replacement = target.state == KeyState::Active
            && alg.is_some_and(|a| self.backend.algs().contains(&a))
            && !rows
                .iter()
                .any(|r| r.kid != target.kid && r.alg == target.alg && r.state == KeyState::Active);
        let now = self.clock.now();
        let mut replacement_kid = None;
        if let (true, Some(alg)) = (needs_replacement, alg) {
            replacement_kid = Some(self.replace_signer(&rows, alg, kms_key_id, now).await?);
        } else if kms_key_id.is_some() {
            return Err(KeyError::BadRequest(format!(
                "key {kid} does not sign now: it needs no replacement key (drop --kms-key-id)"
            )));
        }
        if !repo.revoke_signing_key(kid, now).await? {
            return Err(KeyError::Conflict(format!(
                "key {kid} was already revoked (by another operator just now)"
            )));
        }
        tracing::warn!(%kid, alg = %target.alg, replacement = ?replacement_kid, "signing key revoked");
        self.refresh_now().await?;
        let rows = repo.list_signing_keys().await?;
        let find = |k: &str| rows.iter().find(|r| r.kid == k).cloned();
        let revoked = find(kid).ok_or_else(|| KeyError::Internal(format!("key {kid} vanished")))?;
        Ok(KeyRevocation {
            revoked,
            replacement: replacement_kid.as_deref().and_then(find),
        })
    }

    /// Makes a key other than the current signer active for `alg` now: the
    /// pending `next` key when there is one, else a new key. Returns its
    /// `kid`.
    async fn replace_signer(
        &self,
        rows: &[SigningKeyRecord],
        alg: JwsAlg,
        kms_key_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<String, KeyError> {
        let repo = self.store.signing_keys();
        let mut nexts: Vec<&SigningKeyRecord> = rows
            .iter()
            .filter(|r| {
                r.alg == alg.as_str()
                    && r.state == KeyState::Next
                    && r.backend == self.backend.name()
            })
            .collect();
        nexts.sort_by(|a, b| precedence(a).cmp(&precedence(b)));
        if kms_key_id.is_none()
            && let Some(next) = nexts.pop()
        {
            if repo.activate_next_signing_key(&next.kid, now).await? {
                tracing::info!(kid = %next.kid, %alg, "next signing key activated early to replace a revoked key");
                return Ok(next.kid.clone());
            }
            // Another instance promoted it in the meantime: it signs now.
            let current = repo.list_signing_keys().await?;
            if current
                .iter()
                .any(|r| r.kid == next.kid && r.state == KeyState::Active)
            {
                return Ok(next.kid.clone());
            }
        }
        let key = self
            .backend
            .create(alg, kms_key_id)
            .await
            .map_err(|e| match e {
                KeyError::BadRequest(m) => KeyError::BadRequest(format!(
                    "the {alg} key signs now and needs a replacement before it is revoked: {m}"
                )),
                other => other,
            })?;
        if rows.iter().any(|r| r.kid == key.kid) {
            return Err(KeyError::BadRequest(format!(
                "key {} is already registered; a replacement needs a new key",
                key.kid
            )));
        }
        self.insert(&key, KeyState::Active, now).await?;
        tracing::info!(kid = %key.kid, %alg, "created a signing key to replace a revoked key");
        Ok(key.kid)
    }

    /// Applies due transitions; returns whether it attempted any.
    async fn apply_transitions(
        &self,
        rows: &[SigningKeyRecord],
        now: DateTime<Utc>,
    ) -> Result<bool, KeyError> {
        let repo = self.store.signing_keys();
        let retire_until = now + chrono_duration(self.rotation.max_token_ttl);
        let mut attempted = false;
        for alg in JwsAlg::ALL {
            let of_alg: Vec<&SigningKeyRecord> =
                rows.iter().filter(|r| r.alg == alg.as_str()).collect();
            let mut actives: Vec<&SigningKeyRecord> = of_alg
                .iter()
                .copied()
                .filter(|r| r.state == KeyState::Active)
                .collect();
            let nexts: Vec<&SigningKeyRecord> = of_alg
                .iter()
                .copied()
                .filter(|r| r.state == KeyState::Next)
                .collect();
            // A `next` key is due when its time has come, or at once when
            // nothing else signs for its algorithm.
            let mut due: Vec<&SigningKeyRecord> = nexts
                .iter()
                .copied()
                .filter(|r| r.activates_at <= now || actives.is_empty())
                .collect();
            due.sort_by(|a, b| precedence(a).cmp(&precedence(b)));
            if let Some(winner) = due.pop() {
                attempted = true;
                if repo
                    .transition_signing_key(
                        &winner.kid,
                        KeyState::Next,
                        KeyState::Active,
                        None,
                        None,
                    )
                    .await?
                {
                    tracing::info!(kid = %winner.kid, %alg, "signing key activated");
                }
                actives.push(winner);
                // Older due keys never signed here; retire them like the rest.
                for superseded in due {
                    repo.transition_signing_key(
                        &superseded.kid,
                        KeyState::Next,
                        KeyState::Retired,
                        Some(now),
                        Some(retire_until),
                    )
                    .await?;
                }
            }
            actives.sort_by(|a, b| precedence(a).cmp(&precedence(b)));
            actives.pop();
            for old in actives {
                attempted = true;
                if repo
                    .transition_signing_key(
                        &old.kid,
                        KeyState::Active,
                        KeyState::Retired,
                        Some(now),
                        Some(retire_until),
                    )
                    .await?
                {
                    tracing::info!(kid = %old.kid, %alg, expires_at = %retire_until, "signing key retired");
                }
            }
        }
        Ok(attempted)
    }

    /// Builds a snapshot from the rows, reusing what the previous one
    /// already loaded (no KMS call for a key already unwrapped).
    async fn build_snapshot(
        &self,
        rows: &[SigningKeyRecord],
        now: DateTime<Utc>,
    ) -> Result<Snapshot, KeyError> {
        let prev = self.snapshot();
        let ours = self.backend.name();
        let mut published = HashMap::new();
        let mut signers = HashMap::new();
        let mut members: Vec<(u8, JwsAlg, &SigningKeyRecord)> = Vec::new();
        let mut active: BTreeMap<JwsAlg, &SigningKeyRecord> = BTreeMap::new();
        for r in rows {
            let Some(alg) = parse_alg(r) else {
                tracing::warn!(kid = %r.kid, alg = %r.alg, "ignoring a signing key with an unknown algorithm");
                continue;
            };
            let rank = match r.state {
                KeyState::Active => 0,
                KeyState::Next => 1,
                KeyState::Retired if r.expires_at.is_some_and(|e| e > now) => 2,
                // Revoked: unpublished, its tokens refused (unknown kid).
                KeyState::Retired | KeyState::Revoked => continue,
            };
            let verifier = match prev.published.get(&r.kid) {
                Some(p) => p.verifier.clone(),
                None => material::verifier(alg, &r.public_jwk)?,
            };
            published.insert(
                r.kid.clone(),
                PublishedKey {
                    alg,
                    verifier,
                    expires_at: r.expires_at,
                },
            );
            members.push((rank, alg, r));
            if r.state == KeyState::Retired {
                continue;
            }
            if r.state == KeyState::Active
                && active
                    .get(&alg)
                    .is_none_or(|cur| precedence(r) > precedence(cur))
            {
                active.insert(alg, r);
            }
            if r.backend == ours {
                let signer = match prev.signers.get(&r.kid) {
                    Some(s) => s.clone(),
                    None => self.backend.load(r, alg).await?,
                };
                signers.insert(r.kid.clone(), signer);
            }
        }
        let mut active_kids = BTreeMap::new();
        for (alg, r) in active {
            if signers.contains_key(&r.kid) {
                active_kids.insert(alg, r.kid.clone());
            } else if self.backend.algs().contains(&alg) {
                return Err(KeyError::Internal(format!(
                    "the active {alg} key {} is a {} key; this instance runs in {ours} mode \
                     (stop the instances of the old mode, or rotate)",
                    r.kid, r.backend
                )));
            }
        }
        // Active keys first, then next, then retired: a relying party that
        // ignores `kid` tries the signing key first.
        members.sort_by(|a, b| (a.0, a.1, &a.2.kid).cmp(&(b.0, b.1, &b.2.kid)));
        let jwks_members: Vec<String> = members
            .into_iter()
            .map(|(_, _, r)| r.public_jwk.clone())
            .collect();
        let jwks = if jwks_members == prev.jwks_members {
            prev.jwks.clone()
        } else {
            Arc::new(publish(&jwks_members))
        };
        Ok(Snapshot {
            published,
            signers,
            active: active_kids,
            jwks_members,
            jwks,
        })
    }

    async fn refresh_now(&self) -> Result<(), KeyError> {
        let _one_at_a_time = self.refreshing.lock().await;
        let now = self.clock.now();
        let repo = self.store.signing_keys();
        let purged = repo.purge_expired_signing_keys(now).await?;
        if purged > 0 {
            tracing::info!(purged, "forgot expired signing keys");
        }
        let mut rows = repo.list_signing_keys().await?;
        if self.apply_transitions(&rows, now).await? {
            rows = repo.list_signing_keys().await?;
        }
        let snap = self.build_snapshot(&rows, now).await?;
        let before = self.snapshot();
        if before.active != snap.active && !before.active.is_empty() {
            tracing::info!(active = ?snap.active, "active signing keys changed");
        }
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(snap);
        Ok(())
    }
}

#[derive(serde::Serialize)]
struct Header<'a> {
    alg: &'a str,
    kid: &'a str,
    typ: &'a str,
}

#[async_trait]
impl Signer for KeyRing {
    async fn sign_jwt(
        &self,
        alg: JwsAlg,
        typ: &str,
        claims: &Map<String, Value>,
    ) -> Result<String, KeyError> {
        let snap = self.snapshot();
        let (kid, signer) = snap
            .active
            .get(&alg)
            .and_then(|kid| snap.signers.get(kid).map(|s| (kid, s)))
            .ok_or(KeyError::NoActiveKey(alg))?;
        let header = serde_json::to_vec(&Header {
            alg: alg.as_str(),
            kid,
            typ,
        })
        .map_err(|e| KeyError::Internal(e.to_string()))?;
        let payload = serde_json::to_vec(claims).map_err(|e| KeyError::Internal(e.to_string()))?;
        let mut token = URL_SAFE_NO_PAD.encode(header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut token);
        match signer.sign(token.as_bytes()).await {
            Ok(sig) => {
                token.push('.');
                URL_SAFE_NO_PAD.encode_string(sig, &mut token);
                Ok(token)
            }
            Err(e) => {
                let failures = self.sign_failures.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::warn!(%alg, %kid, backend = self.backend.name(), error = %e, failures, "signing failed");
                Err(e)
            }
        }
    }
}

fn decode_json(part: &str, what: &str) -> Result<Map<String, Value>, KeyError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| KeyError::Invalid(format!("{what} is not base64url")))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(KeyError::Invalid(format!("{what} is not a JSON object"))),
    }
}

#[async_trait]
impl KeyProvider for KeyRing {
    fn verify_jwt(&self, token: &str) -> Result<Map<String, Value>, KeyError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(KeyError::Invalid("token too long".into()));
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(KeyError::Invalid("not a compact JWS".into()));
        };
        let header = decode_json(h, "header")?;
        // RFC 7515 §4.1.11: we never set `crit`, so we understand none.
        if header.contains_key("crit") {
            return Err(KeyError::Invalid("unsupported crit header".into()));
        }
        let Some(Value::String(kid)) = header.get("kid") else {
            return Err(KeyError::Invalid("no kid".into()));
        };
        let snap = self.snapshot();
        let key = snap
            .published
            .get(kid)
            .ok_or_else(|| KeyError::Invalid("unknown kid".into()))?;
        if key.expires_at.is_some_and(|e| e <= self.clock.now()) {
            return Err(KeyError::Invalid("the signing key has expired".into()));
        }
        // The algorithm comes from our key record (docs/SECURITY.md invariant 10);
        // a header naming another one is refused, not obeyed.
        if header.get("alg").and_then(Value::as_str) != Some(key.alg.as_str()) {
            return Err(KeyError::Invalid("alg does not match the key".into()));
        }
        let sig = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| KeyError::Invalid("signature is not base64url".into()))?;
        let input_len = h.len() + 1 + p.len();
        key.verifier
            .verify(&token.as_bytes()[..input_len], &sig)
            .map_err(|_| KeyError::Invalid("bad signature".into()))?;
        decode_json(p, "payload")
    }

    fn jwks(&self) -> Arc<PublishedJwks> {
        self.snapshot().jwks.clone()
    }

    fn signing_algs(&self) -> Vec<JwsAlg> {
        let snap = self.snapshot();
        JwsAlg::ALL
            .into_iter()
            .filter(|a| snap.active.contains_key(a))
            .collect()
    }

    async fn refresh(&self) -> Result<(), KeyError> {
        self.refresh_now().await
    }

    async fn rotate(
        &self,
        alg: JwsAlg,
        kms_key_id: Option<&str>,
        immediately: bool,
    ) -> Result<SigningKeyRecord, KeyError> {
        KeyRing::rotate(self, alg, kms_key_id, immediately).await
    }

    async fn revoke(&self, kid: &str, kms_key_id: Option<&str>) -> Result<KeyRevocation, KeyError> {
        KeyRing::revoke(self, kid, kms_key_id).await
    }
}
