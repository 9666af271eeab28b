//! End users.

use std::fmt;

use chrono::{DateTime, Utc};

use super::UserId;

/// A username: 1–128 characters, no control characters or surrounding
/// spaces. Compared as given (case-sensitive), like Keycloak's default.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    /// Validates a username.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() || raw.chars().count() > 128 {
            return Err("a username has 1 to 128 characters".into());
        }
        if raw.trim() != raw || raw.chars().any(char::is_control) {
            return Err(
                "a username may not contain control characters or surrounding spaces".into(),
            );
        }
        Ok(Self(raw.to_owned()))
    }

    /// Wraps a stored username.
    pub fn from_stored(raw: impl Into<String>) -> Self {
        Self(raw.into())
    }

    /// The username.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A user account.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// Stable id, the `sub` claim.
    pub id: UserId,
    /// Login name.
    pub username: Username,
    /// E-mail address.
    pub email: String,
    /// Whether the address was verified.
    pub email_verified: bool,
    /// Full name.
    pub name: Option<String>,
    /// argon2id PHC string.
    pub password_hash: String,
    /// A disabled user cannot sign in.
    pub disabled: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("disabled", &self.disabled)
            .field("password_hash", &"<redacted>")
            .finish_non_exhaustive()
    }
}
