//! An index on `grants.session_id`: logout revokes the grants made in the
//! session it ends.

use sea_orm_migration::prelude::*;

/// Creates `idx_grants_session`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("idx_grants_session")
                    .table(Grants::Table)
                    .col(Grants::SessionId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_grants_session")
                    .table(Grants::Table)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Grants {
    Table,
    SessionId,
}
