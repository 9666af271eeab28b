//! `login_throttles`: failed sign-ins per account or address.

use sea_orm::entity::prelude::*;

/// A row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "login_throttles")]
pub struct Model {
    /// `user:<name>` or `ip:<address>`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    /// Failures in the current window.
    pub failures: i32,
    /// Start of the counting window.
    pub window_started_at: DateTimeUtc,
    /// Locked until this time.
    pub locked_until: Option<DateTimeUtc>,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
