//! Schema migrations for portcullis.
//!
//! Each migration file is frozen once merged: it defines its own `Iden` enums
//! and never imports the application's entities, so the schema history stays
//! reproducible. Every migration must run up, down and up again on SQLite and
//! PostgreSQL (see `tests/api/migrations.rs`).

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_initial;
mod m20261125_000002_login_throttles;
mod m20261201_000003_grants_session_index;
mod m20261201_000005_clients_resource_server;
mod m20261201_000010_signing_keys_revoked;
mod m20261201_000011_clients_secret_overlap;
mod m20261201_000012_registration;
mod m20261201_000013_admin_users;
mod m20261201_000014_self_service;
mod m20261201_000015_mfa;
mod m20261201_000016_every_client;
mod m20261202_000017_fapi;
mod m20261202_000018_request_uris;
mod m20261203_000019_ssf;

/// The ordered list of portcullis migrations.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_initial::Migration),
            Box::new(m20261125_000002_login_throttles::Migration),
            Box::new(m20261201_000003_grants_session_index::Migration),
            Box::new(m20261201_000005_clients_resource_server::Migration),
            Box::new(m20261201_000010_signing_keys_revoked::Migration),
            Box::new(m20261201_000011_clients_secret_overlap::Migration),
            Box::new(m20261201_000012_registration::Migration),
            Box::new(m20261201_000013_admin_users::Migration),
            Box::new(m20261201_000014_self_service::Migration),
            Box::new(m20261201_000015_mfa::Migration),
            Box::new(m20261201_000016_every_client::Migration),
            Box::new(m20261202_000017_fapi::Migration),
            Box::new(m20261202_000018_request_uris::Migration),
            Box::new(m20261203_000019_ssf::Migration),
        ]
    }
}
