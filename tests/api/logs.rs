//! No secret in any log line (DESIGN.md invariant 11): a full flow runs
//! with every server log captured at debug level, then the logs are
//! searched for every secret the flow used.

use std::io::Write;
use std::sync::{Arc, Mutex};

use portcullis::app::operator::NewClient;
use reqwest::StatusCode;

use crate::flow::{
    PASSWORD, REDIRECT, VERIFIER, consent, login, param, redirect_params, register, user,
};
use crate::helpers::Backend;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines)] // one flow, read top to bottom
async fn a_full_flow_logs_no_secret() {
    let captured = Captured::default();
    let sink = captured.clone();
    // The server's logs (the test's own HTTP client is left out).
    tracing_subscriber::fmt()
        .json()
        .with_env_filter("debug,reqwest=off")
        .with_writer(move || sink.clone())
        .init();
    let app = crate::helpers::spawn_app(Backend::Sqlite).await;
    let c = register(
        &app,
        NewClient {
            name: "RP".into(),
            redirect_uris: vec![REDIRECT.into()],
            grant_types: vec![
                "authorization_code".into(),
                "refresh_token".into(),
                "client_credentials".into(),
            ],
            ..NewClient::default()
        },
    )
    .await;
    user(&app, "alice").await;
    let secret = c.secret.clone().unwrap();
    let q = crate::flow::query(&c.id, &[]).replace(
        "scope=openid+profile",
        "scope=openid+profile+offline_access",
    );
    let html = app
        .http
        .get(app.url(&format!("/authorize?{q}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let bad = login(&app, &html, "alice", "wrong password!")
        .await
        .text()
        .await
        .unwrap();
    let html = login(&app, &bad, "alice", PASSWORD)
        .await
        .text()
        .await
        .unwrap();
    let p = redirect_params(&consent(&app, &html, "allow").await);
    let code = param(&p, "code").unwrap().to_owned();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let t: serde_json::Value = app
        .http
        .post(app.url("/token"))
        .basic_auth(&c.id, Some(&secret))
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let at = t["access_token"].as_str().unwrap().to_owned();
    let rt = t["refresh_token"].as_str().unwrap().to_owned();
    let id_token = t["id_token"].as_str().unwrap().to_owned();
    let ui = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap();
    assert_eq!(ui.status(), StatusCode::OK);
    let refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt.as_str()),
    ];
    app.http
        .post(app.url("/token"))
        .basic_auth(&c.id, Some(&secret))
        .form(&refresh)
        .send()
        .await
        .unwrap();
    app.http
        .post(app.url("/token"))
        .basic_auth(&c.id, Some(&secret))
        .form(&refresh)
        .send()
        .await
        .unwrap();
    app.http
        .post(app.url("/token"))
        .basic_auth(&c.id, Some(&secret))
        .form(&form)
        .send()
        .await
        .unwrap();
    app.http
        .post(app.url("/token"))
        .basic_auth(&c.id, Some("wrong-secret-value"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    app.http
        .post(app.url("/revoke"))
        .basic_auth(&c.id, Some(&secret))
        .form(&[("token", at.as_str())])
        .send()
        .await
        .unwrap();
    let ui = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap();
    assert_eq!(ui.status(), StatusCode::UNAUTHORIZED);
    let logout = format!("/logout?id_token_hint={id_token}");
    app.http.get(app.url(&logout)).send().await.unwrap();

    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.lines().count() > 20,
        "the server logged the flow:\n{logs}"
    );
    assert!(logs.contains("token request"), "token requests are logged");
    for (name, value) in [
        ("authorization code", code.as_str()),
        ("access token", at.as_str()),
        ("refresh token", rt.as_str()),
        ("id token", id_token.as_str()),
        ("client secret", secret.as_str()),
        ("wrong client secret", "wrong-secret-value"),
        ("password", PASSWORD),
        ("wrong password", "wrong password!"),
    ] {
        assert!(!logs.contains(value), "the logs contain the {name}");
    }
}
