//! Static assets, embedded in the binary so that `serve` works from any
//! directory.

use axum::http::header;
use axum::response::IntoResponse;

const CSS: &str = include_str!("../../../static/portcullis.css");
const FORM_POST_JS: &str = include_str!("../../../static/form_post.js");

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

/// `GET /static/form_post.js`: submits the form-post response page.
pub async fn get_form_post_js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        FORM_POST_JS,
    )
}
