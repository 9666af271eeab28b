//! Factory: the only place that picks adapters, from configuration
//! (DESIGN.md "One binary, two ways to run it"). Tests swap parts through
//! [`Overrides`], as Hydra's driver options do.

use std::sync::Arc;

use crate::adapters::argon2::{Argon2Hasher, Argon2Params};
use crate::adapters::db::{self, SeaStore};
use crate::adapters::events::{ClickHouseEventSink, FileEventSink};
use crate::adapters::system::{OsRng, SystemClock};
use crate::config::{Config, EventConfig};
use crate::ports::{Clock, EventSink, PasswordHasher, Rng, Store};
use crate::state::AppState;

/// Why the adapters could not be built.
#[derive(Debug, thiserror::Error)]
pub enum FactoryError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Database(#[from] db::ConnectError),
    /// The password hasher could not be configured.
    #[error("password hasher: {0}")]
    Password(String),
    /// The event sink could not start (event directory or spool).
    #[error("events: {0}")]
    Events(String),
}

/// Parts a caller (a test, a benchmark) supplies instead of the configured
/// adapters.
#[derive(Default, Clone)]
pub struct Overrides {
    /// A clock (tests use a fixed one).
    pub clock: Option<Arc<dyn Clock>>,
    /// A random source.
    pub rng: Option<Arc<dyn Rng>>,
    /// A password hasher (tests use cheap parameters).
    pub passwords: Option<Arc<dyn PasswordHasher>>,
    /// An event sink (tests record events with `testing::MemoryEventSink`).
    pub events: Option<Arc<dyn EventSink>>,
    /// Run migrations regardless of `migrate_on_start`.
    pub force_migrate: bool,
}

/// Opens the store configured by `config`, migrating it when asked.
pub async fn build_store(config: &Config, migrate: bool) -> Result<SeaStore, FactoryError> {
    let conn = db::connect(&config.database_url).await?;
    if migrate {
        db::migrate(&conn).await?;
    }
    Ok(SeaStore::new(conn))
}

/// Builds the password hasher with production (OWASP) parameters.
pub fn build_password_hasher(config: &Config) -> Result<Arc<dyn PasswordHasher>, FactoryError> {
    let hasher = Argon2Hasher::new(Argon2Params::OWASP, config.password_hash_concurrency)
        .map_err(|e| FactoryError::Password(e.to_string()))?;
    Ok(Arc::new(hasher))
}

/// Builds the configured event sink: ClickHouse (with its spool) when
/// `PORTCULLIS_CLICKHOUSE_URL` is set, JSON Lines files otherwise. Starts
/// its writer task, so it needs a tokio runtime; never waits for ClickHouse.
pub fn build_event_sink(
    config: &Config,
    clock: Arc<dyn Clock>,
) -> Result<Arc<dyn EventSink>, FactoryError> {
    Ok(match &config.events {
        EventConfig::Files { dir } => {
            tracing::info!(dir = %dir.display(), "events go to JSON Lines files");
            Arc::new(
                FileEventSink::start(dir, &config.event_pipeline)
                    .map_err(|e| FactoryError::Events(format!("{}: {e}", dir.display())))?,
            )
        }
        EventConfig::ClickHouse(ch) => {
            tracing::info!(
                url = %ch.url,
                database = %ch.database,
                spool = %ch.spool_dir.display(),
                "events go to ClickHouse"
            );
            Arc::new(
                ClickHouseEventSink::start(ch, &config.event_pipeline, clock)
                    .map_err(|e| FactoryError::Events(e.to_string()))?,
            )
        }
    })
}

/// Builds the application state from configuration.
pub async fn build(config: Config, overrides: Overrides) -> Result<AppState, FactoryError> {
    let store: Arc<dyn Store> =
        Arc::new(build_store(&config, config.migrate_on_start || overrides.force_migrate).await?);
    let passwords = match overrides.passwords {
        Some(p) => p,
        None => build_password_hasher(&config)?,
    };
    let clock: Arc<dyn Clock> = overrides.clock.unwrap_or_else(|| Arc::new(SystemClock));
    let events = match overrides.events {
        Some(e) => e,
        None => build_event_sink(&config, clock.clone())?,
    };
    Ok(AppState {
        config: Arc::new(config),
        store,
        clock,
        rng: overrides.rng.unwrap_or_else(|| Arc::new(OsRng)),
        passwords,
        events,
    })
}
