//! Shared test harness: a fresh database per test on SQLite or PostgreSQL,
//! and a server on an ephemeral port.

#![allow(dead_code)] // shared by the test modules; not every helper is used by each

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use portcullis::adapters::argon2::{Argon2Hasher, Argon2Params};
use portcullis::adapters::db::{self, SeaStore};
use portcullis::config::{Config, RawSettings};
use portcullis::factory::Overrides;
use portcullis::startup::App;
use portcullis::state::AppState;
use sea_orm::ConnectionTrait;
use tempfile::TempDir;

/// The two database back ends every persistence test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a test body once per back end, as `NAME::sqlite` and
/// `NAME::postgres` (Hydra loops its persistence tests the same way).
#[macro_export]
macro_rules! both_backends {
    ($name:ident, |$b:ident| $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let $b = $crate::helpers::Backend::Sqlite;
                $body.await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let $b = $crate::helpers::Backend::Postgres;
                $body.await
            }
        }
    };
}

/// The PostgreSQL server the tests use. Unreachable means the test FAILS:
/// never skip: a missing service is a failure.
pub fn postgres_admin_url() -> String {
    std::env::var("PORTCULLIS_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A fresh, empty database (not migrated).
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    pub dir: TempDir,
    pub pg_name: Option<String>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        let dir = tempfile::tempdir().unwrap();
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}/db.sqlite?mode=rwc", dir.path().display());
                Self {
                    url,
                    backend,
                    dir,
                    pg_name: None,
                }
            }
            Backend::Postgres => {
                let admin = postgres_admin_url();
                let name = format!("test_{}", uuid::Uuid::new_v4().simple());
                let conn = sea_orm::Database::connect(&admin)
                    .await
                    .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is required: {e}"));
                conn.execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .unwrap();
                conn.close().await.unwrap();
                let mut url = url::Url::parse(&admin).unwrap();
                url.set_path(&name);
                Self {
                    url: url.to_string(),
                    backend,
                    dir,
                    pg_name: Some(name),
                }
            }
        }
    }

    /// Opens and migrates the database.
    pub async fn store(&self) -> SeaStore {
        let conn = db::connect(&self.url).await.unwrap();
        db::migrate(&conn).await.unwrap();
        SeaStore::new(conn)
    }

    /// Takes the PostgreSQL database away (simulates an outage for the
    /// readiness tests): it refuses new connections and its open ones are
    /// ended. Not `DROP DATABASE`, which waits for a checkpoint: minutes on
    /// a test server holding many test databases.
    pub async fn drop_postgres(&self) {
        let name = self.pg_name.as_ref().expect("postgres only");
        let conn = sea_orm::Database::connect(&postgres_admin_url())
            .await
            .unwrap();
        conn.execute_unprepared(&format!(
            "ALTER DATABASE \"{name}\" WITH ALLOW_CONNECTIONS false"
        ))
        .await
        .unwrap();
        // Waits up to 5 s for each connection to end.
        conn.execute_unprepared(&format!(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity \
             WHERE datname = '{name}'"
        ))
        .await
        .unwrap();
        conn.close().await.unwrap();
    }
}

/// A running server on an ephemeral port.
pub struct TestApp {
    pub addr: SocketAddr,
    /// The management listener (`/metrics`), when on.
    pub management: Option<SocketAddr>,
    pub issuer: String,
    pub http: reqwest::Client,
    pub state: AppState,
    pub db: TestDb,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// A URL on the management listener.
    pub fn management_url(&self, path: &str) -> String {
        let addr = self.management.expect("the management listener is on");
        format!("http://{addr}{path}")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.db.dir.path().join("data")
    }

    /// Stops the server (its shutdown signal fires) and hands back its
    /// database, for a restart on it (`keys::start_instance`).
    pub fn stop(self) -> TestDb {
        self.db
    }
}

/// A configuration for a test server.
pub fn test_config(db: &TestDb, addr: SocketAddr) -> Config {
    let mut config = Config::from_raw(RawSettings {
        issuer: Some(format!("http://{addr}")),
        listen: Some(addr.to_string()),
        database_url: Some(db.url.clone()),
        data_dir: Some(db.dir.path().join("data").display().to_string()),
        management_listen: Some("127.0.0.1:0".into()),
        ..RawSettings::default()
    })
    .unwrap();
    // The rotation tests present a rotated refresh token at once and expect
    // reuse detection: no grace window here. The window's own tests
    // (refresh_grace.rs) set it, and config tests check its default (10 s).
    config.tokens.refresh_grace = chrono::Duration::zero();
    config
}

/// Cheap argon2 parameters: tests check behaviour, not cost.
pub fn test_overrides() -> Overrides {
    Overrides {
        passwords: Some(Arc::new(Argon2Hasher::new(Argon2Params::TEST, 4).unwrap())),
        force_migrate: true,
        ..Overrides::default()
    }
}

/// A client that keeps cookies and never follows redirects.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap()
}

/// A server whose events are recorded in memory.
pub async fn spawn_app_recording(
    backend: Backend,
) -> (TestApp, Arc<portcullis::testing::MemoryEventSink>) {
    let sink = Arc::new(portcullis::testing::MemoryEventSink::new());
    let mut overrides = test_overrides();
    overrides.events = Some(sink.clone());
    (spawn_app_full(backend, |_| {}, overrides).await, sink)
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Spawns a server after letting the test adjust the configuration.
pub async fn spawn_app_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_with_overrides(backend, adjust, async |_| test_overrides()).await
}

/// Spawns a server with a configuration adjustment and chosen overrides.
pub async fn spawn_app_full(
    backend: Backend,
    adjust: impl FnOnce(&mut Config),
    overrides: Overrides,
) -> TestApp {
    spawn_app_with_overrides(backend, adjust, async move |_| overrides).await
}

/// Spawns a server with overrides built from its fresh database.
pub async fn spawn_app_with_overrides(
    backend: Backend,
    adjust: impl FnOnce(&mut Config),
    overrides: impl AsyncFnOnce(&TestDb) -> Overrides,
) -> TestApp {
    // Logs show up in a failing test's output (set TEST_LOG=debug for more):
    // the first call in the process installs the fallback logger, later ones
    // are no-ops, and the runtime threads a test starts inherit its output
    // capture. A test that reads the logs sets a logger of its own per thread
    // (logs.rs), never a global one, so every test runs the same under
    // `cargo test` (one process) and `cargo nextest run` (one per test).
    let filter = std::env::var("TEST_LOG").unwrap_or_else(|_| "warn".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
    let db = TestDb::new(backend).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = test_config(&db, addr);
    adjust(&mut config);
    let issuer = config.issuer.clone();
    let overrides = overrides(&db).await;
    let app = App::build(config, listener, overrides).await.unwrap();
    let state = app.state().clone();
    let management = app.management_addr();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async move {
        let _ = rx.await;
    }));
    TestApp {
        addr,
        management,
        issuer,
        http: http_client(),
        state,
        db,
        _shutdown: tx,
    }
}

/// The JWK Set `issuer` publishes (`/jwks`).
pub async fn jwks_of(issuer: &str) -> jsonwebtoken::jwk::JwkSet {
    reqwest::get(format!("{}/jwks", issuer.trim_end_matches('/')))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Verifies a Security Event Token as a consumer does, with an independent
/// JOSE implementation (`jsonwebtoken`): RFC 8417 §2.3 `typ`
/// `secevent+jwt`; the signature against `jwks`; `iss`, and `aud` when
/// given; `iat` recent; no `exp`. Returns its claims.
pub fn verify_set(
    jwks: &jsonwebtoken::jwk::JwkSet,
    issuer: &str,
    audience: Option<&str>,
    set: &str,
) -> serde_json::Value {
    use jsonwebtoken::{DecodingKey, Validation, decode, decode_header};
    let header = decode_header(set).unwrap();
    assert_eq!(header.typ.as_deref(), Some("secevent+jwt"));
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("the SET's key is published");
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let mut v = Validation::new(header.alg);
    v.set_issuer(&[issuer]);
    v.set_required_spec_claims(&["iss", "iat", "jti"]);
    v.validate_exp = false;
    match audience {
        Some(aud) => v.set_audience(&[aud]),
        None => v.validate_aud = false,
    }
    let claims = decode::<serde_json::Value>(set, &key, &v).unwrap().claims;
    let iat = claims["iat"].as_i64().unwrap();
    assert!(
        (iat - chrono::Utc::now().timestamp()).abs() < 600,
        "{claims}"
    );
    assert!(claims.get("exp").is_none(), "{claims}");
    claims
}
