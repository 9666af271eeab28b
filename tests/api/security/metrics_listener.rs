//! No account enumeration through metrics (issue 14 item 4): `/metrics` is
//! served on the management listener only (`PORTCULLIS_MANAGEMENT_LISTEN`,
//! loopback by default), and a failed sign-in counts one reason,
//! `invalid_credentials`, whether the username exists or not.

use portcullis::config::{Config, RawSettings};
use reqwest::StatusCode;

use crate::flow::{client_req, get_authorize, login, query, register, user};
use crate::helpers::{Backend, TestApp, spawn_app};

const SERIES: &str = "portcullis_login_failures_total{reason=\"invalid_credentials\"}";

async fn metrics(app: &TestApp) -> String {
    let r = app
        .http
        .get(app.management_url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    r.text().await.unwrap()
}

/// The value of the series `name` (0 when absent).
fn series(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_are_served_on_the_management_listener_not_the_public_one() {
    let app = spawn_app(Backend::Sqlite).await;
    let r = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "not on the public listener"
    );
    let text = metrics(&app).await;
    assert!(text.contains("# TYPE portcullis_http_requests_total counter"));
    // The management listener serves nothing else.
    for path in ["/token", "/authorize", "/.well-known/openid-configuration"] {
        let r = app.http.get(app.management_url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

#[test]
fn the_management_listener_is_on_loopback_by_default_and_can_be_turned_off() {
    let config = Config::from_raw(RawSettings::default()).unwrap();
    let addr = config.management_listen.expect("on by default");
    assert!(addr.ip().is_loopback(), "{addr}");
    assert_ne!(addr.port(), config.listen.port());
    let off = Config::from_raw(RawSettings {
        management_listen: Some("off".into()),
        ..RawSettings::default()
    })
    .unwrap();
    assert_eq!(off.management_listen, None);
    let bad = Config::from_raw(RawSettings {
        management_listen: Some("nonsense".into()),
        ..RawSettings::default()
    })
    .unwrap_err();
    assert_eq!(bad.setting, "PORTCULLIS_MANAGEMENT_LISTEN");
}

#[tokio::test]
async fn an_unknown_user_and_a_wrong_password_count_as_one_reason() {
    let app = spawn_app(Backend::Sqlite).await;
    let client = register(&app, client_req(false)).await;
    user(&app, "alice").await;
    let before = series(&metrics(&app).await, SERIES);
    for username in ["alice", "nobody-by-this-name"] {
        let page = get_authorize(&app, &query(&client.id, &[])).await;
        let html = page.text().await.unwrap();
        let r = login(&app, &html, username, "wrong password").await;
        assert_eq!(r.status(), StatusCode::OK, "the login page again");
    }
    let text = metrics(&app).await;
    // The registry is process-wide: other tests may add to the count, never
    // take from it.
    assert!(series(&text, SERIES) >= before + 2.0, "{text}");
    for telling in ["reason=\"unknown_user\"", "reason=\"bad_password\""] {
        assert!(
            !text.contains(telling),
            "{telling} tells whether an account exists:\n{text}"
        );
    }
}
