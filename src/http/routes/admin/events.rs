//! Admin API: the audit trail (docs/EVENTS.md, docs/ADMIN.md). The filtered
//! query and the stats of `portcullis events tail|stats`; the checks are
//! `app::events`, which the CLI calls too.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::{AdminRead, json as respond};
use crate::app::events::{self as app_events, QueryError};
use crate::domain::event::EventKind;
use crate::error::{ApiError, AppError};
use crate::http::extractors::Query;
use crate::ports::EventQuery;
use crate::protocol::params::RawParams;
use crate::state::AppState;

fn refused(e: QueryError) -> AppError {
    match e {
        QueryError::Invalid(m) => ApiError::invalid_request(m).into(),
        QueryError::Read(e) => {
            tracing::warn!(error = %e, "admin API: reading events failed");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the event store cannot be read now",
            )
            .into()
        }
    }
}

/// The value of `name`, refusing a repeated one.
fn one<'a>(q: &'a RawParams, name: &str) -> Result<Option<&'a str>, AppError> {
    if q.is_repeated(name) {
        return Err(ApiError::invalid_request(format!("{name} was given more than once")).into());
    }
    Ok(q.get(name))
}

/// `GET /admin/v1/events?kind=&client_id=&subject=&from=&to=&limit=`: the
/// newest matching events, newest first (`limit` 1 to 1000, default 100;
/// `from` inclusive, `to` exclusive, each RFC 3339 or a duration ago).
pub async fn get_events(
    _caller: AdminRead,
    State(state): State<AppState>,
    Query(q): Query,
) -> Result<Response, AppError> {
    let now = state.clock.now();
    let when = |name: &str| -> Result<_, AppError> {
        one(&q, name)?
            .map(|v| {
                app_events::parse_when(v, now)
                    .map_err(|e| AppError::from(ApiError::invalid_request(format!("{name}: {e}"))))
            })
            .transpose()
    };
    let kind = one(&q, "kind")?
        .map(str::parse::<EventKind>)
        .transpose()
        .map_err(ApiError::invalid_request)?;
    let limit = match one(&q, "limit")? {
        None => app_events::DEFAULT_LIMIT,
        Some(v) => v.parse().map_err(|_| {
            ApiError::invalid_request(format!(
                "limit must be a number between 1 and {}",
                app_events::MAX_LIMIT
            ))
        })?,
    };
    let query = EventQuery {
        kind,
        client_id: one(&q, "client_id")?.map(str::to_owned),
        subject: one(&q, "subject")?.map(str::to_owned),
        from: when("from")?,
        to: when("to")?,
        limit,
    };
    let events = app_events::query(state.event_reader.as_ref(), query)
        .await
        .map_err(refused)?;
    Ok(respond(StatusCode::OK, &json!({ "events": events })))
}

/// `GET /admin/v1/events/stats?since=`: counts by kind, by client and
/// failed logins by reason since `since` (RFC 3339 or a duration ago;
/// default 24h).
pub async fn get_event_stats(
    _caller: AdminRead,
    State(state): State<AppState>,
    Query(q): Query,
) -> Result<Response, AppError> {
    let now = state.clock.now();
    let since = match one(&q, "since")? {
        None => now - chrono::Duration::hours(24),
        Some(v) => app_events::parse_when(v, now)
            .map_err(|e| ApiError::invalid_request(format!("since: {e}")))?,
    };
    let counts = app_events::stats(state.event_reader.as_ref(), since, now)
        .await
        .map_err(refused)?;
    Ok(respond(StatusCode::OK, &counts))
}
