//! The initial schema: users, clients, grants, authorization codes, refresh
//! tokens, revoked access tokens, sessions, consents and signing keys.
//!
//! Conventions: plural `snake_case` tables, `*_at` columns are UTC timestamps,
//! `*_hash` columns hold SHA-256 (hex) or argon2id hashes of secrets, never
//! the secret. Lists (redirect URIs, scopes) are JSON arrays in text columns so
//! the schema is identical on SQLite and PostgreSQL.

#![allow(clippy::wildcard_imports)] // sea-orm-migration's documented idiom

use sea_orm_migration::{prelude::*, schema::*};

/// Creates the initial tables.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[allow(clippy::too_many_lines)] // one statement per table, read top to bottom
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(string_len(Users::Id, 36).primary_key())
                    .col(string_len_uniq(Users::Username, 128))
                    .col(string_len(Users::Email, 320))
                    .col(boolean(Users::EmailVerified).default(false))
                    .col(string_len_null(Users::Name, 256))
                    .col(string_len(Users::PasswordHash, 256))
                    .col(boolean(Users::Disabled).default(false))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .col(timestamp_with_time_zone(Users::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Clients::Table)
                    .col(string_len(Clients::Id, 64).primary_key())
                    .col(string_len(Clients::Name, 256))
                    .col(string_len_null(Clients::SecretHash, 128))
                    .col(timestamp_with_time_zone_null(Clients::SecretRotatedAt))
                    .col(string_len(Clients::TokenEndpointAuthMethod, 64))
                    .col(text(Clients::RedirectUris))
                    .col(text(Clients::PostLogoutRedirectUris))
                    .col(text(Clients::GrantTypes))
                    .col(text(Clients::Scopes))
                    .col(boolean(Clients::FirstParty).default(false))
                    .col(boolean(Clients::RequirePkce).default(true))
                    .col(string_len_null(Clients::IdTokenSignedResponseAlg, 16))
                    .col(text_null(Clients::Jwks))
                    .col(text_null(Clients::JwksUri))
                    .col(big_integer_null(Clients::AccessTokenTtlSecs))
                    .col(big_integer_null(Clients::IdTokenTtlSecs))
                    .col(big_integer_null(Clients::RefreshTokenTtlSecs))
                    .col(timestamp_with_time_zone(Clients::CreatedAt))
                    .col(timestamp_with_time_zone(Clients::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Grants::Table)
                    .col(string_len(Grants::Id, 36).primary_key())
                    .col(string_len(Grants::ClientId, 64))
                    .col(string_len(Grants::UserId, 36))
                    .col(text(Grants::Scope))
                    .col(string_len_null(Grants::SessionId, 36))
                    .col(timestamp_with_time_zone(Grants::CreatedAt))
                    .col(timestamp_with_time_zone_null(Grants::RevokedAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_grants_user_client",
            Grants::Table,
            &[Grants::UserId, Grants::ClientId],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuthorizationCodes::Table)
                    .col(string_len(AuthorizationCodes::CodeHash, 64).primary_key())
                    .col(string_len(AuthorizationCodes::GrantId, 36))
                    .col(string_len(AuthorizationCodes::ClientId, 64))
                    .col(string_len(AuthorizationCodes::UserId, 36))
                    .col(text(AuthorizationCodes::RedirectUri))
                    .col(text(AuthorizationCodes::Scope))
                    .col(text_null(AuthorizationCodes::Nonce))
                    .col(string_len_null(AuthorizationCodes::CodeChallenge, 128))
                    .col(string_len_null(AuthorizationCodes::CodeChallengeMethod, 16))
                    .col(string_len_null(AuthorizationCodes::SessionId, 36))
                    .col(timestamp_with_time_zone(AuthorizationCodes::AuthTime))
                    .col(text_null(AuthorizationCodes::Amr))
                    .col(text_null(AuthorizationCodes::Claims))
                    .col(timestamp_with_time_zone(AuthorizationCodes::CreatedAt))
                    .col(timestamp_with_time_zone(AuthorizationCodes::ExpiresAt))
                    .col(timestamp_with_time_zone_null(
                        AuthorizationCodes::ConsumedAt,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_authorization_codes_grant",
            AuthorizationCodes::Table,
            &[AuthorizationCodes::GrantId],
        )
        .await?;
        index(
            manager,
            "idx_authorization_codes_expires",
            AuthorizationCodes::Table,
            &[AuthorizationCodes::ExpiresAt],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(RefreshTokens::Table)
                    .col(string_len(RefreshTokens::TokenHash, 64).primary_key())
                    .col(string_len(RefreshTokens::FamilyId, 36))
                    .col(string_len(RefreshTokens::ClientId, 64))
                    .col(string_len(RefreshTokens::UserId, 36))
                    .col(text(RefreshTokens::Scope))
                    .col(string_len_null(RefreshTokens::SessionId, 36))
                    .col(timestamp_with_time_zone(RefreshTokens::AuthTime))
                    .col(timestamp_with_time_zone(RefreshTokens::CreatedAt))
                    .col(timestamp_with_time_zone(RefreshTokens::ExpiresAt))
                    .col(timestamp_with_time_zone_null(RefreshTokens::RotatedAt))
                    .col(timestamp_with_time_zone_null(RefreshTokens::RevokedAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_refresh_tokens_family",
            RefreshTokens::Table,
            &[RefreshTokens::FamilyId],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(RevokedAccessTokens::Table)
                    .col(string_len(RevokedAccessTokens::Jti, 64).primary_key())
                    .col(string_len(RevokedAccessTokens::ClientId, 64))
                    .col(timestamp_with_time_zone(RevokedAccessTokens::RevokedAt))
                    .col(timestamp_with_time_zone(RevokedAccessTokens::ExpiresAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .col(string_len(Sessions::Id, 36).primary_key())
                    .col(string_len_uniq(Sessions::IdHash, 64))
                    .col(string_len_null(Sessions::UserId, 36))
                    .col(timestamp_with_time_zone_null(Sessions::AuthTime))
                    .col(text_null(Sessions::Amr))
                    .col(timestamp_with_time_zone(Sessions::CreatedAt))
                    .col(timestamp_with_time_zone(Sessions::LastSeenAt))
                    .col(timestamp_with_time_zone(Sessions::ExpiresAt))
                    .col(timestamp_with_time_zone_null(Sessions::EndedAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_sessions_user",
            Sessions::Table,
            &[Sessions::UserId],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Consents::Table)
                    .col(string_len(Consents::UserId, 36))
                    .col(string_len(Consents::ClientId, 64))
                    .col(text(Consents::Scopes))
                    .col(timestamp_with_time_zone(Consents::CreatedAt))
                    .col(timestamp_with_time_zone(Consents::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Consents::RevokedAt))
                    .primary_key(
                        Index::create()
                            .col(Consents::UserId)
                            .col(Consents::ClientId),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(SigningKeys::Table)
                    .col(string_len(SigningKeys::Kid, 64).primary_key())
                    .col(string_len(SigningKeys::Alg, 16))
                    .col(string_len(SigningKeys::State, 16))
                    .col(string_len(SigningKeys::Backend, 16))
                    .col(text(SigningKeys::PublicJwk))
                    .col(text_null(SigningKeys::PrivateKeySealed))
                    .col(string_len_null(SigningKeys::KmsKeyId, 2048))
                    .col(timestamp_with_time_zone(SigningKeys::CreatedAt))
                    .col(timestamp_with_time_zone(SigningKeys::ActivatesAt))
                    .col(timestamp_with_time_zone_null(SigningKeys::RetiredAt))
                    .col(timestamp_with_time_zone_null(SigningKeys::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_signing_keys_state",
            SigningKeys::Table,
            &[SigningKeys::State],
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            SigningKeys::Table.into_iden(),
            Consents::Table.into_iden(),
            Sessions::Table.into_iden(),
            RevokedAccessTokens::Table.into_iden(),
            RefreshTokens::Table.into_iden(),
            AuthorizationCodes::Table.into_iden(),
            Grants::Table.into_iden(),
            Clients::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

async fn index<T, C>(
    manager: &SchemaManager<'_>,
    name: &str,
    table: T,
    cols: &[C],
) -> Result<(), DbErr>
where
    T: IntoIden + Clone + 'static,
    C: IntoIden + Clone + 'static,
{
    let mut stmt = Index::create();
    stmt.name(name).table(table);
    for col in cols {
        stmt.col(col.clone());
    }
    manager.create_index(stmt).await
}

#[derive(DeriveIden, Clone, Copy)]
enum Users {
    Table,
    Id,
    Username,
    Email,
    EmailVerified,
    Name,
    PasswordHash,
    Disabled,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Clients {
    Table,
    Id,
    Name,
    SecretHash,
    SecretRotatedAt,
    TokenEndpointAuthMethod,
    RedirectUris,
    PostLogoutRedirectUris,
    GrantTypes,
    Scopes,
    FirstParty,
    RequirePkce,
    IdTokenSignedResponseAlg,
    Jwks,
    JwksUri,
    AccessTokenTtlSecs,
    IdTokenTtlSecs,
    RefreshTokenTtlSecs,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Grants {
    Table,
    Id,
    ClientId,
    UserId,
    Scope,
    SessionId,
    CreatedAt,
    RevokedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum AuthorizationCodes {
    Table,
    CodeHash,
    GrantId,
    ClientId,
    UserId,
    RedirectUri,
    Scope,
    Nonce,
    CodeChallenge,
    CodeChallengeMethod,
    SessionId,
    AuthTime,
    Amr,
    Claims,
    CreatedAt,
    ExpiresAt,
    ConsumedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum RefreshTokens {
    Table,
    TokenHash,
    FamilyId,
    ClientId,
    UserId,
    Scope,
    SessionId,
    AuthTime,
    CreatedAt,
    ExpiresAt,
    RotatedAt,
    RevokedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum RevokedAccessTokens {
    Table,
    Jti,
    ClientId,
    RevokedAt,
    ExpiresAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Sessions {
    Table,
    Id,
    IdHash,
    UserId,
    AuthTime,
    Amr,
    CreatedAt,
    LastSeenAt,
    ExpiresAt,
    EndedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Consents {
    Table,
    UserId,
    ClientId,
    Scopes,
    CreatedAt,
    UpdatedAt,
    RevokedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum SigningKeys {
    Table,
    Kid,
    Alg,
    State,
    Backend,
    PublicJwk,
    PrivateKeySealed,
    KmsKeyId,
    CreatedAt,
    ActivatesAt,
    RetiredAt,
    ExpiresAt,
}
