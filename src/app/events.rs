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

/// Parses a point in time given as an RFC 3339 time or as a duration
/// before `now` ([`parse_since`]): `events tail --since/--until`, and the
/// admin API's `from`, `to` and `since`.
pub fn parse_when(raw: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw.trim()) {
        return Ok(t.with_timezone(&Utc));
    }
    parse_since(raw)
        .map(|d| now - d)
        .map_err(|e| format!("{e}; or an RFC 3339 time such as 2026-11-20T10:00:00Z"))
}

/// Parses a `--since` value such as `24h`, `7d`, `30m`, `90s` or `2w`.
pub fn parse_since(raw: &str) -> Result<chrono::Duration, String> {
    let raw = raw.trim();
    let split = raw
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{raw:?}: add a unit: s, m, h, d or w (e.g. 24h)"))?;
    let (num, unit) = raw.split_at(split);
    let n: i64 = num
        .parse()
        .map_err(|_| format!("{raw:?}: expected a number then a unit, e.g. 24h"))?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(format!("{raw:?}: unknown unit {unit:?} (s, m, h, d or w)")),
    };
    n.checked_mul(secs)
        .filter(|s| *s > 0 && *s <= 100 * 365 * 86_400)
        .map(chrono::Duration::seconds)
        .ok_or_else(|| format!("{raw:?}: out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_values() {
        let now = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 20, 10, 0, 0).unwrap();
        assert_eq!(
            parse_when("2026-11-19T10:00:00Z", now).unwrap(),
            now - chrono::Duration::days(1)
        );
        assert_eq!(
            parse_when("24h", now).unwrap(),
            now - chrono::Duration::days(1)
        );
        assert!(parse_when("yesterday", now).is_err());
    }

    #[test]
    fn since_values() {
        assert_eq!(parse_since("24h").unwrap(), chrono::Duration::hours(24));
        assert_eq!(parse_since("7d").unwrap(), chrono::Duration::days(7));
        assert_eq!(parse_since("30m").unwrap(), chrono::Duration::minutes(30));
        assert_eq!(parse_since("2w").unwrap(), chrono::Duration::weeks(2));
        for bad in ["", "24", "h", "24x", "-1h", "0h", "99999999999999d"] {
            assert!(parse_since(bad).is_err(), "{bad}");
        }
    }
}
