//! OpenID Connect Back-Channel Logout 1.0: the worker that delivers the
//! logout tokens queued in the durable outbox of outbound requests
//! (`ports::deliveries`) when sessions end
//! ([`crate::protocol::logout::queue_backchannel_logout`], in the unit of
//! work that ends the session: nothing is lost, and the request that ended
//! the session never waits on a relying party).
//!
//! One pass ([`run_once`]): read the due deliveries, claim each one (a
//! conditional update moving its next attempt to a lease, so that of two
//! instances reading the same row exactly one sends it, as
//! [`super::outbox`] does for mail), then attempt the claimed ones
//! CONCURRENTLY, each within [`ATTEMPT_TIMEOUT`], so that a relying party
//! that is down or slow never delays the others. An attempt builds a fresh
//! logout token (§2.4: `typ` `logout+jwt`, signed with the client's
//! `id_token_signed_response_alg` like its ID tokens, `exp` two minutes
//! on, the `jti` of the queued notice) and POSTs it as
//! `application/x-www-form-urlencoded` `logout_token=...` (§2.5) through
//! the hardened [`OutboundHttp`]. Then:
//!
//! - a 2xx (§2.8): delivered (`backchannel_logout_delivered`);
//! - anything else, a status, a timeout, a refused destination: a failed
//!   attempt (`backchannel_logout_failed` with the reason), retried after
//!   [`super::outbox::backoff`] (5 s, doubling, at most
//!   `PORTCULLIS_DELIVERY_RETRY_MAX_SECS`);
//! - older than `PORTCULLIS_DELIVERY_MAX_AGE_SECS`, or its client deleted:
//!   abandoned (`backchannel_logout_failed` with `via` `abandoned`);
//! - the signing keys or the database failing: nothing is counted; the
//!   delivery is tried again later.
//!
//! `serve` (and every test server) runs [`spawn`]: a pass at start, then
//! one every [`POLL`], each starting its attempts without waiting for the
//! previous ones to end.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};

use super::outbox::{FIRST_RETRY, LEASE, backoff};
use crate::domain::event::{DetailKey, Event};
use crate::domain::{ClientId, UserId};
use crate::ports::deliveries::{BACKCHANNEL_LOGOUT, Delivery, SECURITY_ALERT, SSF_SET};
use crate::ports::{
    AlertQueue, Clock, EventSink, KeyProvider, OutboundError, OutboundHttp, Rng, SecretBox, Store,
    StoreError,
};
use crate::protocol::logout::{LOGOUT_TOKEN_TYP, LogoutNotice, logout_token_claims};
use crate::protocol::token::issue::id_token_alg;
use crate::state::AppState;

/// How long one attempt may take, the connection, the request and the
/// answer together, before it counts as failed.
pub const ATTEMPT_TIMEOUT: StdDuration = StdDuration::from_secs(10);
/// How often the worker looks for due deliveries.
pub const POLL: StdDuration = StdDuration::from_secs(1);
/// Deliveries read per statement.
pub const BATCH: u64 = 50;
/// Attempts the worker runs at once.
pub const IN_FLIGHT: usize = 200;
/// Attempts at once to one client: a slow client takes at most this many
/// of the [`IN_FLIGHT`] slots.
pub const IN_FLIGHT_PER_CLIENT: usize = 4;
/// How long delivered and abandoned deliveries stay in the table (the
/// housekeeping purge removes them: [`crate::app::housekeeping::purge`]).
pub const KEEP_DONE: Duration = Duration::days(7);
/// The most of a receiver's answer read (the body is not used).
const MAX_ANSWER_BYTES: usize = 4096;

/// Everything a pass needs, shared by its concurrent attempts.
#[derive(Clone)]
pub struct Deliverer {
    /// The outbox.
    pub store: Arc<dyn Store>,
    /// Signs the logout tokens.
    pub keys: Arc<dyn KeyProvider>,
    /// The hardened outbound client.
    pub outbound: Arc<dyn OutboundHttp>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Event ids.
    pub rng: Arc<dyn Rng>,
    /// Delivered / failed events.
    pub events: Arc<dyn EventSink>,
    /// `iss` of the tokens.
    pub issuer: String,
    /// The longest delay between two attempts
    /// (`PORTCULLIS_DELIVERY_RETRY_MAX_SECS`).
    pub retry_max: Duration,
    /// When a delivery is given up (`PORTCULLIS_DELIVERY_MAX_AGE_SECS`;
    /// never for security alerts).
    pub max_age: Duration,
    /// The security-alert queue, when configured (`app::alerts`).
    pub alerts: Option<Arc<dyn AlertQueue>>,
    /// The `aud` of the alerts' SETs (`PORTCULLIS_ALERTS_AUDIENCE`).
    pub alert_audience: Option<String>,
    /// Opens the Shared Signals receivers' sealed authorization headers.
    pub secrets: Arc<dyn SecretBox>,
}

impl Deliverer {
    /// The deliverer of a server.
    pub fn of(state: &AppState) -> Self {
        Self {
            store: state.store.clone(),
            keys: state.keys.clone(),
            outbound: state.outbound.clone(),
            clock: state.clock.clone(),
            rng: state.rng.clone(),
            events: state.events.clone(),
            issuer: state.config.issuer.clone(),
            retry_max: state.config.auth.delivery_retry_max,
            max_age: state.config.auth.delivery_max_age,
            alerts: state.alerts.clone(),
            alert_audience: state.config.alerts.audience.clone(),
            secrets: state.secrets.clone(),
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Accepted by their receivers.
    pub delivered: u32,
    /// Failed attempts (retried later).
    pub failed: u32,
    /// Given up.
    pub abandoned: u32,
    /// Not attempted for a failure of ours (keys, database); tried later.
    pub deferred: u32,
    /// Due deliveries another instance claimed first.
    pub skipped: u32,
}

/// The kinds of delivery this worker sends, in the order it reads them.
pub const KINDS: [&str; 3] = [BACKCHANNEL_LOGOUT, SECURITY_ALERT, SSF_SET];

/// What became of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Delivered,
    Failed,
    Abandoned,
    Deferred,
}

/// Reads the due deliveries and claims them (at most `limit`): those
/// this instance now holds. A store error ends the reading (the caller
/// retries later).
async fn claim_due(d: &Deliverer, limit: u64) -> Result<(Vec<Delivery>, u32), StoreError> {
    claim_due_but(d, limit, None).await
}

/// Which client a delivery goes to, for [`IN_FLIGHT_PER_CLIENT`].
fn per_client(delivery: &Delivery) -> String {
    delivery
        .client_id
        .as_ref()
        .map(|c| c.as_str().to_owned())
        .unwrap_or_default()
}

/// [`claim_due`], with `running` (attempts running per client) leaving
/// unclaimed what would give one client more than
/// [`IN_FLIGHT_PER_CLIENT`] attempts at once.
async fn claim_due_but(
    d: &Deliverer,
    limit: u64,
    running: Option<&std::collections::HashMap<String, usize>>,
) -> Result<(Vec<Delivery>, u32), StoreError> {
    let outbox = d.store.deliveries();
    // Each kind this worker knows is read on its own, logouts first: a
    // backlog of alerts (an attacker can raise many) never hides a due
    // logout, and a kind of a newer version is left to that version.
    let mut due = Vec::new();
    for kind in KINDS {
        due.extend(outbox.due_deliveries(kind, d.clock.now(), limit).await?);
    }
    let mut claimed = Vec::with_capacity(due.len());
    let mut skipped = 0;
    let mut taken: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for delivery in due {
        if u64::try_from(claimed.len()).unwrap_or(u64::MAX) >= limit {
            break;
        }
        if let Some(running) = running {
            let key = per_client(&delivery);
            let now_running = running.get(&key).copied().unwrap_or(0);
            let n = taken.entry(key).or_default();
            if now_running + *n >= IN_FLIGHT_PER_CLIENT {
                continue;
            }
            *n += 1;
        }
        let lease_until = d.clock.now() + LEASE;
        if outbox
            .claim_delivery(&delivery.id, delivery.next_attempt_at, lease_until)
            .await?
        {
            claimed.push(delivery);
        } else {
            skipped += 1;
        }
    }
    Ok((claimed, skipped))
}

fn count(report: &mut RunReport, done: &Result<Outcome, tokio::task::JoinError>) {
    match done {
        Ok(Outcome::Delivered) => report.delivered += 1,
        Ok(Outcome::Failed) => report.failed += 1,
        Ok(Outcome::Abandoned) => report.abandoned += 1,
        Ok(Outcome::Deferred) | Err(_) => report.deferred += 1,
    }
}

/// One pass over the due deliveries, waiting for every attempt (see the
/// module documentation; the worker does not wait: [`spawn`]). A store
/// error while reading or claiming ends the pass (the caller retries
/// later); a delivery claimed when it happens is tried again once its
/// lease is over.
pub async fn run_once(d: &Deliverer) -> Result<RunReport, StoreError> {
    let mut report = RunReport::default();
    // Bounded: a full batch is followed by another, a few times at most.
    for _ in 0..20 {
        let (claimed, skipped) = claim_due(d, BATCH).await?;
        report.skipped += skipped;
        let read = u64::try_from(claimed.len()).unwrap_or(u64::MAX) + u64::from(skipped);
        let full = read >= BATCH;
        let mut attempts = tokio::task::JoinSet::new();
        for delivery in claimed {
            let d = d.clone();
            attempts.spawn(async move { attempt(&d, delivery).await });
        }
        while let Some(done) = attempts.join_next().await {
            count(&mut report, &done);
        }
        if !full {
            break;
        }
    }
    Ok(report)
}

/// Attempts one claimed delivery and records the outcome. A store error
/// while recording it leaves the lease: the delivery is tried again when
/// the lease is over.
async fn attempt(d: &Deliverer, delivery: Delivery) -> Outcome {
    let outcome = match try_attempt(d, &delivery).await {
        Ok(outcome) => outcome,
        Err(e) => {
            tracing::warn!(id = %delivery.id, error = %e, "delivery: the store failed; retrying after the lease");
            Outcome::Deferred
        }
    };
    let kind = KINDS
        .into_iter()
        .find(|k| *k == delivery.kind)
        .unwrap_or("other");
    crate::metrics::delivery_attempt(
        kind,
        match outcome {
            Outcome::Delivered => "delivered",
            Outcome::Failed => "failed",
            Outcome::Abandoned => "abandoned",
            Outcome::Deferred => "deferred",
        },
    );
    outcome
}

/// Why a failed attempt failed, as events and logs show it (no secret).
pub(super) fn failure_reason(e: &OutboundError) -> String {
    match e {
        OutboundError::Refused(_) => "refused destination".into(),
        OutboundError::Timeout => "timeout".into(),
        OutboundError::TooLarge { .. } => "answer too large".into(),
        OutboundError::Transport(_) => "unreachable".into(),
    }
}

async fn try_attempt(d: &Deliverer, delivery: &Delivery) -> Result<Outcome, StoreError> {
    if delivery.kind == SECURITY_ALERT {
        return super::alerts::attempt(d, delivery).await;
    }
    if delivery.kind == SSF_SET {
        return super::ssf::attempt(d, delivery).await;
    }
    let now = d.clock.now();
    let outbox = d.store.deliveries();
    let notice = (delivery.kind == BACKCHANNEL_LOGOUT)
        .then(|| serde_json::from_str::<LogoutNotice>(&delivery.payload).ok())
        .flatten();
    let client = match &delivery.client_id {
        Some(id) => d.store.clients().get_client(id).await?,
        None => None,
    };
    let subject = notice
        .as_ref()
        .and_then(|n| n.sub.as_deref())
        .map(UserId::new);
    let give_up = |reason: &'static str, detail: String| {
        abandon(
            d,
            delivery,
            (delivery.client_id.as_ref(), subject.as_ref()),
            (reason, detail),
            now,
        )
    };
    if now - delivery.created_at > d.max_age {
        let last = delivery.last_error.as_deref().unwrap_or("never attempted");
        return give_up("too old", format!("too old; last: {last}")).await;
    }
    let Some(notice) = notice else {
        return give_up("unreadable", "unknown kind or unreadable payload".into()).await;
    };
    let Some(client) = client else {
        return give_up("client deleted", "client deleted".into()).await;
    };
    let Some(claims) = logout_token_claims(&d.issuer, &client, &notice, now) else {
        return give_up(
            "no sid",
            "the client requires a sid and there is none".into(),
        )
        .await;
    };
    let token = match d
        .keys
        .sign_jwt(id_token_alg(&client), LOGOUT_TOKEN_TYP, &claims)
        .await
    {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(id = %delivery.id, client_id = %client.id, error = %e, "back-channel logout: signing failed; retrying");
            return retry_after_signing_failure(d, delivery, now).await;
        }
    };
    let failure = post(d, &delivery.url, &token).await;
    let now = d.clock.now();
    let stamp = d.rng.event_stamp(now);
    let user = subject.unwrap_or_else(|| UserId::new(""));
    let Some((reason, detail)) = failure else {
        outbox.mark_delivered(&delivery.id, now).await?;
        tracing::info!(id = %delivery.id, client_id = %client.id, attempts = delivery.attempts + 1, "back-channel logout delivered");
        d.events.emit(with_session(
            Event::backchannel_logout_delivered(stamp, &client.id, &user),
            notice.sid.as_deref(),
        ));
        return Ok(Outcome::Delivered);
    };
    let attempts = delivery.attempts.saturating_add(1);
    let delay = backoff(attempts, d.retry_max);
    outbox
        .mark_delivery_failed(&delivery.id, attempts, now + delay, &detail)
        .await?;
    // The client is down or refusing: its other deliveries wait for this
    // one's next attempt, so that its backlog does not take the worker
    // from the clients that answer (each stays until its own max age).
    outbox
        .defer_client_deliveries(client.id.as_str(), &delivery.id, now + delay)
        .await?;
    tracing::warn!(id = %delivery.id, client_id = %client.id, attempts, retry_in_secs = delay.num_seconds(), error = %detail, "back-channel logout not delivered; will retry");
    d.events.emit(with_session(
        Event::backchannel_logout_failed(stamp, &client.id, &user, &reason),
        notice.sid.as_deref(),
    ));
    Ok(Outcome::Failed)
}

/// Our signing keys failed (KMS, ...): not the receiver's failure, so the
/// attempt is not counted; the delivery is tried again after
/// [`FIRST_RETRY`].
pub(super) async fn retry_after_signing_failure(
    d: &Deliverer,
    delivery: &Delivery,
    now: DateTime<Utc>,
) -> Result<Outcome, StoreError> {
    d.store
        .deliveries()
        .mark_delivery_failed(
            &delivery.id,
            delivery.attempts,
            now + FIRST_RETRY,
            "signing failed",
        )
        .await?;
    Ok(Outcome::Deferred)
}

/// POSTs `logout_token` to `url` (§2.5) within [`ATTEMPT_TIMEOUT`]:
/// `None` when the receiver accepted it (any 2xx, §2.8), else why not
/// (for the event, and in more detail for the row).
async fn post(d: &Deliverer, url: &str, token: &str) -> Option<(String, String)> {
    let sent = tokio::time::timeout(
        ATTEMPT_TIMEOUT,
        d.outbound
            .post_form(url, &[("logout_token", token)], MAX_ANSWER_BYTES),
    )
    .await;
    match sent {
        Ok(Ok(r)) if (200..300).contains(&r.status) => None,
        Ok(Ok(r)) => Some((
            format!("status {}", r.status),
            format!("status {}", r.status),
        )),
        Ok(Err(e)) => Some((failure_reason(&e), e.to_string())),
        Err(_) => Some(("timeout".to_owned(), "timeout".to_owned())),
    }
}

fn with_session(e: Event, sid: Option<&str>) -> Event {
    match sid {
        Some(sid) => e.session(sid),
        None => e,
    }
}

/// Gives a delivery up: `reason` for the event, `detail` kept in the row.
async fn abandon(
    d: &Deliverer,
    delivery: &Delivery,
    (client, user): (Option<&ClientId>, Option<&UserId>),
    (reason, detail): (&'static str, String),
    now: DateTime<Utc>,
) -> Result<Outcome, StoreError> {
    d.store
        .deliveries()
        .mark_abandoned(&delivery.id, now, &detail)
        .await?;
    tracing::warn!(id = %delivery.id, kind = %delivery.kind, attempts = delivery.attempts, reason = %detail, "delivery abandoned");
    if let Some(client) = client {
        let user = user.cloned().unwrap_or_else(|| UserId::new(""));
        let stamp = d.rng.event_stamp(now);
        d.events.emit(
            Event::backchannel_logout_failed(stamp, client, &user, reason)
                .detail(DetailKey::Via, "abandoned"),
        );
    }
    Ok(Outcome::Abandoned)
}

/// The running worker; aborted when dropped.
pub struct DeliveryWorker(tokio::task::JoinHandle<()>);

impl Drop for DeliveryWorker {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts the delivery worker of `state`: a pass at once, then one every
/// [`POLL`]. A pass claims what is due and starts the attempts without
/// waiting for them (at most [`IN_FLIGHT`] at once), so that a relying
/// party that answers slowly holds up neither the others nor the
/// deliveries queued after it. A failed pass is logged and retried; it
/// never stops the server.
pub fn spawn(state: &AppState) -> DeliveryWorker {
    let d = Deliverer::of(state);
    DeliveryWorker(tokio::spawn(async move {
        let mut in_flight = tokio::task::JoinSet::new();
        // Attempts running per client (the key of [`per_client`]).
        let mut busy: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        loop {
            while let Some(done) = in_flight.try_join_next() {
                if let Ok(key) = done
                    && let Some(n) = busy.get_mut(&key)
                {
                    *n = n.saturating_sub(1);
                }
            }
            busy.retain(|_, n| *n > 0);
            let room = IN_FLIGHT.saturating_sub(in_flight.len()) as u64;
            if room > 0 {
                match claim_due_but(&d, room.min(BATCH), Some(&busy)).await {
                    Ok((claimed, _)) => {
                        for delivery in claimed {
                            let key = per_client(&delivery);
                            *busy.entry(key.clone()).or_default() += 1;
                            let d = d.clone();
                            in_flight.spawn(async move {
                                attempt(&d, delivery).await;
                                key
                            });
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "delivery pass failed; retrying at the next poll");
                    }
                }
            }
            tokio::time::sleep(POLL).await;
        }
    }))
}
