//! `signing_keys`: Signing key; the private part sealed, wrapped or absent.

use sea_orm::entity::prelude::*;

/// A row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "signing_keys")]
pub struct Model {
    /// `kid`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub kid: String,
    /// `alg`.
    pub alg: String,
    /// `state`.
    pub state: String,
    /// `backend`.
    pub backend: String,
    /// `public_jwk`.
    #[sea_orm(column_type = "Text")]
    pub public_jwk: String,
    /// `private_key_sealed`.
    #[sea_orm(column_type = "Text", nullable)]
    pub private_key_sealed: Option<String>,
    /// `kms_key_id`.
    pub kms_key_id: Option<String>,
    /// `created_at`.
    pub created_at: DateTimeUtc,
    /// `activates_at`.
    pub activates_at: DateTimeUtc,
    /// `retired_at`.
    pub retired_at: Option<DateTimeUtc>,
    /// `expires_at`.
    pub expires_at: Option<DateTimeUtc>,
    /// `revoked_at`.
    pub revoked_at: Option<DateTimeUtc>,
}

/// No relations are navigated through sea-orm; joins are explicit.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
