//! Every kind of client (issue 18):
//!
//! - `device_codes`: RFC 8628 device authorizations, by the SHA-256 of the
//!   device code (never the code itself); the user code is unique while it
//!   lives (normalized: eight characters of the §6.1 alphabet, no hyphen).
//!   `status` moves pending → approved | denied → redeemed, each step one
//!   conditional update; `last_polled_at` and `interval_secs` carry the
//!   §3.5 `slow_down` rule.
//! - `outbound_deliveries`: the durable outbox of HTTP requests the server
//!   makes (back-channel logout tokens today), claimed with a lease like
//!   `mail_outbox`, retried with backoff, each row independent of the
//!   others.
//! - `api_resources`: the APIs (resource servers) operators register for
//!   RFC 8707 resource indicators: an absolute URI and the scopes it
//!   defines.
//! - `clients.backchannel_logout_uri`,
//!   `clients.backchannel_logout_session_required` (OpenID Connect
//!   Back-Channel Logout 1.0 §2.2) and `clients.allowed_resources` (the
//!   resources a client may ask tokens for, space-separated).
//! - `authorization_codes.resources`, `refresh_tokens.resources`: the
//!   resources a grant was authorized for (RFC 8707 §2.2: a refresh may
//!   narrow them).
//! - `refresh_tokens.successor`: the answer that rotated the token, sealed
//!   under a key derived from the token itself, kept for the grace window
//!   (RFC 9700 §4.14.2) so that a retry gets the same successor.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    boolean, integer, string_len, string_len_null, text, text_null, timestamp_with_time_zone,
    timestamp_with_time_zone_null,
};

/// Creates `device_codes`, `outbound_deliveries` and `api_resources`; adds
/// the client, code and refresh-token columns.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
#[allow(clippy::too_many_lines)] // one statement per table and column, read top to bottom
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DeviceCodes::Table)
                    .col(string_len(DeviceCodes::CodeHash, 64).primary_key())
                    .col(string_len(DeviceCodes::UserCode, 16))
                    .col(string_len(DeviceCodes::ClientId, 64))
                    .col(text(DeviceCodes::Scope))
                    .col(text_null(DeviceCodes::Resources))
                    .col(string_len(DeviceCodes::Status, 16))
                    .col(string_len_null(DeviceCodes::UserId, 64))
                    .col(string_len_null(DeviceCodes::SessionId, 64))
                    .col(timestamp_with_time_zone_null(DeviceCodes::AuthTime))
                    .col(text_null(DeviceCodes::Amr))
                    .col(string_len_null(DeviceCodes::Acr, 64))
                    .col(integer(DeviceCodes::IntervalSecs))
                    .col(timestamp_with_time_zone_null(DeviceCodes::LastPolledAt))
                    .col(timestamp_with_time_zone(DeviceCodes::CreatedAt))
                    .col(timestamp_with_time_zone(DeviceCodes::ExpiresAt))
                    .col(timestamp_with_time_zone_null(DeviceCodes::DecidedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_device_codes_user_code")
                    .table(DeviceCodes::Table)
                    .col(DeviceCodes::UserCode)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_device_codes_expires")
                    .table(DeviceCodes::Table)
                    .col(DeviceCodes::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OutboundDeliveries::Table)
                    .col(string_len(OutboundDeliveries::Id, 64).primary_key())
                    .col(string_len(OutboundDeliveries::Kind, 32))
                    .col(string_len_null(OutboundDeliveries::ClientId, 64))
                    .col(text(OutboundDeliveries::Url))
                    .col(text(OutboundDeliveries::Payload))
                    .col(integer(OutboundDeliveries::Attempts).default(0))
                    .col(timestamp_with_time_zone(OutboundDeliveries::NextAttemptAt))
                    .col(text_null(OutboundDeliveries::LastError))
                    .col(timestamp_with_time_zone(OutboundDeliveries::CreatedAt))
                    .col(timestamp_with_time_zone_null(
                        OutboundDeliveries::DeliveredAt,
                    ))
                    .col(timestamp_with_time_zone_null(
                        OutboundDeliveries::AbandonedAt,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_outbound_deliveries_due")
                    .table(OutboundDeliveries::Table)
                    .col(OutboundDeliveries::DeliveredAt)
                    .col(OutboundDeliveries::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ApiResources::Table)
                    .col(string_len(ApiResources::Id, 512).primary_key())
                    .col(string_len(ApiResources::Name, 200))
                    .col(text(ApiResources::Scopes))
                    .col(timestamp_with_time_zone(ApiResources::CreatedAt))
                    .col(timestamp_with_time_zone(ApiResources::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .add_column(text_null(Clients::BackchannelLogoutUri))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .add_column(boolean(Clients::BackchannelLogoutSessionRequired).default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .add_column(text_null(Clients::AllowedResources))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AuthorizationCodes::Table)
                    .add_column(text_null(AuthorizationCodes::Resources))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(RefreshTokens::Table)
                    .add_column(text_null(RefreshTokens::Resources))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(RefreshTokens::Table)
                    .add_column(text_null(RefreshTokens::Successor))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [RefreshTokens::Successor, RefreshTokens::Resources] {
            manager
                .alter_table(
                    Table::alter()
                        .table(RefreshTokens::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(AuthorizationCodes::Table)
                    .drop_column(AuthorizationCodes::Resources)
                    .to_owned(),
            )
            .await?;
        for column in [
            Clients::AllowedResources,
            Clients::BackchannelLogoutSessionRequired,
            Clients::BackchannelLogoutUri,
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
            .drop_table(Table::drop().table(ApiResources::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(OutboundDeliveries::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(DeviceCodes::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum DeviceCodes {
    Table,
    CodeHash,
    UserCode,
    ClientId,
    Scope,
    Resources,
    Status,
    UserId,
    SessionId,
    AuthTime,
    Amr,
    Acr,
    IntervalSecs,
    LastPolledAt,
    CreatedAt,
    ExpiresAt,
    DecidedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum OutboundDeliveries {
    Table,
    Id,
    Kind,
    ClientId,
    Url,
    Payload,
    Attempts,
    NextAttemptAt,
    LastError,
    CreatedAt,
    DeliveredAt,
    AbandonedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ApiResources {
    Table,
    Id,
    Name,
    Scopes,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Clients {
    Table,
    BackchannelLogoutUri,
    BackchannelLogoutSessionRequired,
    AllowedResources,
}

#[derive(DeriveIden, Clone, Copy)]
enum AuthorizationCodes {
    Table,
    Resources,
}

#[derive(DeriveIden, Clone, Copy)]
enum RefreshTokens {
    Table,
    Resources,
    Successor,
}
