//! Per-client-address rate limits on the endpoints whose inventory entry
//! names one (`protocol::endpoints`, [`Endpoint::rate_limit`]): the token
//! endpoint, the authorization endpoint and the login form
//! (`PORTCULLIS_RATE_LIMIT_*_PER_MIN`; docs/OPERATIONS.md).
//!
//! Each limit is a GCRA token bucket (the algorithm of the `governor`
//! crate): one "theoretical arrival time" per address, so an entry is a
//! key and an `Instant`. We keep our own small implementation rather than
//! `governor` because we need a hard bound on memory with a known policy
//! when it is reached, and a clock the tests pass in; the whole thing is a
//! mutex around a `HashMap`.
//!
//! The limiter is applied by path, on the whole router, so that an endpoint
//! gets it from its inventory entry without touching its code.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::config::RateLimits;
use crate::http::extractors::request_client_addr;
use crate::protocol::client_address::address_block;
use crate::protocol::endpoints::Endpoint;
pub use crate::protocol::endpoints::RateLimit as Limited;

/// Most addresses one limiter tracks at once. Past this (after dropping
/// every address whose bucket is full again), new addresses share one
/// overflow bucket: memory stays bounded and a limit stays in force, at the
/// cost of new addresses being limited together during a flood from many
/// addresses.
pub const MAX_TRACKED: usize = 100_000;

/// How often idle entries are swept out.
const SWEEP_EVERY: Duration = Duration::from_mins(1);

const WINDOW: Duration = Duration::from_mins(1);

/// The answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead.
    Allow,
    /// Refused; the bucket has room again after this long.
    Deny {
        /// Time until the next request would be accepted.
        retry_after: Duration,
    },
}

/// One limit: `per_min` requests a minute per address, in bursts of up to
/// `per_min`.
#[derive(Debug)]
pub struct RateLimiter {
    /// Time between two requests at the sustained rate.
    interval: Duration,
    /// How far ahead of now the arrival time may run (burst − 1 intervals).
    tolerance: Duration,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Theoretical arrival time of the next request, per address.
    tat: HashMap<IpAddr, Instant>,
    overflow: Option<Instant>,
    last_sweep: Instant,
    capacity: usize,
}

impl RateLimiter {
    /// A limiter for `per_min` requests a minute, or `None` when `per_min`
    /// is 0 (no limit).
    pub fn per_minute(per_min: u32) -> Option<Self> {
        Self::with_capacity(per_min, MAX_TRACKED)
    }

    fn with_capacity(per_min: u32, capacity: usize) -> Option<Self> {
        if per_min == 0 {
            return None;
        }
        let interval = WINDOW / per_min;
        Some(Self {
            interval,
            tolerance: WINDOW.saturating_sub(interval),
            inner: Mutex::new(Inner {
                tat: HashMap::new(),
                overflow: None,
                last_sweep: Instant::now(),
                capacity,
            }),
        })
    }

    /// Counts a request from `addr` at `now`.
    pub fn check(&self, addr: IpAddr, now: Instant) -> Decision {
        // IPv6 by /64, IPv4 one by one: the rule sign-in throttling keys on.
        let key = address_block(addr);
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if now.saturating_duration_since(inner.last_sweep) >= SWEEP_EVERY {
            inner.sweep(now);
        }
        if !inner.tat.contains_key(&key) && inner.tat.len() >= inner.capacity {
            inner.sweep(now);
        }
        let slot = if inner.tat.contains_key(&key) || inner.tat.len() < inner.capacity {
            inner.tat.entry(key).or_insert(now)
        } else {
            inner.overflow.get_or_insert(now)
        };
        let tat = (*slot).max(now);
        let ahead = tat.saturating_duration_since(now);
        if ahead > self.tolerance {
            return Decision::Deny {
                retry_after: ahead.saturating_sub(self.tolerance),
            };
        }
        *slot = tat + self.interval;
        Decision::Allow
    }

    /// How many addresses are tracked (tests).
    pub fn tracked(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .tat
            .len()
    }
}

impl Inner {
    /// Drops every address whose bucket is full again: forgetting it changes
    /// nothing.
    fn sweep(&mut self, now: Instant) {
        self.tat.retain(|_, tat| *tat > now);
        if self.overflow.is_some_and(|t| t <= now) {
            self.overflow = None;
        }
        self.last_sweep = now;
    }
}

/// Which limit, if any, applies to a request: the one of the endpoint at
/// `path`. Every request to the path counts, whatever its method.
pub fn classify(path: &str) -> Option<Limited> {
    Endpoint::at(path).and_then(Endpoint::rate_limit)
}

/// The limiters of one server.
#[derive(Debug)]
pub struct Limiters {
    token: Option<RateLimiter>,
    authorize: Option<RateLimiter>,
    login: Option<RateLimiter>,
}

impl Limiters {
    /// Limiters for the configured rates.
    pub fn new(limits: RateLimits) -> Self {
        Self {
            token: RateLimiter::per_minute(limits.token_per_min),
            authorize: RateLimiter::per_minute(limits.authorize_per_min),
            login: RateLimiter::per_minute(limits.login_per_min),
        }
    }

    fn get(&self, which: Limited) -> Option<&RateLimiter> {
        match which {
            Limited::Token => self.token.as_ref(),
            Limited::Authorize => self.authorize.as_ref(),
            Limited::Login => self.login.as_ref(),
        }
    }
}

/// The middleware: refuses a request over its address's limit with 429 and
/// `Retry-After` (RFC 6585 §4).
pub async fn enforce(State(limiters): State<Arc<Limiters>>, req: Request, next: Next) -> Response {
    let Some(which) = classify(req.uri().path()) else {
        return next.run(req).await;
    };
    let (Some(limiter), Some(addr)) = (limiters.get(which), request_client_addr(&req)) else {
        return next.run(req).await;
    };
    match limiter.check(addr, Instant::now()) {
        Decision::Allow => next.run(req).await,
        Decision::Deny { retry_after } => {
            tracing::debug!(limit = which.as_str(), "rate limited");
            crate::metrics::rate_limited(which.as_str());
            too_many(which, retry_after)
        }
    }
}

/// Whole seconds to wait, rounded up, at least one.
fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

fn too_many(which: Limited, wait: Duration) -> Response {
    let secs = retry_after_secs(wait);
    let mut resp = match which {
        // RFC 6749 §5.2 error JSON, so that a strict OAuth client can parse
        // it like any token error. `temporarily_unavailable` is the one
        // registered code that means "try again later" (RFC 6749 §4.1.2.1;
        // IANA OAuth Extensions Error Registry); an unregistered code such
        // as `rate_limited` may be refused by a client that maps codes to
        // an enum. The status (429) and `Retry-After` say the rest.
        Limited::Token => {
            let body = serde_json::json!({
                "error": "temporarily_unavailable",
                "error_description": format!(
                    "too many requests from this address; retry after {secs} seconds"
                ),
            });
            let mut r = (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::CONTENT_TYPE, "application/json")],
                Body::from(body.to_string()),
            )
                .into_response();
            crate::error::no_store(&mut r);
            r
        }
        // The pages answer with a page: a redirect to the client would need
        // the client and redirect URI checked, which is the work we refuse.
        Limited::Authorize | Limited::Login => crate::error::render_page(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests",
            "Too many requests came from your network. Wait a moment, then try again.",
        ),
    };
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_burst_of_the_minute_allowance_passes_then_one_per_interval() {
        let l = RateLimiter::per_minute(3).unwrap();
        let t0 = Instant::now();
        let a = ip("203.0.113.1");
        for _ in 0..3 {
            assert_eq!(l.check(a, t0), Decision::Allow);
        }
        let Decision::Deny { retry_after } = l.check(a, t0) else {
            panic!("the fourth request in the same instant must be refused")
        };
        assert_eq!(
            retry_after,
            Duration::from_secs(20),
            "one interval at 3/min"
        );
        assert!(matches!(
            l.check(a, t0 + Duration::from_secs(19)),
            Decision::Deny { .. }
        ));
        assert_eq!(l.check(a, t0 + Duration::from_secs(20)), Decision::Allow);
        assert!(matches!(
            l.check(a, t0 + Duration::from_secs(20)),
            Decision::Deny { .. }
        ));
    }

    #[test]
    fn addresses_have_their_own_buckets_and_ipv6_counts_by_64() {
        let l = RateLimiter::per_minute(1).unwrap();
        let t0 = Instant::now();
        assert_eq!(l.check(ip("203.0.113.1"), t0), Decision::Allow);
        assert_eq!(l.check(ip("203.0.113.2"), t0), Decision::Allow);
        assert!(matches!(
            l.check(ip("203.0.113.1"), t0),
            Decision::Deny { .. }
        ));
        assert_eq!(l.check(ip("2001:db8:0:1::1"), t0), Decision::Allow);
        assert!(
            matches!(l.check(ip("2001:db8:0:1::ffff"), t0), Decision::Deny { .. }),
            "same /64"
        );
        assert_eq!(l.check(ip("2001:db8:0:2::1"), t0), Decision::Allow);
        assert!(
            matches!(l.check(ip("::ffff:203.0.113.2"), t0), Decision::Deny { .. }),
            "a mapped IPv4 address is that address"
        );
    }

    #[test]
    fn memory_is_bounded_and_idle_entries_are_swept() {
        let l = RateLimiter::with_capacity(1, 2).unwrap();
        let t0 = Instant::now();
        assert_eq!(l.check(ip("192.0.2.1"), t0), Decision::Allow);
        assert_eq!(l.check(ip("192.0.2.2"), t0), Decision::Allow);
        // Full: new addresses share the overflow bucket.
        assert_eq!(l.check(ip("192.0.2.3"), t0), Decision::Allow);
        assert!(matches!(
            l.check(ip("192.0.2.4"), t0),
            Decision::Deny { .. }
        ));
        assert_eq!(l.tracked(), 2);
        // A minute later every bucket is full again: the sweep frees room.
        let later = t0 + Duration::from_secs(61);
        assert_eq!(l.check(ip("192.0.2.4"), later), Decision::Allow);
        assert_eq!(l.tracked(), 1);
    }

    #[test]
    fn zero_means_no_limit() {
        assert!(RateLimiter::per_minute(0).is_none());
        let l = Limiters::new(RateLimits::OFF);
        assert!(l.get(Limited::Token).is_none());
    }

    #[test]
    fn paths_are_classified_by_the_inventory() {
        for e in Endpoint::ALL {
            assert_eq!(classify(e.path()), e.rate_limit(), "{e:?}");
        }
        assert_eq!(classify(Endpoint::Token.path()), Some(Limited::Token));
        assert_eq!(
            classify(Endpoint::Authorize.path()),
            Some(Limited::Authorize)
        );
        assert_eq!(classify(Endpoint::Login.path()), Some(Limited::Login));
        assert_eq!(classify(Endpoint::Consent.path()), None);
        assert_eq!(classify("/token/x"), None);
        assert_eq!(classify(Endpoint::Jwks.path()), None);
    }

    #[tokio::test]
    async fn token_refusal_is_oauth_error_json_with_retry_after() {
        let resp = too_many(Limited::Token, Duration::from_millis(1500));
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "2");
        assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-store");
        let body = axum::body::to_bytes(resp.into_body(), 10_000)
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"], "temporarily_unavailable");
        assert!(v["error_description"].as_str().unwrap().contains("retry"));
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(10)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(20)), 20);
        assert_eq!(retry_after_secs(Duration::from_millis(20_001)), 21);
    }
}
