//! `outbound_deliveries`: the durable outbox of outbound HTTP requests
//! (migration m20261201_000016).

use sea_orm::entity::prelude::*;

/// A row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbound_deliveries")]
pub struct Model {
    /// `id`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// `kind`, e.g. `backchannel_logout`.
    pub kind: String,
    /// `client_id`, when the request goes to a client.
    pub client_id: Option<String>,
    /// `url`.
    #[sea_orm(column_type = "Text")]
    pub url: String,
    /// `payload` (JSON; what the request is built from at each attempt).
    #[sea_orm(column_type = "Text")]
    pub payload: String,
    /// `attempts`.
    pub attempts: i32,
    /// `next_attempt_at`.
    pub next_attempt_at: DateTimeUtc,
    /// `last_error`.
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
    /// `created_at`.
    pub created_at: DateTimeUtc,
    /// `delivered_at`.
    pub delivered_at: Option<DateTimeUtc>,
    /// `abandoned_at`: given up (too old to matter).
    pub abandoned_at: Option<DateTimeUtc>,
}

/// No relations are navigated through sea-orm; joins are explicit.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
