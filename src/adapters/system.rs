//! The system clock and the operating system's random source.

use chrono::{DateTime, Utc};
use rand::TryRngCore;

use crate::ports::{Clock, Rng};

/// [`Clock`] backed by the system time.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// [`Rng`] backed by the operating system (`getrandom`).
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRng;

impl Rng for OsRng {
    fn fill(&self, buf: &mut [u8]) {
        // The OS source failing is unrecoverable: we must never issue a
        // predictable secret, so abort rather than continue.
        if let Err(e) = rand::rngs::OsRng.try_fill_bytes(buf) {
            tracing::error!(error = %e, "operating system random source failed");
            std::process::abort();
        }
    }
}
