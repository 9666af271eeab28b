//! Configuration: defaults, then an optional TOML file (`--config FILE` or
//! `./portcullis.toml`), then `PORTCULLIS_*` environment variables, merged
//! into a flat [`RawSettings`] and validated into a typed [`Config`].
//!
//! Every setting is one row of the table in [`settings`] (environment name,
//! TOML key, default, parser, one-line doc); that table drives the
//! environment mapping, the TOML keys, the checks of numbers and booleans
//! and README's configuration table. The sections that turn settings into
//! types live beside it: [`auth`] (sessions, sign-in, tokens), [`keys`]
//! (signing keys and rotation), [`events`] (event store and queue) and
//! [`http`] (rate limits, proxies, CORS) and [`registration`] (dynamic
//! client registration).
//!
//! The environment is passed in as a map (`env::set_var` is `unsafe` in
//! edition 2024, and tests need their own environments).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use url::Url;

pub mod auth;
pub mod events;
pub mod http;
pub mod keys;
pub mod mfa;
pub mod par;
pub mod registration;
pub mod self_service;
pub mod settings;
#[cfg(test)]
mod tests;

pub use auth::{AuthSettings, TokenConfig};
pub use events::{AlertConfig, ArchiveConfig, ClickHouseConfig, EventConfig, EventPipeline};
pub use http::{ConnectionLimits, CorsOrigins, OutboundConfig, RateLimits, TrustedProxies};
pub use keys::{KeyConfig, KeyRotation, MasterKeySource};
pub use mfa::MfaConfig;
pub use par::ParConfig;
pub use registration::{RegistrationConfig, RegistrationMode};
pub use self_service::{MailTransport, SelfServiceConfig, SignupMode};
pub use settings::{
    DefaultValue, NOT_SETTINGS, Parser, RawSettings, SETTINGS, Setting, markdown_table, setting,
};

use settings::setting as s;

/// A setting that failed validation. Prints as one line naming the setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {setting}: {reason}")]
pub struct ConfigError {
    /// The environment name of the setting (its public name), or
    /// `--config` for the file itself.
    pub setting: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ConfigError {
    fn new(setting: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            setting: setting.into(),
            reason: reason.into(),
        }
    }
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line (production).
    Json,
    /// Human-readable.
    Pretty,
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
    /// Run pending migrations when `serve` or an operator command starts;
    /// when false they refuse a database whose schema is behind.
    pub migrate_on_start: bool,
    /// Log format.
    pub log_format: LogFormat,
    /// Tracing filter.
    pub log_filter: String,
    /// One `info` line per request (`PORTCULLIS_ACCESS_LOG`).
    pub access_log: bool,
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
    /// Where the master key of local keys comes from.
    pub master_key: MasterKeySource,
    /// `PORTCULLIS_SESSION_KEY_FILE`: the session key's file, given; `None`
    /// means `<data dir>/session.key`, created on first start.
    pub session_key_file: Option<PathBuf>,
    /// Token lifetimes and formats.
    pub tokens: TokenConfig,
    /// Where events go.
    pub events: EventConfig,
    /// Security alerts to SQS.
    pub alerts: AlertConfig,
    /// Queue and batching of events.
    pub event_pipeline: EventPipeline,
    /// The event archive on S3; `None`: no archive.
    pub archive: Option<ArchiveConfig>,
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
    /// How often `serve` purges dead rows (`PORTCULLIS_PURGE_INTERVAL_SECS`;
    /// zero: never).
    pub purge_interval: Duration,
    /// Rows per purge statement (`PORTCULLIS_PURGE_BATCH_SIZE`).
    pub purge_batch_size: u64,
    /// Limits on the public listener's connections.
    pub connections: ConnectionLimits,
    /// The outbound client's rules (a client's `jwks_uri`, ...).
    pub outbound: OutboundConfig,
    /// Address of the management listener (`/metrics`); `None`: off.
    pub management_listen: Option<SocketAddr>,
    /// Dynamic client registration (RFC 7591): off, token or open.
    pub registration: RegistrationConfig,
    /// Mail and the end users' self-service pages (issue 16).
    pub self_service: SelfServiceConfig,
    /// TOTP and WebAuthn (issue 17).
    pub mfa: MfaConfig,
    /// Pushed authorization requests and request objects (RFC 9126, RFC
    /// 9101).
    pub par: ParConfig,
}

impl Config {
    /// Loads the configuration: defaults, then `file` (or `./portcullis.toml`
    /// when it exists), then the `PORTCULLIS_*` entries of `env`. An unknown
    /// key in the file or an unknown `PORTCULLIS_*` variable (other than
    /// those in [`NOT_SETTINGS`]) is an error.
    pub fn load(file: Option<&Path>, env: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let mut raw = match file {
            Some(path) => read_file(path)?,
            None if Path::new("portcullis.toml").exists() => {
                read_file(Path::new("portcullis.toml"))?
            }
            None => RawSettings::default(),
        };
        raw.merge_env(env)?;
        Self::from_raw(raw)
    }

    /// Validates merged settings.
    #[allow(clippy::needless_pass_by_value)] // callers build one for this call
    pub fn from_raw(raw: RawSettings) -> Result<Self, ConfigError> {
        let auth = auth::parse_auth_settings(&raw)?;
        let (rate_limits, trusted_proxies, cors_allowed_origins) = http::parse_hardening(&raw)?;
        let (connections, outbound, management_listen) = http::parse_network(&raw)?;
        let (keys, key_rotation, master_key) = keys::parse_keys(&raw)?;
        let tokens = auth::parse_token_config(&raw, &key_rotation)?;
        let issuer = parse_issuer(raw.text(&s::ISSUER).unwrap_or_default())?;
        let listen = raw
            .text(&s::LISTEN)
            .unwrap_or_default()
            .parse::<SocketAddr>()
            .map_err(|e| {
                ConfigError::new(
                    s::LISTEN.env,
                    format!("expected HOST:PORT such as 127.0.0.1:8080 ({e})"),
                )
            })?;
        let data_dir = PathBuf::from(raw.text(&s::DATA_DIR).unwrap_or_default());
        if data_dir.as_os_str().is_empty() {
            return Err(ConfigError::new(s::DATA_DIR.env, "must not be empty"));
        }
        let events = events::parse_event_config(&raw, &data_dir)?;
        let event_pipeline = events::parse_event_pipeline(&raw)?;
        let archive = events::parse_archive(&raw)?;
        let alerts = events::parse_alerts(&raw)?;
        let database_url = match raw.text(&s::DATABASE_URL) {
            Some(url) => {
                let ok = ["sqlite:", "postgres://", "postgresql://"]
                    .iter()
                    .any(|p| url.starts_with(p));
                if !ok {
                    return Err(ConfigError::new(
                        s::DATABASE_URL.env,
                        "expected sqlite://PATH or postgres://USER@HOST:PORT/DB",
                    ));
                }
                url.to_owned()
            }
            None => format!("sqlite://{}/portcullis.db?mode=rwc", data_dir.display()),
        };
        let log_format = match raw.text(&s::LOG_FORMAT).unwrap_or_default() {
            "json" => LogFormat::Json,
            "pretty" => LogFormat::Pretty,
            other => {
                return Err(ConfigError::new(
                    s::LOG_FORMAT.env,
                    format!("expected json or pretty, got {other:?}"),
                ));
            }
        };
        let self_service = self_service::parse_self_service(&raw, &issuer, &data_dir)?;
        let mfa = mfa::parse_mfa(&raw, &issuer)?;
        Ok(Self {
            mfa,
            issuer,
            listen,
            database_url,
            data_dir,
            migrate_on_start: raw.flag(&s::MIGRATE_ON_START)?,
            log_format,
            log_filter: raw.text(&s::LOG).unwrap_or_default().to_owned(),
            access_log: raw.flag(&s::ACCESS_LOG)?,
            max_body_bytes: raw.number(&s::MAX_BODY_BYTES)?,
            request_timeout: Duration::from_secs(raw.number(&s::REQUEST_TIMEOUT_SECS)?),
            shutdown_grace: Duration::from_secs(raw.number(&s::SHUTDOWN_GRACE_SECS)?),
            password_hash_concurrency: raw
                .opt_number(&s::PASSWORD_HASH_CONCURRENCY)?
                .unwrap_or_else(default_hash_concurrency),
            allow_http_redirect_uris: raw.flag(&s::ALLOW_HTTP_REDIRECT_URIS)?,
            auth,
            keys,
            key_rotation,
            master_key,
            session_key_file: match raw.text(&s::SESSION_KEY_FILE).map(str::trim) {
                None => None,
                Some("") => {
                    return Err(ConfigError::new(
                        s::SESSION_KEY_FILE.env,
                        "is set but empty; unset it to keep the key under the data directory",
                    ));
                }
                Some(path) => Some(PathBuf::from(path)),
            },
            tokens,
            events,
            alerts,
            event_pipeline,
            archive,
            rate_limits,
            trusted_proxies,
            cors_allowed_origins,
            client_cache_ttl: Duration::from_secs(raw.number(&s::CLIENT_CACHE_SECS)?),
            purge_interval: Duration::from_secs(raw.number(&s::PURGE_INTERVAL_SECS)?),
            purge_batch_size: raw.number(&s::PURGE_BATCH_SIZE)?,
            connections,
            outbound,
            management_listen,
            registration: registration::parse_registration(&raw)?,
            self_service,
            par: par::parse_par(&raw)?,
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

fn default_hash_concurrency() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
}

fn read_file(path: &Path) -> Result<RawSettings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new("--config", format!("cannot read {}: {e}", path.display()))
    })?;
    RawSettings::from_toml(&text, path)
}

fn parse_issuer(raw: &str) -> Result<String, ConfigError> {
    let name = s::ISSUER.env;
    let url = Url::parse(raw).map_err(|e| ConfigError::new(name, format!("not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ConfigError::new(
            name,
            "must be an http:// or https:// URL with a host",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(ConfigError::new(
            name,
            "must not have a query, fragment or user info (OpenID Connect Discovery §3)",
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}
