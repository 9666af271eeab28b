//! The outbox worker (issue 16, docs/SECURITY.md invariant 16): sends the
//! mail of the durable outbox ([`super::mail::queue`] writes it) through the
//! configured [`Mailer`], with retries, so that no mail is lost while the
//! mail server is down and no request ever waits on it.
//!
//! One pass ([`run_once`]): read the due mail, claim each one (a
//! conditional update moving its next attempt to a lease, so that of two
//! instances reading the same row exactly one sends it), send it, then
//! record the outcome:
//!
//! - sent: `sent_at` is set (housekeeping deletes it after [`KEEP_SENT`]);
//! - a transient failure: one more attempt counted, the error kept, the
//!   next attempt after [`backoff`] (5 s, doubling, at most
//!   `PORTCULLIS_MAIL_RETRY_MAX_SECS`);
//! - a permanent refusal: the mail stays, unsent, with its error, and is
//!   not tried again before [`PARKED`] (`portcullis mail list --unsent`
//!   shows it to the operator).
//!
//! `serve` (and every test server) runs [`spawn`]: a pass at start, then
//! one whenever a request queued mail ([`wake`]) or every [`POLL`].

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::Duration;

use crate::config::SelfServiceConfig;
use crate::ports::{Clock, MailError, Mailer, Store, StoreError};
use crate::state::AppState;

/// The first retry's delay; each further failure doubles it.
pub const FIRST_RETRY: Duration = Duration::seconds(5);
/// How long a claim keeps a mail from the other instances; a send is
/// abandoned (and retried later) well before it ends.
pub const LEASE: Duration = Duration::seconds(60);
/// How long one send may take before it counts as a transient failure.
pub const SEND_TIMEOUT: StdDuration = StdDuration::from_secs(30);
/// When a permanently refused mail could be tried again (in practice:
/// never; it stays for the operator to see).
pub const PARKED: Duration = Duration::days(30);
/// How long sent mail stays in the table (housekeeping purges it then).
pub const KEEP_SENT: Duration = Duration::days(7);
/// How often the worker looks for due mail without being woken.
pub const POLL: StdDuration = StdDuration::from_secs(2);
/// Mails read per statement.
pub const BATCH: u64 = 50;

/// How the worker retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxSettings {
    /// The longest delay between two attempts
    /// (`PORTCULLIS_MAIL_RETRY_MAX_SECS`).
    pub retry_max: Duration,
    /// How long a claim holds.
    pub lease: Duration,
    /// Mails per batch.
    pub batch: u64,
}

impl OutboxSettings {
    /// From the configuration.
    pub fn from_config(settings: &SelfServiceConfig) -> Self {
        Self {
            retry_max: settings.mail_retry_max,
            lease: LEASE,
            batch: BATCH,
        }
    }
}

/// The delay before the next attempt after `attempts` failed ones
/// (`attempts` >= 1): 5 s, 10 s, 20 s, ... capped at `max`.
pub fn backoff(attempts: u32, max: Duration) -> Duration {
    let doublings = attempts.saturating_sub(1).min(30);
    let delay = FIRST_RETRY
        .checked_mul(1_i32 << doublings)
        .unwrap_or(Duration::MAX);
    delay.min(max).max(Duration::zero())
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Mails handed to the transport.
    pub sent: u32,
    /// Transient failures (retried later).
    pub failed: u32,
    /// Permanent refusals (parked for the operator).
    pub refused: u32,
    /// Due mails another instance claimed first.
    pub skipped: u32,
}

/// One pass over the due mail (see the module documentation). A store
/// error ends the pass (the caller retries later); a mail being sent when
/// it happens is sent again once its lease is over.
pub async fn run_once(
    store: &dyn Store,
    mailer: &dyn Mailer,
    clock: &dyn Clock,
    settings: &OutboxSettings,
) -> Result<RunReport, StoreError> {
    let mut report = RunReport::default();
    let outbox = store.outbox();
    // Bounded: a full batch is followed by another, a few times at most.
    for _ in 0..20 {
        let now = clock.now();
        let due = outbox.due_mail(now, settings.batch.max(1)).await?;
        let full = u64::try_from(due.len()).unwrap_or(u64::MAX) >= settings.batch.max(1);
        for mail in due {
            let lease_until = clock.now() + settings.lease;
            if !outbox
                .claim_mail(&mail.id, mail.next_attempt_at, lease_until)
                .await?
            {
                report.skipped += 1;
                continue;
            }
            let outcome = match tokio::time::timeout(SEND_TIMEOUT, mailer.send(&mail)).await {
                Ok(r) => r,
                Err(_) => Err(MailError::Transient(format!(
                    "no answer within {} s",
                    SEND_TIMEOUT.as_secs()
                ))),
            };
            let now = clock.now();
            let attempts = mail.attempts.saturating_add(1);
            match outcome {
                Ok(()) => {
                    outbox.mark_mail_sent(&mail.id, now).await?;
                    crate::metrics::mail_attempt("sent");
                    tracing::info!(id = %mail.id, kind = %mail.kind, transport = mailer.name(), attempts, "mail sent");
                    report.sent += 1;
                }
                Err(MailError::Transient(e)) => {
                    let delay = backoff(attempts, settings.retry_max);
                    outbox
                        .mark_mail_failed(&mail.id, attempts, now + delay, &e)
                        .await?;
                    crate::metrics::mail_attempt("failed");
                    tracing::warn!(id = %mail.id, kind = %mail.kind, transport = mailer.name(), attempts, retry_in_secs = delay.num_seconds(), error = %e, "mail not sent; will retry");
                    report.failed += 1;
                }
                Err(MailError::Permanent(e)) => {
                    outbox
                        .mark_mail_failed(
                            &mail.id,
                            attempts,
                            now + PARKED,
                            &format!("refused: {e}"),
                        )
                        .await?;
                    crate::metrics::mail_attempt("refused");
                    tracing::error!(id = %mail.id, kind = %mail.kind, transport = mailer.name(), attempts, error = %e, "mail refused for good; kept unsent (portcullis mail list --unsent)");
                    report.refused += 1;
                }
            }
        }
        if !full {
            break;
        }
    }
    Ok(report)
}

/// Wakes the outbox worker of this instance: call it after committing a
/// unit of work that queued mail (`crate::app::outbox::wake(&state.mail_wake)`),
/// so that the mail goes out at once rather than at the next poll.
pub fn wake(notify: &tokio::sync::Notify) {
    notify.notify_one();
}

/// The running worker; aborted when dropped.
pub struct OutboxWorker(tokio::task::JoinHandle<()>);

impl Drop for OutboxWorker {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts the worker of `state` sending through `mailer`: a pass at once,
/// then one after each [`wake`] or every [`POLL`], whichever comes first.
/// A failed pass is logged and retried; it never stops the server.
pub fn spawn(state: &AppState, mailer: Arc<dyn Mailer>) -> OutboxWorker {
    let store = state.store.clone();
    let clock = state.clock.clone();
    let wake = state.mail_wake.clone();
    let settings = OutboxSettings::from_config(&state.config.self_service);
    tracing::debug!(transport = mailer.name(), "outbox worker started");
    OutboxWorker(tokio::spawn(async move {
        loop {
            if let Err(e) =
                run_once(store.as_ref(), mailer.as_ref(), clock.as_ref(), &settings).await
            {
                tracing::warn!(error = %e, "outbox pass failed; retrying at the next poll");
            }
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_from_five_seconds_up_to_the_cap() {
        let max = Duration::hours(1);
        let secs: Vec<i64> = (1..=12).map(|a| backoff(a, max).num_seconds()).collect();
        assert_eq!(
            secs,
            [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]
        );
        assert_eq!(backoff(0, max), FIRST_RETRY);
        assert_eq!(backoff(u32::MAX, max), max, "no overflow");
        assert_eq!(backoff(3, Duration::seconds(7)), Duration::seconds(7));
    }
}
