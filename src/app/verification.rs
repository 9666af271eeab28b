//! E-mail verification (issue 16 item 2): a single-use link sent to the
//! address, which sets `email_verified` once used. This module's
//! [`send_link`] is the one way a verification mail is made: user creation
//! (CLI, admin API, sign-up) and an e-mail change (account page, admin API)
//! all call it.

use chrono::{DateTime, Duration, Utc};

use super::{links, mail};
use crate::domain::{LinkPurpose, MailKind, UserId};
use crate::ports::{Repositories, Rng, StoreError};

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
    let body = format!(
        "Hello,\n\n\
         someone (we hope you) gave this address to an account at {issuer}.\n\
         To confirm that it is yours, open this link and press \"Verify\":\n\n\
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
