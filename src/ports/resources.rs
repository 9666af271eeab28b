//! The repository port of the APIs registered for RFC 8707 resource indicators (issue 18 part 3): create, get, list, update, delete.
//! Reached through [`Repositories::resources`](super::Repositories::resources).

use async_trait::async_trait;

use super::StoreError;
use crate::domain::ClientId;
use crate::domain::resource::ApiResource;

/// The repository of the APIs registered for RFC 8707 resource indicators.
#[async_trait]
pub trait ResourceRepository: Send + Sync {
    /// Stores a new API; `Conflict` when its identifier is registered.
    async fn insert_resource(&self, resource: &ApiResource) -> Result<(), StoreError>;

    /// The API with identifier `id`.
    async fn get_resource(&self, id: &str) -> Result<Option<ApiResource>, StoreError>;

    /// Up to `limit` APIs ordered by identifier, after `after` (paging).
    async fn list_resources_page(
        &self,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<ApiResource>, StoreError>;

    /// Replaces the name and scopes (and `updated_at`) of the API with the
    /// same identifier; `false` when there is none.
    async fn update_resource(&self, resource: &ApiResource) -> Result<bool, StoreError>;

    /// Deletes the API `id`; `false` when there was none.
    async fn delete_resource(&self, id: &str) -> Result<bool, StoreError>;

    /// The clients whose `allowed_resources` name `id` (exact match),
    /// ordered by client id.
    async fn clients_allowing(&self, id: &str) -> Result<Vec<ClientId>, StoreError>;
}
