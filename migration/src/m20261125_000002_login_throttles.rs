//! Login throttling state, shared by every instance: failed sign-in counts
//! per account and per client address, and lock-outs.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    integer, string_len, timestamp_with_time_zone, timestamp_with_time_zone_null,
};

/// Creates `login_throttles`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(LoginThrottles::Table)
                    .col(string_len(LoginThrottles::Key, 320).primary_key())
                    .col(integer(LoginThrottles::Failures).default(0))
                    .col(timestamp_with_time_zone(LoginThrottles::WindowStartedAt))
                    .col(timestamp_with_time_zone_null(LoginThrottles::LockedUntil))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(LoginThrottles::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum LoginThrottles {
    Table,
    Key,
    Failures,
    WindowStartedAt,
    LockedUntil,
}
