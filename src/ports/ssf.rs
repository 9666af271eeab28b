//! The repository port of Shared Signals event streams and their subjects
//! (OpenID Shared Signals Framework 1.0 §8.1; `app::ssf`). Reached
//! through [`Repositories::streams`](super::Repositories::streams).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::domain::ClientId;
use crate::domain::ssf::{Stream, StreamStatus};

/// The repository of event streams.
#[async_trait]
pub trait StreamRepository: Send + Sync {
    /// Stores a new stream; `Conflict` when its client has one already
    /// (one stream per receiver: SSF 1.0 §8.1.1.1 answers 409).
    async fn insert_stream(&self, stream: &Stream) -> Result<(), StoreError>;
    /// The stream `id`.
    async fn get_stream(&self, id: &str) -> Result<Option<Stream>, StoreError>;
    /// The stream of receiver `client_id`, if it has one.
    async fn stream_of_client(&self, client_id: &ClientId) -> Result<Option<Stream>, StoreError>;
    /// Every stream, by receiver (for operators).
    async fn list_streams(&self) -> Result<Vec<Stream>, StoreError>;
    /// Replaces the receiver-supplied fields of the stream with the same id
    /// (endpoint, sealed header, events, description) and `updated_at`;
    /// `false` when there is none.
    async fn update_stream(&self, stream: &Stream) -> Result<bool, StoreError>;
    /// Sets the status (and its reason, and whether the transmitter set
    /// it) of stream `id`; the status it had before, `None` when there is
    /// no such stream.
    async fn set_stream_status(
        &self,
        id: &str,
        status: StreamStatus,
        reason: Option<&str>,
        by_transmitter: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<StreamStatus>, StoreError>;
    /// Deletes stream `id` and its subjects; `false` when there was none.
    async fn delete_stream(&self, id: &str) -> Result<bool, StoreError>;
    /// Records a verification request on stream `id` at `now` unless one
    /// was recorded after `not_before`, in one conditional update: `true`
    /// means this caller may send the verification event (of parallel
    /// requests within the interval, exactly one wins).
    async fn claim_verification(
        &self,
        id: &str,
        now: DateTime<Utc>,
        not_before: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Adds user `user_id` to stream `stream_id` (adding twice is
    /// harmless).
    async fn add_subject(
        &self,
        stream_id: &str,
        user_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Removes user `user_id` from stream `stream_id`; `false` when it was
    /// not there.
    async fn remove_subject(&self, stream_id: &str, user_id: &str) -> Result<bool, StoreError>;
    /// How many subjects stream `stream_id` has.
    async fn count_subjects(&self, stream_id: &str) -> Result<u64, StoreError>;
    /// The streams an event about user `user_id` goes to: not disabled,
    /// with the user as a subject, and whose receiver the user signed in
    /// to (a grant of the receiver's client for the user, live or
    /// revoked: SSF 1.0 §10.2, a receiver learns only of its own users).
    async fn streams_for_subject(&self, user_id: &str) -> Result<Vec<Stream>, StoreError>;
}
