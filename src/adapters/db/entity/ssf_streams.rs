//! `ssf_streams`: Shared Signals event streams, one per receiver client
//! (migration m20261203_000019).

use sea_orm::entity::prelude::*;

/// A row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ssf_streams")]
pub struct Model {
    /// `id`: the `stream_id`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// `client_id`: the receiver (unique).
    #[sea_orm(unique)]
    pub client_id: String,
    /// `endpoint_url`: where SETs are pushed (RFC 8935).
    #[sea_orm(column_type = "Text")]
    pub endpoint_url: String,
    /// `authorization_header`: sealed (`SecretBox`, bound to the stream).
    #[sea_orm(column_type = "Text", nullable)]
    pub authorization_header: Option<String>,
    /// `events_requested`: a JSON array of event type URIs.
    #[sea_orm(column_type = "Text")]
    pub events_requested: String,
    /// `description`.
    pub description: Option<String>,
    /// `status`: `enabled`, `paused` or `disabled`.
    pub status: String,
    /// `reason` of the status.
    pub reason: Option<String>,
    /// `status_by_transmitter`: an operator set the status.
    pub status_by_transmitter: bool,
    /// `verified_at`: the last verification request.
    pub verified_at: Option<DateTimeUtc>,
    /// `created_at`.
    pub created_at: DateTimeUtc,
    /// `updated_at`.
    pub updated_at: DateTimeUtc,
}

/// No relations are navigated through sea-orm; joins are explicit.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
