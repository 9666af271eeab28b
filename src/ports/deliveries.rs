//! The repository port of the durable outbox of outbound HTTP requests (back-channel logout tokens, issue 18 part 2): enqueue, due, claim with a lease, delivered, failed, abandoned.
//! Reached through [`Repositories::deliveries`](super::Repositories::deliveries).

use async_trait::async_trait;

/// The repository of the durable outbox of outbound HTTP requests.
#[async_trait]
pub trait DeliveryRepository: Send + Sync {}
