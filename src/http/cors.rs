//! CORS for the endpoints a browser application calls directly. Never on
//! the pages (`/authorize`, `/login`, `/consent`, `/logout`): those are
//! navigated to, not fetched, and must not be readable from another origin.
//!
//! Two kinds of path, as the endpoint inventory (`protocol::endpoints`,
//! [`Endpoint::cors`]) says:
//! - the public documents ([`CorsPolicy::Public`]: discovery and JWKS) are
//!   readable from any origin (`Access-Control-Allow-Origin: *`, as their
//!   handlers already send): they hold nothing secret and anyone can fetch
//!   them server-side, so a list of origins would protect nothing and only
//!   break browser-based relying parties;
//! - the API endpoints ([`CorsPolicy::Api`]: token, userinfo, revoke and
//!   introspect) answer only the origins in
//!   `PORTCULLIS_CORS_ALLOWED_ORIGINS` (none by default).
//!
//! Applied by path on the whole router, so that an endpoint gets it from
//! its inventory entry without touching its code; preflight requests on
//! those paths are answered here. A path no route serves gets none.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use futures_util::FutureExt as _;
use futures_util::future::ready;
use tower::{Layer as _, ServiceExt as _, service_fn};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::CorsOrigins;
use crate::protocol::endpoints::{CorsPolicy, Endpoint};

/// The CORS policy of `path`, if any.
pub fn policy(path: &str) -> Option<CorsPolicy> {
    Endpoint::at(path).and_then(Endpoint::cors)
}

/// Whether `path` gets CORS headers (for some origin).
pub fn is_cors_path(path: &str) -> bool {
    policy(path).is_some()
}

/// The CORS policies of one server.
#[derive(Debug, Clone)]
pub struct Cors {
    public: CorsLayer,
    api: Option<CorsLayer>,
}

impl Cors {
    /// The policies for the configured API origins.
    pub fn new(origins: &CorsOrigins) -> Self {
        Self {
            public: public_layer(),
            api: api_layer(origins),
        }
    }
}

/// The CORS layer of the public documents ([`CorsPolicy::Public`]).
fn public_layer() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::any())
        .allow_methods([Method::GET, Method::HEAD])
        .allow_headers([header::IF_NONE_MATCH])
        .expose_headers([header::ETAG])
        .max_age(Duration::from_hours(1))
}

/// The headers the public CORS layer adds to a `GET` (a simple request),
/// for the fast path (`http::fast`), which answers the public documents in
/// front of the router and must add the very same ones.
///
/// Taken from the layer itself, by running it once over an empty response,
/// rather than restated: which headers it adds (`Vary` in particular) is
/// tower-http's choice and changes between its versions. For this policy
/// they do not depend on the request (any origin, fixed method and header
/// lists), which the tests below hold.
pub fn public_get_headers() -> HeaderMap {
    // A `GET /`, no headers.
    headers_added(&public_layer(), Request::new(Body::empty()))
}

/// What `layer` adds to the response to `req` (an empty `200` from the
/// inner service). Empty if the layer did not answer at once, which it
/// always does: the inner response is ready and no origin is computed.
fn headers_added(layer: &CorsLayer, req: Request) -> HeaderMap {
    let inner = service_fn(|_: Request| ready(Ok::<_, Infallible>(Response::new(Body::empty()))));
    match layer.layer(inner).oneshot(req).now_or_never() {
        Some(Ok(resp)) => resp.into_parts().0.headers,
        Some(Err(never)) => match never {},
        None => HeaderMap::new(),
    }
}

/// The CORS layer of the API endpoints for the configured origins, or
/// `None` when no origin is allowed (no CORS headers at all).
pub fn api_layer(origins: &CorsOrigins) -> Option<CorsLayer> {
    let allow = match origins {
        CorsOrigins::None => return None,
        CorsOrigins::Any => AllowOrigin::any(),
        CorsOrigins::List(list) => AllowOrigin::list(
            list.iter()
                .filter_map(|o| HeaderValue::from_str(o).ok())
                .collect::<Vec<_>>(),
        ),
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST])
            // RFC 9449 §4.1: a browser client sends its proof in `DPoP`.
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("dpop"),
            ])
            // Bearer and DPoP errors (RFC 6750 §3, RFC 9449 §7.1), server
            // nonces (RFC 9449 §8) and throttling must be readable.
            .expose_headers([
                header::WWW_AUTHENTICATE,
                header::RETRY_AFTER,
                HeaderName::from_static("dpop-nonce"),
            ])
            // No cookies are involved: credentials are never allowed.
            .allow_credentials(false)
            .max_age(Duration::from_mins(10)),
    )
}

/// The middleware: the public policy on [`CorsPolicy::Public`] paths, the
/// configured one on [`CorsPolicy::Api`] paths, nothing elsewhere.
pub async fn apply(State(cors): State<Arc<Cors>>, req: Request, next: Next) -> Response {
    let layer = match policy(req.uri().path()) {
        Some(CorsPolicy::Public) => Some(&cors.public),
        Some(CorsPolicy::Api) => cors.api.as_ref(),
        None => None,
    };
    let Some(layer) = layer else {
        return next.run(req).await;
    };
    match layer.layer(next).oneshot(req).await {
        Ok(resp) => resp,
        Err(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths_get_cors_and_pages_do_not() {
        for e in Endpoint::ALL {
            assert_eq!(policy(e.path()), e.cors(), "{e:?}");
        }
        assert_eq!(policy(Endpoint::Jwks.path()), Some(CorsPolicy::Public));
        assert_eq!(policy(Endpoint::Token.path()), Some(CorsPolicy::Api));
        assert!(!is_cors_path(Endpoint::Authorize.path()));
        // Not served, so no CORS either.
        assert!(!is_cors_path("/.well-known/oauth-authorization-server"));
        assert!(!is_cors_path("/token/x"));
    }

    /// The fast path adds [`public_get_headers`] whatever the request: the
    /// public layer must add the same to every `GET`, with or without an
    /// origin or conditional headers.
    #[test]
    fn public_get_headers_do_not_depend_on_the_request() {
        let headers = public_get_headers();
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert_eq!(headers[header::ACCESS_CONTROL_EXPOSE_HEADERS], "etag");
        // Preflight-only headers are not part of a simple response.
        assert!(!headers.contains_key(header::ACCESS_CONTROL_MAX_AGE));
        assert!(!headers.contains_key(header::ACCESS_CONTROL_ALLOW_METHODS));
        for extra in [
            &[][..],
            &[(header::ORIGIN, "https://rp.example")],
            &[(header::ORIGIN, "null")],
            &[(header::IF_NONE_MATCH, "\"x\"")],
            &[
                (header::ORIGIN, "https://other.example"),
                (header::ACCESS_CONTROL_REQUEST_HEADERS, "if-none-match"),
            ],
        ] {
            let mut req = Request::get(Endpoint::Jwks.path());
            for (name, value) in extra {
                req = req.header(name, *value);
            }
            let added = headers_added(&public_layer(), req.body(Body::empty()).unwrap());
            assert_eq!(added, headers, "{extra:?}");
        }
    }

    #[test]
    fn no_origins_means_no_api_layer() {
        assert!(api_layer(&CorsOrigins::None).is_none());
        assert!(api_layer(&CorsOrigins::Any).is_some());
    }
}
