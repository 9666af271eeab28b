//! Dynamic client registration (RFC 7591, RFC 7592; issue 15 item 4):
//!
//! - `initial_access_tokens`: the tokens an operator hands out so that a
//!   developer may register a client (RFC 7591 §3: the registration
//!   endpoint as a protected resource). Only the SHA-256 of the token is
//!   stored; each has an expiry and an optional number of uses left, spent
//!   by one conditional `UPDATE`.
//! - `client_registrations`: the registration access token of each client
//!   registered through `/register` (RFC 7592 §3), by its SHA-256; a
//!   separate table so that clients made by an operator have none.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    integer_null, string_len, string_len_uniq, timestamp_with_time_zone,
};

/// Creates `initial_access_tokens` and `client_registrations`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(InitialAccessTokens::Table)
                    .col(string_len(InitialAccessTokens::Id, 64).primary_key())
                    .col(string_len_uniq(InitialAccessTokens::TokenHash, 64))
                    .col(timestamp_with_time_zone(InitialAccessTokens::CreatedAt))
                    .col(timestamp_with_time_zone(InitialAccessTokens::ExpiresAt))
                    .col(integer_null(InitialAccessTokens::UsesLeft))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ClientRegistrations::Table)
                    .col(string_len(ClientRegistrations::ClientId, 64).primary_key())
                    .col(string_len_uniq(ClientRegistrations::TokenHash, 64))
                    .col(timestamp_with_time_zone(ClientRegistrations::CreatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ClientRegistrations::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(InitialAccessTokens::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum InitialAccessTokens {
    Table,
    Id,
    TokenHash,
    CreatedAt,
    ExpiresAt,
    UsesLeft,
}

#[derive(DeriveIden, Clone, Copy)]
enum ClientRegistrations {
    Table,
    ClientId,
    TokenHash,
    CreatedAt,
}
