//! `consents`: Remembered consent of a user for a client.

use sea_orm::entity::prelude::*;

/// A row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "consents")]
pub struct Model {
    /// `user_id`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    /// `client_id`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub client_id: String,
    /// `scopes`.
    #[sea_orm(column_type = "Text")]
    pub scopes: String,
    /// `created_at`.
    pub created_at: DateTimeUtc,
    /// `updated_at`.
    pub updated_at: DateTimeUtc,
    /// `revoked_at`.
    pub revoked_at: Option<DateTimeUtc>,
}

/// No relations are navigated through sea-orm; joins are explicit.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
