//! `pushed_requests`: RFC 9126 pushed authorization requests (migration
//! m20261202_000017).

use sea_orm::entity::prelude::*;

/// A row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "pushed_requests")]
pub struct Model {
    /// `uri_hash`: SHA-256 (hex) of the `request_uri`'s random part.
    #[sea_orm(primary_key, auto_increment = false)]
    pub uri_hash: String,
    /// `client_id`: the client that pushed it.
    pub client_id: String,
    /// `params`: the validated request parameters, form-encoded.
    #[sea_orm(column_type = "Text")]
    pub params: String,
    /// `created_at`.
    pub created_at: DateTimeUtc,
    /// `expires_at`: the `request_uri`'s end.
    pub expires_at: DateTimeUtc,
    /// `started_at`: the first `/authorize` with it.
    pub started_at: Option<DateTimeUtc>,
    /// `interaction_hash`: SHA-256 (hex) of the interaction's secret.
    pub interaction_hash: Option<String>,
    /// `interaction_expires_at`.
    pub interaction_expires_at: Option<DateTimeUtc>,
    /// `completed_at`: a code or an error went back to the client.
    pub completed_at: Option<DateTimeUtc>,
}

/// No relations are navigated through sea-orm; joins are explicit.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
