//! The repository port of the durable outbox of outbound requests
//! (`outbound_deliveries`): requests the server makes, which must survive
//! a restart and a receiver that is down: OpenID Connect Back-Channel
//! Logout 1.0 logout tokens to URLs clients registered, written in the
//! unit of work that decides them (a session ends: the notification is
//! queued in the same transaction, so it cannot be lost), and security
//! alerts for the alert queue, written from the event pipeline
//! (`app::alerts`). Delivered by a worker (`app::backchannel`) that claims
//! each one with a lease (one conditional update, as the mail outbox
//! does), and kept with the outcome: delivered, failed (retried with
//! backoff), or abandoned.
//! Reached through [`Repositories::deliveries`](super::Repositories::deliveries).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::repositories::StoreError;
use crate::domain::{ClientId, UserId};

/// The `kind` of a back-channel logout notification.
pub const BACKCHANNEL_LOGOUT: &str = "backchannel_logout";
/// The `kind` of a security alert (docs/EVENTS.md, "Security alerts"):
/// its id is the event id, its `url` the queue, its payload the event
/// (JSON); the SET is signed at each attempt (`app::alerts`).
pub const SECURITY_ALERT: &str = "security_alert";
/// The `kind` of a Shared Signals SET pushed to a receiver's stream (RFC
/// 8935; `app::ssf`): its `url` the stream's endpoint, its payload what
/// the SET carries (`app::ssf::SetPayload`); signed at each attempt.
pub const SSF_SET: &str = "ssf_set";

/// One queued outbound request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Its id (also the `jti` of a logout token: stable across retries).
    pub id: String,
    /// What it is ([`BACKCHANNEL_LOGOUT`], ...).
    pub kind: String,
    /// The client it goes to, if any.
    pub client_id: Option<ClientId>,
    /// Where it goes.
    pub url: String,
    /// What the request is built from at each attempt (JSON; never a
    /// signed token, which is made fresh at each attempt).
    pub payload: String,
    /// Failed attempts so far.
    pub attempts: u32,
    /// When it is due (or until when a claim holds it).
    pub next_attempt_at: DateTime<Utc>,
    /// The last failure (no secret: a status, `timeout`, ...).
    pub last_error: Option<String>,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// When the receiver accepted it.
    pub delivered_at: Option<DateTime<Utc>>,
    /// When it was given up.
    pub abandoned_at: Option<DateTime<Utc>>,
}

impl Delivery {
    /// A new delivery, due at once.
    pub fn new(
        id: String,
        kind: &str,
        client_id: Option<ClientId>,
        url: String,
        payload: String,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            kind: kind.to_owned(),
            client_id,
            url,
            payload,
            attempts: 0,
            next_attempt_at: now,
            last_error: None,
            created_at: now,
            delivered_at: None,
            abandoned_at: None,
        }
    }
}

/// A client that signed in to a session and asked to hear when it ends
/// (it has a `backchannel_logout_uri`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutTarget {
    /// The client.
    pub client_id: ClientId,
    /// The user the client knows (the `sub` of its ID tokens).
    pub subject: UserId,
    /// Its `backchannel_logout_uri`.
    pub uri: String,
    /// Its `backchannel_logout_session_required`.
    pub session_required: bool,
}

/// Which deliveries [`DeliveryRepository::list_deliveries`] shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryFilter {
    /// All of them.
    All,
    /// Neither delivered nor abandoned.
    Pending,
    /// Abandoned.
    Abandoned,
}

/// The repository of the durable outbox of outbound HTTP requests.
#[async_trait]
pub trait DeliveryRepository: Send + Sync {
    /// Queues a delivery; `false` (and nothing written) when one with its
    /// id exists already (ids are derived from what they notify, so that
    /// queueing twice is harmless).
    async fn enqueue_delivery(&self, delivery: &Delivery) -> Result<bool, StoreError>;
    /// Up to `limit` deliveries of `kind` due at `now` (neither delivered
    /// nor abandoned, `next_attempt_at <= now`), the oldest due first. By
    /// kind, so that a backlog of one kind (a flood of alerts) never hides
    /// the due rows of another, and a worker reads only the kinds it knows.
    async fn due_deliveries(
        &self,
        kind: &str,
        now: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<Delivery>, StoreError>;
    /// Claims a due delivery: moves its next attempt from `seen` (as read)
    /// to `lease_until`, in one conditional update; `true` means this
    /// caller holds it (of two instances reading the same row, one wins).
    async fn claim_delivery(
        &self,
        id: &str,
        seen: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Records that the receiver accepted it.
    async fn mark_delivered(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Records a failed attempt: `attempts` so far, the next one at
    /// `next_attempt_at`, the reason.
    async fn mark_delivery_failed(
        &self,
        id: &str,
        attempts: u32,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> Result<bool, StoreError>;
    /// Moves every other pending delivery of `client_id` that is due before
    /// `until` to `until` (never earlier than it was): after a failed
    /// attempt, a client that is down is probed by one delivery per backoff
    /// period instead of occupying the worker with its whole backlog.
    /// Returns how many moved.
    async fn defer_client_deliveries(
        &self,
        client_id: &str,
        except: &str,
        until: DateTime<Utc>,
    ) -> Result<u64, StoreError>;
    /// Whether a delivery of `kind` to `client_id` queued before `this`
    /// (an earlier `created_at`, or the same with a smaller id) is still
    /// pending: a Shared Signals stream sends in order (SSF 1.0 §8.1.2.1).
    async fn earlier_pending(
        &self,
        kind: &str,
        client_id: &str,
        this: &Delivery,
    ) -> Result<bool, StoreError>;
    /// Gives a delivery up (too old, or its client is gone), with why.
    async fn mark_abandoned(
        &self,
        id: &str,
        now: DateTime<Utc>,
        error: &str,
    ) -> Result<bool, StoreError>;
    /// The newest deliveries first, at most `limit` (for operators).
    async fn list_deliveries(
        &self,
        filter: DeliveryFilter,
        limit: u64,
    ) -> Result<Vec<Delivery>, StoreError>;
    /// Deletes the deliveries delivered or abandoned before `before`;
    /// returns how many.
    async fn purge_deliveries(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
    /// The clients with a `backchannel_logout_uri` that signed in to the
    /// login session `session_id`: one per client that has a grant (live,
    /// revoked or `offline_access`) made in it.
    async fn logout_targets(&self, session_id: &str) -> Result<Vec<LogoutTarget>, StoreError>;
}
