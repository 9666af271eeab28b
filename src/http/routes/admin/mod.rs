//! The admin API (`/admin/v1`) and what its handlers share: [`require`],
//! the layer the router puts on every admin route (OAuth bearer tokens with
//! `admin:read` for `GET`, `admin:write` for the rest,
//! `protocol::admin::authorize`), so that no route can forget it; the
//! [`AdminRead`] / [`AdminWrite`] extractors that hand its caller to the
//! handler; the JSON
//! body extractor [`ApiJson`] (a clear 400 for bad JSON), paging
//! parameters and the `admin_change` event. One module per resource; the
//! rules live in `src/app/` (shared with the CLI), never here.

pub mod clients;
pub mod events;
pub mod factors;
pub mod grants;
pub mod initial_access_tokens;
pub mod invitations;
pub mod keys;
pub mod resources;
pub mod sessions;
pub mod users;

use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, AppError, no_store};
use crate::http::audit::RequestMeta;
use crate::http::extractors::authorization;
use crate::protocol::admin::{self, AdminCaller, Need, Page, PageRequest};
use crate::protocol::error::ErrorCode;
use crate::protocol::params::RawParams;
use crate::protocol::userinfo;
use crate::state::AppState;

/// The caller of a reading route (`admin:read` or `admin:write`), with the
/// request metadata for events.
#[derive(Debug, Clone)]
pub struct AdminRead(pub AdminCaller, pub RequestMeta);

/// The caller of a changing route (`admin:write`), with the request
/// metadata for the `admin_change` event it emits.
#[derive(Debug, Clone)]
pub struct AdminWrite(pub AdminCaller, pub RequestMeta);

async fn caller(parts: &mut Parts, state: &AppState, need: Need) -> Result<AdminCaller, AppError> {
    // The Authorization header only (RFC 6750 §2.1): admin calls carry JSON
    // bodies, never a form with `access_token`.
    let token = userinfo::bearer_token(authorization(&parts.headers), None)
        .map_err(AppError::Bearer)?
        .ok_or(AppError::NoBearer)?;
    admin::authorize(&state.token_ctx(), &token, need)
        .await
        .map_err(AppError::Bearer)
}

/// The layer of every admin route (`http::routes_for` puts it on each
/// endpoint whose `Endpoint::is_admin` holds): `GET` needs
/// [`Need::Read`], every other method [`Need::Write`]. The caller goes into
/// the request's extensions for [`AdminRead`] / [`AdminWrite`].
pub async fn require(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, AppError> {
    let need = if req.method() == Method::GET || req.method() == Method::HEAD {
        Need::Read
    } else {
        Need::Write
    };
    let (mut parts, body) = req.into_parts();
    let who = match caller(&mut parts, &state, need).await {
        Ok(who) => who,
        Err(AppError::Bearer(e)) if e.code == ErrorCode::InsufficientScope => {
            return Ok(with_scope(AppError::Bearer(e).into_response(), need));
        }
        Err(e) => return Err(e),
    };
    parts.extensions.insert(who);
    Ok(next.run(Request::from_parts(parts, body)).await)
}

/// RFC 6750 §3: an `insufficient_scope` challenge may name the scope the
/// resource needs (`scope="admin:write"`).
fn with_scope(mut resp: Response, need: Need) -> Response {
    let challenge = resp
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .map(|c| format!("{c}, scope=\"{}\"", need.scope()));
    if let Some(v) = challenge.and_then(|c| axum::http::HeaderValue::from_str(&c).ok()) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

/// The caller [`require`] admitted, with `need` checked again (a handler
/// that changes something must not run for a reader, whatever its method).
async fn admitted(
    parts: &mut Parts,
    state: &AppState,
    need: Need,
) -> Result<(AdminCaller, RequestMeta), AppError> {
    let who = parts
        .extensions
        .get::<AdminCaller>()
        .cloned()
        .ok_or_else(|| AppError::Internal("an admin route without the admin layer".into()))?;
    if !need.met_by(&who.scope) {
        return Err(AppError::Bearer(crate::protocol::error::OAuthError::new(
            crate::protocol::error::ErrorCode::InsufficientScope,
            "this call needs the admin:write scope",
        )));
    }
    let Ok(meta) = RequestMeta::from_request_parts(parts, state).await;
    Ok((who, meta))
}

impl FromRequestParts<AppState> for AdminRead {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let (who, meta) = admitted(parts, state, Need::Read).await?;
        Ok(Self(who, meta))
    }
}

impl FromRequestParts<AppState> for AdminWrite {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let (who, meta) = admitted(parts, state, Need::Write).await?;
        Ok(Self(who, meta))
    }
}

/// A JSON request body (`Content-Type: application/json`), parsed into
/// `T`; anything else is a 400 `invalid_request` that says what is wrong
/// (or axum's 413 when the body is over the limit).
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        if !json {
            return Err(ApiError::invalid_request("the body must be application/json").into());
        }
        let body = Bytes::from_request(req, state)
            .await
            .map_err(AppError::Body)?;
        parse_object(&body).map(Self)
    }
}

/// A JSON object parsed into `T`: an array or a scalar is refused even
/// where serde would read a struct from it (a struct from an array is
/// positional, which no caller of a JSON API means).
fn parse_object<T: DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid_request(format!("the body is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::invalid_request("the body must be a JSON object").into());
    }
    serde_json::from_value(value)
        .map_err(|e| ApiError::invalid_request(format!("the body is not valid: {e}")).into())
}

/// An optional JSON body: no body at all means `T::default()` (so that
/// `curl -X POST` without `-d` works for routes whose body only carries
/// options); a body is read as [`ApiJson`] reads it.
#[derive(Debug, Clone)]
pub struct OptionalApiJson<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let content_type = req.headers().get(header::CONTENT_TYPE).cloned();
        let body = Bytes::from_request(req, state)
            .await
            .map_err(AppError::Body)?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        let json = content_type
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        if !json {
            return Err(ApiError::invalid_request("the body must be application/json").into());
        }
        parse_object(&body).map(Self)
    }
}

/// The paging parameters (`limit`, `cursor`) of a list route.
pub fn page_request(query: &RawParams) -> Result<PageRequest, AppError> {
    for name in ["limit", "cursor"] {
        if query.is_repeated(name) {
            return Err(
                ApiError::invalid_request(format!("{name} was given more than once")).into(),
            );
        }
    }
    PageRequest::parse(query.get("limit"), query.get("cursor"))
        .map_err(|e| ApiError::invalid_request(e.safe_description()).into())
}

/// A JSON answer that is never cached (it may hold personal data).
pub fn json<T: serde::Serialize>(status: axum::http::StatusCode, body: &T) -> Response {
    let mut r = (status, axum::Json(body)).into_response();
    no_store(&mut r);
    r
}

/// A page of a list as JSON.
pub fn page<T: serde::Serialize>(page: &Page<T>) -> Response {
    json(axum::http::StatusCode::OK, page)
}

/// The `admin_change` event of a change `caller` made: `action` is a fixed
/// name from docs/EVENTS.md, `target` the id acted on.
pub fn changed(
    state: &AppState,
    meta: &RequestMeta,
    caller: &AdminCaller,
    action: &'static str,
    target: &str,
) {
    crate::http::audit::admin_change(state, meta, &caller.client_id, action, target);
}
