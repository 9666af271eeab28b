//! `users`: User account.

use sea_orm::entity::prelude::*;

/// A row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    /// `id`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// `username`.
    pub username: String,
    /// `email`.
    pub email: String,
    /// `email_verified`.
    pub email_verified: bool,
    /// `name`.
    pub name: Option<String>,
    /// `password_hash`.
    pub password_hash: String,
    /// `disabled`.
    pub disabled: bool,
    /// `created_at`.
    pub created_at: DateTimeUtc,
    /// `updated_at`.
    pub updated_at: DateTimeUtc,
}

/// No relations are navigated through sea-orm; joins are explicit.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
