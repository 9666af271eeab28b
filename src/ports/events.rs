//! The event ports: [`EventSink`], where request handlers emit events, and
//! [`EventReader`], what `portcullis events tail|stats` read them back
//! through. The file and ClickHouse adapters (`src/adapters/events/`)
//! implement both; the event catalogue and its redaction rules are domain
//! code ([`crate::domain::event`]).

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::event::{DetailKey, Event, EventKind, Outcome};

/// How many events went where, since the sink started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SinkStats {
    /// Accepted by `emit`.
    pub emitted: u64,
    /// In the in-memory queue right now.
    pub queued: u64,
    /// Written to the durable spool (ClickHouse down, slow or refusing, or
    /// the queue full).
    pub spooled: u64,
    /// In the spool right now, waiting to be replayed.
    pub spool_pending: u64,
    /// Delivered to the final store (ClickHouse, or the event files).
    pub sent: u64,
    /// Lost: only when the local disk itself fails (logged at error level).
    pub dropped: u64,
}

/// Why a flush did not complete.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// Local storage (event files or spool) failed: events were dropped.
    #[error("event storage failed: {0}")]
    Storage(String),
    /// The sink's background task is gone.
    #[error("event sink is closed")]
    Closed,
}

/// Where events go. Request handlers call [`EventSink::emit`], which never
/// waits on ClickHouse or the disk's flush.
#[async_trait]
pub trait EventSink: Send + Sync {
    /// Non-blocking: enqueues into a bounded in-memory queue and returns at
    /// once. When the queue is full, the event is appended to the local
    /// spool (or event file) instead: nothing blocks and nothing is lost.
    fn emit(&self, event: Event);

    /// Delivers everything emitted before the call to the final store or
    /// the spool. Called at graceful shutdown; tests call it as a barrier.
    async fn flush(&self) -> Result<(), EventError>;

    /// Counters for metrics and logs.
    fn stats(&self) -> SinkStats;
}

/// Counts over a time window, for `portcullis events stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EventStats {
    /// Start of the window.
    pub since: DateTime<Utc>,
    /// Events in the window.
    pub total: u64,
    /// Events by kind.
    pub by_kind: BTreeMap<String, u64>,
    /// Events by client (those with a client), with their failures.
    pub by_client: BTreeMap<String, ClientCounts>,
    /// `login_failed` events by `detail.reason`.
    pub failed_logins_by_reason: BTreeMap<String, u64>,
}

/// Per-client counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ClientCounts {
    /// All events of the client.
    pub total: u64,
    /// Those with outcome `failure`.
    pub failures: u64,
}

impl EventStats {
    /// Empty counts for the window starting at `since`.
    pub fn starting(since: DateTime<Utc>) -> Self {
        Self {
            since,
            ..Self::default()
        }
    }

    /// Adds one event (for readers that count event by event).
    pub fn add(&mut self, e: &Event) {
        self.total += 1;
        *self
            .by_kind
            .entry(e.kind().as_str().to_owned())
            .or_default() += 1;
        if let Some(c) = e.client_id() {
            let entry = self.by_client.entry(c.to_owned()).or_default();
            entry.total += 1;
            if e.outcome_value() == Outcome::Failure {
                entry.failures += 1;
            }
        }
        if e.kind() == EventKind::LoginFailed {
            let reason = e.detail_value(DetailKey::Reason).unwrap_or("");
            *self
                .failed_logins_by_reason
                .entry(reason.to_owned())
                .or_default() += 1;
        }
    }
}

/// Why stored events could not be read back: where from, and the cause.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EventReadError(pub String);

/// A filtered read of stored events (the admin API's `GET
/// /admin/v1/events`, `portcullis events tail --kind …`): every filter that
/// is set must match; the newest `limit` matching events come back, newest
/// first. Values are compared exactly and are data, never query text.
/// Checked by `app::events::query` before it reaches an adapter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventQuery {
    /// Only events of this kind.
    pub kind: Option<EventKind>,
    /// Only events of this client (`client_id`).
    pub client_id: Option<String>,
    /// Only events about this subject (the user id, `subject`).
    pub subject: Option<String>,
    /// Only events that occurred at or after this moment.
    pub from: Option<DateTime<Utc>>,
    /// Only events that occurred before this moment.
    pub to: Option<DateTime<Utc>>,
    /// At most this many events.
    pub limit: usize,
}

impl EventQuery {
    /// Whether `e` passes every filter (readers that look at each event
    /// call it, so the rule is written once).
    pub fn matches(&self, e: &Event) -> bool {
        self.kind.is_none_or(|k| e.kind() == k)
            && self
                .client_id
                .as_deref()
                .is_none_or(|c| e.client_id() == Some(c))
            && self
                .subject
                .as_deref()
                .is_none_or(|s| e.subject_id() == Some(s))
            && self.from.is_none_or(|f| e.occurred_at() >= f)
            && self.to.is_none_or(|t| e.occurred_at() < t)
    }
}

/// Reads stored events back (`portcullis events tail|stats|archive`). A store
/// that may hold an event twice (ClickHouse, after a batch was resent)
/// returns and counts it once.
#[async_trait]
pub trait EventReader: Send + Sync {
    /// The last `n` events, oldest first.
    async fn recent(&self, n: usize) -> Result<Vec<Event>, EventReadError>;

    /// The newest `q.limit` events that match `q`, newest first (each
    /// once).
    async fn query(&self, q: &EventQuery) -> Result<Vec<Event>, EventReadError>;

    /// Counts of the events that occurred at or after `since`.
    async fn stats(&self, since: DateTime<Utc>) -> Result<EventStats, EventReadError>;

    /// How many events (each once) occurred in each UTC hour that starts
    /// before `before`, keyed by the hour's start; hours without events
    /// are absent. What `portcullis events archive` looks for.
    async fn hour_counts(
        &self,
        before: DateTime<Utc>,
    ) -> Result<BTreeMap<DateTime<Utc>, u64>, EventReadError>;

    /// Every event that occurred at or after `from` and before `to`,
    /// oldest first (then by id), each once: [`EventReader::query`]
    /// without a limit.
    async fn range(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Event>, EventReadError> {
        let mut events = self
            .query(&EventQuery {
                from: Some(from),
                to: Some(to),
                limit: usize::MAX,
                ..EventQuery::default()
            })
            .await?;
        events.sort_by_key(|e| (e.occurred_at(), e.event_id()));
        Ok(events)
    }

    /// A follower positioned now: its [`EventFollower::poll`] returns what
    /// is stored after this call. Call it before [`EventReader::recent`]
    /// so that nothing falls between the two.
    async fn follow(&self) -> Result<Box<dyn EventFollower>, EventReadError>;
}

/// Follows the store as events arrive (`events tail --follow`).
#[async_trait]
pub trait EventFollower: Send {
    /// The events stored since the previous poll, in arrival order, each
    /// once. A store that is briefly unreachable yields nothing this time
    /// (the adapter logs it) rather than an error.
    async fn poll(&mut self) -> Result<Vec<Event>, EventReadError>;
}
