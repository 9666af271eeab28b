//! [`SeaStore`] (repositories on the pool) and [`SeaUnitOfWork`] (the same
//! repositories inside one transaction).

use async_trait::async_trait;
use sea_orm::{DatabaseConnection, DatabaseTransaction, TransactionTrait};

use super::repositories::{SeaRepos, map_err};
use crate::ports::repositories::StoreError;
use crate::ports::unit_of_work::{Store, UnitOfWork};

/// The sea-orm store over a connection pool.
pub type SeaStore = SeaRepos<DatabaseConnection>;

/// One sea-orm transaction. Dropped without [`UnitOfWork::commit`], sea-orm
/// rolls it back.
pub type SeaUnitOfWork = SeaRepos<DatabaseTransaction>;

impl SeaStore {
    /// The underlying pool (for migrations and tests).
    pub fn connection(&self) -> &DatabaseConnection {
        &self.conn
    }
}

#[async_trait]
impl UnitOfWork for SeaUnitOfWork {
    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.conn.commit().await.map_err(map_err)
    }
}

#[async_trait]
impl Store for SeaStore {
    async fn begin(&self) -> Result<Box<dyn UnitOfWork>, StoreError> {
        let txn = self.conn.begin().await.map_err(map_err)?;
        Ok(Box::new(SeaRepos::new(txn)))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.conn
            .ping()
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    fn backend_name(&self) -> &'static str {
        match self.conn.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => "postgres",
            sea_orm::DatabaseBackend::Sqlite => "sqlite",
            _ => "other",
        }
    }
}
