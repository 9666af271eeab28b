//! Unit of Work: one transaction spanning the repositories of one request,
//! committed once. Dropping a unit without committing rolls it back.

use async_trait::async_trait;

use super::repositories::{Repositories, StoreError};

/// One open transaction. Its repositories are reached through the
/// [`Repositories`] accessors (`uow.codes().consume_code(..)`), all on this
/// one transaction.
#[async_trait]
pub trait UnitOfWork: Repositories {
    /// Commits everything done through this unit.
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

/// The store: repositories straight on the pool for single reads and
/// writes, through the [`Repositories`] accessors
/// (`store.clients().get_client(..)`), and [`Store::begin`] for a unit of
/// work.
#[async_trait]
pub trait Store: Repositories {
    /// Opens a transaction.
    async fn begin(&self) -> Result<Box<dyn UnitOfWork>, StoreError>;
    /// Checks that the database answers (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;
    /// Which back end this is (`sqlite` or `postgres`), for logs.
    fn backend_name(&self) -> &'static str;
}
