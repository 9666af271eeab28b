//! The sea-orm implementation of [`DeviceCodeRepository`] (issue 18): each
//! change of state (poll, decision, redemption) is one conditional
//! `UPDATE`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::SeaRepos;
use super::entity::device_codes;
use super::repositories::map_err;
use crate::domain::device::{DeviceAuthorization, DeviceDecision, DeviceStatus, UserCode};
use crate::domain::{ClientId, ScopeSet, TokenHash, UserId};
use crate::ports::{DeviceCodeRepository, StoreError};

fn corrupt(what: &str) -> StoreError {
    StoreError::Internal(format!("stored device authorization {what} is unreadable"))
}

fn from_model(m: device_codes::Model) -> Result<DeviceAuthorization, StoreError> {
    Ok(DeviceAuthorization {
        code_hash: TokenHash::from_stored(m.code_hash),
        user_code: UserCode::from_stored(m.user_code),
        client_id: ClientId::parse(&m.client_id).ok_or_else(|| corrupt("client id"))?,
        scope: ScopeSet::parse(&m.scope).map_err(|_| corrupt("scope"))?,
        resources: m
            .resources
            .as_deref()
            .map(|r| {
                r.split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        status: DeviceStatus::parse(&m.status).ok_or_else(|| corrupt("status"))?,
        user_id: m.user_id.map(UserId::new),
        session_id: m.session_id,
        auth_time: m.auth_time,
        amr: m.amr,
        acr: m.acr,
        interval_secs: i64::from(m.interval_secs),
        last_polled_at: m.last_polled_at,
        created_at: m.created_at,
        expires_at: m.expires_at,
        decided_at: m.decided_at,
    })
}

#[async_trait]
impl<C: ConnectionTrait + Send + Sync> DeviceCodeRepository for SeaRepos<C> {
    async fn insert_device_code(&self, rec: &DeviceAuthorization) -> Result<(), StoreError> {
        let model = device_codes::ActiveModel {
            code_hash: Set(rec.code_hash.as_str().to_owned()),
            user_code: Set(rec.user_code.as_str().to_owned()),
            client_id: Set(rec.client_id.as_str().to_owned()),
            scope: Set(rec.scope.to_string()),
            resources: Set((!rec.resources.is_empty()).then(|| rec.resources.join(" "))),
            status: Set(rec.status.as_str().to_owned()),
            user_id: Set(rec.user_id.as_ref().map(|u| u.as_str().to_owned())),
            session_id: Set(rec.session_id.clone()),
            auth_time: Set(rec.auth_time),
            amr: Set(rec.amr.clone()),
            acr: Set(rec.acr.clone()),
            interval_secs: Set(i32::try_from(rec.interval_secs).unwrap_or(i32::MAX)),
            last_polled_at: Set(rec.last_polled_at),
            created_at: Set(rec.created_at),
            expires_at: Set(rec.expires_at),
            decided_at: Set(rec.decided_at),
        };
        device_codes::Entity::insert(model)
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn device_code_by_hash(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<DeviceAuthorization>, StoreError> {
        device_codes::Entity::find_by_id(hash.as_str().to_owned())
            .one(&self.conn)
            .await
            .map_err(map_err)?
            .map(from_model)
            .transpose()
    }

    async fn device_code_by_user_code(
        &self,
        code: &UserCode,
    ) -> Result<Option<DeviceAuthorization>, StoreError> {
        device_codes::Entity::find()
            .filter(device_codes::Column::UserCode.eq(code.as_str()))
            .one(&self.conn)
            .await
            .map_err(map_err)?
            .map(from_model)
            .transpose()
    }

    async fn record_poll(
        &self,
        hash: &TokenHash,
        seen: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        slow_down_secs: Option<i64>,
    ) -> Result<bool, StoreError> {
        let mut q = device_codes::Entity::update_many()
            .col_expr(device_codes::Column::LastPolledAt, Expr::value(Some(now)))
            .filter(device_codes::Column::CodeHash.eq(hash.as_str()));
        if let Some(add) = slow_down_secs {
            q = q.col_expr(
                device_codes::Column::IntervalSecs,
                Expr::col(device_codes::Column::IntervalSecs)
                    .add(i32::try_from(add).unwrap_or(i32::MAX)),
            );
        }
        q = match seen {
            Some(t) => q.filter(device_codes::Column::LastPolledAt.eq(t)),
            None => q.filter(device_codes::Column::LastPolledAt.is_null()),
        };
        let res = q.exec(&self.conn).await.map_err(map_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn decide_device_code(
        &self,
        hash: &TokenHash,
        decision: &DeviceDecision,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let status = if decision.approved {
            DeviceStatus::Approved
        } else {
            DeviceStatus::Denied
        };
        let res = device_codes::Entity::update_many()
            .col_expr(device_codes::Column::Status, Expr::value(status.as_str()))
            .col_expr(
                device_codes::Column::UserId,
                Expr::value(Some(decision.user_id.as_str().to_owned())),
            )
            .col_expr(
                device_codes::Column::SessionId,
                Expr::value(Some(decision.session_id.clone())),
            )
            .col_expr(
                device_codes::Column::AuthTime,
                Expr::value(Some(decision.auth_time)),
            )
            .col_expr(device_codes::Column::Amr, Expr::value(decision.amr.clone()))
            .col_expr(device_codes::Column::Acr, Expr::value(decision.acr.clone()))
            .col_expr(
                device_codes::Column::DecidedAt,
                Expr::value(Some(decision.decided_at)),
            )
            .filter(device_codes::Column::CodeHash.eq(hash.as_str()))
            .filter(device_codes::Column::Status.eq(DeviceStatus::Pending.as_str()))
            .filter(device_codes::Column::ExpiresAt.gt(now))
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn redeem_device_code(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let res = device_codes::Entity::update_many()
            .col_expr(
                device_codes::Column::Status,
                Expr::value(DeviceStatus::Redeemed.as_str()),
            )
            .filter(device_codes::Column::CodeHash.eq(hash.as_str()))
            .filter(device_codes::Column::Status.eq(DeviceStatus::Approved.as_str()))
            .filter(device_codes::Column::ExpiresAt.gt(now))
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn purge_expired_device_codes(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let res = device_codes::Entity::delete_many()
            .filter(device_codes::Column::ExpiresAt.lt(before))
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected)
    }
}
