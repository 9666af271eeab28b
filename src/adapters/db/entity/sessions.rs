//! `sessions`: Server-side login session.

use sea_orm::entity::prelude::*;

/// A row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    /// `id`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// `id_hash`.
    pub id_hash: String,
    /// `user_id`.
    pub user_id: Option<String>,
    /// `auth_time`.
    pub auth_time: Option<DateTimeUtc>,
    /// `amr`.
    #[sea_orm(column_type = "Text", nullable)]
    pub amr: Option<String>,
    /// `created_at`.
    pub created_at: DateTimeUtc,
    /// `last_seen_at`.
    pub last_seen_at: DateTimeUtc,
    /// `expires_at`.
    pub expires_at: DateTimeUtc,
    /// `ended_at`.
    pub ended_at: Option<DateTimeUtc>,
    /// `ip`.
    pub ip: Option<String>,
    /// `user_agent`.
    pub user_agent: Option<String>,
    /// `acr`.
    pub acr: Option<String>,
    /// `second_factor_due`.
    pub second_factor_due: bool,
}

/// No relations are navigated through sea-orm; joins are explicit.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
