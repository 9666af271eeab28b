//! The repository port of device authorizations (RFC 8628, issue 18 part 1): issue, look up by device or user code, poll (the §3.5 interval, one conditional update), decide, redeem once.
//! Reached through [`Repositories::device_codes`](super::Repositories::device_codes).

use async_trait::async_trait;

/// The repository of device authorizations.
#[async_trait]
pub trait DeviceCodeRepository: Send + Sync {}
