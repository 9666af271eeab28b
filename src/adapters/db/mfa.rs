//! The sea-orm implementation of [`FactorRepository`] (issue 17). A TOTP
//! step, a recovery code and a WebAuthn ceremony are each used by one
//! conditional statement (docs/SECURITY.md invariant 31), so that parallel
//! requests cannot use one twice.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder,
};

use super::SeaRepos;
use super::entity::{recovery_codes, user_factors, webauthn_ceremonies};
use super::repositories::map_err;
use crate::domain::mfa::{Ceremony, CeremonyKind, Factor, FactorKind};
use crate::domain::{TokenHash, UserId};
use crate::ports::{FactorRepository, StoreError};

fn corrupt(what: &str) -> StoreError {
    StoreError::Internal(format!("stored {what} is unreadable"))
}

fn factor_from(m: user_factors::Model) -> Result<Factor, StoreError> {
    Ok(Factor {
        kind: FactorKind::parse(&m.kind).ok_or_else(|| corrupt("factor kind"))?,
        id: m.id,
        user_id: UserId::new(m.user_id),
        name: m.name,
        secret_sealed: m.secret_sealed,
        credential_id: m.credential_id,
        credential: m.credential,
        last_step: m.last_step,
        confirmed_at: m.confirmed_at,
        created_at: m.created_at,
        last_used_at: m.last_used_at,
    })
}

fn ceremony_from(m: webauthn_ceremonies::Model) -> Result<Ceremony, StoreError> {
    Ok(Ceremony {
        id_hash: TokenHash::from_stored(m.id_hash),
        kind: CeremonyKind::parse(&m.kind).ok_or_else(|| corrupt("ceremony kind"))?,
        user_id: m.user_id.map(UserId::new),
        state: m.state,
        created_at: m.created_at,
        expires_at: m.expires_at,
    })
}

#[async_trait]
impl<C: ConnectionTrait + Send + Sync> FactorRepository for SeaRepos<C> {
    async fn list_factors(&self, user: &UserId) -> Result<Vec<Factor>, StoreError> {
        user_factors::Entity::find()
            .filter(user_factors::Column::UserId.eq(user.as_str()))
            .order_by_asc(user_factors::Column::CreatedAt)
            .order_by_asc(user_factors::Column::Id)
            .all(&self.conn)
            .await
            .map_err(map_err)?
            .into_iter()
            .map(factor_from)
            .collect()
    }

    async fn factor_by_credential_id(
        &self,
        credential_id: &str,
    ) -> Result<Option<Factor>, StoreError> {
        user_factors::Entity::find()
            .filter(user_factors::Column::CredentialId.eq(credential_id))
            .one(&self.conn)
            .await
            .map_err(map_err)?
            .map(factor_from)
            .transpose()
    }

    async fn insert_factor(&self, f: &Factor) -> Result<(), StoreError> {
        let model = user_factors::ActiveModel {
            id: Set(f.id.clone()),
            user_id: Set(f.user_id.as_str().to_owned()),
            kind: Set(f.kind.as_str().to_owned()),
            name: Set(f.name.clone()),
            secret_sealed: Set(f.secret_sealed.clone()),
            credential_id: Set(f.credential_id.clone()),
            credential: Set(f.credential.clone()),
            last_step: Set(f.last_step),
            confirmed_at: Set(f.confirmed_at),
            created_at: Set(f.created_at),
            last_used_at: Set(f.last_used_at),
        };
        user_factors::Entity::insert(model)
            .exec_without_returning(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn confirm_factor(
        &self,
        user: &UserId,
        id: &str,
        step: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let res = user_factors::Entity::update_many()
            .col_expr(user_factors::Column::ConfirmedAt, Expr::value(now))
            .col_expr(user_factors::Column::LastStep, Expr::value(step))
            .col_expr(user_factors::Column::LastUsedAt, Expr::value(now))
            .filter(user_factors::Column::Id.eq(id))
            .filter(user_factors::Column::UserId.eq(user.as_str()))
            .filter(user_factors::Column::ConfirmedAt.is_null())
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn delete_factor(&self, user: &UserId, id: &str) -> Result<bool, StoreError> {
        let res = user_factors::Entity::delete_many()
            .filter(user_factors::Column::Id.eq(id))
            .filter(user_factors::Column::UserId.eq(user.as_str()))
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn delete_all_factors(&self, user: &UserId) -> Result<u64, StoreError> {
        let res = user_factors::Entity::delete_many()
            .filter(user_factors::Column::UserId.eq(user.as_str()))
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        recovery_codes::Entity::delete_many()
            .filter(recovery_codes::Column::UserId.eq(user.as_str()))
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected)
    }

    async fn claim_totp_step(
        &self,
        id: &str,
        step: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let res = user_factors::Entity::update_many()
            .col_expr(user_factors::Column::LastStep, Expr::value(step))
            .col_expr(user_factors::Column::LastUsedAt, Expr::value(now))
            .filter(user_factors::Column::Id.eq(id))
            .filter(user_factors::Column::ConfirmedAt.is_not_null())
            .filter(
                Condition::any()
                    .add(user_factors::Column::LastStep.is_null())
                    .add(user_factors::Column::LastStep.lt(step)),
            )
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn record_passkey_use(
        &self,
        id: &str,
        credential: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        user_factors::Entity::update_many()
            .col_expr(user_factors::Column::Credential, Expr::value(credential))
            .col_expr(user_factors::Column::LastUsedAt, Expr::value(now))
            .filter(user_factors::Column::Id.eq(id))
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn replace_recovery_codes(
        &self,
        user: &UserId,
        hashes: &[TokenHash],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        recovery_codes::Entity::delete_many()
            .filter(recovery_codes::Column::UserId.eq(user.as_str()))
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        if hashes.is_empty() {
            return Ok(());
        }
        let rows = hashes.iter().map(|h| recovery_codes::ActiveModel {
            code_hash: Set(h.as_str().to_owned()),
            user_id: Set(user.as_str().to_owned()),
            created_at: Set(now),
            used_at: Set(None),
        });
        recovery_codes::Entity::insert_many(rows)
            .exec_without_returning(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn use_recovery_code(
        &self,
        user: &UserId,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let res = recovery_codes::Entity::update_many()
            .col_expr(recovery_codes::Column::UsedAt, Expr::value(now))
            .filter(recovery_codes::Column::CodeHash.eq(hash.as_str()))
            .filter(recovery_codes::Column::UserId.eq(user.as_str()))
            .filter(recovery_codes::Column::UsedAt.is_null())
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn recovery_codes_left(&self, user: &UserId) -> Result<u64, StoreError> {
        recovery_codes::Entity::find()
            .filter(recovery_codes::Column::UserId.eq(user.as_str()))
            .filter(recovery_codes::Column::UsedAt.is_null())
            .count(&self.conn)
            .await
            .map_err(map_err)
    }

    async fn insert_ceremony(&self, c: &Ceremony) -> Result<(), StoreError> {
        let model = webauthn_ceremonies::ActiveModel {
            id_hash: Set(c.id_hash.as_str().to_owned()),
            kind: Set(c.kind.as_str().to_owned()),
            user_id: Set(c.user_id.as_ref().map(|u| u.as_str().to_owned())),
            state: Set(c.state.clone()),
            created_at: Set(c.created_at),
            expires_at: Set(c.expires_at),
        };
        webauthn_ceremonies::Entity::insert(model)
            .exec_without_returning(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn take_ceremony(
        &self,
        id_hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<Ceremony>, StoreError> {
        let Some(found) = webauthn_ceremonies::Entity::find_by_id(id_hash.as_str())
            .one(&self.conn)
            .await
            .map_err(map_err)?
        else {
            return Ok(None);
        };
        // The delete decides: of parallel answers, one deletes the row.
        let res = webauthn_ceremonies::Entity::delete_many()
            .filter(webauthn_ceremonies::Column::IdHash.eq(id_hash.as_str()))
            .filter(webauthn_ceremonies::Column::ExpiresAt.gt(now))
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        if res.rows_affected != 1 {
            return Ok(None);
        }
        ceremony_from(found).map(Some)
    }

    async fn purge_ceremonies(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let res = webauthn_ceremonies::Entity::delete_many()
            .filter(webauthn_ceremonies::Column::ExpiresAt.lt(before))
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected)
    }
}
