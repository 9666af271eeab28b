//! Event sinks (docs/EVENTS.md): JSON Lines files (embedded default) and
//! ClickHouse with a durable local spool; and the readers of each
//! ([`crate::ports::EventReader`]) behind `portcullis events tail|stats`.
//!
//! Both share one pipeline: `emit` puts the event into a bounded tokio
//! queue (`try_send`, never waits); one background task takes batches (by
//! size or by time) and hands them to the destination. When the queue is
//! full, `emit` writes the event straight to disk (the spool, or the event
//! file) instead: the request path neither blocks on the queue nor loses the
//! event.

pub mod clickhouse;
pub mod file;
pub mod spool;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::config::EventPipeline;
use crate::domain::event::Event;
use crate::ports::{EventError, SinkStats};

pub use self::clickhouse::{ClickHouseEventReader, ClickHouseEventSink};
pub use self::file::{FileEventReader, FileEventSink};
pub use self::spool::Spool;

/// How often the background task logs its counters (when they changed).
const STATS_LOG_EVERY: Duration = Duration::from_mins(1);

/// The counters behind [`SinkStats`], shared by a sink and its task.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    emitted: AtomicU64,
    queued: AtomicU64,
    spooled: AtomicU64,
    sent: AtomicU64,
    dropped: AtomicU64,
    /// The spool whose backlog `spool_pending` reports, if any.
    spool: Option<Arc<Spool>>,
}

impl Counters {
    pub(crate) fn with_spool(spool: Arc<Spool>) -> Self {
        Self {
            spool: Some(spool),
            ..Self::default()
        }
    }

    pub(crate) fn snapshot(&self) -> SinkStats {
        SinkStats {
            emitted: self.emitted.load(Ordering::Relaxed),
            queued: self.queued.load(Ordering::Relaxed),
            spooled: self.spooled.load(Ordering::Relaxed),
            spool_pending: self.spool.as_ref().map_or(0, |s| s.pending()),
            sent: self.sent.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn add_sent(&self, n: u64) {
        self.sent.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn add_spooled(&self, n: u64) {
        self.spooled.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts lost events and says so loudly: this only happens when the
    /// local disk fails.
    pub(crate) fn add_dropped(&self, n: u64, why: &dyn std::fmt::Display) {
        let total = self.dropped.fetch_add(n, Ordering::Relaxed) + n;
        tracing::error!(
            dropped = n,
            dropped_total = total,
            error = %why,
            "EVENTS LOST: could not write events to local disk"
        );
    }
}

/// What travels through the queue.
// Events travel unboxed: no allocation per `emit`; the control messages are rare.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Msg {
    Event(Event),
    /// Deliver everything before this message, then answer.
    Flush(oneshot::Sender<Result<(), EventError>>),
    /// Flush, answer, and stop the task.
    Close(oneshot::Sender<Result<(), EventError>>),
}

/// The sending half: the bounded queue in front of the background task.
pub(crate) struct Queue {
    tx: mpsc::Sender<Msg>,
    counters: Arc<Counters>,
    task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Queue {
    /// Enqueues without waiting; gives the event back when the queue is
    /// full or the task is gone.
    #[allow(clippy::result_large_err)] // the event itself, for the disk path
    pub(crate) fn try_enqueue(&self, event: Event) -> Result<(), Event> {
        self.counters.emitted.fetch_add(1, Ordering::Relaxed);
        // Counted before sending so that the task never decrements first.
        self.counters.queued.fetch_add(1, Ordering::Relaxed);
        match self.tx.try_send(Msg::Event(event)) {
            Ok(()) => Ok(()),
            Err(err) => {
                self.counters.queued.fetch_sub(1, Ordering::Relaxed);
                match err.into_inner() {
                    Msg::Event(e) => Err(e),
                    Msg::Flush(_) | Msg::Close(_) => Ok(()),
                }
            }
        }
    }

    /// Sends a flush (or close) request and waits for its answer. A task
    /// that is already gone has nothing left to flush. `close` also waits
    /// for the task to end (it then no longer holds the spool or files).
    pub(crate) async fn request(&self, close: bool) -> Result<(), EventError> {
        let (ack, done) = oneshot::channel();
        let msg = if close {
            Msg::Close(ack)
        } else {
            Msg::Flush(ack)
        };
        let result = if self.tx.send(msg).await.is_err() {
            Ok(())
        } else {
            done.await.unwrap_or(Ok(()))
        };
        if close {
            let task = self
                .task
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            if let Some(task) = task {
                let _ = task.await;
            }
        }
        result
    }
}

/// Where the background task puts batches.
#[async_trait]
pub(crate) trait Destination: Send + 'static {
    /// Delivers `batch` or stores it durably; counts it either way.
    async fn write(&mut self, batch: Vec<Event>);
    /// Makes everything written so far durable (and, for ClickHouse, tries
    /// to empty the spool). Errs when events were lost since the last flush.
    async fn flush(&mut self) -> Result<(), EventError>;
    /// When the task should call [`Destination::wake`] without new events.
    fn next_wake(&self) -> Option<Instant>;
    /// Periodic work: replaying the spool, retention.
    async fn wake(&mut self);
}

/// Starts the background task and returns the queue in front of it.
pub(crate) fn start<D: Destination>(
    dest: D,
    pipeline: &EventPipeline,
    counters: Arc<Counters>,
    name: &'static str,
) -> Queue {
    let (tx, rx) = mpsc::channel(pipeline.queue_capacity.max(1));
    let task = tokio::spawn(run(dest, rx, *pipeline, counters.clone(), name));
    Queue {
        tx,
        counters,
        task: std::sync::Mutex::new(Some(task)),
    }
}

async fn run<D: Destination>(
    mut dest: D,
    mut rx: mpsc::Receiver<Msg>,
    pipeline: EventPipeline,
    counters: Arc<Counters>,
    name: &'static str,
) {
    let mut batch: Vec<Event> = Vec::with_capacity(pipeline.batch_size);
    let mut msgs: Vec<Msg> = Vec::with_capacity(pipeline.batch_size);
    let mut last_log = (Instant::now(), counters.snapshot());
    loop {
        // Wait for the first message (or a wake-up).
        let wake = dest.next_wake();
        let got = tokio::select! {
            biased;
            n = rx.recv_many(&mut msgs, pipeline.batch_size) => n,
            () = sleep_until_opt(wake) => {
                dest.wake().await;
                log_stats(name, &counters, &mut last_log);
                continue;
            }
        };
        if got == 0 {
            // Every sender is gone: nothing more can arrive.
            let _ = dest.flush().await;
            break;
        }
        // Then fill the batch until it is full or the interval is over.
        let deadline = Instant::now() + pipeline.flush_interval;
        let mut acks = Vec::new();
        let mut close = false;
        loop {
            for msg in msgs.drain(..) {
                match msg {
                    Msg::Event(e) => batch.push(e),
                    Msg::Flush(ack) => acks.push(ack),
                    Msg::Close(ack) => {
                        acks.push(ack);
                        close = true;
                    }
                }
            }
            if batch.len() >= pipeline.batch_size || !acks.is_empty() {
                break;
            }
            let room = pipeline.batch_size - batch.len();
            let n = tokio::select! {
                biased;
                n = rx.recv_many(&mut msgs, room) => n,
                () = tokio::time::sleep_until(deadline) => break,
            };
            if n == 0 {
                close = true;
                break;
            }
        }
        let taken = u64::try_from(batch.len()).unwrap_or(u64::MAX);
        counters.queued.fetch_sub(taken, Ordering::Relaxed);
        if !batch.is_empty() {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(pipeline.batch_size));
            dest.write(full).await;
        }
        if !acks.is_empty() || close {
            let result = dest.flush().await;
            for ack in acks {
                let _ = ack.send(match &result {
                    Ok(()) => Ok(()),
                    Err(e) => Err(EventError::Storage(e.to_string())),
                });
            }
        }
        log_stats(name, &counters, &mut last_log);
        if close {
            break;
        }
    }
    tracing::info!(sink = name, stats = ?counters.snapshot(), "event sink stopped");
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn log_stats(name: &str, counters: &Counters, last: &mut (Instant, SinkStats)) {
    if last.0.elapsed() < STATS_LOG_EVERY {
        return;
    }
    let now = counters.snapshot();
    if now != last.1 {
        tracing::info!(
            sink = name,
            emitted = now.emitted,
            queued = now.queued,
            spooled = now.spooled,
            spool_pending = now.spool_pending,
            sent = now.sent,
            dropped = now.dropped,
            "event sink"
        );
    }
    *last = (Instant::now(), now);
}

/// Runs blocking file work (`work`) on tokio's blocking pool. While the
/// runtime shuts down, the pool cancels work it has not started, yet the
/// sink's worker may still be writing its last batch or syncing on another
/// thread; the work then runs here instead, so that nothing written at
/// shutdown is lost or reported as failed.
pub(crate) async fn off_thread<T, F>(work: F) -> std::io::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> std::io::Result<T> + Send + 'static,
{
    let slot = Arc::new(std::sync::Mutex::new(Some(work)));
    let theirs = Arc::clone(&slot);
    let joined = tokio::task::spawn_blocking(move || {
        let work = theirs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        work.map(|w| w())
    })
    .await;
    let left = || {
        slot.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    };
    match joined {
        Ok(Some(result)) => result,
        Ok(None) => Err(std::io::Error::other("blocking work was taken twice")),
        Err(e) if e.is_cancelled() => match left() {
            Some(work) => work(),
            None => Err(std::io::Error::other(e)),
        },
        Err(e) => Err(std::io::Error::other(e)),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn blocking_work_runs_here_when_the_pool_is_shut_down() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let handle = rt.handle().clone();
        rt.shutdown_background();
        let _entered = handle.enter();
        let out = futures_util::FutureExt::now_or_never(super::off_thread(|| Ok(42)));
        assert_eq!(out.expect("ready at once").unwrap(), 42);
    }

    #[tokio::test]
    async fn blocking_work_runs_on_the_pool_otherwise() {
        let here = std::thread::current().id();
        let there = super::off_thread(move || Ok(std::thread::current().id()))
            .await
            .unwrap();
        assert_ne!(here, there);
    }
}
