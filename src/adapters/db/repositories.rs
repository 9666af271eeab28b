//! The sea-orm implementation of every repository port.
//!
//! [`SeaRepos`] is generic over [`ConnectionTrait`], so the same code runs on
//! the pool ([`super::SeaStore`]) and inside a transaction
//! ([`super::SeaUnitOfWork`]).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait as _, Func, LikeExpr, OnConflict};
use sea_orm::{
    ActiveModelTrait as _, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr,
    EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, SqlErr,
};

use super::entity::{
    authorization_codes, clients, consents, grants, login_throttles, refresh_tokens,
    revoked_access_tokens, sessions, signing_keys, users,
};
use crate::domain::{
    AuthorizationCode, Client, ClientId, Consent, Grant, KeyState, RedirectUri, RefreshToken,
    RevokedAccessToken, ScopeSet, Session, SigningKeyRecord, TokenHash, User, UserId, Username,
};
use crate::ports::Reservation;
use crate::ports::repositories::{
    AuthorizationCodeRepository, ClientRepository, ConsentRepository, GrantRepository,
    GrantSelector, RefreshTokenRepository, Repositories, RevokedTokenRepository, SessionRepository,
    SigningKeyRepository, StoreError, ThrottlePolicy, ThrottleRepository, UserRepository,
};
use crate::ports::repositories::{HousekeepingRepository, PurgeTarget};
use crate::ports::repositories::{OwnerFilter, UserProfile};

/// Repositories over one sea-orm connection or transaction.
pub struct SeaRepos<C> {
    pub(super) conn: C,
}

impl<C> SeaRepos<C> {
    /// Wraps a connection or transaction.
    pub fn new(conn: C) -> Self {
        Self { conn }
    }
}

/// One keyset page of `query`, the one home of the admin and account
/// lists' paging: ordered by `key` (a unique text column), the rows whose
/// key comes after `after`, at most `limit`.
pub(super) fn keyset_page<E: EntityTrait>(
    query: sea_orm::Select<E>,
    key: E::Column,
    after: Option<&str>,
    limit: u64,
) -> sea_orm::Select<E> {
    let query = query.order_by_asc(key).limit(limit);
    match after {
        Some(after) => query.filter(key.gt(after)),
        None => query,
    }
}

/// Maps a sea-orm error onto the port's error (a unique violation becomes
/// `Conflict`; a connection failure `Unavailable`).
pub(super) fn map_err(err: DbErr) -> StoreError {
    if let Some(SqlErr::UniqueConstraintViolation(detail)) = err.sql_err() {
        return StoreError::Conflict(detail);
    }
    match err {
        DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => StoreError::Unavailable(err.to_string()),
        other => {
            let text = other.to_string();
            // sqlx reports I/O failures on an established pool as query errors.
            if text.contains("Io(") || text.contains("connection") || text.contains("PoolTimedOut")
            {
                StoreError::Unavailable(text)
            } else {
                StoreError::Internal(text)
            }
        }
    }
}

fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("stored {what} is unreadable: {detail}"))
}

fn to_json_list<T: AsRef<str>>(items: &[T]) -> String {
    let v: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    serde_json::Value::from(v).to_string()
}

fn from_json_list(what: &str, raw: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(raw).map_err(|e| corrupt(what, e))
}

fn scopes(what: &str, raw: &str) -> Result<ScopeSet, StoreError> {
    ScopeSet::parse(raw).map_err(|e| corrupt(what, e))
}

fn client_id(what: &str, raw: &str) -> Result<ClientId, StoreError> {
    ClientId::parse(raw).ok_or_else(|| corrupt(what, "client id"))
}

// ---- clients -------------------------------------------------------------

fn client_from(m: clients::Model) -> Result<Client, StoreError> {
    let grant_types = from_json_list("client grant types", &m.grant_types)?
        .iter()
        .map(|g| g.parse())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| corrupt("client grant types", e))?;
    Ok(Client {
        id: client_id("client", &m.id)?,
        name: m.name,
        secret_hash: m.secret_hash.map(TokenHash::from_stored),
        secret_rotated_at: m.secret_rotated_at,
        previous_secret_hash: m.previous_secret_hash.map(TokenHash::from_stored),
        previous_secret_expires_at: m.previous_secret_expires_at,
        auth_method: m
            .token_endpoint_auth_method
            .parse()
            .map_err(|e| corrupt("client auth method", e))?,
        redirect_uris: from_json_list("redirect uris", &m.redirect_uris)?
            .into_iter()
            .map(RedirectUri::from_stored)
            .collect(),
        post_logout_redirect_uris: from_json_list("logout uris", &m.post_logout_redirect_uris)?
            .into_iter()
            .map(RedirectUri::from_stored)
            .collect(),
        grant_types,
        scopes: scopes("client scopes", &m.scopes)?,
        first_party: m.first_party,
        require_pkce: m.require_pkce,
        require_mfa: m.require_mfa,
        resource_audience: m.resource_audience,
        id_token_signed_response_alg: m.id_token_signed_response_alg,
        jwks: m.jwks,
        jwks_uri: m.jwks_uri,
        access_token_ttl_secs: m.access_token_ttl_secs,
        id_token_ttl_secs: m.id_token_ttl_secs,
        refresh_token_ttl_secs: m.refresh_token_ttl_secs,
        backchannel_logout_uri: m.backchannel_logout_uri,
        backchannel_logout_session_required: m.backchannel_logout_session_required,
        allowed_resources: resources_from(m.allowed_resources.as_deref()),
        require_pushed_authorization_requests: m.require_pushed_authorization_requests,
        dpop_bound_access_tokens: m.dpop_bound_access_tokens,
        profile: m
            .profile
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|e| corrupt("client profile", e))?,
        request_uris: m
            .request_uris
            .as_deref()
            .map(|l| from_json_list("request uris", l))
            .transpose()?
            .unwrap_or_default(),
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

fn client_to(c: &Client) -> clients::ActiveModel {
    let grant_types: Vec<&str> = c.grant_types.iter().map(|g| g.as_str()).collect();
    clients::Model {
        id: c.id.as_str().to_owned(),
        name: c.name.clone(),
        secret_hash: c.secret_hash.as_ref().map(|h| h.as_str().to_owned()),
        secret_rotated_at: c.secret_rotated_at,
        previous_secret_hash: c
            .previous_secret_hash
            .as_ref()
            .map(|h| h.as_str().to_owned()),
        previous_secret_expires_at: c.previous_secret_expires_at,
        token_endpoint_auth_method: c.auth_method.as_str().to_owned(),
        redirect_uris: to_json_list(
            &c.redirect_uris
                .iter()
                .map(RedirectUri::as_str)
                .collect::<Vec<_>>(),
        ),
        post_logout_redirect_uris: to_json_list(
            &c.post_logout_redirect_uris
                .iter()
                .map(RedirectUri::as_str)
                .collect::<Vec<_>>(),
        ),
        grant_types: to_json_list(&grant_types),
        scopes: c.scopes.to_string(),
        first_party: c.first_party,
        require_pkce: c.require_pkce,
        require_mfa: c.require_mfa,
        resource_audience: c.resource_audience.clone(),
        id_token_signed_response_alg: c.id_token_signed_response_alg.clone(),
        jwks: c.jwks.clone(),
        jwks_uri: c.jwks_uri.clone(),
        access_token_ttl_secs: c.access_token_ttl_secs,
        id_token_ttl_secs: c.id_token_ttl_secs,
        refresh_token_ttl_secs: c.refresh_token_ttl_secs,
        backchannel_logout_uri: c.backchannel_logout_uri.clone(),
        backchannel_logout_session_required: c.backchannel_logout_session_required,
        allowed_resources: resources_to(&c.allowed_resources),
        require_pushed_authorization_requests: c.require_pushed_authorization_requests,
        dpop_bound_access_tokens: c.dpop_bound_access_tokens,
        profile: c.profile.map(|p| p.as_str().to_owned()),
        request_uris: (!c.request_uris.is_empty()).then(|| to_json_list(&c.request_uris)),
        created_at: c.created_at,
        updated_at: c.updated_at,
    }
    .into_active_model()
}

#[async_trait]
impl<C: ConnectionTrait + Send + Sync> ClientRepository for SeaRepos<C> {
    async fn insert_client(&self, client: &Client) -> Result<(), StoreError> {
        clients::Entity::insert(client_to(client))
            .exec_without_returning(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn get_client(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
        clients::Entity::find_by_id(id.as_str())
            .one(&self.conn)
            .await
            .map_err(map_err)?
            .map(client_from)
            .transpose()
    }

    async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        clients::Entity::find()
            .order_by_asc(clients::Column::Id)
            .all(&self.conn)
            .await
            .map_err(map_err)?
            .into_iter()
            .map(client_from)
            .collect()
    }

    async fn list_clients_page(
        &self,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<Client>, StoreError> {
        keyset_page(clients::Entity::find(), clients::Column::Id, after, limit)
            .all(&self.conn)
            .await
            .map_err(map_err)?
            .into_iter()
            .map(client_from)
            .collect()
    }

    async fn update_client(&self, client: &Client) -> Result<bool, StoreError> {
        let mut model = client_to(client).reset_all();
        // The creation time is not a setting; nor are the secrets of a
        // client that authenticates with one (rotation writes them, and an
        // update must not undo a rotation made meanwhile). A client that no
        // longer uses a secret has them cleared.
        model.not_set(clients::Column::Id);
        model.not_set(clients::Column::CreatedAt);
        if client.auth_method.uses_secret() {
            for col in [
                clients::Column::SecretHash,
                clients::Column::SecretRotatedAt,
                clients::Column::PreviousSecretHash,
                clients::Column::PreviousSecretExpiresAt,
            ] {
                model.not_set(col);
            }
        }
        let res = clients::Entity::update_many()
            .set(model)
            .filter(clients::Column::Id.eq(client.id.as_str()))
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn set_client_secret(
        &self,
        id: &ClientId,
        secret_hash: &TokenHash,
        previous_until: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        // SET reads the row as it was: the previous hash is the one being
        // replaced, in the same statement (no window between two writes).
        let previous = match previous_until {
            Some(_) => Expr::col(clients::Column::SecretHash),
            None => Expr::value(Option::<String>::None),
        };
        let res = clients::Entity::update_many()
            .col_expr(clients::Column::PreviousSecretHash, previous)
            .col_expr(
                clients::Column::PreviousSecretExpiresAt,
                Expr::value(previous_until),
            )
            .col_expr(
                clients::Column::SecretHash,
                Expr::value(secret_hash.as_str()),
            )
            .col_expr(clients::Column::SecretRotatedAt, Expr::value(now))
            .col_expr(clients::Column::UpdatedAt, Expr::value(now))
            .filter(clients::Column::Id.eq(id.as_str()))
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn set_client_resource_audience(
        &self,
        id: &ClientId,
        audience: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let res = clients::Entity::update_many()
            .col_expr(
                clients::Column::ResourceAudience,
                Expr::value(audience.map(str::to_owned)),
            )
            .col_expr(clients::Column::UpdatedAt, Expr::value(now))
            .filter(clients::Column::Id.eq(id.as_str()))
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn delete_client(&self, id: &ClientId) -> Result<bool, StoreError> {
        let res = clients::Entity::delete_by_id(id.as_str())
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected == 1)
    }
}

// ---- users ---------------------------------------------------------------

fn user_from(m: users::Model) -> User {
    User {
        id: UserId::new(m.id),
        username: Username::from_stored(m.username),
        email: m.email,
        email_verified: m.email_verified,
        name: m.name,
        password_hash: m.password_hash,
        disabled: m.disabled,
        created_at: m.created_at,
        updated_at: m.updated_at,
    }
}

#[async_trait]
impl<C: ConnectionTrait + Send + Sync> UserRepository for SeaRepos<C> {
    async fn insert_user(&self, user: &User) -> Result<(), StoreError> {
        let model = users::Model {
            id: user.id.as_str().to_owned(),
            username: user.username.as_str().to_owned(),
            email: user.email.clone(),
            email_verified: user.email_verified,
            name: user.name.clone(),
            password_hash: user.password_hash.clone(),
            disabled: user.disabled,
            created_at: user.created_at,
            updated_at: user.updated_at,
        };
        users::Entity::insert(model.into_active_model())
            .exec_without_returning(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn user_by_username(&self, username: &Username) -> Result<Option<User>, StoreError> {
        Ok(users::Entity::find()
            .filter(users::Column::Username.eq(username.as_str()))
            .one(&self.conn)
            .await
            .map_err(map_err)?
            .map(user_from))
    }

    async fn user_by_id(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        Ok(users::Entity::find_by_id(id.as_str())
            .one(&self.conn)
            .await
            .map_err(map_err)?
            .map(user_from))
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        Ok(users::Entity::find()
            .order_by_asc(users::Column::Username)
            .all(&self.conn)
            .await
            .map_err(map_err)?
            .into_iter()
            .map(user_from)
            .collect())
    }

    async fn set_user_disabled(
        &self,
        username: &Username,
        disabled: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let res = users::Entity::update_many()
            .col_expr(users::Column::Disabled, Expr::value(disabled))
            .col_expr(users::Column::UpdatedAt, Expr::value(now))
            .filter(users::Column::Username.eq(username.as_str()))
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn set_user_password(
        &self,
        username: &Username,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let res = users::Entity::update_many()
            .col_expr(users::Column::PasswordHash, Expr::value(password_hash))
            .col_expr(users::Column::UpdatedAt, Expr::value(now))
            .filter(users::Column::Username.eq(username.as_str()))
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn list_users_page(
        &self,
        search: Option<&str>,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<User>, StoreError> {
        let mut q = keyset_page(users::Entity::find(), users::Column::Id, after, limit);
        if let Some(text) = search {
            let pattern = format!("%{}%", escape_like(text));
            let contains = |col: users::Column| {
                Expr::expr(Func::lower(Expr::col(col)))
                    .like(LikeExpr::new(pattern.clone()).escape('\\'))
            };
            q = q.filter(
                Condition::any()
                    .add(contains(users::Column::Username))
                    .add(contains(users::Column::Email)),
            );
        }
        Ok(q.all(&self.conn)
            .await
            .map_err(map_err)?
            .into_iter()
            .map(user_from)
            .collect())
    }

    async fn update_user_profile(
        &self,
        id: &UserId,
        profile: &UserProfile,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let res = users::Entity::update_many()
            .col_expr(users::Column::Email, Expr::value(profile.email.clone()))
            .col_expr(
                users::Column::EmailVerified,
                Expr::value(profile.email_verified),
            )
            .col_expr(users::Column::Name, Expr::value(profile.name.clone()))
            .col_expr(users::Column::UpdatedAt, Expr::value(now))
            .filter(users::Column::Id.eq(id.as_str()))
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn delete_user(&self, id: &UserId) -> Result<bool, StoreError> {
        let res = users::Entity::delete_by_id(id.as_str())
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn users_by_email(&self, email: &str) -> Result<Vec<User>, StoreError> {
        Ok(users::Entity::find()
            .filter(
                Expr::expr(Func::lower(Expr::col(users::Column::Email)))
                    .eq(email.to_ascii_lowercase()),
            )
            .order_by_asc(users::Column::Id)
            .limit(10)
            .all(&self.conn)
            .await
            .map_err(map_err)?
            .into_iter()
            .map(user_from)
            .collect())
    }

    async fn set_email_verified(
        &self,
        id: &UserId,
        email: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let res = users::Entity::update_many()
            .col_expr(users::Column::EmailVerified, Expr::value(true))
            .col_expr(users::Column::UpdatedAt, Expr::value(now))
            .filter(users::Column::Id.eq(id.as_str()))
            .filter(users::Column::Email.eq(email))
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected == 1)
    }
}

/// `text` as a LIKE pattern that matches it literally (escape `\`).
fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

// ---- grants --------------------------------------------------------------

fn grant_from(m: grants::Model) -> Result<Grant, StoreError> {
    Ok(Grant {
        id: m.id,
        client_id: client_id("grant", &m.client_id)?,
        user_id: UserId::new(m.user_id),
        scope: scopes("grant scope", &m.scope)?,
        session_id: m.session_id,
        created_at: m.created_at,
        revoked_at: m.revoked_at,
    })
}

#[async_trait]
impl<C: ConnectionTrait + Send + Sync> GrantRepository for SeaRepos<C> {
    async fn insert_grant(&self, grant: &Grant) -> Result<(), StoreError> {
        let model = grants::Model {
            id: grant.id.clone(),
            client_id: grant.client_id.as_str().to_owned(),
            user_id: grant.user_id.as_str().to_owned(),
            scope: grant.scope.to_string(),
            session_id: grant.session_id.clone(),
            created_at: grant.created_at,
            revoked_at: grant.revoked_at,
        };
        grants::Entity::insert(model.into_active_model())
            .exec_without_returning(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn session_has_grants_since(
        &self,
        session_id: &str,
        since: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let found = grants::Entity::find()
            .filter(grants::Column::SessionId.eq(session_id))
            .filter(grants::Column::CreatedAt.gte(since))
            .one(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(found.is_some())
    }

    async fn get_grant(&self, id: &str) -> Result<Option<Grant>, StoreError> {
        grants::Entity::find_by_id(id)
            .one(&self.conn)
            .await
            .map_err(map_err)?
            .map(grant_from)
            .transpose()
    }

    async fn revoke_grant(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let res = grants::Entity::update_many()
            .col_expr(grants::Column::RevokedAt, Expr::value(now))
            .filter(grants::Column::Id.eq(id))
            .filter(grants::Column::RevokedAt.is_null())
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn revoke_grants(
        &self,
        which: GrantSelector<'_>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let update = grants::Entity::update_many()
            .col_expr(grants::Column::RevokedAt, Expr::value(now))
            .filter(grants::Column::RevokedAt.is_null());
        let update = match which {
            GrantSelector::Id(id) => update.filter(grants::Column::Id.eq(id)),
            GrantSelector::User(user) => update.filter(grants::Column::UserId.eq(user.as_str())),
            // Scopes are stored space-separated: pad them so that a whole
            // scope matches, not a part of a longer one.
            GrantSelector::SessionOnline(sid) => update
                .filter(grants::Column::SessionId.eq(sid))
                .filter(Expr::cust("(' ' || scope || ' ')").not_like("% offline_access %")),
            GrantSelector::UserClient(user, client) => update
                .filter(grants::Column::UserId.eq(user.as_str()))
                .filter(grants::Column::ClientId.eq(client.as_str())),
            GrantSelector::Client(client) => {
                update.filter(grants::Column::ClientId.eq(client.as_str()))
            }
        };
        let res = update.exec(&self.conn).await.map_err(map_err)?;
        Ok(res.rows_affected)
    }

    async fn list_live_grants(
        &self,
        owner: OwnerFilter<'_>,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<Grant>, StoreError> {
        let mut q = keyset_page(
            grants::Entity::find().filter(grants::Column::RevokedAt.is_null()),
            grants::Column::Id,
            after,
            limit,
        );
        if let Some(user) = owner.user {
            q = q.filter(grants::Column::UserId.eq(user.as_str()));
        }
        if let Some(client) = owner.client {
            q = q.filter(grants::Column::ClientId.eq(client.as_str()));
        }
        q.all(&self.conn)
            .await
            .map_err(map_err)?
            .into_iter()
            .map(grant_from)
            .collect()
    }

    async fn last_use_by_client(
        &self,
        user: &UserId,
    ) -> Result<Vec<(ClientId, DateTime<Utc>)>, StoreError> {
        let live: Vec<(String, String, DateTime<Utc>)> = grants::Entity::find()
            .select_only()
            .column(grants::Column::Id)
            .column(grants::Column::ClientId)
            .column(grants::Column::CreatedAt)
            .filter(grants::Column::UserId.eq(user.as_str()))
            .filter(grants::Column::RevokedAt.is_null())
            .into_tuple()
            .all(&self.conn)
            .await
            .map_err(map_err)?;
        let refreshed: Vec<(String, DateTime<Utc>)> = refresh_tokens::Entity::find()
            .select_only()
            .column(refresh_tokens::Column::ClientId)
            .column_as(refresh_tokens::Column::CreatedAt.max(), "last")
            .filter(refresh_tokens::Column::UserId.eq(user.as_str()))
            .filter(refresh_tokens::Column::RevokedAt.is_null())
            .group_by(refresh_tokens::Column::ClientId)
            .into_tuple()
            .all(&self.conn)
            .await
            .map_err(map_err)?;
        let mut last: std::collections::BTreeMap<String, DateTime<Utc>> =
            std::collections::BTreeMap::new();
        for (_, client, at) in live {
            let e = last.entry(client).or_insert(at);
            *e = std::cmp::max(*e, at);
        }
        for (client, at) in refreshed {
            // Only clients that still hold a live grant are in use.
            if let Some(e) = last.get_mut(&client) {
                *e = std::cmp::max(*e, at);
            }
        }
        last.into_iter()
            .map(|(c, at)| Ok((client_id("grant", &c)?, at)))
            .collect()
    }
}

/// A space-separated list of resource indicators (absolute URIs have no
/// spaces), `NULL` when empty.
fn resources_from(stored: Option<&str>) -> Vec<String> {
    stored
        .unwrap_or_default()
        .split(' ')
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect()
}

fn resources_to(list: &[String]) -> Option<String> {
    (!list.is_empty()).then(|| list.join(" "))
}

// ---- authorization codes -------------------------------------------------

fn code_from(m: authorization_codes::Model) -> Result<AuthorizationCode, StoreError> {
    Ok(AuthorizationCode {
        code_hash: TokenHash::from_stored(m.code_hash),
        grant_id: m.grant_id,
        client_id: client_id("code", &m.client_id)?,
        user_id: UserId::new(m.user_id),
        redirect_uri: m.redirect_uri,
        scope: scopes("code scope", &m.scope)?,
        nonce: m.nonce,
        code_challenge: m.code_challenge,
        code_challenge_method: m.code_challenge_method,
        session_id: m.session_id,
        auth_time: m.auth_time,
        amr: m.amr,
        acr: m.acr,
        resources: resources_from(m.resources.as_deref()),
        claims: m.claims,
        dpop_jkt: m.dpop_jkt,
        created_at: m.created_at,
        expires_at: m.expires_at,
        consumed_at: m.consumed_at,
    })
}

#[async_trait]
impl<C: ConnectionTrait + Send + Sync> AuthorizationCodeRepository for SeaRepos<C> {
    async fn insert_code(&self, code: &AuthorizationCode) -> Result<(), StoreError> {
        let model = authorization_codes::Model {
            code_hash: code.code_hash.as_str().to_owned(),
            grant_id: code.grant_id.clone(),
            client_id: code.client_id.as_str().to_owned(),
            user_id: code.user_id.as_str().to_owned(),
            redirect_uri: code.redirect_uri.clone(),
            scope: code.scope.to_string(),
            nonce: code.nonce.clone(),
            code_challenge: code.code_challenge.clone(),
            code_challenge_method: code.code_challenge_method.clone(),
            session_id: code.session_id.clone(),
            auth_time: code.auth_time,
            amr: code.amr.clone(),
            claims: code.claims.clone(),
            created_at: code.created_at,
            expires_at: code.expires_at,
            consumed_at: code.consumed_at,
            acr: code.acr.clone(),
            resources: resources_to(&code.resources),
            dpop_jkt: code.dpop_jkt.clone(),
        };
        authorization_codes::Entity::insert(model.into_active_model())
            .exec_without_returning(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn get_code(&self, hash: &TokenHash) -> Result<Option<AuthorizationCode>, StoreError> {
        authorization_codes::Entity::find_by_id(hash.as_str())
            .one(&self.conn)
            .await
            .map_err(map_err)?
            .map(code_from)
            .transpose()
    }

    async fn consume_code(&self, hash: &TokenHash, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let res = authorization_codes::Entity::update_many()
            .col_expr(authorization_codes::Column::ConsumedAt, Expr::value(now))
            .filter(authorization_codes::Column::CodeHash.eq(hash.as_str()))
            .filter(authorization_codes::Column::ConsumedAt.is_null())
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn purge_expired_codes(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let res = authorization_codes::Entity::delete_many()
            .filter(authorization_codes::Column::ExpiresAt.lt(before))
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected)
    }
}

// ---- refresh tokens ------------------------------------------------------

fn refresh_from(m: refresh_tokens::Model) -> Result<RefreshToken, StoreError> {
    Ok(RefreshToken {
        token_hash: TokenHash::from_stored(m.token_hash),
        family_id: m.family_id,
        client_id: client_id("refresh token", &m.client_id)?,
        user_id: UserId::new(m.user_id),
        scope: scopes("refresh token scope", &m.scope)?,
        session_id: m.session_id,
        auth_time: m.auth_time,
        acr: m.acr,
        resources: resources_from(m.resources.as_deref()),
        successor: m.successor,
        dpop_jkt: m.dpop_jkt,
        created_at: m.created_at,
        expires_at: m.expires_at,
        rotated_at: m.rotated_at,
        revoked_at: m.revoked_at,
    })
}

#[async_trait]
impl<C: ConnectionTrait + Send + Sync> RefreshTokenRepository for SeaRepos<C> {
    async fn insert_refresh_token(&self, t: &RefreshToken) -> Result<(), StoreError> {
        let model = refresh_tokens::Model {
            token_hash: t.token_hash.as_str().to_owned(),
            family_id: t.family_id.clone(),
            client_id: t.client_id.as_str().to_owned(),
            user_id: t.user_id.as_str().to_owned(),
            scope: t.scope.to_string(),
            session_id: t.session_id.clone(),
            auth_time: t.auth_time,
            created_at: t.created_at,
            expires_at: t.expires_at,
            rotated_at: t.rotated_at,
            revoked_at: t.revoked_at,
            acr: t.acr.clone(),
            resources: resources_to(&t.resources),
            successor: t.successor.clone(),
            dpop_jkt: t.dpop_jkt.clone(),
        };
        refresh_tokens::Entity::insert(model.into_active_model())
            .exec_without_returning(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn get_refresh_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<RefreshToken>, StoreError> {
        refresh_tokens::Entity::find_by_id(hash.as_str())
            .one(&self.conn)
            .await
            .map_err(map_err)?
            .map(refresh_from)
            .transpose()
    }

    async fn rotate_refresh_token(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
        successor: Option<&str>,
    ) -> Result<bool, StoreError> {
        let res = refresh_tokens::Entity::update_many()
            .col_expr(refresh_tokens::Column::RotatedAt, Expr::value(now))
            .col_expr(
                refresh_tokens::Column::Successor,
                Expr::value(successor.map(str::to_owned)),
            )
            .filter(refresh_tokens::Column::TokenHash.eq(hash.as_str()))
            .filter(refresh_tokens::Column::RotatedAt.is_null())
            .filter(refresh_tokens::Column::RevokedAt.is_null())
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn revoke_refresh_family(
        &self,
        family_id: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let res = refresh_tokens::Entity::update_many()
            .col_expr(refresh_tokens::Column::RevokedAt, Expr::value(now))
            .filter(refresh_tokens::Column::FamilyId.eq(family_id))
            .filter(refresh_tokens::Column::RevokedAt.is_null())
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected)
    }
}

// ---- sessions ------------------------------------------------------------

fn session_from(m: sessions::Model) -> Session {
    Session {
        id: m.id,
        id_hash: TokenHash::from_stored(m.id_hash),
        user_id: m.user_id.map(UserId::new),
        auth_time: m.auth_time,
        amr: m.amr,
        acr: m.acr,
        second_factor_due: m.second_factor_due,
        created_at: m.created_at,
        last_seen_at: m.last_seen_at,
        expires_at: m.expires_at,
        ended_at: m.ended_at,
        ip: m.ip,
        user_agent: m.user_agent,
    }
}

#[async_trait]
impl<C: ConnectionTrait + Send + Sync> SessionRepository for SeaRepos<C> {
    async fn insert_session(&self, s: &Session) -> Result<(), StoreError> {
        let model = sessions::Model {
            id: s.id.clone(),
            id_hash: s.id_hash.as_str().to_owned(),
            user_id: s.user_id.as_ref().map(|u| u.as_str().to_owned()),
            auth_time: s.auth_time,
            amr: s.amr.clone(),
            acr: s.acr.clone(),
            second_factor_due: s.second_factor_due,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            expires_at: s.expires_at,
            ended_at: s.ended_at,
            ip: s.ip.clone(),
            user_agent: s.user_agent.clone(),
        };
        sessions::Entity::insert(model.into_active_model())
            .exec_without_returning(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn renew_session(&self, old_hash: &TokenHash, s: &Session) -> Result<bool, StoreError> {
        let res = sessions::Entity::update_many()
            .col_expr(sessions::Column::IdHash, Expr::value(s.id_hash.as_str()))
            .col_expr(sessions::Column::AuthTime, Expr::value(s.auth_time))
            .col_expr(sessions::Column::Amr, Expr::value(s.amr.clone()))
            .col_expr(sessions::Column::Acr, Expr::value(s.acr.clone()))
            .col_expr(
                sessions::Column::SecondFactorDue,
                Expr::value(s.second_factor_due),
            )
            .col_expr(sessions::Column::CreatedAt, Expr::value(s.created_at))
            .col_expr(sessions::Column::LastSeenAt, Expr::value(s.last_seen_at))
            .col_expr(sessions::Column::ExpiresAt, Expr::value(s.expires_at))
            .col_expr(sessions::Column::Ip, Expr::value(s.ip.clone()))
            .col_expr(
                sessions::Column::UserAgent,
                Expr::value(s.user_agent.clone()),
            )
            .filter(sessions::Column::Id.eq(s.id.as_str()))
            .filter(sessions::Column::IdHash.eq(old_hash.as_str()))
            .filter(sessions::Column::EndedAt.is_null())
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn session_by_hash(&self, hash: &TokenHash) -> Result<Option<Session>, StoreError> {
        Ok(sessions::Entity::find()
            .filter(sessions::Column::IdHash.eq(hash.as_str()))
            .one(&self.conn)
            .await
            .map_err(map_err)?
            .map(session_from))
    }

    async fn session_by_id(&self, id: &str) -> Result<Option<Session>, StoreError> {
        Ok(sessions::Entity::find_by_id(id)
            .one(&self.conn)
            .await
            .map_err(map_err)?
            .map(session_from))
    }

    async fn touch_session(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let res = sessions::Entity::update_many()
            .col_expr(sessions::Column::LastSeenAt, Expr::value(now))
            .filter(sessions::Column::Id.eq(id))
            .filter(sessions::Column::EndedAt.is_null())
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn end_session(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let res = sessions::Entity::update_many()
            .col_expr(sessions::Column::EndedAt, Expr::value(now))
            .filter(sessions::Column::Id.eq(id))
            .filter(sessions::Column::EndedAt.is_null())
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn end_user_sessions(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let res = sessions::Entity::update_many()
            .col_expr(sessions::Column::EndedAt, Expr::value(now))
            .filter(sessions::Column::UserId.eq(user.as_str()))
            .filter(sessions::Column::EndedAt.is_null())
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected)
    }

    async fn end_other_sessions(
        &self,
        user: &UserId,
        keep: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let res = sessions::Entity::update_many()
            .col_expr(sessions::Column::EndedAt, Expr::value(now))
            .filter(sessions::Column::UserId.eq(user.as_str()))
            .filter(sessions::Column::Id.ne(keep))
            .filter(sessions::Column::EndedAt.is_null())
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected)
    }

    async fn list_live_sessions(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
        idle_since: DateTime<Utc>,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<Session>, StoreError> {
        let live = sessions::Entity::find()
            .filter(sessions::Column::UserId.eq(user.as_str()))
            // A pending sign-in (second factor due) is not live
            // (`Session::is_live`).
            .filter(sessions::Column::SecondFactorDue.eq(false))
            .filter(sessions::Column::EndedAt.is_null())
            .filter(sessions::Column::ExpiresAt.gt(now))
            .filter(sessions::Column::LastSeenAt.gt(idle_since));
        Ok(keyset_page(live, sessions::Column::Id, after, limit)
            .all(&self.conn)
            .await
            .map_err(map_err)?
            .into_iter()
            .map(session_from)
            .collect())
    }
}

// ---- consents ------------------------------------------------------------

#[async_trait]
impl<C: ConnectionTrait + Send + Sync> ConsentRepository for SeaRepos<C> {
    async fn upsert_consent(&self, c: &Consent) -> Result<(), StoreError> {
        let model = consents::ActiveModel {
            user_id: Set(c.user_id.as_str().to_owned()),
            client_id: Set(c.client_id.as_str().to_owned()),
            scopes: Set(c.scopes.to_string()),
            created_at: Set(c.created_at),
            updated_at: Set(c.updated_at),
            revoked_at: Set(c.revoked_at),
        };
        consents::Entity::insert(model)
            .on_conflict(
                OnConflict::columns([consents::Column::UserId, consents::Column::ClientId])
                    .update_columns([
                        consents::Column::Scopes,
                        consents::Column::UpdatedAt,
                        consents::Column::RevokedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn get_consent(
        &self,
        user: &UserId,
        client: &ClientId,
    ) -> Result<Option<Consent>, StoreError> {
        let row =
            consents::Entity::find_by_id((user.as_str().to_owned(), client.as_str().to_owned()))
                .filter(consents::Column::RevokedAt.is_null())
                .one(&self.conn)
                .await
                .map_err(map_err)?;
        row.map(consent_from).transpose()
    }

    async fn revoke_consent(
        &self,
        user: &UserId,
        client: &ClientId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let res = consents::Entity::update_many()
            .col_expr(consents::Column::RevokedAt, Expr::value(now))
            .col_expr(consents::Column::UpdatedAt, Expr::value(now))
            .filter(consents::Column::UserId.eq(user.as_str()))
            .filter(consents::Column::ClientId.eq(client.as_str()))
            .filter(consents::Column::RevokedAt.is_null())
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn list_live_consents(
        &self,
        owner: OwnerFilter<'_>,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<Consent>, StoreError> {
        // The key is the column the filter leaves open.
        let key = if owner.user.is_some() {
            consents::Column::ClientId
        } else {
            consents::Column::UserId
        };
        let mut q = keyset_page(
            consents::Entity::find().filter(consents::Column::RevokedAt.is_null()),
            key,
            after,
            limit,
        );
        if let Some(user) = owner.user {
            q = q.filter(consents::Column::UserId.eq(user.as_str()));
        }
        if let Some(client) = owner.client {
            q = q.filter(consents::Column::ClientId.eq(client.as_str()));
        }
        q.all(&self.conn)
            .await
            .map_err(map_err)?
            .into_iter()
            .map(consent_from)
            .collect()
    }

    async fn delete_user_consents(&self, user: &UserId) -> Result<u64, StoreError> {
        let res = consents::Entity::delete_many()
            .filter(consents::Column::UserId.eq(user.as_str()))
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected)
    }
}

fn consent_from(m: consents::Model) -> Result<Consent, StoreError> {
    Ok(Consent {
        user_id: UserId::new(m.user_id),
        client_id: client_id("consent", &m.client_id)?,
        scopes: scopes("consent scopes", &m.scopes)?,
        created_at: m.created_at,
        updated_at: m.updated_at,
        revoked_at: m.revoked_at,
    })
}

// ---- signing keys --------------------------------------------------------

fn key_from(m: signing_keys::Model) -> Result<SigningKeyRecord, StoreError> {
    Ok(SigningKeyRecord {
        state: m
            .state
            .parse()
            .map_err(|e| corrupt("signing key state", e))?,
        kid: m.kid,
        alg: m.alg,
        backend: m.backend,
        public_jwk: m.public_jwk,
        private_key_sealed: m.private_key_sealed,
        kms_key_id: m.kms_key_id,
        created_at: m.created_at,
        activates_at: m.activates_at,
        retired_at: m.retired_at,
        expires_at: m.expires_at,
        revoked_at: m.revoked_at,
    })
}

#[async_trait]
impl<C: ConnectionTrait + Send + Sync> SigningKeyRepository for SeaRepos<C> {
    async fn insert_signing_key(&self, k: &SigningKeyRecord) -> Result<(), StoreError> {
        let model = signing_keys::Model {
            kid: k.kid.clone(),
            alg: k.alg.clone(),
            state: k.state.as_str().to_owned(),
            backend: k.backend.clone(),
            public_jwk: k.public_jwk.clone(),
            private_key_sealed: k.private_key_sealed.clone(),
            kms_key_id: k.kms_key_id.clone(),
            created_at: k.created_at,
            activates_at: k.activates_at,
            retired_at: k.retired_at,
            expires_at: k.expires_at,
            revoked_at: k.revoked_at,
        };
        signing_keys::Entity::insert(model.into_active_model())
            .exec_without_returning(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn list_signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        signing_keys::Entity::find()
            .order_by_asc(signing_keys::Column::CreatedAt)
            .order_by_asc(signing_keys::Column::Kid)
            .all(&self.conn)
            .await
            .map_err(map_err)?
            .into_iter()
            .map(key_from)
            .collect()
    }

    async fn transition_signing_key(
        &self,
        kid: &str,
        from: KeyState,
        to: KeyState,
        retired_at: Option<DateTime<Utc>>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError> {
        let mut q = signing_keys::Entity::update_many()
            .col_expr(signing_keys::Column::State, Expr::value(to.as_str()));
        if let Some(at) = retired_at {
            q = q.col_expr(signing_keys::Column::RetiredAt, Expr::value(at));
        }
        if let Some(at) = expires_at {
            q = q.col_expr(signing_keys::Column::ExpiresAt, Expr::value(at));
        }
        let res = q
            .filter(signing_keys::Column::Kid.eq(kid))
            .filter(signing_keys::Column::State.eq(from.as_str()))
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn activate_next_signing_key(
        &self,
        kid: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let res = signing_keys::Entity::update_many()
            .col_expr(
                signing_keys::Column::State,
                Expr::value(KeyState::Active.as_str()),
            )
            .col_expr(signing_keys::Column::ActivatesAt, Expr::value(now))
            .filter(signing_keys::Column::Kid.eq(kid))
            .filter(signing_keys::Column::State.eq(KeyState::Next.as_str()))
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn revoke_signing_key(&self, kid: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let res = signing_keys::Entity::update_many()
            .col_expr(
                signing_keys::Column::State,
                Expr::value(KeyState::Revoked.as_str()),
            )
            .col_expr(signing_keys::Column::RevokedAt, Expr::value(now))
            .col_expr(
                signing_keys::Column::ExpiresAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(signing_keys::Column::Kid.eq(kid))
            .filter(signing_keys::Column::State.ne(KeyState::Revoked.as_str()))
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn purge_expired_signing_keys(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let res = signing_keys::Entity::delete_many()
            .filter(signing_keys::Column::ExpiresAt.lt(before))
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected)
    }
}

// ---- revoked access tokens -----------------------------------------------

#[async_trait]
impl<C: ConnectionTrait + Send + Sync> RevokedTokenRepository for SeaRepos<C> {
    async fn insert_revoked_token(&self, t: &RevokedAccessToken) -> Result<(), StoreError> {
        let model = revoked_access_tokens::ActiveModel {
            jti: Set(t.jti.clone()),
            client_id: Set(t.client_id.as_str().to_owned()),
            revoked_at: Set(t.revoked_at),
            expires_at: Set(t.expires_at),
        };
        revoked_access_tokens::Entity::insert(model)
            .on_conflict(
                OnConflict::column(revoked_access_tokens::Column::Jti)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn insert_revoked_token_once(&self, t: &RevokedAccessToken) -> Result<bool, StoreError> {
        let model = revoked_access_tokens::ActiveModel {
            jti: Set(t.jti.clone()),
            client_id: Set(t.client_id.as_str().to_owned()),
            revoked_at: Set(t.revoked_at),
            expires_at: Set(t.expires_at),
        };
        // One statement decides: the row count says who inserted it. Both
        // SQLite and PostgreSQL make a concurrent insert of the same key wait
        // for the first and then do nothing.
        let res = revoked_access_tokens::Entity::insert(model)
            .on_conflict(
                OnConflict::column(revoked_access_tokens::Column::Jti)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&self.conn)
            .await;
        match res {
            Ok(rows) => Ok(rows == 1),
            Err(sea_orm::DbErr::RecordNotInserted) => Ok(false),
            Err(e) => Err(map_err(e)),
        }
    }

    async fn is_token_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        Ok(revoked_access_tokens::Entity::find_by_id(jti)
            .one(&self.conn)
            .await
            .map_err(map_err)?
            .is_some())
    }

    async fn purge_revoked_tokens(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let res = revoked_access_tokens::Entity::delete_many()
            .filter(revoked_access_tokens::Column::ExpiresAt.lt(before))
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected)
    }
}

// ---- login throttles -----------------------------------------------------

#[async_trait]
impl<C: ConnectionTrait + Send + Sync> ThrottleRepository for SeaRepos<C> {
    async fn reserve_attempts(
        &self,
        keys: &[(&str, ThrottlePolicy)],
        now: DateTime<Utc>,
    ) -> Result<Vec<Reservation>, StoreError> {
        use login_throttles::Column as T;
        let Some((_, first)) = keys.first() else {
            return Ok(Vec::new());
        };
        if keys.iter().any(|(_, p)| p.window != first.window) {
            // One statement per window (the sign-in keys share one).
            let mut out = Vec::with_capacity(keys.len());
            for key in keys {
                out.extend(Box::pin(self.reserve_attempts(&[*key], now)).await?);
            }
            return Ok(out);
        }
        let col = |c: T| Expr::col((login_throttles::Entity, c));
        // One statement on both databases: INSERT ... ON CONFLICT (key) DO
        // UPDATE ... RETURNING. The SET expressions read the row as it was,
        // so concurrent attempts each get their own count. While a key is
        // locked nothing is counted on it; a window that is over starts again.
        let locked = col(T::LockedUntil).gt(now);
        let stale = col(T::WindowStartedAt).lte(now - first.window);
        let failures = Expr::case(locked.clone(), col(T::Failures))
            .case(stale.clone(), 1)
            .finally(col(T::Failures).add(1));
        let window = Expr::case(locked, col(T::WindowStartedAt))
            .case(stale, now)
            .finally(col(T::WindowStartedAt));
        let rows = login_throttles::Entity::insert_many(keys.iter().map(|(key, _)| {
            login_throttles::Model {
                key: (*key).to_owned(),
                failures: 1,
                window_started_at: now,
                locked_until: None,
            }
            .into_active_model()
        }))
        .on_conflict(
            OnConflict::column(T::Key)
                .value(T::Failures, failures)
                .value(T::WindowStartedAt, window)
                .to_owned(),
        )
        .exec_with_returning(&self.conn)
        .await
        .map_err(map_err)?;
        let mut out = Vec::with_capacity(keys.len());
        for (key, policy) in keys {
            let row = rows
                .iter()
                .find(|r| r.key == *key)
                .ok_or_else(|| StoreError::Internal(format!("no throttle row for {key}")))?;
            out.push(self.settle(row, now, *policy).await?);
        }
        Ok(out)
    }

    async fn release_attempts(&self, keys: &[&str]) -> Result<(), StoreError> {
        use login_throttles::Column as T;
        if keys.is_empty() {
            return Ok(());
        }
        login_throttles::Entity::update_many()
            .col_expr(T::Failures, Expr::col(T::Failures).sub(1))
            .filter(T::Key.is_in(keys.iter().copied()))
            .filter(T::Failures.gt(0))
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn unlock_account(&self, user: &UserId, username: &str) -> Result<u64, StoreError> {
        use login_throttles::Column as T;
        use sea_orm::sea_query::Func;
        // The account's own key, and every `ip:<address>|user:<name>` key:
        // an address never holds `|`, so the pair keys of this account are
        // the `ip:` keys that end with `|user:<name>`. Compared with substr
        // rather than LIKE (whose wildcards a username may hold, and which
        // ignores case on SQLite); substr and length count characters on
        // both databases.
        let own = format!("user:{username}");
        let suffix = format!("|{own}");
        // (i32: PostgreSQL has substr(text, integer), not bigint.)
        let n = i32::try_from(suffix.chars().count()).unwrap_or(i32::MAX);
        let key_len = Expr::expr(Func::cust("length").arg(Expr::col(T::Key)));
        let tail = Func::cust("substr")
            .arg(Expr::col(T::Key))
            .arg(key_len.sub(n - 1));
        let head = Func::cust("substr").arg(Expr::col(T::Key)).arg(1).arg(3);
        let pair = sea_orm::Condition::all()
            .add(Expr::expr(head).eq("ip:"))
            .add(Expr::expr(tail).eq(suffix));
        let res = login_throttles::Entity::delete_many()
            .filter(
                sea_orm::Condition::any()
                    .add(T::Key.eq(own))
                    .add(T::Key.eq(format!("mfa:user:{}", user.as_str())))
                    .add(pair),
            )
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected)
    }
}

impl<C: ConnectionTrait + Send + Sync> SeaRepos<C> {
    /// The answer for one reserved key: locked, allowed, or just past the
    /// limit (then it locks the key, unless another attempt locked it
    /// meanwhile; the lock starts a new window, so attempts after it count
    /// afresh).
    async fn settle(
        &self,
        row: &login_throttles::Model,
        now: DateTime<Utc>,
        policy: ThrottlePolicy,
    ) -> Result<Reservation, StoreError> {
        use login_throttles::Column as T;
        if let Some(until) = row.locked_until.filter(|u| *u > now) {
            return Ok(Reservation::Locked { until });
        }
        let attempt = u32::try_from(row.failures).unwrap_or(0);
        if attempt <= policy.max_failures {
            return Ok(Reservation::Allowed { attempt });
        }
        let until = now + policy.lockout;
        login_throttles::Entity::update_many()
            .col_expr(T::Failures, Expr::value(0))
            .col_expr(T::WindowStartedAt, Expr::value(now))
            .col_expr(T::LockedUntil, Expr::value(until))
            .filter(T::Key.eq(row.key.as_str()))
            .filter(
                sea_orm::Condition::any()
                    .add(T::LockedUntil.is_null())
                    .add(T::LockedUntil.lte(now)),
            )
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(Reservation::Locked { until })
    }
}

// ---- housekeeping (purge) -------------------------------------------------

impl<C: ConnectionTrait + Send + Sync> SeaRepos<C> {
    /// One bounded batch: at most `limit` primary keys of rows matching
    /// `dead`, then a delete of those keys that still match `dead` (a row
    /// revived in between stays). Plain SELECT … LIMIT and DELETE … IN, so
    /// SQLite and PostgreSQL run the same statements.
    async fn purge_keys<E>(
        &self,
        key: E::Column,
        dead: sea_orm::Condition,
        limit: u64,
    ) -> Result<u64, StoreError>
    where
        E: EntityTrait,
    {
        use sea_orm::QuerySelect as _;
        let keys: Vec<String> = E::find()
            .select_only()
            .column(key)
            .filter(dead.clone())
            .order_by_asc(key)
            .limit(limit)
            .into_tuple()
            .all(&self.conn)
            .await
            .map_err(map_err)?;
        if keys.is_empty() {
            return Ok(0);
        }
        let res = E::delete_many()
            .filter(key.is_in(keys))
            .filter(dead)
            .exec(&self.conn)
            .await
            .map_err(map_err)?;
        Ok(res.rows_affected)
    }
}

#[async_trait]
impl<C: ConnectionTrait + Send + Sync> HousekeepingRepository for SeaRepos<C> {
    async fn purge_batch(
        &self,
        target: PurgeTarget,
        before: DateTime<Utc>,
        limit: u64,
    ) -> Result<u64, StoreError> {
        use sea_orm::Condition;
        match target {
            PurgeTarget::ExpiredCodes => {
                self.purge_keys::<authorization_codes::Entity>(
                    authorization_codes::Column::CodeHash,
                    Condition::all().add(authorization_codes::Column::ExpiresAt.lt(before)),
                    limit,
                )
                .await
            }
            PurgeTarget::ExpiredRevocations => {
                self.purge_keys::<revoked_access_tokens::Entity>(
                    revoked_access_tokens::Column::Jti,
                    Condition::all().add(revoked_access_tokens::Column::ExpiresAt.lt(before)),
                    limit,
                )
                .await
            }
            PurgeTarget::EndedSessions { idle } => {
                self.purge_keys::<sessions::Entity>(
                    sessions::Column::Id,
                    Condition::any()
                        .add(sessions::Column::EndedAt.lt(before))
                        .add(sessions::Column::ExpiresAt.lt(before))
                        .add(sessions::Column::LastSeenAt.lt(before - idle)),
                    limit,
                )
                .await
            }
            PurgeTarget::StaleThrottles => {
                self.purge_keys::<login_throttles::Entity>(
                    login_throttles::Column::Key,
                    Condition::all()
                        .add(login_throttles::Column::WindowStartedAt.lt(before))
                        .add(
                            Condition::any()
                                .add(login_throttles::Column::LockedUntil.is_null())
                                .add(login_throttles::Column::LockedUntil.lt(before)),
                        ),
                    limit,
                )
                .await
            }
            PurgeTarget::ExpiredInitialAccessTokens => {
                self.purge_keys::<super::entity::initial_access_tokens::Entity>(
                    super::entity::initial_access_tokens::Column::Id,
                    Condition::all()
                        .add(super::entity::initial_access_tokens::Column::ExpiresAt.lt(before)),
                    limit,
                )
                .await
            }
        }
    }
}

impl<C: ConnectionTrait + Send + Sync> Repositories for SeaRepos<C> {
    fn clients(&self) -> &dyn ClientRepository {
        self
    }
    fn users(&self) -> &dyn UserRepository {
        self
    }
    fn grants(&self) -> &dyn GrantRepository {
        self
    }
    fn codes(&self) -> &dyn AuthorizationCodeRepository {
        self
    }
    fn refresh_tokens(&self) -> &dyn RefreshTokenRepository {
        self
    }
    fn sessions(&self) -> &dyn SessionRepository {
        self
    }
    fn consents(&self) -> &dyn ConsentRepository {
        self
    }
    fn signing_keys(&self) -> &dyn SigningKeyRepository {
        self
    }
    fn revoked_tokens(&self) -> &dyn RevokedTokenRepository {
        self
    }
    fn throttles(&self) -> &dyn ThrottleRepository {
        self
    }
    fn housekeeping(&self) -> &dyn HousekeepingRepository {
        self
    }
    fn registrations(&self) -> &dyn crate::ports::RegistrationRepository {
        self
    }
    fn outbox(&self) -> &dyn crate::ports::MailOutboxRepository {
        self
    }
    fn links(&self) -> &dyn crate::ports::UserLinkRepository {
        self
    }
    fn factors(&self) -> &dyn crate::ports::FactorRepository {
        self
    }
    fn device_codes(&self) -> &dyn crate::ports::DeviceCodeRepository {
        self
    }
    fn deliveries(&self) -> &dyn crate::ports::DeliveryRepository {
        self
    }
    fn resources(&self) -> &dyn crate::ports::ResourceRepository {
        self
    }
    fn pushed_requests(&self) -> &dyn crate::ports::PushedRequestRepository {
        self
    }
    fn streams(&self) -> &dyn crate::ports::StreamRepository {
        self
    }
}
