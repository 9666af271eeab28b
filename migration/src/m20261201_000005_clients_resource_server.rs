//! `clients.resource_server`: clients registered as protected resources
//! (RFC 7662 §2.1), the only ones that may call `/introspect`. Existing
//! clients are not resource servers: an operator registers each API with
//! `portcullis client update ID --resource-server true`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::boolean;

/// Adds `clients.resource_server` (default false).
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .add_column(boolean(Clients::ResourceServer).default(false))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .drop_column(Clients::ResourceServer)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Clients {
    Table,
    ResourceServer,
}
