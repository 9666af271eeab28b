//! The table of settings: each setting is written once, in [`settings!`]
//! below, with its environment name, TOML key, default, parser and one-line
//! doc. The table drives the environment mapping, the TOML keys, the
//! validation of numbers and booleans, `Debug` redaction and README's
//! configuration table ([`markdown_table`]; a unit test compares the two).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use super::ConfigError;

/// How a setting's text is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parser {
    /// Text, checked by the section that uses it. A TOML string.
    Text,
    /// Text that is never printed (`Debug` redacts it). A TOML string.
    Secret,
    /// `true` or `false` (also `1`/`0`, `yes`/`no`, `on`/`off`). A TOML
    /// boolean or string.
    Bool,
    /// A whole number from `min` to `max`. A TOML integer or string.
    Number {
        /// Smallest accepted value.
        min: i64,
        /// Largest accepted value.
        max: i64,
    },
}

/// What a setting is when it is not set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultValue {
    /// This text, read by the setting's parser as if it had been set.
    Value(&'static str),
    /// Nothing: the feature is off or empty (README: "(none)").
    Unset,
    /// Computed from other settings or the machine, as the text (Markdown)
    /// says.
    Derived(&'static str),
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// Environment name, e.g. `PORTCULLIS_MAX_BODY_BYTES` (public API, and
    /// the name every [`ConfigError`] uses).
    pub env: &'static str,
    /// Key in the TOML file, e.g. `max_body_bytes`.
    pub key: &'static str,
    /// How the value is read.
    pub parser: Parser,
    /// What it is when not set.
    pub default: DefaultValue,
    /// One line for README's table.
    pub doc: &'static str,
    /// The field of [`RawSettings`] that holds it.
    pub field: fn(&RawSettings) -> &Option<String>,
    /// The same field, to set it.
    pub field_mut: fn(&mut RawSettings) -> &mut Option<String>,
}

/// Defines [`RawSettings`], one constant per setting in [`setting`], and
/// [`SETTINGS`], from one list.
macro_rules! settings {
    ($($name:ident $field:ident: $parser:expr, $default:expr, $doc:literal;)*) => {
        /// Every setting, all optional, as read from the file and the
        /// environment (one field per row of [`SETTINGS`]). Its `Debug` lists
        /// the settings that are set by their environment names and redacts
        /// the secrets.
        #[derive(Clone, Default)]
        pub struct RawSettings {
            $(#[doc = $doc] pub $field: Option<String>,)*
        }

        /// One constant per setting, named as its environment name without
        /// the `PORTCULLIS_` prefix.
        pub mod setting {
            #[allow(clippy::wildcard_imports)]
            use super::*;
            $(
                #[doc = $doc]
                pub const $name: Setting = Setting {
                    env: concat!("PORTCULLIS_", stringify!($name)),
                    key: stringify!($field),
                    parser: $parser,
                    default: $default,
                    doc: $doc,
                    field: |r| &r.$field,
                    field_mut: |r| &mut r.$field,
                };
            )*
        }

        /// Every setting, in README's order.
        pub const SETTINGS: &[Setting] = &[$(setting::$name,)*];
    };
}

use DefaultValue::{Derived, Unset, Value};
use Parser::{Bool, Secret, Text};

const fn num(min: i64, max: i64) -> Parser {
    Parser::Number { min, max }
}

const DAY: i64 = 86_400;

settings! {
    ISSUER issuer: Text, Value("http://127.0.0.1:8080"),
        "issuer identifier: http(s) URL without query or fragment; endpoints are published under it";
    LISTEN listen: Text, Value("127.0.0.1:8080"),
        "address to bind";
    DATABASE_URL database_url: Text, Derived("`sqlite://<data dir>/portcullis.db?mode=rwc`"),
        "`sqlite://PATH` or `postgres://USER[:PASSWORD]@HOST:PORT/DB`";
    DATA_DIR data_dir: Text, Value("./data"),
        "SQLite file, master key (unless `PORTCULLIS_MASTER_KEY_FILE` or `PORTCULLIS_MASTER_KEY`), session key, event files, event spool";
    MIGRATE_ON_START migrate_on_start: Bool, Value("true"),
        "run pending migrations when `serve` or an operator command starts (under a lock: instances starting together take turns); `false`: they refuse a database whose schema is behind and say to run `portcullis migrate`";
    LOG_FORMAT log_format: Text, Value("json"),
        "`json` or `pretty`";
    LOG log: Text, Value("info"),
        "tracing filter, e.g. `info,portcullis=debug`";
    ACCESS_LOG access_log: Bool, Value("true"),
        "one `info` line per request, target `portcullis::access`: method, path (never the query), status, duration in ms, request id; `false` turns it off";
    MAX_BODY_BYTES max_body_bytes: num(1024, 16 << 20), Value("65536"),
        "largest request body; larger bodies get 413";
    REQUEST_TIMEOUT_SECS request_timeout_secs: num(1, 3600), Value("30"),
        "per-request timeout (408)";
    SHUTDOWN_GRACE_SECS shutdown_grace_secs: num(0, 600), Value("10"),
        "how long SIGTERM waits for in-flight requests";
    PURGE_INTERVAL_SECS purge_interval_secs: num(0, 7 * DAY), Value("3600"),
        "how often `serve` deletes expired codes, revocations and assertion `jti`s, ended sessions and stale sign-in throttle rows (as `portcullis purge` does); `0` = never";
    PURGE_BATCH_SIZE purge_batch_size: num(1, 100_000), Value("1000"),
        "rows deleted per statement by a purge (each batch is short, so a purge never holds a long lock)";
    PASSWORD_HASH_CONCURRENCY password_hash_concurrency: num(1, 1024), Derived("number of cores"),
        "argon2id hashes running at once; each keeps a 19 MiB working buffer once used, so this times 19 MiB is the hashing memory that stays resident";
    ALLOW_HTTP_REDIRECT_URIS allow_http_redirect_uris: Bool, Value("false"),
        "allow `http://` redirect URIs for non-loopback hosts (development only)";
    SESSION_IDLE_SECS session_idle_secs: num(60, 30 * DAY), Value("1800"),
        "a sign-in session ends after this long without use";
    SESSION_MAX_SECS session_max_secs: num(60, 90 * DAY), Value("36000"),
        "a sign-in session ends this long after sign-in; at least `PORTCULLIS_SESSION_IDLE_SECS`";
    AUTH_CODE_TTL_SECS auth_code_ttl_secs: num(5, 600), Value("60"),
        "authorization code lifetime";
    DEVICE_CODE_TTL_SECS device_code_ttl_secs: num(60, 3600), Value("600"),
        "device authorization (RFC 8628) lifetime: the device code and the user code expire together";
    DEVICE_POLL_INTERVAL_SECS device_poll_interval_secs: num(1, 60), Value("5"),
        "least time between two polls of one device code (`interval`); a faster poll gets `slow_down` and 5 s more";
    DEVICE_USER_CODE_MAX_FAILURES device_user_code_max_failures: num(1, 1000), Value("10"),
        "wrong user codes one client address (IPv6: its /64) may enter at `/device` within `PORTCULLIS_LOGIN_FAILURE_WINDOW_SECS`; the next is refused for `PORTCULLIS_LOGIN_LOCKOUT_SECS`";
    PAR_LIFETIME_SECS par_lifetime_secs: num(5, 600), Value("60"),
        "lifetime of a `request_uri` from `/par` (RFC 9126 §2.2): the first `/authorize` must use it within this time, once";
    REQUIRE_PAR require_par: Bool, Value("false"),
        "every client must push its authorization requests to `/par` (RFC 9126 §6; per client: `require_pushed_authorization_requests`); discovery says so";
    REQUEST_URI_EXTERNAL request_uri_external: Bool, Value("false"),
        "fetch a `request_uri` that `/par` did not issue (https only, through the outbound client) and use its body as a signed request object (RFC 9101 §5.2), only at a location the client registered (`request_uris`, RFC 9101 §10.4.1) and never for a client that must push; discovery's `request_uri_parameter_supported` says so; off: `request_uri_not_supported`";
    PKCE_ALLOW_PLAIN pkce_allow_plain: Bool, Value("false"),
        "accept PKCE `plain` (RFC 7636); `S256` always works";
    FIRST_PARTY_OFFLINE_WITHOUT_CONSENT first_party_offline_without_consent: Bool, Value("false"),
        "let first-party clients get `offline_access` without the consent page (OpenID Connect Core §11 asks for consent; `prompt=consent` still shows it)";
    LOGIN_MAX_FAILURES login_max_failures: num(1, 1000), Value("5"),
        "sign-in attempts per username and client address (IPv6: its /64) within the window; the next one locks that pair (`portcullis user unlock` clears it)";
    LOGIN_ACCOUNT_MAX_FAILURES login_account_max_failures: num(1, 1_000_000), Value("100"),
        "sign-in attempts per username from all addresses within the window; the next one locks the account everywhere (`portcullis user unlock` clears it); must be above `PORTCULLIS_LOGIN_MAX_FAILURES`, or start-up stops";
    LOGIN_IP_MAX_FAILURES login_ip_max_failures: num(1, 10_000_000), Value("50"),
        "failed sign-ins per client address (IPv6: its /64) within the window that lock it (429)";
    LOGIN_FAILURE_WINDOW_SECS login_failure_window_secs: num(1, DAY), Value("900"),
        "counting window for failed sign-ins";
    LOGIN_LOCKOUT_SECS login_lockout_secs: num(1, DAY), Value("300"),
        "how long a lock lasts";
    ACCESS_TOKEN_TTL_SECS access_token_ttl_secs: num(1, 366 * DAY), Value("600"),
        "access-token lifetime (per client: `--access-token-ttl`); at most `PORTCULLIS_MAX_TOKEN_TTL_SECS`";
    ID_TOKEN_TTL_SECS id_token_ttl_secs: num(1, 366 * DAY), Value("600"),
        "ID-token lifetime (per client: `--id-token-ttl`); at most `PORTCULLIS_MAX_TOKEN_TTL_SECS`";
    REFRESH_TOKEN_TTL_SECS refresh_token_ttl_secs: num(60, 366 * DAY), Value("2592000"),
        "refresh-token lifetime (per client: `--refresh-token-ttl`); each rotation starts it again";
    REFRESH_TOKEN_ABSOLUTE_TTL_SECS refresh_token_absolute_ttl_secs: num(60, 3660 * DAY), Value("7776000"),
        "absolute refresh-token lifetime: no token of a grant lives longer than this after the user authorized it, however often it is rotated";
    REFRESH_GRACE_SECS refresh_grace_secs: num(0, 300), Value("10"),
        "grace window of refresh rotation (RFC 9700 §4.14.2): the just-rotated token presented again by its client within this many seconds gets the same successor tokens back; later, reuse revokes the grant; `0` = no grace";
    DPOP_PROOF_WINDOW_SECS dpop_proof_window_secs: num(5, 600), Value("60"),
        "how old a DPoP proof (RFC 9449) may be: its `iat` at most this many seconds ago (and at most 30 s ahead); its `jti` is remembered this long; also how long a server nonce's time slot lasts";
    DPOP_NONCE dpop_nonce: Bool, Value("false"),
        "require server-provided nonces in DPoP proofs (RFC 9449 §8): a proof without the current nonce gets `use_dpop_nonce` and a `DPoP-Nonce` header; nonces are stateless (an HMAC of the time slot under a key derived from the session key) and valid for one to two windows";
    ACCESS_TOKEN_ALG access_token_alg: Text, Value("ES256"),
        "access-token signing algorithm: `ES256`, `RS256` or `PS256`";
    ACCESS_TOKEN_AUDIENCE access_token_audience: Text, Derived("the issuer"),
        "the default resource (RFC 8707): `aud` of access tokens issued without a `resource` parameter (or from a grant of several resources when the token request names none); the only audience `/userinfo` and the admin API accept; tokens for a registered API (`portcullis resource create`) carry its identifier instead";
    RATE_LIMIT_TOKEN_PER_MIN rate_limit_token_per_min: num(0, 100_000_000), Value("600000"),
        "requests a minute per client address on `/token` (bursts up to the same number); `0` = no limit";
    RATE_LIMIT_AUTHORIZE_PER_MIN rate_limit_authorize_per_min: num(0, 100_000_000), Value("3000"),
        "the same for `GET`/`POST /authorize`; `0` = no limit";
    RATE_LIMIT_LOGIN_PER_MIN rate_limit_login_per_min: num(0, 100_000_000), Value("300"),
        "the same for `POST /login`; `0` = no limit";
    TRUSTED_PROXIES trusted_proxies: Text, Unset,
        "comma-separated addresses or CIDRs of reverse proxies; only they may name the client in `X-Forwarded-For`";
    CORS_ALLOWED_ORIGINS cors_allowed_origins: Text, Unset,
        "comma-separated origins (`https://app.example.com`) or `*` that may call token, userinfo, revoke and introspect from a browser (discovery and JWKS are readable from any origin)";
    MANAGEMENT_LISTEN management_listen: Text, Value("127.0.0.1:9000"),
        "address of the management listener, which serves `/metrics` (never the public listener); `off` turns it off; keep it on loopback or a private network";
    HEADER_READ_TIMEOUT_SECS header_read_timeout_secs: num(1, 300), Value("10"),
        "a connection must deliver a request's headers within this time (also while kept alive between requests), else it is closed";
    KEEP_ALIVE_IDLE_SECS keep_alive_idle_secs: num(1, 3600), Value("5"),
        "a connection with no request in flight and nothing received for this long is closed";
    MAX_HEADER_BYTES max_header_bytes: num(8192, 1 << 20), Value("16384"),
        "largest request line plus headers; a larger head gets 431 and the connection is closed";
    MAX_CONNECTIONS max_connections: num(1, 1_000_000), Value("10000"),
        "open connections on the public listener at once; further connections wait in the listen backlog (keep below the file-descriptor limit)";
    OUTBOUND_ALLOW_INSECURE outbound_allow_insecure: Bool, Value("false"),
        "development only: let outbound requests (a client's `jwks_uri`) use `http://` and reach loopback and private addresses (link-local stays refused)";
    OUTBOUND_CONNECT_TIMEOUT_MS outbound_connect_timeout_ms: num(100, 60_000), Value("3000"),
        "longest wait for an outbound connection (TCP and TLS)";
    OUTBOUND_TIMEOUT_MS outbound_timeout_ms: num(100, 300_000), Value("5000"),
        "longest outbound exchange, body included";
    OUTBOUND_MAX_RESPONSE_BYTES outbound_max_response_bytes: num(1024, 16 << 20), Value("65536"),
        "largest outbound response body read; reading stops there (a JWK Set is capped at 64 KiB in any case)";
    CLIENT_JWKS_CACHE_SECS client_jwks_cache_secs: num(0, DAY), Value("300"),
        "how long a client's JWK Set fetched from its `jwks_uri` is reused (never less than `PORTCULLIS_CLIENT_JWKS_REFETCH_FLOOR_SECS`)";
    CLIENT_JWKS_REFETCH_FLOOR_SECS client_jwks_refetch_floor_secs: num(0, 3600), Value("60"),
        "shortest time between two fetches of one `jwks_uri` (an unknown `kid` or a failed fetch waits for it)";
    CLIENT_CACHE_SECS client_cache_secs: num(0, 3600), Value("5"),
        "how long an instance keeps a client in memory; changes made on another instance or with the CLI take effect within this time; `0` turns the cache off (docs/SCALING.md)";
    REGISTRATION registration: Text, Value("off"),
        "dynamic client registration at `/register` (RFC 7591, RFC 7592): `off` (404, not in discovery), `token` (an initial access token from `portcullis registration token create` or the admin API is required) or `open` (anyone may register; an explicit opt-in)";
    REGISTRATION_SCOPES registration_scopes: Text, Value("openid profile email offline_access"),
        "space-separated scopes a dynamically registered client may ask for (never `admin:read`/`admin:write`); a registration without `scope` gets those of `openid profile email offline_access` listed here";
    SMTP_URL smtp_url: Secret, Unset,
        "send mail through this SMTP server: `smtp://host:587` (STARTTLS required), `smtps://host:465` (TLS), `smtp://host:25?tls=none` (plain, for a local relay only); `user:password@` may precede the host (never logged); unset: each mail is written as a `.eml` file under `PORTCULLIS_OUTBOX_DIR`";
    OUTBOX_DIR outbox_dir: Text, Derived("`<data dir>/outbox`"),
        "where mail goes as `.eml` files when `PORTCULLIS_SMTP_URL` is unset";
    MAIL_FROM mail_from: Text, Derived("`portcullis <no-reply@HOST>`, HOST the issuer's host"),
        "the `From` of every mail (`Name <address>` or an address)";
    MAIL_PER_ADDRESS_PER_HOUR mail_per_address_per_hour: num(1, 1000), Value("5"),
        "most mails a user can trigger to one address per hour (verification, reset, sign-up, address change), and four times that from one client address; more are dropped silently, the page answers the same";
    MAIL_RETRY_MAX_SECS mail_retry_max_secs: num(1, DAY), Value("3600"),
        "longest wait between two attempts to send one mail (the wait doubles from 5 s after each failure); a mail is retried until it is sent";
    DELIVERY_RETRY_MAX_SECS delivery_retry_max_secs: num(1, DAY), Value("600"),
        "longest wait between two attempts of one outbound delivery (a back-channel logout token; the wait doubles from 5 s after each failure)";
    DELIVERY_MAX_AGE_SECS delivery_max_age_secs: num(60, 30 * DAY), Value("86400"),
        "an outbound delivery not accepted this long after it was queued is given up (kept, marked abandoned, with its last error)";
    EMAIL_VERIFY_TTL_SECS email_verify_ttl_secs: num(300, 30 * DAY), Value("86400"),
        "how long an e-mail verification link works";
    PASSWORD_RESET_TTL_SECS password_reset_ttl_secs: num(300, DAY), Value("1800"),
        "how long a password-reset link works (a newer link or a use ends it sooner)";
    SIGNUP signup: Text, Value("off"),
        "self-registration at `/signup`: `off` (404), `invite` (only with an invitation link from `portcullis user invite` or the admin API) or `open` (anyone)";
    REQUIRE_VERIFIED_EMAIL require_verified_email: Bool, Value("false"),
        "refuse sign-in (with a message after a correct password) until the user has verified their e-mail address";
    ACCOUNT_REAUTH_SECS account_reauth_secs: num(60, DAY), Value("300"),
        "on the account page, an e-mail change and \"sign out every other session\" ask for the password again when the sign-in is older than this (a password change always asks for the current password)";
    WEBAUTHN_RP_ID webauthn_rp_id: Text, Derived("the issuer's host"),
        "the WebAuthn relying-party id passkeys are bound to: the issuer's host or a domain it ends with (changing it orphans every registered passkey)";
    WEBAUTHN_RP_NAME webauthn_rp_name: Text, Value("portcullis"),
        "the name authenticators show when a passkey is registered";
    TOTP_ISSUER totp_issuer: Text, Derived("the issuer's host"),
        "the issuer label authenticator apps show next to a TOTP code";
    KMS_MODE kms_mode: Text, Derived("local keys"),
        "where the signing keys live: unset (or `local`) for keys sealed under the master key, `direct` or `envelope` for AWS KMS (docs/KEYS.md)";
    KMS_KEY_ID_ES256 kms_key_id_es256: Text, Unset,
        "KMS key for ES256 (`ECC_NIST_P256`, `SIGN_VERIFY`); required by, and only used with, `direct`";
    KMS_KEY_ID_RS256 kms_key_id_rs256: Text, Unset,
        "KMS key for RS256 (`RSA_2048` or larger, `SIGN_VERIFY`); required by, and only used with, `direct`";
    KMS_WRAPPING_KEY_ID kms_wrapping_key_id: Text, Unset,
        "symmetric KMS key (`ENCRYPT_DECRYPT`): with `envelope` (required) it wraps the private keys and seals the TOTP secrets; with `direct` (optional) it seals the TOTP secrets, which otherwise are sealed with the master key (`PORTCULLIS_MASTER_KEY_FILE`, `PORTCULLIS_MASTER_KEY` or `<data dir>/master.key`: instances sharing a database need the same one); not used by local keys";
    MASTER_KEY_FILE master_key_file: Text, Derived("`<data dir>/master.key`, created on first start"),
        "local keys (and TOTP secrets in KMS direct mode without `PORTCULLIS_KMS_WRAPPING_KEY_ID`): the file holding the master key (32 bytes in base64 on one line, mode 0600); read, never created or changed; not with `PORTCULLIS_MASTER_KEY`";
    MASTER_KEY master_key: Secret, Unset,
        "local keys (and TOTP secrets in KMS direct mode without a wrapping key): the master key itself (32 bytes in base64; never logged); weaker than a file (the environment is seen by child processes and diagnostics); not with `PORTCULLIS_MASTER_KEY_FILE`";
    SESSION_KEY_FILE session_key_file: Text, Derived("`<data dir>/session.key`, created on first start"),
        "the file holding the key that signs session cookies and CSRF tokens (32 bytes in base64 on one line, mode 0600); read, never created or changed; instances behind one load balancer must share this key";
    KEY_ROTATION_PREPUBLISH_SECS key_rotation_prepublish_secs: num(0, 90 * DAY), Value("86400"),
        "how long a new key is published as `next` before it signs; at least `PORTCULLIS_KEY_REFRESH_SECS`";
    KEY_REFRESH_SECS key_refresh_secs: num(1, 3600), Value("30"),
        "how often each instance reloads the keys from the database";
    MAX_TOKEN_TTL_SECS max_token_ttl_secs: num(60, 366 * DAY), Value("86400"),
        "the longest lifetime of any JWT portcullis signs; how long a retired key stays published";
    CLICKHOUSE_URL clickhouse_url: Text, Unset,
        "ClickHouse HTTP interface, `http://host:8123`, without credentials; unset: events go to files (docs/EVENTS.md)";
    CLICKHOUSE_USER clickhouse_user: Text, Derived("server default user"),
        "ClickHouse user";
    CLICKHOUSE_PASSWORD clickhouse_password: Secret, Unset,
        "ClickHouse password (never logged)";
    CLICKHOUSE_DATABASE clickhouse_database: Text, Value("portcullis"),
        "ClickHouse database, created when missing; letters, digits, `_`";
    CLICKHOUSE_TIMEOUT_MS clickhouse_timeout_ms: num(100, 600_000), Value("10000"),
        "longest wait for one ClickHouse request; beyond it the batch is spooled";
    EVENTS_BATCH_SIZE events_batch_size: num(1, 100_000), Value("1000"),
        "largest batch of events written at once";
    EVENTS_FLUSH_INTERVAL_MS events_flush_interval_ms: num(1, 60_000), Value("1000"),
        "longest time an event waits in memory before its batch is written";
    EVENTS_QUEUE_CAPACITY events_queue_capacity: num(1, 10_000_000), Value("10000"),
        "bound of the in-memory event queue; beyond it events go to disk at once";
    EVENTS_TTL_DAYS events_ttl_days: num(0, 36_500), Value("365"),
        "ClickHouse retention in days; `0` keeps events forever";
    EVENTS_RETENTION_REQUIRES_ARCHIVE events_retention_requires_archive: Bool, Value("false"),
        "`true`: ClickHouse retention drops a month only once every hour of it is archived with all its events (checked against the manifests); needs `PORTCULLIS_ARCHIVE_S3_BUCKET`; only `serve` then drops anything";
    ARCHIVE_S3_BUCKET archive_s3_bucket: Text, Unset,
        "S3 bucket of the event archive: closed hours of events as Parquet (docs/EVENTS.md \"Archive\"); region, credentials and endpoint from the standard AWS settings; unset: no archive";
    ARCHIVE_S3_PREFIX archive_s3_prefix: Text, Value("events"),
        "key prefix of the archive in the bucket (no leading or trailing `/`; empty: the bucket's root)";
    ARCHIVE_INTERVAL_SECS archive_interval_secs: num(0, 7 * DAY), Value("0"),
        "how often `serve` archives the closed hours not archived yet (as `portcullis events archive`); `0` = never (needs `PORTCULLIS_ARCHIVE_S3_BUCKET`)";
    ALERTS_SQS_QUEUE_URL alerts_sqs_queue_url: Text, Unset,
        "Amazon SQS queue URL that security alerts (high-severity events as signed Security Event Tokens) are sent to; a URL ending in `.fifo` gets SQS deduplication; unset: no alerts (docs/EVENTS.md, \"Security alerts\")";
    ALERTS_AUDIENCE alerts_audience: Text, Unset,
        "the `aud` claim of the security alerts' SETs; unset: no `aud`";
}

/// `PORTCULLIS_*` environment names that are not settings and that the
/// loader leaves alone (a trailing `*` matches any rest): the test suite's
/// (`PORTCULLIS_TEST_*`) and those of the repository's scripts. Any other
/// `PORTCULLIS_*` name that is not in [`SETTINGS`] stops start-up.
pub const NOT_SETTINGS: &[&str] = &[
    "PORTCULLIS_TEST_*",
    "PORTCULLIS_CACHE_DIR",
    "PORTCULLIS_CLICKHOUSE_DIR",
    "PORTCULLIS_CLICKHOUSE_HTTP_PORT",
    "PORTCULLIS_CLICKHOUSE_TCP_PORT",
    "PORTCULLIS_CLICKHOUSE_START_TIMEOUT",
    "PORTCULLIS_KMS_PORT",
    "PORTCULLIS_KMS_START_TIMEOUT",
    "PORTCULLIS_MOTO_SPEC",
    "PORTCULLIS_MOTO_VENV",
    "PORTCULLIS_PEER_DIR",
    "PORTCULLIS_SCHEMATHESIS_VENV",
];

fn is_not_a_setting(name: &str) -> bool {
    NOT_SETTINGS.iter().any(|n| match n.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == *n,
    })
}

impl std::fmt::Debug for RawSettings {
    /// Lists the settings that are set by their environment names, with
    /// secrets redacted.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut map = f.debug_map();
        for s in SETTINGS {
            if let Some(value) = (s.field)(self) {
                if s.parser == Secret {
                    map.entry(&s.env, &"[redacted]");
                } else {
                    map.entry(&s.env, value);
                }
            }
        }
        map.finish()
    }
}

impl RawSettings {
    /// The settings of a TOML file: each key is a [`Setting::key`]; numbers
    /// and booleans may be TOML integers and booleans or strings.
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let fail =
            |reason: String| ConfigError::new("--config", format!("{}: {reason}", path.display()));
        let table: toml::Table = toml::from_str(text).map_err(|e| fail(e.message().to_owned()))?;
        let mut raw = Self::default();
        for (key, value) in table {
            let Some(s) = SETTINGS.iter().find(|s| s.key == key) else {
                let near = closest(&key, SETTINGS.iter().map(|s| s.key));
                return Err(fail(format!("unknown key {key}; did you mean {near}?")));
            };
            let text = match (value, s.parser) {
                (toml::Value::String(v), _) => v,
                (toml::Value::Integer(i), Parser::Number { .. }) => i.to_string(),
                (toml::Value::Boolean(b), Bool) => b.to_string(),
                (other, parser) => {
                    let expected = match parser {
                        Parser::Number { .. } => "a whole number",
                        Bool => "true or false",
                        Text | Secret => "a string",
                    };
                    return Err(fail(format!(
                        "{key}: expected {expected}, got a {}",
                        other.type_str()
                    )));
                }
            };
            *(s.field_mut)(&mut raw) = Some(text);
        }
        Ok(raw)
    }

    /// Sets the settings named in `env`. A `PORTCULLIS_*` name that is
    /// neither a setting nor in [`NOT_SETTINGS`] is an error naming it and
    /// the closest setting; other names are ignored.
    pub fn merge_env(&mut self, env: &HashMap<String, String>) -> Result<(), ConfigError> {
        let mut names: Vec<&String> = env
            .keys()
            .filter(|n| n.starts_with("PORTCULLIS_"))
            .collect();
        names.sort();
        for name in names {
            if let Some(s) = SETTINGS.iter().find(|s| s.env == name.as_str()) {
                *(s.field_mut)(self) = env.get(name).cloned();
            } else if !is_not_a_setting(name) {
                let near = closest(name, SETTINGS.iter().map(|s| s.env));
                return Err(ConfigError::new(
                    name.clone(),
                    format!("unknown setting; did you mean {near}?"),
                ));
            }
        }
        Ok(())
    }

    /// Whether `s` was set (in the file or the environment).
    pub fn is_set(&self, s: &Setting) -> bool {
        (s.field)(self).is_some()
    }

    /// The text of `s`: as set, else its [`DefaultValue::Value`].
    pub fn text(&self, s: &Setting) -> Option<&str> {
        match ((s.field)(self), s.default) {
            (Some(v), _) => Some(v.as_str()),
            (None, Value(v)) => Some(v),
            (None, Unset | Derived(_)) => None,
        }
    }

    /// `s` read as a number within the table's bounds; `None` when neither
    /// set nor given a default value.
    pub fn opt_number<T: TryFrom<i64>>(&self, s: &Setting) -> Result<Option<T>, ConfigError> {
        let Some(text) = self.text(s) else {
            return Ok(None);
        };
        let (min, max) = match s.parser {
            Parser::Number { min, max } => (min, max),
            _ => (i64::MIN, i64::MAX),
        };
        let value: i64 = text.trim().parse().map_err(|_| {
            ConfigError::new(s.env, format!("expected a whole number, got {text:?}"))
        })?;
        if value < min || value > max {
            return Err(ConfigError::new(
                s.env,
                format!("must be between {min} and {max}, got {value}"),
            ));
        }
        T::try_from(value)
            .map(Some)
            .map_err(|_| ConfigError::new(s.env, format!("{value} is out of range")))
    }

    /// `s` read as a number; an error when it has no value at all (a
    /// setting with a [`DefaultValue::Value`] always has one).
    pub fn number<T: TryFrom<i64>>(&self, s: &Setting) -> Result<T, ConfigError> {
        self.opt_number(s)?
            .ok_or_else(|| ConfigError::new(s.env, "has no default; set it"))
    }

    /// `s` read as a boolean (unset without a default: `false`).
    pub fn flag(&self, s: &Setting) -> Result<bool, ConfigError> {
        match self.text(s).map(str::to_ascii_lowercase).as_deref() {
            None | Some("false" | "0" | "no" | "off") => Ok(false),
            Some("true" | "1" | "yes" | "on") => Ok(true),
            Some(other) => Err(ConfigError::new(
                s.env,
                format!("expected true or false, got {other:?}"),
            )),
        }
    }
}

/// The candidate nearest to `name` by edit distance (case-insensitive).
fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> &'a str {
    let name = name.to_ascii_lowercase();
    candidates
        .min_by_key(|c| edit_distance(&name, &c.to_ascii_lowercase()))
        .unwrap_or_default()
}

/// Levenshtein distance between two ASCII-ish strings.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diagonal + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// README's configuration table, generated from [`SETTINGS`].
pub fn markdown_table() -> String {
    let mut out = String::from("| variable | default | meaning |\n| --- | --- | --- |\n");
    for s in SETTINGS {
        let default = match s.default {
            Value(v) => format!("`{v}`"),
            Unset => "(none)".to_owned(),
            Derived(text) => text.to_owned(),
        };
        let _ = writeln!(out, "| `{}` | {default} | {} |", s.env, s.doc);
    }
    out
}
