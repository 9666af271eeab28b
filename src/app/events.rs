//! Reading the audit trail as an operator service: the filtered query and
//! the stats, checked here once for `portcullis events tail|stats`
//! (`src/cli/events.rs`) and the admin API (`src/http/routes/admin/events.rs`).
//! The reading itself is the [`EventReader`] port's (files or ClickHouse).

use chrono::{DateTime, Utc};

use crate::domain::event::Event;

use crate::ports::{EventQuery, EventReadError, EventReader, EventStats};

/// The most events one query returns.
pub const MAX_LIMIT: usize = 1000;
/// How many events a query returns when it does not say.
pub const DEFAULT_LIMIT: usize = 100;
/// The longest `client_id` or `subject` filter value, in bytes.
const MAX_VALUE_BYTES: usize = 256;

/// Why a query was not run, or failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// Bad input; the message says which. Nothing was read.
    #[error("{0}")]
    Invalid(String),
    /// The event store could not be read.
    #[error(transparent)]
    Read(#[from] EventReadError),
}

fn check_value(name: &str, v: Option<&str>) -> Result<(), QueryError> {
    match v {
        Some(v) if v.is_empty() || v.len() > MAX_VALUE_BYTES || v.chars().any(char::is_control) => {
            Err(QueryError::Invalid(format!(
                "{name} must be 1 to {MAX_VALUE_BYTES} bytes without control characters"
            )))
        }
        _ => Ok(()),
    }
}

/// Checks `q` (limit 1 to [`MAX_LIMIT`], `from` before `to`, filter values
/// of sane size) and runs it: the newest matching events, newest first.
pub async fn query(reader: &dyn EventReader, q: EventQuery) -> Result<Vec<Event>, QueryError> {
    if q.limit == 0 || q.limit > MAX_LIMIT {
        return Err(QueryError::Invalid(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    if let (Some(from), Some(to)) = (q.from, q.to)
        && from >= to
    {
        return Err(QueryError::Invalid(
            "from must be before to (from is inclusive, to exclusive)".into(),
        ));
    }
    check_value("client_id", q.client_id.as_deref())?;
    check_value("subject", q.subject.as_deref())?;
    Ok(reader.query(&q).await?)
}

/// Counts of the events since `since` (by kind, by client, failed logins
/// by reason); `since` must not be in the future of `now`.
pub async fn stats(
    reader: &dyn EventReader,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<EventStats, QueryError> {
    if since > now {
        return Err(QueryError::Invalid(
            "since must not be in the future".into(),
        ));
    }
    Ok(reader.stats(since).await?)
}
