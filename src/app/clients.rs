//! The client lifecycle after registration, shared by the admin API
//! (`/admin/v1/clients`), dynamic client registration management
//! (RFC 7592) and the CLI (`client update|show|delete|rotate-secret`):
//! change a client's settings without a new `client_id`, delete it with its
//! grants. Every change goes through the one check of
//! [`operator::validated_client`], the same as a new client.

use crate::app::client_metadata::ClientMetadata;
use crate::app::operator::{self, OperatorError};
use chrono::{DateTime, Duration, Utc};

use crate::domain::{Client, ClientId, GrantType, RedirectUri, TokenHash};
use crate::ports::{Clock, Rng, Store};
use crate::protocol::admin;
use crate::protocol::grant::{self, GrantSelector};

/// The client `id` names; `NotFound` for an unknown or malformed id (a
/// malformed id names no client either).
pub async fn find_client(store: &dyn Store, id: &str) -> Result<Client, OperatorError> {
    let not_found = || OperatorError::NotFound(format!("no client {id}"));
    let id = ClientId::parse(id).ok_or_else(not_found)?;
    store.clients().get_client(&id).await?.ok_or_else(not_found)
}

/// The metadata of a partial update (`PATCH`, `client update`): `existing`'s
/// metadata with every field `patch` carries laid over it
/// ([`ClientMetadata::merged`]), and what follows from the fields changed:
///
/// - new http redirect URIs to non-loopback hosts need
///   `allow_http_redirect_uris` in the patch itself (those already
///   registered stay valid: [`update_client`]);
/// - new `grant_types` without `response_types` derive them again;
/// - `resource_server: false` without an `audience` drops the audience.
pub fn patched(existing: &Client, patch: ClientMetadata) -> ClientMetadata {
    let mut base = ClientMetadata::of(existing);
    base.allow_http_redirect_uris = None;
    if patch.grant_types.is_some() && patch.response_types.is_none() {
        base.response_types = None;
    }
    if patch.resource_server == Some(false) && patch.audience.is_none() {
        base.audience = None;
    }
    base.merged(patch)
}

/// Replaces the settings of client `id` with `metadata` (a full
/// replacement: absent fields take their defaults, as on create; a partial
/// update merges first with [`patched`]). The same rules as a new client
/// apply ([`operator::validated_client`]); on any refusal nothing changes.
/// The `client_id`, the secret (and a previous one still in its overlap
/// window) and the creation time stay.
///
/// - Redirect URIs (and post-logout ones) already registered stay valid
///   even if they are http to a non-loopback host (they were allowed with
///   `allow_http_redirect_uris` when added); a new one needs the flag.
/// - A client cannot change between public (`token_endpoint_auth_method`
///   `none`) and confidential: a public client has no secret to keep, and
///   a confidential one would lose its credentials. Register a new client.
///
/// Grants and tokens already issued stay valid until they expire or are
/// revoked; what they may do next is judged against the new settings
/// (scopes, grant types, redirect URIs).
pub async fn update_client(
    store: &dyn Store,
    clock: &dyn Clock,
    id: &str,
    metadata: ClientMetadata,
    outbound_allow_insecure: bool,
) -> Result<Client, OperatorError> {
    let existing = find_client(store, id).await?;
    let mut req = metadata.into_new_client()?;
    if !req.allow_http {
        let registered = |u: &str| {
            existing
                .redirect_uris
                .iter()
                .chain(&existing.post_logout_redirect_uris)
                .any(|r| r.as_str() == u)
        };
        req.allow_http = req
            .redirect_uris
            .iter()
            .chain(&req.post_logout_redirect_uris)
            .all(|u| registered(u) || RedirectUri::parse(u, false).is_ok());
    }
    let now = clock.now();
    let checked =
        operator::validated_client(req, existing.id.clone(), now, outbound_allow_insecure)?;
    // RFC 8707: a resource newly allowed must be a registered API (one
    // allowed already stays: it cannot be deleted while allowed).
    let added: Vec<String> = checked
        .allowed_resources
        .iter()
        .filter(|r| !existing.allowed_resources.contains(r))
        .cloned()
        .collect();
    super::resources::check_registered(store, &added).await?;
    if checked.kind() != existing.kind() {
        return Err(OperatorError::Invalid(format!(
            "token_endpoint_auth_method cannot change from {} to {}: a client stays public or \
             confidential; register a new client instead",
            existing.auth_method, checked.auth_method
        )));
    }
    // A client that stops authenticating with a secret loses it (a secret
    // left stored would come back to life with a later switch); one that
    // starts needs `rotate-secret` to get one.
    let keeps_secret = checked.auth_method.uses_secret();
    let client = Client {
        secret_hash: existing.secret_hash.filter(|_| keeps_secret),
        secret_rotated_at: existing.secret_rotated_at.filter(|_| keeps_secret),
        previous_secret_hash: existing.previous_secret_hash.filter(|_| keeps_secret),
        previous_secret_expires_at: existing.previous_secret_expires_at.filter(|_| keeps_secret),
        created_at: existing.created_at,
        ..checked
    };
    if !store.clients().update_client(&client).await? {
        return Err(OperatorError::NotFound(format!("no client {id}")));
    }
    Ok(client)
}

/// Deletes client `id` and revokes every grant made to it first, so that
/// every token issued from them stops working at once (codes, refresh
/// tokens, and access tokens at userinfo and introspection:
/// [`crate::protocol::grant`]). Its `client_credentials` access tokens
/// carry no grant; they stop because their client no longer exists
/// (`protocol::resource::validate`). Returns how many grants were revoked.
pub async fn delete_client(
    store: &dyn Store,
    clock: &dyn Clock,
    id: &str,
) -> Result<u64, OperatorError> {
    let client = find_client(store, id).await?;
    let revoked = grant::revoke(store, GrantSelector::Client(&client.id), clock.now()).await?;
    if !store.clients().delete_client(&client.id).await? {
        return Err(OperatorError::NotFound(format!("no client {id}")));
    }
    // Its Shared Signals stream goes with it (what the stream still had
    // to deliver is dropped at its next attempt).
    if let Some(stream) = store.streams().stream_of_client(&client.id).await? {
        store.streams().delete_stream(&stream.id).await?;
    }
    // Its RFC 7592 registration access token goes with it (a client
    // registered through /register; `false` for the others).
    store
        .registrations()
        .delete_client_registration(&client.id)
        .await?;
    Ok(revoked)
}

/// The longest overlap window of a secret rotation: 30 days.
pub const MAX_SECRET_OVERLAP_SECS: i64 = 30 * 86_400;

/// A secret just issued by [`rotate_client_secret`].
#[derive(Clone)]
pub struct RotatedSecret {
    /// The client.
    pub client: Client,
    /// The new secret, in plain text: shown once, never stored.
    pub secret: String,
    /// Until when the previous secret works: the rotation time itself when
    /// there was no overlap (it stopped at once).
    pub previous_secret_expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for RotatedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RotatedSecret")
            .field("client", &self.client.id)
            .field("secret", &"<redacted>")
            .field(
                "previous_secret_expires_at",
                &self.previous_secret_expires_at,
            )
            .finish()
    }
}

/// Issues a new 256-bit secret for confidential client `id` (only its
/// SHA-256 is stored). The secret it replaces keeps working for
/// `overlap_secs` (0 to [`MAX_SECRET_OVERLAP_SECS`]; 0: it stops at once),
/// so that the client's deployments can switch without an outage; then it
/// stops (`protocol::client_auth` compares it only before that time, per
/// the [`Clock`]). A secret older than the one replaced stops at once:
/// there is at most one previous secret.
pub async fn rotate_client_secret(
    store: &dyn Store,
    rng: &dyn Rng,
    clock: &dyn Clock,
    id: &str,
    overlap_secs: i64,
) -> Result<RotatedSecret, OperatorError> {
    if !(0..=MAX_SECRET_OVERLAP_SECS).contains(&overlap_secs) {
        return Err(OperatorError::Invalid(format!(
            "the overlap must be 0 to {MAX_SECRET_OVERLAP_SECS} seconds (30 days)"
        )));
    }
    let client = find_client(store, id).await?;
    if !client.auth_method.uses_secret() {
        return Err(OperatorError::Invalid(format!(
            "a client that authenticates with {} has no secret (client_secret_basic and \
             client_secret_post do)",
            client.auth_method
        )));
    }
    let now = clock.now();
    let until = now + Duration::seconds(overlap_secs);
    let secret = rng.token();
    let hash = TokenHash::of(&secret);
    let previous_until = (overlap_secs > 0).then_some(until);
    if !store
        .clients()
        .set_client_secret(&client.id, &hash, previous_until, now)
        .await?
    {
        return Err(OperatorError::NotFound(format!("no client {id}")));
    }
    Ok(RotatedSecret {
        client: Client {
            previous_secret_hash: previous_until.and(client.secret_hash.clone()),
            previous_secret_expires_at: previous_until,
            secret_hash: Some(hash),
            secret_rotated_at: Some(now),
            updated_at: now,
            ..client
        },
        secret,
        previous_secret_expires_at: until,
    })
}

/// The name `admin bootstrap` gives the first admin client.
pub const BOOTSTRAP_CLIENT_NAME: &str = "Admin (bootstrap)";

/// Creates the first admin client (`portcullis admin bootstrap`): a
/// confidential client-credentials client holding `admin:read` and
/// `admin:write`, the credentials of the admin API (issue 15). Refused with
/// `Conflict` when a client holding an admin scope exists already, unless
/// `force`, so that running it twice does not mint a second set of admin
/// credentials by accident.
pub async fn bootstrap_admin(
    store: &dyn Store,
    rng: &dyn Rng,
    clock: &dyn Clock,
    force: bool,
) -> Result<operator::CreatedClient, OperatorError> {
    if !force {
        let admins: Vec<_> = store
            .clients()
            .list_clients()
            .await?
            .into_iter()
            .filter(|c| admin::has_admin_scope(&c.scopes))
            .map(|c| c.id.to_string())
            .collect();
        if !admins.is_empty() {
            return Err(OperatorError::Conflict(format!(
                "an admin client exists already ({}): use it, or give --force to create another",
                admins.join(", ")
            )));
        }
    }
    operator::create_client(
        store,
        rng,
        clock,
        operator::NewClient {
            name: BOOTSTRAP_CLIENT_NAME.into(),
            grant_types: vec![GrantType::ClientCredentials.as_str().into()],
            scopes: vec![admin::ADMIN_READ.into(), admin::ADMIN_WRITE.into()],
            ..operator::NewClient::default()
        },
        false,
    )
    .await
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::adapters::cache::CachedStore;
    use crate::adapters::db::{self, SeaStore};
    use crate::adapters::system::{OsRng, SystemClock};
    use crate::app::operator::NewClient;
    use crate::ports::repositories::Repositories as _;

    async fn sqlite() -> (tempfile::TempDir, Arc<SeaStore>) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/c.sqlite?mode=rwc", dir.path().display());
        let conn = db::connect(&url).await.unwrap();
        db::migrate(&conn).await.unwrap();
        (dir, Arc::new(SeaStore::new(conn)))
    }

    async fn create(store: &dyn Store, public: bool) -> operator::CreatedClient {
        operator::create_client(
            store,
            &OsRng,
            &SystemClock,
            NewClient {
                name: "App".into(),
                public,
                redirect_uris: vec!["https://app.example/cb".into()],
                ..NewClient::default()
            },
            false,
        )
        .await
        .unwrap()
    }

    fn patch(v: serde_json::Value) -> ClientMetadata {
        serde_json::from_value(v).unwrap()
    }

    #[tokio::test]
    async fn a_patch_changes_the_settings_and_keeps_id_secret_and_creation() {
        let (_dir, db) = sqlite().await;
        // Through the cache: an update must not leave a stale entry.
        let store = CachedStore::new(db.clone(), std::time::Duration::from_mins(1));
        let created = create(&store, false).await;
        let before = store
            .clients()
            .get_client(&created.client.id)
            .await
            .unwrap();
        let meta = patched(
            before.as_ref().unwrap(),
            patch(serde_json::json!({
                "redirect_uris": ["https://app.example/new"],
                "client_name": "Renamed",
                "access_token_ttl": 120,
            })),
        );
        let id = created.client.id.as_str();
        let updated = update_client(&store, &SystemClock, id, meta, false)
            .await
            .unwrap();
        let stored = store
            .clients()
            .get_client(&created.client.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored, updated);
        assert_eq!(stored.name, "Renamed");
        assert!(stored.has_redirect_uri("https://app.example/new"));
        assert!(!stored.has_redirect_uri("https://app.example/cb"));
        assert_eq!(stored.access_token_ttl_secs, Some(120));
        assert_eq!(stored.secret_hash, created.client.secret_hash);
        assert!(
            stored
                .secret_hash
                .as_ref()
                .unwrap()
                .matches(created.secret.as_deref().unwrap())
        );
        assert_eq!(stored.created_at, created.client.created_at);
        assert_eq!(stored.scopes, created.client.scopes);
    }

    #[tokio::test]
    async fn a_refused_update_changes_nothing() {
        let (_dir, db) = sqlite().await;
        let created = create(db.as_ref(), false).await;
        let id = created.client.id.as_str();
        for bad in [
            serde_json::json!({"redirect_uris": ["not a uri"]}),
            serde_json::json!({"redirect_uris": ["http://app.example/cb"]}),
            serde_json::json!({"redirect_uris": []}),
            serde_json::json!({"client_name": ""}),
            serde_json::json!({"grant_types": ["implicit"]}),
            serde_json::json!({"access_token_ttl": 0}),
            serde_json::json!({"token_endpoint_auth_method": "none"}),
            serde_json::json!({"audience": "bad audience"}),
        ] {
            let meta = patched(&created.client, patch(bad.clone()));
            assert!(
                update_client(db.as_ref(), &SystemClock, id, meta, false)
                    .await
                    .is_err(),
                "{bad}"
            );
        }
        let stored = db
            .clients()
            .get_client(&created.client.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored, created.client);
    }

    #[tokio::test]
    async fn registered_http_uris_stay_but_new_ones_need_the_flag() {
        let (_dir, db) = sqlite().await;
        let created = operator::create_client(
            db.as_ref(),
            &OsRng,
            &SystemClock,
            NewClient {
                name: "Dev".into(),
                redirect_uris: vec!["http://dev.example/cb".into()],
                allow_http: true,
                ..NewClient::default()
            },
            false,
        )
        .await
        .unwrap();
        let id = created.client.id.as_str();
        let rename = patched(
            &created.client,
            patch(serde_json::json!({"client_name": "D"})),
        );
        update_client(db.as_ref(), &SystemClock, id, rename, false)
            .await
            .unwrap();
        let add =
            serde_json::json!({"redirect_uris": ["http://dev.example/cb", "http://dev.example/2"]});
        let meta = patched(&created.client, patch(add.clone()));
        assert!(matches!(
            update_client(db.as_ref(), &SystemClock, id, meta, false).await,
            Err(OperatorError::InvalidRedirectUri(_))
        ));
        let mut with_flag = add;
        with_flag["allow_http_redirect_uris"] = true.into();
        let meta = patched(&created.client, patch(with_flag));
        let c = update_client(db.as_ref(), &SystemClock, id, meta, false)
            .await
            .unwrap();
        assert!(c.has_redirect_uri("http://dev.example/2"));
    }

    #[tokio::test]
    async fn a_public_client_stays_public() {
        let (_dir, db) = sqlite().await;
        let created = create(db.as_ref(), true).await;
        let meta = patched(
            &created.client,
            patch(serde_json::json!({"token_endpoint_auth_method": "client_secret_basic"})),
        );
        let id = created.client.id.as_str();
        let err = update_client(db.as_ref(), &SystemClock, id, meta, false).await;
        assert!(matches!(err, Err(OperatorError::Invalid(_))), "{err:?}");
        let stored = db
            .clients()
            .get_client(&created.client.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.kind(), crate::domain::ClientKind::Public);
    }

    #[tokio::test]
    async fn bootstrap_refuses_a_second_admin_client_unless_forced() {
        let (_dir, db) = sqlite().await;
        create(db.as_ref(), false).await;
        let first = bootstrap_admin(db.as_ref(), &OsRng, &SystemClock, false)
            .await
            .unwrap();
        assert!(first.secret.is_some());
        assert!(admin::has_admin_scope(&first.client.scopes));
        assert!(first.client.allows_grant(GrantType::ClientCredentials));
        let again = bootstrap_admin(db.as_ref(), &OsRng, &SystemClock, false).await;
        assert!(
            matches!(&again, Err(OperatorError::Conflict(m)) if m.contains(first.client.id.as_str()))
        );
        assert_eq!(
            db.clients().list_clients().await.unwrap().len(),
            2,
            "nothing created"
        );
        let forced = bootstrap_admin(db.as_ref(), &OsRng, &SystemClock, true)
            .await
            .unwrap();
        assert_ne!(forced.client.id, first.client.id);
    }

    #[tokio::test]
    async fn unknown_and_malformed_ids_are_not_found() {
        let (_dir, db) = sqlite().await;
        for id in ["0123456789abcdef0123456789abcdef", "not a client id!"] {
            let r = update_client(
                db.as_ref(),
                &SystemClock,
                id,
                ClientMetadata::default(),
                false,
            );
            assert!(matches!(r.await, Err(OperatorError::NotFound(_))), "{id}");
            let r = delete_client(db.as_ref(), &SystemClock, id).await;
            assert!(matches!(r, Err(OperatorError::NotFound(_))), "{id}");
        }
    }
}
