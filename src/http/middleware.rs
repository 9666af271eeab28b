//! Middleware common to every route: request ids, the access log, tracing,
//! metrics, CORS on the API paths, per-address rate limits, body-size
//! limit, timeout and default security headers (docs/SECURITY.md invariant
//! 9).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::MatchedPath;
use axum::http::{HeaderName, HeaderValue, Method, Request, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::Response;
use axum::{Extension, Router};
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::http::{cors, rate_limit};

/// The request id header, set when absent and echoed in the response.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The `tracing` target of the access log (`PORTCULLIS_ACCESS_LOG`).
pub const ACCESS_LOG_TARGET: &str = "portcullis::access";

/// Writes the access-log line of one request, at `info` under
/// [`ACCESS_LOG_TARGET`]: method, path, status, duration in milliseconds
/// and request id. `path` must be the path alone: the query string carries
/// codes, `state` and tokens, and never reaches a log. The one format of
/// the line: the router's middleware and the fast path (`http::fast`) both
/// call it.
pub fn access_log(
    method: &Method,
    path: &str,
    status: u16,
    elapsed: Duration,
    request_id: Option<&HeaderValue>,
) {
    let request_id = request_id.and_then(|v| v.to_str().ok()).unwrap_or("-");
    tracing::info!(
        target: ACCESS_LOG_TARGET,
        method = %method,
        path,
        status,
        duration_ms = elapsed.as_secs_f64() * 1000.0,
        request_id,
        "request"
    );
}

/// Logs each request once it is answered (outside the tracing span, so the
/// line carries its fields once); off when `PORTCULLIS_ACCESS_LOG=false`.
async fn log_access(
    axum::extract::State(on): axum::extract::State<bool>,
    req: Request<axum::body::Body>,
    next: Next,
) -> Response {
    if !on || !tracing::enabled!(target: ACCESS_LOG_TARGET, tracing::Level::INFO) {
        return next.run(req).await;
    }
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let id = req.headers().get(&REQUEST_ID).cloned();
    let resp = next.run(req).await;
    access_log(
        &method,
        &path,
        resp.status().as_u16(),
        start.elapsed(),
        id.as_ref(),
    );
    resp
}

/// The default Content-Security-Policy: no framing, nothing from elsewhere.
const DEFAULT_CSP: &str = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";

/// `Strict-Transport-Security` when the issuer is https (RFC 6797): one
/// year, this host only (subdomains may be other services).
const HSTS: &str = "max-age=31536000";

/// The security headers every response carries unless its handler set
/// its own (docs/SECURITY.md invariant 9): the one list, used by [`apply`] and by
/// the fast path (`http::fast`). `None` means the header is not sent
/// (`Strict-Transport-Security` when the issuer is not https).
pub fn security_headers(config: &Config) -> [(HeaderName, Option<HeaderValue>); 5] {
    [
        (
            header::X_CONTENT_TYPE_OPTIONS,
            Some(HeaderValue::from_static("nosniff")),
        ),
        (
            header::REFERRER_POLICY,
            Some(HeaderValue::from_static("no-referrer")),
        ),
        (
            header::X_FRAME_OPTIONS,
            Some(HeaderValue::from_static("DENY")),
        ),
        (
            header::CONTENT_SECURITY_POLICY,
            Some(HeaderValue::from_static(DEFAULT_CSP)),
        ),
        (
            header::STRICT_TRANSPORT_SECURITY,
            config
                .issuer_is_https()
                .then(|| HeaderValue::from_static(HSTS)),
        ),
    ]
}

/// Wraps `router` in the common layers.
pub fn apply(router: Router, config: &Config) -> Router {
    // Innermost first: `Router::layer` wraps what is already there, so the
    // rate limit runs after CORS (preflights are never counted) and both
    // see the trusted-proxy list set further out.
    let limiters = Arc::new(rate_limit::Limiters::new(config.rate_limits));
    let router = router.layer(from_fn_with_state(limiters, rate_limit::enforce));
    let cors = Arc::new(cors::Cors::new(&config.cors_allowed_origins));
    let router = router.layer(from_fn_with_state(cors, cors::apply));
    // One layer per header of `security_headers`: the array's length keeps
    // the two in step.
    let [h1, h2, h3, h4, h5] = security_headers(config);
    let trace = TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
        let id = req
            .headers()
            .get(&REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        // The path only: query strings can carry codes and tokens.
        tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
    });
    let layers = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(from_fn_with_state(config.access_log, log_access))
        .layer(trace)
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(from_fn(track_metrics))
        .layer(Extension(Arc::new(config.trusted_proxies.clone())))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            config.max_body_bytes,
        ))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            config.request_timeout,
        ))
        .layer(SetResponseHeaderLayer::if_not_present(h1.0, h1.1))
        .layer(SetResponseHeaderLayer::if_not_present(h2.0, h2.1))
        .layer(SetResponseHeaderLayer::if_not_present(h3.0, h3.1))
        .layer(SetResponseHeaderLayer::if_not_present(h4.0, h4.1))
        .layer(SetResponseHeaderLayer::if_not_present(h5.0, h5.1));
    router.layer(layers)
}

/// Counts the request by method, matched route (never the raw path: it
/// would make one series per URL) and status, and times it.
async fn track_metrics(req: Request<axum::body::Body>, next: Next) -> Response {
    let start = Instant::now();
    let method = method_label(req.method());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let resp = next.run(req).await;
    crate::metrics::http_request(method, &route, resp.status().as_u16(), start.elapsed());
    resp
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}
