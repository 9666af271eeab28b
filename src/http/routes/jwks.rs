//! `GET /jwks` (the `jwks_uri`; also `/.well-known/jwks.json`): the public
//! signing keys as a JWK Set (RFC 7517 §5), from bytes serialized once per
//! key change, with an `ETag` and a `max-age` short enough for relying
//! parties to see a `next` key before it signs.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// `GET /jwks`.
pub async fn get_jwks(State(state): State<AppState>, headers: HeaderMap) -> Response {
    respond(&state, &headers)
}

/// The response to a `GET` with `headers`: 200 with the JWK Set, or 304.
pub fn respond(state: &AppState, headers: &HeaderMap) -> Response {
    let jwks = state.keys.jwks();
    let max_age = state.config.key_rotation.jwks_max_age().as_secs();
    cached_json(
        headers,
        jwks.body.clone(),
        &jwks.etag,
        max_age,
        "application/jwk-set+json",
    )
}

/// Whether `If-None-Match` names `etag` (RFC 9110 §13.1.2: weak comparison,
/// `*` matches any).
pub fn etag_matches(headers: &HeaderMap, etag: &str) -> bool {
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    let ours = strip(etag);
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == "*" || strip(t) == ours)
}

/// A public JSON document with validators: `304 Not Modified` when the
/// client already has it.
pub fn cached_json(
    headers: &HeaderMap,
    body: bytes::Bytes,
    etag: &str,
    max_age_secs: u64,
    content_type: &'static str,
) -> Response {
    let not_modified = etag_matches(headers, etag);
    let mut resp = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (StatusCode::OK, Body::from(body)).into_response()
    };
    let h = resp.headers_mut();
    if !not_modified {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={max_age_secs}")) {
        h.insert(header::CACHE_CONTROL, v);
    }
    // Public documents: browser-based relying parties fetch them too.
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn if_none_match_uses_weak_comparison() {
        assert!(etag_matches(&with("\"abc\""), "\"abc\""));
        assert!(etag_matches(&with("W/\"abc\""), "\"abc\""));
        assert!(etag_matches(&with("\"x\", \"abc\""), "\"abc\""));
        assert!(etag_matches(&with("*"), "\"abc\""));
        assert!(!etag_matches(&with("\"abd\""), "\"abc\""));
        assert!(!etag_matches(&HeaderMap::new(), "\"abc\""));
    }
}
