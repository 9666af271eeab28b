//! Fetching clients' JWK Sets from their `jwks_uri` for `private_key_jwt`
//! (RFC 7523), with a short cache, a timeout and a size limit.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::Mutex;

use crate::protocol::client_auth::ClientJwksFetcher;

/// Largest JWK Set accepted.
const MAX_BYTES: usize = 64 * 1024;
/// How long a fetched set is reused.
const TTL: Duration = Duration::from_mins(5);

/// [`ClientJwksFetcher`] over reqwest.
pub struct HttpJwksFetcher {
    http: reqwest::Client,
    cache: Mutex<HashMap<String, (Instant, String)>>,
}

impl HttpJwksFetcher {
    /// A fetcher with a 5 s timeout that does not follow redirects.
    pub fn new() -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            http,
            cache: Mutex::new(HashMap::new()),
        })
    }
}

#[async_trait]
impl ClientJwksFetcher for HttpJwksFetcher {
    async fn fetch(&self, uri: &str, refresh: bool) -> Result<String, String> {
        if !refresh
            && let Some((at, body)) = self.cache.lock().await.get(uri)
            && at.elapsed() < TTL
        {
            return Ok(body.clone());
        }
        let resp = self.http.get(uri).send().await.map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("jwks_uri answered {}", resp.status()));
        }
        let bytes = resp.bytes().await.map_err(|e| e.to_string())?;
        if bytes.len() > MAX_BYTES {
            return Err("jwks_uri document is too large".into());
        }
        let body = String::from_utf8(bytes.to_vec()).map_err(|e| e.to_string())?;
        self.cache
            .lock()
            .await
            .insert(uri.to_owned(), (Instant::now(), body.clone()));
        Ok(body)
    }
}
