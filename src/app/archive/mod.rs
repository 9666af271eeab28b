//! The event archive (docs/EVENTS.md, "Archive"): closed UTC hours of
//! events, read from the event store through the
//! [`EventReader`] port, written to a bucket (the [`ObjectStore`] port; S3
//! in production) as one Parquet file per hour, and read back for
//! `portcullis events query`.
//!
//! Layout under the prefix: `date=YYYY-MM-DD/hour=HH/part-0000.parquet`
//! and, beside it, `_manifest.json` ([`Manifest`]). The keys depend only
//! on the hour, so archiving an hour again replaces the same objects.
//!
//! Publication order, so that a crash never leaves a half-archived hour
//! that counts as archived:
//! 1. the hour's manifest is deleted (if an older one is there, the hour
//!    stops counting as archived);
//! 2. the data object is written;
//! 3. it is read back: its SHA-256 and its row count must match;
//! 4. the manifest is written, last.
//!
//! An hour counts as archived only when its manifest exists, is of a known
//! schema version and names a data object of the size it records
//! ([`Archive::manifest`]). A crash before step 4 leaves the hour
//! unarchived, and the next run does it again.

pub mod parquet;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::event::{Event, hour_start};
use crate::ports::{
    ArchiveError, ArchivedHours, Clock, EventQuery, EventReadError, EventReader, ObjectStore,
};

/// How long after an hour ends it is still left alone: events stamped
/// near its end may still be on their way to the store (the queue's flush
/// interval, a short ClickHouse outage).
pub const GRACE: chrono::Duration = chrono::Duration::minutes(5);

/// The data object's name within an hour.
pub const DATA_FILE: &str = "part-0000.parquet";
/// The manifest's name within an hour.
pub const MANIFEST_FILE: &str = "_manifest.json";

/// The manifest of an archived hour (`_manifest.json`), written last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The Parquet layout ([`parquet::SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// The hour's start (UTC).
    pub hour: DateTime<Utc>,
    /// The data object's key.
    pub data_key: String,
    /// Events in the data object.
    pub rows: u64,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its SHA-256, hex.
    pub sha256: String,
    /// When it was archived.
    pub archived_at: DateTime<Utc>,
}

/// What archiving one hour did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum HourResult {
    /// Written and verified now.
    Archived {
        /// Events written.
        rows: u64,
        /// The data object's key.
        key: String,
    },
    /// Already archived with these events: nothing written.
    AlreadyArchived {
        /// Events in the archive.
        rows: u64,
    },
}

/// One hour of an archive run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HourReport {
    /// The hour's start.
    pub hour: DateTime<Utc>,
    /// What happened.
    #[serde(flatten)]
    pub result: HourResult,
}

/// Why an archive run or a query stopped.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveRunError {
    /// The bucket failed, or an object is not what its manifest says.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// The event store could not be read.
    #[error(transparent)]
    Read(#[from] EventReadError),
    /// Bad input (an hour range); nothing was done.
    #[error("{0}")]
    Invalid(String),
}

/// The archive: a bucket and the key prefix under which it lives.
pub struct Archive {
    store: Arc<dyn ObjectStore>,
    prefix: String,
}

impl std::fmt::Debug for Archive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Archive")
            .field("location", &self.store.location())
            .field("prefix", &self.prefix)
            .finish()
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Archive {
    /// The archive under `prefix` (no leading or trailing `/`; may be
    /// empty) in `store`.
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str) -> Self {
        Self {
            store,
            prefix: prefix.trim_matches('/').to_owned(),
        }
    }

    /// `PREFIX/date=YYYY-MM-DD/hour=HH/` of the hour holding `hour`.
    pub fn hour_dir(&self, hour: DateTime<Utc>) -> String {
        let dir = hour_start(hour)
            .format("date=%Y-%m-%d/hour=%H/")
            .to_string();
        if self.prefix.is_empty() {
            dir
        } else {
            format!("{}/{dir}", self.prefix)
        }
    }

    /// The key of the hour's data object.
    pub fn data_key(&self, hour: DateTime<Utc>) -> String {
        format!("{}{DATA_FILE}", self.hour_dir(hour))
    }

    /// The key of the hour's manifest.
    pub fn manifest_key(&self, hour: DateTime<Utc>) -> String {
        format!("{}{MANIFEST_FILE}", self.hour_dir(hour))
    }

    /// The manifest of the hour starting at `hour` when the hour is
    /// archived: the manifest exists, is of this schema version, is about
    /// this hour, and its data object is there with the size it records.
    /// `None` otherwise (never archived, or a run stopped halfway).
    pub async fn manifest(&self, hour: DateTime<Utc>) -> Result<Option<Manifest>, ArchiveError> {
        let key = self.manifest_key(hour);
        let Some(raw) = self.store.get(&key).await? else {
            return Ok(None);
        };
        let Ok(manifest) = serde_json::from_slice::<Manifest>(&raw) else {
            tracing::warn!(%key, "unreadable archive manifest: the hour counts as not archived");
            return Ok(None);
        };
        if manifest.schema_version != parquet::SCHEMA_VERSION
            || manifest.hour != hour_start(hour)
            || manifest.data_key != self.data_key(hour)
        {
            tracing::warn!(%key, "archive manifest of another version or hour: the hour counts as not archived");
            return Ok(None);
        }
        let listed = self.store.list(&self.hour_dir(hour)).await?;
        let present = listed
            .iter()
            .any(|o| o.key == manifest.data_key && o.size == manifest.bytes);
        Ok(present.then_some(manifest))
    }

    /// Archives `events` (which must all belong to the hour starting at
    /// `hour`) in the order of the module notes; an hour already archived
    /// with exactly these events is left as it is.
    pub async fn archive_hour(
        &self,
        hour: DateTime<Utc>,
        mut events: Vec<Event>,
        now: DateTime<Utc>,
    ) -> Result<HourResult, ArchiveRunError> {
        let hour = hour_start(hour);
        if let Some(stray) = events.iter().find(|e| hour_start(e.occurred_at()) != hour) {
            return Err(ArchiveRunError::Invalid(format!(
                "event {} of {} does not belong to the hour {hour}",
                stray.event_id(),
                stray.occurred_at()
            )));
        }
        events.sort_by_key(|e| (e.occurred_at(), e.event_id()));
        events.dedup_by_key(|e| e.event_id());
        let rows = events.len() as u64;
        let body = parquet::encode(&events)?;
        let sha256 = sha256_hex(&body);
        if let Some(m) = self.manifest(hour).await?
            && m.sha256 == sha256
            && m.rows == rows
        {
            return Ok(HourResult::AlreadyArchived { rows });
        }
        let manifest_key = self.manifest_key(hour);
        let data_key = self.data_key(hour);
        let bytes = body.len() as u64;
        // 1. The hour stops counting as archived while its data changes.
        self.store.delete(&manifest_key).await?;
        // 2. The data.
        self.store.put(&data_key, body).await?;
        // 3. Read back and verified.
        let back = self.store.get(&data_key).await?.ok_or_else(|| {
            ArchiveError::Corrupt(format!("{data_key} is missing right after it was written"))
        })?;
        let back_sha = sha256_hex(&back);
        if back_sha != sha256 {
            return Err(ArchiveError::Corrupt(format!(
                "{data_key} read back with another SHA-256 ({back_sha}, wrote {sha256})"
            ))
            .into());
        }
        let back_rows = parquet::decode(back)?.len() as u64;
        if back_rows != rows {
            return Err(ArchiveError::Corrupt(format!(
                "{data_key} read back with {back_rows} rows, wrote {rows}"
            ))
            .into());
        }
        // 4. The manifest, last.
        let manifest = Manifest {
            schema_version: parquet::SCHEMA_VERSION,
            hour,
            data_key: data_key.clone(),
            rows,
            bytes,
            sha256,
            archived_at: now,
        };
        let json = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| ArchiveError::Corrupt(format!("manifest: {e}")))?;
        self.store.put(&manifest_key, json).await?;
        Ok(HourResult::Archived {
            rows,
            key: data_key,
        })
    }

    /// The events of the hour starting at `hour` as archived (oldest
    /// first), checked against the manifest (size, SHA-256, rows); `None`
    /// when the hour is not archived.
    pub async fn read_hour(&self, hour: DateTime<Utc>) -> Result<Option<Vec<Event>>, ArchiveError> {
        let Some(m) = self.manifest(hour).await? else {
            return Ok(None);
        };
        let body = self
            .store
            .get(&m.data_key)
            .await?
            .ok_or_else(|| ArchiveError::Corrupt(format!("{} disappeared", m.data_key)))?;
        if body.len() as u64 != m.bytes || sha256_hex(&body) != m.sha256 {
            return Err(ArchiveError::Corrupt(format!(
                "{} does not match its manifest (size or SHA-256)",
                m.data_key
            )));
        }
        let events = parquet::decode(body)?;
        if events.len() as u64 != m.rows {
            return Err(ArchiveError::Corrupt(format!(
                "{} holds {} rows, its manifest says {}",
                m.data_key,
                events.len(),
                m.rows
            )));
        }
        Ok(Some(events))
    }

    /// Where the archive is, for messages (`s3://bucket/prefix`).
    pub fn location(&self) -> String {
        if self.prefix.is_empty() {
            self.store.location()
        } else {
            format!("{}/{}", self.store.location(), self.prefix)
        }
    }
}

#[async_trait]
impl ArchivedHours for Archive {
    async fn archived_rows(&self, hour: DateTime<Utc>) -> Result<Option<u64>, ArchiveError> {
        Ok(self.manifest(hour).await?.map(|m| m.rows))
    }
}

/// The start of the first hour that is not closed at `now`: hours starting
/// before it ended at least [`GRACE`] ago.
pub fn first_open_hour(now: DateTime<Utc>) -> DateTime<Utc> {
    hour_start(now - GRACE)
}

/// Archives the closed hours of the event store (those starting in
/// `from..=to` when given) that the archive does not hold with as many
/// events as the store: never archived, stopped halfway, or grown since
/// (events that reached the store late). Stops at the first failure; the
/// hours before it are archived, the others are left for the next run.
pub async fn run(
    archive: &Archive,
    reader: &dyn EventReader,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Vec<HourReport>, ArchiveRunError> {
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        return Err(ArchiveRunError::Invalid(
            "--from must not be after --to".into(),
        ));
    }
    let closed_before = first_open_hour(now);
    let counts = reader.hour_counts(closed_before).await?;
    let mut done = Vec::new();
    for (hour, count) in counts {
        if from.is_some_and(|f| hour < hour_start(f)) || to.is_some_and(|t| hour > hour_start(t)) {
            continue;
        }
        if let Some(m) = archive.manifest(hour).await?
            && m.rows >= count
        {
            // Fewer events in the store than in the archive: the store lost
            // some of the hour (ClickHouse's own TTL merges them away, or an
            // operator deleted them). The archive is the complete copy and
            // is never replaced by what is left.
            if m.rows > count {
                tracing::warn!(
                    hour = %hour,
                    archived = m.rows,
                    stored = count,
                    "the event store holds fewer events of this hour than the archive; the archive is kept"
                );
            }
            done.push(HourReport {
                hour,
                result: HourResult::AlreadyArchived { rows: m.rows },
            });
            continue;
        }
        let events = reader
            .range(hour, hour + chrono::Duration::hours(1))
            .await?;
        let result = archive.archive_hour(hour, events, now).await?;
        done.push(HourReport { hour, result });
    }
    Ok(done)
}

/// The archived events of the hours `from..=to` that match `filter` (its
/// kind, client and subject; its time bounds and limit are not used),
/// oldest first. Hours not archived are skipped.
pub async fn query(
    archive: &Archive,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    filter: &EventQuery,
) -> Result<Vec<Event>, ArchiveRunError> {
    let (from, to) = (hour_start(from), hour_start(to));
    if from > to {
        return Err(ArchiveRunError::Invalid(
            "--from must not be after --to".into(),
        ));
    }
    let hours = (to - from).num_hours();
    if hours > MAX_QUERY_HOURS {
        return Err(ArchiveRunError::Invalid(format!(
            "at most {MAX_QUERY_HOURS} hours (a year) per query"
        )));
    }
    let filter = EventQuery {
        from: None,
        to: None,
        ..filter.clone()
    };
    let mut found = Vec::new();
    for i in 0..=hours {
        let hour = from + chrono::Duration::hours(i);
        if let Some(events) = archive.read_hour(hour).await? {
            found.extend(events.into_iter().filter(|e| filter.matches(e)));
        }
    }
    Ok(found)
}

/// The longest range [`query`] reads at once.
pub const MAX_QUERY_HOURS: i64 = 366 * 24;

/// Parses an hour given on the command line: `YYYY-MM-DDTHH` (UTC), an
/// RFC 3339 time (its hour), or a day `YYYY-MM-DD` (its first hour, or
/// with `end_of_day` its last).
pub fn parse_hour(raw: &str, end_of_day: bool) -> Result<DateTime<Utc>, String> {
    let raw = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(hour_start(t.with_timezone(&Utc)));
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(&format!("{raw}:00:00"), "%Y-%m-%dT%H:%M:%S") {
        return Ok(t.and_utc());
    }
    if let Ok(day) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        let time = if end_of_day {
            NaiveTime::from_hms_opt(23, 0, 0)
        } else {
            NaiveTime::from_hms_opt(0, 0, 0)
        };
        if let Some(time) = time {
            return Ok(day.and_time(time).and_utc());
        }
    }
    Err(format!(
        "{raw:?}: expected an hour such as 2026-12-01T13, a day such as 2026-12-01, \
         or an RFC 3339 time (UTC hours)"
    ))
}

/// The periodic archive of `serve`; aborted when dropped.
pub struct PeriodicArchive(tokio::task::JoinHandle<()>);

impl Drop for PeriodicArchive {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs [`run`] over every closed hour every `every` (the first run one
/// interval after start); a failed run is logged and the hours it left
/// are done at the next tick. `None` when `every` is zero.
pub fn spawn_periodic(
    archive: Arc<Archive>,
    reader: Arc<dyn EventReader>,
    clock: Arc<dyn Clock>,
    every: Duration,
) -> Option<PeriodicArchive> {
    if every.is_zero() {
        return None;
    }
    Some(PeriodicArchive(tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await; // the first tick is immediate
        loop {
            ticks.tick().await;
            match run(&archive, reader.as_ref(), None, None, clock.now()).await {
                Ok(done) => {
                    let archived: BTreeMap<DateTime<Utc>, u64> = done
                        .iter()
                        .filter_map(|r| match r.result {
                            HourResult::Archived { rows, .. } => Some((r.hour, rows)),
                            HourResult::AlreadyArchived { .. } => None,
                        })
                        .collect();
                    if !archived.is_empty() {
                        tracing::info!(hours = ?archived, location = %archive.location(), "event hours archived");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "event archive failed; retrying at the next interval");
                }
            }
        }
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn hours_on_the_command_line() {
        let h = |y, m, d, hh| Utc.with_ymd_and_hms(y, m, d, hh, 0, 0).unwrap();
        assert_eq!(
            parse_hour("2026-12-01T13", false).unwrap(),
            h(2026, 12, 1, 13)
        );
        assert_eq!(
            parse_hour("2026-12-01T13:45:10Z", false).unwrap(),
            h(2026, 12, 1, 13)
        );
        assert_eq!(
            parse_hour("2026-12-01T13:45:10+01:00", false).unwrap(),
            h(2026, 12, 1, 12)
        );
        assert_eq!(parse_hour("2026-12-01", false).unwrap(), h(2026, 12, 1, 0));
        assert_eq!(parse_hour("2026-12-01", true).unwrap(), h(2026, 12, 1, 23));
        for bad in ["", "yesterday", "2026-12-01T25", "2026-13-01"] {
            assert!(parse_hour(bad, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_hour_is_closed_five_minutes_after_it_ends() {
        let at = |hh, mm| Utc.with_ymd_and_hms(2026, 12, 1, hh, mm, 0).unwrap();
        assert_eq!(first_open_hour(at(14, 4)), at(13, 0), "13:00-14:00 not yet");
        assert_eq!(first_open_hour(at(14, 5)), at(14, 0), "13:00-14:00 closed");
    }
}
