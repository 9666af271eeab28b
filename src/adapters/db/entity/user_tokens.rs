//! `user_tokens`: Single-use links sent to users (verification, reset, invitation).

use sea_orm::entity::prelude::*;

/// A row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "user_tokens")]
pub struct Model {
    /// `token_hash`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub token_hash: String,
    /// `purpose`.
    pub purpose: String,
    /// `user_id`.
    pub user_id: Option<String>,
    /// `email`.
    pub email: String,
    /// `created_at`.
    pub created_at: DateTimeUtc,
    /// `expires_at`.
    pub expires_at: DateTimeUtc,
    /// `used_at`.
    pub used_at: Option<DateTimeUtc>,
}

/// No relations are navigated through sea-orm; joins are explicit.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
