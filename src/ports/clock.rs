//! Time, injected so that protocol rules and tests never read the system clock.

use chrono::{DateTime, Utc};

/// The source of the current time.
pub trait Clock: Send + Sync {
    /// The current UTC time.
    fn now(&self) -> DateTime<Utc>;
}
