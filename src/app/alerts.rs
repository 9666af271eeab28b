//! Security alerts (docs/EVENTS.md, "Security alerts"): every
//! high-severity event ([`AlertType::of`]) becomes a Security Event Token
//! (RFC 8417, [`crate::protocol::secevent`]) sent to the alert queue
//! (`PORTCULLIS_ALERTS_SQS_QUEUE_URL`, the [`AlertQueue`] port).
//!
//! The durable path is the outbox of outbound requests
//! (`outbound_deliveries`, `ports::deliveries`, kind [`SECURITY_ALERT`])
//! rather than a disk spool: it is shared by every instance (an alert
//! queued by one is sent by whichever runs the worker, and survives the
//! loss of the host), it already has the claim with a lease, the retries
//! with backoff and the operator's listing, and `portcullis` CLI commands
//! that emit events (a key revoked from the command line) reach it
//! through the same database.
//!
//! 1. [`AlertFanout`] (a fan-out of the delivering sink, `app::fanout`,
//!    which `factory::build_delivering_sink` adds when a queue is
//!    configured) makes one delivery per alert: its id [`delivery_id`],
//!    its payload the event, its URL the queue. A request never waits.
//! 2. The delivery worker (`app::backchannel`, which `serve` starts)
//!    claims due deliveries with a lease and calls [`attempt`] for alerts:
//!    it signs a fresh SET (`iat` now, `jti` the event id) and sends it
//!    with the event id as the deduplication id. Accepted: delivered.
//!    Failed (the queue down, refusing, slow): retried after
//!    `app::outbox::backoff`, for as long as it takes: an alert is never
//!    given up for its age. A failure of ours (the signing keys) is retried
//!    soon without counting.
//!
//! At least once: an alert whose acceptance was not recorded (a crash
//! right after the send) is sent again with the same deduplication id.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::backchannel::{ATTEMPT_TIMEOUT, Deliverer, Outcome, retry_after_signing_failure};
use super::fanout::Fanout;
use super::outbox::backoff;
use crate::domain::alert::AlertType;
use crate::domain::event::Event;
use crate::ports::deliveries::{Delivery, SECURITY_ALERT};
use crate::ports::{AlertMessage, Store, StoreError};
use crate::protocol::secevent::set_claims;

/// The fan-out of high-severity events to the alert queue at `queue_url`
/// (module documentation, step 1).
pub struct AlertFanout {
    /// `PORTCULLIS_ALERTS_SQS_QUEUE_URL`.
    pub queue_url: String,
}

#[async_trait]
impl Fanout for AlertFanout {
    fn wants(&self, event: &Event) -> bool {
        AlertType::of(event).is_some()
    }

    async fn deliveries(
        &self,
        event: &Event,
        _store: &dyn Store,
        now: DateTime<Utc>,
    ) -> Result<Vec<Delivery>, StoreError> {
        let Ok(payload) = serde_json::to_string(event) else {
            return Ok(Vec::new());
        };
        Ok(vec![Delivery::new(
            delivery_id(event),
            SECURITY_ALERT,
            None,
            self.queue_url.clone(),
            payload,
            now,
        )])
    }
}

/// How long one account (or address) raises at most one `account-locked`
/// alert: every sign-in refused while it is throttled is an event, and an
/// attacker can send many; one alert per window says it all.
pub const LOCKED_ALERT_WINDOW_SECS: i64 = 15 * 60;

/// The outbox id of the alert `event` raises (also its SQS deduplication
/// id): the event id, except for `account-locked`, whose id names the
/// account (else the address) and the [`LOCKED_ALERT_WINDOW_SECS`] window,
/// so that the outbox's insert-once keeps one alert per lockout window
/// however many refused sign-ins there are (at most 64 characters: a
/// base64url SHA-256 behind a prefix).
pub fn delivery_id(event: &Event) -> String {
    use base64::Engine as _;
    use sha2::{Digest as _, Sha256};
    if AlertType::of(event) != Some(AlertType::AccountLocked) {
        return event.event_id().to_string();
    }
    let who = match (event.subject_id(), event.ip()) {
        (Some(subject), _) => format!("user {subject}"),
        (None, Some(ip)) => format!("address {ip}"),
        (None, None) => return event.event_id().to_string(),
    };
    let window = event
        .occurred_at()
        .timestamp()
        .div_euclid(LOCKED_ALERT_WINDOW_SECS);
    let digest = Sha256::digest(format!("{who} {window}").as_bytes());
    format!(
        "locked:{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
    )
}

/// One attempt at a claimed [`SECURITY_ALERT`] delivery (called by the
/// delivery worker; module documentation), recording the outcome.
pub(super) async fn attempt(d: &Deliverer, delivery: &Delivery) -> Result<Outcome, StoreError> {
    let outbox = d.store.deliveries();
    let now = d.clock.now();
    let event = serde_json::from_str::<Event>(&delivery.payload).ok();
    let Some((event, alert)) = event.and_then(|e| AlertType::of(&e).map(|a| (e, a))) else {
        outbox
            .mark_abandoned(&delivery.id, now, "unreadable alert")
            .await?;
        tracing::error!(id = %delivery.id, "security alert abandoned: unreadable payload");
        return Ok(Outcome::Abandoned);
    };
    let Some(queue) = &d.alerts else {
        // Alerts were turned off after this one was queued: kept, tried
        // again later (never given up).
        outbox
            .mark_delivery_failed(
                &delivery.id,
                delivery.attempts,
                now + d.retry_max,
                "no alert queue configured",
            )
            .await?;
        return Ok(Outcome::Deferred);
    };
    let claims = set_claims(
        &d.issuer,
        d.alert_audience.as_deref(),
        &delivery.id,
        alert,
        &event,
        now,
    );
    let set = match crate::protocol::secevent::sign(d.keys.as_ref(), &claims).await {
        Ok(set) => set,
        Err(e) => {
            tracing::warn!(id = %delivery.id, error = %e, "security alert: signing failed; retrying");
            return retry_after_signing_failure(d, delivery, now).await;
        }
    };
    let message = AlertMessage {
        dedup_id: delivery.id.clone(),
        event_type: alert.uri(),
        set,
    };
    let outcome = tokio::time::timeout(ATTEMPT_TIMEOUT, queue.send(&message)).await;
    let now = d.clock.now();
    let error = match outcome {
        Ok(Ok(())) => {
            outbox.mark_delivered(&delivery.id, now).await?;
            tracing::info!(id = %delivery.id, event_type = %message.event_type, attempts = delivery.attempts + 1, "security alert sent");
            return Ok(Outcome::Delivered);
        }
        Ok(Err(e)) => e.to_string(),
        Err(_) => "timeout".to_owned(),
    };
    let attempts = delivery.attempts.saturating_add(1);
    let delay = backoff(attempts, d.retry_max);
    outbox
        .mark_delivery_failed(&delivery.id, attempts, now + delay, &error)
        .await?;
    tracing::warn!(id = %delivery.id, attempts, retry_in_secs = delay.num_seconds(), error = %error, "security alert not sent; will retry");
    Ok(Outcome::Failed)
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone as _, Utc};

    use super::*;
    use crate::domain::UserId;
    use crate::domain::event::{EventStamp, LoginFailureReason};

    fn locked(at_secs: i64, n: u8, user: Option<&str>, ip: Option<&str>) -> Event {
        let at = Utc.timestamp_opt(at_secs, 0).unwrap();
        let mut e = Event::login_failed(
            EventStamp::new(at, [n; EventStamp::RANDOM_BYTES]),
            LoginFailureReason::Locked,
        );
        if let Some(u) = user {
            e = e.subject(&UserId::new(u));
        }
        e.request(ip.map(|i| i.parse().unwrap()), None, None)
    }

    #[test]
    fn one_account_locked_alert_per_account_or_address_and_window() {
        let t = 1_800_000_000 - 1_800_000_000 % LOCKED_ALERT_WINDOW_SECS;
        let a = delivery_id(&locked(t, 1, Some("u1"), Some("192.0.2.1")));
        // Another refused sign-in of the same account in the window (from
        // anywhere): the same id, so the outbox keeps one alert.
        assert_eq!(
            a,
            delivery_id(&locked(t + 899, 2, Some("u1"), Some("198.51.100.7")))
        );
        assert!(a.starts_with("locked:") && a.len() <= 64, "{a}");
        // The next window, another account: alerts of their own.
        assert_ne!(
            a,
            delivery_id(&locked(t + 900, 3, Some("u1"), Some("192.0.2.1")))
        );
        assert_ne!(a, delivery_id(&locked(t, 4, Some("u2"), Some("192.0.2.1"))));
        // Keyed by address when no account is known.
        let b = delivery_id(&locked(t, 5, None, Some("192.0.2.1")));
        assert_eq!(b, delivery_id(&locked(t + 10, 6, None, Some("192.0.2.1"))));
        assert_ne!(b, delivery_id(&locked(t, 7, None, Some("192.0.2.2"))));
        // Any other alert keeps its event id.
        let e = Event::new(
            crate::domain::event::EventKind::RefreshTokenReuseDetected,
            EventStamp::new(Utc::now(), [9; EventStamp::RANDOM_BYTES]),
        );
        assert_eq!(delivery_id(&e), e.event_id().to_string());
    }
}
