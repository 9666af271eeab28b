//! `POST /par`: the pushed authorization request endpoint (RFC 9126 §2), a
//! thin handler over [`crate::protocol::par`]. Clients authenticate as at
//! the token endpoint (the shared [`AuthenticatedClient`] extractor: every
//! method, public clients with `none` too); errors are RFC 6749 §5.2 JSON,
//! never redirects (§2.3).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::{AppError, no_store};
use crate::http::audit::{self, RequestMeta};
use crate::http::extractors::AuthenticatedClient;
use crate::http::routes::authorize::ctx;
use crate::http::routes::token::{add_dpop_nonce, dpop_headers};
use crate::protocol::endpoints::Endpoint;
use crate::protocol::par::{self, PushReport};
use crate::state::AppState;

/// `POST /par`: 201 with `request_uri` and `expires_in` (§2.2), or 400
/// (401 for client authentication) with `error` and `error_description`.
pub async fn post_par(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    req: AuthenticatedClient,
) -> Response {
    let mut report = PushReport::default();
    // RFC 9449 §10.1: a proof for this request (POST to /par), used once.
    let proof = crate::protocol::dpop::verify_proof(
        state.store.as_ref(),
        &state.tokens.dpop,
        &req.client.id,
        &dpop_headers(&headers),
        &crate::protocol::dpop::Expected {
            method: "POST",
            uri: &state.config.endpoint(Endpoint::Par.path()),
            access_token: None,
        },
        state.clock.now(),
    )
    .await;
    // FAPI 2.0 Security Profile §5.4.1: PS256 or ES256 for its clients.
    let proof = proof.and_then(|p| match p {
        Some(p) if !crate::protocol::fapi::alg_allowed(&req.client, p.alg) => {
            Err(crate::protocol::dpop::invalid(
                "a FAPI 2.0 client's DPoP proof must be signed with PS256 or ES256",
            ))
        }
        p => Ok(p),
    });
    let result = match proof {
        Ok(proof) => {
            par::push(
                &ctx(&state),
                &req.client,
                &req.form,
                proof.as_ref(),
                &mut report,
            )
            .await
        }
        Err(e) => Err(e),
    };
    audit::par(
        &state,
        &meta,
        &req.client.id,
        &report,
        result.as_ref().err().map(|e| e.code),
    );
    let mut r = match result {
        Ok(pushed) => {
            tracing::info!(client_id = %req.client.id, signed = report.signed, "authorization request pushed");
            let mut r = (StatusCode::CREATED, Json(pushed)).into_response();
            no_store(&mut r);
            r
        }
        Err(e) => {
            tracing::info!(
                client_id = %req.client.id,
                error = e.code.as_str(),
                description = %e.description,
                source = ?e.source,
                "pushed authorization request refused"
            );
            AppError::Token(e, req.scheme).into_response()
        }
    };
    add_dpop_nonce(&state, &mut r);
    r
}
