//! `recovery_codes`: Single-use recovery codes, by SHA-256.

use sea_orm::entity::prelude::*;

/// A row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "recovery_codes")]
pub struct Model {
    /// `code_hash`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub code_hash: String,
    /// `user_id`.
    pub user_id: String,
    /// `created_at`.
    pub created_at: DateTimeUtc,
    /// `used_at`.
    pub used_at: Option<DateTimeUtc>,
}

/// No relations are navigated through sea-orm; joins are explicit.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
