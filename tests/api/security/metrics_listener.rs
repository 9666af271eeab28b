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

/// Kills the server process when the test ends, passed or not.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `portcullis serve` as a process: it logs both addresses, and `/metrics`
/// answers on the management one only.
#[tokio::test]
async fn serve_logs_the_management_listener_and_serves_metrics_there_only() {
    use std::io::{BufRead as _, BufReader};
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().unwrap();
    let mut child = Killed(
        Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .arg("serve")
            .current_dir(dir.path())
            .env_remove("PORTCULLIS_DATABASE_URL")
            .env_remove("PORTCULLIS_DATA_DIR")
            .env("PORTCULLIS_LISTEN", "127.0.0.1:0")
            .env("PORTCULLIS_MANAGEMENT_LISTEN", "127.0.0.1:0")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stderr = child.0.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let parsed = serde_json::from_str::<serde_json::Value>(&line).ok();
            if let Some(v) = parsed.filter(|v| v["message"] == "listening") {
                let _ = tx.send(v);
            }
        }
    });
    let v = rx
        .recv_timeout(std::time::Duration::from_mins(1))
        .expect("serve did not log `listening`");
    let public = v["addr"].as_str().unwrap().to_owned();
    let management = v["management"].as_str().unwrap().to_owned();
    assert_ne!(public, management);
    let get = |url: String| async move { reqwest::get(url).await.unwrap().status() };
    assert_eq!(
        get(format!("http://{public}/metrics")).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(format!("http://{public}/healthz")).await,
        StatusCode::OK
    );
    assert_eq!(
        get(format!("http://{management}/metrics")).await,
        StatusCode::OK
    );
    drop(child);
}
