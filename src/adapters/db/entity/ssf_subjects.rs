//! `ssf_subjects`: the users a receiver added to its stream (migration
//! m20261203_000019).

use sea_orm::entity::prelude::*;

/// A row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ssf_subjects")]
pub struct Model {
    /// `stream_id`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub stream_id: String,
    /// `user_id`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    /// `created_at`.
    pub created_at: DateTimeUtc,
}

/// No relations are navigated through sea-orm; joins are explicit.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
