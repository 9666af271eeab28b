//! `revoked_access_tokens`: Revoked JWT access token, by jti.

use sea_orm::entity::prelude::*;

/// A row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "revoked_access_tokens")]
pub struct Model {
    /// `jti`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub jti: String,
    /// `client_id`.
    pub client_id: String,
    /// `revoked_at`.
    pub revoked_at: DateTimeUtc,
    /// `expires_at`.
    pub expires_at: DateTimeUtc,
}

/// No relations are navigated through sea-orm; joins are explicit.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
