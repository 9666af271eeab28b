//! The sea-orm implementation of [`StreamRepository`] (issue 20): the
//! `ssf_streams` and `ssf_subjects` tables.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait as _, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait as _, QueryFilter, QueryOrder,
};

use super::SeaRepos;
use super::entity::{grants, ssf_streams, ssf_subjects};
use super::repositories::map_err;
use crate::domain::ClientId;
use crate::domain::ssf::{Stream, StreamStatus};
use crate::ports::{StoreError, StreamRepository};

fn from_model(m: ssf_streams::Model) -> Result<Stream, StoreError> {
    let bad =
        |what: &str| StoreError::Internal(format!("stored stream {}: unreadable {what}", m.id));
    let client_id = ClientId::parse(&m.client_id).ok_or_else(|| bad("client_id"))?;
    let status = StreamStatus::parse(&m.status).ok_or_else(|| bad("status"))?;
    let events_requested =
        serde_json::from_str(&m.events_requested).map_err(|_| bad("events_requested"))?;
    Ok(Stream {
        id: m.id,
        client_id,
        endpoint_url: m.endpoint_url,
        authorization_header: m.authorization_header,
        events_requested,
        description: m.description,
        status,
        reason: m.reason,
        status_by_transmitter: m.status_by_transmitter,
        verified_at: m.verified_at,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

fn events_json(s: &Stream) -> String {
    serde_json::Value::from(s.events_requested.clone()).to_string()
}

#[async_trait]
impl<C: ConnectionTrait + Send + Sync> StreamRepository for SeaRepos<C> {
    async fn insert_stream(&self, s: &Stream) -> Result<(), StoreError> {
        let model = ssf_streams::ActiveModel {
            id: Set(s.id.clone()),
            client_id: Set(s.client_id.as_str().to_owned()),
            endpoint_url: Set(s.endpoint_url.clone()),
            authorization_header: Set(s.authorization_header.clone()),
            events_requested: Set(events_json(s)),
            description: Set(s.description.clone()),
            status: Set(s.status.as_str().to_owned()),
            reason: Set(s.reason.clone()),
            status_by_transmitter: Set(s.status_by_transmitter),
            verified_at: Set(s.verified_at),
            created_at: Set(s.created_at),
            updated_at: Set(s.updated_at),
        };
        ssf_streams::Entity::insert(model)
            .exec_without_returning(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn get_stream(&self, id: &str) -> Result<Option<Stream>, StoreError> {
        ssf_streams::Entity::find_by_id(id)
            .one(&self.conn)
            .await
            .map_err(map_err)?
            .map(from_model)
            .transpose()
    }

    async fn stream_of_client(&self, client_id: &ClientId) -> Result<Option<Stream>, StoreError> {
        ssf_streams::Entity::find()
            .filter(ssf_streams::Column::ClientId.eq(client_id.as_str()))
            .one(&self.conn)
            .await
            .map_err(map_err)?
            .map(from_model)
            .transpose()
    }

    async fn list_streams(&self) -> Result<Vec<Stream>, StoreError> {
        ssf_streams::Entity::find()
            .order_by_asc(ssf_streams::Column::ClientId)
            .all(&self.conn)
            .await
            .map_err(map_err)?
            .into_iter()
            .map(from_model)
            .collect()
    }

    async fn update_stream(&self, s: &Stream) -> Result<bool, StoreError> {
        let res = ssf_streams::Entity::update_many()
            .col_expr(
                ssf_streams::Column::EndpointUrl,
                Expr::value(s.endpoint_url.clone()),
            )
            .col_expr(
                ssf_streams::Column::AuthorizationHeader,
                Expr::value(s.authorization_header.clone()),
            )
            .col_expr(
                ssf_streams::Column::EventsRequested,
                Expr::value(events_json(s)),
            )
            .col_expr(
                ssf_streams::Column::Description,
                Expr::value(s.description.clone()),
            )
            .col_expr(ssf_streams::Column::UpdatedAt, Expr::value(s.updated_at))
            .filter(ssf_streams::Column::Id.eq(s.id.as_str()))
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn set_stream_status(
        &self,
        id: &str,
        status: StreamStatus,
        reason: Option<&str>,
        by_transmitter: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<StreamStatus>, StoreError> {
        let Some(before) = self.get_stream(id).await? else {
            return Ok(None);
        };
        let res = ssf_streams::Entity::update_many()
            .col_expr(ssf_streams::Column::Status, Expr::value(status.as_str()))
            .col_expr(
                ssf_streams::Column::Reason,
                Expr::value(reason.map(str::to_owned)),
            )
            .col_expr(
                ssf_streams::Column::StatusByTransmitter,
                Expr::value(by_transmitter),
            )
            .col_expr(ssf_streams::Column::UpdatedAt, Expr::value(now))
            .filter(ssf_streams::Column::Id.eq(id))
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok((res.rows_affected == 1).then_some(before.status))
    }

    async fn delete_stream(&self, id: &str) -> Result<bool, StoreError> {
        ssf_subjects::Entity::delete_many()
            .filter(ssf_subjects::Column::StreamId.eq(id))
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        let res = ssf_streams::Entity::delete_by_id(id)
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn claim_verification(
        &self,
        id: &str,
        now: DateTime<Utc>,
        not_before: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let res = ssf_streams::Entity::update_many()
            .col_expr(ssf_streams::Column::VerifiedAt, Expr::value(now))
            .filter(ssf_streams::Column::Id.eq(id))
            .filter(
                ssf_streams::Column::VerifiedAt
                    .is_null()
                    .or(ssf_streams::Column::VerifiedAt.lte(not_before)),
            )
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn add_subject(
        &self,
        stream_id: &str,
        user_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let model = ssf_subjects::ActiveModel {
            stream_id: Set(stream_id.to_owned()),
            user_id: Set(user_id.to_owned()),
            created_at: Set(now),
        };
        ssf_subjects::Entity::insert(model)
            .on_conflict(
                OnConflict::columns([ssf_subjects::Column::StreamId, ssf_subjects::Column::UserId])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn remove_subject(&self, stream_id: &str, user_id: &str) -> Result<bool, StoreError> {
        let res = ssf_subjects::Entity::delete_many()
            .filter(ssf_subjects::Column::StreamId.eq(stream_id))
            .filter(ssf_subjects::Column::UserId.eq(user_id))
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn count_subjects(&self, stream_id: &str) -> Result<u64, StoreError> {
        ssf_subjects::Entity::find()
            .filter(ssf_subjects::Column::StreamId.eq(stream_id))
            .count(&self.conn)
            .await
            .map_err(map_err)
    }

    async fn streams_for_subject(&self, user_id: &str) -> Result<Vec<Stream>, StoreError> {
        let ids: Vec<String> = ssf_subjects::Entity::find()
            .filter(ssf_subjects::Column::UserId.eq(user_id))
            .all(&self.conn)
            .await
            .map_err(map_err)?
            .into_iter()
            .map(|m| m.stream_id)
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let streams = ssf_streams::Entity::find()
            .filter(ssf_streams::Column::Id.is_in(ids))
            .filter(ssf_streams::Column::Status.ne(StreamStatus::Disabled.as_str()))
            .order_by_asc(ssf_streams::Column::Id)
            .all(&self.conn)
            .await
            .map_err(map_err)?;
        let mut out = Vec::with_capacity(streams.len());
        for m in streams {
            let signed_in = grants::Entity::find()
                .filter(grants::Column::ClientId.eq(m.client_id.as_str()))
                .filter(grants::Column::UserId.eq(user_id))
                .count(&self.conn)
                .await
                .map_err(map_err)?
                > 0;
            if signed_in {
                out.push(from_model(m)?);
            }
        }
        Ok(out)
    }
}
