//! The embedded default: events as JSON Lines, one file per UTC day,
//! `<data_dir>/events/events-YYYY-MM-DD.jsonl` (the day of `occurred_at`).
//! Same schema as the ClickHouse columns (docs/EVENTS.md). A background
//! task writes batches from the bounded queue and `fdatasync`s after each
//! batch; when the queue is full, `emit` appends the event itself (without
//! waiting for the disk; the next batch's or flush's sync covers it).
//! [`FileEventReader`] reads the files back for `portcullis events`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use tokio::time::Instant;

use super::{Counters, Destination, Queue};
use crate::config::EventPipeline;
use crate::domain::event::{Event, hour_start};
use crate::ports::{
    EventError, EventFollower, EventQuery, EventReadError, EventReader, EventSink, EventStats,
    SinkStats,
};

/// The file of one day.
pub fn file_name(day: NaiveDate) -> String {
    format!("events-{}.jsonl", day.format("%Y-%m-%d"))
}

fn parse_file_name(name: &str) -> Option<NaiveDate> {
    let day = name.strip_prefix("events-")?.strip_suffix(".jsonl")?;
    NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()
}

/// The event files in `dir`, oldest day first.
pub fn list_files(dir: &Path) -> io::Result<Vec<(NaiveDate, PathBuf)>> {
    let mut files = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(files),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        if let Some(day) = entry.file_name().to_str().and_then(parse_file_name) {
            files.push((day, entry.path()));
        }
    }
    files.sort();
    Ok(files)
}

/// The open file of the current day.
struct DayFile {
    day: NaiveDate,
    /// Shared so that `fdatasync` can run outside the lock.
    file: Arc<File>,
    /// Writes so far, and how many of them are known synced.
    written: u64,
    synced: u64,
}

struct DailyFiles {
    dir: PathBuf,
    current: Option<DayFile>,
}

impl DailyFiles {
    /// Appends `events` to the file of each one's day (without syncing the
    /// current day's file: see [`sync`]).
    fn write(&mut self, events: &[Event]) -> io::Result<()> {
        let mut buf = Vec::with_capacity(512 * events.len());
        let mut day = None;
        for e in events {
            let d = e.occurred_at().date_naive();
            if let Some(cur) = day.filter(|cur| *cur != d) {
                self.write_day(cur, &buf)?;
                buf.clear();
            }
            day = Some(d);
            serde_json::to_writer(&mut buf, e).map_err(io::Error::other)?;
            buf.push(b'\n');
        }
        if let Some(d) = day {
            self.write_day(d, &buf)?;
        }
        Ok(())
    }

    fn write_day(&mut self, day: NaiveDate, bytes: &[u8]) -> io::Result<()> {
        if self.current.as_ref().is_none_or(|f| f.day != day) {
            // Leaving a day: make its file durable first.
            if let Some(old) = self.current.take().filter(|f| f.written > f.synced) {
                old.file.sync_data()?;
            }
            let path = self.dir.join(file_name(day));
            let file = crate::adapters::files::private_options()
                .create(true)
                .append(true)
                .open(&path)?;
            self.current = Some(DayFile {
                day,
                file: Arc::new(file),
                written: 0,
                synced: 0,
            });
        }
        let Some(current) = self.current.as_mut() else {
            return Err(io::Error::other("no open event file"));
        };
        if let Err(e) = (&*current.file).write_all(bytes) {
            // Reopen next time rather than keep writing after a torn line.
            let _ = current.file.sync_data();
            self.current = None;
            return Err(e);
        }
        current.written += 1;
        Ok(())
    }
}

/// Makes what was written so far durable; the `fdatasync` runs outside the
/// lock, so `emit`'s own writes do not wait for it.
fn sync(files: &Mutex<DailyFiles>) -> io::Result<()> {
    let target = {
        let guard = files.lock().unwrap_or_else(PoisonError::into_inner);
        guard
            .current
            .as_ref()
            .filter(|f| f.written > f.synced)
            .map(|f| (f.file.clone(), f.day, f.written))
    };
    if let Some((file, day, written)) = target {
        file.sync_data()?;
        let mut guard = files.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(f) = guard.current.as_mut().filter(|f| f.day == day) {
            f.synced = f.synced.max(written);
        }
    }
    Ok(())
}

/// [`EventSink`] writing JSON Lines files (the embedded default).
pub struct FileEventSink {
    queue: Queue,
    files: Arc<Mutex<DailyFiles>>,
    counters: Arc<Counters>,
    dir: PathBuf,
}

impl std::fmt::Debug for FileEventSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileEventSink")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl FileEventSink {
    /// Creates `dir` if needed and starts the writer task (needs a tokio
    /// runtime).
    pub fn start(dir: &Path, pipeline: &EventPipeline) -> io::Result<Self> {
        crate::adapters::files::create_private_dir_all(dir)?;
        let files = Arc::new(Mutex::new(DailyFiles {
            dir: dir.to_owned(),
            current: None,
        }));
        let counters = Arc::new(Counters::default());
        let dest = FileDestination {
            files: files.clone(),
            counters: counters.clone(),
            dropped_seen: AtomicU64::new(0),
        };
        let queue = super::start(dest, pipeline, counters.clone(), "files");
        Ok(Self {
            queue,
            files,
            counters,
            dir: dir.to_owned(),
        })
    }

    /// The directory written to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Flushes and stops the writer task; later events are written by
    /// `emit` itself.
    pub async fn close(&self) -> Result<(), EventError> {
        self.queue.request(true).await
    }
}

#[async_trait]
impl EventSink for FileEventSink {
    fn emit(&self, event: Event) {
        if let Err(event) = self.queue.try_enqueue(event) {
            // Queue full (or the task stopped): write it ourselves, without
            // waiting for the disk (the writer task syncs after each batch).
            let result = self
                .files
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .write(std::slice::from_ref(&event));
            match result {
                Ok(()) => self.counters.add_sent(1),
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

struct FileDestination {
    files: Arc<Mutex<DailyFiles>>,
    counters: Arc<Counters>,
    dropped_seen: AtomicU64,
}

#[async_trait]
impl Destination for FileDestination {
    async fn write(&mut self, batch: Vec<Event>) {
        let files = self.files.clone();
        let n = batch.len() as u64;
        let result = super::off_thread(move || {
            files
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .write(&batch)?;
            sync(&files)
        })
        .await;
        match result {
            Ok(()) => self.counters.add_sent(n),
            Err(e) => self.counters.add_dropped(n, &e),
        }
    }

    async fn flush(&mut self) -> Result<(), EventError> {
        // Batches are synced as they are written; this syncs what `emit`
        // wrote itself, then reports losses since the last flush.
        let files = self.files.clone();
        let synced = super::off_thread(move || sync(&files)).await;
        if let Err(e) = synced {
            tracing::error!(error = %e, "event file sync failed");
        }
        let dropped = self.counters.snapshot().dropped;
        let before = self.dropped_seen.swap(dropped, Ordering::Relaxed);
        if dropped > before {
            return Err(EventError::Storage(format!(
                "{} events could not be written to the event files",
                dropped - before
            )));
        }
        Ok(())
    }

    fn next_wake(&self) -> Option<Instant> {
        None
    }

    async fn wake(&mut self) {}
}

// ------------------------------------------------------------ reading back

fn read_file(path: &Path, mut each: impl FnMut(Event)) -> io::Result<()> {
    let reader = BufReader::new(File::open(path)?);
    for line in reader.split(b'\n') {
        let line = line?;
        if line.is_empty() {
            continue;
        }
        match serde_json::from_slice::<Event>(&line) {
            Ok(e) => each(e),
            Err(e) => tracing::warn!(file = %path.display(), error = %e, "unreadable event line"),
        }
    }
    Ok(())
}

/// The last `n` events, oldest first (by `occurred_at`, then file order).
pub fn recent(dir: &Path, n: usize) -> io::Result<Vec<Event>> {
    let mut out: Vec<Event> = Vec::new();
    for (_, path) in list_files(dir)?.iter().rev() {
        let mut day = Vec::new();
        read_file(path, |e| day.push(e))?;
        day.extend(out);
        out = day;
        if out.len() >= n {
            break;
        }
    }
    // Stable: events of the same millisecond keep the order they were written.
    out.sort_by_key(Event::occurred_at);
    let skip = out.len().saturating_sub(n);
    Ok(out.split_off(skip))
}

/// The newest `q.limit` events matching `q`, newest first, each once. Reads
/// the day files newest first, skipping days outside `q.from`..`q.to` (a
/// file holds the events that occurred on its day), and stops after the
/// day that brought the count to `q.limit` (older days hold older events).
pub fn query(dir: &Path, q: &EventQuery) -> io::Result<Vec<Event>> {
    let first_day = q.from.map(|f| f.date_naive());
    let last_day = q.to.map(|t| t.date_naive());
    let mut found: Vec<Event> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (day, path) in list_files(dir)?.iter().rev() {
        if last_day.is_some_and(|l| *day > l) {
            continue;
        }
        if first_day.is_some_and(|f| *day < f) {
            break;
        }
        read_file(path, |e| {
            if q.matches(&e) && seen.insert(e.event_id()) {
                found.push(e);
            }
        })?;
        if found.len() >= q.limit {
            break;
        }
    }
    // Newest first; events of the same millisecond: the later written first.
    found.reverse();
    found.sort_by_key(|e| std::cmp::Reverse(e.occurred_at()));
    found.truncate(q.limit);
    Ok(found)
}

/// Counts the events that occurred at or after `since`.
pub fn stats(dir: &Path, since: DateTime<Utc>) -> io::Result<EventStats> {
    let mut stats = EventStats::starting(since);
    let first_day = since.date_naive();
    let mut seen = std::collections::HashSet::new();
    for (day, path) in list_files(dir)? {
        if day < first_day {
            continue;
        }
        read_file(&path, |e| {
            if e.occurred_at() >= since && seen.insert(e.event_id()) {
                stats.add(&e);
            }
        })?;
    }
    Ok(stats)
}

/// How many events (each once) occurred in each UTC hour starting before
/// `before`.
pub fn hour_counts(dir: &Path, before: DateTime<Utc>) -> io::Result<BTreeMap<DateTime<Utc>, u64>> {
    let last_day = before.date_naive();
    let mut counts = BTreeMap::new();
    let mut seen = std::collections::HashSet::new();
    for (day, path) in list_files(dir)? {
        if day > last_day {
            break;
        }
        read_file(&path, |e| {
            let hour = hour_start(e.occurred_at());
            if hour < before && seen.insert(e.event_id()) {
                *counts.entry(hour).or_default() += 1;
            }
        })?;
    }
    Ok(counts)
}

/// Follows the event files as they grow (`events tail --follow`).
#[derive(Debug)]
pub struct FileTail {
    dir: PathBuf,
    current: Option<(NaiveDate, PathBuf, u64)>,
}

impl FileTail {
    /// Starts at the end of the newest file.
    pub fn at_end(dir: &Path) -> io::Result<Self> {
        let current = match list_files(dir)?.pop() {
            Some((day, path)) => {
                let len = std::fs::metadata(&path)?.len();
                Some((day, path, len))
            }
            None => None,
        };
        Ok(Self {
            dir: dir.to_owned(),
            current,
        })
    }

    /// The complete lines written since the last call, moving on to newer
    /// files as they appear.
    pub fn poll(&mut self) -> io::Result<Vec<Event>> {
        let mut out = Vec::new();
        loop {
            if let Some((_, path, offset)) = self.current.as_mut() {
                let mut file = File::open(&*path)?;
                file.seek(SeekFrom::Start(*offset))?;
                let mut reader = BufReader::new(file);
                let mut line = Vec::new();
                loop {
                    line.clear();
                    let n = reader.read_until(b'\n', &mut line)?;
                    if n == 0 || line.last() != Some(&b'\n') {
                        break; // nothing more, or a line still being written
                    }
                    *offset += n as u64;
                    if let Ok(e) = serde_json::from_slice::<Event>(&line) {
                        out.push(e);
                    }
                }
            }
            let current_day = self.current.as_ref().map(|(d, _, _)| *d);
            let next = list_files(&self.dir)?
                .into_iter()
                .find(|(d, _)| current_day.is_none_or(|c| *d > c));
            match next {
                Some((day, path)) => self.current = Some((day, path, 0)),
                None => break,
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl EventFollower for FileTail {
    async fn poll(&mut self) -> Result<Vec<Event>, EventReadError> {
        let dir = self.dir.clone();
        FileTail::poll(self).map_err(|e| read_error(&dir, &e))
    }
}

/// [`EventReader`] over the JSON Lines files of a directory.
#[derive(Debug, Clone)]
pub struct FileEventReader {
    dir: PathBuf,
}

impl FileEventReader {
    /// Reads the event files in `dir`.
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
        }
    }
}

fn read_error(dir: &Path, e: &io::Error) -> EventReadError {
    EventReadError(format!("cannot read events in {}: {e}", dir.display()))
}

#[async_trait]
impl EventReader for FileEventReader {
    async fn recent(&self, n: usize) -> Result<Vec<Event>, EventReadError> {
        recent(&self.dir, n).map_err(|e| read_error(&self.dir, &e))
    }

    async fn query(&self, q: &EventQuery) -> Result<Vec<Event>, EventReadError> {
        query(&self.dir, q).map_err(|e| read_error(&self.dir, &e))
    }

    async fn stats(&self, since: DateTime<Utc>) -> Result<EventStats, EventReadError> {
        stats(&self.dir, since).map_err(|e| read_error(&self.dir, &e))
    }

    async fn hour_counts(
        &self,
        before: DateTime<Utc>,
    ) -> Result<BTreeMap<DateTime<Utc>, u64>, EventReadError> {
        hour_counts(&self.dir, before).map_err(|e| read_error(&self.dir, &e))
    }

    async fn follow(&self) -> Result<Box<dyn EventFollower>, EventReadError> {
        let tail = FileTail::at_end(&self.dir).map_err(|e| read_error(&self.dir, &e))?;
        Ok(Box::new(tail))
    }
}
