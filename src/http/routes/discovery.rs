//! `GET /.well-known/openid-configuration` (OpenID Connect Discovery 1.0
//! §4): the document of `protocol::discovery`, serialized once when the
//! router is built. Its endpoints come from the inventory
//! (`protocol::endpoints`), its grant types from the grant registry.

use std::sync::Arc;

use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{MethodRouter, get};
use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use crate::protocol::discovery::{DiscoveryCapabilities, document};
use crate::state::AppState;

/// How long relying parties may cache the document.
const MAX_AGE_SECS: u64 = 3600;

/// The pre-serialized document and its entity tag.
pub struct Published {
    /// The JSON document.
    pub body: bytes::Bytes,
    /// Its strong entity tag, quoted.
    pub etag: String,
}

/// The document built from the configuration, the endpoint inventory, the
/// grant registry and the algorithms the keys sign with; serialized once,
/// at start.
pub fn publish(state: &AppState) -> Arc<Published> {
    let doc = document(
        &state.config.issuer,
        &DiscoveryCapabilities {
            require_pushed_authorization_requests: state.config.par.require,
            request_uri_external: state.config.par.request_uri_external,
            ..DiscoveryCapabilities::new(
                state.grants.grant_types(),
                state.config.registration.mode.is_on(),
            )
        },
        &state.keys.signing_algs(),
    );
    let body = bytes::Bytes::from(doc.to_string());
    let etag = format!(
        "\"{}\"",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&Sha256::digest(&body)[..16])
    );
    Arc::new(Published { body, etag })
}

/// The route serving `published`.
pub fn route(published: Arc<Published>) -> MethodRouter<AppState> {
    get(move |headers: HeaderMap| {
        let p = published.clone();
        async move { respond(&headers, &p) }
    })
}

/// The response to a `GET` with `headers`: 200 with the document, or 304.
pub fn respond(headers: &HeaderMap, p: &Published) -> Response {
    super::jwks::cached_json(
        headers,
        p.body.clone(),
        &p.etag,
        MAX_AGE_SECS,
        "application/json",
    )
}
