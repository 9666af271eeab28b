//! `client_registrations`: the registration access token of each client
//! registered through `/register` (RFC 7592 §3), by hash.

use sea_orm::entity::prelude::*;

/// A row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "client_registrations")]
pub struct Model {
    /// The registered client.
    #[sea_orm(primary_key, auto_increment = false)]
    pub client_id: String,
    /// SHA-256 of the registration access token (unique).
    #[sea_orm(unique)]
    pub token_hash: String,
    /// When the client was registered.
    pub created_at: DateTimeUtc,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
