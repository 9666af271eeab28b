//! `clients.resource_audience`: clients registered as protected resources
//! (RFC 7662 §2.1), the only ones that may call `/introspect`, each with the
//! audience it serves (RFC 7662 §4: it is told only about tokens meant for
//! it). A client is a resource server iff the column is set. Existing
//! clients are not resource servers: an operator registers each API with
//! `portcullis client update ID --resource-server true [--audience VALUE]`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::text_null;

/// Adds `clients.resource_audience` (nullable: not a resource server).
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .add_column(text_null(Clients::ResourceAudience))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .drop_column(Clients::ResourceAudience)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Clients {
    Table,
    ResourceAudience,
}
