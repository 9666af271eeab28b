//! Users, as the CLI (`portcullis user ...`) and the admin API
//! (`/admin/v1/users`) see them: one list and search, one view without the
//! password hash, one update, one deletion. The rules of creating a user,
//! a new password, disabling and unlocking stay in [`super::operator`] and
//! are called from here, never written again.
//!
//! Search (`q`, `--query`): a case-insensitive *substring* of the username
//! or the e-mail address, 1 to [`MAX_QUERY_CHARS`] characters; `%` and `_`
//! are plain characters. Case is folded by the database's `LOWER` (ASCII
//! letters on SQLite; every letter on PostgreSQL). It reads the whole users
//! table (no index serves a substring): meant for operators, not for a hot
//! path.
//!
//! Deleting a user disables them first through the operator path (their
//! sessions end and every grant is revoked, so every token stops working),
//! then deletes their consents and their sign-in throttle entries, then
//! the user row. Ended sessions and revoked grants stay as rows until
//! housekeeping purges them; events keep the subject id (the audit trail
//! is never rewritten), and a new user with the same username gets a new
//! id.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::operator::{self, NewUser, OperatorError};
use super::verification;
use crate::domain::{LinkPurpose, User, UserId, Username};
use crate::ports::repositories::UserProfile;
use crate::ports::{Clock, PasswordHasher, Store};
use crate::protocol::admin::{Page, PageRequest};

/// Longest accepted search text, in characters.
pub const MAX_QUERY_CHARS: usize = 128;

/// A user as operators see it: everything but the password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserView {
    /// Stable id, the `sub` claim; paths address users by it.
    pub user_id: String,
    /// Login name.
    pub username: String,
    /// E-mail address.
    pub email: String,
    /// Whether the address was verified.
    pub email_verified: bool,
    /// Full name.
    pub name: Option<String>,
    /// A disabled user cannot sign in.
    pub disabled: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            user_id: u.id.as_str().to_owned(),
            username: u.username.as_str().to_owned(),
            email: u.email.clone(),
            email_verified: u.email_verified,
            name: u.name.clone(),
            disabled: u.disabled,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

/// How a caller names a user: the admin API by id (`sub`), the CLI by
/// username.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserRef<'a> {
    /// By id (`sub`).
    Id(&'a str),
    /// By username.
    Username(&'a str),
}

impl std::fmt::Display for UserRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Id(id) | Self::Username(id) => f.write_str(id),
        }
    }
}

fn not_found(r: UserRef<'_>) -> OperatorError {
    OperatorError::NotFound(format!("no user {r}"))
}

/// Loads the user `r` names; `NotFound` if there is none.
pub async fn find(store: &dyn Store, r: UserRef<'_>) -> Result<User, OperatorError> {
    let found = match r {
        // Ids are UUIDs; anything far from one names nobody.
        UserRef::Id(id) if id.is_empty() || id.len() > 64 => None,
        UserRef::Id(id) => store.users().user_by_id(&UserId::new(id)).await?,
        UserRef::Username(name) => {
            let name = Username::parse(name).map_err(OperatorError::Invalid)?;
            store.users().user_by_username(&name).await?
        }
    };
    found.ok_or_else(|| not_found(r))
}

/// The search text of a list: `None` or empty means every user; otherwise
/// 1 to [`MAX_QUERY_CHARS`] characters without control characters,
/// lowercased for the case-insensitive match.
pub fn search_text(q: Option<&str>) -> Result<Option<String>, OperatorError> {
    match q {
        None | Some("") => Ok(None),
        Some(q) if q.chars().count() > MAX_QUERY_CHARS || q.chars().any(char::is_control) => {
            Err(OperatorError::Invalid(format!(
                "the search text has 1 to {MAX_QUERY_CHARS} printable characters"
            )))
        }
        Some(q) => Ok(Some(q.to_lowercase())),
    }
}

/// One page of users ordered by id, optionally searched ([`search_text`]).
pub async fn list(
    store: &dyn Store,
    q: Option<&str>,
    page: &PageRequest,
) -> Result<Page<UserView>, OperatorError> {
    let search = search_text(q)?;
    let rows = store
        .users()
        .list_users_page(search.as_deref(), page.after.as_deref(), page.fetch())
        .await?;
    let views: Vec<UserView> = rows.iter().map(UserView::from).collect();
    Ok(Page::of(views, page, |u| u.user_id.clone()))
}

/// Creates a user ([`operator::create_user`]: its username, e-mail, name
/// and password rules, an argon2id hash) and queues a verification link to
/// their address ([`verification::Sender::send`]). The one creation of a
/// user by an operator: the CLI and the admin API both call it.
pub async fn create(
    store: &dyn Store,
    hasher: &dyn PasswordHasher,
    clock: &dyn Clock,
    verify: &verification::Sender<'_>,
    req: NewUser,
) -> Result<UserView, OperatorError> {
    let user = operator::create_user(store, hasher, clock, req).await?;
    verify
        .send(store, clock.now(), &user.id, &user.email)
        .await?;
    Ok(UserView::from(&user))
}

/// A change of a user's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameChange {
    /// A new name.
    Set(String),
    /// No name.
    Clear,
}

/// What an update may change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserUpdate {
    /// A new e-mail address (no longer verified).
    pub email: Option<String>,
    /// A new name, or none.
    pub name: Option<NameChange>,
    /// Disable (ending the sessions and revoking every grant) or enable.
    pub disabled: Option<bool>,
    /// `true`: the operator vouches for the address (the current one, or
    /// the new `email`), so no link is sent; `false`: no longer verified.
    pub email_verified: Option<bool>,
}

/// The user after an update, and what changed (each change is one
/// `admin_change` action: `user_updated`, `user_disabled`, `user_enabled`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Updated {
    /// The user now.
    pub user: UserView,
    /// The actions taken, in order.
    pub actions: Vec<&'static str>,
    /// The operator marked the address verified (an `email_verified`
    /// event, `via` `operator`).
    pub marked_verified: bool,
    /// A verification link was sent to a new address.
    pub link_sent: bool,
}

/// Updates a user's e-mail address, name, verified flag and enabled state.
/// Everything is checked before anything is written; disabling and
/// enabling go through [`operator::set_disabled`] (sessions end, every grant
/// is revoked). A value equal to the current one changes nothing. A new
/// address is no longer verified (unless `email_verified` is `true` in the
/// same change) and gets a verification link ([`verification::Sender`]);
/// the links sent to the old one verify nothing any more (the store
/// verifies only the address a link was sent to, while it is current).
pub async fn update(
    store: &dyn Store,
    clock: &dyn Clock,
    verify: &verification::Sender<'_>,
    r: UserRef<'_>,
    change: UserUpdate,
) -> Result<Updated, OperatorError> {
    if change == UserUpdate::default() {
        return Err(OperatorError::Invalid(
            "nothing to change: give email, email_verified, name or disabled".into(),
        ));
    }
    if let Some(email) = &change.email {
        operator::check_email(email)?;
    }
    if let Some(NameChange::Set(name)) = &change.name {
        operator::check_name(name)?;
    }
    let user = find(store, r).await?;
    let mut actions = Vec::new();
    let email = change.email.unwrap_or_else(|| user.email.clone());
    let name = match change.name {
        None => user.name.clone(),
        Some(NameChange::Set(n)) => Some(n),
        Some(NameChange::Clear) => None,
    };
    let new_address = email != user.email;
    let email_verified = change
        .email_verified
        .unwrap_or(user.email_verified && !new_address);
    let marked_verified = email_verified && (new_address || !user.email_verified);
    if new_address || name != user.name || email_verified != user.email_verified {
        let profile = UserProfile {
            email_verified,
            email: email.clone(),
            name,
        };
        if !store
            .users()
            .update_user_profile(&user.id, &profile, clock.now())
            .await?
        {
            return Err(not_found(r));
        }
        actions.push("user_updated");
    }
    if let Some(disabled) = change.disabled.filter(|d| *d != user.disabled) {
        operator::set_disabled(store, clock, user.username.as_str(), disabled).await?;
        actions.push(if disabled {
            "user_disabled"
        } else {
            "user_enabled"
        });
    }
    if marked_verified {
        // Vouched for: the links still out there have nothing left to do.
        store
            .links()
            .expire_user_links(&user.id, LinkPurpose::VerifyEmail, clock.now())
            .await?;
    }
    let link_sent = new_address && !email_verified;
    if link_sent {
        verify.send(store, clock.now(), &user.id, &email).await?;
    }
    let now = find(store, UserRef::Id(user.id.as_str())).await?;
    Ok(Updated {
        user: UserView::from(&now),
        actions,
        marked_verified,
        link_sent,
    })
}

/// Sets a new password ([`operator::set_password`]: the same password rules;
/// the sessions end and every grant is revoked). Returns the user's id.
pub async fn set_password(
    store: &dyn Store,
    hasher: &dyn PasswordHasher,
    clock: &dyn Clock,
    r: UserRef<'_>,
    password: &str,
) -> Result<UserId, OperatorError> {
    let user = find(store, r).await?;
    operator::set_password(store, hasher, clock, user.username.as_str(), password).await?;
    Ok(user.id)
}

/// Lifts the sign-in locks of a user ([`operator::unlock_user`]); returns
/// the user's id and how many throttle entries were cleared.
pub async fn unlock(store: &dyn Store, r: UserRef<'_>) -> Result<(UserId, u64), OperatorError> {
    let user = find(store, r).await?;
    let cleared = operator::unlock_user(store, user.username.as_str()).await?;
    Ok((user.id, cleared))
}

/// Deletes a user (see the module documentation for what happens to their
/// sessions, grants, consents and events). Returns the deleted id.
pub async fn delete(
    store: &dyn Store,
    clock: &dyn Clock,
    r: UserRef<'_>,
) -> Result<UserId, OperatorError> {
    let user = find(store, r).await?;
    // Disabled first: no sign-in can start while the rest goes.
    operator::set_disabled(store, clock, user.username.as_str(), true).await?;
    store.consents().delete_user_consents(&user.id).await?;
    store
        .throttles()
        .unlock_account(&user.id, user.username.as_str())
        .await?;
    if !store.users().delete_user(&user.id).await? {
        return Err(not_found(r));
    }
    Ok(user.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_text_is_bounded_and_lowercased() {
        assert_eq!(search_text(None).unwrap(), None);
        assert_eq!(search_text(Some("")).unwrap(), None);
        assert_eq!(search_text(Some("BoB")).unwrap().as_deref(), Some("bob"));
        assert!(search_text(Some(&"a".repeat(MAX_QUERY_CHARS))).is_ok());
        assert!(search_text(Some(&"a".repeat(MAX_QUERY_CHARS + 1))).is_err());
        assert!(search_text(Some("a\nb")).is_err());
    }
}
