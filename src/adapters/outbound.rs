//! The hardened outbound HTTP client ([`OutboundHttp`] over reqwest): the
//! one client for every request the server makes to a URL a client
//! registered. What it enforces, each time:
//!
//! - the URL rule of [`destination::check_outbound_url`]: `https` only and
//!   no literal internal address (`http` and loopback/private only with
//!   `PORTCULLIS_OUTBOUND_ALLOW_INSECURE`, for development and tests);
//! - the address rule at connect time: names are resolved by
//!   [`FilteringResolver`], which hands reqwest only the addresses that
//!   [`destination::may_connect`] admits, so the connection goes to an
//!   address that was checked (a name that resolves, or rebinds, to
//!   127.0.0.1 or 169.254.169.254 gets no connection at all);
//! - no proxy from the environment (`HTTPS_PROXY` would route around the
//!   address rule), no redirects (a 3xx is returned as it is), a connect
//!   timeout and a total timeout;
//! - a body cap enforced while streaming: reading stops at the cap and the
//!   connection is dropped, so a huge document costs at most the cap.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::domain::destination;
use crate::ports::outbound::{OutboundError, OutboundHttp, OutboundResponse};

/// The limits of the outbound client (`PORTCULLIS_OUTBOUND_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboundLimits {
    /// Permit `http` and loopback/private destinations (development only).
    pub allow_insecure: bool,
    /// Longest wait for a connection (TCP and TLS).
    pub connect_timeout: Duration,
    /// Longest wait for the whole exchange, body included.
    pub timeout: Duration,
    /// Largest body read, whatever a caller asks.
    pub max_response_bytes: usize,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The resolver error that says every address was refused; found again in
/// the error chain to answer [`OutboundError::Refused`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct RefusedAddresses(String);

/// Resolves names with the system resolver and keeps only the addresses
/// the destination rule admits: reqwest connects to nothing else.
struct FilteringResolver {
    allow_insecure: bool,
}

impl Resolve for FilteringResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_insecure = self.allow_insecure;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let all: Vec<SocketAddr> = match tokio::net::lookup_host((host.as_str(), 0)).await {
                Ok(addrs) => addrs.collect(),
                Err(e) => return Err(Box::new(e) as BoxError),
            };
            let allowed: Vec<SocketAddr> = all
                .iter()
                .copied()
                .filter(|a| destination::may_connect(a.ip(), allow_insecure))
                .collect();
            if allowed.is_empty() {
                let shown: Vec<String> = all.iter().map(|a| a.ip().to_string()).collect();
                return Err(Box::new(RefusedAddresses(format!(
                    "{host} resolves only to internal addresses ({})",
                    shown.join(", ")
                ))) as BoxError);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// [`OutboundHttp`] over reqwest, with the rules above.
pub struct HardenedOutbound {
    http: reqwest::Client,
    limits: OutboundLimits,
}

impl HardenedOutbound {
    /// Builds the client.
    pub fn new(limits: OutboundLimits) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .https_only(!limits.allow_insecure)
            .connect_timeout(limits.connect_timeout)
            .timeout(limits.timeout)
            .dns_resolver(Arc::new(FilteringResolver {
                allow_insecure: limits.allow_insecure,
            }))
            .user_agent(concat!("portcullis/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { http, limits })
    }

    /// The limits in force.
    pub fn limits(&self) -> OutboundLimits {
        self.limits
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        max_bytes: usize,
    ) -> Result<OutboundResponse, OutboundError> {
        let cap = max_bytes.min(self.limits.max_response_bytes);
        // reqwest's timeout covers the body too; this one also bounds the
        // resolver, whatever reqwest does.
        tokio::time::timeout(self.limits.timeout, Self::exchange(request, cap))
            .await
            .map_err(|_| OutboundError::Timeout)?
    }

    async fn exchange(
        request: reqwest::RequestBuilder,
        cap: usize,
    ) -> Result<OutboundResponse, OutboundError> {
        let mut resp = request.send().await.map_err(|e| map_error(&e))?;
        let cap_u64 = u64::try_from(cap).unwrap_or(u64::MAX);
        if resp.content_length().is_some_and(|n| n > cap_u64) {
            return Err(OutboundError::TooLarge { limit: cap });
        }
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| map_error(&e))? {
            if body.len() + chunk.len() > cap {
                // Dropping the response closes the connection: nothing more
                // is read.
                return Err(OutboundError::TooLarge { limit: cap });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(OutboundResponse {
            status,
            content_type,
            body,
        })
    }

    fn checked(&self, url: &str) -> Result<reqwest::Url, OutboundError> {
        destination::check_outbound_url(url, self.limits.allow_insecure)
            .map_err(|e| OutboundError::Refused(format!("{url}: {e}")))
    }
}

fn map_error(e: &reqwest::Error) -> OutboundError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(refused) = err.downcast_ref::<RefusedAddresses>() {
            return OutboundError::Refused(refused.0.clone());
        }
        source = err.source();
    }
    if e.is_timeout() {
        OutboundError::Timeout
    } else {
        OutboundError::Transport(e.to_string())
    }
}

#[async_trait]
impl OutboundHttp for HardenedOutbound {
    async fn get(
        &self,
        url: &str,
        accept: &str,
        max_bytes: usize,
    ) -> Result<OutboundResponse, OutboundError> {
        let url = self.checked(url)?;
        let request = self.http.get(url).header(reqwest::header::ACCEPT, accept);
        self.send(request, max_bytes).await
    }

    async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        max_bytes: usize,
    ) -> Result<OutboundResponse, OutboundError> {
        let url = self.checked(url)?;
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let request = self
            .http
            .post(url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body);
        self.send(request, max_bytes).await
    }

    async fn post(
        &self,
        url: &str,
        content_type: &str,
        authorization: Option<&str>,
        body: Vec<u8>,
        max_bytes: usize,
    ) -> Result<OutboundResponse, OutboundError> {
        let url = self.checked(url)?;
        let mut request = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .header(reqwest::header::ACCEPT, "application/json")
            .body(body);
        if let Some(value) = authorization {
            let mut value = reqwest::header::HeaderValue::from_str(value)
                .map_err(|_| OutboundError::Refused("malformed authorization header".into()))?;
            value.set_sensitive(true);
            request = request.header(reqwest::header::AUTHORIZATION, value);
        }
        self.send(request, max_bytes).await
    }
}
