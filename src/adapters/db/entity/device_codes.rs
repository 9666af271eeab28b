//! `device_codes`: RFC 8628 device authorizations (migration
//! m20261201_000016).

use sea_orm::entity::prelude::*;

/// A row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "device_codes")]
pub struct Model {
    /// `code_hash`: SHA-256 (hex) of the device code.
    #[sea_orm(primary_key, auto_increment = false)]
    pub code_hash: String,
    /// `user_code`, normalized (no hyphen, upper case).
    pub user_code: String,
    /// `client_id`.
    pub client_id: String,
    /// `scope`.
    #[sea_orm(column_type = "Text")]
    pub scope: String,
    /// `resources`: space-separated.
    #[sea_orm(column_type = "Text", nullable)]
    pub resources: Option<String>,
    /// `status`: pending, approved, denied, redeemed.
    pub status: String,
    /// `user_id`, once decided.
    pub user_id: Option<String>,
    /// `session_id`, once decided.
    pub session_id: Option<String>,
    /// `auth_time`.
    pub auth_time: Option<DateTimeUtc>,
    /// `amr` (JSON array).
    #[sea_orm(column_type = "Text", nullable)]
    pub amr: Option<String>,
    /// `acr`.
    pub acr: Option<String>,
    /// `interval_secs`.
    pub interval_secs: i32,
    /// `last_polled_at`.
    pub last_polled_at: Option<DateTimeUtc>,
    /// `created_at`.
    pub created_at: DateTimeUtc,
    /// `expires_at`.
    pub expires_at: DateTimeUtc,
    /// `decided_at`.
    pub decided_at: Option<DateTimeUtc>,
}

/// No relations are navigated through sea-orm; joins are explicit.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
