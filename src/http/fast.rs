//! The fast path for the public documents: `GET` of the discovery document
//! and of the JWK Set, the two requests relying parties make most and the
//! two whose answer is the same bytes for everyone (issue 9 §5).
//!
//! [`FastDocuments`] sits in front of the router. For exactly these
//! requests it answers from the pre-serialized bytes (the discovery document
//! built at start, the JWK Set the key ring rebuilds on every key change),
//! with the very headers the router and its middleware would add: entity
//! tag and `304`, `Cache-Control`, CORS for any origin, the security
//! headers, and the request id (echoed, or made). It skips the per-request
//! work that buys nothing for a static document: the tracing span, the
//! timeout timer, the body limit, the route lookup and the middleware
//! chain's clones. It writes the same access-log line as the router
//! (`middleware::access_log`) when that log is on. `tests/api/documents.rs` holds the two paths to the same
//! response, header for header. Everything else, including `HEAD` and
//! `OPTIONS` of these paths, goes to the router unchanged.
//!
//! Measured in docs/BENCHMARKS.md ("Where the time goes").

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use axum::response::Response;
use futures_util::future::{Either, Ready, ready};
use tower::Service;
use tower_http::request_id::{MakeRequestId as _, MakeRequestUuid};

use super::cors;
use super::middleware::{REQUEST_ID, access_log, security_headers};
use super::routes::{discovery, jwks};
use crate::metrics::RouteMetrics;
use crate::protocol::endpoints::Endpoint;
use crate::state::AppState;

/// The documents of the fast path, in the order of [`Documents::metrics`].
const DOCUMENTS: [Endpoint; 3] = [Endpoint::Discovery, Endpoint::Jwks, Endpoint::JwksWellKnown];

/// What the fast path serves, and the headers it adds to every answer.
pub struct Documents {
    state: AppState,
    discovery: Arc<discovery::Published>,
    headers: HeaderMap,
    metrics: [RouteMetrics; 3],
    /// `PORTCULLIS_ACCESS_LOG`.
    access_log: bool,
}

impl Documents {
    /// The documents of `state`: the discovery document is serialized now.
    pub fn new(state: &AppState) -> Arc<Self> {
        // What the public CORS layer adds to a `GET` (`cors.rs`).
        let mut headers = cors::public_get_headers();
        // What `middleware::apply` adds to every response.
        for (name, value) in security_headers(&state.config) {
            if let Some(value) = value {
                headers.insert(name, value);
            }
        }
        Arc::new(Self {
            state: state.clone(),
            discovery: discovery::publish(state),
            headers,
            metrics: DOCUMENTS.map(|e| RouteMetrics::get(e.path())),
            access_log: state.config.access_log,
        })
    }

    /// The discovery document (the router serves the same bytes).
    pub fn discovery(&self) -> Arc<discovery::Published> {
        self.discovery.clone()
    }

    /// The answer to `req`, when it is a `GET` of a document.
    fn answer(&self, req: &Request<Body>) -> Option<Response> {
        if req.method() != Method::GET {
            return None;
        }
        let started = Instant::now();
        let path = req.uri().path();
        let which = DOCUMENTS.iter().position(|e| e.path() == path)?;
        let mut resp = match DOCUMENTS[which] {
            Endpoint::Discovery => discovery::respond(req.headers(), &self.discovery),
            _ => jwks::respond(&self.state, req.headers()),
        };
        // axum's router states the length of a sized body; so do we.
        let length = axum::body::HttpBody::size_hint(resp.body()).exact();
        let h = resp.headers_mut();
        if let Some(n) = length.filter(|_| !h.contains_key(header::CONTENT_LENGTH)) {
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
        }
        for (name, value) in &self.headers {
            h.insert(name, value.clone());
        }
        let id = req.headers().get(&REQUEST_ID).cloned().or_else(|| {
            MakeRequestUuid
                .make_request_id(req)
                .map(tower_http::request_id::RequestId::into_header_value)
        });
        let not_modified = resp.status() == StatusCode::NOT_MODIFIED;
        let elapsed = started.elapsed();
        self.metrics[which].record(not_modified, elapsed);
        if self.access_log {
            let status = resp.status().as_u16();
            access_log(req.method(), path, status, elapsed, id.as_ref());
        }
        if let Some(id) = id {
            resp.headers_mut().insert(REQUEST_ID, id);
        }
        Some(resp)
    }
}

/// The router (`S`) with the fast path in front of it.
#[derive(Clone)]
pub struct FastDocuments<S> {
    inner: S,
    docs: Arc<Documents>,
}

impl<S> FastDocuments<S> {
    /// Puts the fast path in front of `inner`.
    pub fn new(inner: S, docs: Arc<Documents>) -> Self {
        Self { inner, docs }
    }
}

impl<S> Service<Request<Body>> for FastDocuments<S>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Ready<Result<Response, Infallible>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        match self.docs.answer(&req) {
            Some(resp) => Either::Left(ready(Ok(resp))),
            None => Either::Right(self.inner.call(req)),
        }
    }
}
