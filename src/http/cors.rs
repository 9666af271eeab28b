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

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use tower::{Layer as _, ServiceExt as _};
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
            public: CorsLayer::new()
                .allow_origin(AllowOrigin::any())
                .allow_methods([Method::GET, Method::HEAD])
                .allow_headers([header::IF_NONE_MATCH])
                .expose_headers([header::ETAG])
                .max_age(Duration::from_hours(1)),
            api: api_layer(origins),
        }
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
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            // Bearer errors (RFC 6750 §3) and throttling must be readable.
            .expose_headers([header::WWW_AUTHENTICATE, header::RETRY_AFTER])
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

    #[test]
    fn no_origins_means_no_api_layer() {
        assert!(api_layer(&CorsOrigins::None).is_none());
        assert!(api_layer(&CorsOrigins::Any).is_some());
    }
}
