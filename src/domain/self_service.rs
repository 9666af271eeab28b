//! End-user self-service records (issue 16): mail in the durable outbox
//! and the single-use links sent by mail.

use std::fmt;

use chrono::{DateTime, Utc};

use super::{TokenHash, UserId};

/// What a mail is for (the `kind` column of the outbox; public in the
/// operator's lists).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailKind {
    /// A link that verifies an e-mail address.
    VerifyEmail,
    /// A password-reset link.
    PasswordReset,
    /// "Your password was changed" (no link).
    PasswordChanged,
    /// A sign-up attempt for an address that already has an account (the
    /// sign-up page answers as for a new address: no account enumeration).
    AccountExists,
    /// An invitation to sign up (`PORTCULLIS_SIGNUP=invite`).
    Invite,
}

impl MailKind {
    /// Every kind.
    pub const ALL: [Self; 5] = [
        Self::VerifyEmail,
        Self::PasswordReset,
        Self::PasswordChanged,
        Self::AccountExists,
        Self::Invite,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::PasswordReset => "password_reset",
            Self::PasswordChanged => "password_changed",
            Self::AccountExists => "account_exists",
            Self::Invite => "invite",
        }
    }

    /// Reads a stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }
}

impl fmt::Display for MailKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One mail of the outbox. Its body may hold a single-use link: it is
/// never logged (`Debug` leaves it out) and never put in an event.
#[derive(Clone, PartialEq, Eq)]
pub struct OutboxMail {
    /// Id (a UUID), also the `Message-ID`'s local part.
    pub id: String,
    /// What it is for.
    pub kind: MailKind,
    /// The one recipient's address.
    pub recipient: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body (UTF-8).
    pub body: String,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// Failed sending attempts so far.
    pub attempts: u32,
    /// Not sent before this time (backoff after a failure).
    pub next_attempt_at: DateTime<Utc>,
    /// When it was handed to the mail server (or written as a file).
    pub sent_at: Option<DateTime<Utc>>,
    /// The last sending error, for the operator.
    pub last_error: Option<String>,
}

impl fmt::Debug for OutboxMail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboxMail")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("attempts", &self.attempts)
            .field("sent_at", &self.sent_at)
            .field("body", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// What a single-use link does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkPurpose {
    /// Verifies `email` for the user.
    VerifyEmail,
    /// Lets the user choose a new password.
    ResetPassword,
    /// Lets the holder of `email` sign up (`PORTCULLIS_SIGNUP=invite`).
    Invite,
}

impl LinkPurpose {
    /// Every purpose.
    pub const ALL: [Self; 3] = [Self::VerifyEmail, Self::ResetPassword, Self::Invite];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::ResetPassword => "reset_password",
            Self::Invite => "invite",
        }
    }

    /// Reads a stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }
}

/// A single-use link's record: the token itself is only in the mail; the
/// store keeps its SHA-256 (docs/SECURITY.md invariant 2's rule, applied to
/// links).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserLink {
    /// SHA-256 of the token.
    pub token_hash: TokenHash,
    /// What it does.
    pub purpose: LinkPurpose,
    /// The user (none for an invitation to a new address).
    pub user_id: Option<UserId>,
    /// The address the link was sent to (the one it verifies).
    pub email: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// When it was used, or superseded by a newer link.
    pub used_at: Option<DateTime<Utc>>,
}
