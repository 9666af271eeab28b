//! Clients' JWK Sets from their `jwks_uri` for `private_key_jwt` (RFC 7523),
//! fetched through the one outbound client ([`OutboundHttp`]) and cached
//! per `jwks_uri` (each client registers its own).
//!
//! The cache keeps a set for `PORTCULLIS_CLIENT_JWKS_CACHE_SECS`. A request
//! to bypass it (an assertion whose `kid` is not in the cached set: the
//! client may have rotated) refetches only when the set is older than
//! `PORTCULLIS_CLIENT_JWKS_REFETCH_FLOOR_SECS`, so bad signatures cannot
//! make the server fetch at the attacker's pace. A failed fetch is
//! remembered for the floor as well, and one fetch per URI runs at a time
//! (concurrent requests wait for it).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::ports::outbound::OutboundHttp;
use crate::protocol::client_auth::ClientJwksFetcher;

/// Largest JWK Set accepted.
pub const MAX_JWKS_BYTES: usize = 64 * 1024;

/// How long sets are kept and how often they may be refetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JwksCachePolicy {
    /// How long a fetched set is reused.
    pub ttl: Duration,
    /// The shortest time between two fetches of one URI (forced refreshes
    /// and retries after a failure included).
    pub refetch_floor: Duration,
}

#[derive(Default)]
struct Entry {
    fetched: Option<(Instant, Result<String, String>)>,
}

/// [`ClientJwksFetcher`] over the outbound port, with the cache above.
pub struct HttpJwksFetcher {
    outbound: Arc<dyn OutboundHttp>,
    policy: JwksCachePolicy,
    cache: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Entry>>>>,
}

impl HttpJwksFetcher {
    /// A fetcher that sends its requests through `outbound`.
    pub fn new(outbound: Arc<dyn OutboundHttp>, policy: JwksCachePolicy) -> Self {
        Self {
            outbound,
            policy,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn entry(&self, uri: &str) -> Arc<tokio::sync::Mutex<Entry>> {
        let mut map = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.entry(uri.to_owned()).or_default().clone()
    }

    async fn download(&self, uri: &str) -> Result<String, String> {
        let resp = self
            .outbound
            .get(
                uri,
                "application/jwk-set+json, application/json",
                MAX_JWKS_BYTES,
            )
            .await
            .map_err(|e| e.to_string())?;
        if !(200..300).contains(&resp.status) {
            return Err(format!("jwks_uri answered {}", resp.status));
        }
        String::from_utf8(resp.body).map_err(|e| e.to_string())
    }
}

#[async_trait]
impl ClientJwksFetcher for HttpJwksFetcher {
    async fn fetch(&self, uri: &str, refresh: bool) -> Result<String, String> {
        let entry = self.entry(uri);
        // One fetch per URI at a time: the others wait and use its result.
        let mut entry = entry.lock().await;
        if let Some((at, result)) = &entry.fetched {
            // A forced refresh, or a retry after a failure, waits for the
            // floor; a set is kept for its time to live, never less than
            // the floor (a zero TTL does not lift the floor).
            let keep = match result {
                Ok(_) if !refresh => self.policy.ttl.max(self.policy.refetch_floor),
                _ => self.policy.refetch_floor,
            };
            if at.elapsed() < keep {
                return result.clone();
            }
        }
        let result = self.download(uri).await;
        entry.fetched = Some((Instant::now(), result.clone()));
        result
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::ports::outbound::{OutboundError, OutboundResponse};

    struct Counting(AtomicUsize, bool);

    #[async_trait]
    impl OutboundHttp for Counting {
        async fn get(&self, _: &str, _: &str, _: usize) -> Result<OutboundResponse, OutboundError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            if self.1 {
                Ok(OutboundResponse {
                    status: 200,
                    content_type: None,
                    body: b"{\"keys\":[]}".to_vec(),
                })
            } else {
                Err(OutboundError::Timeout)
            }
        }
        async fn post_form(
            &self,
            _: &str,
            _: &[(&str, &str)],
            _: usize,
        ) -> Result<OutboundResponse, OutboundError> {
            unreachable!()
        }
        async fn post(
            &self,
            _: &str,
            _: &str,
            _: Option<&str>,
            _: Vec<u8>,
            _: usize,
        ) -> Result<OutboundResponse, OutboundError> {
            unreachable!()
        }
    }

    fn fetcher(ok: bool) -> (Arc<Counting>, HttpJwksFetcher) {
        let counting = Arc::new(Counting(AtomicUsize::new(0), ok));
        let policy = JwksCachePolicy {
            // No cache at all still keeps the floor.
            ttl: Duration::ZERO,
            refetch_floor: Duration::from_mins(1),
        };
        (counting.clone(), HttpJwksFetcher::new(counting, policy))
    }

    #[tokio::test]
    async fn forced_refreshes_and_failures_wait_for_the_floor() {
        let (count, f) = fetcher(true);
        for refresh in [false, true, true, false, true] {
            f.fetch("https://rp.example/jwks", refresh).await.unwrap();
        }
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        f.fetch("https://other.example/jwks", true).await.unwrap();
        assert_eq!(count.0.load(Ordering::SeqCst), 2, "per URI");

        let (count, f) = fetcher(false);
        for refresh in [false, true, false] {
            assert!(f.fetch("https://rp.example/jwks", refresh).await.is_err());
        }
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "a failure is remembered");
    }
}
