//! Request extractors shared by handlers: the client address, the form
//! body, the raw query, and the authenticated client of the endpoints that
//! authenticate clients.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Request, header};

use crate::config::TrustedProxies;
use crate::domain::Client;
use crate::error::{AppError, AuthScheme};
use crate::http::audit::{self, RequestMeta};
use crate::protocol::client_auth::{self, ClientAuthCtx};
use crate::protocol::endpoints::Endpoint;
use crate::protocol::error::OAuthError;
use crate::protocol::params::RawParams;
use crate::state::AppState;

/// Whether the body is `application/x-www-form-urlencoded` (RFC 6749 §3.2).
pub fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// The `Authorization` header, when it is text.
pub fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}

/// An `application/x-www-form-urlencoded` body, parsed (RFC 6749 §3.2:
/// another content type is `invalid_request`, as JSON).
#[derive(Debug)]
pub struct Form(pub RawParams);

impl<S: Send + Sync> FromRequest<S> for Form {
    type Rejection = AppError;

    async fn from_request(req: Request<axum::body::Body>, state: &S) -> Result<Self, AppError> {
        if !is_form(req.headers()) {
            return Err(AppError::Token(
                OAuthError::invalid_request("the body must be application/x-www-form-urlencoded"),
                AuthScheme::Other,
            ));
        }
        let body = Bytes::from_request(req, state)
            .await
            .map_err(AppError::Body)?;
        Ok(Self(RawParams::parse(&body)))
    }
}

/// The form body of a POST that has one (any other request: `None`), for
/// endpoints that take their parameters from the query or the body.
#[derive(Debug)]
pub struct OptionalForm(pub Option<RawParams>);

impl<S: Send + Sync> FromRequest<S> for OptionalForm {
    type Rejection = AppError;

    async fn from_request(req: Request<axum::body::Body>, state: &S) -> Result<Self, AppError> {
        if req.method() != axum::http::Method::POST || !is_form(req.headers()) {
            return Ok(Self(None));
        }
        Form::from_request(req, state)
            .await
            .map(|Form(f)| Self(Some(f)))
    }
}

/// The form body of a hosted page's POST (login, consent, logout
/// confirmation): another content type or a repeated parameter is an error
/// page (docs/SECURITY.md invariant 13: bad input changes nothing).
#[derive(Debug)]
pub struct PageForm(pub RawParams);

impl<S: Send + Sync> FromRequest<S> for PageForm {
    type Rejection = AppError;

    async fn from_request(req: Request<axum::body::Body>, state: &S) -> Result<Self, AppError> {
        let bad = || {
            AppError::page(
                axum::http::StatusCode::BAD_REQUEST,
                "Cannot continue",
                "The form was incomplete or sent twice. Go back to the application and start again.",
            )
        };
        if !is_form(req.headers()) {
            return Err(bad());
        }
        let body = Bytes::from_request(req, state)
            .await
            .map_err(AppError::Body)?;
        let form = RawParams::parse(&body);
        if form.first_repeated().is_some() {
            return Err(bad());
        }
        Ok(Self(form))
    }
}

/// The raw query string, parsed (`RawParams` keeps repeated parameters
/// visible, which serde-based extractors hide).
#[derive(Debug)]
pub struct Query(pub RawParams);

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        Ok(Self(RawParams::parse(
            parts.uri.query().unwrap_or_default().as_bytes(),
        )))
    }
}

/// A request of an endpoint that authenticates clients (token, revocation,
/// introspection, and those to come): the form body, and the client that
/// [`client_auth::authenticate_request`] authenticated. A refusal is
/// rendered as RFC 6749 §5.2 JSON (a Basic challenge only when Basic was
/// used), logged, and recorded as `client_authentication_failed` with the
/// endpoint (the last path segment) when the client failed to authenticate.
#[derive(Debug)]
pub struct AuthenticatedClient {
    /// The authenticated client.
    pub client: Client,
    /// The form.
    pub form: RawParams,
    /// The challenge scheme for later `invalid_client` errors.
    pub scheme: AuthScheme,
}

impl FromRequest<AppState> for AuthenticatedClient {
    type Rejection = AppError;

    async fn from_request(
        req: Request<axum::body::Body>,
        state: &AppState,
    ) -> Result<Self, AppError> {
        let (mut parts, body) = req.into_parts();
        let Ok(meta) = RequestMeta::from_request_parts(&mut parts, state).await;
        let endpoint = parts
            .uri
            .path()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let authorization = authorization(&parts.headers).map(str::to_owned);
        // RFC 9126 §2: the pushed authorization request endpoint also
        // accepts its own URL as an assertion's audience.
        let par = (parts.uri.path() == Endpoint::Par.path())
            .then(|| state.config.endpoint(Endpoint::Par.path()));
        let Form(form) = Form::from_request(Request::from_parts(parts, body), state).await?;
        let t = &state.tokens;
        let mut audiences = vec![t.token_endpoint.as_str(), t.issuer.as_str()];
        audiences.extend(par.as_deref());
        let ctx = ClientAuthCtx {
            store: state.store.as_ref(),
            fetcher: state.client_jwks.as_ref(),
            audiences: &audiences,
            issuer: t.issuer.as_str(),
            now: state.clock.now(),
        };
        match client_auth::authenticate_request(&ctx, authorization.as_deref(), &form).await {
            Ok(client) => {
                let scheme = if client_auth::method_used(authorization.as_deref(), &form)
                    == "client_secret_basic"
                {
                    AuthScheme::Basic
                } else {
                    AuthScheme::Other
                };
                Ok(Self {
                    client,
                    form,
                    scheme,
                })
            }
            Err(f) => {
                tracing::info!(
                    endpoint,
                    client_id = f.client_id.as_deref(),
                    method = f.method,
                    error = f.error.code.as_str(),
                    "client request refused"
                );
                if f.is_auth_failure() {
                    audit::client_auth_failed(
                        state,
                        &meta,
                        f.client_id.as_deref(),
                        f.method,
                        &endpoint,
                    );
                }
                let scheme = if f.basic {
                    AuthScheme::Basic
                } else {
                    AuthScheme::Other
                };
                Err(AppError::Token(f.error, scheme))
            }
        }
    }
}

/// The `X-Forwarded-For` header (de facto standard; RFC 7239 `Forwarded`
/// is not read).
pub const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// The client's address: the connection's peer, or, when the peer is a
/// trusted proxy (`PORTCULLIS_TRUSTED_PROXIES`), the right-most address in
/// `X-Forwarded-For` that is not itself a trusted proxy. See
/// [`client_addr`].
#[derive(Debug, Clone)]
pub struct ClientIp(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let ip = resolve(&parts.extensions, &parts.headers)
            .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
        Ok(Self(ip))
    }
}

/// The client address of a request (for middleware, which holds the whole
/// request rather than its parts).
pub fn request_client_addr<B>(req: &Request<B>) -> Option<IpAddr> {
    resolve(req.extensions(), req.headers())
}

fn resolve(extensions: &axum::http::Extensions, headers: &HeaderMap) -> Option<IpAddr> {
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())?;
    match extensions.get::<Arc<TrustedProxies>>() {
        Some(proxies) => Some(client_addr(peer, headers, proxies)),
        None => Some(peer.to_canonical()),
    }
}

/// The client address given the connection's `peer`.
///
/// `X-Forwarded-For` is read only when `peer` is a trusted proxy, since
/// anyone else can write anything there. Each proxy appends the address it
/// received the request from, so the list is read from the right: trusted
/// proxies are skipped and the first address that is not one is the
/// client. An entry that is not an address stops the walk at the last
/// trusted hop (it was written by someone we do not trust). If every entry
/// is trusted, the left-most one is the client.
pub fn client_addr(peer: IpAddr, headers: &HeaderMap, proxies: &TrustedProxies) -> IpAddr {
    let mut client = peer.to_canonical();
    if proxies.is_empty() || !proxies.contains(client) {
        return client;
    }
    // Several header lines form one list, in order (RFC 9110 §5.3).
    let entries: Vec<&str> = headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    for entry in entries.iter().rev() {
        let Some(hop) = parse_hop(entry) else {
            return client;
        };
        client = hop;
        if !proxies.contains(hop) {
            return hop;
        }
    }
    client
}

/// One `X-Forwarded-For` entry: an address, optionally with a port
/// (`1.2.3.4:80`, `[::1]:80`), as some proxies write them.
fn parse_hop(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    entry
        .parse::<SocketAddr>()
        .ok()
        .map(|s| s.ip().to_canonical())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append(X_FORWARDED_FOR, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy() {
        let none = TrustedProxies::default();
        let h = headers(&["203.0.113.9"]);
        assert_eq!(
            client_addr(ip("198.51.100.1"), &h, &none),
            ip("198.51.100.1")
        );
        let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
        assert_eq!(
            client_addr(ip("198.51.100.1"), &h, &proxies),
            ip("198.51.100.1"),
            "a direct client cannot pick its address"
        );
        assert_eq!(client_addr(ip("10.0.0.2"), &h, &proxies), ip("203.0.113.9"));
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let proxies = TrustedProxies::parse("10.0.0.0/8, 192.0.2.1").unwrap();
        // The client forged "1.1.1.1"; our proxies appended the real hops.
        let h = headers(&["1.1.1.1, 203.0.113.9", "192.0.2.1, 10.0.0.7"]);
        assert_eq!(client_addr(ip("10.0.0.2"), &h, &proxies), ip("203.0.113.9"));
    }

    #[test]
    fn all_trusted_hops_give_the_leftmost_and_no_header_gives_the_peer() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let h = headers(&["10.1.1.1, 10.2.2.2"]);
        assert_eq!(client_addr(ip("10.0.0.2"), &h, &proxies), ip("10.1.1.1"));
        assert_eq!(
            client_addr(ip("10.0.0.2"), &HeaderMap::new(), &proxies),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn a_malformed_entry_stops_at_the_last_trusted_hop() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let h = headers(&["203.0.113.9, garbage, 10.0.0.9"]);
        assert_eq!(client_addr(ip("10.0.0.2"), &h, &proxies), ip("10.0.0.9"));
    }

    #[test]
    fn ports_and_mapped_addresses_are_normalized() {
        let proxies = TrustedProxies::parse("127.0.0.1").unwrap();
        let h = headers(&["[2001:db8::1]:4711, 203.0.113.9:80"]);
        assert_eq!(
            client_addr(ip("::ffff:127.0.0.1"), &h, &proxies),
            ip("203.0.113.9")
        );
        let h = headers(&["[2001:db8::1]:4711"]);
        assert_eq!(
            client_addr(ip("127.0.0.1"), &h, &proxies),
            ip("2001:db8::1")
        );
    }
}
