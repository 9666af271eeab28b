//! Application state shared by handlers: configuration and ports, each as
//! `Arc<dyn Trait>` (STYLE.md §11).

use std::sync::Arc;

use crate::config::Config;
use crate::ports::{Clock, EventSink, PasswordHasher, Rng, Store};

/// Everything a handler may need. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Validated configuration.
    pub config: Arc<Config>,
    /// Repositories and units of work.
    pub store: Arc<dyn Store>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Randomness.
    pub rng: Arc<dyn Rng>,
    /// Password hashing.
    pub passwords: Arc<dyn PasswordHasher>,
    /// Grant and consent events (`emit` never waits).
    pub events: Arc<dyn EventSink>,
}
