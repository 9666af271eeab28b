//! The sea-orm implementation of [`PushedRequestRepository`] (RFC 9126):
//! starting and completing a pushed request are each one conditional
//! `UPDATE`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::SeaRepos;
use super::entity::pushed_requests;
use super::repositories::map_err;
use crate::domain::par::PushedRequest;
use crate::domain::{ClientId, TokenHash};
use crate::ports::{PushedRequestRepository, StoreError};

fn from_model(m: pushed_requests::Model) -> Result<PushedRequest, StoreError> {
    Ok(PushedRequest {
        uri_hash: TokenHash::from_stored(m.uri_hash),
        client_id: ClientId::parse(&m.client_id).ok_or_else(|| {
            StoreError::Internal("stored pushed request client id is unreadable".into())
        })?,
        params: m.params,
        created_at: m.created_at,
        expires_at: m.expires_at,
        started_at: m.started_at,
        interaction_hash: m.interaction_hash.map(TokenHash::from_stored),
        interaction_expires_at: m.interaction_expires_at,
        completed_at: m.completed_at,
    })
}

#[async_trait]
impl<C: ConnectionTrait + Send + Sync> PushedRequestRepository for SeaRepos<C> {
    async fn insert_pushed_request(&self, rec: &PushedRequest) -> Result<(), StoreError> {
        let model = pushed_requests::ActiveModel {
            uri_hash: Set(rec.uri_hash.as_str().to_owned()),
            client_id: Set(rec.client_id.as_str().to_owned()),
            params: Set(rec.params.clone()),
            created_at: Set(rec.created_at),
            expires_at: Set(rec.expires_at),
            started_at: Set(rec.started_at),
            interaction_hash: Set(rec.interaction_hash.as_ref().map(|h| h.as_str().to_owned())),
            interaction_expires_at: Set(rec.interaction_expires_at),
            completed_at: Set(rec.completed_at),
        };
        pushed_requests::Entity::insert(model)
            .exec_without_returning(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn pushed_request(&self, hash: &TokenHash) -> Result<Option<PushedRequest>, StoreError> {
        pushed_requests::Entity::find_by_id(hash.as_str().to_owned())
            .one(&self.conn)
            .await
            .map_err(map_err)?
            .map(from_model)
            .transpose()
    }

    async fn start_pushed_request(
        &self,
        hash: &TokenHash,
        client: &ClientId,
        interaction: &TokenHash,
        interaction_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        use pushed_requests::Column as C;
        let res = pushed_requests::Entity::update_many()
            .col_expr(C::StartedAt, Expr::value(Some(now)))
            .col_expr(
                C::InteractionHash,
                Expr::value(Some(interaction.as_str().to_owned())),
            )
            .col_expr(
                C::InteractionExpiresAt,
                Expr::value(Some(interaction_expires_at)),
            )
            .filter(C::UriHash.eq(hash.as_str()))
            .filter(C::ClientId.eq(client.as_str()))
            .filter(C::StartedAt.is_null())
            .filter(C::ExpiresAt.gt(now))
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn complete_pushed_request(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        use pushed_requests::Column as C;
        let res = pushed_requests::Entity::update_many()
            .col_expr(C::CompletedAt, Expr::value(Some(now)))
            .filter(C::UriHash.eq(hash.as_str()))
            .filter(C::StartedAt.is_not_null())
            .filter(C::CompletedAt.is_null())
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn purge_pushed_requests(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        use pushed_requests::Column as C;
        // Dead: expired before it was started, or its interaction is over
        // (completed or not).
        let res = pushed_requests::Entity::delete_many()
            .filter(
                Condition::any()
                    .add(
                        Condition::all()
                            .add(C::StartedAt.is_null())
                            .add(C::ExpiresAt.lt(before)),
                    )
                    .add(C::InteractionExpiresAt.lt(before))
                    .add(
                        Condition::all()
                            .add(C::CompletedAt.is_not_null())
                            .add(C::CompletedAt.lt(before)),
                    ),
            )
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected)
    }
}
