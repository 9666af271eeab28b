//! The repository port of the APIs registered for RFC 8707 resource indicators (issue 18 part 3): create, get, list, update, delete.
//! Reached through [`Repositories::resources`](super::Repositories::resources).

use async_trait::async_trait;

/// The repository of the APIs registered for RFC 8707 resource indicators.
#[async_trait]
pub trait ResourceRepository: Send + Sync {}
