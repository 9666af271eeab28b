//! The APIs registered for RFC 8707 resource indicators: the rules the CLI
//! (`portcullis resource ...`) and the admin API (`/admin/v1/resources`)
//! share. An API is its resource indicator (an absolute URI without a
//! fragment, the `aud` of the access tokens meant for it), a name, and the
//! scopes it defines (an access token for it carries only those). A
//! client may ask tokens only for the APIs in its `allowed_resources`,
//! which must be registered ([`check_registered`]); an API that clients
//! still allow cannot be deleted ([`delete`]).

use chrono::SubsecRound as _;
use serde::Serialize;

use crate::app::operator::{self, OperatorError};
use crate::domain::resource::{ApiResource, OPENID_SCOPES, is_resource_indicator};
use crate::domain::{ClientId, ScopeSet};
use crate::ports::{Clock, Store, StoreError};

/// The `admin_change` action of a registration.
pub const ACTION_CREATED: &str = "resource_created";
/// The `admin_change` action of a change.
pub const ACTION_UPDATED: &str = "resource_updated";
/// The `admin_change` action of a deletion.
pub const ACTION_DELETED: &str = "resource_deleted";

/// A new API.
#[derive(Debug, Clone, Default)]
pub struct NewResource {
    /// The resource indicator.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The scopes it defines.
    pub scopes: Vec<String>,
}

/// A change: the fields given replace the stored ones.
#[derive(Debug, Clone, Default)]
pub struct ResourceChanges {
    /// A new name.
    pub name: Option<String>,
    /// The new scopes (all of them).
    pub scopes: Option<Vec<String>>,
}

/// An API as the CLI and the admin API show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceView {
    /// The resource indicator.
    pub resource_id: String,
    /// Display name.
    pub name: String,
    /// The scopes it defines, sorted.
    pub scopes: Vec<String>,
    /// Registration time.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Last change.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<&ApiResource> for ResourceView {
    fn from(r: &ApiResource) -> Self {
        Self {
            resource_id: r.id.clone(),
            name: r.name.clone(),
            scopes: r.scopes.iter().map(str::to_owned).collect(),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

fn invalid(msg: impl Into<String>) -> OperatorError {
    OperatorError::Invalid(msg.into())
}

fn not_found(id: &str) -> OperatorError {
    OperatorError::NotFound(format!("no resource {id}"))
}

/// The identifier: RFC 8707 §2, an absolute URI without a fragment.
pub fn check_id(id: &str) -> Result<(), OperatorError> {
    if is_resource_indicator(id) {
        Ok(())
    } else {
        Err(invalid(format!(
            "the resource id {id:?} is not an absolute URI without a fragment (RFC 8707 section 2)"
        )))
    }
}

/// The name: not empty, at most 256 printable characters.
fn check_name(name: &str) -> Result<String, OperatorError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(invalid("the resource name is required"));
    }
    operator::check_name(name)?;
    Ok(name.to_owned())
}

/// The scopes: at least one, each a scope token (RFC 6749 §3.3), none an
/// OpenID Connect scope (those are about the user, never an API's).
pub fn check_scopes(scopes: &[String]) -> Result<ScopeSet, OperatorError> {
    let mut set = Vec::with_capacity(scopes.len());
    for s in scopes {
        if s.is_empty() || s.contains(' ') {
            return Err(invalid(format!("scope {s:?} is not a single scope token")));
        }
        if OPENID_SCOPES.contains(&s.as_str()) {
            return Err(invalid(format!(
                "scope {s:?} is an OpenID Connect scope; an API defines scopes of its own"
            )));
        }
        set.push(s.as_str());
    }
    let set = ScopeSet::from_tokens(set).map_err(|e| invalid(e.to_string()))?;
    if set.is_empty() {
        return Err(invalid(
            "a resource defines at least one scope (its access tokens carry only those)",
        ));
    }
    Ok(set)
}

/// Registers an API; `Conflict` when its identifier is registered already.
pub async fn create(
    store: &dyn Store,
    clock: &dyn Clock,
    req: NewResource,
) -> Result<ApiResource, OperatorError> {
    check_id(&req.id)?;
    let name = check_name(&req.name)?;
    let scopes = check_scopes(&req.scopes)?;
    // Microseconds, as PostgreSQL keeps them: the answer equals a read.
    let now = clock.now().trunc_subsecs(6);
    let resource = ApiResource {
        id: req.id,
        name,
        scopes,
        created_at: now,
        updated_at: now,
    };
    match store.resources().insert_resource(&resource).await {
        Ok(()) => Ok(resource),
        Err(StoreError::Conflict(_)) => Err(OperatorError::Conflict(format!(
            "the resource {} is registered already",
            resource.id
        ))),
        Err(e) => Err(e.into()),
    }
}

/// The API `id`; `NotFound` when there is none.
pub async fn get(store: &dyn Store, id: &str) -> Result<ApiResource, OperatorError> {
    store
        .resources()
        .get_resource(id)
        .await?
        .ok_or_else(|| not_found(id))
}

/// Up to `limit` APIs ordered by identifier, after `after`.
pub async fn list_page(
    store: &dyn Store,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<ApiResource>, OperatorError> {
    Ok(store.resources().list_resources_page(after, limit).await?)
}

/// Every API, ordered by identifier (the CLI's list).
pub async fn list(store: &dyn Store) -> Result<Vec<ApiResource>, OperatorError> {
    let mut out = Vec::new();
    loop {
        let after = out.last().map(|r: &ApiResource| r.id.clone());
        let page = list_page(store, after.as_deref(), 500).await?;
        let done = page.len() < 500;
        out.extend(page);
        if done {
            return Ok(out);
        }
    }
}

/// Changes the name or the scopes of API `id`. Tokens already issued keep
/// their scope until they expire; new ones follow the new scopes.
pub async fn update(
    store: &dyn Store,
    clock: &dyn Clock,
    id: &str,
    changes: ResourceChanges,
) -> Result<ApiResource, OperatorError> {
    let mut resource = get(store, id).await?;
    if let Some(name) = &changes.name {
        resource.name = check_name(name)?;
    }
    if let Some(scopes) = &changes.scopes {
        resource.scopes = check_scopes(scopes)?;
    }
    resource.updated_at = clock.now().trunc_subsecs(6);
    if !store.resources().update_resource(&resource).await? {
        return Err(not_found(id));
    }
    Ok(resource)
}

/// Deletes API `id`. Refused (`Conflict`, naming them) while clients still
/// allow it: take it out of their `allowed_resources` first (`client
/// update ID --allowed-resource ...`, `PATCH /admin/v1/clients/{id}`), so
/// that no client is left allowed an API that does not exist. Codes and
/// refresh tokens authorized for it get `invalid_target` from then on;
/// access tokens already issued for it live until they expire.
pub async fn delete(store: &dyn Store, id: &str) -> Result<(), OperatorError> {
    let uow = store.begin().await?;
    if uow.resources().get_resource(id).await?.is_none() {
        return Err(not_found(id));
    }
    let clients = uow.resources().clients_allowing(id).await?;
    if !clients.is_empty() {
        let names: Vec<&str> = clients.iter().map(ClientId::as_str).collect();
        return Err(OperatorError::Conflict(format!(
            "the resource {id} is still allowed for clients {}; remove it from their \
             allowed_resources first",
            names.join(", ")
        )));
    }
    if !uow.resources().delete_resource(id).await? {
        return Err(not_found(id));
    }
    uow.commit().await?;
    Ok(())
}

/// Every entry of a client's `allowed_resources` must be a registered API
/// (the check of `client create` / `client update`, the admin API's
/// clients): an unregistered one is `Invalid`, naming it.
pub async fn check_registered(store: &dyn Store, allowed: &[String]) -> Result<(), OperatorError> {
    for r in allowed {
        if store.resources().get_resource(r).await?.is_none() {
            return Err(invalid(format!(
                "allowed_resources: {r} is not a registered resource (portcullis resource create \
                 --id {r} ..., or POST /admin/v1/resources)"
            )));
        }
    }
    Ok(())
}
