//! `signing_keys.revoked_at`: when an operator revoked a key (the emergency
//! path of docs/KEYS.md for a compromised key). A revoked key has state
//! `revoked`, leaves the JWK Set at once and is never purged, so that its
//! `kid` stays known (a KMS key still named by the configuration is not
//! registered again). Existing keys are not revoked.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::timestamp_with_time_zone_null;

/// Adds `signing_keys.revoked_at` (nullable: not revoked).
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(SigningKeys::Table)
                    .add_column(timestamp_with_time_zone_null(SigningKeys::RevokedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(SigningKeys::Table)
                    .drop_column(SigningKeys::RevokedAt)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum SigningKeys {
    Table,
    RevokedAt,
}
