//! `webauthn_ceremonies`: WebAuthn server state between options and answer.

use sea_orm::entity::prelude::*;

/// A row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webauthn_ceremonies")]
pub struct Model {
    /// `id_hash`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id_hash: String,
    /// `kind`.
    pub kind: String,
    /// `user_id`.
    pub user_id: Option<String>,
    /// `state` (JSON).
    #[sea_orm(column_type = "Text")]
    pub state: String,
    /// `created_at`.
    pub created_at: DateTimeUtc,
    /// `expires_at`.
    pub expires_at: DateTimeUtc,
}

/// No relations are navigated through sea-orm; joins are explicit.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
