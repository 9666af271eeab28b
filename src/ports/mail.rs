//! The mail transport port: hands one mail of the outbox to the world (an
//! SMTP server, or a `.eml` file under `data/outbox/` in the embedded
//! default). Only the outbox worker (`app::mail`) calls it; requests never
//! wait on it (docs/SECURITY.md invariant 16).

use async_trait::async_trait;

use crate::domain::OutboxMail;

/// Why a mail could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// Worth trying again later (the server is down, a timeout, a 4xx SMTP
    /// reply, a full disk).
    #[error("mail transport unavailable: {0}")]
    Transient(String),
    /// Will never work (the server refused the recipient for good, a 5xx
    /// reply): the worker stops retrying and keeps the mail for the
    /// operator.
    #[error("mail refused: {0}")]
    Permanent(String),
}

/// A mail transport (Adapter pattern: the file writer, SMTP through
/// `lettre`).
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends one mail, from the configured sender. Must not log the body.
    async fn send(&self, mail: &OutboxMail) -> Result<(), MailError>;
    /// What this transport is (`file` or `smtp`), for logs.
    fn name(&self) -> &'static str;
}
