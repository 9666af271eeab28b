//! Admin API: events.

use axum::response::Response;

use crate::error::AppError;

/// `get_events` (declared; built by its issue-15 slice).
pub async fn get_events(_caller: super::AdminRead) -> Result<Response, AppError> {
    super::not_built()
}

/// `get_event_stats` (declared; built by its issue-15 slice).
pub async fn get_event_stats(_caller: super::AdminRead) -> Result<Response, AppError> {
    super::not_built()
}
