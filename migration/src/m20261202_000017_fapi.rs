//! PAR, signed request objects, DPoP and the FAPI 2.0 profile (issue 19):
//!
//! - `pushed_requests`: RFC 9126 pushed authorization requests, by the
//!   SHA-256 of the `request_uri`'s random part (never the URI itself):
//!   the client, the validated parameters (form-encoded), when the URI
//!   expires (60 s by default), when an `/authorize` started with it (one
//!   conditional update: single use) and until when the interaction it
//!   started may go on, and the SHA-256 of the secret that binds the
//!   interaction to the browser that started it; `completed_at` when a
//!   code or an error went back to the client.
//! - `clients.require_pushed_authorization_requests` (RFC 9126 §6),
//!   `clients.dpop_bound_access_tokens` (RFC 9449 §5.2) and
//!   `clients.profile` (`fapi2`: the FAPI 2.0 Security Profile, docs/FAPI.md).
//! - `authorization_codes.dpop_jkt` (RFC 9449 §10: the key the code is
//!   bound to) and `refresh_tokens.dpop_jkt` (§5: a public client's refresh
//!   token is bound to its key).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    boolean, string_len, string_len_null, text, timestamp_with_time_zone,
    timestamp_with_time_zone_null,
};

/// Creates `pushed_requests`; adds the client, code and refresh-token
/// columns.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PushedRequests::Table)
                    .col(string_len(PushedRequests::UriHash, 64).primary_key())
                    .col(string_len(PushedRequests::ClientId, 64))
                    .col(text(PushedRequests::Params))
                    .col(timestamp_with_time_zone(PushedRequests::CreatedAt))
                    .col(timestamp_with_time_zone(PushedRequests::ExpiresAt))
                    .col(timestamp_with_time_zone_null(PushedRequests::StartedAt))
                    .col(string_len_null(PushedRequests::InteractionHash, 64))
                    .col(timestamp_with_time_zone_null(
                        PushedRequests::InteractionExpiresAt,
                    ))
                    .col(timestamp_with_time_zone_null(PushedRequests::CompletedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_pushed_requests_expires")
                    .table(PushedRequests::Table)
                    .col(PushedRequests::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .add_column(boolean(Clients::RequirePushedAuthorizationRequests).default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .add_column(boolean(Clients::DpopBoundAccessTokens).default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .add_column(string_len_null(Clients::Profile, 16))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AuthorizationCodes::Table)
                    .add_column(string_len_null(AuthorizationCodes::DpopJkt, 64))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(RefreshTokens::Table)
                    .add_column(string_len_null(RefreshTokens::DpopJkt, 64))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(RefreshTokens::Table)
                    .drop_column(RefreshTokens::DpopJkt)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AuthorizationCodes::Table)
                    .drop_column(AuthorizationCodes::DpopJkt)
                    .to_owned(),
            )
            .await?;
        for column in [
            Clients::Profile,
            Clients::DpopBoundAccessTokens,
            Clients::RequirePushedAuthorizationRequests,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Clients::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(PushedRequests::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum PushedRequests {
    Table,
    UriHash,
    ClientId,
    Params,
    CreatedAt,
    ExpiresAt,
    StartedAt,
    InteractionHash,
    InteractionExpiresAt,
    CompletedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Clients {
    Table,
    RequirePushedAuthorizationRequests,
    DpopBoundAccessTokens,
    Profile,
}

#[derive(DeriveIden, Clone, Copy)]
enum AuthorizationCodes {
    Table,
    DpopJkt,
}

#[derive(DeriveIden, Clone, Copy)]
enum RefreshTokens {
    Table,
    DpopJkt,
}
