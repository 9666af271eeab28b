//! `user_factors`: A user's second factors (TOTP, passkeys).

use sea_orm::entity::prelude::*;

/// A row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "user_factors")]
pub struct Model {
    /// `id`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// `user_id`.
    pub user_id: String,
    /// `kind`: `totp` or `passkey`.
    pub kind: String,
    /// `name`.
    pub name: String,
    /// `secret_sealed` (TOTP).
    #[sea_orm(column_type = "Text", nullable)]
    pub secret_sealed: Option<String>,
    /// `credential_id` (passkey, base64url).
    pub credential_id: Option<String>,
    /// `credential` (passkey, JSON).
    #[sea_orm(column_type = "Text", nullable)]
    pub credential: Option<String>,
    /// `last_step` (TOTP replay guard).
    pub last_step: Option<i64>,
    /// `confirmed_at`.
    pub confirmed_at: Option<DateTimeUtc>,
    /// `created_at`.
    pub created_at: DateTimeUtc,
    /// `last_used_at`.
    pub last_used_at: Option<DateTimeUtc>,
}

/// No relations are navigated through sea-orm; joins are explicit.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
