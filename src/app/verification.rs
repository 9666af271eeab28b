//! E-mail verification (issue 16 item 2): a single-use link sent to the
//! address, which sets `email_verified` once used. This module's
//! [`send_link`] is the one way a verification mail is made: user creation
//! (CLI, admin API, sign-up) and an e-mail change (account page, admin API)
//! all call it.

use chrono::{DateTime, Duration, Utc};

use super::{links, mail};
use crate::config::Config;
use crate::domain::{LinkPurpose, MailKind, UserId};
use crate::ports::{Repositories, Rng, Store, StoreError};

/// What sending a verification mail needs besides the store: the `Rng` of
/// the link's token, the issuer the link points at and the link's lifetime
/// (`PORTCULLIS_EMAIL_VERIFY_TTL_SECS`). The CLI and the server build it
/// from their configuration ([`Self::from_config`]).
#[derive(Clone, Copy)]
pub struct Sender<'a> {
    /// Source of the link's token and the mail's id.
    pub rng: &'a dyn Rng,
    /// The issuer (the link's origin).
    pub issuer: &'a str,
    /// How long the link works.
    pub ttl: Duration,
}

impl<'a> Sender<'a> {
    /// The sender of `config`'s issuer and link lifetime.
    pub fn from_config(config: &'a Config, rng: &'a dyn Rng) -> Self {
        Self {
            rng,
            issuer: &config.issuer,
            ttl: config.self_service.email_verify_ttl,
        }
    }

    /// Queues a verification mail for `email` of `user` ([`send_link`]) in
    /// its own unit of work: the link and the mail are written together or
    /// not at all. The outbox worker sends it (a server wakes it; another
    /// process's mail is found at the worker's next poll).
    pub async fn send(
        &self,
        store: &dyn Store,
        now: DateTime<Utc>,
        user: &UserId,
        email: &str,
    ) -> Result<(), StoreError> {
        let uow = store.begin().await?;
        send_link(
            uow.as_ref(),
            self.rng,
            now,
            self.issuer,
            self.ttl,
            user,
            email,
        )
        .await?;
        uow.commit().await
    }
}

/// Queues a verification mail for `email` of `user` through `repos` (the
/// caller's unit of work, or the store): a new link (ending the user's
/// earlier verification links) valid for `ttl`, under `issuer`.
pub async fn send_link(
    repos: &dyn Repositories,
    rng: &dyn Rng,
    now: DateTime<Utc>,
    issuer: &str,
    ttl: Duration,
    user: &UserId,
    email: &str,
) -> Result<(), StoreError> {
    let token = links::issue(
        repos,
        rng,
        now,
        LinkPurpose::VerifyEmail,
        Some(user),
        email,
        ttl,
    )
    .await?;
    let url = links::url(issuer, LinkPurpose::VerifyEmail, &token);
    let hours = ttl.num_hours().max(1);
    // The account is named, so that nobody verifies their address for an
    // account that is not theirs (someone may sign up with another's
    // address).
    let username = repos
        .users()
        .user_by_id(user)
        .await?
        .map(|u| u.username.to_string())
        .unwrap_or_default();
    let body = format!(
        "Hello,\n\n\
         someone (we hope you) gave this address to the account \"{username}\" at {issuer}.\n\
         If that account is yours, open this link and press \"Verify\":\n\n\
         {url}\n\n\
         The link works once and for {hours} hour(s). If you did not ask for this, \
         ignore this mail: nothing changes.\n"
    );
    mail::queue(
        repos,
        rng,
        now,
        mail::NewMail {
            kind: MailKind::VerifyEmail,
            to: email,
            subject: "Verify your e-mail address",
            body: &body,
        },
    )
    .await?;
    Ok(())
}
