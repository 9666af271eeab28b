//! Repository ports: one trait per aggregate (Repository pattern). Domain
//! structs in and out; secrets only as hashes; single use as a conditional
//! update that reports whether the caller won.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::{
    AuthorizationCode, Client, ClientId, ClientRegistration, Consent, Grant, InitialAccessToken,
    KeyState, RefreshToken, RevokedAccessToken, Session, SigningKeyRecord, TokenHash, User, UserId,
    Username,
};

/// Errors from any repository.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken (duplicate username, client id, ...).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database could not be reached or the connection broke.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be read back into the domain (corruption or a
    /// bug), or another database error.
    #[error("database error: {0}")]
    Internal(String),
}

/// Clients.
#[async_trait]
pub trait ClientRepository: Send + Sync {
    /// Inserts a new client; `Conflict` if the id is taken.
    async fn insert_client(&self, client: &Client) -> Result<(), StoreError>;
    /// Loads a client.
    async fn get_client(&self, id: &ClientId) -> Result<Option<Client>, StoreError>;
    /// All clients, ordered by id.
    async fn list_clients(&self) -> Result<Vec<Client>, StoreError>;
    /// One page of clients ordered by id: those whose id comes after
    /// `after` (all from the first when `None`), at most `limit`.
    async fn list_clients_page(
        &self,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<Client>, StoreError>;
    /// Replaces a client's settings with those of `client` (found by its
    /// id): everything but the id, the creation time and the secrets, which
    /// change only through [`Self::set_client_secret`], except that a
    /// client whose method uses no secret (`private_key_jwt`, `none`) has
    /// them cleared. `false` if no such client.
    async fn update_client(&self, client: &Client) -> Result<bool, StoreError>;
    /// Replaces the secret hash in one statement; `false` if no such
    /// client. With `previous_until`, the secret replaced becomes the
    /// previous one, accepted until then (an overlap window); without, no
    /// previous secret remains. An older previous secret is dropped either
    /// way.
    async fn set_client_secret(
        &self,
        id: &ClientId,
        secret_hash: &TokenHash,
        previous_until: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Deletes a client; `false` if no such client.
    async fn delete_client(&self, id: &ClientId) -> Result<bool, StoreError>;
    /// Registers the client as a resource server serving `audience`, or
    /// (`None`) withdraws it (RFC 7662 §2.1, §4); `false` if no such client.
    async fn set_client_resource_audience(
        &self,
        id: &ClientId,
        audience: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}

/// Users.
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Inserts a user; `Conflict` if the username is taken.
    async fn insert_user(&self, user: &User) -> Result<(), StoreError>;
    /// Loads by username.
    async fn user_by_username(&self, username: &Username) -> Result<Option<User>, StoreError>;
    /// Loads by id (`sub`).
    async fn user_by_id(&self, id: &UserId) -> Result<Option<User>, StoreError>;
    /// All users, ordered by username.
    async fn list_users(&self) -> Result<Vec<User>, StoreError>;
    /// Enables or disables; `false` if no such user.
    async fn set_user_disabled(
        &self,
        username: &Username,
        disabled: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Replaces the password hash; `false` if no such user.
    async fn set_user_password(
        &self,
        username: &Username,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// One page of users ordered by id: those whose id comes after `after`,
    /// at most `limit`; with `search`, only those whose username or e-mail
    /// contains it, ignoring case (the caller lowercases it; `%`, `_` and
    /// `\` in it are plain characters).
    async fn list_users_page(
        &self,
        search: Option<&str>,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<User>, StoreError>;
    /// Replaces the e-mail address (and whether it was verified) and the
    /// name; `false` if no such user.
    async fn update_user_profile(
        &self,
        id: &UserId,
        profile: &UserProfile,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Deletes a user row; `false` if no such user.
    async fn delete_user(&self, id: &UserId) -> Result<bool, StoreError>;
    /// The users whose e-mail address is `email`, compared ignoring ASCII
    /// case (addresses are not unique: a reset link goes to each), ordered
    /// by id, at most 10.
    async fn users_by_email(&self, email: &str) -> Result<Vec<User>, StoreError>;
    /// Marks the user's address verified, only while it is still `email`
    /// (one conditional update: a link sent to an address the user has
    /// since changed verifies nothing); `false` otherwise.
    async fn set_email_verified(
        &self,
        id: &UserId,
        email: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}

/// What an operator may change of a user's profile
/// ([`UserRepository::update_user_profile`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserProfile {
    /// E-mail address.
    pub email: String,
    /// Whether it was verified.
    pub email_verified: bool,
    /// Full name.
    pub name: Option<String>,
}

/// Which grants or consents a list covers: those of a user, of a client,
/// or of both (at least one is set by the callers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OwnerFilter<'a> {
    /// Only this user's.
    pub user: Option<&'a UserId>,
    /// Only this client's.
    pub client: Option<&'a ClientId>,
}

/// Which grants a revocation reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantSelector<'a> {
    /// One grant, by id.
    Id(&'a str),
    /// Every grant of a user (disabled, or given a new password).
    User(&'a UserId),
    /// The grants made in a login session, except those with
    /// `offline_access` (OpenID Connect Core §11: they outlive the session).
    SessionOnline(&'a str),
    /// Every grant of a user to one client (its consent was revoked).
    UserClient(&'a UserId, &'a ClientId),
    /// Every grant made to a client (the client is deleted).
    Client(&'a ClientId),
}

/// Grants.
#[async_trait]
pub trait GrantRepository: Send + Sync {
    /// Inserts a grant.
    async fn insert_grant(&self, grant: &Grant) -> Result<(), StoreError>;
    /// Loads a grant.
    async fn get_grant(&self, id: &str) -> Result<Option<Grant>, StoreError>;
    /// Whether any grant (revoked or not) was made in the login session
    /// `session_id` at or after `since` (the session's last sign-in): that
    /// sign-in has been used.
    async fn session_has_grants_since(
        &self,
        session_id: &str,
        since: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Revokes a grant; `false` if unknown or already revoked.
    async fn revoke_grant(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Revokes every live grant that `which` selects, in one statement
    /// (atomic); returns how many. Every token of a grant checks it.
    async fn revoke_grants(
        &self,
        which: GrantSelector<'_>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError>;
    /// One page of the live (unrevoked) grants `owner` selects, ordered by
    /// id: those whose id comes after `after`, at most `limit`.
    async fn list_live_grants(
        &self,
        owner: OwnerFilter<'_>,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<Grant>, StoreError>;
    /// When each client last used a live grant of `user`: the latest of
    /// the grant's creation and of its refresh tokens' issue, per client
    /// (the account page's "last used").
    async fn last_use_by_client(
        &self,
        user: &UserId,
    ) -> Result<Vec<(ClientId, DateTime<Utc>)>, StoreError>;
}

/// Authorization codes, keyed by hash.
#[async_trait]
pub trait AuthorizationCodeRepository: Send + Sync {
    /// Stores a new code.
    async fn insert_code(&self, code: &AuthorizationCode) -> Result<(), StoreError>;
    /// Loads a code by hash, consumed or not.
    async fn get_code(&self, hash: &TokenHash) -> Result<Option<AuthorizationCode>, StoreError>;
    /// Marks the code consumed if it is not yet: `true` means this caller won
    /// (`UPDATE … WHERE consumed_at IS NULL`, one row affected).
    async fn consume_code(&self, hash: &TokenHash, now: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Deletes codes that expired before `before`; returns how many.
    async fn purge_expired_codes(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// Refresh tokens, keyed by hash, grouped in rotation families.
#[async_trait]
pub trait RefreshTokenRepository: Send + Sync {
    /// Stores a new token.
    async fn insert_refresh_token(&self, token: &RefreshToken) -> Result<(), StoreError>;
    /// Loads a token by hash.
    async fn get_refresh_token(&self, hash: &TokenHash)
    -> Result<Option<RefreshToken>, StoreError>;
    /// Marks a live token rotated and keeps `successor` (the sealed answer
    /// of the rotation, for the grace window) in the same conditional
    /// update: `true` means this caller won; a loser then reads the
    /// winner's successor once the winner has committed.
    async fn rotate_refresh_token(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
        successor: Option<&str>,
    ) -> Result<bool, StoreError>;
    /// Revokes every live token of a family; returns how many.
    async fn revoke_refresh_family(
        &self,
        family_id: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError>;
}

/// Sessions, keyed by the hash of the cookie value.
#[async_trait]
pub trait SessionRepository: Send + Sync {
    /// Stores a new session.
    async fn insert_session(&self, session: &Session) -> Result<(), StoreError>;
    /// A new sign-in of the session's own user: replaces everything but the
    /// id (`sid`) and the user of the session `renewed.id`, if it is not
    /// ended and its cookie hash is still `old_hash` (one conditional
    /// UPDATE: of two sign-ins racing on one session, one renews it);
    /// `false` otherwise.
    async fn renew_session(
        &self,
        old_hash: &TokenHash,
        renewed: &Session,
    ) -> Result<bool, StoreError>;
    /// Loads a session by the hash of its cookie value.
    async fn session_by_hash(&self, hash: &TokenHash) -> Result<Option<Session>, StoreError>;
    /// Loads a session by its internal id (`sid`).
    async fn session_by_id(&self, id: &str) -> Result<Option<Session>, StoreError>;
    /// Records activity.
    async fn touch_session(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Ends a session; `false` if unknown or already ended.
    async fn end_session(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Ends every live session of a user in one statement (disabled, or
    /// given a new password); returns how many.
    async fn end_user_sessions(&self, user: &UserId, now: DateTime<Utc>)
    -> Result<u64, StoreError>;
    /// Ends every live session of a user but `keep` (the account page's
    /// "sign out everywhere else"); returns how many.
    async fn end_other_sessions(
        &self,
        user: &UserId,
        keep: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError>;
    /// One page of a user's live sessions, ordered by id: not ended, not
    /// expired at `now`, seen after `idle_since` (the rule of
    /// [`Session::is_live`]); those whose id comes after `after`, at most
    /// `limit`.
    async fn list_live_sessions(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
        idle_since: DateTime<Utc>,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<Session>, StoreError>;
}

/// Consents, one row per user and client.
#[async_trait]
pub trait ConsentRepository: Send + Sync {
    /// Inserts or replaces the consent of a user for a client.
    async fn upsert_consent(&self, consent: &Consent) -> Result<(), StoreError>;
    /// Loads the live consent of a user for a client.
    async fn get_consent(
        &self,
        user: &UserId,
        client: &ClientId,
    ) -> Result<Option<Consent>, StoreError>;
    /// Revokes a consent; `false` if none was live.
    async fn revoke_consent(
        &self,
        user: &UserId,
        client: &ClientId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// One page of live consents `owner` selects, ordered by the column
    /// the filter leaves open (the client id for a user's consents, else
    /// the user id): those whose key comes after `after`, at most `limit`.
    async fn list_live_consents(
        &self,
        owner: OwnerFilter<'_>,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<Consent>, StoreError>;
    /// Deletes every consent row of a user (the user is being deleted);
    /// returns how many.
    async fn delete_user_consents(&self, user: &UserId) -> Result<u64, StoreError>;
}

/// Signing keys.
#[async_trait]
pub trait SigningKeyRepository: Send + Sync {
    /// Stores a new key.
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> Result<(), StoreError>;
    /// All keys, oldest first.
    async fn list_signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;
    /// Moves a key to `state`, setting `retired_at`/`expires_at` as given;
    /// only if it is currently in `from` (a conditional update, so that
    /// instances racing on a rotation agree). `true` if this caller won.
    async fn transition_signing_key(
        &self,
        kid: &str,
        from: KeyState,
        to: KeyState,
        retired_at: Option<DateTime<Utc>>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError>;
    /// Makes a `next` key the active one now (`activates_at = now`), only
    /// if it is still `next` (a conditional update). `true` if this caller
    /// won.
    async fn activate_next_signing_key(
        &self,
        kid: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Revokes a key in any other state: `revoked`, `revoked_at = now`,
    /// `expires_at` cleared (a revoked key is never purged), in one
    /// conditional update (`… WHERE state <> 'revoked'`). `false` if no such
    /// key or it was revoked already.
    async fn revoke_signing_key(&self, kid: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Deletes keys whose `expires_at` is before `before`; returns how many.
    async fn purge_expired_signing_keys(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// Revoked JWT access tokens, by `jti`.
#[async_trait]
pub trait RevokedTokenRepository: Send + Sync {
    /// Records a revocation (idempotent).
    async fn insert_revoked_token(&self, token: &RevokedAccessToken) -> Result<(), StoreError>;
    /// Records `token` unless its key is recorded already, in ONE statement
    /// (`INSERT … ON CONFLICT DO NOTHING`): `true` means this caller inserted
    /// it (a first use), `false` that it was there (a replay). The single-use
    /// rule of client assertion `jti`s (RFC 7523 §3 item 7) is this insert.
    async fn insert_revoked_token_once(
        &self,
        token: &RevokedAccessToken,
    ) -> Result<bool, StoreError>;
    /// Whether `jti` is revoked.
    async fn is_token_revoked(&self, jti: &str) -> Result<bool, StoreError>;
    /// Forgets revocations of tokens that expired before `before`.
    async fn purge_revoked_tokens(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// How sign-in failures are counted and when a key is locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Attempts within `window` that may reach the password check; the next
    /// one locks the key.
    pub max_failures: u32,
    /// Counting window.
    pub window: chrono::Duration,
    /// How long a lock lasts.
    pub lockout: chrono::Duration,
}

/// The answer to [`ThrottleRepository::reserve_attempts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// The attempt may go on: it is the `attempt`-th within the window
    /// (counting this one). It stays counted unless it is released.
    Allowed {
        /// This attempt's number in the window, from 1.
        attempt: u32,
    },
    /// The key is locked: the attempt must be refused without checking the
    /// password.
    Locked {
        /// When the lock ends.
        until: DateTime<Utc>,
    },
}

/// Sign-in throttling, shared by every instance through the database. Keys
/// are built by `protocol::interaction` (`ip:<address>`, `user:<name>`,
/// `ip:<address>|user:<name>`, and `mfa:user:<id>` for second factors).
///
/// Every attempt is reserved with one atomic statement before the password
/// is checked, so parallel attempts count as attempts: at most
/// `max_failures` attempts of one window ever reach the password check.
#[async_trait]
pub trait ThrottleRepository: Send + Sync {
    /// Reserves one attempt on each key (an atomic increment; a new window
    /// when the old one is over), in one statement for keys that share a
    /// window. When a count goes past its `max_failures` the key is locked
    /// for its `lockout`; attempts made while a key is locked are not
    /// counted on it. The answers come in the order of `keys`.
    async fn reserve_attempts(
        &self,
        keys: &[(&str, ThrottlePolicy)],
        now: DateTime<Utc>,
    ) -> Result<Vec<Reservation>, StoreError>;
    /// Gives back one reservation on each key after a successful sign-in,
    /// in one statement. A lock is never cleared this way.
    async fn release_attempts(&self, keys: &[&str]) -> Result<(), StoreError>;
    /// Forgets the counts and locks of the account `username` (id `user`):
    /// its own key, every `(account, address)` key and its second-factor
    /// key `mfa:user:<id>` (the operator's `user unlock`). Returns how many
    /// keys were cleared.
    async fn unlock_account(&self, user: &UserId, username: &str) -> Result<u64, StoreError>;
}

// ---- dynamic registration (RFC 7591, RFC 7592) ---------------------------

/// Initial access tokens (RFC 7591 §3) and the registration access tokens
/// of registered clients (RFC 7592 §3), by their hashes.
#[async_trait]
pub trait RegistrationRepository: Send + Sync {
    /// Stores a new initial access token.
    async fn insert_initial_access_token(
        &self,
        token: &InitialAccessToken,
    ) -> Result<(), StoreError>;
    /// Every initial access token, newest first.
    async fn list_initial_access_tokens(&self) -> Result<Vec<InitialAccessToken>, StoreError>;
    /// Spends one use of the token `hash` if it is live at `now` (not
    /// expired, uses left or unlimited), in one conditional `UPDATE`;
    /// `true` means the caller won the use.
    async fn consume_initial_access_token(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Deletes the initial access token `id` (revoked by an operator):
    /// `false` if there was none.
    async fn delete_initial_access_token(&self, id: &str) -> Result<bool, StoreError>;
    /// Gives back a use spent by a registration that was then refused.
    async fn refund_initial_access_token(&self, hash: &TokenHash) -> Result<(), StoreError>;
    /// Stores the registration access token of a newly registered client.
    async fn insert_client_registration(
        &self,
        registration: &ClientRegistration,
    ) -> Result<(), StoreError>;
    /// The registration whose token hashes to `hash`.
    async fn client_registration(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<ClientRegistration>, StoreError>;
    /// Forgets the registration of `client` (the client was deleted);
    /// `false` if it had none.
    async fn delete_client_registration(&self, client: &ClientId) -> Result<bool, StoreError>;
}

// ---- housekeeping (purge) -------------------------------------------------

/// A kind of row that housekeeping deletes once it is dead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurgeTarget {
    /// Authorization codes (used or not) that expired.
    ExpiredCodes,
    /// Revoked access tokens and used client-assertion `jti`s
    /// (`assertion:<hash>`) whose token or assertion expired: past their
    /// expiry neither can be presented again.
    ExpiredRevocations,
    /// Sessions that ended (logout, user disabled), expired, or died idle
    /// (unseen for longer than `idle`).
    EndedSessions {
        /// The idle timeout (`PORTCULLIS_SESSION_IDLE_SECS`).
        idle: chrono::Duration,
    },
    /// Sign-in throttle rows whose counting window and lock are over.
    StaleThrottles,
    /// Initial access tokens (RFC 7591 §3) that expired.
    ExpiredInitialAccessTokens,
}

/// Housekeeping: deletes dead rows in bounded batches, so that one purge
/// never holds a long lock (a statement selects at most `limit` primary
/// keys, then deletes those rows if still dead).
#[async_trait]
pub trait HousekeepingRepository: Send + Sync {
    /// Deletes at most `limit` rows of `target` that were dead before
    /// `before` (expired, ended, or for throttles: window started and lock
    /// ended before it); returns how many. The caller repeats until a batch
    /// comes back short.
    async fn purge_batch(
        &self,
        target: PurgeTarget,
        before: DateTime<Utc>,
        limit: u64,
    ) -> Result<u64, StoreError>;
}

/// Every repository, reachable from one connection or one transaction, one
/// accessor per aggregate. A new aggregate adds its trait, its
/// implementation and one accessor here; a decorator (such as the client
/// cache) replaces the one accessor it wraps and delegates the others.
pub trait Repositories: Send + Sync {
    /// Clients.
    fn clients(&self) -> &dyn ClientRepository;
    /// Users.
    fn users(&self) -> &dyn UserRepository;
    /// Grants.
    fn grants(&self) -> &dyn GrantRepository;
    /// Authorization codes.
    fn codes(&self) -> &dyn AuthorizationCodeRepository;
    /// Refresh tokens.
    fn refresh_tokens(&self) -> &dyn RefreshTokenRepository;
    /// Sessions.
    fn sessions(&self) -> &dyn SessionRepository;
    /// Consents.
    fn consents(&self) -> &dyn ConsentRepository;
    /// Signing keys.
    fn signing_keys(&self) -> &dyn SigningKeyRepository;
    /// Revoked access tokens.
    fn revoked_tokens(&self) -> &dyn RevokedTokenRepository;
    /// Sign-in throttling.
    fn throttles(&self) -> &dyn ThrottleRepository;
    /// Housekeeping (purging dead rows).
    fn housekeeping(&self) -> &dyn HousekeepingRepository;
    /// Dynamic registration: initial and registration access tokens.
    fn registrations(&self) -> &dyn RegistrationRepository;
    /// The durable mail outbox.
    fn outbox(&self) -> &dyn crate::ports::self_service::MailOutboxRepository;
    /// Single-use links sent by mail.
    fn links(&self) -> &dyn crate::ports::self_service::UserLinkRepository;
    /// Second factors, recovery codes and WebAuthn ceremonies.
    fn factors(&self) -> &dyn crate::ports::mfa::FactorRepository;
    /// Device authorizations (RFC 8628).
    fn device_codes(&self) -> &dyn crate::ports::device::DeviceCodeRepository;
    /// The outbox of outbound HTTP requests (back-channel logout).
    fn deliveries(&self) -> &dyn crate::ports::deliveries::DeliveryRepository;
    /// APIs registered for resource indicators (RFC 8707).
    fn resources(&self) -> &dyn crate::ports::resources::ResourceRepository;
    /// Pushed authorization requests (RFC 9126).
    fn pushed_requests(&self) -> &dyn crate::ports::par::PushedRequestRepository;
    /// Shared Signals event streams and their subjects.
    fn streams(&self) -> &dyn crate::ports::ssf::StreamRepository;
}
