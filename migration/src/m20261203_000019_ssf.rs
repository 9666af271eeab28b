//! The OpenID Shared Signals Framework 1.0 transmitter (issue 20):
//!
//! - `ssf_streams`: one event stream per receiver client (SSF 1.0 §8.1.1;
//!   a second create answers 409): its push endpoint (RFC 8935), the
//!   receiver's `Authorization` header for it sealed at rest, the event
//!   types it asked for (a JSON array), its status (and whether the
//!   transmitter set it: then the receiver cannot undo it) and the time of
//!   the last verification request (`min_verification_interval`).
//! - `ssf_subjects`: the users a receiver added to its stream (SSF 1.0
//!   §8.1.3; `default_subjects` is `NONE`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    boolean, string_len, string_len_null, string_len_uniq, text, text_null,
    timestamp_with_time_zone, timestamp_with_time_zone_null,
};

/// Creates `ssf_streams` and `ssf_subjects`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SsfStreams::Table)
                    .col(string_len(SsfStreams::Id, 64).primary_key())
                    .col(string_len_uniq(SsfStreams::ClientId, 64))
                    .col(text(SsfStreams::EndpointUrl))
                    .col(text_null(SsfStreams::AuthorizationHeader))
                    .col(text(SsfStreams::EventsRequested))
                    .col(string_len_null(SsfStreams::Description, 256))
                    .col(string_len(SsfStreams::Status, 16))
                    .col(string_len_null(SsfStreams::Reason, 256))
                    .col(boolean(SsfStreams::StatusByTransmitter).default(false))
                    .col(timestamp_with_time_zone_null(SsfStreams::VerifiedAt))
                    .col(timestamp_with_time_zone(SsfStreams::CreatedAt))
                    .col(timestamp_with_time_zone(SsfStreams::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SsfSubjects::Table)
                    .col(string_len(SsfSubjects::StreamId, 64))
                    .col(string_len(SsfSubjects::UserId, 36))
                    .col(timestamp_with_time_zone(SsfSubjects::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(SsfSubjects::StreamId)
                            .col(SsfSubjects::UserId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_ssf_subjects_user")
                    .table(SsfSubjects::Table)
                    .col(SsfSubjects::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SsfSubjects::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(SsfStreams::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum SsfStreams {
    Table,
    Id,
    ClientId,
    EndpointUrl,
    AuthorizationHeader,
    EventsRequested,
    Description,
    Status,
    Reason,
    StatusByTransmitter,
    VerifiedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum SsfSubjects {
    Table,
    StreamId,
    UserId,
    CreatedAt,
}
