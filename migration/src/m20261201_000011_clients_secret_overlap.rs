//! `clients.previous_secret_hash` and `clients.previous_secret_expires_at`:
//! a secret rotated with an overlap window (`POST
//! /admin/v1/clients/{id}/secret`, `portcullis client rotate-secret
//! --overlap`) keeps working until `previous_secret_expires_at`, then stops.
//! Both are null when there is no previous secret (every existing client).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{string_len_null, timestamp_with_time_zone_null};

/// Adds the previous secret's hash and its end (both nullable).
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one column at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .add_column(string_len_null(Clients::PreviousSecretHash, 128))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .add_column(timestamp_with_time_zone_null(
                        Clients::PreviousSecretExpiresAt,
                    ))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            Clients::PreviousSecretExpiresAt,
            Clients::PreviousSecretHash,
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
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Clients {
    Table,
    PreviousSecretHash,
    PreviousSecretExpiresAt,
}
