//! The sea-orm implementation of [`MailOutboxRepository`] and
//! [`UserLinkRepository`] (issue 16). A mail is claimed, and a link used,
//! by one conditional `UPDATE` (docs/SECURITY.md invariant 15).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::SeaRepos;
use super::entity::{mail_outbox, user_tokens};
use super::outbox::Outbox;
use super::repositories::map_err;
use crate::domain::{LinkPurpose, MailKind, OutboxMail, TokenHash, UserId, UserLink};
use crate::ports::{MailOutboxRepository, StoreError, UserLinkRepository};

fn corrupt(what: &str) -> StoreError {
    StoreError::Internal(format!("stored {what} is unreadable"))
}

fn mail_from(m: mail_outbox::Model) -> Result<OutboxMail, StoreError> {
    Ok(OutboxMail {
        kind: MailKind::parse(&m.kind).ok_or_else(|| corrupt("mail kind"))?,
        id: m.id,
        recipient: m.recipient,
        subject: m.subject,
        body: m.body,
        created_at: m.created_at,
        attempts: u32::try_from(m.attempts).map_err(|_| corrupt("mail attempts"))?,
        next_attempt_at: m.next_attempt_at,
        sent_at: m.sent_at,
        last_error: m.last_error,
    })
}

fn link_from(m: user_tokens::Model) -> Result<UserLink, StoreError> {
    Ok(UserLink {
        token_hash: TokenHash::from_stored(m.token_hash),
        purpose: LinkPurpose::parse(&m.purpose).ok_or_else(|| corrupt("link purpose"))?,
        user_id: m.user_id.map(UserId::new),
        email: m.email,
        created_at: m.created_at,
        expires_at: m.expires_at,
        used_at: m.used_at,
    })
}

/// The mail outbox as an outbox: pending until sent.
fn mail_outbox() -> Outbox<mail_outbox::Entity> {
    Outbox {
        id: mail_outbox::Column::Id,
        next_attempt_at: mail_outbox::Column::NextAttemptAt,
        attempts: mail_outbox::Column::Attempts,
        last_error: mail_outbox::Column::LastError,
        pending: Condition::all().add(mail_outbox::Column::SentAt.is_null()),
    }
}

#[async_trait]
impl<C: ConnectionTrait + Send + Sync> MailOutboxRepository for SeaRepos<C> {
    async fn enqueue_mail(&self, mail: &OutboxMail) -> Result<(), StoreError> {
        let model = mail_outbox::ActiveModel {
            id: Set(mail.id.clone()),
            kind: Set(mail.kind.as_str().to_owned()),
            recipient: Set(mail.recipient.clone()),
            subject: Set(mail.subject.clone()),
            body: Set(mail.body.clone()),
            created_at: Set(mail.created_at),
            attempts: Set(i32::try_from(mail.attempts).unwrap_or(i32::MAX)),
            next_attempt_at: Set(mail.next_attempt_at),
            sent_at: Set(mail.sent_at),
            last_error: Set(mail.last_error.clone()),
        };
        mail_outbox::Entity::insert(model)
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn due_mail(
        &self,
        now: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<OutboxMail>, StoreError> {
        mail_outbox()
            .due(&self.conn, now, limit)
            .await?
            .into_iter()
            .map(mail_from)
            .collect()
    }

    async fn claim_mail(
        &self,
        id: &str,
        seen: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        mail_outbox().claim(&self.conn, id, seen, lease_until).await
    }

    async fn mark_mail_sent(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let res = mail_outbox::Entity::update_many()
            .col_expr(mail_outbox::Column::SentAt, Expr::value(now))
            .col_expr(mail_outbox::Column::LastError, Expr::value(None::<String>))
            .filter(mail_outbox::Column::Id.eq(id))
            .filter(mail_outbox::Column::SentAt.is_null())
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn mark_mail_failed(
        &self,
        id: &str,
        attempts: u32,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> Result<bool, StoreError> {
        mail_outbox()
            .failed(&self.conn, id, attempts, next_attempt_at, error)
            .await
    }

    async fn list_mail(
        &self,
        unsent_only: bool,
        limit: u64,
    ) -> Result<Vec<OutboxMail>, StoreError> {
        let mut q = mail_outbox::Entity::find()
            .order_by_desc(mail_outbox::Column::CreatedAt)
            .order_by_desc(mail_outbox::Column::Id)
            .limit(limit);
        if unsent_only {
            q = q.filter(mail_outbox::Column::SentAt.is_null());
        }
        q.all(&self.conn)
            .await
            .map_err(map_err)?
            .into_iter()
            .map(mail_from)
            .collect()
    }

    async fn purge_sent_mail(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let res = mail_outbox::Entity::delete_many()
            .filter(mail_outbox::Column::SentAt.lt(before))
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected)
    }
}

#[async_trait]
impl<C: ConnectionTrait + Send + Sync> UserLinkRepository for SeaRepos<C> {
    async fn insert_link(&self, link: &UserLink) -> Result<(), StoreError> {
        // A newer link invalidates the older ones of its kind.
        let owner = match &link.user_id {
            Some(user) => user_tokens::Column::UserId.eq(user.as_str()),
            None => Condition::all()
                .add(user_tokens::Column::UserId.is_null())
                .add(user_tokens::Column::Email.eq(link.email.as_str()))
                .into(),
        };
        user_tokens::Entity::update_many()
            .col_expr(user_tokens::Column::UsedAt, Expr::value(link.created_at))
            .filter(user_tokens::Column::Purpose.eq(link.purpose.as_str()))
            .filter(user_tokens::Column::UsedAt.is_null())
            .filter(owner)
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        let model = user_tokens::ActiveModel {
            token_hash: Set(link.token_hash.as_str().to_owned()),
            purpose: Set(link.purpose.as_str().to_owned()),
            user_id: Set(link.user_id.as_ref().map(|u| u.as_str().to_owned())),
            email: Set(link.email.clone()),
            created_at: Set(link.created_at),
            expires_at: Set(link.expires_at),
            used_at: Set(link.used_at),
        };
        user_tokens::Entity::insert(model)
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn get_link(&self, hash: &TokenHash) -> Result<Option<UserLink>, StoreError> {
        user_tokens::Entity::find_by_id(hash.as_str())
            .one(&self.conn)
            .await
            .map_err(map_err)?
            .map(link_from)
            .transpose()
    }

    async fn use_link(
        &self,
        hash: &TokenHash,
        purpose: LinkPurpose,
        now: DateTime<Utc>,
    ) -> Result<Option<UserLink>, StoreError> {
        let res = user_tokens::Entity::update_many()
            .col_expr(user_tokens::Column::UsedAt, Expr::value(now))
            .filter(user_tokens::Column::TokenHash.eq(hash.as_str()))
            .filter(user_tokens::Column::Purpose.eq(purpose.as_str()))
            .filter(user_tokens::Column::UsedAt.is_null())
            .filter(user_tokens::Column::ExpiresAt.gt(now))
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        if res.rows_affected != 1 {
            return Ok(None);
        }
        self.get_link(hash).await
    }

    async fn expire_user_links(
        &self,
        user: &UserId,
        purpose: LinkPurpose,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let res = user_tokens::Entity::update_many()
            .col_expr(user_tokens::Column::UsedAt, Expr::value(now))
            .filter(user_tokens::Column::UserId.eq(user.as_str()))
            .filter(user_tokens::Column::Purpose.eq(purpose.as_str()))
            .filter(user_tokens::Column::UsedAt.is_null())
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected)
    }

    async fn purge_expired_links(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let res = user_tokens::Entity::delete_many()
            .filter(user_tokens::Column::ExpiresAt.lt(before))
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected)
    }
}
