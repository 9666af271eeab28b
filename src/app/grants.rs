//! Grants and consents, as the CLI (`portcullis grant ...`, `consent
//! revoke`) and the admin API (`/admin/v1/grants`, `/admin/v1/consents`)
//! see them. Every revocation goes through the one grant-revocation
//! operation, [`grant::revoke`]: the grant's code, refresh tokens and
//! access tokens (at /userinfo and /introspect) all stop working.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::operator::OperatorError;
use crate::domain::{ClientId, Consent, Grant, UserId};
use crate::ports::repositories::OwnerFilter;
use crate::ports::{Clock, Store};
use crate::protocol::admin::{Page, PageRequest};
use crate::protocol::grant::{self, GrantSelector};

/// A grant as operators see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GrantView {
    /// The grant id (the `grant_id` of its tokens).
    pub grant_id: String,
    /// The client.
    pub client_id: String,
    /// The user.
    pub user_id: String,
    /// The granted scope, space-separated.
    pub scope: String,
    /// The login session it came from.
    pub session_id: Option<String>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it was revoked; `null` while it lives.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<&Grant> for GrantView {
    fn from(g: &Grant) -> Self {
        Self {
            grant_id: g.id.clone(),
            client_id: g.client_id.as_str().to_owned(),
            user_id: g.user_id.as_str().to_owned(),
            scope: g.scope.to_string(),
            session_id: g.session_id.clone(),
            created_at: g.created_at,
            revoked_at: g.revoked_at,
        }
    }
}

/// A live consent as operators see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsentView {
    /// The user.
    pub user_id: String,
    /// The client.
    pub client_id: String,
    /// The scopes consented to, space-separated.
    pub scope: String,
    /// When first given.
    pub created_at: DateTime<Utc>,
    /// When last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<&Consent> for ConsentView {
    fn from(c: &Consent) -> Self {
        Self {
            user_id: c.user_id.as_str().to_owned(),
            client_id: c.client_id.as_str().to_owned(),
            scope: c.scopes.to_string(),
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// Whose grants or consents a list covers: a user's, a client's or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The user.
    pub user: Option<UserId>,
    /// The client.
    pub client: Option<ClientId>,
}

impl Owner {
    /// Checks the filters of a list: at least one; a user id of 1 to 64
    /// printable characters, a well-formed client id.
    pub fn parse(user: Option<&str>, client: Option<&str>) -> Result<Self, OperatorError> {
        if user.is_none() && client.is_none() {
            return Err(OperatorError::Invalid(
                "give a user (user_id) or a client (client_id), or both".into(),
            ));
        }
        // A user id follows the same rule as a client id: 1 to 64
        // printable ASCII characters (ours are UUIDs).
        let user = user
            .map(|u| {
                ClientId::parse(u)
                    .map(|_| UserId::new(u))
                    .ok_or_else(|| OperatorError::Invalid(format!("{u:?} is not a user id")))
            })
            .transpose()?;
        let client = client
            .map(|c| {
                ClientId::parse(c)
                    .ok_or_else(|| OperatorError::Invalid(format!("{c:?} is not a client id")))
            })
            .transpose()?;
        Ok(Self { user, client })
    }

    fn filter(&self) -> OwnerFilter<'_> {
        OwnerFilter {
            user: self.user.as_ref(),
            client: self.client.as_ref(),
        }
    }
}

/// One page of the live grants of `owner`, ordered by id.
pub async fn list_grants(
    store: &dyn Store,
    owner: &Owner,
    page: &PageRequest,
) -> Result<Page<GrantView>, OperatorError> {
    let rows = store
        .grants()
        .list_live_grants(owner.filter(), page.after.as_deref(), page.fetch())
        .await?;
    let views = rows.iter().map(GrantView::from).collect();
    Ok(Page::of(views, page, |g: &GrantView| g.grant_id.clone()))
}

fn no_grant(id: &str) -> OperatorError {
    OperatorError::NotFound(format!("no grant {id}"))
}

/// A grant by id, revoked or not.
pub async fn show_grant(store: &dyn Store, id: &str) -> Result<GrantView, OperatorError> {
    if id.is_empty() || id.len() > 64 {
        return Err(no_grant(id));
    }
    let g = store
        .grants()
        .get_grant(id)
        .await?
        .ok_or_else(|| no_grant(id))?;
    Ok(GrantView::from(&g))
}

/// Revokes a grant and every token of it ([`grant::revoke`]). `NotFound`
/// for an unknown id; `Ok(false)` if it was revoked already (nothing
/// changed).
pub async fn revoke_grant(
    store: &dyn Store,
    clock: &dyn Clock,
    id: &str,
) -> Result<bool, OperatorError> {
    show_grant(store, id).await?;
    Ok(grant::revoke(store, GrantSelector::Id(id), clock.now()).await? > 0)
}

/// One page of the live consents of `owner`, ordered by the client id for
/// a user's consents, else by the user id.
pub async fn list_consents(
    store: &dyn Store,
    owner: &Owner,
    page: &PageRequest,
) -> Result<Page<ConsentView>, OperatorError> {
    let by_user = owner.user.is_some();
    let rows = store
        .consents()
        .list_live_consents(owner.filter(), page.after.as_deref(), page.fetch())
        .await?;
    let views = rows.iter().map(ConsentView::from).collect();
    Ok(Page::of(views, page, move |c: &ConsentView| {
        if by_user {
            c.client_id.clone()
        } else {
            c.user_id.clone()
        }
    }))
}

/// What revoking a consent did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsentRevoked {
    /// A live consent was revoked.
    pub consent: bool,
    /// How many live grants of the user to the client were revoked.
    pub grants: u64,
}

/// Revokes the consent of `user` for `client` and every grant of that user
/// to that client, offline ones included ([`grant::revoke`]), so the next
/// authorization asks again. `NotFound` when there was neither a live
/// consent nor a live grant (nothing changed).
pub async fn revoke_consent(
    store: &dyn Store,
    clock: &dyn Clock,
    user: &UserId,
    client: &str,
) -> Result<ConsentRevoked, OperatorError> {
    let nothing =
        || OperatorError::NotFound(format!("no consent of user {user} for client {client}"));
    let client = ClientId::parse(client).ok_or_else(nothing)?;
    let now = clock.now();
    let consent = store.consents().revoke_consent(user, &client, now).await?;
    let grants = grant::revoke(store, GrantSelector::UserClient(user, &client), now).await?;
    if !consent && grants == 0 {
        return Err(nothing());
    }
    Ok(ConsentRevoked { consent, grants })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_needs_a_well_formed_filter() {
        assert!(Owner::parse(None, None).is_err());
        assert!(Owner::parse(Some(""), None).is_err());
        assert!(Owner::parse(Some("a b"), None).is_err());
        assert!(Owner::parse(None, Some(&"c".repeat(65))).is_err());
        let o = Owner::parse(Some("u-1"), Some("c1")).unwrap();
        assert_eq!(o.user.unwrap().as_str(), "u-1");
        assert_eq!(o.client.unwrap().as_str(), "c1");
    }
}
