//! Dynamic client registration (RFC 7591 §3) and its management protocol
//! (RFC 7592 §2): `POST /register`, `GET`/`PUT`/`DELETE
//! /register/{client_id}`. Routed only while `PORTCULLIS_REGISTRATION` is
//! not `off` (`http::routes_for`). Parse, call [`crate::app::registration`],
//! render; every answer is JSON and `Cache-Control: no-store` (RFC 7591
//! §3.2.1).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::admin::{ApiJson, json};
use crate::app::client_metadata::ClientMetadata;
use crate::app::registration::{self, RegistrationError, RegistrationPolicy, UpdateRequest};
use crate::error::{ApiError, AppError, no_store};
use crate::http::audit::{self, RequestMeta};
use crate::http::extractors::authorization;
use crate::protocol::error::{ErrorCode, OAuthError};
use crate::protocol::userinfo;
use crate::state::AppState;

/// How a refusal of the registration service is answered: RFC 6750 §3.1
/// for the tokens (401 with a Bearer challenge), RFC 7591 §3.2.2 for the
/// metadata (400 `invalid_redirect_uri` / `invalid_client_metadata`).
fn refused(e: RegistrationError) -> AppError {
    match e {
        RegistrationError::MissingToken(_) => AppError::NoBearer,
        RegistrationError::InvalidToken(m) => {
            AppError::Bearer(OAuthError::new(ErrorCode::InvalidToken, m))
        }
        RegistrationError::InvalidRedirectUri(m) => {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_redirect_uri", m).into()
        }
        RegistrationError::InvalidClientMetadata(m) => {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_client_metadata", m).into()
        }
        RegistrationError::Failed(e) => e.into(),
    }
}

/// The bearer token of the `Authorization` header (RFC 6750 §2.1; the
/// bodies here are JSON, so never a form field).
fn bearer(headers: &HeaderMap) -> Result<Option<String>, AppError> {
    userinfo::bearer_token(authorization(headers), None).map_err(AppError::Bearer)
}

/// `POST /register` (RFC 7591 §3.1): registers a client; 201 with the
/// Client Information Response (RFC 7591 §3.2.1, RFC 7592 §3). In `token`
/// mode the initial access token comes as `Authorization: Bearer`; in
/// `open` mode any `Authorization` header is ignored.
pub async fn post_register(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    body: Result<ApiJson<ClientMetadata>, AppError>,
) -> Result<Response, AppError> {
    let ApiJson(metadata) = body.map_err(as_client_metadata_error)?;
    let policy = RegistrationPolicy::of(&state.config);
    let token = match policy.mode {
        crate::config::RegistrationMode::Open => None,
        _ => bearer(&headers)?,
    };
    let registered = registration::register(
        state.store.as_ref(),
        state.rng.as_ref(),
        state.clock.as_ref(),
        &policy,
        token.as_deref(),
        metadata,
    )
    .await
    .map_err(refused)?;
    // The actor is the client just registered: no operator acted, and the
    // initial access token is a secret (docs/EVENTS.md).
    let id = registered.client.id.clone();
    audit::admin_change(&state, &meta, &id, "client_registered", id.as_str());
    let body = registration::information(
        &state.config.issuer,
        &registered.client,
        registered.secret,
        &registered.registration_access_token,
    );
    Ok(json(StatusCode::CREATED, &body))
}

/// `GET /register/{client_id}` (RFC 7592 §2.1): the client's current
/// metadata, for the bearer of its registration access token.
pub async fn get_registered_client(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let token = bearer(&headers)?;
    let client = registration::authenticate(state.store.as_ref(), &client_id, token.as_deref())
        .await
        .map_err(refused)?;
    let body = registration::information(
        &state.config.issuer,
        &client,
        None,
        token.as_deref().unwrap_or_default(),
    );
    Ok(json(StatusCode::OK, &body))
}

/// `PUT /register/{client_id}` (RFC 7592 §2.2): replaces the client's
/// metadata with the body's (omitted fields take their defaults); 200 with
/// the new Client Information Response. Nothing is rotated.
pub async fn put_registered_client(
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<UpdateRequest>,
) -> Result<Response, AppError> {
    let token = bearer(&headers)?;
    let client = registration::authenticate(state.store.as_ref(), &client_id, token.as_deref())
        .await
        .map_err(refused)?;
    let policy = RegistrationPolicy::of(&state.config);
    let updated = registration::update(
        state.store.as_ref(),
        state.clock.as_ref(),
        &policy,
        &client,
        req,
    )
    .await
    .map_err(refused)?;
    audit::admin_change(
        &state,
        &meta,
        &updated.id,
        "client_updated",
        updated.id.as_str(),
    );
    let body = registration::information(
        &state.config.issuer,
        &updated,
        None,
        token.as_deref().unwrap_or_default(),
    );
    Ok(json(StatusCode::OK, &body))
}

/// `DELETE /register/{client_id}` (RFC 7592 §2.3): 204; the client, its
/// registration access token and every grant made to it are gone.
pub async fn delete_registered_client(
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let token = bearer(&headers)?;
    let client = registration::authenticate(state.store.as_ref(), &client_id, token.as_deref())
        .await
        .map_err(refused)?;
    registration::delete(state.store.as_ref(), state.clock.as_ref(), &client.id)
        .await
        .map_err(refused)?;
    audit::admin_change(
        &state,
        &meta,
        &client.id,
        "client_deleted",
        client.id.as_str(),
    );
    let mut resp = StatusCode::NO_CONTENT.into_response();
    no_store(&mut resp);
    Ok(resp)
}

/// A body that is not a JSON object of client metadata is
/// `invalid_client_metadata` at `/register` (RFC 7591 §3.2.2), not the
/// admin API's `invalid_request`.
fn as_client_metadata_error(e: AppError) -> AppError {
    match e {
        AppError::Api(mut api) if api.error == "invalid_request" => {
            api.error = "invalid_client_metadata";
            AppError::Api(api)
        }
        other => other,
    }
}
