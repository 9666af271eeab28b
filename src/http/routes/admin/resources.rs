//! Admin API: the APIs registered as resources for RFC 8707 resource
//! indicators (`/admin/v1/resources`, docs/ADMIN.md). The rules are
//! `app::resources`, which the CLI (`portcullis resource ...`) calls too.
//! The `{resource_id}` of a path is the resource indicator,
//! percent-encoded (`/admin/v1/resources/https%3A%2F%2Fapi.example.com`).

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use serde::Deserialize;

use super::{AdminRead, AdminWrite, ApiJson, changed, json, page, page_request};
use crate::app::resources::{self, NewResource, ResourceChanges, ResourceView};
use crate::error::{ApiError, AppError};
use crate::http::extractors::Query;
use crate::protocol::admin::Page;
use crate::state::AppState;

/// The body of `POST /admin/v1/resources`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    /// The resource indicator (an absolute URI without a fragment).
    pub resource_id: String,
    /// Display name.
    pub name: String,
    /// The scopes the API defines (at least one; no OpenID scope).
    pub scopes: Vec<String>,
}

/// The body of `PATCH /admin/v1/resources/{resource_id}`: the fields sent
/// replace the stored ones.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    /// A new name.
    pub name: Option<String>,
    /// The new scopes (all of them).
    pub scopes: Option<Vec<String>>,
}

/// The `{resource_id}` of the path, percent-decoded; one that cannot be
/// read names no resource: 404.
fn resource_id(path: Result<Path<String>, PathRejection>) -> Result<String, AppError> {
    path.map(|Path(id)| id)
        .map_err(|_| ApiError::not_found("no such resource").into())
}

/// The path of a resource: its identifier percent-encoded.
fn location(id: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
    format!("/admin/v1/resources/{}", encoded.replace('+', "%20"))
}

/// `GET /admin/v1/resources?limit=&cursor=`: one page of APIs ordered by
/// identifier.
pub async fn get_resources(
    _caller: AdminRead,
    State(state): State<AppState>,
    Query(query): Query,
) -> Result<Response, AppError> {
    let req = page_request(&query)?;
    let rows =
        resources::list_page(state.store.as_ref(), req.after.as_deref(), req.fetch()).await?;
    let page_of = Page::of(rows, &req, |r| r.id.clone()).map(|r| ResourceView::from(&r));
    Ok(page(&page_of))
}

/// `POST /admin/v1/resources`: registers an API; 201 with its view and
/// `Location`; 409 when the identifier is registered already.
pub async fn post_resources(
    AdminWrite(caller, meta): AdminWrite,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<Response, AppError> {
    let created = resources::create(
        state.store.as_ref(),
        state.clock.as_ref(),
        NewResource {
            id: body.resource_id,
            name: body.name,
            scopes: body.scopes,
        },
    )
    .await?;
    changed(
        &state,
        &meta,
        &caller,
        resources::ACTION_CREATED,
        &created.id,
    );
    let mut resp = json(StatusCode::CREATED, &ResourceView::from(&created));
    if let Ok(v) = HeaderValue::from_str(&location(&created.id)) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// `GET /admin/v1/resources/{resource_id}`: 404 `not_found` for an unknown
/// identifier.
pub async fn get_resource(
    _caller: AdminRead,
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, AppError> {
    let id = resource_id(path)?;
    let r = resources::get(state.store.as_ref(), &id).await?;
    Ok(json(StatusCode::OK, &ResourceView::from(&r)))
}

/// `PATCH /admin/v1/resources/{resource_id}`: changes the name or the
/// scopes (the identifier stays); the same rules as on create.
pub async fn patch_resource(
    AdminWrite(caller, meta): AdminWrite,
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    ApiJson(body): ApiJson<PatchBody>,
) -> Result<Response, AppError> {
    let id = resource_id(path)?;
    let updated = resources::update(
        state.store.as_ref(),
        state.clock.as_ref(),
        &id,
        ResourceChanges {
            name: body.name,
            scopes: body.scopes,
        },
    )
    .await?;
    changed(
        &state,
        &meta,
        &caller,
        resources::ACTION_UPDATED,
        &updated.id,
    );
    Ok(json(StatusCode::OK, &ResourceView::from(&updated)))
}

/// `DELETE /admin/v1/resources/{resource_id}`: 204; 409 while clients
/// still allow it (the message names them).
pub async fn delete_resource(
    AdminWrite(caller, meta): AdminWrite,
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, AppError> {
    let id = resource_id(path)?;
    resources::delete(state.store.as_ref(), &id).await?;
    changed(&state, &meta, &caller, resources::ACTION_DELETED, &id);
    Ok(StatusCode::NO_CONTENT.into_response())
}
