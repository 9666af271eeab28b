//! Static assets, embedded in the binary so that `serve` works from any
//! directory.

use axum::http::header;
use axum::response::IntoResponse;

const CSS: &str = include_str!("../../../static/portcullis.css");

/// `GET /static/portcullis.css`.
pub async fn get_css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        CSS,
    )
}
