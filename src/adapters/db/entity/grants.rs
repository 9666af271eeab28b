//! `grants`: A user's authorization of a client.

use sea_orm::entity::prelude::*;

/// A row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "grants")]
pub struct Model {
    /// `id`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// `client_id`.
    pub client_id: String,
    /// `user_id`.
    pub user_id: String,
    /// `scope`.
    #[sea_orm(column_type = "Text")]
    pub scope: String,
    /// `session_id`.
    pub session_id: Option<String>,
    /// `created_at`.
    pub created_at: DateTimeUtc,
    /// `revoked_at`.
    pub revoked_at: Option<DateTimeUtc>,
}

/// No relations are navigated through sea-orm; joins are explicit.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
