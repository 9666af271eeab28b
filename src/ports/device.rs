//! The repository port of device authorizations (RFC 8628, issue 18 part 1): issue, look up by device or user code, poll (the §3.5 interval, one conditional update), decide, redeem once.
//! Reached through [`Repositories::device_codes`](super::Repositories::device_codes).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::domain::TokenHash;
use crate::domain::device::{DeviceAuthorization, DeviceDecision, UserCode};

/// The repository of device authorizations. Every change of state is one
/// conditional `UPDATE`, so that parallel requests cannot both win.
#[async_trait]
pub trait DeviceCodeRepository: Send + Sync {
    /// Stores a new (pending) device authorization; `Conflict` when its user
    /// code is taken (the caller draws another).
    async fn insert_device_code(&self, rec: &DeviceAuthorization) -> Result<(), StoreError>;
    /// The authorization of a device code's hash.
    async fn device_code_by_hash(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<DeviceAuthorization>, StoreError>;
    /// The authorization of a (normalized) user code.
    async fn device_code_by_user_code(
        &self,
        code: &UserCode,
    ) -> Result<Option<DeviceAuthorization>, StoreError>;
    /// Records a poll at `now` if the last poll is still `seen` (compare and
    /// set); `slow_down` also adds `add_secs` to the interval (RFC 8628
    /// §3.5). `false`: another poll came first.
    async fn record_poll(
        &self,
        hash: &TokenHash,
        seen: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        slow_down_secs: Option<i64>,
    ) -> Result<bool, StoreError>;
    /// Decides a pending, unexpired authorization (approve or deny);
    /// `false` when it is no longer pending or has expired.
    async fn decide_device_code(
        &self,
        hash: &TokenHash,
        decision: &DeviceDecision,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Marks an approved, unexpired authorization redeemed; `true` for
    /// exactly one caller.
    async fn redeem_device_code(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Deletes the authorizations that expired before `before`; returns
    /// how many (housekeeping).
    async fn purge_expired_device_codes(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}
