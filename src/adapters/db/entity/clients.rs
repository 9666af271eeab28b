//! `clients`: Registered OAuth client.

use sea_orm::entity::prelude::*;

/// A row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "clients")]
pub struct Model {
    /// `id`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// `name`.
    pub name: String,
    /// `secret_hash`.
    pub secret_hash: Option<String>,
    /// `secret_rotated_at`.
    pub secret_rotated_at: Option<DateTimeUtc>,
    /// `previous_secret_hash` (migration m20261201_000011): the secret
    /// before the last rotation, accepted until `previous_secret_expires_at`.
    pub previous_secret_hash: Option<String>,
    /// `previous_secret_expires_at`.
    pub previous_secret_expires_at: Option<DateTimeUtc>,
    /// `token_endpoint_auth_method`.
    pub token_endpoint_auth_method: String,
    /// `redirect_uris`.
    #[sea_orm(column_type = "Text")]
    pub redirect_uris: String,
    /// `post_logout_redirect_uris`.
    #[sea_orm(column_type = "Text")]
    pub post_logout_redirect_uris: String,
    /// `grant_types`.
    #[sea_orm(column_type = "Text")]
    pub grant_types: String,
    /// `scopes`.
    #[sea_orm(column_type = "Text")]
    pub scopes: String,
    /// `first_party`.
    pub first_party: bool,
    /// `require_pkce`.
    pub require_pkce: bool,
    /// `require_mfa`.
    pub require_mfa: bool,
    /// `resource_audience` (migration m20261201_000005): set iff the client
    /// is a resource server.
    #[sea_orm(column_type = "Text", nullable)]
    pub resource_audience: Option<String>,
    /// `id_token_signed_response_alg`.
    pub id_token_signed_response_alg: Option<String>,
    /// `jwks`.
    #[sea_orm(column_type = "Text", nullable)]
    pub jwks: Option<String>,
    /// `jwks_uri`.
    #[sea_orm(column_type = "Text", nullable)]
    pub jwks_uri: Option<String>,
    /// `access_token_ttl_secs`.
    pub access_token_ttl_secs: Option<i64>,
    /// `id_token_ttl_secs`.
    pub id_token_ttl_secs: Option<i64>,
    /// `refresh_token_ttl_secs`.
    pub refresh_token_ttl_secs: Option<i64>,
    /// `backchannel_logout_uri` (migration m20261201_000016).
    #[sea_orm(column_type = "Text", nullable)]
    pub backchannel_logout_uri: Option<String>,
    /// `backchannel_logout_session_required`.
    pub backchannel_logout_session_required: bool,
    /// `allowed_resources`: space-separated resource identifiers.
    #[sea_orm(column_type = "Text", nullable)]
    pub allowed_resources: Option<String>,
    /// `require_pushed_authorization_requests` (migration m20261202_000017).
    pub require_pushed_authorization_requests: bool,
    /// `dpop_bound_access_tokens`.
    pub dpop_bound_access_tokens: bool,
    /// `profile`: `fapi2` or none.
    pub profile: Option<String>,
    /// `request_uris`: a JSON array, NULL when none (migration
    /// m20261202_000018).
    #[sea_orm(column_type = "Text", nullable)]
    pub request_uris: Option<String>,
    /// `created_at`.
    pub created_at: DateTimeUtc,
    /// `updated_at`.
    pub updated_at: DateTimeUtc,
}

/// No relations are navigated through sea-orm; joins are explicit.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
