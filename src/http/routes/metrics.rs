//! `GET /metrics`: every metric in the Prometheus text format
//! ([`crate::metrics`]). Served on the management listener only
//! (`PORTCULLIS_MANAGEMENT_LISTEN`, loopback by default), never on the public
//! one (docs/OPERATIONS.md).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// `GET /metrics`.
pub async fn get_metrics() -> Response {
    match crate::metrics::render() {
        Ok(text) => {
            let mut resp = text.into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
            );
            resp
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot render metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
