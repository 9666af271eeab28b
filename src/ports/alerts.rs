//! The security-alert queue port: where signed Security Event Tokens of
//! high-severity events go (docs/EVENTS.md, "Security alerts"). One
//! adapter today, Amazon SQS (`adapters::sqs`), picked by
//! `factory::build_alert_queue` when `PORTCULLIS_ALERTS_SQS_QUEUE_URL` is
//! set. Alerts reach it only from the durable outbox (`ports::deliveries`,
//! kind [`SECURITY_ALERT`](super::deliveries::SECURITY_ALERT)), never from
//! a request.

use async_trait::async_trait;

/// One alert to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertMessage {
    /// The stable deduplication id: the event id (also the SET's `jti`),
    /// the same at every attempt.
    pub dedup_id: String,
    /// The SET's event type URI (RFC 8417 §2.2), for routing and filters.
    pub event_type: String,
    /// The signed SET (compact JWS, `typ` `secevent+jwt`).
    pub set: String,
}

/// Why an alert was not accepted (the message names no secret).
#[derive(Debug, thiserror::Error)]
pub enum AlertQueueError {
    /// The queue could not be reached or did not answer in time: tried
    /// again later.
    #[error("alert queue unavailable: {0}")]
    Unavailable(String),
    /// The queue refused the message (permissions, a missing queue, a
    /// message it cannot take): tried again later as well, and logged.
    #[error("alert queue refused the message: {0}")]
    Refused(String),
}

/// A queue of security alerts. At least once: a message may be sent
/// twice (a retry after an answer was lost); [`AlertMessage::dedup_id`]
/// lets the queue or its consumer drop the copy.
#[async_trait]
pub trait AlertQueue: Send + Sync {
    /// Sends one alert; `Ok` once the queue has accepted it.
    async fn send(&self, message: &AlertMessage) -> Result<(), AlertQueueError>;
}
