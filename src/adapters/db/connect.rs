//! Opening the database and running migrations.
//!
//! Migrations run under a lock, so that instances starting together on one
//! database take turns instead of colliding (docs/OPERATIONS.md, "Several
//! instances"): the first applies what is pending, the others then find
//! nothing left to do.
//!
//! - PostgreSQL: a session advisory lock, `pg_advisory_lock`
//!   ([`MIGRATION_LOCK_KEY`]), taken on a connection of its own that then
//!   runs the migrator and releases the lock; closing that connection ends
//!   the session, which releases the lock in any case (a crash included).
//!   A session lock rather than one transaction around everything, so that
//!   a migration may still opt out of its transaction.
//! - SQLite: the migrator runs inside one `BEGIN IMMEDIATE` transaction,
//!   which takes the database's write lock at once: another process's
//!   `BEGIN IMMEDIATE` waits for it (the busy timeout, 10 s), then sees the
//!   schema the first one committed. A failed migration leaves nothing
//!   behind.

use std::path::Path;
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::postgres::PgPoolOptions;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend,
    SqliteTransactionMode, SqlxPostgresConnector, TransactionOptions, TransactionTrait,
};

use crate::adapters::files;

/// Why the database could not be opened or migrated.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL names a back end we do not support.
    #[error("unsupported database URL scheme in {0:?}: use sqlite:// or postgres://")]
    Scheme(String),
    /// The SQLite file or its directory could not be created.
    #[error("cannot create the SQLite database or its directory {path}: {source}")]
    Directory {
        /// The file or directory.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Connecting failed.
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    /// A migration failed.
    #[error("database migration failed: {0}")]
    Migrate(String),
    /// Migrations are pending and this process was told not to apply them
    /// (`PORTCULLIS_MIGRATE_ON_START=false`).
    #[error(
        "the database schema is behind this portcullis ({} pending migration(s): {}) and \
         PORTCULLIS_MIGRATE_ON_START is false: run `portcullis migrate` first",
        pending.len(),
        pending.join(", ")
    )]
    SchemaBehind {
        /// The names of the pending migrations.
        pending: Vec<String>,
    },
}

/// The key of the PostgreSQL advisory lock that serializes migrations:
/// the ASCII bytes of `portcull` read as a big-endian integer
/// (`SELECT pg_advisory_lock(8101820098873224300)`). Advisory locks are
/// per database, so databases on one server do not wait for each other.
pub const MIGRATION_LOCK_KEY: i64 = i64::from_be_bytes(*b"portcull");

/// Opens a pool for `url` (`sqlite://PATH` or `postgres://…`). For SQLite
/// the file and its directory are created, WAL is on and writers wait for
/// the lock instead of failing at once.
pub async fn connect(url: &str) -> Result<DatabaseConnection, ConnectError> {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.sqlx_logging(false)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5));
    if let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        let path = rest.split('?').next().unwrap_or_default();
        let dir = Path::new(path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty());
        if path != ":memory:" && !path.is_empty() {
            if let Some(dir) = dir {
                files::create_private_dir_all(dir).map_err(|source| ConnectError::Directory {
                    path: dir.display().to_string(),
                    source,
                })?;
            }
            // SQLite creates the file with 0644 (less the umask) and gives
            // its -wal and -shm files the mode of the database: create it
            // owner-only first.
            files::touch_private(Path::new(path)).map_err(|source| ConnectError::Directory {
                path: path.to_owned(),
                source,
            })?;
        }
        opts.max_connections(8).map_sqlx_sqlite_opts(|o| {
            o.create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        });
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        opts.max_connections(32).min_connections(1);
    } else {
        return Err(ConnectError::Scheme(redact_url(url)));
    }
    Database::connect(opts)
        .await
        .map_err(|e| ConnectError::Connect(e.to_string()))
}

/// Applies every pending migration, under the migration lock of the back
/// end (module doc): instances migrating at once take turns.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), ConnectError> {
    let failed = |e: sea_orm::DbErr| ConnectError::Migrate(e.to_string());
    match db.get_database_backend() {
        DbBackend::Postgres => migrate_postgres(db).await,
        DbBackend::Sqlite => {
            let txn = db
                .begin_with_options(TransactionOptions {
                    isolation_level: None,
                    access_mode: None,
                    sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                })
                .await
                .map_err(failed)?;
            Migrator::up(&txn, None).await.map_err(failed)?;
            txn.commit().await.map_err(failed)
        }
        _ => Migrator::up(db, None).await.map_err(failed),
    }
}

/// PostgreSQL: lock, migrate and unlock on one connection of its own (a
/// pool of one that never recycles it, built from the main pool's options).
async fn migrate_postgres(db: &DatabaseConnection) -> Result<(), ConnectError> {
    let options = db.get_postgres_connection_pool().connect_options();
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with((*options).clone())
        .await
        .map_err(|e| ConnectError::Connect(e.to_string()))?;
    let conn = SqlxPostgresConnector::from_sqlx_postgres_pool(pool);
    let failed = |e: sea_orm::DbErr| ConnectError::Migrate(e.to_string());
    let result = async {
        conn.execute_unprepared(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
            .await
            .map_err(failed)?;
        let migrated = Migrator::up(&conn, None).await.map_err(failed);
        let unlocked = conn
            .execute_unprepared(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))
            .await
            .map_err(failed);
        migrated.and(unlocked.map(|_| ()))
    }
    .await;
    // Ends the session: the lock goes with it even if unlocking failed.
    let _ = conn.close().await;
    result
}

/// Refuses a database whose schema is behind this binary: the check made
/// instead of migrating when `PORTCULLIS_MIGRATE_ON_START` is false. Reads
/// only (an empty database has every migration pending).
pub async fn check_schema(db: &DatabaseConnection) -> Result<(), ConnectError> {
    let pending = Migrator::get_pending_migrations_read_only(db)
        .await
        .map_err(|e| ConnectError::Migrate(e.to_string()))?;
    if pending.is_empty() {
        Ok(())
    } else {
        Err(ConnectError::SchemaBehind {
            pending: pending.iter().map(|m| m.name().to_owned()).collect(),
        })
    }
}

/// A URL with any password replaced, for error messages.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.split('@').next_back().unwrap_or(url).to_owned(),
    }
}
