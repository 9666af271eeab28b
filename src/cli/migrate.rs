//! `portcullis migrate`: apply the pending database migrations and exit.

use crate::config::Config;
use crate::factory;

/// Applies the pending migrations of the configured database.
pub async fn run(config: &Config) -> anyhow::Result<()> {
    factory::build_store(config, true).await?;
    eprintln!("migrations applied");
    Ok(())
}
