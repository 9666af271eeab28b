//! Configuration: defaults, then an optional TOML file (`--config FILE` or
//! `./portcullis.toml`), then `PORTCULLIS_*` environment variables, merged
//! into a flat [`RawSettings`] and validated into a typed [`Config`].
//!
//! The environment is passed in as a map (`env::set_var` is `unsafe` in
//! edition 2024, and tests need their own environments). Environment names
//! are public API: each is mapped explicitly in [`ENV_VARS`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

/// A setting that failed validation. Prints as one line naming the setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {setting}: {reason}")]
pub struct ConfigError {
    /// The environment name of the setting (its public name).
    pub setting: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl ConfigError {
    fn new(setting: &'static str, reason: impl Into<String>) -> Self {
        Self {
            setting,
            reason: reason.into(),
        }
    }
}

/// Every setting, all optional, as read from the file and the environment.
/// Its `Debug` redacts every `*_PASSWORD`/`*_SECRET`/`*_KEY` setting.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSettings {
    /// `PORTCULLIS_ISSUER`.
    pub issuer: Option<String>,
    /// `PORTCULLIS_LISTEN`.
    pub listen: Option<String>,
    /// `PORTCULLIS_DATABASE_URL`.
    pub database_url: Option<String>,
    /// `PORTCULLIS_DATA_DIR`.
    pub data_dir: Option<String>,
    /// `PORTCULLIS_MIGRATE_ON_START`.
    pub migrate_on_start: Option<String>,
    /// `PORTCULLIS_LOG_FORMAT`: `json` or `pretty`.
    pub log_format: Option<String>,
    /// `PORTCULLIS_LOG`: a tracing filter such as `info,portcullis=debug`.
    pub log: Option<String>,
    /// `PORTCULLIS_MAX_BODY_BYTES`.
    pub max_body_bytes: Option<String>,
    /// `PORTCULLIS_REQUEST_TIMEOUT_SECS`.
    pub request_timeout_secs: Option<String>,
    /// `PORTCULLIS_SHUTDOWN_GRACE_SECS`.
    pub shutdown_grace_secs: Option<String>,
    /// `PORTCULLIS_PASSWORD_HASH_CONCURRENCY`.
    pub password_hash_concurrency: Option<String>,
    /// `PORTCULLIS_ALLOW_HTTP_REDIRECT_URIS`.
    pub allow_http_redirect_uris: Option<String>,
    /// `PORTCULLIS_SESSION_IDLE_SECS`.
    pub session_idle_secs: Option<String>,
    /// `PORTCULLIS_SESSION_MAX_SECS`.
    pub session_max_secs: Option<String>,
    /// `PORTCULLIS_AUTH_CODE_TTL_SECS`.
    pub auth_code_ttl_secs: Option<String>,
    /// `PORTCULLIS_PKCE_ALLOW_PLAIN`.
    pub pkce_allow_plain: Option<String>,
    /// `PORTCULLIS_LOGIN_MAX_FAILURES`.
    pub login_max_failures: Option<String>,
    /// `PORTCULLIS_LOGIN_IP_MAX_FAILURES`.
    pub login_ip_max_failures: Option<String>,
    /// `PORTCULLIS_LOGIN_FAILURE_WINDOW_SECS`.
    pub login_failure_window_secs: Option<String>,
    /// `PORTCULLIS_LOGIN_LOCKOUT_SECS`.
    pub login_lockout_secs: Option<String>,
    /// `PORTCULLIS_KMS_MODE`: absent (local keys), `direct` or `envelope`.
    pub kms_mode: Option<String>,
    /// `PORTCULLIS_KMS_KEY_ID_ES256` (KMS direct).
    pub kms_key_id_es256: Option<String>,
    /// `PORTCULLIS_KMS_KEY_ID_RS256` (KMS direct).
    pub kms_key_id_rs256: Option<String>,
    /// `PORTCULLIS_KMS_WRAPPING_KEY_ID` (KMS envelope).
    pub kms_wrapping_key_id: Option<String>,
    /// `PORTCULLIS_KEY_ROTATION_PREPUBLISH_SECS`.
    pub key_rotation_prepublish_secs: Option<String>,
    /// `PORTCULLIS_KEY_REFRESH_SECS`.
    pub key_refresh_secs: Option<String>,
    /// `PORTCULLIS_MAX_TOKEN_TTL_SECS`.
    pub max_token_ttl_secs: Option<String>,
    /// `PORTCULLIS_ACCESS_TOKEN_TTL_SECS`.
    pub access_token_ttl_secs: Option<String>,
    /// `PORTCULLIS_ID_TOKEN_TTL_SECS`.
    pub id_token_ttl_secs: Option<String>,
    /// `PORTCULLIS_REFRESH_TOKEN_TTL_SECS`.
    pub refresh_token_ttl_secs: Option<String>,
    /// `PORTCULLIS_ACCESS_TOKEN_ALG`.
    pub access_token_alg: Option<String>,
    /// `PORTCULLIS_ACCESS_TOKEN_AUDIENCE`.
    pub access_token_audience: Option<String>,
    /// `PORTCULLIS_CLICKHOUSE_URL`: events go to ClickHouse (absent: files).
    pub clickhouse_url: Option<String>,
    /// `PORTCULLIS_CLICKHOUSE_USER`.
    pub clickhouse_user: Option<String>,
    /// `PORTCULLIS_CLICKHOUSE_PASSWORD`.
    pub clickhouse_password: Option<String>,
    /// `PORTCULLIS_CLICKHOUSE_DATABASE`.
    pub clickhouse_database: Option<String>,
    /// `PORTCULLIS_CLICKHOUSE_TIMEOUT_MS`.
    pub clickhouse_timeout_ms: Option<String>,
    /// `PORTCULLIS_EVENTS_BATCH_SIZE`.
    pub events_batch_size: Option<String>,
    /// `PORTCULLIS_EVENTS_FLUSH_INTERVAL_MS`.
    pub events_flush_interval_ms: Option<String>,
    /// `PORTCULLIS_EVENTS_QUEUE_CAPACITY`.
    pub events_queue_capacity: Option<String>,
    /// `PORTCULLIS_EVENTS_TTL_DAYS`.
    pub events_ttl_days: Option<String>,
    /// `PORTCULLIS_RATE_LIMIT_TOKEN_PER_MIN`.
    pub rate_limit_token_per_min: Option<String>,
    /// `PORTCULLIS_RATE_LIMIT_AUTHORIZE_PER_MIN`.
    pub rate_limit_authorize_per_min: Option<String>,
    /// `PORTCULLIS_RATE_LIMIT_LOGIN_PER_MIN`.
    pub rate_limit_login_per_min: Option<String>,
    /// `PORTCULLIS_TRUSTED_PROXIES`: comma-separated addresses or CIDRs.
    pub trusted_proxies: Option<String>,
    /// `PORTCULLIS_CORS_ALLOWED_ORIGINS`: comma-separated origins, or `*`.
    pub cors_allowed_origins: Option<String>,
    /// `PORTCULLIS_CLIENT_CACHE_SECS`.
    pub client_cache_secs: Option<String>,
}

impl std::fmt::Debug for RawSettings {
    /// Lists the settings that are set by their public names, with secrets
    /// redacted; goes through [`ENV_VARS`] so that new settings appear too.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut copy = self.clone();
        let mut map = f.debug_map();
        for (name, field) in ENV_VARS {
            if let Some(value) = field(&mut copy) {
                let secret = ["_PASSWORD", "_SECRET", "_KEY"]
                    .iter()
                    .any(|s| name.ends_with(s));
                if secret {
                    map.entry(name, &"[redacted]");
                } else {
                    map.entry(name, value);
                }
            }
        }
        map.finish()
    }
}

/// Selects one field of [`RawSettings`].
pub type FieldRef = fn(&mut RawSettings) -> &mut Option<String>;

/// The public environment names and the field each one sets.
pub const ENV_VARS: &[(&str, FieldRef)] = &[
    ("PORTCULLIS_ISSUER", |r| &mut r.issuer),
    ("PORTCULLIS_LISTEN", |r| &mut r.listen),
    ("PORTCULLIS_DATABASE_URL", |r| &mut r.database_url),
    ("PORTCULLIS_DATA_DIR", |r| &mut r.data_dir),
    ("PORTCULLIS_MIGRATE_ON_START", |r| &mut r.migrate_on_start),
    ("PORTCULLIS_LOG_FORMAT", |r| &mut r.log_format),
    ("PORTCULLIS_LOG", |r| &mut r.log),
    ("PORTCULLIS_MAX_BODY_BYTES", |r| &mut r.max_body_bytes),
    ("PORTCULLIS_REQUEST_TIMEOUT_SECS", |r| {
        &mut r.request_timeout_secs
    }),
    ("PORTCULLIS_SHUTDOWN_GRACE_SECS", |r| {
        &mut r.shutdown_grace_secs
    }),
    ("PORTCULLIS_PASSWORD_HASH_CONCURRENCY", |r| {
        &mut r.password_hash_concurrency
    }),
    ("PORTCULLIS_ALLOW_HTTP_REDIRECT_URIS", |r| {
        &mut r.allow_http_redirect_uris
    }),
    ("PORTCULLIS_KMS_MODE", |r| &mut r.kms_mode),
    ("PORTCULLIS_KMS_KEY_ID_ES256", |r| &mut r.kms_key_id_es256),
    ("PORTCULLIS_KMS_KEY_ID_RS256", |r| &mut r.kms_key_id_rs256),
    ("PORTCULLIS_KMS_WRAPPING_KEY_ID", |r| {
        &mut r.kms_wrapping_key_id
    }),
    ("PORTCULLIS_KEY_ROTATION_PREPUBLISH_SECS", |r| {
        &mut r.key_rotation_prepublish_secs
    }),
    ("PORTCULLIS_KEY_REFRESH_SECS", |r| &mut r.key_refresh_secs),
    ("PORTCULLIS_MAX_TOKEN_TTL_SECS", |r| {
        &mut r.max_token_ttl_secs
    }),
    ("PORTCULLIS_ACCESS_TOKEN_TTL_SECS", |r| {
        &mut r.access_token_ttl_secs
    }),
    ("PORTCULLIS_ID_TOKEN_TTL_SECS", |r| &mut r.id_token_ttl_secs),
    ("PORTCULLIS_REFRESH_TOKEN_TTL_SECS", |r| {
        &mut r.refresh_token_ttl_secs
    }),
    ("PORTCULLIS_ACCESS_TOKEN_ALG", |r| &mut r.access_token_alg),
    ("PORTCULLIS_ACCESS_TOKEN_AUDIENCE", |r| {
        &mut r.access_token_audience
    }),
    ("PORTCULLIS_CLICKHOUSE_URL", |r| &mut r.clickhouse_url),
    ("PORTCULLIS_CLICKHOUSE_USER", |r| &mut r.clickhouse_user),
    ("PORTCULLIS_CLICKHOUSE_PASSWORD", |r| {
        &mut r.clickhouse_password
    }),
    ("PORTCULLIS_CLICKHOUSE_DATABASE", |r| {
        &mut r.clickhouse_database
    }),
    ("PORTCULLIS_CLICKHOUSE_TIMEOUT_MS", |r| {
        &mut r.clickhouse_timeout_ms
    }),
    ("PORTCULLIS_EVENTS_BATCH_SIZE", |r| &mut r.events_batch_size),
    ("PORTCULLIS_EVENTS_FLUSH_INTERVAL_MS", |r| {
        &mut r.events_flush_interval_ms
    }),
    ("PORTCULLIS_EVENTS_QUEUE_CAPACITY", |r| {
        &mut r.events_queue_capacity
    }),
    ("PORTCULLIS_EVENTS_TTL_DAYS", |r| &mut r.events_ttl_days),
    ("PORTCULLIS_RATE_LIMIT_TOKEN_PER_MIN", |r| {
        &mut r.rate_limit_token_per_min
    }),
    ("PORTCULLIS_RATE_LIMIT_AUTHORIZE_PER_MIN", |r| {
        &mut r.rate_limit_authorize_per_min
    }),
    ("PORTCULLIS_RATE_LIMIT_LOGIN_PER_MIN", |r| {
        &mut r.rate_limit_login_per_min
    }),
    ("PORTCULLIS_TRUSTED_PROXIES", |r| &mut r.trusted_proxies),
    ("PORTCULLIS_CORS_ALLOWED_ORIGINS", |r| {
        &mut r.cors_allowed_origins
    }),
    ("PORTCULLIS_CLIENT_CACHE_SECS", |r| &mut r.client_cache_secs),
];

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line (production).
    Json,
    /// Human-readable.
    Pretty,
}

/// Where grant and consent events go (DESIGN.md "One binary, two ways to
/// run it"; docs/EVENTS.md).
#[derive(Debug, Clone)]
pub enum EventConfig {
    /// Embedded default: JSON Lines files, one per UTC day, in `dir`.
    Files {
        /// `<data_dir>/events`.
        dir: PathBuf,
    },
    /// ClickHouse, batched, with a durable spool on local disk.
    ClickHouse(ClickHouseConfig),
}

/// How to reach ClickHouse and keep events there.
#[derive(Debug, Clone)]
pub struct ClickHouseConfig {
    /// HTTP interface URL, e.g. `http://127.0.0.1:8123`.
    pub url: String,
    /// User (`default` when absent).
    pub user: Option<String>,
    /// Password.
    pub password: Option<SecretString>,
    /// Database (created when missing); the table is `events`.
    pub database: String,
    /// Where events wait while ClickHouse is unreachable: `<data_dir>/spool`.
    pub spool_dir: PathBuf,
    /// Keep events this many days; 0 keeps them forever.
    pub ttl_days: u32,
    /// Longest wait for one ClickHouse request before the batch is spooled.
    pub timeout: Duration,
    /// Longest pause between two attempts to reach ClickHouse again.
    pub retry_max: Duration,
}

/// The in-memory queue and batching in front of either event store.
#[derive(Debug, Clone, Copy)]
pub struct EventPipeline {
    /// Largest batch written at once.
    pub batch_size: usize,
    /// Longest time an event waits in memory before its batch is written.
    pub flush_interval: Duration,
    /// Bound of the in-memory queue; beyond it events go to disk at once.
    pub queue_capacity: usize,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The issuer identifier: an http(s) URL without query, fragment or
    /// trailing slash (OpenID Connect Discovery §3).
    pub issuer: String,
    /// Address to bind.
    pub listen: SocketAddr,
    /// Database URL (`sqlite://…` or `postgres://…`).
    pub database_url: String,
    /// Data directory (SQLite file, master key, event files, spool).
    pub data_dir: PathBuf,
    /// Run migrations when `serve` starts.
    pub migrate_on_start: bool,
    /// Log format.
    pub log_format: LogFormat,
    /// Tracing filter.
    pub log_filter: String,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// How long graceful shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
    /// How many argon2id hashes may run at once.
    pub password_hash_concurrency: usize,
    /// Permit plain-http redirect URIs for non-loopback hosts (development).
    pub allow_http_redirect_uris: bool,
    /// Authorization endpoint, sessions and sign-in.
    pub auth: AuthSettings,
    /// Where the signing keys live.
    pub keys: KeyConfig,
    /// Key rotation timing.
    pub key_rotation: KeyRotation,
    /// Token lifetimes and formats.
    pub tokens: TokenConfig,
    /// Where events go.
    pub events: EventConfig,
    /// Queue and batching of events.
    pub event_pipeline: EventPipeline,
    /// Per-address request rates (docs/OPERATIONS.md).
    pub rate_limits: RateLimits,
    /// Reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
    /// Origins allowed to call the API endpoints from a browser (CORS).
    pub cors_allowed_origins: CorsOrigins,
    /// How long an instance keeps a client it read from the database
    /// (`PORTCULLIS_CLIENT_CACHE_SECS`, default 5 s; zero turns the cache
    /// off). Changes made elsewhere reach this instance within this time
    /// (docs/SCALING.md).
    pub client_cache_ttl: Duration,
}

/// Token lifetimes and formats (per-client overrides are set with
/// `client create --access-token-ttl` and friends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenConfig {
    /// `PORTCULLIS_ACCESS_TOKEN_TTL_SECS` (default 600).
    pub access_ttl: chrono::Duration,
    /// `PORTCULLIS_ID_TOKEN_TTL_SECS` (default 600).
    pub id_ttl: chrono::Duration,
    /// `PORTCULLIS_REFRESH_TOKEN_TTL_SECS` (default 30 days).
    pub refresh_ttl: chrono::Duration,
    /// `PORTCULLIS_ACCESS_TOKEN_ALG`: `ES256` (default), `RS256` or `PS256`.
    pub access_token_alg: crate::ports::JwsAlg,
    /// `PORTCULLIS_ACCESS_TOKEN_AUDIENCE` (default: the issuer).
    pub access_token_audience: Option<String>,
}

/// Requests per minute accepted from one client address, per endpoint
/// group; `0` turns a limit off. A bucket holds one minute's worth, so a
/// burst of up to the whole minute's allowance passes at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// `/token` (`PORTCULLIS_RATE_LIMIT_TOKEN_PER_MIN`).
    pub token_per_min: u32,
    /// `GET|POST /authorize` (`PORTCULLIS_RATE_LIMIT_AUTHORIZE_PER_MIN`).
    pub authorize_per_min: u32,
    /// `POST /login` (`PORTCULLIS_RATE_LIMIT_LOGIN_PER_MIN`).
    pub login_per_min: u32,
}

impl RateLimits {
    /// The defaults: generous on `/token` (a flood guard: client secrets
    /// are 256-bit, so guessing is no threat, and a benchmark from one
    /// address is not throttled), tighter on the pages, tightest on the
    /// login post, which costs an argon2id hash.
    pub const DEFAULT: Self = Self {
        token_per_min: 600_000,
        authorize_per_min: 3_000,
        login_per_min: 300,
    };

    /// No limits at all.
    pub const OFF: Self = Self {
        token_per_min: 0,
        authorize_per_min: 0,
        login_per_min: 0,
    };
}

/// Addresses or networks of the reverse proxies in front of the server
/// (`PORTCULLIS_TRUSTED_PROXIES`). Only a connection from one of them may
/// name the client in `X-Forwarded-For`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<ipnet::IpNet>);

impl TrustedProxies {
    /// Parses a comma-separated list of addresses (`10.0.0.5`, `::1`) and
    /// networks (`10.0.0.0/8`, `fd00::/8`). Blank entries are ignored.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let net = if item.contains('/') {
                item.parse::<ipnet::IpNet>()
                    .map_err(|_| format!("{item:?} is not an address or CIDR network"))?
                    .trunc()
            } else {
                let addr: std::net::IpAddr = item
                    .parse()
                    .map_err(|_| format!("{item:?} is not an address or CIDR network"))?;
                ipnet::IpNet::from(addr.to_canonical())
            };
            nets.push(net);
        }
        Ok(Self(nets))
    }

    /// Whether `ip` is one of the proxies.
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// Whether no proxy is trusted (the default).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Which browser origins may call the API endpoints
/// (`PORTCULLIS_CORS_ALLOWED_ORIGINS`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CorsOrigins {
    /// None: no CORS headers at all (the default).
    #[default]
    None,
    /// Any origin (`*`). No credentials are ever allowed.
    Any,
    /// These origins, each as `scheme://host[:port]` in the ASCII form a
    /// browser sends in `Origin`.
    List(Vec<String>),
}

impl CorsOrigins {
    /// Parses `*` or a comma-separated list of origins such as
    /// `https://app.example.com,http://localhost:3000`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let items: Vec<&str> = raw
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if items.is_empty() {
            return Ok(Self::None);
        }
        if items.contains(&"*") {
            if items.len() > 1 {
                return Err("`*` cannot be combined with other origins".into());
            }
            return Ok(Self::Any);
        }
        let mut origins = Vec::with_capacity(items.len());
        for item in items {
            let bad = || format!("{item:?} is not an origin such as https://app.example.com");
            let url = Url::parse(item).map_err(|_| bad())?;
            let plain = matches!(url.scheme(), "http" | "https")
                && url.host_str().is_some()
                && url.username().is_empty()
                && url.password().is_none()
                && url.path() == "/"
                && url.query().is_none()
                && url.fragment().is_none();
            if !plain {
                return Err(bad());
            }
            origins.push(url.origin().ascii_serialization());
        }
        Ok(Self::List(origins))
    }
}

/// Settings of the authorization endpoint, sessions and sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSettings {
    /// A session ends after this long without a request.
    pub session_idle: chrono::Duration,
    /// A session ends this long after sign-in, whatever its use.
    pub session_max: chrono::Duration,
    /// Authorization code lifetime (DESIGN.md invariant 2: 60 s by default).
    pub code_ttl: chrono::Duration,
    /// Accept PKCE `plain` (RFC 7636 §4.2; off by default).
    pub pkce_allow_plain: bool,
    /// Failed sign-ins per account within the window that lock it.
    pub login_max_failures: u32,
    /// Failed sign-ins per client address within the window that lock it.
    pub login_ip_max_failures: u32,
    /// Counting window for failures.
    pub login_failure_window: chrono::Duration,
    /// How long a lock lasts.
    pub login_lockout: chrono::Duration,
}

/// Where the signing keys live (`PORTCULLIS_KMS_MODE`; docs/KEYS.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyConfig {
    /// Generated on first start; private parts sealed in the database with
    /// `<data_dir>/master.key` (the embedded default).
    Local,
    /// Every signature is a KMS `Sign` call; private keys never leave KMS.
    KmsDirect {
        /// `PORTCULLIS_KMS_KEY_ID_ES256`: an `ECC_NIST_P256` `SIGN_VERIFY` key.
        es256_key_id: String,
        /// `PORTCULLIS_KMS_KEY_ID_RS256`: an `RSA_2048` (or larger)
        /// `SIGN_VERIFY` key.
        rs256_key_id: String,
    },
    /// Key pairs generated locally, the private parts wrapped by KMS
    /// `Encrypt` and unwrapped into memory at start and at rotation.
    KmsEnvelope {
        /// `PORTCULLIS_KMS_WRAPPING_KEY_ID`: a `SYMMETRIC_DEFAULT`
        /// `ENCRYPT_DECRYPT` key.
        wrapping_key_id: String,
    },
}

/// When new keys start signing and how long old ones stay published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRotation {
    /// How long a new key is published as `next` before it signs
    /// (`PORTCULLIS_KEY_ROTATION_PREPUBLISH_SECS`).
    pub prepublish: Duration,
    /// How often each instance reloads keys from the database
    /// (`PORTCULLIS_KEY_REFRESH_SECS`).
    pub refresh_interval: Duration,
    /// The longest lifetime of any JWT we sign: a retired key stays in the
    /// JWK Set this long after it stopped signing
    /// (`PORTCULLIS_MAX_TOKEN_TTL_SECS`). Token endpoints must not issue
    /// JWTs that live longer.
    pub max_token_ttl: Duration,
}

impl KeyRotation {
    /// `max-age` for the JWK Set: short enough that a relying party sees a
    /// `next` key well before it signs (half of what is left of the
    /// pre-publication period once every instance has refreshed), at most
    /// five minutes.
    pub fn jwks_max_age(&self) -> Duration {
        let margin = self.prepublish.saturating_sub(self.refresh_interval) / 2;
        margin.min(Duration::from_mins(5))
    }
}

impl Config {
    /// Loads the configuration: defaults, then `file` (or `./portcullis.toml`
    /// when it exists), then the `PORTCULLIS_*` entries of `env`.
    pub fn load(file: Option<&Path>, env: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let mut raw = match file {
            Some(path) => read_file(path)?,
            None if Path::new("portcullis.toml").exists() => {
                read_file(Path::new("portcullis.toml"))?
            }
            None => RawSettings::default(),
        };
        for (name, field) in ENV_VARS {
            if let Some(value) = env.get(*name) {
                *field(&mut raw) = Some(value.clone());
            }
        }
        Self::from_raw(raw)
    }

    /// Validates merged settings.
    #[allow(clippy::too_many_lines)] // one setting after the other, read top to bottom
    pub fn from_raw(raw: RawSettings) -> Result<Self, ConfigError> {
        let auth = auth_settings(&raw)?;
        let (rate_limits, trusted_proxies, cors_allowed_origins) = parse_hardening(&raw)?;
        let (keys, key_rotation) = parse_keys(&raw)?;
        let tokens = token_config(&raw, &key_rotation)?;
        let issuer = parse_issuer(raw.issuer.as_deref().unwrap_or("http://127.0.0.1:8080"))?;
        let listen = raw
            .listen
            .as_deref()
            .unwrap_or("127.0.0.1:8080")
            .parse::<SocketAddr>()
            .map_err(|e| {
                ConfigError::new(
                    "PORTCULLIS_LISTEN",
                    format!("expected HOST:PORT such as 127.0.0.1:8080 ({e})"),
                )
            })?;
        let data_dir = PathBuf::from(raw.data_dir.as_deref().unwrap_or("./data"));
        if data_dir.as_os_str().is_empty() {
            return Err(ConfigError::new("PORTCULLIS_DATA_DIR", "must not be empty"));
        }
        let events = parse_event_config(&raw, &data_dir)?;
        let event_pipeline = parse_event_pipeline(&raw)?;
        let database_url = match raw.database_url {
            Some(url) => {
                let ok = ["sqlite:", "postgres://", "postgresql://"]
                    .iter()
                    .any(|p| url.starts_with(p));
                if !ok {
                    return Err(ConfigError::new(
                        "PORTCULLIS_DATABASE_URL",
                        "expected sqlite://PATH or postgres://USER@HOST:PORT/DB",
                    ));
                }
                url
            }
            None => format!("sqlite://{}/portcullis.db?mode=rwc", data_dir.display()),
        };
        let log_format = match raw.log_format.as_deref().unwrap_or("json") {
            "json" => LogFormat::Json,
            "pretty" => LogFormat::Pretty,
            other => {
                return Err(ConfigError::new(
                    "PORTCULLIS_LOG_FORMAT",
                    format!("expected json or pretty, got {other:?}"),
                ));
            }
        };
        Ok(Self {
            issuer,
            listen,
            database_url,
            data_dir,
            migrate_on_start: parse_bool(
                "PORTCULLIS_MIGRATE_ON_START",
                raw.migrate_on_start.as_deref(),
                true,
            )?,
            log_format,
            log_filter: raw.log.unwrap_or_else(|| "info".to_owned()),
            max_body_bytes: parse_num(
                "PORTCULLIS_MAX_BODY_BYTES",
                raw.max_body_bytes,
                64 * 1024,
                1024,
                16 << 20,
            )?,
            request_timeout: Duration::from_secs(parse_num(
                "PORTCULLIS_REQUEST_TIMEOUT_SECS",
                raw.request_timeout_secs,
                30,
                1,
                3600,
            )?),
            shutdown_grace: Duration::from_secs(parse_num(
                "PORTCULLIS_SHUTDOWN_GRACE_SECS",
                raw.shutdown_grace_secs,
                10,
                0,
                600,
            )?),
            password_hash_concurrency: parse_num(
                "PORTCULLIS_PASSWORD_HASH_CONCURRENCY",
                raw.password_hash_concurrency,
                default_hash_concurrency(),
                1,
                1024,
            )?,
            allow_http_redirect_uris: parse_bool(
                "PORTCULLIS_ALLOW_HTTP_REDIRECT_URIS",
                raw.allow_http_redirect_uris.as_deref(),
                false,
            )?,
            auth,
            keys,
            key_rotation,
            tokens,
            events,
            event_pipeline,
            rate_limits,
            trusted_proxies,
            cors_allowed_origins,
            client_cache_ttl: client_cache_ttl(raw.client_cache_secs)?,
        })
    }

    /// Whether cookies must be `Secure` with the `__Host-` prefix.
    pub fn issuer_is_https(&self) -> bool {
        self.issuer.starts_with("https://")
    }

    /// An absolute endpoint URL under the issuer.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }
}

fn secs(
    name: &'static str,
    raw: Option<&String>,
    default: i64,
    min: i64,
    max: i64,
) -> Result<chrono::Duration, ConfigError> {
    parse_num(name, raw.cloned(), default, min, max).map(chrono::Duration::seconds)
}

fn auth_settings(raw: &RawSettings) -> Result<AuthSettings, ConfigError> {
    let session_idle = secs(
        "PORTCULLIS_SESSION_IDLE_SECS",
        raw.session_idle_secs.as_ref(),
        1800,
        60,
        30 * 86_400,
    )?;
    let session_max = secs(
        "PORTCULLIS_SESSION_MAX_SECS",
        raw.session_max_secs.as_ref(),
        36_000,
        60,
        90 * 86_400,
    )?;
    if session_max < session_idle {
        return Err(ConfigError::new(
            "PORTCULLIS_SESSION_MAX_SECS",
            "must not be shorter than PORTCULLIS_SESSION_IDLE_SECS",
        ));
    }
    Ok(AuthSettings {
        session_idle,
        session_max,
        code_ttl: secs(
            "PORTCULLIS_AUTH_CODE_TTL_SECS",
            raw.auth_code_ttl_secs.as_ref(),
            60,
            5,
            600,
        )?,
        pkce_allow_plain: parse_bool(
            "PORTCULLIS_PKCE_ALLOW_PLAIN",
            raw.pkce_allow_plain.as_deref(),
            false,
        )?,
        login_max_failures: parse_num(
            "PORTCULLIS_LOGIN_MAX_FAILURES",
            raw.login_max_failures.clone(),
            5,
            1,
            1000,
        )?,
        login_ip_max_failures: parse_num(
            "PORTCULLIS_LOGIN_IP_MAX_FAILURES",
            raw.login_ip_max_failures.clone(),
            50,
            1,
            100_000,
        )?,
        login_failure_window: secs(
            "PORTCULLIS_LOGIN_FAILURE_WINDOW_SECS",
            raw.login_failure_window_secs.as_ref(),
            900,
            1,
            86_400,
        )?,
        login_lockout: secs(
            "PORTCULLIS_LOGIN_LOCKOUT_SECS",
            raw.login_lockout_secs.as_ref(),
            300,
            1,
            86_400,
        )?,
    })
}

fn parse_event_config(raw: &RawSettings, data_dir: &Path) -> Result<EventConfig, ConfigError> {
    const URL: &str = "PORTCULLIS_CLICKHOUSE_URL";
    let Some(url) = raw
        .clickhouse_url
        .as_deref()
        .filter(|u| !u.trim().is_empty())
    else {
        for (name, set) in [
            ("PORTCULLIS_CLICKHOUSE_USER", raw.clickhouse_user.is_some()),
            (
                "PORTCULLIS_CLICKHOUSE_PASSWORD",
                raw.clickhouse_password.is_some(),
            ),
            (
                "PORTCULLIS_CLICKHOUSE_DATABASE",
                raw.clickhouse_database.is_some(),
            ),
        ] {
            if set {
                return Err(ConfigError::new(
                    name,
                    "is set but PORTCULLIS_CLICKHOUSE_URL is not",
                ));
            }
        }
        return Ok(EventConfig::Files {
            dir: data_dir.join("events"),
        });
    };
    let parsed =
        Url::parse(url.trim()).map_err(|e| ConfigError::new(URL, format!("not a URL ({e})")))?;
    if parsed.scheme() != "http" || parsed.host_str().is_none() {
        return Err(ConfigError::new(
            URL,
            "expected http://HOST:PORT (the HTTP interface; https is not built in: \
             put a TLS proxy in front or use a private network)",
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(ConfigError::new(
            URL,
            "must not carry credentials: use PORTCULLIS_CLICKHOUSE_USER and _PASSWORD",
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(ConfigError::new(URL, "must not have a query or fragment"));
    }
    let database = raw
        .clickhouse_database
        .clone()
        .unwrap_or_else(|| "portcullis".to_owned());
    let ident_ok = database.len() <= 64
        && database
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && database
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ident_ok {
        return Err(ConfigError::new(
            "PORTCULLIS_CLICKHOUSE_DATABASE",
            "expected a plain identifier: letters, digits and _ (at most 64)",
        ));
    }
    let user = raw.clickhouse_user.clone().filter(|u| !u.is_empty());
    if user
        .as_deref()
        .is_some_and(|u| u.chars().any(char::is_control))
    {
        return Err(ConfigError::new(
            "PORTCULLIS_CLICKHOUSE_USER",
            "must not contain control characters",
        ));
    }
    Ok(EventConfig::ClickHouse(ClickHouseConfig {
        url: parsed.as_str().trim_end_matches('/').to_owned(),
        user,
        password: raw
            .clickhouse_password
            .clone()
            .filter(|p| !p.is_empty())
            .map(SecretString::from),
        database,
        spool_dir: data_dir.join("spool"),
        ttl_days: parse_num(
            "PORTCULLIS_EVENTS_TTL_DAYS",
            raw.events_ttl_days.clone(),
            365,
            0,
            36_500,
        )?,
        timeout: Duration::from_millis(parse_num(
            "PORTCULLIS_CLICKHOUSE_TIMEOUT_MS",
            raw.clickhouse_timeout_ms.clone(),
            10_000,
            100,
            600_000,
        )?),
        retry_max: Duration::from_secs(30),
    }))
}

fn parse_event_pipeline(raw: &RawSettings) -> Result<EventPipeline, ConfigError> {
    Ok(EventPipeline {
        batch_size: parse_num(
            "PORTCULLIS_EVENTS_BATCH_SIZE",
            raw.events_batch_size.clone(),
            1000,
            1,
            100_000,
        )?,
        flush_interval: Duration::from_millis(parse_num(
            "PORTCULLIS_EVENTS_FLUSH_INTERVAL_MS",
            raw.events_flush_interval_ms.clone(),
            1000,
            1,
            60_000,
        )?),
        queue_capacity: parse_num(
            "PORTCULLIS_EVENTS_QUEUE_CAPACITY",
            raw.events_queue_capacity.clone(),
            10_000,
            1,
            10_000_000,
        )?,
    })
}

fn parse_hardening(
    raw: &RawSettings,
) -> Result<(RateLimits, TrustedProxies, CorsOrigins), ConfigError> {
    let proxies = TrustedProxies::parse(raw.trusted_proxies.as_deref().unwrap_or(""))
        .map_err(|e| ConfigError::new("PORTCULLIS_TRUSTED_PROXIES", e))?;
    let origins = CorsOrigins::parse(raw.cors_allowed_origins.as_deref().unwrap_or(""))
        .map_err(|e| ConfigError::new("PORTCULLIS_CORS_ALLOWED_ORIGINS", e))?;
    Ok((parse_rate_limits(raw)?, proxies, origins))
}

fn parse_rate_limits(raw: &RawSettings) -> Result<RateLimits, ConfigError> {
    let d = RateLimits::DEFAULT;
    Ok(RateLimits {
        token_per_min: parse_num(
            "PORTCULLIS_RATE_LIMIT_TOKEN_PER_MIN",
            raw.rate_limit_token_per_min.clone(),
            d.token_per_min,
            0,
            100_000_000,
        )?,
        authorize_per_min: parse_num(
            "PORTCULLIS_RATE_LIMIT_AUTHORIZE_PER_MIN",
            raw.rate_limit_authorize_per_min.clone(),
            d.authorize_per_min,
            0,
            100_000_000,
        )?,
        login_per_min: parse_num(
            "PORTCULLIS_RATE_LIMIT_LOGIN_PER_MIN",
            raw.rate_limit_login_per_min.clone(),
            d.login_per_min,
            0,
            100_000_000,
        )?,
    })
}

fn token_config(raw: &RawSettings, rotation: &KeyRotation) -> Result<TokenConfig, ConfigError> {
    let max = i64::try_from(rotation.max_token_ttl.as_secs()).unwrap_or(i64::MAX);
    let access_ttl = secs(
        "PORTCULLIS_ACCESS_TOKEN_TTL_SECS",
        raw.access_token_ttl_secs.as_ref(),
        600.min(max),
        1,
        max,
    )?;
    let id_ttl = secs(
        "PORTCULLIS_ID_TOKEN_TTL_SECS",
        raw.id_token_ttl_secs.as_ref(),
        600.min(max),
        1,
        max,
    )?;
    let refresh_ttl = secs(
        "PORTCULLIS_REFRESH_TOKEN_TTL_SECS",
        raw.refresh_token_ttl_secs.as_ref(),
        30 * 86_400,
        60,
        366 * 86_400,
    )?;
    let access_token_alg = match raw.access_token_alg.as_deref() {
        None => crate::ports::JwsAlg::Es256,
        Some(a) => a
            .parse()
            .map_err(|e: String| ConfigError::new("PORTCULLIS_ACCESS_TOKEN_ALG", e))?,
    };
    Ok(TokenConfig {
        access_ttl,
        id_ttl,
        refresh_ttl,
        access_token_alg,
        access_token_audience: raw
            .access_token_audience
            .clone()
            .filter(|a| !a.trim().is_empty()),
    })
}

fn default_hash_concurrency() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
}

fn parse_keys(raw: &RawSettings) -> Result<(KeyConfig, KeyRotation), ConfigError> {
    Ok((parse_key_config(raw)?, parse_key_rotation(raw)?))
}

fn parse_key_config(raw: &RawSettings) -> Result<KeyConfig, ConfigError> {
    fn present(v: Option<&String>) -> Option<String> {
        v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
    }
    fn required(name: &'static str, v: Option<&String>, mode: &str) -> Result<String, ConfigError> {
        present(v).ok_or_else(|| {
            ConfigError::new(name, format!("required when PORTCULLIS_KMS_MODE={mode}"))
        })
    }
    fn unused(name: &'static str, v: Option<&String>, mode: &str) -> Result<(), ConfigError> {
        match present(v) {
            Some(_) => Err(ConfigError::new(
                name,
                format!("is set but PORTCULLIS_KMS_MODE is {mode}, which does not use it"),
            )),
            None => Ok(()),
        }
    }
    let mode = present(raw.kms_mode.as_ref()).map(|m| m.to_ascii_lowercase());
    let keys = match mode.as_deref() {
        None | Some("local") => {
            unused(
                "PORTCULLIS_KMS_KEY_ID_ES256",
                raw.kms_key_id_es256.as_ref(),
                "local",
            )?;
            unused(
                "PORTCULLIS_KMS_KEY_ID_RS256",
                raw.kms_key_id_rs256.as_ref(),
                "local",
            )?;
            unused(
                "PORTCULLIS_KMS_WRAPPING_KEY_ID",
                raw.kms_wrapping_key_id.as_ref(),
                "local",
            )?;
            KeyConfig::Local
        }
        Some("direct") => {
            unused(
                "PORTCULLIS_KMS_WRAPPING_KEY_ID",
                raw.kms_wrapping_key_id.as_ref(),
                "direct",
            )?;
            KeyConfig::KmsDirect {
                es256_key_id: required(
                    "PORTCULLIS_KMS_KEY_ID_ES256",
                    raw.kms_key_id_es256.as_ref(),
                    "direct",
                )?,
                rs256_key_id: required(
                    "PORTCULLIS_KMS_KEY_ID_RS256",
                    raw.kms_key_id_rs256.as_ref(),
                    "direct",
                )?,
            }
        }
        Some("envelope") => {
            unused(
                "PORTCULLIS_KMS_KEY_ID_ES256",
                raw.kms_key_id_es256.as_ref(),
                "envelope",
            )?;
            unused(
                "PORTCULLIS_KMS_KEY_ID_RS256",
                raw.kms_key_id_rs256.as_ref(),
                "envelope",
            )?;
            KeyConfig::KmsEnvelope {
                wrapping_key_id: required(
                    "PORTCULLIS_KMS_WRAPPING_KEY_ID",
                    raw.kms_wrapping_key_id.as_ref(),
                    "envelope",
                )?,
            }
        }
        Some(other) => {
            return Err(ConfigError::new(
                "PORTCULLIS_KMS_MODE",
                format!("expected direct or envelope (or unset for local keys), got {other:?}"),
            ));
        }
    };
    Ok(keys)
}

fn parse_key_rotation(raw: &RawSettings) -> Result<KeyRotation, ConfigError> {
    let refresh: u64 = parse_num(
        "PORTCULLIS_KEY_REFRESH_SECS",
        raw.key_refresh_secs.clone(),
        30,
        1,
        3600,
    )?;
    let prepublish: u64 = parse_num(
        "PORTCULLIS_KEY_ROTATION_PREPUBLISH_SECS",
        raw.key_rotation_prepublish_secs.clone(),
        86_400,
        0,
        90 * 86_400,
    )?;
    if prepublish < refresh {
        return Err(ConfigError::new(
            "PORTCULLIS_KEY_ROTATION_PREPUBLISH_SECS",
            format!(
                "must be at least PORTCULLIS_KEY_REFRESH_SECS ({refresh}), so that every instance \
                 publishes a new key before any signs with it"
            ),
        ));
    }
    let max_token_ttl: u64 = parse_num(
        "PORTCULLIS_MAX_TOKEN_TTL_SECS",
        raw.max_token_ttl_secs.clone(),
        86_400,
        60,
        366 * 86_400,
    )?;
    Ok(KeyRotation {
        prepublish: Duration::from_secs(prepublish),
        refresh_interval: Duration::from_secs(refresh),
        max_token_ttl: Duration::from_secs(max_token_ttl),
    })
}

fn read_file(path: &Path) -> Result<RawSettings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new("--config", format!("cannot read {}: {e}", path.display()))
    })?;
    toml::from_str(&text)
        .map_err(|e| ConfigError::new("--config", format!("{}: {}", path.display(), e.message())))
}

fn parse_issuer(raw: &str) -> Result<String, ConfigError> {
    const NAME: &str = "PORTCULLIS_ISSUER";
    let url = Url::parse(raw).map_err(|e| ConfigError::new(NAME, format!("not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ConfigError::new(
            NAME,
            "must be an http:// or https:// URL with a host",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(ConfigError::new(
            NAME,
            "must not have a query, fragment or user info (OpenID Connect Discovery §3)",
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// `PORTCULLIS_CLIENT_CACHE_SECS`: 0 to 3600 seconds, 5 by default.
fn client_cache_ttl(raw: Option<String>) -> Result<Duration, ConfigError> {
    parse_num("PORTCULLIS_CLIENT_CACHE_SECS", raw, 5, 0, 3600).map(Duration::from_secs)
}

fn parse_bool(name: &'static str, raw: Option<&str>, default: bool) -> Result<bool, ConfigError> {
    match raw.map(str::to_ascii_lowercase).as_deref() {
        None => Ok(default),
        Some("true" | "1" | "yes" | "on") => Ok(true),
        Some("false" | "0" | "no" | "off") => Ok(false),
        Some(other) => Err(ConfigError::new(
            name,
            format!("expected true or false, got {other:?}"),
        )),
    }
}

fn parse_num<T>(
    name: &'static str,
    raw: Option<String>,
    default: T,
    min: T,
    max: T,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let Some(raw) = raw else { return Ok(default) };
    let value: T = raw
        .trim()
        .parse()
        .map_err(|_| ConfigError::new(name, format!("expected a whole number, got {raw:?}")))?;
    if value < min || value > max {
        return Err(ConfigError::new(
            name,
            format!("must be between {min} and {max}, got {value}"),
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_are_the_embedded_set_up() {
        let c = Config::from_raw(RawSettings::default()).unwrap();
        assert_eq!(c.issuer, "http://127.0.0.1:8080");
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from("./data"));
        assert_eq!(c.database_url, "sqlite://./data/portcullis.db?mode=rwc");
        assert!(c.migrate_on_start);
    }

    #[test]
    fn environment_overrides_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.toml");
        std::fs::write(
            &file,
            "issuer = \"https://file.example\"\nlisten = \"127.0.0.1:9000\"\n",
        )
        .unwrap();
        let c = Config::load(
            Some(&file),
            &env(&[("PORTCULLIS_LISTEN", "127.0.0.1:9100")]),
        )
        .unwrap();
        assert_eq!(c.issuer, "https://file.example");
        assert_eq!(c.listen.port(), 9100);
    }

    #[test]
    fn data_dir_moves_the_default_database() {
        let c = Config::load(None, &env(&[("PORTCULLIS_DATA_DIR", "/srv/p")])).unwrap();
        assert_eq!(c.database_url, "sqlite:///srv/p/portcullis.db?mode=rwc");
    }

    #[test]
    fn bad_values_name_the_setting() {
        for (name, value) in [
            ("PORTCULLIS_LISTEN", "not-an-address"),
            ("PORTCULLIS_ISSUER", "ftp://x"),
            ("PORTCULLIS_ISSUER", "https://x.example/?q=1"),
            ("PORTCULLIS_DATABASE_URL", "mysql://x"),
            ("PORTCULLIS_MIGRATE_ON_START", "maybe"),
            ("PORTCULLIS_MAX_BODY_BYTES", "-1"),
            ("PORTCULLIS_LOG_FORMAT", "xml"),
        ] {
            let err = Config::load(None, &env(&[(name, value)])).unwrap_err();
            assert_eq!(err.setting, name, "{value}");
            let line = err.to_string();
            assert!(line.contains(name) && !line.contains('\n'), "{line}");
        }
    }

    const AUTH_VARIABLES: [&str; 8] = [
        "PORTCULLIS_SESSION_IDLE_SECS",
        "PORTCULLIS_SESSION_MAX_SECS",
        "PORTCULLIS_AUTH_CODE_TTL_SECS",
        "PORTCULLIS_PKCE_ALLOW_PLAIN",
        "PORTCULLIS_LOGIN_MAX_FAILURES",
        "PORTCULLIS_LOGIN_IP_MAX_FAILURES",
        "PORTCULLIS_LOGIN_FAILURE_WINDOW_SECS",
        "PORTCULLIS_LOGIN_LOCKOUT_SECS",
    ];

    #[test]
    fn documented_auth_variables_are_validated() {
        for name in AUTH_VARIABLES {
            let err = Config::load(None, &env(&[(name, "notanumber")]))
                .expect_err(&format!("{name}=notanumber was accepted"));
            assert_eq!(err.setting, name);
            let line = err.to_string();
            assert!(line.contains(name) && !line.contains('\n'), "{line}");
        }
    }

    #[test]
    fn documented_auth_variables_reach_the_config() {
        let c = Config::load(
            None,
            &env(&[
                ("PORTCULLIS_SESSION_IDLE_SECS", "600"),
                ("PORTCULLIS_SESSION_MAX_SECS", "7200"),
                ("PORTCULLIS_AUTH_CODE_TTL_SECS", "120"),
                ("PORTCULLIS_PKCE_ALLOW_PLAIN", "true"),
                ("PORTCULLIS_LOGIN_MAX_FAILURES", "7"),
                ("PORTCULLIS_LOGIN_IP_MAX_FAILURES", "70"),
                ("PORTCULLIS_LOGIN_FAILURE_WINDOW_SECS", "60"),
                ("PORTCULLIS_LOGIN_LOCKOUT_SECS", "30"),
            ]),
        )
        .unwrap();
        assert_eq!(
            c.auth,
            AuthSettings {
                session_idle: chrono::Duration::seconds(600),
                session_max: chrono::Duration::seconds(7200),
                code_ttl: chrono::Duration::seconds(120),
                pkce_allow_plain: true,
                login_max_failures: 7,
                login_ip_max_failures: 70,
                login_failure_window: chrono::Duration::seconds(60),
                login_lockout: chrono::Duration::seconds(30),
            }
        );
    }

    #[test]
    fn unknown_variables_are_refused_with_the_closest_name() {
        let err = Config::load(None, &env(&[("PORTCULLIS_ISUER", "https://x.example")]))
            .expect_err("PORTCULLIS_ISUER was accepted");
        assert_eq!(err.setting, "PORTCULLIS_ISUER");
        let line = err.to_string();
        assert!(line.contains("did you mean PORTCULLIS_ISSUER?"), "{line}");
        assert!(!line.contains('\n'), "{line}");
        let err = Config::load(None, &env(&[("PORTCULLIS_AUTH_CODE_TTL", "30")]))
            .expect_err("PORTCULLIS_AUTH_CODE_TTL was accepted");
        assert!(
            err.to_string().contains("PORTCULLIS_AUTH_CODE_TTL_SECS"),
            "{err}"
        );
    }

    #[test]
    fn variables_of_the_tools_and_other_programs_are_not_settings() {
        Config::load(
            None,
            &env(&[
                ("PORTCULLIS_TEST_POSTGRES_URL", "postgres://x"),
                ("PORTCULLIS_TEST_ANYTHING", "x"),
                ("PORTCULLIS_CACHE_DIR", "/var/cache/portcullis"),
                ("PORTCULLIS_KMS_PORT", "5599"),
                ("HOME", "/root"),
                ("RUST_LOG", "debug"),
            ]),
        )
        .unwrap();
    }

    #[test]
    fn unknown_file_keys_name_the_closest_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.toml");
        std::fs::write(&file, "isuer = \"https://typo.example\"\n").unwrap();
        let err = Config::load(Some(&file), &HashMap::new()).unwrap_err();
        let line = err.to_string();
        assert!(line.contains("isuer") && line.contains("did you mean issuer?"), "{line}");
        assert!(!line.contains('\n'), "{line}");
    }

    #[test]
    fn the_file_takes_numbers_and_booleans() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.toml");
        std::fs::write(
            &file,
            "max_body_bytes = 65536\nmigrate_on_start = false\npkce_allow_plain = true\n\
             auth_code_ttl_secs = 30\nrequest_timeout_secs = \"45\"\nallow_http_redirect_uris = \"yes\"\n",
        )
        .unwrap();
        let c = Config::load(Some(&file), &HashMap::new()).unwrap();
        assert_eq!(c.max_body_bytes, 65536);
        assert!(!c.migrate_on_start);
        assert!(c.auth.pkce_allow_plain);
        assert_eq!(c.auth.code_ttl, chrono::Duration::seconds(30));
        assert_eq!(c.request_timeout, Duration::from_secs(45));
        assert!(c.allow_http_redirect_uris);
        for (text, key) in [
            ("max_body_bytes = 1.5\n", "max_body_bytes"),
            ("migrate_on_start = 1\n", "migrate_on_start"),
            ("issuer = true\n", "issuer"),
            ("max_body_bytes = 10\n", "PORTCULLIS_MAX_BODY_BYTES"),
        ] {
            std::fs::write(&file, text).unwrap();
            let err = Config::load(Some(&file), &HashMap::new()).unwrap_err();
            assert!(err.to_string().contains(key), "{text}: {err}");
        }
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.toml");
        std::fs::write(&file, "isuer = \"https://typo.example\"\n").unwrap();
        let err = Config::load(Some(&file), &HashMap::new()).unwrap_err();
        assert_eq!(err.setting, "--config");
    }

    #[test]
    fn events_default_to_files_under_the_data_dir() {
        let c = Config::load(None, &env(&[("PORTCULLIS_DATA_DIR", "/srv/p")])).unwrap();
        match c.events {
            EventConfig::Files { dir } => assert_eq!(dir, PathBuf::from("/srv/p/events")),
            EventConfig::ClickHouse(_) => panic!("files expected"),
        }
        assert_eq!(c.event_pipeline.batch_size, 1000);
        assert_eq!(c.event_pipeline.queue_capacity, 10_000);
    }

    #[test]
    fn clickhouse_settings_select_clickhouse() {
        let c = Config::load(
            None,
            &env(&[
                ("PORTCULLIS_DATA_DIR", "/srv/p"),
                ("PORTCULLIS_CLICKHOUSE_URL", "http://ch.internal:8123/"),
                ("PORTCULLIS_CLICKHOUSE_USER", "portcullis"),
                ("PORTCULLIS_CLICKHOUSE_PASSWORD", "s3cret-pw"),
                ("PORTCULLIS_EVENTS_TTL_DAYS", "30"),
                ("PORTCULLIS_EVENTS_BATCH_SIZE", "500"),
            ]),
        )
        .unwrap();
        let EventConfig::ClickHouse(ch) = &c.events else {
            panic!("clickhouse expected")
        };
        assert_eq!(ch.url, "http://ch.internal:8123");
        assert_eq!(ch.database, "portcullis");
        assert_eq!(ch.user.as_deref(), Some("portcullis"));
        assert_eq!(ch.ttl_days, 30);
        assert_eq!(ch.spool_dir, PathBuf::from("/srv/p/spool"));
        assert_eq!(c.event_pipeline.batch_size, 500);
        let debug = format!("{c:?}");
        assert!(!debug.contains("s3cret-pw"), "{debug}");
    }

    #[test]
    fn raw_settings_debug_redacts_passwords() {
        let raw = RawSettings {
            clickhouse_password: Some("s3cret-pw".into()),
            clickhouse_user: Some("u".into()),
            ..RawSettings::default()
        };
        let debug = format!("{raw:?}");
        assert!(!debug.contains("s3cret-pw"), "{debug}");
        assert!(debug.contains("PORTCULLIS_CLICKHOUSE_USER"), "{debug}");
    }

    #[test]
    fn bad_event_settings_name_the_setting() {
        for (pairs, name) in [
            (
                vec![("PORTCULLIS_CLICKHOUSE_URL", "tcp://x:9000")],
                "PORTCULLIS_CLICKHOUSE_URL",
            ),
            (
                vec![("PORTCULLIS_CLICKHOUSE_URL", "http://u:p@x:8123")],
                "PORTCULLIS_CLICKHOUSE_URL",
            ),
            (
                vec![
                    ("PORTCULLIS_CLICKHOUSE_URL", "http://x:8123"),
                    ("PORTCULLIS_CLICKHOUSE_DATABASE", "a; DROP"),
                ],
                "PORTCULLIS_CLICKHOUSE_DATABASE",
            ),
            (
                vec![("PORTCULLIS_CLICKHOUSE_USER", "u")],
                "PORTCULLIS_CLICKHOUSE_USER",
            ),
            (
                vec![("PORTCULLIS_EVENTS_QUEUE_CAPACITY", "0")],
                "PORTCULLIS_EVENTS_QUEUE_CAPACITY",
            ),
            (
                vec![("PORTCULLIS_EVENTS_FLUSH_INTERVAL_MS", "soon")],
                "PORTCULLIS_EVENTS_FLUSH_INTERVAL_MS",
            ),
            (
                vec![
                    ("PORTCULLIS_CLICKHOUSE_URL", "http://x:8123"),
                    ("PORTCULLIS_EVENTS_TTL_DAYS", "-3"),
                ],
                "PORTCULLIS_EVENTS_TTL_DAYS",
            ),
        ] {
            let err = Config::load(None, &env(&pairs)).unwrap_err();
            assert_eq!(err.setting, name, "{pairs:?}");
        }
    }

    #[test]
    fn issuer_trailing_slash_is_dropped() {
        let c = Config::load(None, &env(&[("PORTCULLIS_ISSUER", "https://id.example/")])).unwrap();
        assert_eq!(c.issuer, "https://id.example");
        assert!(c.issuer_is_https());
    }

    #[test]
    fn keys_default_to_local_with_a_day_of_prepublication() {
        let c = Config::from_raw(RawSettings::default()).unwrap();
        assert_eq!(c.keys, KeyConfig::Local);
        assert_eq!(c.key_rotation.prepublish, Duration::from_hours(24));
        assert_eq!(c.key_rotation.refresh_interval, Duration::from_secs(30));
        assert_eq!(c.key_rotation.max_token_ttl, Duration::from_hours(24));
        assert_eq!(c.key_rotation.jwks_max_age(), Duration::from_mins(5));
    }

    #[test]
    fn kms_modes_take_their_key_ids() {
        let c = Config::load(
            None,
            &env(&[
                ("PORTCULLIS_KMS_MODE", "direct"),
                ("PORTCULLIS_KMS_KEY_ID_ES256", "alias/es"),
                ("PORTCULLIS_KMS_KEY_ID_RS256", "alias/rs"),
            ]),
        )
        .unwrap();
        assert_eq!(
            c.keys,
            KeyConfig::KmsDirect {
                es256_key_id: "alias/es".into(),
                rs256_key_id: "alias/rs".into()
            }
        );
        let c = Config::load(
            None,
            &env(&[
                ("PORTCULLIS_KMS_MODE", "envelope"),
                ("PORTCULLIS_KMS_WRAPPING_KEY_ID", "alias/wrap"),
            ]),
        )
        .unwrap();
        assert_eq!(
            c.keys,
            KeyConfig::KmsEnvelope {
                wrapping_key_id: "alias/wrap".into()
            }
        );
    }

    #[test]
    fn bad_key_settings_name_the_setting() {
        for (pairs, name) in [
            (vec![("PORTCULLIS_KMS_MODE", "hsm")], "PORTCULLIS_KMS_MODE"),
            (
                vec![
                    ("PORTCULLIS_KMS_MODE", "direct"),
                    ("PORTCULLIS_KMS_KEY_ID_ES256", "k"),
                ],
                "PORTCULLIS_KMS_KEY_ID_RS256",
            ),
            (
                vec![("PORTCULLIS_KMS_MODE", "envelope")],
                "PORTCULLIS_KMS_WRAPPING_KEY_ID",
            ),
            (
                vec![("PORTCULLIS_KMS_WRAPPING_KEY_ID", "k")],
                "PORTCULLIS_KMS_WRAPPING_KEY_ID",
            ),
            (
                vec![
                    ("PORTCULLIS_KMS_MODE", "envelope"),
                    ("PORTCULLIS_KMS_WRAPPING_KEY_ID", "k"),
                    ("PORTCULLIS_KMS_KEY_ID_ES256", "k"),
                ],
                "PORTCULLIS_KMS_KEY_ID_ES256",
            ),
            (
                vec![
                    ("PORTCULLIS_KEY_REFRESH_SECS", "60"),
                    ("PORTCULLIS_KEY_ROTATION_PREPUBLISH_SECS", "30"),
                ],
                "PORTCULLIS_KEY_ROTATION_PREPUBLISH_SECS",
            ),
            (
                vec![("PORTCULLIS_KEY_REFRESH_SECS", "0")],
                "PORTCULLIS_KEY_REFRESH_SECS",
            ),
            (
                vec![("PORTCULLIS_MAX_TOKEN_TTL_SECS", "ten")],
                "PORTCULLIS_MAX_TOKEN_TTL_SECS",
            ),
        ] {
            let err = Config::load(None, &env(&pairs)).unwrap_err();
            assert_eq!(err.setting, name, "{pairs:?}");
            assert!(!err.to_string().contains('\n'));
        }
    }

    #[test]
    fn hardening_defaults_limit_gently_and_trust_no_proxy() {
        let c = Config::from_raw(RawSettings::default()).unwrap();
        assert_eq!(c.rate_limits, RateLimits::DEFAULT);
        assert!(c.trusted_proxies.is_empty());
        assert_eq!(c.cors_allowed_origins, CorsOrigins::None);
    }

    #[test]
    fn hardening_settings_are_read_from_the_environment() {
        let c = Config::load(
            None,
            &env(&[
                ("PORTCULLIS_RATE_LIMIT_TOKEN_PER_MIN", "0"),
                ("PORTCULLIS_RATE_LIMIT_AUTHORIZE_PER_MIN", "120"),
                ("PORTCULLIS_RATE_LIMIT_LOGIN_PER_MIN", "10"),
                ("PORTCULLIS_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.7,::1"),
                (
                    "PORTCULLIS_CORS_ALLOWED_ORIGINS",
                    "https://App.Example:443/, http://localhost:3000",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(
            c.rate_limits,
            RateLimits {
                token_per_min: 0,
                authorize_per_min: 120,
                login_per_min: 10
            }
        );
        for ip in ["10.1.2.3", "192.168.1.7", "::1", "::ffff:10.9.9.9"] {
            assert!(c.trusted_proxies.contains(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["11.0.0.1", "192.168.1.8", "::2"] {
            assert!(!c.trusted_proxies.contains(ip.parse().unwrap()), "{ip}");
        }
        assert_eq!(
            c.cors_allowed_origins,
            CorsOrigins::List(vec![
                "https://app.example".into(),
                "http://localhost:3000".into()
            ])
        );
        let any = Config::load(None, &env(&[("PORTCULLIS_CORS_ALLOWED_ORIGINS", "*")])).unwrap();
        assert_eq!(any.cors_allowed_origins, CorsOrigins::Any);
    }

    #[test]
    fn bad_hardening_settings_name_the_setting() {
        for (name, value) in [
            ("PORTCULLIS_RATE_LIMIT_TOKEN_PER_MIN", "-5"),
            ("PORTCULLIS_RATE_LIMIT_LOGIN_PER_MIN", "lots"),
            ("PORTCULLIS_TRUSTED_PROXIES", "10.0.0.0/33"),
            ("PORTCULLIS_TRUSTED_PROXIES", "proxy.internal"),
            (
                "PORTCULLIS_CORS_ALLOWED_ORIGINS",
                "https://app.example/path",
            ),
            ("PORTCULLIS_CORS_ALLOWED_ORIGINS", "app.example"),
            ("PORTCULLIS_CORS_ALLOWED_ORIGINS", "ftp://app.example"),
            ("PORTCULLIS_CORS_ALLOWED_ORIGINS", "*,https://app.example"),
        ] {
            let err = Config::load(None, &env(&[(name, value)])).unwrap_err();
            assert_eq!(err.setting, name, "{value}");
            assert!(!err.to_string().contains('\n'));
        }
    }

    #[test]
    fn jwks_max_age_leaves_time_to_see_the_next_key() {
        let r = KeyRotation {
            prepublish: Duration::from_mins(2),
            refresh_interval: Duration::from_secs(30),
            max_token_ttl: Duration::from_mins(10),
        };
        assert_eq!(r.jwks_max_age(), Duration::from_secs(45));
    }
}
