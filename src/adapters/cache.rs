//! [`CachedStore`]: a decorator over any [`Store`] that keeps clients in
//! memory for a short time, so that the token, introspection and revocation
//! endpoints do not read the `clients` table on every request once warm.
//!
//! It wraps one repository, the client repository ([`Repositories::clients`]);
//! every other accessor, [`Store::begin`] and the rest are the inner store's.
//! Only clients found are cached (an unknown `client_id` always reaches the
//! database, so a client registered on another instance works at once, and a
//! flood of made-up ids cannot fill the cache). Writes made through this
//! store invalidate the entry at once; writes made elsewhere (another
//! instance, the operator CLI, a unit of work) reach this instance within the
//! TTL (`PORTCULLIS_CLIENT_CACHE_SECS`, docs/SCALING.md).

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::{Client, ClientId, TokenHash};
use crate::ports::StoreError;
use crate::ports::prelude::*;

/// Most clients held at once; past this the cache is emptied and refilled
/// (a deployment has far fewer clients; this only bounds memory).
const MAX_ENTRIES: usize = 10_000;

/// A [`Store`] whose client repository answers `get_client` from memory for
/// up to `ttl`; the other repositories are the inner store's.
pub struct CachedStore {
    inner: Arc<dyn Store>,
    clients: ClientCache,
}

impl CachedStore {
    /// Wraps `inner`; clients are kept for `ttl` (zero: not at all).
    pub fn new(inner: Arc<dyn Store>, ttl: Duration) -> Self {
        Self {
            clients: ClientCache {
                inner: inner.clone(),
                ttl,
                entries: RwLock::new(HashMap::new()),
            },
            inner,
        }
    }

    /// The store this one decorates.
    pub fn inner(&self) -> &Arc<dyn Store> {
        &self.inner
    }
}

/// The caching [`ClientRepository`] over the inner store's.
struct ClientCache {
    inner: Arc<dyn Store>,
    ttl: Duration,
    entries: RwLock<HashMap<ClientId, (Instant, Arc<Client>)>>,
}

impl ClientCache {
    fn repo(&self) -> &dyn ClientRepository {
        self.inner.clients()
    }

    fn cached(&self, id: &ClientId) -> Option<Client> {
        let map = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        map.get(id)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, c)| Client::clone(c))
    }

    fn remember(&self, client: &Client) {
        let mut map = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_ENTRIES && !map.contains_key(&client.id) {
            map.clear();
        }
        map.insert(
            client.id.clone(),
            (Instant::now(), Arc::new(client.clone())),
        );
    }

    fn forget(&self, id: &ClientId) {
        self.entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }
}

#[async_trait]
impl ClientRepository for ClientCache {
    async fn insert_client(&self, client: &Client) -> Result<(), StoreError> {
        self.forget(&client.id);
        self.repo().insert_client(client).await
    }

    async fn get_client(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
        if self.ttl.is_zero() {
            return self.repo().get_client(id).await;
        }
        if let Some(c) = self.cached(id) {
            return Ok(Some(c));
        }
        let found = self.repo().get_client(id).await?;
        if let Some(c) = &found {
            self.remember(c);
        }
        Ok(found)
    }

    async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        self.repo().list_clients().await
    }

    async fn list_clients_page(
        &self,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<Client>, StoreError> {
        self.repo().list_clients_page(after, limit).await
    }

    async fn update_client(&self, client: &Client) -> Result<bool, StoreError> {
        let r = self.repo().update_client(client).await;
        self.forget(&client.id);
        r
    }

    async fn set_client_secret(
        &self,
        id: &ClientId,
        secret_hash: &TokenHash,
        previous_until: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let r = self
            .repo()
            .set_client_secret(id, secret_hash, previous_until, now)
            .await;
        self.forget(id);
        r
    }

    async fn delete_client(&self, id: &ClientId) -> Result<bool, StoreError> {
        let r = self.repo().delete_client(id).await;
        self.forget(id);
        r
    }

    async fn set_client_resource_audience(
        &self,
        id: &ClientId,
        audience: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let r = self
            .repo()
            .set_client_resource_audience(id, audience, now)
            .await;
        self.forget(id);
        r
    }
}

impl Repositories for CachedStore {
    fn clients(&self) -> &dyn ClientRepository {
        &self.clients
    }
    fn users(&self) -> &dyn UserRepository {
        self.inner.users()
    }
    fn grants(&self) -> &dyn GrantRepository {
        self.inner.grants()
    }
    fn codes(&self) -> &dyn AuthorizationCodeRepository {
        self.inner.codes()
    }
    fn refresh_tokens(&self) -> &dyn RefreshTokenRepository {
        self.inner.refresh_tokens()
    }
    fn sessions(&self) -> &dyn SessionRepository {
        self.inner.sessions()
    }
    fn consents(&self) -> &dyn ConsentRepository {
        self.inner.consents()
    }
    fn signing_keys(&self) -> &dyn SigningKeyRepository {
        self.inner.signing_keys()
    }
    fn revoked_tokens(&self) -> &dyn RevokedTokenRepository {
        self.inner.revoked_tokens()
    }
    fn throttles(&self) -> &dyn ThrottleRepository {
        self.inner.throttles()
    }
    fn registrations(&self) -> &dyn crate::ports::RegistrationRepository {
        self.inner.registrations()
    }
    fn housekeeping(&self) -> &dyn crate::ports::repositories::HousekeepingRepository {
        self.inner.housekeeping()
    }
    fn outbox(&self) -> &dyn crate::ports::MailOutboxRepository {
        self.inner.outbox()
    }
    fn links(&self) -> &dyn crate::ports::UserLinkRepository {
        self.inner.links()
    }
    fn factors(&self) -> &dyn crate::ports::FactorRepository {
        self.inner.factors()
    }
    fn device_codes(&self) -> &dyn crate::ports::DeviceCodeRepository {
        self.inner.device_codes()
    }
    fn deliveries(&self) -> &dyn crate::ports::DeliveryRepository {
        self.inner.deliveries()
    }
    fn resources(&self) -> &dyn crate::ports::ResourceRepository {
        self.inner.resources()
    }
    fn pushed_requests(&self) -> &dyn crate::ports::PushedRequestRepository {
        self.inner.pushed_requests()
    }
    fn streams(&self) -> &dyn crate::ports::StreamRepository {
        self.inner.streams()
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
            false,
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
        assert!(cached.clients().get_client(&c.id).await.unwrap().is_some());
        // Deleted behind the cache's back (another instance): still served...
        assert!(db.clients().delete_client(&c.id).await.unwrap());
        assert!(cached.clients().get_client(&c.id).await.unwrap().is_some());
        // ...until the entry expires.
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert!(cached.clients().get_client(&c.id).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn own_writes_invalidate_at_once() {
        let (_dir, db) = sqlite().await;
        let cached = CachedStore::new(db.clone(), Duration::from_hours(1));
        let c = create(&cached).await;
        let before = cached.clients().get_client(&c.id).await.unwrap().unwrap();
        let new_hash = TokenHash::of("another secret");
        assert!(
            cached
                .clients()
                .set_client_secret(&c.id, &new_hash, None, Utc::now())
                .await
                .unwrap()
        );
        let after = cached.clients().get_client(&c.id).await.unwrap().unwrap();
        assert_ne!(before.secret_hash, after.secret_hash);
        assert_eq!(after.secret_hash.as_ref(), Some(&new_hash));
        assert!(cached.clients().delete_client(&c.id).await.unwrap());
        assert!(cached.clients().get_client(&c.id).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn zero_ttl_always_reads_the_database() {
        let (_dir, db) = sqlite().await;
        let cached = CachedStore::new(db.clone(), Duration::ZERO);
        let c = create(db.as_ref()).await;
        assert!(cached.clients().get_client(&c.id).await.unwrap().is_some());
        assert!(db.clients().delete_client(&c.id).await.unwrap());
        assert!(cached.clients().get_client(&c.id).await.unwrap().is_none());
    }
}
