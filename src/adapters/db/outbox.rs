//! The statements every durable outbox shares (the mail outbox and the
//! outbound deliveries): a row waits for `next_attempt_at`; a worker leases
//! it by moving that time forward with a compare-and-set on the time it
//! read (of two workers, one wins); a failed attempt records its count, its
//! error and its next time. The tables differ only in their columns and in
//! what "still pending" means, which each caller passes as [`Outbox`].

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::repositories::map_err;
use crate::ports::StoreError;

/// The longest error text kept with a row.
pub const MAX_ERROR_CHARS: usize = 1000;

/// An outbox table: its key, its schedule columns and its pending rule.
pub struct Outbox<E: EntityTrait> {
    /// The primary key (text).
    pub id: E::Column,
    /// When the next attempt is due (also the lease).
    pub next_attempt_at: E::Column,
    /// Attempts so far.
    pub attempts: E::Column,
    /// The last failure.
    pub last_error: E::Column,
    /// Rows neither done nor given up.
    pub pending: Condition,
}

impl<E: EntityTrait> Outbox<E> {
    /// Pending rows due at `now`, the oldest due first, at most `limit`.
    pub async fn due<C: ConnectionTrait>(
        &self,
        conn: &C,
        now: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<E::Model>, StoreError> {
        E::find()
            .filter(self.pending.clone())
            .filter(self.next_attempt_at.lte(now))
            .order_by_asc(self.next_attempt_at)
            .order_by_asc(self.id)
            .limit(limit)
            .all(conn)
            .await
            .map_err(map_err)
    }

    /// Leases row `id` until `lease_until` if it is still pending and still
    /// due at `seen` (the time the caller read): one conditional UPDATE.
    pub async fn claim<C: ConnectionTrait>(
        &self,
        conn: &C,
        id: &str,
        seen: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let res = E::update_many()
            .col_expr(self.next_attempt_at, Expr::value(lease_until))
            .filter(self.id.eq(id))
            .filter(self.pending.clone())
            .filter(self.next_attempt_at.eq(seen))
            .exec(conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected == 1)
    }

    /// Records a failed attempt of a pending row: its count, its next time
    /// and its error (cut to [`MAX_ERROR_CHARS`]).
    pub async fn failed<C: ConnectionTrait>(
        &self,
        conn: &C,
        id: &str,
        attempts: u32,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> Result<bool, StoreError> {
        let error: String = error.chars().take(MAX_ERROR_CHARS).collect();
        let res = E::update_many()
            .col_expr(
                self.attempts,
                Expr::value(i32::try_from(attempts).unwrap_or(i32::MAX)),
            )
            .col_expr(self.next_attempt_at, Expr::value(next_attempt_at))
            .col_expr(self.last_error, Expr::value(error))
            .filter(self.id.eq(id))
            .filter(self.pending.clone())
            .exec(conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected == 1)
    }
}
