//! Fakes for tests and benchmarks (feature `test-util`).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Duration, Utc};

use crate::domain::event::{Event, EventKind};
use crate::ports::{Clock, Rng};

/// A clock that stands still until advanced.
#[derive(Debug)]
pub struct FixedClock(Mutex<DateTime<Utc>>);

impl FixedClock {
    /// A clock at `at`.
    pub fn at(at: DateTime<Utc>) -> Self {
        Self(Mutex::new(at))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let mut t = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *t += by;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A deterministic, non-cryptographic byte sequence (tests only).
#[derive(Debug, Default)]
pub struct SeqRng(AtomicU64);

impl Rng for SeqRng {
    fn fill(&self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let n = self
                .0
                .fetch_add(1, Ordering::Relaxed)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let bytes = n.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// A random source that always gives the same byte (tests only): ids and
/// tokens built from it are predictable.
#[derive(Debug, Clone, Copy)]
pub struct ConstantRng(pub u8);

impl Rng for ConstantRng {
    fn fill(&self, buf: &mut [u8]) {
        buf.fill(self.0);
    }
}

/// An [`EventSink`](crate::ports::EventSink) that records every event in
/// memory (as node-oidc-provider's `TestAdapter` does), for tests that
/// check what a handler emitted.
#[derive(Debug, Default)]
pub struct MemoryEventSink(Mutex<Vec<Event>>);

impl MemoryEventSink {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Event>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every event so far, in emission order.
    pub fn events(&self) -> Vec<Event> {
        self.lock().clone()
    }

    /// The events of one kind, in emission order.
    pub fn of_kind(&self, kind: EventKind) -> Vec<Event> {
        self.lock()
            .iter()
            .filter(|e| e.kind() == kind)
            .cloned()
            .collect()
    }

    /// The kinds emitted, in order (handy for `assert_eq!`).
    pub fn kinds(&self) -> Vec<EventKind> {
        self.lock().iter().map(Event::kind).collect()
    }

    /// Forgets what was recorded.
    pub fn clear(&self) {
        self.lock().clear();
    }
}

#[async_trait::async_trait]
impl crate::ports::EventSink for MemoryEventSink {
    fn emit(&self, event: Event) {
        self.lock().push(event);
    }

    async fn flush(&self) -> Result<(), crate::ports::EventError> {
        Ok(())
    }

    fn stats(&self) -> crate::ports::SinkStats {
        let n = self.lock().len() as u64;
        crate::ports::SinkStats {
            emitted: n,
            sent: n,
            ..crate::ports::SinkStats::default()
        }
    }
}
