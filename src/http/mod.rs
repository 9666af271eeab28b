//! The HTTP layer: router, middleware, extractors and handlers. Thin:
//! parse, call the protocol layer, render.

pub mod audit;
pub mod cors;
pub mod extractors;
pub mod fast;
pub mod middleware;
pub mod pages;
pub mod rate_limit;
pub mod routes;
pub mod session;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::protocol::discovery;
use crate::state::AppState;

/// The service the server runs: the public documents on the fast path
/// ([`fast`]), everything else through [`router`].
pub fn service(state: AppState) -> fast::FastDocuments<Router> {
    let docs = fast::Documents::new(&state);
    fast::FastDocuments::new(router_with(state, docs.discovery()), docs)
}

/// Builds the router with every route and the common middleware.
pub fn router(state: AppState) -> Router {
    let discovery = routes::discovery::publish(&state);
    router_with(state, discovery)
}

fn router_with(state: AppState, published: Arc<routes::discovery::Published>) -> Router {
    let config = state.config.clone();
    let routes = Router::new()
        .route("/healthz", get(routes::health::get_healthz))
        .route("/readyz", get(routes::health::get_readyz))
        .route("/metrics", get(routes::metrics::get_metrics))
        .route("/static/portcullis.css", get(routes::assets::get_css))
        .route(
            "/static/form_post.js",
            get(routes::assets::get_form_post_js),
        )
        .route(
            "/authorize",
            get(routes::authorize::get_authorize).post(routes::authorize::post_authorize),
        )
        .route("/login", post(routes::authorize::post_login))
        .route("/consent", post(routes::authorize::post_consent))
        .route("/token", post(routes::token::post_token))
        .route(
            "/userinfo",
            get(routes::userinfo::userinfo).post(routes::userinfo::userinfo),
        )
        .route("/revoke", post(routes::revoke::post_revoke))
        .route("/introspect", post(routes::introspect::post_introspect))
        .route(
            "/logout",
            get(routes::logout::logout).post(routes::logout::logout),
        )
        .route("/logout/confirm", post(routes::logout::post_logout_confirm))
        .route(discovery::JWKS_PATH, get(routes::jwks::get_jwks))
        .route("/.well-known/jwks.json", get(routes::jwks::get_jwks))
        .route(
            discovery::DISCOVERY_PATH,
            routes::discovery::route(published),
        )
        .fallback(routes::health::not_found)
        .with_state(state);
    middleware::apply(routes, &config)
}
