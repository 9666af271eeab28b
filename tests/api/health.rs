//! `/healthz`, `/readyz`, common headers and limits.

use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::{Backend, spawn_app, spawn_app_with};

both_backends!(healthz_and_readyz_answer_200, |backend| async move {
    let app = spawn_app(backend).await;
    let r = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["database"], "ok");
});

#[tokio::test]
async fn readyz_is_503_when_the_database_is_gone_and_healthz_stays_200() {
    let app = spawn_app(Backend::Postgres).await;
    app.db.drop_postgres().await;
    let r = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let text = r.text().await.unwrap();
    assert!(text.contains("unreachable"), "{text}");
    assert!(
        !text.contains("test_"),
        "no database detail in the body: {text}"
    );
    let r = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn responses_carry_request_id_and_security_headers() {
    let app = spawn_app(Backend::Sqlite).await;
    let r = app.http.get(app.url("/healthz")).send().await.unwrap();
    let h = r.headers();
    assert!(uuid::Uuid::parse_str(h["x-request-id"].to_str().unwrap()).is_ok());
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );

    let r = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "abc-123");
}

#[tokio::test]
async fn unknown_path_is_a_404_page() {
    let app = spawn_app(Backend::Sqlite).await;
    let r = app.http.get(app.url("/nope")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(r.text().await.unwrap().contains("Page not found"));
}

#[tokio::test]
async fn oversized_body_is_refused_with_413() {
    let app = spawn_app_with(Backend::Sqlite, |c| c.max_body_bytes = 2048).await;
    let r = app
        .http
        .post(app.url("/healthz"))
        .body(vec![b'a'; 4096])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn stylesheet_is_served_from_the_binary() {
    let app = spawn_app(Backend::Sqlite).await;
    let r = app
        .http
        .get(app.url("/static/portcullis.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert!(r.text().await.unwrap().contains("--accent"));
}
