//! CORS (`PORTCULLIS_CORS_ALLOWED_ORIGINS`) for the endpoints a browser
//! application calls directly: discovery, JWKS, token, userinfo, revoke and
//! introspect. Never on the pages (`/authorize`, `/login`, `/consent`,
//! `/logout`): those are navigated to, not fetched, and must not be readable
//! from another origin.
//!
//! Applied by path on the whole router, so that endpoints added later get it
//! without touching their code.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use tower::{Layer as _, ServiceExt as _};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::CorsOrigins;
use crate::protocol::discovery::{DISCOVERY_PATH, JWKS_PATH};

/// The paths that answer cross-origin requests.
pub const CORS_PATHS: &[&str] = &[
    DISCOVERY_PATH,
    "/.well-known/oauth-authorization-server",
    JWKS_PATH,
    "/.well-known/jwks.json",
    "/token",
    "/userinfo",
    "/revoke",
    "/introspect",
];

/// Whether `path` gets CORS headers.
pub fn is_cors_path(path: &str) -> bool {
    CORS_PATHS.contains(&path)
}

/// The CORS layer for the configured origins, or `None` when no origin is
/// allowed (no CORS headers at all).
pub fn layer(origins: &CorsOrigins) -> Option<CorsLayer> {
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
            .max_age(Duration::from_secs(600)),
    )
}

/// The middleware: CORS on [`CORS_PATHS`], nothing elsewhere. Preflight
/// requests on those paths are answered here.
pub async fn apply(State(cors): State<Arc<CorsLayer>>, req: Request, next: Next) -> Response {
    if !is_cors_path(req.uri().path()) {
        return next.run(req).await;
    }
    match cors.layer(next).oneshot(req).await {
        Ok(resp) => resp,
        Err(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths_get_cors_and_pages_do_not() {
        for p in [
            "/.well-known/openid-configuration",
            "/jwks",
            "/.well-known/jwks.json",
            "/token",
            "/userinfo",
            "/revoke",
            "/introspect",
        ] {
            assert!(is_cors_path(p), "{p}");
        }
        for p in [
            "/authorize",
            "/login",
            "/consent",
            "/logout",
            "/healthz",
            "/metrics",
        ] {
            assert!(!is_cors_path(p), "{p}");
        }
    }

    #[test]
    fn no_origins_means_no_layer() {
        assert!(layer(&CorsOrigins::None).is_none());
        assert!(layer(&CorsOrigins::Any).is_some());
    }
}
