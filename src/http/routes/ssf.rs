//! The OpenID Shared Signals Framework 1.0 transmitter over HTTP
//! (docs/EVENTS.md, "Shared Signals"): the configuration document
//! (`/.well-known/ssf-configuration`, SSF 1.0 §7) and the stream management
//! API (§8: `/ssf/stream`, `/ssf/status`, `/ssf/subjects/add`,
//! `/ssf/subjects/remove`, `/ssf/verify`). Handlers parse and render; the
//! rules are in `protocol::ssf`, the operations in `app::ssf`.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::admin::ApiJson;
use crate::app::ssf::{SsfError, transmitter};
use crate::domain::ClientId;
use crate::error::{ApiError, AppError, AuthScheme, no_store};
use crate::http::extractors::{Query, authorization};
use crate::protocol::endpoints::Endpoint;
use crate::protocol::error::OAuthError;
use crate::protocol::params::RawParams;
use crate::protocol::ssf::{self, MgmtError, StreamOp, TransmitterUrls};
use crate::protocol::userinfo;
use crate::state::AppState;

/// How long receivers may cache the configuration document.
const MAX_AGE_SECS: u64 = 3600;

/// `GET /.well-known/ssf-configuration` (SSF 1.0 §7.2): public.
pub async fn get_configuration(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let issuer = state.config.issuer.trim_end_matches('/');
    let url = |e: Endpoint| format!("{issuer}{}", e.path());
    let (jwks, stream, status, add, remove, verify) = (
        url(Endpoint::Jwks),
        url(Endpoint::SsfStream),
        url(Endpoint::SsfStatus),
        url(Endpoint::SsfSubjectsAdd),
        url(Endpoint::SsfSubjectsRemove),
        url(Endpoint::SsfVerify),
    );
    let doc = ssf::transmitter_configuration(
        &state.config.issuer,
        &TransmitterUrls {
            jwks_uri: &jwks,
            configuration_endpoint: &stream,
            status_endpoint: &status,
            add_subject_endpoint: &add,
            remove_subject_endpoint: &remove,
            verification_endpoint: &verify,
        },
    );
    let body = bytes::Bytes::from(doc.to_string());
    let etag = format!(
        "\"{}\"",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&Sha256::digest(&body)[..16])
    );
    super::jwks::cached_json(&headers, body, &etag, MAX_AGE_SECS, "application/json")
}

/// The receiver calling the management API: a client-credentials bearer
/// token of a client holding `ssf:receiver` (`protocol::ssf::authorize`);
/// 401 or 403 with an RFC 6750 challenge otherwise.
pub struct Receiver(pub ClientId);

impl FromRequestParts<AppState> for Receiver {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let token = userinfo::bearer_token(authorization(&parts.headers), None)
            .map_err(AppError::Bearer)?
            .ok_or(AppError::NoBearer)?;
        ssf::authorize(&state.token_ctx(), &token)
            .await
            .map(Self)
            .map_err(AppError::Bearer)
    }
}

impl From<SsfError> for AppError {
    fn from(e: SsfError) -> Self {
        match e {
            SsfError::Refused(MgmtError::Invalid(m)) => ApiError::invalid_request(m).into(),
            SsfError::Refused(MgmtError::Forbidden) => ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "the transmitter set this status; only it can lift it",
            )
            .into(),
            SsfError::Refused(MgmtError::NotFound) => {
                ApiError::not_found("no stream with this stream_id for this receiver").into()
            }
            SsfError::Refused(MgmtError::Conflict) => ApiError::conflict(
                "this receiver has a stream already (one per receiver): read it, update or replace it",
            )
            .into(),
            SsfError::Refused(MgmtError::TooSoon) => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                format!(
                    "a verification was requested less than min_verification_interval ({} s) ago",
                    ssf::MIN_VERIFICATION_INTERVAL_SECS
                ),
            )
            .into(),
            SsfError::Store(crate::ports::StoreError::Unavailable(m)) => {
                Self::Token(OAuthError::temporarily_unavailable(m), AuthScheme::Other)
            }
            other => Self::Internal(Box::new(other)),
        }
    }
}

/// A JSON answer that is never cached (SSF 1.0 §8 examples).
fn answer(status: StatusCode, body: Option<Value>) -> Response {
    let mut resp = match body {
        Some(v) => (status, axum::Json(v)).into_response(),
        None => status.into_response(),
    };
    no_store(&mut resp);
    resp
}

/// The `stream_id` query parameter, if given (given twice: 400).
fn stream_id(q: &RawParams) -> Result<Option<&str>, AppError> {
    if q.is_repeated("stream_id") {
        return Err(ApiError::invalid_request("stream_id was given more than once").into());
    }
    Ok(q.get("stream_id"))
}

/// The `stream_id` query parameter, required.
fn required(q: &RawParams) -> Result<&str, AppError> {
    stream_id(q)?.ok_or_else(|| {
        ApiError::invalid_request("the stream_id query parameter is required").into()
    })
}

/// `POST /ssf/stream`: create (201).
pub async fn create_stream(
    State(state): State<AppState>,
    Receiver(who): Receiver,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, AppError> {
    let c = transmitter(&state).create(&who, &body).await?;
    Ok(answer(StatusCode::CREATED, Some(c)))
}

/// `GET /ssf/stream[?stream_id=]`: one stream, or the receiver's list.
pub async fn read_stream(
    State(state): State<AppState>,
    Receiver(who): Receiver,
    Query(q): Query,
) -> Result<Response, AppError> {
    let c = transmitter(&state).read(&who, stream_id(&q)?).await?;
    Ok(answer(StatusCode::OK, Some(c)))
}

/// `PATCH /ssf/stream`: update.
pub async fn update_stream(
    State(state): State<AppState>,
    Receiver(who): Receiver,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, AppError> {
    let c = transmitter(&state)
        .change(&who, &body, StreamOp::Update)
        .await?;
    Ok(answer(StatusCode::OK, Some(c)))
}

/// `PUT /ssf/stream`: replace.
pub async fn replace_stream(
    State(state): State<AppState>,
    Receiver(who): Receiver,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, AppError> {
    let c = transmitter(&state)
        .change(&who, &body, StreamOp::Replace)
        .await?;
    Ok(answer(StatusCode::OK, Some(c)))
}

/// `DELETE /ssf/stream?stream_id=`: 204.
pub async fn delete_stream(
    State(state): State<AppState>,
    Receiver(who): Receiver,
    Query(q): Query,
) -> Result<Response, AppError> {
    transmitter(&state).delete(&who, required(&q)?).await?;
    Ok(answer(StatusCode::NO_CONTENT, None))
}

/// `GET /ssf/status?stream_id=`.
pub async fn read_status(
    State(state): State<AppState>,
    Receiver(who): Receiver,
    Query(q): Query,
) -> Result<Response, AppError> {
    let s = transmitter(&state).status(&who, required(&q)?).await?;
    Ok(answer(StatusCode::OK, Some(s)))
}

/// `POST /ssf/status`.
pub async fn update_status(
    State(state): State<AppState>,
    Receiver(who): Receiver,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, AppError> {
    let s = transmitter(&state).set_status(&who, &body).await?;
    Ok(answer(StatusCode::OK, Some(s)))
}

/// `POST /ssf/subjects/add`: 200, empty.
pub async fn add_subject(
    State(state): State<AppState>,
    Receiver(who): Receiver,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, AppError> {
    transmitter(&state).add_subject(&who, &body).await?;
    Ok(answer(StatusCode::OK, None))
}

/// `POST /ssf/subjects/remove`: 204.
pub async fn remove_subject(
    State(state): State<AppState>,
    Receiver(who): Receiver,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, AppError> {
    transmitter(&state).remove_subject(&who, &body).await?;
    Ok(answer(StatusCode::NO_CONTENT, None))
}

/// `POST /ssf/verify`: 204; the verification event is pushed soon after.
pub async fn verify(
    State(state): State<AppState>,
    Receiver(who): Receiver,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, AppError> {
    transmitter(&state).verify(&who, &body).await?;
    Ok(answer(StatusCode::NO_CONTENT, None))
}
