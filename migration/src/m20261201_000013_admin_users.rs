//! Indexes for the admin API's lists (issue 15): grants by client and
//! consents by client, each ordered by the list's paging key. Grants and
//! consents by user and sessions by user already have theirs
//! (`idx_grants_user_client`, the consents' primary key, `idx_sessions_user`).

use sea_orm_migration::prelude::*;

/// Creates `idx_grants_client` and `idx_consents_client`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("idx_grants_client")
                    .table(Grants::Table)
                    .col(Grants::ClientId)
                    .col(Grants::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_consents_client")
                    .table(Consents::Table)
                    .col(Consents::ClientId)
                    .col(Consents::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_consents_client")
                    .table(Consents::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_grants_client")
                    .table(Grants::Table)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Grants {
    Table,
    Id,
    ClientId,
}

#[derive(DeriveIden, Clone, Copy)]
enum Consents {
    Table,
    UserId,
    ClientId,
}
