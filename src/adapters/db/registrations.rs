//! The sea-orm implementation of [`RegistrationRepository`]: initial access
//! tokens (RFC 7591 §3) and registration access tokens (RFC 7592 §3), by
//! their SHA-256. A use of an initial access token is spent by one
//! conditional `UPDATE` (docs/SECURITY.md invariant 15).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
};

use super::SeaRepos;
use super::entity::{client_registrations, initial_access_tokens};
use super::repositories::map_err;
use crate::domain::{ClientId, ClientRegistration, InitialAccessToken, TokenHash};
use crate::ports::{RegistrationRepository, StoreError};

fn initial_from(m: initial_access_tokens::Model) -> InitialAccessToken {
    InitialAccessToken {
        id: m.id,
        token_hash: TokenHash::from_stored(m.token_hash),
        created_at: m.created_at,
        expires_at: m.expires_at,
        uses_left: m.uses_left.map(i64::from),
    }
}

#[async_trait]
impl<C: ConnectionTrait + Send + Sync> RegistrationRepository for SeaRepos<C> {
    async fn insert_initial_access_token(
        &self,
        token: &InitialAccessToken,
    ) -> Result<(), StoreError> {
        let uses_left = token
            .uses_left
            .map(|n| {
                i32::try_from(n)
                    .map_err(|_| StoreError::Internal("uses out of range for the store".into()))
            })
            .transpose()?;
        let model = initial_access_tokens::ActiveModel {
            id: Set(token.id.clone()),
            token_hash: Set(token.token_hash.as_str().to_owned()),
            created_at: Set(token.created_at),
            expires_at: Set(token.expires_at),
            uses_left: Set(uses_left),
        };
        initial_access_tokens::Entity::insert(model)
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn list_initial_access_tokens(&self) -> Result<Vec<InitialAccessToken>, StoreError> {
        Ok(initial_access_tokens::Entity::find()
            .order_by_desc(initial_access_tokens::Column::CreatedAt)
            .order_by_asc(initial_access_tokens::Column::Id)
            .all(&self.conn)
            .await
            .map_err(map_err)?
            .into_iter()
            .map(initial_from)
            .collect())
    }

    async fn consume_initial_access_token(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        use initial_access_tokens::Column as C;
        // One statement: `uses_left - 1` of NULL stays NULL (unlimited);
        // the WHERE clause admits only a live token with a use left, so of
        // parallel requests for the last use exactly one updates a row.
        let res = initial_access_tokens::Entity::update_many()
            .col_expr(C::UsesLeft, Expr::col(C::UsesLeft).sub(1))
            .filter(C::TokenHash.eq(hash.as_str()))
            .filter(C::ExpiresAt.gt(now))
            .filter(
                Condition::any()
                    .add(C::UsesLeft.is_null())
                    .add(C::UsesLeft.gt(0)),
            )
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn refund_initial_access_token(&self, hash: &TokenHash) -> Result<(), StoreError> {
        use initial_access_tokens::Column as C;
        initial_access_tokens::Entity::update_many()
            .col_expr(C::UsesLeft, Expr::col(C::UsesLeft).add(1))
            .filter(C::TokenHash.eq(hash.as_str()))
            .filter(C::UsesLeft.is_not_null())
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn insert_client_registration(
        &self,
        registration: &ClientRegistration,
    ) -> Result<(), StoreError> {
        let model = client_registrations::ActiveModel {
            client_id: Set(registration.client_id.as_str().to_owned()),
            token_hash: Set(registration.token_hash.as_str().to_owned()),
            created_at: Set(registration.created_at),
        };
        client_registrations::Entity::insert(model)
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn client_registration(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<ClientRegistration>, StoreError> {
        let Some(m) = client_registrations::Entity::find()
            .filter(client_registrations::Column::TokenHash.eq(hash.as_str()))
            .one(&self.conn)
            .await
            .map_err(map_err)?
        else {
            return Ok(None);
        };
        let client_id = ClientId::parse(&m.client_id).ok_or_else(|| {
            StoreError::Internal("stored registration names an invalid client id".into())
        })?;
        Ok(Some(ClientRegistration {
            client_id,
            token_hash: TokenHash::from_stored(m.token_hash),
            created_at: m.created_at,
        }))
    }

    async fn delete_initial_access_token(&self, id: &str) -> Result<bool, StoreError> {
        let res = initial_access_tokens::Entity::delete_by_id(id)
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn delete_client_registration(&self, client: &ClientId) -> Result<bool, StoreError> {
        let res = client_registrations::Entity::delete_by_id(client.as_str())
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected == 1)
    }
}
