//! [`CachedStore`]: a decorator over any [`Store`] that keeps clients in
//! memory for a short time, so that the token, introspection and revocation
//! endpoints do not read the `clients` table on every request once warm.
//!
//! Everything else is delegated unchanged. Only clients found are cached
//! (an unknown `client_id` always reaches the database, so a client
//! registered on another instance works at once, and a flood of made-up ids
//! cannot fill the cache). Writes made through this store invalidate the
//! entry at once; writes made elsewhere (another instance, the operator CLI,
//! a unit of work) reach this instance within the TTL
//! (`PORTCULLIS_CLIENT_CACHE_SECS`, docs/SCALING.md).

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::{
    AuthorizationCode, Client, ClientId, Consent, Grant, KeyState, RefreshToken,
    RevokedAccessToken, Session, SigningKeyRecord, TokenHash, User, UserId, Username,
};
use crate::ports::prelude::*;
use crate::ports::repositories::GrantSelector;
use crate::ports::{StoreError, ThrottlePolicy};

/// Most clients held at once; past this the cache is emptied and refilled
/// (a deployment has far fewer clients; this only bounds memory).
const MAX_ENTRIES: usize = 10_000;

/// A [`Store`] whose `get_client` answers from memory for up to `ttl`.
pub struct CachedStore {
    inner: Arc<dyn Store>,
    ttl: Duration,
    clients: RwLock<HashMap<ClientId, (Instant, Arc<Client>)>>,
}

impl CachedStore {
    /// Wraps `inner`; clients are kept for `ttl` (zero: not at all).
    pub fn new(inner: Arc<dyn Store>, ttl: Duration) -> Self {
        Self {
            inner,
            ttl,
            clients: RwLock::new(HashMap::new()),
        }
    }

    /// The store this one decorates.
    pub fn inner(&self) -> &Arc<dyn Store> {
        &self.inner
    }

    fn cached(&self, id: &ClientId) -> Option<Client> {
        let map = self.clients.read().unwrap_or_else(PoisonError::into_inner);
        map.get(id)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, c)| Client::clone(c))
    }

    fn remember(&self, client: &Client) {
        let mut map = self.clients.write().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_ENTRIES && !map.contains_key(&client.id) {
            map.clear();
        }
        map.insert(
            client.id.clone(),
            (Instant::now(), Arc::new(client.clone())),
        );
    }

    fn forget(&self, id: &ClientId) {
        self.clients
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }
}

#[async_trait]
impl ClientRepository for CachedStore {
    async fn insert_client(&self, client: &Client) -> Result<(), StoreError> {
        self.forget(&client.id);
        self.inner.insert_client(client).await
    }

    async fn get_client(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
        if self.ttl.is_zero() {
            return self.inner.get_client(id).await;
        }
        if let Some(c) = self.cached(id) {
            return Ok(Some(c));
        }
        let found = self.inner.get_client(id).await?;
        if let Some(c) = &found {
            self.remember(c);
        }
        Ok(found)
    }

    async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        self.inner.list_clients().await
    }

    async fn set_client_secret(
        &self,
        id: &ClientId,
        secret_hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let r = self.inner.set_client_secret(id, secret_hash, now).await;
        self.forget(id);
        r
    }

    async fn delete_client(&self, id: &ClientId) -> Result<bool, StoreError> {
        let r = self.inner.delete_client(id).await;
        self.forget(id);
        r
    }
}

#[async_trait]
impl UserRepository for CachedStore {
    async fn insert_user(&self, user: &User) -> Result<(), StoreError> {
        self.inner.insert_user(user).await
    }
    async fn user_by_username(&self, username: &Username) -> Result<Option<User>, StoreError> {
        self.inner.user_by_username(username).await
    }
    async fn user_by_id(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        self.inner.user_by_id(id).await
    }
    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        self.inner.list_users().await
    }
    async fn set_user_disabled(
        &self,
        username: &Username,
        disabled: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.inner.set_user_disabled(username, disabled, now).await
    }
    async fn set_user_password(
        &self,
        username: &Username,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.inner
            .set_user_password(username, password_hash, now)
            .await
    }
}

#[async_trait]
impl GrantRepository for CachedStore {
    async fn insert_grant(&self, grant: &Grant) -> Result<(), StoreError> {
        self.inner.insert_grant(grant).await
    }
    async fn get_grant(&self, id: &str) -> Result<Option<Grant>, StoreError> {
        self.inner.get_grant(id).await
    }
    async fn revoke_grant(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.inner.revoke_grant(id, now).await
    }
    async fn revoke_grants(
        &self,
        which: GrantSelector<'_>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        self.inner.revoke_grants(which, now).await
    }
}

#[async_trait]
impl AuthorizationCodeRepository for CachedStore {
    async fn insert_code(&self, code: &AuthorizationCode) -> Result<(), StoreError> {
        self.inner.insert_code(code).await
    }
    async fn get_code(&self, hash: &TokenHash) -> Result<Option<AuthorizationCode>, StoreError> {
        self.inner.get_code(hash).await
    }
    async fn consume_code(&self, hash: &TokenHash, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.inner.consume_code(hash, now).await
    }
    async fn purge_expired_codes(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.inner.purge_expired_codes(before).await
    }
}

#[async_trait]
impl RefreshTokenRepository for CachedStore {
    async fn insert_refresh_token(&self, token: &RefreshToken) -> Result<(), StoreError> {
        self.inner.insert_refresh_token(token).await
    }
    async fn get_refresh_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<RefreshToken>, StoreError> {
        self.inner.get_refresh_token(hash).await
    }
    async fn rotate_refresh_token(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.inner.rotate_refresh_token(hash, now).await
    }
    async fn revoke_refresh_family(
        &self,
        family_id: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        self.inner.revoke_refresh_family(family_id, now).await
    }
}

#[async_trait]
impl SessionRepository for CachedStore {
    async fn insert_session(&self, session: &Session) -> Result<(), StoreError> {
        self.inner.insert_session(session).await
    }
    async fn session_by_hash(&self, hash: &TokenHash) -> Result<Option<Session>, StoreError> {
        self.inner.session_by_hash(hash).await
    }
    async fn session_by_id(&self, id: &str) -> Result<Option<Session>, StoreError> {
        self.inner.session_by_id(id).await
    }
    async fn touch_session(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.inner.touch_session(id, now).await
    }
    async fn end_session(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.inner.end_session(id, now).await
    }
}

#[async_trait]
impl ConsentRepository for CachedStore {
    async fn upsert_consent(&self, consent: &Consent) -> Result<(), StoreError> {
        self.inner.upsert_consent(consent).await
    }
    async fn get_consent(
        &self,
        user: &UserId,
        client: &ClientId,
    ) -> Result<Option<Consent>, StoreError> {
        self.inner.get_consent(user, client).await
    }
    async fn revoke_consent(
        &self,
        user: &UserId,
        client: &ClientId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.inner.revoke_consent(user, client, now).await
    }
}

#[async_trait]
impl SigningKeyRepository for CachedStore {
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> Result<(), StoreError> {
        self.inner.insert_signing_key(key).await
    }
    async fn list_signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        self.inner.list_signing_keys().await
    }
    async fn transition_signing_key(
        &self,
        kid: &str,
        from: KeyState,
        to: KeyState,
        retired_at: Option<DateTime<Utc>>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError> {
        self.inner
            .transition_signing_key(kid, from, to, retired_at, expires_at)
            .await
    }
    async fn purge_expired_signing_keys(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.inner.purge_expired_signing_keys(before).await
    }
}

#[async_trait]
impl RevokedTokenRepository for CachedStore {
    async fn insert_revoked_token(&self, token: &RevokedAccessToken) -> Result<(), StoreError> {
        self.inner.insert_revoked_token(token).await
    }
    async fn is_token_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        self.inner.is_token_revoked(jti).await
    }
    async fn purge_revoked_tokens(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.inner.purge_revoked_tokens(before).await
    }
}

#[async_trait]
impl ThrottleRepository for CachedStore {
    async fn locked_until(
        &self,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.inner.locked_until(key, now).await
    }
    async fn record_failure(
        &self,
        key: &str,
        now: DateTime<Utc>,
        policy: ThrottlePolicy,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.inner.record_failure(key, now, policy).await
    }
    async fn clear_failures(&self, key: &str) -> Result<(), StoreError> {
        self.inner.clear_failures(key).await
    }
}

impl Repositories for CachedStore {
    fn clients(&self) -> &dyn ClientRepository {
        self
    }
    fn users(&self) -> &dyn UserRepository {
        self
    }
    fn grants(&self) -> &dyn GrantRepository {
        self
    }
    fn codes(&self) -> &dyn AuthorizationCodeRepository {
        self
    }
    fn refresh_tokens(&self) -> &dyn RefreshTokenRepository {
        self
    }
    fn sessions(&self) -> &dyn SessionRepository {
        self
    }
    fn consents(&self) -> &dyn ConsentRepository {
        self
    }
    fn signing_keys(&self) -> &dyn SigningKeyRepository {
        self
    }
    fn revoked_tokens(&self) -> &dyn RevokedTokenRepository {
        self
    }
    fn throttles(&self) -> &dyn ThrottleRepository {
        self
    }
}

#[async_trait]
impl Store for CachedStore {
    async fn begin(&self) -> Result<Box<dyn UnitOfWork>, StoreError> {
        self.inner.begin().await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
    fn backend_name(&self) -> &'static str {
        self.inner.backend_name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::db::{self, SeaStore};
    use crate::adapters::system::{OsRng, SystemClock};
    use crate::app::operator::{self, NewClient};

    async fn sqlite() -> (tempfile::TempDir, Arc<SeaStore>) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/c.sqlite?mode=rwc", dir.path().display());
        let conn = db::connect(&url).await.unwrap();
        db::migrate(&conn).await.unwrap();
        (dir, Arc::new(SeaStore::new(conn)))
    }

    async fn create(store: &dyn Store) -> Client {
        operator::create_client(
            store,
            &OsRng,
            &SystemClock,
            NewClient {
                name: "Cached".into(),
                redirect_uris: vec!["https://app.example/cb".into()],
                ..NewClient::default()
            },
        )
        .await
        .unwrap()
        .client
    }

    #[tokio::test]
    async fn a_client_changed_behind_the_cache_is_seen_only_after_the_ttl() {
        let (_dir, db) = sqlite().await;
        let cached = CachedStore::new(db.clone(), Duration::from_millis(300));
        let c = create(db.as_ref()).await;
        // Unknown ids are never cached: a new client is visible at once.
        assert!(cached.get_client(&c.id).await.unwrap().is_some());
        // Deleted behind the cache's back (another instance): still served...
        assert!(db.delete_client(&c.id).await.unwrap());
        assert!(cached.get_client(&c.id).await.unwrap().is_some());
        // ...until the entry expires.
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert!(cached.get_client(&c.id).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn own_writes_invalidate_at_once() {
        let (_dir, db) = sqlite().await;
        let cached = CachedStore::new(db.clone(), Duration::from_hours(1));
        let c = create(&cached).await;
        let before = cached.get_client(&c.id).await.unwrap().unwrap();
        let new_hash = TokenHash::of("another secret");
        assert!(
            cached
                .set_client_secret(&c.id, &new_hash, Utc::now())
                .await
                .unwrap()
        );
        let after = cached.get_client(&c.id).await.unwrap().unwrap();
        assert_ne!(before.secret_hash, after.secret_hash);
        assert_eq!(after.secret_hash.as_ref(), Some(&new_hash));
        assert!(cached.delete_client(&c.id).await.unwrap());
        assert!(cached.get_client(&c.id).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn zero_ttl_always_reads_the_database() {
        let (_dir, db) = sqlite().await;
        let cached = CachedStore::new(db.clone(), Duration::ZERO);
        let c = create(db.as_ref()).await;
        assert!(cached.get_client(&c.id).await.unwrap().is_some());
        assert!(db.delete_client(&c.id).await.unwrap());
        assert!(cached.get_client(&c.id).await.unwrap().is_none());
    }
}
