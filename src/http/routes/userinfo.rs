//! `GET|POST /userinfo` (OpenID Connect Core §5.3, RFC 6750, RFC 9449 §7):
//! a thin handler over [`crate::protocol::userinfo`].

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};

use super::token::{add_dpop_nonce, dpop_headers};
use crate::error::{AppError, no_store};
use crate::http::extractors::{OptionalForm, authorization};
use crate::protocol::endpoints::Endpoint;
use crate::protocol::resource::{self, Presentation};
use crate::protocol::userinfo::{self, Scheme};
use crate::state::AppState;

/// `GET|POST /userinfo`: a bearer token, or a DPoP-bound one with
/// `Authorization: DPoP` and its proof (`htm` the request's method, `htu`
/// the issuer's `/userinfo`). Errors of a DPoP request or about a bound
/// token answer with the `DPoP` challenge (§7.1); with server nonces on,
/// every answer carries a `DPoP-Nonce` (§9).
pub async fn userinfo(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    OptionalForm(form): OptionalForm,
) -> Response {
    let mut resp = match answer(&state, &method, &headers, form.as_ref()).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    add_dpop_nonce(&state, &mut resp);
    resp
}

async fn answer(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    form: Option<&crate::protocol::params::RawParams>,
) -> Result<Response, AppError> {
    let Some(creds) =
        userinfo::credentials(authorization(headers), form).map_err(AppError::Bearer)?
    else {
        // RFC 6750 §3.1 and RFC 9449 §7.1: no credentials, both schemes
        // offered.
        let mut resp = AppError::NoBearer.into_response();
        if let Ok(v) = HeaderValue::from_str(&format!(
            "DPoP algs=\"{}\"",
            crate::protocol::dpop::challenge_algs()
        )) {
            resp.headers_mut().append(header::WWW_AUTHENTICATE, v);
        }
        return Ok(resp);
    };
    let proofs = dpop_headers(headers);
    let uri = format!("{}{}", state.tokens.issuer, Endpoint::UserInfo.path());
    let presentation = match creds.scheme {
        Scheme::Bearer => Presentation::Bearer,
        Scheme::Dpop => Presentation::Dpop {
            proofs: &proofs,
            method: method.as_str(),
            uri: &uri,
        },
    };
    match userinfo::handle(&state.token_ctx(), &creds.token, &presentation).await {
        Ok(claims) => {
            let mut r = Json(claims).into_response();
            no_store(&mut r);
            Ok(r)
        }
        Err(e) => {
            let dpop =
                resource::dpop_challenge(creds.scheme == Scheme::Dpop, Some(&creds.token), &e);
            Err(if dpop {
                AppError::Dpop(e)
            } else {
                AppError::Bearer(e)
            })
        }
    }
}
