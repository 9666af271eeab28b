//! The event archive's ports: [`ObjectStore`], the bucket the archive
//! writes to (S3 in production: `src/adapters/archive/s3.rs`), and
//! [`ArchivedHours`], what ClickHouse retention asks before it drops a
//! partition (`PORTCULLIS_EVENTS_RETENTION_REQUIRES_ARCHIVE`). The layout,
//! the Parquet schema and the manifest rules are `app::archive`'s
//! (docs/EVENTS.md, "Archive").

use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Why the bucket could not be used. The message names the operation, the
/// bucket and the key; it never holds object contents or credentials.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The object store could not be reached or refused the request
    /// (network, timeout, permissions, missing bucket).
    #[error("{0}")]
    Unavailable(String),
    /// An archived object is not what its manifest says (size, checksum,
    /// rows, format).
    #[error("{0}")]
    Corrupt(String),
}

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Its key in the bucket.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
}

/// A bucket of objects addressed by key (no vendor types: keys are plain
/// strings, bodies plain bytes).
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Writes `body` under `key`, replacing any object there (a PUT is
    /// atomic: readers see the old object or the new one, never a part).
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), ArchiveError>;

    /// The object under `key`, or `None` when there is none.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, ArchiveError>;

    /// Deletes the object under `key` (nothing when there is none).
    async fn delete(&self, key: &str) -> Result<(), ArchiveError>;

    /// Every object whose key starts with `prefix`, in key order.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, ArchiveError>;

    /// Where the objects are, for messages (`s3://bucket`).
    fn location(&self) -> String;
}

/// What the archive holds of one UTC hour, as retention needs it.
#[async_trait]
pub trait ArchivedHours: Send + Sync {
    /// The number of events archived for the hour starting at `hour`, when
    /// the hour is archived (its manifest exists and matches its data
    /// object); `None` when it is not.
    async fn archived_rows(&self, hour: DateTime<Utc>) -> Result<Option<u64>, ArchiveError>;
}
