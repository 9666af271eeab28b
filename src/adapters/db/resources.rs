//! The sea-orm implementation of [`ResourceRepository`] (issue 18): the
//! `api_resources` table (the identifier is the primary key; scopes
//! space-separated).

use async_trait::async_trait;
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect as _,
};

use super::SeaRepos;
use super::entity::{api_resources, clients};
use super::repositories::map_err;
use crate::domain::resource::ApiResource;
use crate::domain::{ClientId, ScopeSet};
use crate::ports::{ResourceRepository, StoreError};

fn from_model(m: api_resources::Model) -> Result<ApiResource, StoreError> {
    let scopes = ScopeSet::parse(&m.scopes)
        .map_err(|e| StoreError::Internal(format!("stored resource scopes are unreadable: {e}")))?;
    Ok(ApiResource {
        id: m.id,
        name: m.name,
        scopes,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

fn to_model(r: &ApiResource) -> api_resources::ActiveModel {
    api_resources::ActiveModel {
        id: Set(r.id.clone()),
        name: Set(r.name.clone()),
        scopes: Set(r.scopes.to_string()),
        created_at: Set(r.created_at),
        updated_at: Set(r.updated_at),
    }
}

#[async_trait]
impl<C: ConnectionTrait + Send + Sync> ResourceRepository for SeaRepos<C> {
    async fn insert_resource(&self, resource: &ApiResource) -> Result<(), StoreError> {
        api_resources::Entity::insert(to_model(resource))
            .exec_without_returning(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn get_resource(&self, id: &str) -> Result<Option<ApiResource>, StoreError> {
        api_resources::Entity::find_by_id(id)
            .one(&self.conn)
            .await
            .map_err(map_err)?
            .map(from_model)
            .transpose()
    }

    async fn list_resources_page(
        &self,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<ApiResource>, StoreError> {
        super::repositories::keyset_page(
            api_resources::Entity::find(),
            api_resources::Column::Id,
            after,
            limit,
        )
        .all(&self.conn)
        .await
        .map_err(map_err)?
        .into_iter()
        .map(from_model)
        .collect()
    }

    async fn update_resource(&self, resource: &ApiResource) -> Result<bool, StoreError> {
        let res = api_resources::Entity::update_many()
            .col_expr(
                api_resources::Column::Name,
                sea_orm::sea_query::Expr::value(resource.name.clone()),
            )
            .col_expr(
                api_resources::Column::Scopes,
                sea_orm::sea_query::Expr::value(resource.scopes.to_string()),
            )
            .col_expr(
                api_resources::Column::UpdatedAt,
                sea_orm::sea_query::Expr::value(resource.updated_at),
            )
            .filter(api_resources::Column::Id.eq(resource.id.as_str()))
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn delete_resource(&self, id: &str) -> Result<bool, StoreError> {
        let res = api_resources::Entity::delete_by_id(id)
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn clients_allowing(&self, id: &str) -> Result<Vec<ClientId>, StoreError> {
        // The list is space-separated text: read the clients that allow any
        // resource and match exactly here (a LIKE pattern would treat `%`,
        // `_` and `\` in an identifier as wildcards or escapes).
        let rows: Vec<(String, Option<String>)> = clients::Entity::find()
            .select_only()
            .column(clients::Column::Id)
            .column(clients::Column::AllowedResources)
            .filter(clients::Column::AllowedResources.is_not_null())
            .order_by_asc(clients::Column::Id)
            .into_tuple()
            .all(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(rows
            .into_iter()
            .filter(|(_, list)| {
                list.as_deref()
                    .is_some_and(|l| l.split(' ').any(|r| r == id))
            })
            .filter_map(|(client, _)| ClientId::parse(&client))
            .collect())
    }
}
