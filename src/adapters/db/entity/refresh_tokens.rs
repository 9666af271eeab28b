//! `refresh_tokens`: Refresh token, by hash.

use sea_orm::entity::prelude::*;

/// A row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refresh_tokens")]
pub struct Model {
    /// `token_hash`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub token_hash: String,
    /// `family_id`.
    pub family_id: String,
    /// `client_id`.
    pub client_id: String,
    /// `user_id`.
    pub user_id: String,
    /// `scope`.
    #[sea_orm(column_type = "Text")]
    pub scope: String,
    /// `session_id`.
    pub session_id: Option<String>,
    /// `auth_time`.
    pub auth_time: DateTimeUtc,
    /// `created_at`.
    pub created_at: DateTimeUtc,
    /// `expires_at`.
    pub expires_at: DateTimeUtc,
    /// `rotated_at`.
    pub rotated_at: Option<DateTimeUtc>,
    /// `revoked_at`.
    pub revoked_at: Option<DateTimeUtc>,
    /// `acr`.
    pub acr: Option<String>,
    /// `resources` (migration m20261201_000016): space-separated.
    #[sea_orm(column_type = "Text", nullable)]
    pub resources: Option<String>,
    /// `dpop_jkt` (migration m20261202_000017): the DPoP key thumbprint a
    /// public client's refresh token is bound to.
    pub dpop_jkt: Option<String>,
    /// `successor`: the sealed answer that rotated this token.
    #[sea_orm(column_type = "Text", nullable)]
    pub successor: Option<String>,
}

/// No relations are navigated through sea-orm; joins are explicit.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
