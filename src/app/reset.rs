//! Password reset by mail (issue 16 item 3; docs/ACCOUNT.md, "Password
//! reset"). [`request`] finds the accounts a typed username or address
//! names and mails each a single-use link (within the per-address mail
//! limit); [`open`] is the link's page (it uses nothing); [`complete`]
//! checks the new password against the one rule
//! ([`operator::check_password`]), then uses the link (one conditional
//! update) and sets the password through [`operator::set_password`], which
//! ends every session and revokes every grant.

use chrono::{DateTime, Utc};

use super::operator::{self, OperatorError};
use super::{links, mail};
use crate::config::Config;
use crate::domain::{LinkPurpose, MailKind, TokenHash, User, UserId, Username};
use crate::ports::{Clock, PasswordHasher, Rng, Store, StoreError};

/// Longest accepted username-or-address on the "forgot" form (an address
/// is at most 320 bytes).
pub const MAX_LOGIN_CHARS: usize = 320;

/// What the reset needs.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    /// The store.
    pub store: &'a dyn Store,
    /// Tokens and ids.
    pub rng: &'a dyn Rng,
    /// Time.
    pub clock: &'a dyn Clock,
    /// The password hasher.
    pub hasher: &'a dyn PasswordHasher,
    /// Issuer, link lifetime, mail limit.
    pub config: &'a Config,
}

/// Checks what was typed on the "forgot" form: 1 to [`MAX_LOGIN_CHARS`]
/// characters without control characters, surrounding spaces removed. The
/// answer never depends on whether an account exists.
pub fn check_login(typed: &str) -> Result<&str, &'static str> {
    let t = typed.trim();
    if t.is_empty() {
        return Err("Give your username or your e-mail address.");
    }
    if t.chars().count() > MAX_LOGIN_CHARS || t.chars().any(char::is_control) {
        return Err("That is not a username or an e-mail address.");
    }
    Ok(t)
}

/// One account the request named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requested {
    /// The user.
    pub user: UserId,
    /// A link was queued (`false`: the per-address mail limit was reached).
    pub sent: bool,
}

/// Finds the enabled accounts `login` names (by username, and, for an
/// address, every account with that address) and queues for each a reset
/// link to the account's address, within the hourly mail limit of the
/// address and of `ip` ([`mail::allow`]). A newer link ends the older ones
/// of the user. Returns the accounts found (none for an unknown name).
/// Meant to run after the page has answered: its time and its failures
/// never show.
pub async fn request(ctx: &Ctx<'_>, login: &str, ip: &str) -> Result<Vec<Requested>, StoreError> {
    let store = ctx.store;
    let mut found: Vec<User> = Vec::new();
    if let Ok(name) = Username::parse(login)
        && let Some(u) = store.users().user_by_username(&name).await?
    {
        found.push(u);
    }
    if login.contains('@') {
        for u in store.users().users_by_email(login).await? {
            if !found.iter().any(|f| f.id == u.id) {
                found.push(u);
            }
        }
    }
    found.retain(|u| !u.disabled);
    let settings = &ctx.config.self_service;
    let mut out = Vec::with_capacity(found.len());
    for user in found {
        let now = ctx.clock.now();
        let sent = mail::allow(store, settings, &user.email, ip, now).await?;
        if sent {
            let uow = store.begin().await?;
            let token = links::issue(
                uow.as_ref(),
                ctx.rng,
                now,
                LinkPurpose::ResetPassword,
                Some(&user.id),
                &user.email,
                settings.password_reset_ttl,
            )
            .await?;
            let body = reset_mail(ctx.config, &user, &token);
            mail::queue(
                uow.as_ref(),
                ctx.rng,
                now,
                mail::NewMail {
                    kind: MailKind::PasswordReset,
                    to: &user.email,
                    subject: "Reset your password",
                    body: &body,
                },
            )
            .await?;
            uow.commit().await?;
        }
        out.push(Requested {
            user: user.id,
            sent,
        });
    }
    Ok(out)
}

fn reset_mail(config: &Config, user: &User, token: &str) -> String {
    let issuer = &config.issuer;
    let url = links::url(issuer, LinkPurpose::ResetPassword, token);
    let minutes = config.self_service.password_reset_ttl.num_minutes().max(1);
    format!(
        "Hello {username},\n\n\
         someone (we hope you) asked to reset the password of your account at {issuer}.\n\
         To choose a new password, open this link:\n\n\
         {url}\n\n\
         The link works once and for {minutes} minutes; a newer link replaces it. \
         If you did not ask for this, ignore this mail: your password stays as it is.\n",
        username = user.username,
    )
}

/// The user a working reset link (`token`) is for, at `now`: the link is
/// known, unused, unexpired, and its user exists, is enabled and still has
/// the address the link was sent to. `None` otherwise. Uses nothing.
pub async fn open(
    store: &dyn Store,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<User>, StoreError> {
    if !super::links::token_shape_ok(token) {
        return Ok(None);
    }
    let Some(link) = links::peek(store, token, LinkPurpose::ResetPassword, now).await? else {
        return Ok(None);
    };
    let Some(id) = &link.user_id else {
        return Ok(None);
    };
    Ok(store
        .users()
        .user_by_id(id)
        .await?
        .filter(|u| !u.disabled && u.email.eq_ignore_ascii_case(&link.email)))
}

/// How a reset form ended.
#[derive(Debug)]
pub enum Completed {
    /// The password was changed; every session ended and every grant was
    /// revoked; the "password changed" mail is queued.
    Changed(User),
    /// The link does not work (unknown, used, superseded, expired, or its
    /// user is gone or disabled).
    BadLink,
    /// The new password was refused (the message says why); the link was
    /// not used.
    Refused(User, String),
}

/// Completes a reset: checks the two passwords and the password rules
/// (the link stays usable when they fail), then uses the link (one
/// conditional update: of two parallel posts, one wins) and sets the
/// password ([`operator::set_password`]), then queues a "your password was
/// changed" mail.
pub async fn complete(
    ctx: &Ctx<'_>,
    token: &str,
    password: &str,
    again: &str,
) -> Result<Completed, OperatorError> {
    let store = ctx.store;
    let Some(user) = open(store, token, ctx.clock.now()).await? else {
        return Ok(Completed::BadLink);
    };
    if password != again {
        return Ok(Completed::Refused(
            user,
            "The two passwords differ. Type the same new password twice.".into(),
        ));
    }
    if let Err(e) = operator::check_password(password, &[user.username.as_str(), &user.email]) {
        let mut msg = e.to_string();
        if let Some(first) = msg.get_mut(0..1) {
            first.make_ascii_uppercase();
        }
        return Ok(Completed::Refused(user, format!("{msg}.")));
    }
    let link = store
        .links()
        .use_link(
            &TokenHash::of(token),
            LinkPurpose::ResetPassword,
            ctx.clock.now(),
        )
        .await?;
    if link.is_none_or(|l| l.user_id.as_ref() != Some(&user.id)) {
        return Ok(Completed::BadLink);
    }
    operator::set_password(
        store,
        ctx.hasher,
        ctx.clock,
        user.username.as_str(),
        password,
    )
    .await?;
    let body = format!(
        "Hello {username},\n\n\
         the password of your account at {issuer} was changed just now, with a reset link \
         sent to this address. Every device signed in to the account was signed out.\n\n\
         If this was not you, reset your password again at once and tell the service's operator.\n",
        username = user.username,
        issuer = ctx.config.issuer,
    );
    mail::queue(
        store,
        ctx.rng,
        ctx.clock.now(),
        mail::NewMail {
            kind: MailKind::PasswordChanged,
            to: &user.email,
            subject: "Your password was changed",
            body: &body,
        },
    )
    .await?;
    Ok(Completed::Changed(user))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forgot_form_takes_a_name_or_an_address() {
        assert_eq!(check_login("  alice "), Ok("alice"));
        assert_eq!(check_login("a@example.com"), Ok("a@example.com"));
        assert!(check_login("").is_err());
        assert!(check_login("   ").is_err());
        assert!(check_login("a\nb").is_err());
        assert!(check_login(&"a".repeat(MAX_LOGIN_CHARS + 1)).is_err());
        assert!(check_login(&"a".repeat(MAX_LOGIN_CHARS)).is_ok());
    }
}
