//! No secret in any log line (docs/SECURITY.md invariant 11): a full flow runs
//! with every server log captured at debug level, then the logs are
//! searched for every secret the flow used.

use std::cell::RefCell;
use std::io::Write;
use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use tracing::dispatcher::{self, DefaultGuard, Dispatch};

use crate::flow::{PASSWORD, WRONG_PASSWORD, WRONG_SECRET, misuse_and_revoke, sign_in};
use crate::helpers::Backend;

#[derive(Clone, Default)]
pub struct Captured(pub Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

thread_local! {
    /// The capturing logger of this thread, while it is one of the test's
    /// runtime threads.
    static LOGGER: RefCell<Option<DefaultGuard>> = const { RefCell::new(None) };
}

/// The server's logs at debug level, JSON, into `captured` (the test's own
/// HTTP client is left out).
pub fn capturing(captured: &Captured) -> Dispatch {
    let sink = captured.clone();
    Dispatch::new(
        tracing_subscriber::fmt()
            .json()
            .with_env_filter("debug,reqwest=off")
            .with_writer(move || sink.clone())
            .finish(),
    )
}

/// Runs `test` on a runtime of its own whose every thread (workers and the
/// blocking pool) logs to `logger`. Scoped, never global: other tests in
/// the same process (`cargo test`) keep their own logger.
pub fn with_logger<F: Future<Output = ()>>(logger: &Dispatch, test: impl FnOnce() -> F) {
    let on_start = logger.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(move || {
            LOGGER.with(|g| *g.borrow_mut() = Some(dispatcher::set_default(&on_start)));
        })
        .on_thread_stop(|| LOGGER.with(|g| drop(g.borrow_mut().take())))
        .build()
        .unwrap();
    dispatcher::with_default(logger, || runtime.block_on(test()));
}

#[test]
fn a_full_flow_logs_no_secret() {
    let captured = Captured::default();
    with_logger(&capturing(&captured), || flow_with_every_secret(&captured));
}

async fn flow_with_every_secret(captured: &Captured) {
    let app = crate::helpers::spawn_app(Backend::Sqlite).await;
    let s = sign_in(&app).await;
    let userinfo = || {
        app.http
            .get(app.url("/userinfo"))
            .bearer_auth(&s.access_token)
            .send()
    };
    assert_eq!(userinfo().await.unwrap().status(), StatusCode::OK);
    misuse_and_revoke(&app, &s).await;
    assert_eq!(userinfo().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let logout = format!("/logout?id_token_hint={}", s.id_token);
    app.http.get(app.url(&logout)).send().await.unwrap();

    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.lines().count() > 20,
        "the server logged the flow:\n{logs}"
    );
    assert!(logs.contains("token request"), "token requests are logged");
    for (name, value) in [
        ("authorization code", s.code.as_str()),
        ("access token", s.access_token.as_str()),
        ("refresh token", s.refresh_token.as_str()),
        ("id token", s.id_token.as_str()),
        ("client secret", s.secret.as_str()),
        ("wrong client secret", WRONG_SECRET),
        ("password", PASSWORD),
        ("wrong password", WRONG_PASSWORD),
    ] {
        assert!(!logs.contains(value), "the logs contain the {name}");
    }
}
