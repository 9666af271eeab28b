//! The repository port of pushed authorization requests (RFC 9126): push,
//! start (single use), look up, complete (at most one code).
//! Reached through [`Repositories::pushed_requests`](super::Repositories::pushed_requests).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::domain::par::PushedRequest;
use crate::domain::{ClientId, TokenHash};

/// The repository of pushed authorization requests. Every change of state
/// is one conditional `UPDATE`, so that parallel requests cannot both win.
#[async_trait]
pub trait PushedRequestRepository: Send + Sync {
    /// Stores a newly pushed request.
    async fn insert_pushed_request(&self, rec: &PushedRequest) -> Result<(), StoreError>;
    /// The pushed request stored under `hash`.
    async fn pushed_request(&self, hash: &TokenHash) -> Result<Option<PushedRequest>, StoreError>;
    /// Starts the request: sets `started_at`, the interaction's secret hash
    /// and its end, if the request is `client`'s, was never started and has
    /// not expired at `now` (RFC 9126 §4: single use). `true` for exactly one
    /// caller.
    async fn start_pushed_request(
        &self,
        hash: &TokenHash,
        client: &ClientId,
        interaction: &TokenHash,
        interaction_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Completes a started request (a code or an error went back to the
    /// client); `true` for exactly one caller.
    async fn complete_pushed_request(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Deletes the requests that can no longer be used before `before`
    /// (expired unstarted, or their interaction over); returns how many
    /// (housekeeping).
    async fn purge_pushed_requests(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}
