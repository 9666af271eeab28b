//! Queuing mail (issue 16): every mail the server sends is a row of the
//! durable outbox, written through the caller's repositories (usually the
//! unit of work of the change that asks for it, so that the change and its
//! mail commit together). The outbox worker ([`super::outbox`]) sends it
//! later with retries; a request never waits on a mail server
//! (docs/SECURITY.md invariant 16).
//!
//! Every mail a user can trigger (verification, reset, sign-up) first asks
//! [`allow`]: a per-address and per-client-address hourly limit kept in the
//! sign-in throttle table, decided by one atomic statement
//! (`PORTCULLIS_MAIL_PER_ADDRESS_PER_HOUR`).

use chrono::{DateTime, Duration, Utc};

use crate::config::SelfServiceConfig;
use crate::domain::{MailKind, OutboxMail};
use crate::ports::{Repositories, Reservation, Rng, Store, StoreError, ThrottlePolicy};
use crate::protocol::client_address::throttle_address;

/// A mail to queue: one recipient, a subject and a plain-text body.
#[derive(Clone)]
pub struct NewMail<'a> {
    /// What it is for.
    pub kind: MailKind,
    /// The recipient's address.
    pub to: &'a str,
    /// Subject line.
    pub subject: &'a str,
    /// Plain-text body (may hold a single-use link: never logged).
    pub body: &'a str,
}

/// Queues `mail` through `repos`; it is sent once the caller commits.
/// Returns the mail's id.
pub async fn queue(
    repos: &dyn Repositories,
    rng: &dyn Rng,
    now: DateTime<Utc>,
    mail: NewMail<'_>,
) -> Result<String, StoreError> {
    let id = rng.uuid_v7(u64::try_from(now.timestamp_millis()).unwrap_or_default());
    repos
        .outbox()
        .enqueue_mail(&OutboxMail {
            id: id.clone(),
            kind: mail.kind,
            recipient: mail.to.to_owned(),
            subject: mail.subject.to_owned(),
            body: mail.body.to_owned(),
            created_at: now,
            attempts: 0,
            next_attempt_at: now,
            sent_at: None,
            last_error: None,
        })
        .await?;
    Ok(id)
}

/// Whether one more user-triggered mail to `address`, asked from the
/// client address `ip`, is within the hourly limits. Counts the attempt
/// (atomic, shared by every instance). A `false` means: queue nothing,
/// answer the page exactly as if the mail went out.
pub async fn allow(
    store: &dyn Store,
    settings: &SelfServiceConfig,
    address: &str,
    ip: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let policy = ThrottlePolicy {
        max_failures: settings.mail_per_address_per_hour,
        window: Duration::hours(1),
        lockout: Duration::hours(1),
    };
    // The client address may ask for a few addresses' worth: a user who
    // mistyped theirs is not blocked, a script walking a list is.
    let ip_policy = ThrottlePolicy {
        max_failures: settings.mail_per_address_per_hour.saturating_mul(4),
        ..policy
    };
    let address_key = format!("mail:{}", address.trim().to_ascii_lowercase());
    let ip_key = format!("mailip:{}", throttle_address(ip));
    let answers = store
        .throttles()
        .reserve_attempts(&[(&address_key, policy), (&ip_key, ip_policy)], now)
        .await?;
    Ok(answers
        .iter()
        .all(|a| matches!(a, Reservation::Allowed { .. })))
}
