//! `clients.request_uris` (OpenID Connect Dynamic Client Registration 1.0
//! §2, RFC 9101 §10.4.1): the external `request_uri`s a client registered,
//! as a JSON array of strings; NULL when it registered none. An external
//! `request_uri` is fetched only when it is one of them (and only when the
//! operator allows external request URIs at all).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::text_null;

/// Adds `clients.request_uris`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .add_column(text_null(Clients::RequestUris))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .drop_column(Clients::RequestUris)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Clients {
    Table,
    RequestUris,
}
