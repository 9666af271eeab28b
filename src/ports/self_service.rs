//! Repository ports of end-user self-service (issue 16): the durable mail
//! outbox and the single-use links sent by mail. Reached through
//! [`Repositories::outbox`](super::Repositories::outbox) and
//! [`Repositories::links`](super::Repositories::links), so that a mail is
//! queued in the same unit of work as the change that asks for it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::repositories::StoreError;
use crate::domain::{LinkPurpose, OutboxMail, TokenHash, UserId, UserLink};

/// The durable outbox of mail (docs/SECURITY.md invariant 16): a mail is a
/// row until it is sent; sending is retried with backoff; several
/// instances share the table and a mail is claimed before it is sent, so
/// that it goes out once.
#[async_trait]
pub trait MailOutboxRepository: Send + Sync {
    /// Queues a mail.
    async fn enqueue_mail(&self, mail: &OutboxMail) -> Result<(), StoreError>;
    /// Unsent mail whose next attempt is due at `now`, oldest first, at
    /// most `limit`.
    async fn due_mail(&self, now: DateTime<Utc>, limit: u64)
    -> Result<Vec<OutboxMail>, StoreError>;
    /// Claims a due mail for one sending attempt: one conditional update
    /// that moves `next_attempt_at` from `seen` (the value [`Self::due_mail`]
    /// read) to `lease_until`, only while the mail is unsent. `true` if this
    /// caller won it; another instance that read the same row gets `false`.
    async fn claim_mail(
        &self,
        id: &str,
        seen: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Records that a mail was sent.
    async fn mark_mail_sent(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Records a failed attempt: the count, when to try again, and the
    /// error (for the operator; never a secret).
    async fn mark_mail_failed(
        &self,
        id: &str,
        attempts: u32,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> Result<bool, StoreError>;
    /// The newest mails first, at most `limit`; with `unsent_only`, only
    /// those not sent yet (the operator's view of a stuck outbox).
    async fn list_mail(&self, unsent_only: bool, limit: u64)
    -> Result<Vec<OutboxMail>, StoreError>;
    /// Deletes mail sent before `before` (housekeeping); returns how many.
    async fn purge_sent_mail(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// Single-use links (e-mail verification, password reset, invitations),
/// stored by the SHA-256 of their token.
#[async_trait]
pub trait UserLinkRepository: Send + Sync {
    /// Stores a new link and, in the same call, marks as used every earlier
    /// unused link of the same purpose for the same user (or, for a link
    /// without a user, the same address): a newer link invalidates the
    /// older ones.
    async fn insert_link(&self, link: &UserLink) -> Result<(), StoreError>;
    /// Loads a link by its hash, used or not (a page shows the form of a
    /// link before the form uses it).
    async fn get_link(&self, hash: &TokenHash) -> Result<Option<UserLink>, StoreError>;
    /// Uses a link: one conditional update (`purpose` matches, unused, not
    /// expired at `now`); returns the link when this call used it, `None`
    /// when it was unknown, used, superseded or expired. Parallel calls with
    /// one token: exactly one gets the link.
    async fn use_link(
        &self,
        hash: &TokenHash,
        purpose: LinkPurpose,
        now: DateTime<Utc>,
    ) -> Result<Option<UserLink>, StoreError>;
    /// Marks every unused link of `purpose` of a user as used (its password
    /// or address changed another way); returns how many.
    async fn expire_user_links(
        &self,
        user: &UserId,
        purpose: LinkPurpose,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError>;
    /// Deletes links that expired before `before` (housekeeping).
    async fn purge_expired_links(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}
