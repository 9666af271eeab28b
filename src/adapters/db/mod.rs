//! The sea-orm adapter: entities, repositories, unit of work and connection.

mod connect;
mod deliveries;
mod device;
pub mod entity;
mod mfa;
mod outbox;
mod par;
mod registrations;
mod repositories;
mod resources;
mod self_service;
mod ssf;
mod unit_of_work;

pub use connect::{ConnectError, MIGRATION_LOCK_KEY, check_schema, connect, migrate};
pub use repositories::SeaRepos;
pub use unit_of_work::{SeaStore, SeaUnitOfWork};
