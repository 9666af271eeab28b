//! Admin API: clients, with the RFC 7591 metadata names
//! ([`ClientMetadata`] in, [`ClientView`] out). The rules are the
//! services the CLI calls too: `operator::create_client`,
//! `app::clients::{update_client, delete_client, rotate_client_secret}`.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use serde::{Deserialize, Serialize};

use super::{AdminRead, AdminWrite, ApiJson, changed, json, page, page_request};
use crate::app::client_metadata::{ClientMetadata, ClientView};
use crate::app::{clients, operator};
use crate::error::{ApiError, AppError};
use crate::http::extractors::Query;
use crate::protocol::admin::Page;
use crate::state::AppState;

/// The metadata as the server's settings let it be applied:
/// `PORTCULLIS_ALLOW_HTTP_REDIRECT_URIS` allows http redirect URIs for
/// every client, as it does for `client create`.
fn with_settings(state: &AppState, mut meta: ClientMetadata) -> ClientMetadata {
    if state.config.allow_http_redirect_uris {
        meta.allow_http_redirect_uris = Some(true);
    }
    meta
}

/// The `{client_id}` of the path; a segment that cannot be read (not
/// UTF-8 once decoded) names no client: 404, as an unknown id.
fn client_id(path: Result<Path<String>, PathRejection>) -> Result<String, AppError> {
    path.map(|Path(id)| id)
        .map_err(|_| ApiError::not_found("no such client").into())
}

/// `GET /admin/v1/clients?limit=&cursor=`: one page of clients ordered by
/// client id (never a secret).
pub async fn get_clients(
    _caller: AdminRead,
    State(state): State<AppState>,
    Query(query): Query,
) -> Result<Response, AppError> {
    let req = page_request(&query)?;
    let rows = state
        .store
        .clients()
        .list_clients_page(req.after.as_deref(), req.fetch())
        .await
        .map_err(operator::OperatorError::from)?;
    let page_of = Page::of(rows, &req, |c| c.id.as_str().to_owned()).map(|c| ClientView::of(&c));
    Ok(page(&page_of))
}

/// `POST /admin/v1/clients`: registers a client from its metadata; 201 with
/// its view, the secret included this once, and `Location`.
pub async fn post_clients(
    AdminWrite(caller, meta): AdminWrite,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<serde_json::Map<String, serde_json::Value>>,
) -> Result<Response, AppError> {
    let metadata = admin_metadata(body)?;
    let new = with_settings(&state, metadata).into_new_client()?;
    let created = operator::create_client(
        state.store.as_ref(),
        state.rng.as_ref(),
        state.clock.as_ref(),
        new,
        state.config.outbound.allow_insecure,
    )
    .await?;
    let id = created.client.id.as_str().to_owned();
    changed(&state, &meta, &caller, "client_created", &id);
    let view = ClientView::of(&created.client).with_secret(created.secret);
    let mut resp = json(StatusCode::CREATED, &view);
    if let Ok(v) = HeaderValue::from_str(&format!("/admin/v1/clients/{id}")) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// `GET /admin/v1/clients/{client_id}`: 404 `not_found` for an unknown or
/// malformed id.
pub async fn get_client(
    _caller: AdminRead,
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, AppError> {
    let id = client_id(path)?;
    let client = clients::find_client(state.store.as_ref(), &id).await?;
    Ok(json(StatusCode::OK, &ClientView::of(&client)))
}

/// `PATCH /admin/v1/clients/{client_id}`: a partial update (the fields
/// sent replace the stored ones, [`clients::patched`]), checked by the same
/// rules as a new client; a refusal changes nothing. The `client_id` and
/// the secret stay.
pub async fn patch_client(
    AdminWrite(caller, meta): AdminWrite,
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    ApiJson(body): ApiJson<serde_json::Map<String, serde_json::Value>>,
) -> Result<Response, AppError> {
    let changes = admin_metadata(body)?;
    let id = client_id(path)?;
    let store = state.store.as_ref();
    let existing = clients::find_client(store, &id).await?;
    let metadata = with_settings(&state, clients::patched(&existing, changes));
    if caller.client_id.as_str() == id
        && !metadata.scope.as_deref().is_some_and(|s| {
            s.split(' ')
                .any(|t| t == crate::protocol::admin::ADMIN_WRITE)
        })
    {
        return Err(self_lockout("take admin:write away from itself"));
    }
    let client = clients::update_client(
        store,
        state.clock.as_ref(),
        &id,
        metadata,
        state.config.outbound.allow_insecure,
    )
    .await?;
    changed(&state, &meta, &caller, "client_updated", client.id.as_str());
    Ok(json(StatusCode::OK, &ClientView::of(&client)))
}

/// `DELETE /admin/v1/clients/{client_id}`: 204. Its grants are revoked
/// first, so every token issued from them stops at once; its
/// client-credentials tokens stop with it ([`clients::delete_client`]).
pub async fn delete_client(
    AdminWrite(caller, meta): AdminWrite,
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, AppError> {
    let id = client_id(path)?;
    if caller.client_id.as_str() == id {
        return Err(self_lockout("delete itself"));
    }
    clients::delete_client(state.store.as_ref(), state.clock.as_ref(), &id).await?;
    changed(&state, &meta, &caller, "client_deleted", &id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The body of `POST /admin/v1/clients/{client_id}/secret`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RotateSecret {
    /// How long the old secret keeps working, seconds (0 to 30 days;
    /// default 0: it stops at once).
    pub overlap_secs: i64,
}

/// The answer of a rotation: the client's view with the new secret, and
/// until when the old one works.
#[derive(Debug, Serialize)]
struct Rotated {
    #[serde(flatten)]
    client: ClientView,
    /// Seconds since the epoch: the old secret works until then (the
    /// rotation time itself when there was no overlap).
    previous_secret_expires_at: i64,
}

/// `POST /admin/v1/clients/{client_id}/secret` `{"overlap_secs": N}`: a new
/// secret (shown once); the old one keeps working for the overlap, then
/// stops ([`clients::rotate_client_secret`]).
pub async fn post_client_secret(
    AdminWrite(caller, meta): AdminWrite,
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    super::OptionalApiJson(body): super::OptionalApiJson<RotateSecret>,
) -> Result<Response, AppError> {
    let id = client_id(path)?;
    let r = clients::rotate_client_secret(
        state.store.as_ref(),
        state.rng.as_ref(),
        state.clock.as_ref(),
        &id,
        body.overlap_secs,
    )
    .await?;
    changed(
        &state,
        &meta,
        &caller,
        "client_secret_rotated",
        r.client.id.as_str(),
    );
    let answer = Rotated {
        client: ClientView::of(&r.client).with_secret(Some(r.secret)),
        previous_secret_expires_at: r.previous_secret_expires_at.timestamp(),
    };
    Ok(json(StatusCode::OK, &answer))
}

/// The admin API never lets the calling client lock itself out (Keycloak
/// refuses the same of its admin user): 409, nothing changed. Another
/// admin client, or the command line, can still do it.
fn self_lockout(what: &str) -> AppError {
    crate::error::ApiError::conflict(format!(
        "an admin client cannot {what} through the admin API: use another admin client or the command line"
    ))
    .into()
}

/// The names the admin API accepts in a client body: RFC 7591 metadata
/// and portcullis's extensions ([`ClientMetadata`]). Unlike `/register`
/// (RFC 7591 §2 says to ignore unknown metadata), an operator's typo or a
/// `client_id` / `client_secret` (which the server chooses) is refused, so
/// that nothing is silently dropped.
const ADMIN_CLIENT_FIELDS: [&str; 26] = [
    "client_name",
    "redirect_uris",
    "post_logout_redirect_uris",
    "grant_types",
    "response_types",
    "scope",
    "token_endpoint_auth_method",
    "jwks",
    "jwks_uri",
    "id_token_signed_response_alg",
    "first_party",
    "require_pkce",
    "require_mfa",
    "resource_server",
    "audience",
    "access_token_ttl",
    "id_token_ttl",
    "refresh_token_ttl",
    "allow_http_redirect_uris",
    "backchannel_logout_uri",
    "backchannel_logout_session_required",
    "allowed_resources",
    "require_pushed_authorization_requests",
    "dpop_bound_access_tokens",
    "profile",
    "request_uris",
];

fn admin_metadata(
    body: serde_json::Map<String, serde_json::Value>,
) -> Result<ClientMetadata, AppError> {
    if let Some(unknown) = body
        .keys()
        .find(|k| !ADMIN_CLIENT_FIELDS.contains(&k.as_str()))
    {
        return Err(crate::error::ApiError::invalid_request(format!(
            "unknown field {unknown:?} (the server chooses client_id and client_secret)"
        ))
        .into());
    }
    serde_json::from_value(serde_json::Value::Object(body)).map_err(|e| {
        crate::error::ApiError::invalid_request(format!("the body is not valid: {e}")).into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_admin_field_list_is_the_metadata_s() {
        let names: Vec<String> = serde_json::to_value(ClientMetadata::default())
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        let mut listed: Vec<String> = ADMIN_CLIENT_FIELDS
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        listed.sort();
        let mut names = names;
        names.sort();
        assert_eq!(listed, names);
    }
}
