//! Multi-factor sign-in (issue 17):
//!
//! - `user_factors`: a user's second factors. A TOTP factor keeps its secret
//!   sealed (`secret_sealed`: master key or KMS, never in the clear) and the
//!   last time step it accepted (`last_step`, the replay guard of RFC 6238
//!   §5.2, advanced by one conditional update); it counts only once
//!   `confirmed_at` is set (the first code). A passkey keeps its WebAuthn
//!   credential (`credential`, JSON) under its unique `credential_id`.
//! - `recovery_codes`: ten single-use codes per user, by SHA-256 only.
//! - `webauthn_ceremonies`: the server side of a WebAuthn registration or
//!   authentication between the options and the browser's answer, by the
//!   SHA-256 of its handle; taken once (one conditional delete).
//! - `sessions.acr`, `sessions.second_factor_due`: the session's
//!   authentication context class, and whether its user still owes the
//!   second factor (such a session signs nobody in).
//! - `authorization_codes.acr`, `refresh_tokens.acr`: carried into tokens.
//! - `clients.require_mfa`: the client accepts only two-factor sign-ins.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer_null, boolean, string_len, string_len_null, text, text_null,
    timestamp_with_time_zone, timestamp_with_time_zone_null,
};

/// Creates `user_factors`, `recovery_codes` and `webauthn_ceremonies`; adds
/// the `acr`, `second_factor_due` and `require_mfa` columns.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
#[allow(clippy::too_many_lines)] // one statement per table and column, read top to bottom
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(UserFactors::Table)
                    .col(string_len(UserFactors::Id, 64).primary_key())
                    .col(string_len(UserFactors::UserId, 64))
                    .col(string_len(UserFactors::Kind, 16))
                    .col(string_len(UserFactors::Name, 64))
                    .col(text_null(UserFactors::SecretSealed))
                    .col(string_len_null(UserFactors::CredentialId, 1024))
                    .col(text_null(UserFactors::Credential))
                    .col(big_integer_null(UserFactors::LastStep))
                    .col(timestamp_with_time_zone_null(UserFactors::ConfirmedAt))
                    .col(timestamp_with_time_zone(UserFactors::CreatedAt))
                    .col(timestamp_with_time_zone_null(UserFactors::LastUsedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_user_factors_user")
                    .table(UserFactors::Table)
                    .col(UserFactors::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_user_factors_credential")
                    .table(UserFactors::Table)
                    .col(UserFactors::CredentialId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RecoveryCodes::Table)
                    .col(string_len(RecoveryCodes::CodeHash, 64).primary_key())
                    .col(string_len(RecoveryCodes::UserId, 64))
                    .col(timestamp_with_time_zone(RecoveryCodes::CreatedAt))
                    .col(timestamp_with_time_zone_null(RecoveryCodes::UsedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_recovery_codes_user")
                    .table(RecoveryCodes::Table)
                    .col(RecoveryCodes::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebauthnCeremonies::Table)
                    .col(string_len(WebauthnCeremonies::IdHash, 64).primary_key())
                    .col(string_len(WebauthnCeremonies::Kind, 16))
                    .col(string_len_null(WebauthnCeremonies::UserId, 64))
                    .col(text(WebauthnCeremonies::State))
                    .col(timestamp_with_time_zone(WebauthnCeremonies::CreatedAt))
                    .col(timestamp_with_time_zone(WebauthnCeremonies::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .add_column(string_len_null(Sessions::Acr, 64))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .add_column(boolean(Sessions::SecondFactorDue).default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AuthorizationCodes::Table)
                    .add_column(string_len_null(AuthorizationCodes::Acr, 64))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(RefreshTokens::Table)
                    .add_column(string_len_null(RefreshTokens::Acr, 64))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .add_column(boolean(Clients::RequireMfa).default(false))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .drop_column(Clients::RequireMfa)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(RefreshTokens::Table)
                    .drop_column(RefreshTokens::Acr)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AuthorizationCodes::Table)
                    .drop_column(AuthorizationCodes::Acr)
                    .to_owned(),
            )
            .await?;
        for column in [Sessions::SecondFactorDue, Sessions::Acr] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Sessions::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(WebauthnCeremonies::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(RecoveryCodes::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(UserFactors::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum UserFactors {
    Table,
    Id,
    UserId,
    Kind,
    Name,
    SecretSealed,
    CredentialId,
    Credential,
    LastStep,
    ConfirmedAt,
    CreatedAt,
    LastUsedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum RecoveryCodes {
    Table,
    CodeHash,
    UserId,
    CreatedAt,
    UsedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum WebauthnCeremonies {
    Table,
    IdHash,
    Kind,
    UserId,
    State,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Sessions {
    Table,
    Acr,
    SecondFactorDue,
}

#[derive(DeriveIden, Clone, Copy)]
enum AuthorizationCodes {
    Table,
    Acr,
}

#[derive(DeriveIden, Clone, Copy)]
enum RefreshTokens {
    Table,
    Acr,
}

#[derive(DeriveIden, Clone, Copy)]
enum Clients {
    Table,
    RequireMfa,
}
