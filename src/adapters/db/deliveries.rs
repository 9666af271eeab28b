//! The sea-orm implementation of [`DeliveryRepository`] (issue 18): the
//! durable outbox of outbound HTTP requests. A delivery is claimed by one
//! conditional `UPDATE` (docs/SECURITY.md invariant 15), as mail is.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::SeaRepos;
use super::entity::{clients, grants, outbound_deliveries as od};
use super::outbox::{MAX_ERROR_CHARS, Outbox};
use super::repositories::map_err;
use crate::domain::{ClientId, UserId};
use crate::ports::DeliveryRepository;
use crate::ports::StoreError;
use crate::ports::deliveries::{Delivery, DeliveryFilter, LogoutTarget};

/// A stored value that cannot be read back.
fn corrupt(what: &str) -> StoreError {
    StoreError::Internal(format!("stored {what} is unreadable"))
}

fn delivery_from(m: od::Model) -> Result<Delivery, StoreError> {
    Ok(Delivery {
        client_id: match m.client_id {
            Some(c) => Some(ClientId::parse(&c).ok_or_else(|| corrupt("delivery client id"))?),
            None => None,
        },
        attempts: u32::try_from(m.attempts).map_err(|_| corrupt("delivery attempts"))?,
        id: m.id,
        kind: m.kind,
        url: m.url,
        payload: m.payload,
        next_attempt_at: m.next_attempt_at,
        last_error: m.last_error,
        created_at: m.created_at,
        delivered_at: m.delivered_at,
        abandoned_at: m.abandoned_at,
    })
}

fn clip(error: &str) -> String {
    error.chars().take(MAX_ERROR_CHARS).collect()
}

/// Neither delivered nor abandoned.
fn pending() -> Condition {
    Condition::all()
        .add(od::Column::DeliveredAt.is_null())
        .add(od::Column::AbandonedAt.is_null())
}

/// The outbound deliveries as an outbox.
fn outbox() -> Outbox<od::Entity> {
    Outbox {
        id: od::Column::Id,
        next_attempt_at: od::Column::NextAttemptAt,
        attempts: od::Column::Attempts,
        last_error: od::Column::LastError,
        pending: pending(),
    }
}

#[async_trait]
impl<C: ConnectionTrait + Send + Sync> DeliveryRepository for SeaRepos<C> {
    async fn enqueue_delivery(&self, d: &Delivery) -> Result<bool, StoreError> {
        let model = od::ActiveModel {
            id: Set(d.id.clone()),
            kind: Set(d.kind.clone()),
            client_id: Set(d.client_id.as_ref().map(|c| c.as_str().to_owned())),
            url: Set(d.url.clone()),
            payload: Set(d.payload.clone()),
            attempts: Set(i32::try_from(d.attempts).unwrap_or(i32::MAX)),
            next_attempt_at: Set(d.next_attempt_at),
            last_error: Set(d.last_error.clone()),
            created_at: Set(d.created_at),
            delivered_at: Set(d.delivered_at),
            abandoned_at: Set(d.abandoned_at),
        };
        let inserted = od::Entity::insert(model)
            .on_conflict(OnConflict::column(od::Column::Id).do_nothing().to_owned())
            .exec_without_returning(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(inserted == 1)
    }

    async fn due_deliveries(
        &self,
        kind: &str,
        now: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<Delivery>, StoreError> {
        let mut of_kind = outbox();
        of_kind.pending = of_kind.pending.add(od::Column::Kind.eq(kind));
        of_kind
            .due(&self.conn, now, limit)
            .await?
            .into_iter()
            .map(delivery_from)
            .collect()
    }

    async fn claim_delivery(
        &self,
        id: &str,
        seen: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        outbox().claim(&self.conn, id, seen, lease_until).await
    }

    async fn mark_delivered(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let res = od::Entity::update_many()
            .col_expr(od::Column::DeliveredAt, Expr::value(now))
            .col_expr(od::Column::LastError, Expr::value(None::<String>))
            .filter(od::Column::Id.eq(id))
            .filter(pending())
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn mark_delivery_failed(
        &self,
        id: &str,
        attempts: u32,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> Result<bool, StoreError> {
        outbox()
            .failed(&self.conn, id, attempts, next_attempt_at, error)
            .await
    }

    async fn defer_client_deliveries(
        &self,
        client_id: &str,
        except: &str,
        until: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let res = od::Entity::update_many()
            .col_expr(od::Column::NextAttemptAt, Expr::value(until))
            .filter(od::Column::ClientId.eq(client_id))
            .filter(od::Column::Id.ne(except))
            .filter(od::Column::NextAttemptAt.lt(until))
            .filter(pending())
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected)
    }

    async fn earlier_pending(
        &self,
        kind: &str,
        client_id: &str,
        this: &Delivery,
    ) -> Result<bool, StoreError> {
        let earlier = Condition::any()
            .add(od::Column::CreatedAt.lt(this.created_at))
            .add(
                Condition::all()
                    .add(od::Column::CreatedAt.eq(this.created_at))
                    .add(od::Column::Id.lt(this.id.as_str())),
            );
        let found = od::Entity::find()
            .filter(od::Column::Kind.eq(kind))
            .filter(od::Column::ClientId.eq(client_id))
            .filter(od::Column::Id.ne(this.id.as_str()))
            .filter(earlier)
            .filter(pending())
            .one(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(found.is_some())
    }

    async fn mark_abandoned(
        &self,
        id: &str,
        now: DateTime<Utc>,
        error: &str,
    ) -> Result<bool, StoreError> {
        let res = od::Entity::update_many()
            .col_expr(od::Column::AbandonedAt, Expr::value(now))
            .col_expr(od::Column::LastError, Expr::value(clip(error)))
            .filter(od::Column::Id.eq(id))
            .filter(pending())
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn list_deliveries(
        &self,
        filter: DeliveryFilter,
        limit: u64,
    ) -> Result<Vec<Delivery>, StoreError> {
        let mut q = od::Entity::find()
            .order_by_desc(od::Column::CreatedAt)
            .order_by_desc(od::Column::Id)
            .limit(limit);
        q = match filter {
            DeliveryFilter::All => q,
            DeliveryFilter::Pending => q.filter(pending()),
            DeliveryFilter::Abandoned => q.filter(od::Column::AbandonedAt.is_not_null()),
        };
        q.all(&self.conn)
            .await
            .map_err(map_err)?
            .into_iter()
            .map(delivery_from)
            .collect()
    }

    async fn purge_deliveries(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let res = od::Entity::delete_many()
            .filter(
                Condition::any()
                    .add(od::Column::DeliveredAt.lt(before))
                    .add(od::Column::AbandonedAt.lt(before)),
            )
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected)
    }

    async fn logout_targets(&self, session_id: &str) -> Result<Vec<LogoutTarget>, StoreError> {
        // The first grant of each client names the user it knows.
        let mut users: BTreeMap<String, String> = BTreeMap::new();
        for g in grants::Entity::find()
            .filter(grants::Column::SessionId.eq(session_id))
            .order_by_asc(grants::Column::CreatedAt)
            .order_by_asc(grants::Column::Id)
            .all(&self.conn)
            .await
            .map_err(map_err)?
        {
            users.entry(g.client_id).or_insert(g.user_id);
        }
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let rows = clients::Entity::find()
            .filter(clients::Column::Id.is_in(users.keys().cloned()))
            .filter(clients::Column::BackchannelLogoutUri.is_not_null())
            .order_by_asc(clients::Column::Id)
            .all(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(rows
            .into_iter()
            .filter_map(|c| {
                let uri = c.backchannel_logout_uri?;
                let user = users.get(&c.id)?;
                Some(LogoutTarget {
                    client_id: ClientId::parse(&c.id)?,
                    subject: UserId::new(user.clone()),
                    uri,
                    session_required: c.backchannel_logout_session_required,
                })
            })
            .collect())
    }
}
