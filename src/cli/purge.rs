//! `portcullis purge`: delete expired authorization codes, expired
//! revocations and used client-assertion `jti`s, ended sessions, stale
//! sign-in throttle rows, expired initial access tokens, sent mail, expired
//! single-use links and WebAuthn ceremonies once, in batches of
//! `PORTCULLIS_PURGE_BATCH_SIZE` (`serve` does the same every
//! `PORTCULLIS_PURGE_INTERVAL_SECS`). The rules
//! are in [`crate::app::housekeeping`]; this module runs and prints.

use serde_json::json;

use super::open_store;
use crate::adapters::system::SystemClock;
use crate::app::housekeeping::{self, PurgeSettings};
use crate::config::Config;
use crate::ports::Clock as _;

/// Runs one purge and prints what it removed.
pub async fn run(config: &Config, json: bool) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let report = housekeeping::purge(
        store.as_ref(),
        SystemClock.now(),
        &PurgeSettings::from_config(config),
    )
    .await?;
    if json {
        println!("{}", json!(report));
    } else {
        println!(
            "purged {} authorization codes, {} revocations and assertion ids, {} sessions, {} sign-in throttle rows, {} initial access tokens, {} sent mails, {} links, {} WebAuthn ceremonies, {} device authorizations, {} back-channel logout deliveries",
            report.codes,
            report.revocations,
            report.sessions,
            report.throttles,
            report.initial_access_tokens,
            report.mail,
            report.links,
            report.ceremonies,
            report.device_codes,
            report.deliveries
        );
    }
    Ok(())
}
