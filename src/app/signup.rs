//! Self-registration (issue 16 item 4, docs/ACCOUNT.md "Sign-up"): the
//! rules of `/signup` and of invitations (`portcullis user invite`,
//! `POST /admin/v1/invitations`). The page ([`crate::http::routes::signup`])
//! only parses and renders.
//!
//! - A new user is checked by the one user-creation rule
//!   ([`operator::check_new_user`] / [`operator::create_user`]).
//! - No account enumeration by address: a sign-up with an address that
//!   already has an account creates nothing and answers exactly as a new
//!   sign-up does; the address's owner gets a mail instead
//!   ([`MailKind::AccountExists`]). A taken *username* is said on the form
//!   (usernames are shown to relying parties and chosen by the user; an
//!   address is private).
//! - An invitation is a single-use link bound to an address
//!   ([`LinkPurpose::Invite`]); using it, creating the user and marking the
//!   address verified are one unit of work.

use chrono::{DateTime, Duration, Utc};

use super::operator::{self, NewUser, OperatorError};
use super::{links, mail, verification};
use crate::config::{SelfServiceConfig, SignupMode};
use crate::domain::{LinkPurpose, MailKind, TokenHash, User};
use crate::ports::{Clock, PasswordHasher, Rng, Store, StoreError};
use crate::protocol::endpoints::Endpoint;

/// An invitation's lifetime when none is asked for: seven days.
pub const DEFAULT_INVITE_TTL: Duration = Duration::days(7);
/// The longest invitation: 30 days.
pub const MAX_INVITE_TTL: Duration = Duration::days(30);

/// An invitation that was sent (the token is only in the mail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// The invited address.
    pub email: String,
    /// Until when the link works.
    pub expires_at: DateTime<Utc>,
}

/// Invites `email` to sign up: a single-use link valid for `ttl` (default
/// [`DEFAULT_INVITE_TTL`], at most [`MAX_INVITE_TTL`]) queued in an
/// invitation mail; a newer invitation to the same address ends the older
/// one. Refused while sign-up is `off` (the link would lead to a 404) and
/// for an address that already has an account. The one rule of the CLI and
/// the admin API; the caller wakes the outbox worker if it runs one.
pub async fn invite(
    store: &dyn Store,
    rng: &dyn Rng,
    clock: &dyn Clock,
    settings: &SelfServiceConfig,
    issuer: &str,
    email: &str,
    ttl: Option<Duration>,
) -> Result<Invitation, OperatorError> {
    if settings.signup == SignupMode::Off {
        return Err(OperatorError::Invalid(
            "sign-up is off (PORTCULLIS_SIGNUP=off): an invitation would lead nowhere; set it \
             to invite or open first"
                .into(),
        ));
    }
    let email = email.trim();
    operator::check_email(email)?;
    let ttl = ttl.unwrap_or(DEFAULT_INVITE_TTL);
    if ttl <= Duration::zero() || ttl > MAX_INVITE_TTL {
        return Err(OperatorError::Invalid(
            "the lifetime (--ttl-secs, ttl_secs) must be between 1 second and 30 days".into(),
        ));
    }
    if !store.users().users_by_email(email).await?.is_empty() {
        return Err(OperatorError::Conflict(
            "a user with this e-mail address exists already".into(),
        ));
    }
    let now = clock.now();
    let uow = store.begin().await?;
    let token = links::issue(&*uow, rng, now, LinkPurpose::Invite, None, email, ttl).await?;
    let url = links::url(issuer, LinkPurpose::Invite, &token);
    let expires_at = now + ttl;
    let body = format!(
        "Hello,\n\n\
         you are invited to create an account at {issuer}.\n\
         Open this link to choose a username and a password:\n\n\
         {url}\n\n\
         The link works once, until {} (UTC). If you did not expect this \
         invitation, ignore this mail: nothing happens.\n",
        expires_at.format("%Y-%m-%d %H:%M")
    );
    mail::queue(
        &*uow,
        rng,
        now,
        mail::NewMail {
            kind: MailKind::Invite,
            to: email,
            subject: "You are invited to create an account",
            body: &body,
        },
    )
    .await?;
    uow.commit().await?;
    Ok(Invitation {
        email: email.to_owned(),
        expires_at,
    })
}

/// What the sign-up form sent.
#[derive(Clone, Default)]
pub struct SignupRequest {
    /// Chosen username.
    pub username: String,
    /// E-mail address (ignored with an invitation: the invited one counts).
    pub email: String,
    /// Full name (optional).
    pub name: Option<String>,
    /// Password.
    pub password: String,
    /// The password again.
    pub password_again: String,
    /// The invitation token (`?token=` of the invitation link), if any.
    pub invitation: Option<String>,
}

/// What the ports and settings of a sign-up are.
pub struct SignupCtx<'a> {
    /// The store.
    pub store: &'a dyn Store,
    /// Password hashing.
    pub hasher: &'a dyn PasswordHasher,
    /// Time.
    pub clock: &'a dyn Clock,
    /// Randomness.
    pub rng: &'a dyn Rng,
    /// The self-service settings.
    pub settings: &'a SelfServiceConfig,
    /// The issuer (links in mail).
    pub issuer: &'a str,
    /// The client address (mail limits).
    pub ip: &'a str,
}

/// How the user came: an open sign-up or an invitation (the
/// `user_registered` event's `via`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// `PORTCULLIS_SIGNUP=open`, without an invitation.
    Open,
    /// With an invitation link.
    Invite,
}

impl Via {
    /// The event's `via`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Invite => "invite",
        }
    }
}

/// The answer to a sign-up.
#[derive(Debug)]
pub enum SignupOutcome {
    /// A new user (its address verified when it came with an invitation).
    Registered {
        /// The new user.
        user: User,
        /// How.
        via: Via,
    },
    /// "Check your mail" to `email`: the page a new open sign-up gets, also
    /// given when the address has an account already (nothing was created;
    /// that address got a [`MailKind::AccountExists`] mail, within the
    /// limits).
    CheckMail {
        /// The address.
        email: String,
    },
    /// The form again, with `message` (nothing was created).
    Invalid {
        /// What to fix.
        message: String,
        /// The invited address, with an invitation.
        invited: Option<String>,
    },
    /// Sign-up is by invitation and there is none.
    InvitationNeeded,
    /// The invitation is unknown, used, superseded or expired.
    InvitationInvalid,
}

fn invitation_token(req: &SignupRequest) -> Option<&str> {
    req.invitation.as_deref().filter(|t| !t.is_empty())
}

/// The address a sign-up registers: `Ok(Some(..))` the invited one (the
/// invitation checked with [`links::peek`]), `Ok(None)` none (an open
/// sign-up: the typed one), `Err` the answer when there is no usable
/// invitation where one is needed (the page shows it instead of the form).
pub async fn invited_address(
    store: &dyn Store,
    settings: &SelfServiceConfig,
    invitation: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Result<Option<String>, SignupOutcome>, StoreError> {
    let Some(token) = invitation.filter(|t| !t.is_empty()) else {
        return Ok(if settings.signup == SignupMode::Invite {
            Err(SignupOutcome::InvitationNeeded)
        } else {
            Ok(None)
        });
    };
    Ok(links::peek(store, token, LinkPurpose::Invite, now)
        .await?
        .map(|l| Some(l.email))
        .ok_or(SignupOutcome::InvitationInvalid))
}

/// Signs a user up (docs/ACCOUNT.md "Sign-up"). The caller checked the
/// CSRF token; it emits `user_registered` for
/// [`SignupOutcome::Registered`] and wakes the outbox worker.
pub async fn sign_up(
    ctx: &SignupCtx<'_>,
    req: SignupRequest,
) -> Result<SignupOutcome, OperatorError> {
    let now = ctx.clock.now();
    let token = invitation_token(&req).map(str::to_owned);
    let invited = match invited_address(ctx.store, ctx.settings, token.as_deref(), now).await? {
        Ok(invited) => invited,
        Err(answer) => return Ok(answer),
    };
    let email = invited
        .clone()
        .unwrap_or_else(|| req.email.trim().to_owned());
    let invalid = |message: String| {
        Ok(SignupOutcome::Invalid {
            message,
            invited: invited.clone(),
        })
    };
    let new = NewUser {
        username: req.username.trim().to_owned(),
        email,
        name: req
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned),
        password: req.password.clone(),
    };
    // The form's own rules first, then the username (public-ish), and only
    // then the address: what the page says never depends on whether an
    // address has an account.
    let username = match operator::check_new_user(&new) {
        Ok(u) => u,
        Err(OperatorError::Invalid(m)) => return invalid(capitalized(&m)),
        Err(e) => return Err(e),
    };
    if req.password != req.password_again {
        return invalid("The two passwords differ: type the same password twice.".into());
    }
    if ctx
        .store
        .users()
        .user_by_username(&username)
        .await?
        .is_some()
    {
        return invalid(TAKEN.into());
    }
    if !ctx
        .store
        .users()
        .users_by_email(&new.email)
        .await?
        .is_empty()
    {
        return account_exists(ctx, &new, token.as_deref(), now).await;
    }
    let outcome = match token {
        Some(token) => by_invitation(ctx, new, &token, now).await?,
        None => open(ctx, new, now).await?,
    };
    match outcome {
        Some(outcome) => Ok(outcome),
        None => invalid(TAKEN.into()),
    }
}

/// What the form says of a taken username.
const TAKEN: &str = "This username is taken: choose another one.";

/// `"the password is too short"` → `"The password is too short."`.
fn capitalized(message: &str) -> String {
    let mut out: String = message
        .chars()
        .take(1)
        .flat_map(char::to_uppercase)
        .chain(message.chars().skip(1))
        .collect();
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

/// The address has an account: nothing is created; the address gets an
/// [`MailKind::AccountExists`] mail (within the mail limits), and the
/// answer is the page of a new sign-up. The password is hashed anyway, so
/// that the answer takes about as long as a real sign-up.
async fn account_exists(
    ctx: &SignupCtx<'_>,
    new: &NewUser,
    invitation: Option<&str>,
    now: DateTime<Utc>,
) -> Result<SignupOutcome, OperatorError> {
    let _ = ctx.hasher.hash(&new.password).await;
    if let Some(token) = invitation {
        // The invitation is spent: it brought its holder here once.
        ctx.store
            .links()
            .use_link(&TokenHash::of(token), LinkPurpose::Invite, now)
            .await?;
    }
    if mail::allow(ctx.store, ctx.settings, &new.email, ctx.ip, now).await? {
        let issuer = ctx.issuer;
        let sign_in = format!("{issuer}{}", Endpoint::Account.path());
        let forgot = format!("{issuer}{}", Endpoint::PasswordForgot.path());
        let body = format!(
            "Hello,\n\n\
             someone tried to create an account at {issuer} with this address. An \
             account with this address exists already, so no new account was made.\n\n\
             If it was you, sign in:\n\n{sign_in}\n\n\
             or, if you forgot your password, choose a new one:\n\n{forgot}\n\n\
             If it was not you, ignore this mail: nothing changed.\n"
        );
        mail::queue(
            ctx.store,
            ctx.rng,
            now,
            mail::NewMail {
                kind: MailKind::AccountExists,
                to: &new.email,
                subject: "Someone tried to sign up with your address",
                body: &body,
            },
        )
        .await?;
    }
    Ok(SignupOutcome::CheckMail {
        email: new.email.clone(),
    })
}

/// An open sign-up: the user, unverified, and a verification link (within
/// the mail limits; over them, the user asks for another link later).
/// `None`: the username was taken in the meantime (a parallel sign-up).
async fn open(
    ctx: &SignupCtx<'_>,
    new: NewUser,
    now: DateTime<Utc>,
) -> Result<Option<SignupOutcome>, OperatorError> {
    let user = match operator::create_user(ctx.store, ctx.hasher, ctx.clock, new).await {
        Ok(user) => user,
        Err(OperatorError::Conflict(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    if mail::allow(ctx.store, ctx.settings, &user.email, ctx.ip, now).await? {
        let uow = ctx.store.begin().await?;
        verification::send_link(
            &*uow,
            ctx.rng,
            now,
            ctx.issuer,
            ctx.settings.email_verify_ttl,
            &user.id,
            &user.email,
        )
        .await?;
        uow.commit().await?;
    }
    Ok(Some(SignupOutcome::Registered {
        user,
        via: Via::Open,
    }))
}

/// A sign-up with an invitation: one unit of work uses the invitation
/// (first, so that a parallel use of the same link waits for this one and
/// then finds it used), creates the user and marks the invited address
/// verified (the link proved it). Any refusal rolls all of it back: the
/// invitation still works. `None`: the username was taken in the meantime.
async fn by_invitation(
    ctx: &SignupCtx<'_>,
    new: NewUser,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<SignupOutcome>, OperatorError> {
    let uow = ctx.store.begin().await?;
    let Some(link) = uow
        .links()
        .use_link(&TokenHash::of(token), LinkPurpose::Invite, now)
        .await?
    else {
        return Ok(Some(SignupOutcome::InvitationInvalid));
    };
    let mut user = match operator::create_user(&*uow, ctx.hasher, ctx.clock, new).await {
        Ok(user) => user,
        Err(OperatorError::Conflict(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    if !uow
        .users()
        .set_email_verified(&user.id, &link.email, now)
        .await?
    {
        return Err(OperatorError::Store(StoreError::Internal(
            "the new user's address could not be marked verified".into(),
        )));
    }
    uow.commit().await?;
    user.email_verified = true;
    Ok(Some(SignupOutcome::Registered {
        user,
        via: Via::Invite,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_as_sentences() {
        assert_eq!(
            capitalized("the password is too short: use at least 8 characters"),
            "The password is too short: use at least 8 characters."
        );
        assert_eq!(capitalized("Done."), "Done.");
    }
}
