//! Liveness and readiness.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::render_page;
use crate::state::AppState;

/// `GET /healthz`: the process is up.
pub async fn get_healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: the database answers. 503 otherwise, without detail (the
/// cause goes to the log).
pub async fn get_readyz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => Json(json!({ "status": "ready", "database": "ok" })).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed: database");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "database": "unreachable" })),
            )
                .into_response()
        }
    }
}

/// Anything else: 404 page.
pub async fn not_found(uri: axum::http::Uri) -> Response {
    // The admin API answers JSON even for a path it does not serve
    // (`/register` stays an unknown path while registration is off).
    if uri.path().starts_with("/admin/") {
        return axum::response::IntoResponse::into_response(crate::error::AppError::Api(
            crate::error::ApiError::not_found("no such resource"),
        ));
    }
    render_page(
        StatusCode::NOT_FOUND,
        "Page not found",
        "There is nothing at this address.",
    )
}
