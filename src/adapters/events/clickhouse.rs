//! [`EventSink`] writing to ClickHouse (the `clickhouse` crate, RowBinary
//! inserts over HTTP), with the durable [`Spool`] behind it.
//!
//! Tested against ClickHouse 18.16 (Debian's package); what that release
//! needs shapes this adapter:
//!
//! - `with_validation(false)`: validation uses `RowBinaryWithNamesAndTypes`
//!   and `DESCRIBE` settings that 18.16 refuses;
//! - `Compression::None` (LZ4 framing was not verified against 18.16);
//! - a hyper connector with `TCP_NODELAY`: without it small inserts stall
//!   ~40 ms (Nagle and delayed ACK);
//! - no `DateTime64`: `occurred_at DateTime` plus `occurred_at_ms Int64`;
//! - no `LowCardinality` (experimental there): plain `String`s;
//! - no `insert_deduplication_token`: a retried batch is resent unchanged
//!   into a `ReplacingMergeTree` keyed by `event_id`, and every read uses
//!   `FINAL`;
//! - no table `TTL` (added in 19.6): on older servers retention drops whole
//!   monthly partitions once all their days are past the TTL.
//!
//! Delivery: the writer task inserts a batch; if ClickHouse is down, slow
//! (longer than the timeout) or refuses the batch, the batch goes to the
//! spool and the task backs off (250 ms doubling up to `retry_max`). While
//! the spool holds anything, new batches go behind it, and the task replays
//! it oldest segment first, one `INSERT` per segment, deleting a segment
//! only once ClickHouse acknowledged it. A restart replays what a previous
//! run left. The schema step runs again after every failure, so a table
//! that was dropped comes back.
//!
//! [`ClickHouseEventReader`] reads the table back for `portcullis events`.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use clickhouse::{Client, Compression, Row};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use uuid::Uuid;

use super::spool::{Spool, SpoolError};
use super::{Counters, Destination, Queue};
use crate::config::{ClickHouseConfig, EventPipeline};
use crate::domain::event::{Event, EventKind, EventParts, Outcome};
use crate::ports::events::ClientCounts;
use crate::ports::{ArchiveError, ArchivedHours};
use crate::ports::{
    Clock, EventError, EventFollower, EventQuery, EventReadError, EventReader, EventSink,
    EventStats, SinkStats,
};

/// The table, in the configured database.
pub const TABLE: &str = "events";
/// How often retention runs.
const RETENTION_EVERY: Duration = Duration::from_hours(1);
/// First pause after a failure; doubles up to `retry_max`.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// Most rows a follower reads per poll.
const FOLLOW_LIMIT: u64 = 1_000_000;
/// How long a follower remembers the ids it returned (a batch retried
/// within this time is not returned twice).
const KEEP_SEEN_SECS: u32 = 600;

/// Why the sink could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClickHouseSinkError {
    /// The spool could not be opened.
    #[error(transparent)]
    Spool(#[from] SpoolError),
}

/// A ClickHouse client for `config`: HTTP/1 with `TCP_NODELAY`, no
/// validation, no compression (see the module notes).
pub fn client(config: &ClickHouseConfig) -> Client {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_keepalive(Some(Duration::from_mins(1)));
    connector.set_connect_timeout(Some(config.timeout.min(Duration::from_secs(5))));
    let http = HyperClient::builder(TokioExecutor::new())
        // Below the server's keep_alive_timeout (3 s by default).
        .pool_idle_timeout(Duration::from_secs(2))
        .build(connector);
    let mut client = Client::with_http_client(http)
        .with_url(config.url.clone())
        .with_validation(false)
        .with_compression(Compression::None);
    if let Some(user) = &config.user {
        client = client.with_user(user.clone());
    }
    if let Some(password) = &config.password {
        client = client.with_password(password.expose_secret().to_owned());
    }
    client
}

/// `` `database`.`events` `` (the database is a checked identifier).
pub fn qualified_table(database: &str) -> String {
    format!("`{database}`.`{TABLE}`")
}

/// The server's `(major, minor)` version.
pub async fn server_version(client: &Client) -> clickhouse::error::Result<(u32, u32)> {
    let v: String = client.query("SELECT version()").fetch_one().await?;
    let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    Ok((parts.next().unwrap_or(0), parts.next().unwrap_or(0)))
}

/// Whether the server supports table `TTL` (ClickHouse 19.6 and later).
pub fn supports_ttl(version: (u32, u32)) -> bool {
    version >= (19, 6)
}

/// The `CREATE TABLE` statement (docs/EVENTS.md explains each column).
pub fn create_table_sql(database: &str, ttl_days: u32, version: (u32, u32)) -> String {
    let ttl = if ttl_days > 0 && supports_ttl(version) {
        format!("TTL occurred_at + INTERVAL {ttl_days} DAY\n")
    } else {
        String::new()
    };
    format!(
        "CREATE TABLE IF NOT EXISTS {table} (
    event_id       UUID,
    occurred_at    DateTime('UTC'),
    occurred_at_ms Int64,
    kind           String,
    client_id      String,
    subject        String,
    session_id     String,
    scopes         Array(String),
    grant_type     String,
    outcome        String,
    error_code     String,
    ip             String,
    user_agent     String,
    request_id     String,
    detail_keys    Array(String),
    detail_values  Array(String),
    inserted_at    DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (toDate(occurred_at), kind, client_id, event_id)
{ttl}SETTINGS index_granularity = 8192",
        table = qualified_table(database)
    )
}

/// The idempotent schema step: creates the database and the table when
/// missing. Returns the server version.
pub async fn ensure_schema(
    client: &Client,
    database: &str,
    ttl_days: u32,
) -> clickhouse::error::Result<(u32, u32)> {
    let version = server_version(client).await?;
    client
        .query(&format!("CREATE DATABASE IF NOT EXISTS `{database}`"))
        .execute()
        .await?;
    client
        .query(&create_table_sql(database, ttl_days, version))
        .execute()
        .await?;
    Ok(version)
}

/// What one retention run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retention {
    /// The monthly partitions dropped.
    pub dropped: Vec<String>,
    /// Partitions past the TTL kept because an hour of theirs is not
    /// archived (with the hour), when retention waits for the archive.
    pub kept: Vec<(String, DateTime<Utc>)>,
}

/// Why a retention run stopped (nothing more is dropped in that run).
#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    /// ClickHouse failed.
    #[error(transparent)]
    ClickHouse(#[from] clickhouse::error::Error),
    /// The archive could not be asked.
    #[error("event archive: {0}")]
    Archive(#[from] ArchiveError),
}

/// Retention for servers without `TTL`: drops the monthly partitions whose
/// every day is more than `ttl_days` before `now`. With `archive`
/// (`PORTCULLIS_EVENTS_RETENTION_REQUIRES_ARCHIVE`), a partition is dropped
/// only when every hour it holds is archived with as many events as the
/// partition holds for that hour; otherwise it is kept (and listed in
/// [`Retention::kept`]), and an archive that cannot be asked stops the run.
pub async fn apply_retention(
    client: &Client,
    database: &str,
    ttl_days: u32,
    now: DateTime<Utc>,
    archive: Option<&dyn ArchivedHours>,
) -> Result<Retention, RetentionError> {
    let mut done = Retention::default();
    if ttl_days == 0 {
        return Ok(done);
    }
    let cutoff = (now - chrono::Duration::days(i64::from(ttl_days))).date_naive();
    let partitions: Vec<String> = client
        .query(
            "SELECT DISTINCT partition FROM system.parts \
             WHERE database = ? AND table = ? AND active ORDER BY partition",
        )
        .bind(database)
        .bind(TABLE)
        .fetch_all()
        .await?;
    for p in partitions {
        let Some(month_end) = partition_month_end(&p) else {
            continue;
        };
        if month_end >= cutoff {
            continue;
        }
        if let Some(archive) = archive
            && let Some(hour) = first_unarchived_hour(client, database, &p, now, archive).await?
        {
            done.kept.push((p, hour));
            continue;
        }
        client
            .query(&format!(
                "ALTER TABLE {} DROP PARTITION {}",
                qualified_table(database),
                p
            ))
            .execute()
            .await?;
        done.dropped.push(p);
    }
    Ok(done)
}

/// The first hour of partition `p` whose events the archive does not hold
/// (not archived, or archived with another count than the table's).
async fn first_unarchived_hour(
    client: &Client,
    database: &str,
    p: &str,
    now: DateTime<Utc>,
    archive: &dyn ArchivedHours,
) -> Result<Option<DateTime<Utc>>, RetentionError> {
    for (hour, count) in hour_counts(client, database, now, Some(p)).await? {
        if archive.archived_rows(hour).await? != Some(count) {
            return Ok(Some(hour));
        }
    }
    Ok(None)
}

/// The last day of a `toYYYYMM` partition such as `202411`.
fn partition_month_end(p: &str) -> Option<NaiveDate> {
    if p.len() != 6 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i32 = p[..4].parse().ok()?;
    let month: u32 = p[4..].parse().ok()?;
    NaiveDate::from_ymd_opt(year, month, 1)?;
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)?
    };
    next.pred_opt()
}

/// One row as inserted (borrowing from the [`Event`]).
#[derive(Row, Serialize)]
struct EventRowRef<'a> {
    #[serde(with = "clickhouse::serde::uuid")]
    event_id: Uuid,
    occurred_at: u32,
    occurred_at_ms: i64,
    kind: &'a str,
    client_id: &'a str,
    subject: &'a str,
    session_id: &'a str,
    scopes: &'a [String],
    grant_type: &'a str,
    outcome: &'a str,
    error_code: &'a str,
    ip: String,
    user_agent: &'a str,
    request_id: &'a str,
    detail_keys: Vec<&'a str>,
    detail_values: Vec<&'a str>,
}

impl<'a> EventRowRef<'a> {
    fn of(e: &'a Event) -> Self {
        let at = e.occurred_at();
        Self {
            event_id: e.event_id(),
            occurred_at: u32::try_from(at.timestamp()).unwrap_or(0),
            occurred_at_ms: at.timestamp_millis(),
            kind: e.kind().as_str(),
            client_id: e.client_id().unwrap_or(""),
            subject: e.subject_id().unwrap_or(""),
            session_id: e.session_id().unwrap_or(""),
            scopes: e.scope_list(),
            grant_type: e.grant_type_str().unwrap_or(""),
            outcome: e.outcome_value().as_str(),
            error_code: e.error_code().unwrap_or(""),
            ip: e.ip().map(|ip| ip.to_string()).unwrap_or_default(),
            user_agent: e.user_agent().unwrap_or(""),
            request_id: e.request_id().unwrap_or(""),
            detail_keys: e.detail_map().keys().map(String::as_str).collect(),
            detail_values: e.detail_map().values().map(String::as_str).collect(),
        }
    }
}

/// One row as read back.
#[derive(Debug, Row, Deserialize)]
struct EventRow {
    #[serde(with = "clickhouse::serde::uuid")]
    event_id: Uuid,
    occurred_at_ms: i64,
    kind: String,
    client_id: String,
    subject: String,
    session_id: String,
    scopes: Vec<String>,
    grant_type: String,
    outcome: String,
    error_code: String,
    ip: String,
    user_agent: String,
    request_id: String,
    detail_keys: Vec<String>,
    detail_values: Vec<String>,
    /// When ClickHouse received the row (`DateTime`: Unix seconds).
    inserted_at: u32,
}

fn opt(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

impl EventRow {
    fn into_event(self) -> Option<Event> {
        Some(Event::from_parts(EventParts {
            event_id: self.event_id,
            occurred_at: DateTime::from_timestamp_millis(self.occurred_at_ms)?,
            kind: self.kind.parse::<EventKind>().ok()?,
            client_id: opt(self.client_id),
            subject: opt(self.subject),
            session_id: opt(self.session_id),
            scopes: self.scopes,
            grant_type: opt(self.grant_type),
            outcome: self.outcome.parse::<Outcome>().unwrap_or(Outcome::Success),
            error_code: opt(self.error_code),
            ip: self.ip.parse().ok(),
            user_agent: opt(self.user_agent),
            request_id: opt(self.request_id),
            detail: self
                .detail_keys
                .into_iter()
                .zip(self.detail_values)
                .collect(),
        }))
    }
}

/// Inserts `events` in one `INSERT`, within `timeout`.
pub async fn insert(
    client: &Client,
    database: &str,
    events: &[Event],
    timeout: Duration,
) -> clickhouse::error::Result<()> {
    let work = async {
        let mut insert = client
            .insert_unescaped::<EventRowRef<'_>>(&qualified_table(database))
            .await?
            .with_timeouts(Some(timeout), Some(timeout));
        for e in events {
            insert.write(&EventRowRef::of(e)).await?;
        }
        insert.end().await
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(clickhouse::error::Error::TimedOut),
    }
}

/// The last `n` events (deduplicated), oldest first. Looks at the last
/// day first, then the last month, then everything, so that `FINAL` reads
/// only recent partitions when they hold enough.
pub async fn recent(
    client: &Client,
    database: &str,
    n: u64,
) -> clickhouse::error::Result<Vec<Event>> {
    let mut rows: Vec<EventRow> = Vec::new();
    for days in [1_u32, 31, 0] {
        let window = if days == 0 {
            String::new()
        } else {
            format!("WHERE occurred_at >= now() - INTERVAL {days} DAY")
        };
        rows = client
            .query(&format!(
                "SELECT ?fields FROM {} FINAL {window} \
                 ORDER BY occurred_at_ms DESC, event_id DESC LIMIT ?",
                qualified_table(database)
            ))
            .bind(n)
            .fetch_all()
            .await?;
        if rows.len() as u64 >= n {
            break;
        }
    }
    let mut events: Vec<Event> = rows.into_iter().filter_map(EventRow::into_event).collect();
    events.reverse();
    Ok(events)
}

/// The newest `q.limit` events matching `q`, newest first, deduplicated
/// (`FINAL`). The filters are SQL: the statement is made of fixed
/// fragments, one per filter that is set, and every value is a bound
/// parameter (`?`, escaped by the client), never text from the caller.
pub async fn query(
    client: &Client,
    database: &str,
    q: &EventQuery,
) -> clickhouse::error::Result<Vec<Event>> {
    let mut conditions: Vec<&'static str> = Vec::new();
    if q.kind.is_some() {
        conditions.push("kind = ?");
    }
    if q.client_id.is_some() {
        conditions.push("client_id = ?");
    }
    if q.subject.is_some() {
        conditions.push("subject = ?");
    }
    // `occurred_at` (seconds) prunes partitions and the primary key;
    // `occurred_at_ms` is the exact bound.
    if q.from.is_some() {
        conditions.push("occurred_at >= toDateTime(?) AND occurred_at_ms >= ?");
    }
    if q.to.is_some() {
        conditions.push("occurred_at <= toDateTime(?) AND occurred_at_ms < ?");
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let mut sql = client.query(&format!(
        "SELECT ?fields FROM {} FINAL {filter} \
         ORDER BY occurred_at_ms DESC, event_id DESC LIMIT ?",
        qualified_table(database)
    ));
    if let Some(kind) = q.kind {
        sql = sql.bind(kind.as_str());
    }
    if let Some(c) = &q.client_id {
        sql = sql.bind(c.as_str());
    }
    if let Some(s) = &q.subject {
        sql = sql.bind(s.as_str());
    }
    if let Some(f) = q.from {
        sql = sql.bind(f.timestamp()).bind(f.timestamp_millis());
    }
    if let Some(t) = q.to {
        sql = sql.bind(t.timestamp()).bind(t.timestamp_millis());
    }
    let rows: Vec<EventRow> = sql.bind(q.limit as u64).fetch_all().await?;
    Ok(rows.into_iter().filter_map(EventRow::into_event).collect())
}

/// The server's clock, as Unix seconds (`now()`).
pub async fn server_now(client: &Client) -> clickhouse::error::Result<u32> {
    client.query("SELECT toUInt32(now())").fetch_one().await
}

/// Rows that arrived (`inserted_at`, server time, whole seconds) at or
/// after `since`, oldest arrival first, at most `limit`: what
/// `events tail --follow` polls. Not deduplicated: a batch that was sent
/// twice shows twice, and the caller keeps the ids it has seen.
pub async fn arrived_since(
    client: &Client,
    database: &str,
    since: u32,
    limit: u64,
) -> clickhouse::error::Result<Vec<(u32, Event)>> {
    let rows: Vec<EventRow> = client
        .query(&format!(
            "SELECT ?fields FROM {} \
             WHERE inserted_at >= toDateTime(?) \
             ORDER BY inserted_at, occurred_at_ms, event_id LIMIT ?",
            qualified_table(database)
        ))
        .bind(since)
        .bind(limit)
        .fetch_all()
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let at = row.inserted_at;
            row.into_event().map(|e| (at, e))
        })
        .collect())
}

/// Counts by kind, by client and failed logins by reason since `since`
/// (`FINAL`: each event once).
pub async fn stats(
    client: &Client,
    database: &str,
    since: DateTime<Utc>,
) -> clickhouse::error::Result<EventStats> {
    let table = qualified_table(database);
    let window = "occurred_at >= toDateTime(?) AND occurred_at_ms >= ?";
    let (secs, ms) = (since.timestamp(), since.timestamp_millis());
    let by_kind: Vec<(String, u64)> = client
        .query(&format!(
            "SELECT kind, count() FROM {table} FINAL WHERE {window} GROUP BY kind"
        ))
        .bind(secs)
        .bind(ms)
        .fetch_all()
        .await?;
    let by_client: Vec<(String, u64, u64)> = client
        .query(&format!(
            "SELECT client_id, count(), countIf(outcome = 'failure') FROM {table} FINAL \
             WHERE {window} AND client_id != '' GROUP BY client_id"
        ))
        .bind(secs)
        .bind(ms)
        .fetch_all()
        .await?;
    let by_reason: Vec<(String, u64)> = client
        .query(&format!(
            "SELECT detail_values[indexOf(detail_keys, 'reason')] AS reason, count() \
             FROM {table} FINAL WHERE {window} AND kind = 'login_failed' GROUP BY reason"
        ))
        .bind(secs)
        .bind(ms)
        .fetch_all()
        .await?;
    Ok(EventStats {
        since,
        total: by_kind.iter().map(|(_, n)| n).sum(),
        by_kind: by_kind.into_iter().collect(),
        by_client: by_client
            .into_iter()
            .map(|(c, total, failures)| (c, ClientCounts { total, failures }))
            .collect(),
        failed_logins_by_reason: by_reason.into_iter().collect(),
    })
}

/// How many events (each once, `FINAL`) occurred in each UTC hour that
/// starts before `before`; with `partition`, only in that monthly
/// partition (`toYYYYMM`, such as `202411`).
pub async fn hour_counts(
    client: &Client,
    database: &str,
    before: DateTime<Utc>,
    partition: Option<&str>,
) -> clickhouse::error::Result<BTreeMap<DateTime<Utc>, u64>> {
    let in_partition = if partition.is_some() {
        " AND toYYYYMM(occurred_at) = toUInt32(?)"
    } else {
        ""
    };
    let mut sql = client
        .query(&format!(
            "SELECT toUInt32(toStartOfHour(occurred_at)) AS hour, count() FROM {} FINAL \
             WHERE toStartOfHour(occurred_at) < toDateTime(?){in_partition} \
             GROUP BY hour ORDER BY hour",
            qualified_table(database)
        ))
        .bind(before.timestamp());
    if let Some(p) = partition {
        sql = sql.bind(p);
    }
    let rows: Vec<(u32, u64)> = sql.fetch_all().await?;
    Ok(rows
        .into_iter()
        .filter_map(|(h, n)| DateTime::from_timestamp(i64::from(h), 0).map(|h| (h, n)))
        .collect())
}

/// [`EventReader`] over the ClickHouse table (deduplicated with `FINAL`,
/// or by the ids a follower has seen).
#[derive(Clone)]
pub struct ClickHouseEventReader {
    client: Client,
    database: String,
    url: String,
}

impl std::fmt::Debug for ClickHouseEventReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickHouseEventReader")
            .field("url", &self.url)
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}

impl ClickHouseEventReader {
    /// Reads the table configured by `config` (connects on first use).
    pub fn new(config: &ClickHouseConfig) -> Self {
        Self {
            client: client(config),
            database: config.database.clone(),
            url: config.url.clone(),
        }
    }

    fn failed(&self, e: &clickhouse::error::Error) -> EventReadError {
        EventReadError(format!("ClickHouse query failed ({}): {e}", self.url))
    }
}

#[async_trait]
impl EventReader for ClickHouseEventReader {
    async fn recent(&self, n: usize) -> Result<Vec<Event>, EventReadError> {
        recent(&self.client, &self.database, n as u64)
            .await
            .map_err(|e| self.failed(&e))
    }

    async fn query(&self, q: &EventQuery) -> Result<Vec<Event>, EventReadError> {
        query(&self.client, &self.database, q)
            .await
            .map_err(|e| self.failed(&e))
    }

    async fn stats(&self, since: DateTime<Utc>) -> Result<EventStats, EventReadError> {
        stats(&self.client, &self.database, since)
            .await
            .map_err(|e| self.failed(&e))
    }

    async fn hour_counts(
        &self,
        before: DateTime<Utc>,
    ) -> Result<BTreeMap<DateTime<Utc>, u64>, EventReadError> {
        hour_counts(&self.client, &self.database, before, None)
            .await
            .map_err(|e| self.failed(&e))
    }

    async fn follow(&self) -> Result<Box<dyn EventFollower>, EventReadError> {
        let start = server_now(&self.client)
            .await
            .map_err(|e| self.failed(&e))?;
        let mut follower = ClickHouseFollower {
            client: self.client.clone(),
            database: self.database.clone(),
            cursor: start,
            seen: VecDeque::new(),
            seen_ids: HashSet::new(),
        };
        // What arrived already counts as seen: the follower returns only
        // what arrives from now on.
        let known = arrived_since(
            &self.client,
            &self.database,
            start.saturating_sub(1),
            FOLLOW_LIMIT,
        )
        .await
        .map_err(|e| self.failed(&e))?;
        for (at, e) in known {
            follower.remember(at, e.event_id());
        }
        Ok(Box::new(follower))
    }
}

/// Follows the table by arrival (`inserted_at`, the server's clock, whole
/// seconds): each poll re-reads the last second and returns the ids not
/// seen yet, which also hides a batch that was sent twice.
struct ClickHouseFollower {
    client: Client,
    database: String,
    cursor: u32,
    seen: VecDeque<(u32, Uuid)>,
    seen_ids: HashSet<Uuid>,
}

impl ClickHouseFollower {
    /// Records `id`; false when it was seen already.
    fn remember(&mut self, at: u32, id: Uuid) -> bool {
        let new = self.seen_ids.insert(id);
        if new {
            self.seen.push_back((at, id));
        }
        new
    }
}

#[async_trait]
impl EventFollower for ClickHouseFollower {
    async fn poll(&mut self) -> Result<Vec<Event>, EventReadError> {
        let rows = match arrived_since(
            &self.client,
            &self.database,
            self.cursor.saturating_sub(1),
            FOLLOW_LIMIT,
        )
        .await
        {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "ClickHouse query failed; retrying");
                return Ok(Vec::new());
            }
        };
        let mut out = Vec::new();
        for (at, e) in rows {
            self.cursor = self.cursor.max(at);
            if self.remember(at, e.event_id()) {
                out.push(e);
            }
        }
        // Forget ids that arrived well before the window re-read.
        while self
            .seen
            .front()
            .is_some_and(|(at, _)| *at + KEEP_SEEN_SECS < self.cursor)
        {
            if let Some((_, id)) = self.seen.pop_front() {
                self.seen_ids.remove(&id);
            }
        }
        Ok(out)
    }
}

/// [`EventSink`] writing to ClickHouse through a durable spool.
pub struct ClickHouseEventSink {
    queue: Queue,
    spool: Arc<Spool>,
    counters: Arc<Counters>,
    database: String,
}

impl std::fmt::Debug for ClickHouseEventSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickHouseEventSink")
            .field("database", &self.database)
            .field("spool", &self.spool)
            .finish_non_exhaustive()
    }
}

impl ClickHouseEventSink {
    /// Opens the spool and starts the writer task (needs a tokio runtime).
    /// Does not wait for ClickHouse: the schema step runs before the first
    /// insert, and until it succeeds events wait in the spool.
    pub fn start(
        config: &ClickHouseConfig,
        pipeline: &EventPipeline,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ClickHouseSinkError> {
        Self::start_with_archive(config, pipeline, clock, None)
    }

    /// [`start`](Self::start), with the archive retention asks when
    /// `config.retention_requires_archive` is on (without it, such a sink
    /// never drops a partition).
    pub fn start_with_archive(
        config: &ClickHouseConfig,
        pipeline: &EventPipeline,
        clock: Arc<dyn Clock>,
        archive: Option<Arc<dyn ArchivedHours>>,
    ) -> Result<Self, ClickHouseSinkError> {
        let spool = Arc::new(Spool::open(&config.spool_dir)?);
        let counters = Arc::new(Counters::with_spool(spool.clone()));
        let dest = ClickHouseDestination {
            client: client(config),
            database: config.database.clone(),
            ttl_days: config.ttl_days,
            timeout: config.timeout,
            retry_max: config.retry_max.max(FIRST_BACKOFF),
            spool: spool.clone(),
            counters: counters.clone(),
            clock,
            retention_requires_archive: config.retention_requires_archive,
            archive,
            version: None,
            failures: 0,
            retry_at: None,
            next_retention: Instant::now(),
            dropped_seen: 0,
        };
        let queue = super::start(dest, pipeline, counters.clone(), "clickhouse");
        Ok(Self {
            queue,
            spool,
            counters,
            database: config.database.clone(),
        })
    }

    /// Flushes (to ClickHouse or the spool) and stops the writer task.
    /// Later events go to the spool; its lock is released when the sink is
    /// dropped.
    pub async fn close(&self) -> Result<(), EventError> {
        self.queue.request(true).await
    }

    /// The spool.
    pub fn spool(&self) -> &Spool {
        &self.spool
    }
}

#[async_trait]
impl EventSink for ClickHouseEventSink {
    fn emit(&self, event: Event) {
        if let Err(event) = self.queue.try_enqueue(event) {
            // Queue full (or the task stopped): to the spool, without
            // waiting for the disk; the writer task syncs it.
            match self.spool.append_unsynced(std::slice::from_ref(&event)) {
                Ok(()) => self.counters.add_spooled(1),
                Err(e) => self.counters.add_dropped(1, &e),
            }
        }
    }

    async fn flush(&self) -> Result<(), EventError> {
        self.queue.request(false).await
    }

    fn stats(&self) -> SinkStats {
        self.counters.snapshot()
    }
}

struct ClickHouseDestination {
    client: Client,
    database: String,
    ttl_days: u32,
    timeout: Duration,
    retry_max: Duration,
    spool: Arc<Spool>,
    counters: Arc<Counters>,
    clock: Arc<dyn Clock>,
    /// Retention drops only archived hours
    /// (`PORTCULLIS_EVENTS_RETENTION_REQUIRES_ARCHIVE`).
    retention_requires_archive: bool,
    /// What retention asks about the archive (set by `serve`).
    archive: Option<Arc<dyn ArchivedHours>>,
    /// Set once the schema step succeeded; cleared after any failure.
    version: Option<(u32, u32)>,
    failures: u32,
    retry_at: Option<Instant>,
    next_retention: Instant,
    dropped_seen: u64,
}

impl ClickHouseDestination {
    fn backing_off(&self) -> bool {
        self.retry_at.is_some_and(|at| Instant::now() < at)
    }

    fn succeeded(&mut self) {
        if self.failures > 0 {
            tracing::info!(
                after_failures = self.failures,
                "ClickHouse answers again; replaying the spool"
            );
        }
        self.failures = 0;
        self.retry_at = None;
    }

    fn failed(&mut self, what: &str, e: &clickhouse::error::Error) {
        self.failures = self.failures.saturating_add(1);
        self.version = None;
        let pause = FIRST_BACKOFF
            .saturating_mul(1 << self.failures.min(16).saturating_sub(1))
            .min(self.retry_max);
        self.retry_at = Some(Instant::now() + pause);
        tracing::warn!(
            error = %e,
            failures = self.failures,
            retry_in_ms = u64::try_from(pause.as_millis()).unwrap_or(u64::MAX),
            spool_pending = self.spool.pending(),
            "ClickHouse {what} failed; events go to the spool"
        );
    }

    /// Schema step (when needed), then one `INSERT`, within the timeout.
    async fn send(&mut self, events: &[Event]) -> clickhouse::error::Result<()> {
        let timeout = self.timeout;
        let work = async {
            if self.version.is_none() {
                self.version =
                    Some(ensure_schema(&self.client, &self.database, self.table_ttl_days()).await?);
            }
            insert(&self.client, &self.database, events, timeout).await
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(clickhouse::error::Error::TimedOut),
        }
    }

    async fn to_spool(&self, batch: Vec<Event>) {
        let n = batch.len() as u64;
        let spool = self.spool.clone();
        let result = super::off_thread(move || spool.append(&batch)).await;
        match result {
            Ok(()) => self.counters.add_spooled(n),
            Err(e) => self.counters.add_dropped(n, &e),
        }
    }

    async fn sync_spool(&self) {
        let spool = self.spool.clone();
        let result = super::off_thread(move || spool.sync()).await;
        if let Err(e) = result {
            tracing::error!(error = %e, "spool sync failed");
        }
    }

    /// Replays the oldest spool segment. Returns whether it went through
    /// (or there was nothing to replay).
    async fn replay_one(&mut self) -> bool {
        let spool = self.spool.clone();
        let Some(segment) = tokio::task::spawn_blocking(move || spool.oldest())
            .await
            .ok()
            .flatten()
        else {
            return true;
        };
        let read = {
            let segment = segment.clone();
            tokio::task::spawn_blocking(move || Spool::read(&segment))
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e)))
        };
        let contents = match read {
            Ok(c) => c,
            Err(e) => {
                // The disk failed under a segment: it cannot be replayed.
                self.counters.add_dropped(segment.events(), &e);
                if let Err(e) = self.spool.remove(&segment) {
                    tracing::error!(error = %e, "cannot delete unreadable spool segment");
                }
                return true;
            }
        };
        if contents.bad_lines > 0 {
            self.counters.add_dropped(
                contents.bad_lines,
                &format!("{} unreadable lines in the spool", contents.bad_lines),
            );
        }
        if !contents.events.is_empty() {
            if let Err(e) = self.send(&contents.events).await {
                self.failed("replay", &e);
                return false;
            }
            self.succeeded();
            self.counters.add_sent(contents.events.len() as u64);
        }
        let spool = self.spool.clone();
        let removed = tokio::task::spawn_blocking(move || spool.remove(&segment))
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        if let Err(e) = removed {
            tracing::error!(error = %e, "cannot delete a replayed spool segment (it will be replayed again; ClickHouse drops the duplicates)");
        }
        true
    }

    async fn schema_step(&mut self) {
        let step = ensure_schema(&self.client, &self.database, self.table_ttl_days());
        match tokio::time::timeout(self.timeout, step).await {
            Ok(Ok(version)) => {
                tracing::info!(?version, database = %self.database, "ClickHouse event table ready");
                self.version = Some(version);
                self.succeeded();
            }
            Ok(Err(e)) => self.failed("schema step", &e),
            Err(_) => self.failed("schema step", &clickhouse::error::Error::TimedOut),
        }
    }

    /// The table's own `TTL` in days: none when retention waits for the
    /// archive (`PORTCULLIS_EVENTS_RETENTION_REQUIRES_ARCHIVE`), since
    /// ClickHouse's TTL merges would delete rows without asking the archive;
    /// [`apply_retention`] then drops the months, archived first.
    fn table_ttl_days(&self) -> u32 {
        if self.retention_requires_archive {
            0
        } else {
            self.ttl_days
        }
    }

    async fn retention(&mut self) {
        self.next_retention = Instant::now() + RETENTION_EVERY;
        if self.ttl_days == 0 || self.version.is_none() {
            return;
        }
        let archive = match (&self.archive, self.retention_requires_archive) {
            (_, false) => None,
            (Some(archive), true) => Some(archive.as_ref()),
            (None, true) => {
                // Only `serve` builds the sink with the archive: an operator
                // command's sink never drops anything then.
                tracing::debug!("retention waits for the archive, which this process has not");
                return;
            }
        };
        let now = self.clock.now();
        match apply_retention(&self.client, &self.database, self.ttl_days, now, archive).await {
            Ok(done) => {
                if !done.dropped.is_empty() {
                    tracing::info!(partitions = ?done.dropped, ttl_days = self.ttl_days, "old event partitions dropped");
                }
                for (partition, hour) in &done.kept {
                    tracing::warn!(%partition, %hour, "event partition past the TTL kept: this hour is not archived yet (portcullis events archive)");
                }
            }
            Err(e) => tracing::warn!(error = %e, "event retention failed; will retry"),
        }
    }
}

#[async_trait]
impl Destination for ClickHouseDestination {
    async fn write(&mut self, batch: Vec<Event>) {
        if !self.spool.is_empty() || self.backing_off() {
            // Behind the spool, to keep the order, or ClickHouse is out.
            self.to_spool(batch).await;
            if !self.backing_off() {
                self.replay_one().await;
            }
            self.sync_spool().await;
            return;
        }
        let n = batch.len() as u64;
        match self.send(&batch).await {
            Ok(()) => {
                self.succeeded();
                self.counters.add_sent(n);
            }
            Err(e) => {
                self.failed("insert", &e);
                self.to_spool(batch).await;
            }
        }
        self.sync_spool().await;
    }

    async fn flush(&mut self) -> Result<(), EventError> {
        self.sync_spool().await;
        // Empty the spool while ClickHouse answers; after a failure (now or
        // recently: backing off) the events stay in the spool. So a flush
        // waits for ClickHouse at most one timeout.
        while !self.spool.is_empty() && !self.backing_off() {
            if !self.replay_one().await {
                break;
            }
        }
        let dropped = self.counters.snapshot().dropped;
        let before = std::mem::replace(&mut self.dropped_seen, dropped);
        if dropped > before {
            return Err(EventError::Storage(format!(
                "{} events could not be written to the spool",
                dropped - before
            )));
        }
        Ok(())
    }

    fn next_wake(&self) -> Option<Instant> {
        // Replay the spool, or run the schema step early (so that the table
        // exists, and a ClickHouse that cannot be reached is reported, before
        // the first event), as soon as the retry pause allows.
        let connect = (!self.spool.is_empty() || self.version.is_none())
            .then(|| self.retry_at.unwrap_or_else(Instant::now));
        let retention = (self.ttl_days > 0).then_some(self.next_retention);
        match (connect, retention) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    async fn wake(&mut self) {
        if !self.backing_off() {
            if !self.spool.is_empty() {
                self.replay_one().await;
            } else if self.version.is_none() {
                self.schema_step().await;
            }
        }
        if Instant::now() >= self.next_retention {
            if self.version.is_some() {
                self.retention().await;
            } else {
                // Not connected: try after the next success.
                self.next_retention = Instant::now() + Duration::from_secs(5);
            }
        }
        self.sync_spool().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_ends() {
        assert_eq!(
            partition_month_end("202402"),
            NaiveDate::from_ymd_opt(2024, 2, 29)
        );
        assert_eq!(
            partition_month_end("202412"),
            NaiveDate::from_ymd_opt(2024, 12, 31)
        );
        assert_eq!(partition_month_end("tuple()"), None);
        assert_eq!(partition_month_end("202413"), None);
    }

    #[test]
    fn ttl_clause_only_where_the_server_has_it() {
        assert!(!create_table_sql("p", 30, (18, 16)).contains("TTL"));
        assert!(create_table_sql("p", 30, (19, 6)).contains("TTL occurred_at + INTERVAL 30 DAY"));
        assert!(!create_table_sql("p", 0, (23, 8)).contains("TTL"));
    }
}
