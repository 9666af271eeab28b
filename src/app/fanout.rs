//! The delivering event sink: events that must leave the server become
//! rows of the durable outbox of outbound requests (`outbound_deliveries`,
//! `ports::deliveries`), sent by the delivery worker (`app::backchannel`).
//! What an event becomes is a [`Fanout`] (Strategy): the security alerts
//! (`app::alerts::AlertFanout`, when an alert queue is configured) and the
//! Shared Signals streams (`app::ssf::SignalFanout`).
//!
//! [`DeliveringSink`] wraps the configured event sink: `emit` passes every
//! event on and hands one that a fan-out wants to a writer task over an
//! unbounded channel, so that a request never waits (not on the database,
//! not on a receiver). The writer asks each fan-out for the event's
//! deliveries and inserts them (their ids are derived from what they carry:
//! inserting twice is harmless), retrying while the database fails;
//! `flush` (graceful shutdown) waits until what was emitted before it is
//! in the table.
//!
//! The outbox rather than a disk spool: it is shared by every instance (a
//! delivery queued by one is sent by whichever runs the worker, and
//! survives the loss of the host), it has the claim with a lease, the
//! retries with backoff and the operator's listing, and CLI commands that
//! emit events reach it through the same database. The one window: an
//! event emitted in the instant before the process dies, not yet
//! inserted (docs/EVENTS.md).

use std::sync::Arc;
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};

use crate::domain::event::Event;
use crate::ports::deliveries::Delivery;
use crate::ports::{Clock, EventError, EventSink, SinkStats, Store, StoreError};

/// How long [`DeliveringSink::flush`] waits for the deliveries of the
/// events emitted before it to be in the outbox (the database may be down
/// at shutdown).
pub const FLUSH_WAIT: StdDuration = StdDuration::from_secs(10);
/// The longest pause between two attempts while the database fails.
const RETRY_MAX: StdDuration = StdDuration::from_secs(30);

/// What an event becomes in the outbox (Strategy).
#[async_trait]
pub trait Fanout: Send + Sync {
    /// Whether `event` may give deliveries: called on the request path, so
    /// cheap and without I/O.
    fn wants(&self, event: &Event) -> bool;
    /// The deliveries of `event` (the writer task calls it; it may read
    /// the store).
    async fn deliveries(
        &self,
        event: &Event,
        store: &dyn Store,
        now: DateTime<Utc>,
    ) -> Result<Vec<Delivery>, StoreError>;
}

enum Command {
    Event(Box<Event>),
    Flush(oneshot::Sender<()>),
}

/// An event sink that also queues the deliveries its fan-outs make of
/// events (module documentation). Built by `factory::build_delivering_sink`.
pub struct DeliveringSink {
    inner: Arc<dyn EventSink>,
    fanouts: Arc<[Arc<dyn Fanout>]>,
    tx: mpsc::UnboundedSender<Command>,
}

impl DeliveringSink {
    /// Wraps `inner`; deliveries go to `store`. Starts the writer task
    /// (needs a tokio runtime).
    pub fn start(
        inner: Arc<dyn EventSink>,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        fanouts: Vec<Arc<dyn Fanout>>,
    ) -> Self {
        let fanouts: Arc<[Arc<dyn Fanout>]> = fanouts.into();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(write(rx, store, clock, fanouts.clone()));
        Self { inner, fanouts, tx }
    }
}

/// Retries `op` while the database is unavailable; `None` when it refuses
/// for good (a bug or a row it cannot take: logged, and the writer goes
/// on, so that one bad event never holds back the others).
async fn until_ok<T, F, Fut>(what: &str, mut op: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut pause = StdDuration::from_millis(250);
    loop {
        match op().await {
            Ok(v) => return Some(v),
            Err(e @ (StoreError::Internal(_) | StoreError::Conflict(_))) => {
                tracing::error!(what, error = %e, "outbound deliveries: the store refused; skipped");
                return None;
            }
            Err(e) => {
                tracing::warn!(what, error = %e, "outbound deliveries: the store failed; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(RETRY_MAX);
            }
        }
    }
}

/// The writer task: the deliveries of each event, in order, each retried
/// until the database takes it.
async fn write(
    mut rx: mpsc::UnboundedReceiver<Command>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    fanouts: Arc<[Arc<dyn Fanout>]>,
) {
    while let Some(command) = rx.recv().await {
        let event = match command {
            Command::Flush(done) => {
                let _ = done.send(());
                continue;
            }
            Command::Event(event) => event,
        };
        for fanout in fanouts.iter().filter(|f| f.wants(&event)) {
            let now = clock.now();
            let Some(deliveries) =
                until_ok("fan-out", || fanout.deliveries(&event, store.as_ref(), now)).await
            else {
                continue;
            };
            for delivery in &deliveries {
                until_ok("enqueue", || store.deliveries().enqueue_delivery(delivery)).await;
            }
        }
    }
}

#[async_trait]
impl EventSink for DeliveringSink {
    fn emit(&self, event: Event) {
        if self.fanouts.iter().any(|f| f.wants(&event)) {
            // The writer lives as long as the runtime; a send fails only
            // at shutdown after it stopped.
            if self
                .tx
                .send(Command::Event(Box::new(event.clone())))
                .is_err()
            {
                tracing::error!(id = %event.event_id(), "outbound delivery lost: the writer has stopped");
            }
        }
        self.inner.emit(event);
    }

    async fn flush(&self) -> Result<(), EventError> {
        let (done, wait) = oneshot::channel();
        let queued = if self.tx.send(Command::Flush(done)).is_ok() {
            matches!(tokio::time::timeout(FLUSH_WAIT, wait).await, Ok(Ok(())))
        } else {
            false
        };
        self.inner.flush().await?;
        if queued {
            Ok(())
        } else {
            Err(EventError::Storage(
                "outbound deliveries not yet in the outbox (the database is failing)".into(),
            ))
        }
    }

    fn stats(&self) -> SinkStats {
        self.inner.stats()
    }
}
