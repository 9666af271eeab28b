//! Housekeeping: deleting the rows that can no longer matter (expired
//! authorization codes, expired revocations and used client-assertion
//! `jti`s, ended, expired or idle sessions, sign-in throttle rows whose window
//! and lock are over, mail sent more than a week ago, expired single-use
//! links, WebAuthn ceremonies nobody answered in time, expired device
//! authorizations, pushed authorization requests no longer usable), in
//! bounded batches
//! so that one purge never holds a long lock. `portcullis purge` runs it
//! once; `serve` runs it every `PORTCULLIS_PURGE_INTERVAL_SECS`
//! ([`spawn_periodic`]).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::ports::repositories::PurgeTarget;
use crate::ports::{Clock, Store, StoreError};

/// Rows are purged only this long after they died: a client assertion or
/// a token just past its `exp` may still be accepted within the allowed
/// clock skew, so its `jti` or revocation must outlive it a little.
pub const GRACE: chrono::Duration = chrono::Duration::minutes(10);

/// What a purge removes and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurgeSettings {
    /// Rows per delete statement (`PORTCULLIS_PURGE_BATCH_SIZE`).
    pub batch_size: u64,
    /// The sign-in throttle's counting window: a row whose window started
    /// longer ago than this (and whose lock is over) counts nothing.
    pub throttle_window: chrono::Duration,
    /// The session idle timeout: a session unseen for longer is dead.
    pub session_idle: chrono::Duration,
}

impl PurgeSettings {
    /// From the configuration (`PORTCULLIS_PURGE_BATCH_SIZE`,
    /// `PORTCULLIS_LOGIN_FAILURE_WINDOW_SECS`, `PORTCULLIS_SESSION_IDLE_SECS`).
    pub fn from_config(config: &Config) -> Self {
        Self {
            batch_size: config.purge_batch_size,
            throttle_window: config.auth.login_failure_window,
            session_idle: config.auth.session_idle,
        }
    }
}

/// How many rows one purge removed, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PurgeReport {
    /// Expired authorization codes.
    pub codes: u64,
    /// Expired revocations and used assertion `jti`s.
    pub revocations: u64,
    /// Ended or expired sessions.
    pub sessions: u64,
    /// Stale sign-in throttle rows.
    pub throttles: u64,
    /// Expired initial access tokens (dynamic registration).
    pub initial_access_tokens: u64,
    /// Mail sent more than [`crate::app::outbox::KEEP_SENT`] ago (unsent
    /// mail is never purged).
    pub mail: u64,
    /// Expired single-use links (verification, reset, invitation).
    pub links: u64,
    /// Expired WebAuthn ceremonies (passkey options nobody answered).
    pub ceremonies: u64,
    /// Expired device authorizations (RFC 8628), whatever their status.
    pub device_codes: u64,
    /// Back-channel logout deliveries delivered or abandoned more than
    /// [`crate::app::backchannel::KEEP_DONE`] ago (pending ones are never
    /// purged).
    pub deliveries: u64,
    /// Pushed authorization requests (RFC 9126) that expired unused, or
    /// whose interaction is over.
    pub pushed_requests: u64,
}

impl PurgeReport {
    /// Every row removed.
    pub fn total(&self) -> u64 {
        self.codes
            + self.revocations
            + self.sessions
            + self.throttles
            + self.initial_access_tokens
            + self.mail
            + self.links
            + self.ceremonies
            + self.device_codes
            + self.deliveries
            + self.pushed_requests
    }
}

/// Purges every kind of dead row as of `now`, batch by batch, until a batch
/// comes back short. Each batch is its own statement (no transaction spans
/// the purge), so requests interleave with it.
pub async fn purge(
    store: &dyn Store,
    now: DateTime<Utc>,
    settings: &PurgeSettings,
) -> Result<PurgeReport, StoreError> {
    let limit = settings.batch_size.max(1);
    let dead_before = now - GRACE;
    let mut report = PurgeReport::default();
    for (target, before, count) in [
        (PurgeTarget::ExpiredCodes, dead_before, &mut report.codes),
        (
            PurgeTarget::ExpiredRevocations,
            dead_before,
            &mut report.revocations,
        ),
        (
            PurgeTarget::EndedSessions {
                idle: settings.session_idle,
            },
            dead_before,
            &mut report.sessions,
        ),
        (
            PurgeTarget::StaleThrottles,
            dead_before - settings.throttle_window,
            &mut report.throttles,
        ),
        (
            PurgeTarget::ExpiredInitialAccessTokens,
            dead_before,
            &mut report.initial_access_tokens,
        ),
    ] {
        loop {
            let n = store
                .housekeeping()
                .purge_batch(target, before, limit)
                .await?;
            *count += n;
            if n < limit {
                break;
            }
            // Let other work on this runtime (and its statements) go first.
            tokio::task::yield_now().await;
        }
    }
    // The outboxes, the links, the ceremonies and the device codes: one
    // statement each (a week of sent mail or deliveries, expired links and
    // unanswered ceremonies is small).
    report.mail = store
        .outbox()
        .purge_sent_mail(now - crate::app::outbox::KEEP_SENT)
        .await?;
    report.links = store.links().purge_expired_links(dead_before).await?;
    report.ceremonies = store.factors().purge_ceremonies(dead_before).await?;
    report.device_codes = store
        .device_codes()
        .purge_expired_device_codes(dead_before)
        .await?;
    report.deliveries = store
        .deliveries()
        .purge_deliveries(now - crate::app::backchannel::KEEP_DONE)
        .await?;
    report.pushed_requests = store
        .pushed_requests()
        .purge_pushed_requests(dead_before)
        .await?;
    Ok(report)
}

/// The periodic purge of `serve`; aborted when dropped.
pub struct PeriodicPurge(tokio::task::JoinHandle<()>);

impl Drop for PeriodicPurge {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs [`purge`] every `every` (the first run one interval after start);
/// a failed run is logged and retried at the next tick. `None` when
/// `every` is zero (the operator runs `portcullis purge` instead).
pub fn spawn_periodic(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    settings: PurgeSettings,
    every: Duration,
) -> Option<PeriodicPurge> {
    if every.is_zero() {
        return None;
    }
    Some(PeriodicPurge(tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await; // the first tick is immediate
        loop {
            ticks.tick().await;
            match purge(store.as_ref(), clock.now(), &settings).await {
                Ok(r) if r.total() > 0 => tracing::info!(
                    codes = r.codes,
                    revocations = r.revocations,
                    sessions = r.sessions,
                    throttles = r.throttles,
                    initial_access_tokens = r.initial_access_tokens,
                    mail = r.mail,
                    links = r.links,
                    ceremonies = r.ceremonies,
                    device_codes = r.device_codes,
                    pushed_requests = r.pushed_requests,
                    "purged expired rows"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "purge failed; retrying at the next interval"),
            }
        }
    })))
}
