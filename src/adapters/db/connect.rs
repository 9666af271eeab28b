//! Opening the database and running migrations.

use std::path::Path;
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};

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
}

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

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), ConnectError> {
    Migrator::up(db, None)
        .await
        .map_err(|e| ConnectError::Migrate(e.to_string()))
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
