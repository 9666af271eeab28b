//! `mail_outbox`: Mail waiting to be sent, or sent.

use sea_orm::entity::prelude::*;

/// A row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mail_outbox")]
pub struct Model {
    /// `id`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// `kind`.
    pub kind: String,
    /// `recipient`.
    pub recipient: String,
    /// `subject`.
    #[sea_orm(column_type = "Text")]
    pub subject: String,
    /// `body`.
    #[sea_orm(column_type = "Text")]
    pub body: String,
    /// `created_at`.
    pub created_at: DateTimeUtc,
    /// `attempts`.
    pub attempts: i32,
    /// `next_attempt_at`.
    pub next_attempt_at: DateTimeUtc,
    /// `sent_at`.
    pub sent_at: Option<DateTimeUtc>,
    /// `last_error`.
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
}

/// No relations are navigated through sea-orm; joins are explicit.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
