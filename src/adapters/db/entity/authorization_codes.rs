//! `authorization_codes`: Authorization code, by hash.

use sea_orm::entity::prelude::*;

/// A row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "authorization_codes")]
pub struct Model {
    /// `code_hash`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub code_hash: String,
    /// `grant_id`.
    pub grant_id: String,
    /// `client_id`.
    pub client_id: String,
    /// `user_id`.
    pub user_id: String,
    /// `redirect_uri`.
    #[sea_orm(column_type = "Text")]
    pub redirect_uri: String,
    /// `scope`.
    #[sea_orm(column_type = "Text")]
    pub scope: String,
    /// `nonce`.
    #[sea_orm(column_type = "Text", nullable)]
    pub nonce: Option<String>,
    /// `code_challenge`.
    pub code_challenge: Option<String>,
    /// `code_challenge_method`.
    pub code_challenge_method: Option<String>,
    /// `session_id`.
    pub session_id: Option<String>,
    /// `auth_time`.
    pub auth_time: DateTimeUtc,
    /// `amr`.
    #[sea_orm(column_type = "Text", nullable)]
    pub amr: Option<String>,
    /// `claims`.
    #[sea_orm(column_type = "Text", nullable)]
    pub claims: Option<String>,
    /// `created_at`.
    pub created_at: DateTimeUtc,
    /// `expires_at`.
    pub expires_at: DateTimeUtc,
    /// `consumed_at`.
    pub consumed_at: Option<DateTimeUtc>,
    /// `acr`.
    pub acr: Option<String>,
    /// `resources` (migration m20261201_000016): space-separated.
    #[sea_orm(column_type = "Text", nullable)]
    pub resources: Option<String>,
    /// `dpop_jkt` (migration m20261202_000017): the DPoP key thumbprint the
    /// code is bound to.
    pub dpop_jkt: Option<String>,
}

/// No relations are navigated through sea-orm; joins are explicit.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
