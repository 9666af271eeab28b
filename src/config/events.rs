//! Events: where they go (files or ClickHouse) and the queue in front.

use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use super::settings::setting as s;
use super::{ConfigError, RawSettings};

/// Where grant and consent events go (README, "Configuration"; docs/EVENTS.md).
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
    /// Retention drops a month only when every hour of it is archived
    /// (`PORTCULLIS_EVENTS_RETENTION_REQUIRES_ARCHIVE`).
    pub retention_requires_archive: bool,
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
/// Reads the event store: files under `data_dir`, or ClickHouse when
/// `PORTCULLIS_CLICKHOUSE_URL` is set.
pub(super) fn parse_event_config(
    raw: &RawSettings,
    data_dir: &Path,
) -> Result<EventConfig, ConfigError> {
    let Some(url) = raw
        .text(&s::CLICKHOUSE_URL)
        .filter(|u| !u.trim().is_empty())
    else {
        for setting in [
            s::CLICKHOUSE_USER,
            s::CLICKHOUSE_PASSWORD,
            s::CLICKHOUSE_DATABASE,
        ] {
            if raw.is_set(&setting) {
                return Err(ConfigError::new(
                    setting.env,
                    "is set but PORTCULLIS_CLICKHOUSE_URL is not",
                ));
            }
        }
        return Ok(EventConfig::Files {
            dir: data_dir.join("events"),
        });
    };
    let url_error = |reason: &str| ConfigError::new(s::CLICKHOUSE_URL.env, reason);
    let parsed = Url::parse(url.trim())
        .map_err(|e| ConfigError::new(s::CLICKHOUSE_URL.env, format!("not a URL ({e})")))?;
    if parsed.scheme() != "http" || parsed.host_str().is_none() {
        return Err(url_error(
            "expected http://HOST:PORT (the HTTP interface; https is not built in: \
             put a TLS proxy in front or use a private network)",
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(url_error(
            "must not carry credentials: use PORTCULLIS_CLICKHOUSE_USER and _PASSWORD",
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(url_error("must not have a query or fragment"));
    }
    let database = raw
        .text(&s::CLICKHOUSE_DATABASE)
        .unwrap_or("portcullis")
        .to_owned();
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
            s::CLICKHOUSE_DATABASE.env,
            "expected a plain identifier: letters, digits and _ (at most 64)",
        ));
    }
    let user = raw
        .text(&s::CLICKHOUSE_USER)
        .filter(|u| !u.is_empty())
        .map(str::to_owned);
    if user
        .as_deref()
        .is_some_and(|u| u.chars().any(char::is_control))
    {
        return Err(ConfigError::new(
            s::CLICKHOUSE_USER.env,
            "must not contain control characters",
        ));
    }
    Ok(EventConfig::ClickHouse(ClickHouseConfig {
        url: parsed.as_str().trim_end_matches('/').to_owned(),
        user,
        password: raw
            .text(&s::CLICKHOUSE_PASSWORD)
            .filter(|p| !p.is_empty())
            .map(|p| SecretString::from(p.to_owned())),
        database,
        spool_dir: data_dir.join("spool"),
        ttl_days: raw.number(&s::EVENTS_TTL_DAYS)?,
        timeout: Duration::from_millis(raw.number(&s::CLICKHOUSE_TIMEOUT_MS)?),
        retry_max: Duration::from_secs(30),
        retention_requires_archive: raw.flag(&s::EVENTS_RETENTION_REQUIRES_ARCHIVE)?,
    }))
}

/// Reads the queue and batching settings.
pub(super) fn parse_event_pipeline(raw: &RawSettings) -> Result<EventPipeline, ConfigError> {
    Ok(EventPipeline {
        batch_size: raw.number(&s::EVENTS_BATCH_SIZE)?,
        flush_interval: Duration::from_millis(raw.number(&s::EVENTS_FLUSH_INTERVAL_MS)?),
        queue_capacity: raw.number(&s::EVENTS_QUEUE_CAPACITY)?,
    })
}

/// The event archive on S3 (docs/EVENTS.md, "Archive").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveConfig {
    /// The bucket.
    pub bucket: String,
    /// Key prefix, without leading or trailing `/` (may be empty).
    pub prefix: String,
    /// How often `serve` archives closed hours; zero: never.
    pub interval: Duration,
}

/// Whether `name` follows the S3 bucket naming rules (3 to 63 lowercase
/// letters, digits, `.` and `-`, starting and ending with a letter or
/// digit).
fn is_bucket_name(name: &str) -> bool {
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    (3..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && edge(name.chars().next())
        && edge(name.chars().last())
}

/// Reads the archive settings: `None` without a bucket (then neither the
/// periodic archive nor retention's wait for it may be asked for).
pub(super) fn parse_archive(raw: &RawSettings) -> Result<Option<ArchiveConfig>, ConfigError> {
    let interval = Duration::from_secs(raw.number(&s::ARCHIVE_INTERVAL_SECS)?);
    let waits = raw.flag(&s::EVENTS_RETENTION_REQUIRES_ARCHIVE)?;
    let Some(bucket) = raw
        .text(&s::ARCHIVE_S3_BUCKET)
        .map(str::trim)
        .filter(|b| !b.is_empty())
    else {
        for (on, setting) in [
            (!interval.is_zero(), s::ARCHIVE_INTERVAL_SECS),
            (waits, s::EVENTS_RETENTION_REQUIRES_ARCHIVE),
        ] {
            if on {
                return Err(ConfigError::new(
                    setting.env,
                    "is set but PORTCULLIS_ARCHIVE_S3_BUCKET is not",
                ));
            }
        }
        return Ok(None);
    };
    if !is_bucket_name(bucket) {
        return Err(ConfigError::new(
            s::ARCHIVE_S3_BUCKET.env,
            "expected an S3 bucket name: 3 to 63 lowercase letters, digits, . and -",
        ));
    }
    let prefix = raw.text(&s::ARCHIVE_S3_PREFIX).unwrap_or_default();
    if prefix.starts_with('/')
        || prefix.ends_with('/')
        || prefix.contains("//")
        || prefix.len() > 512
        || prefix.chars().any(char::is_control)
    {
        return Err(ConfigError::new(
            s::ARCHIVE_S3_PREFIX.env,
            "expected a key prefix without leading or trailing / (at most 512 bytes)",
        ));
    }
    Ok(Some(ArchiveConfig {
        bucket: bucket.to_owned(),
        prefix: prefix.to_owned(),
        interval,
    }))
}

/// Security alerts (docs/EVENTS.md, "Security alerts").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertConfig {
    /// `PORTCULLIS_ALERTS_SQS_QUEUE_URL`: the SQS queue; `None`: no alerts.
    pub sqs_queue_url: Option<String>,
    /// `PORTCULLIS_ALERTS_AUDIENCE`: the SETs' `aud`, if any.
    pub audience: Option<String>,
}

/// Reads the alert settings: the queue URL must be an `https://` (or, for
/// an emulator, `http://`) URL with a host.
pub(super) fn parse_alerts(raw: &RawSettings) -> Result<AlertConfig, ConfigError> {
    let text = |setting| {
        raw.text(setting)
            .map(str::trim)
            .filter(|v: &&str| !v.is_empty())
            .map(str::to_owned)
    };
    let audience = text(&s::ALERTS_AUDIENCE);
    let Some(url) = text(&s::ALERTS_SQS_QUEUE_URL) else {
        if audience.is_some() {
            return Err(ConfigError::new(
                s::ALERTS_AUDIENCE.env,
                "is set but PORTCULLIS_ALERTS_SQS_QUEUE_URL is not",
            ));
        }
        return Ok(AlertConfig::default());
    };
    let ok = Url::parse(&url)
        .is_ok_and(|u| matches!(u.scheme(), "https" | "http") && u.host_str().is_some());
    if !ok {
        return Err(ConfigError::new(
            s::ALERTS_SQS_QUEUE_URL.env,
            "expected the queue URL, https://sqs.REGION.amazonaws.com/ACCOUNT/NAME",
        ));
    }
    Ok(AlertConfig {
        sqs_queue_url: Some(url),
        audience,
    })
}
