//! `api_resources`: APIs registered for RFC 8707 resource indicators
//! (migration m20261201_000016).

use sea_orm::entity::prelude::*;

/// A row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_resources")]
pub struct Model {
    /// `id`: the resource indicator (an absolute URI).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// `name`.
    pub name: String,
    /// `scopes`: space-separated.
    #[sea_orm(column_type = "Text")]
    pub scopes: String,
    /// `created_at`.
    pub created_at: DateTimeUtc,
    /// `updated_at`.
    pub updated_at: DateTimeUtc,
}

/// No relations are navigated through sea-orm; joins are explicit.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
