//! The durable spool: where events wait on local disk while ClickHouse is
//! down, slow or refusing them, or while the in-memory queue is full.
//!
//! Layout: `<data_dir>/spool/segment-<20-digit sequence>.jsonl`, one event
//! per line (the JSON of [`Event`], the same as the event files). Segments
//! are append-only; each append is one `write` followed by `fdatasync`, and
//! a new segment's directory entry is synced too, so an event the spool
//! accepted survives a crash or power loss. The active segment is sealed
//! once it reaches [`SEGMENT_MAX_BYTES`] or when replay wants it; sealed
//! segments are replayed oldest first (the order they were written) and
//! deleted only after ClickHouse acknowledged them. A process holds
//! `spool/.lock` (an exclusive file lock) while it owns the spool, so two
//! instances cannot share one.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::domain::event::Event;

/// A segment is sealed once it holds this many bytes.
pub const SEGMENT_MAX_BYTES: u64 = 4 << 20;

/// Why the spool could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The directory or a segment could not be read or created.
    #[error("spool {path}: {source}")]
    Io {
        /// The path concerned.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Another process holds the spool.
    #[error(
        "spool {0} is in use by another portcullis process (each instance needs its own PORTCULLIS_DATA_DIR)"
    )]
    Locked(PathBuf),
}

/// One sealed segment, ready to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    seq: u64,
    path: PathBuf,
    events: u64,
}

impl Segment {
    /// How many lines (events) it holds.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Its file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// What a segment held.
#[derive(Debug, Default)]
pub struct SegmentContents {
    /// The events, in the order written.
    pub events: Vec<Event>,
    /// Lines that did not parse (a write torn by a crash); logged.
    pub bad_lines: u64,
}

struct Active {
    seq: u64,
    path: PathBuf,
    /// Shared so that `fdatasync` can run outside the lock.
    file: Arc<File>,
    bytes: u64,
    events: u64,
    /// Appends so far, and how many of them are known synced.
    written: u64,
    synced: u64,
}

struct Inner {
    active: Option<Active>,
    sealed: VecDeque<Segment>,
    next_seq: u64,
    pending: u64,
}

/// The spool of one process. Appends are safe from any thread.
pub struct Spool {
    dir: PathBuf,
    inner: Mutex<Inner>,
    _lock: File,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool")
            .field("dir", &self.dir)
            .field("pending", &self.pending())
            .finish_non_exhaustive()
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_owned(),
        source,
    }
}

fn segment_name(seq: u64) -> String {
    format!("segment-{seq:020}.jsonl")
}

fn parse_segment_name(name: &str) -> Option<u64> {
    name.strip_prefix("segment-")?
        .strip_suffix(".jsonl")?
        .parse()
        .ok()
}

/// Counts the lines of a segment (a torn last line counts as one).
fn count_lines(path: &Path) -> io::Result<(u64, u64)> {
    let mut file = File::open(path)?;
    let mut buf = vec![0_u8; 64 * 1024];
    let (mut lines, mut bytes, mut last) = (0_u64, 0_u64, b'\n');
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        #[allow(clippy::naive_bytecount)] // once per segment at start-up
        let newlines = buf[..n].iter().filter(|b| **b == b'\n').count();
        lines += newlines as u64;
        bytes += n as u64;
        last = buf[n - 1];
    }
    if last != b'\n' {
        lines += 1;
    }
    Ok((lines, bytes))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Spool {
    /// Opens (creating it if needed) and locks the spool in `dir`, and finds
    /// the segments a previous run left for replay.
    pub fn open(dir: &Path) -> Result<Self, SpoolError> {
        crate::adapters::files::create_private_dir_all(dir).map_err(io_err(dir))?;
        let lock_path = dir.join(".lock");
        let lock = crate::adapters::files::private_options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(SpoolError::Locked(dir.to_owned()));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io_err(&lock_path)(e)),
        }
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
            let entry = entry.map_err(io_err(dir))?;
            let name = entry.file_name();
            let Some(seq) = name.to_str().and_then(parse_segment_name) else {
                continue;
            };
            let path = entry.path();
            let (events, bytes) = count_lines(&path).map_err(io_err(&path))?;
            if bytes == 0 {
                std::fs::remove_file(&path).map_err(io_err(&path))?;
                continue;
            }
            found.push(Segment { seq, path, events });
        }
        found.sort_by_key(|s| s.seq);
        let next_seq = found.last().map_or(1, |s| s.seq + 1);
        let pending = found.iter().map(|s| s.events).sum();
        if pending > 0 {
            tracing::info!(
                dir = %dir.display(),
                segments = found.len(),
                events = pending,
                "spooled events from an earlier run will be replayed"
            );
        }
        Ok(Self {
            dir: dir.to_owned(),
            inner: Mutex::new(Inner {
                active: None,
                sealed: found.into(),
                next_seq,
                pending,
            }),
            _lock: lock,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The spool directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Events waiting for replay.
    pub fn pending(&self) -> u64 {
        self.lock().pending
    }

    /// Whether nothing waits for replay.
    pub fn is_empty(&self) -> bool {
        self.pending() == 0
    }

    /// Appends `events` durably (written and `fdatasync`ed before this
    /// returns). When the write fails, nothing of this call is kept; when
    /// only the sync fails, the lines may still be replayed later (so an
    /// event counted as dropped may yet arrive, never the reverse).
    pub fn append(&self, events: &[Event]) -> io::Result<()> {
        self.append_with(events, true)
    }

    /// Appends `events` without waiting for the disk: they are in the
    /// operating system's cache (safe from a crash of this process, not from
    /// power loss) until the next [`Spool::sync`], which the writer task
    /// runs after every batch. The queue-full path of `emit` uses this so
    /// that a request never waits for an `fdatasync`.
    pub fn append_unsynced(&self, events: &[Event]) -> io::Result<()> {
        self.append_with(events, false)
    }

    /// Makes earlier [`Spool::append_unsynced`] writes durable. The
    /// `fdatasync` runs outside the spool's lock, so appends from `emit` do
    /// not wait for it.
    pub fn sync(&self) -> io::Result<()> {
        let target = {
            let inner = self.lock();
            inner
                .active
                .as_ref()
                .filter(|a| a.written > a.synced)
                .map(|a| (a.file.clone(), a.seq, a.written))
        };
        if let Some((file, seq, written)) = target {
            file.sync_data()?;
            self.mark_synced(seq, written);
        }
        Ok(())
    }

    fn mark_synced(&self, seq: u64, written: u64) {
        let mut inner = self.lock();
        if let Some(a) = inner.active.as_mut().filter(|a| a.seq == seq) {
            a.synced = a.synced.max(written);
        }
    }

    fn append_with(&self, events: &[Event], sync: bool) -> io::Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity(events.len() * 512);
        for e in events {
            serde_json::to_writer(&mut buf, e).map_err(io::Error::other)?;
            buf.push(b'\n');
        }
        let n = events.len() as u64;
        let (file, seq, written) = {
            let mut inner = self.lock();
            if inner.active.is_none() {
                let seq = inner.next_seq;
                let path = self.dir.join(segment_name(seq));
                let file = crate::adapters::files::private_options()
                    .create_new(true)
                    .append(true)
                    .open(&path)?;
                sync_dir(&self.dir)?;
                inner.next_seq += 1;
                inner.active = Some(Active {
                    seq,
                    path,
                    file: Arc::new(file),
                    bytes: 0,
                    events: 0,
                    written: 0,
                    synced: 0,
                });
            }
            let Some(active) = inner.active.as_mut() else {
                return Err(io::Error::other("no active spool segment"));
            };
            let before = active.bytes;
            if let Err(e) = (&*active.file).write_all(&buf) {
                // Cut back what was written so that no torn line stays, and
                // start a fresh segment next time.
                let _ = active.file.set_len(before);
                Self::seal(&mut inner);
                return Err(e);
            }
            active.bytes += buf.len() as u64;
            active.events += n;
            active.written += 1;
            let out = (active.file.clone(), active.seq, active.written);
            let full = active.bytes >= SEGMENT_MAX_BYTES;
            inner.pending += n;
            if full {
                Self::seal(&mut inner);
            }
            out
        };
        if sync {
            file.sync_data()?;
            self.mark_synced(seq, written);
        }
        Ok(())
    }

    /// Seals the active segment (syncing what is not yet synced).
    fn seal(inner: &mut Inner) {
        if let Some(a) = inner.active.take() {
            if a.written > a.synced
                && let Err(e) = a.file.sync_data()
            {
                tracing::error!(segment = %a.path.display(), error = %e, "spool sync failed");
            }
            if a.events == 0 {
                let _ = std::fs::remove_file(&a.path);
            } else {
                inner.sealed.push_back(Segment {
                    seq: a.seq,
                    path: a.path,
                    events: a.events,
                });
            }
        }
    }

    /// The oldest segment waiting for replay, sealing the active one when
    /// there is no other.
    pub fn oldest(&self) -> Option<Segment> {
        let mut inner = self.lock();
        if inner.sealed.is_empty() {
            Self::seal(&mut inner);
        }
        inner.sealed.front().cloned()
    }

    /// Reads a sealed segment.
    pub fn read(segment: &Segment) -> io::Result<SegmentContents> {
        let reader = BufReader::new(File::open(&segment.path)?);
        let mut out = SegmentContents::default();
        for (i, line) in reader.split(b'\n').enumerate() {
            let line = line?;
            if line.is_empty() {
                continue;
            }
            match serde_json::from_slice::<Event>(&line) {
                Ok(e) => out.events.push(e),
                Err(err) => {
                    out.bad_lines += 1;
                    tracing::error!(
                        segment = %segment.path.display(),
                        line = i + 1,
                        error = %err,
                        "unreadable spool line skipped (a write torn by a crash?)"
                    );
                }
            }
        }
        Ok(out)
    }

    /// Deletes a replayed segment. Even when the file cannot be deleted, the
    /// segment is forgotten for this run (a later run replays it again;
    /// ClickHouse drops the duplicates by `event_id`).
    pub fn remove(&self, segment: &Segment) -> io::Result<()> {
        let mut inner = self.lock();
        if let Some(pos) = inner.sealed.iter().position(|s| s.seq == segment.seq) {
            inner.sealed.remove(pos);
            inner.pending = inner.pending.saturating_sub(segment.events);
        }
        drop(inner);
        std::fs::remove_file(&segment.path)?;
        sync_dir(&self.dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::{EventKind, EventStamp};
    use chrono::Utc;

    fn events(n: usize) -> Vec<Event> {
        (0..n)
            .map(|_| {
                Event::new(
                    EventKind::Logout,
                    EventStamp::new(Utc::now(), rand::random()),
                )
            })
            .collect()
    }

    #[test]
    fn appended_events_come_back_in_order_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let first = events(3);
        let second = events(2);
        {
            let spool = Spool::open(dir.path()).unwrap();
            spool.append(&first).unwrap();
            spool.append(&second).unwrap();
            assert_eq!(spool.pending(), 5);
        }
        let spool = Spool::open(dir.path()).unwrap();
        assert_eq!(spool.pending(), 5);
        let seg = spool.oldest().unwrap();
        let got = Spool::read(&seg).unwrap();
        let want: Vec<Event> = first.into_iter().chain(second).collect();
        assert_eq!(got.events, want);
        spool.remove(&seg).unwrap();
        assert!(spool.is_empty());
        assert!(spool.oldest().is_none());
    }

    /// The spool directory, its lock and its segments are the server's
    /// alone (0700 and 0600).
    #[cfg(unix)]
    #[test]
    fn the_spool_is_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("spool");
        let spool = Spool::open(&dir).unwrap();
        spool.append(&events(1)).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(".lock")), 0o600);
        assert_eq!(mode(&dir.join(segment_name(1))), 0o600);
    }

    #[test]
    fn a_second_process_cannot_take_the_same_spool() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Spool::open(dir.path()).unwrap();
        assert!(matches!(
            Spool::open(dir.path()),
            Err(SpoolError::Locked(_))
        ));
    }

    #[test]
    fn a_torn_last_line_is_skipped_and_the_rest_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let evs = events(2);
        {
            let spool = Spool::open(dir.path()).unwrap();
            spool.append(&evs).unwrap();
        }
        let path = dir.path().join(segment_name(1));
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"{\"event_id\":\"01").unwrap();
        drop(f);
        let spool = Spool::open(dir.path()).unwrap();
        assert_eq!(spool.pending(), 3);
        let seg = spool.oldest().unwrap();
        let got = Spool::read(&seg).unwrap();
        assert_eq!(got.events, evs);
        assert_eq!(got.bad_lines, 1);
    }

    #[test]
    fn segments_are_sealed_by_size_and_replayed_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let mut all = Vec::new();
        // ~400 bytes per event: a few thousand fill more than one segment.
        while spool.lock().sealed.len() < 2 {
            let batch = events(500);
            spool.append(&batch).unwrap();
            all.extend(batch);
        }
        let mut replayed = Vec::new();
        while let Some(seg) = spool.oldest() {
            replayed.extend(Spool::read(&seg).unwrap().events);
            spool.remove(&seg).unwrap();
        }
        assert_eq!(replayed, all);
    }
}
