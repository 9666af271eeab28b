//! The outbound HTTP port: every request the server makes to a URL that a
//! client registered (a `jwks_uri` today; back-channel logout, request
//! objects and webhooks later) goes through one [`OutboundHttp`], whose
//! adapter (`adapters::outbound`) enforces the destination rule of
//! `domain::destination` on the addresses it connects to, the timeouts and
//! the body cap. Callers never build an HTTP client of their own.

use async_trait::async_trait;

/// A response read within the limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundResponse {
    /// The status code (any: a redirect is returned, never followed).
    pub status: u16,
    /// The `Content-Type`, if any.
    pub content_type: Option<String>,
    /// The body, at most the cap given to the call.
    pub body: Vec<u8>,
}

/// Why an outbound request failed. Nothing is retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    /// The URL or an address it resolved to may not be called
    /// (`domain::destination`).
    #[error("destination refused: {0}")]
    Refused(String),
    /// The connection or the whole exchange took too long.
    #[error("timed out")]
    Timeout,
    /// The body was larger than the cap; reading stopped at the cap.
    #[error("response body larger than {limit} bytes")]
    TooLarge {
        /// The cap.
        limit: usize,
    },
    /// The connection failed (refused, reset, TLS, protocol).
    #[error("request failed: {0}")]
    Transport(String),
}

/// Makes requests to URLs that clients registered.
#[async_trait]
pub trait OutboundHttp: Send + Sync {
    /// `GET url` (with `Accept: accept`), reading at most `max_bytes` of
    /// body (capped further by the adapter's own limit).
    async fn get(
        &self,
        url: &str,
        accept: &str,
        max_bytes: usize,
    ) -> Result<OutboundResponse, OutboundError>;

    /// `POST url` with an `application/x-www-form-urlencoded` body (e.g. a
    /// back-channel logout token), reading at most `max_bytes` of the
    /// answer.
    async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        max_bytes: usize,
    ) -> Result<OutboundResponse, OutboundError>;

    /// POSTs `body` as `content_type` (with `authorization` as the
    /// `Authorization` header when given) to `url`: a Shared Signals SET
    /// (RFC 8935, `application/secevent+jwt`). The same rules as
    /// [`OutboundHttp::get`].
    async fn post(
        &self,
        url: &str,
        content_type: &str,
        authorization: Option<&str>,
        body: Vec<u8>,
        max_bytes: usize,
    ) -> Result<OutboundResponse, OutboundError>;
}
