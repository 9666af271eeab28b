//! Running several instances (issue 15 §5): migrations under a lock, the
//! schema check when `PORTCULLIS_MIGRATE_ON_START=false`, the access log,
//! the `process_*` metrics and the master key given by file or setting.

use std::process::Command;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use migration::{Migrator, MigratorTrait};
use portcullis::adapters::db;
use portcullis::adapters::system::SystemClock;
use portcullis::config::MasterKeySource;
use portcullis::factory;
use portcullis::ports::prelude::*;
use portcullis::ports::{Clock, JwsAlg, Store};
use reqwest::StatusCode;
use serde_json::Value;
use zeroize::Zeroizing;

use crate::both_backends;
use crate::cli::{failed, ok, portcullis_with_env};
use crate::helpers::{Backend, TestDb, spawn_app, spawn_app_with, test_config};
use crate::keys::id_token_claims;
use crate::logs::{Captured, capturing, with_logger};
use crate::serve::start;

// ---- migrations under a lock ----------------------------------------------

both_backends!(
    four_instances_started_at_once_on_an_empty_database_all_become_ready,
    |backend| async move {
        let db = TestDb::new(backend).await;
        let dir = db.dir.path().to_owned();
        // One database and one data directory (the master and session
        // keys), as instances behind one load balancer share them.
        let envs = vec![
            ("PORTCULLIS_DATABASE_URL", db.url.clone()),
            (
                "PORTCULLIS_DATA_DIR",
                dir.join("data").display().to_string(),
            ),
        ];
        let servers = tokio::task::block_in_place(|| {
            std::thread::scope(|s| {
                let started: Vec<_> = (0..4).map(|_| s.spawn(|| start(&dir, &envs))).collect();
                started
                    .into_iter()
                    .map(|h| h.join().unwrap())
                    .collect::<Vec<_>>()
            })
        });
        for server in &servers {
            let status = reqwest::get(format!("http://{}/readyz", server.addr))
                .await
                .unwrap()
                .status();
            assert_eq!(status, StatusCode::OK, "{}", server.addr);
        }
        let conn = db::connect(&db.url).await.unwrap();
        let applied = Migrator::get_applied_migrations(&conn).await.unwrap();
        assert_eq!(applied.len(), Migrator::migrations().len());
        assert!(
            Migrator::get_pending_migrations(&conn)
                .await
                .unwrap()
                .is_empty()
        );
    }
);

/// The lock key is the documented one (docs/OPERATIONS.md).
#[test]
fn the_migration_lock_key_is_portcull() {
    assert_eq!(db::MIGRATION_LOCK_KEY, 8_101_820_098_873_224_300);
    assert_eq!(db::MIGRATION_LOCK_KEY.to_be_bytes(), *b"portcull");
}

// ---- PORTCULLIS_MIGRATE_ON_START=false ------------------------------------

both_backends!(
    with_migrate_on_start_off_commands_refuse_a_schema_that_is_behind,
    |backend| async move {
        let db = TestDb::new(backend).await;
        let off = [("PORTCULLIS_MIGRATE_ON_START", "false")];
        for args in [
            &["client", "list"][..],
            &["user", "list"],
            &["keys", "list"],
            &["purge"],
        ] {
            let err = failed(&portcullis_with_env(&db, args, &off, None));
            assert!(
                err.contains("schema is behind")
                    && err.contains("run `portcullis migrate`")
                    && err.contains("PORTCULLIS_MIGRATE_ON_START"),
                "{args:?}: {err}"
            );
        }
        let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .arg("serve")
            .current_dir(db.dir.path())
            .env("PORTCULLIS_DATABASE_URL", &db.url)
            .env("PORTCULLIS_DATA_DIR", db.dir.path().join("data"))
            .env("PORTCULLIS_LISTEN", "127.0.0.1:0")
            .env("PORTCULLIS_MANAGEMENT_LISTEN", "off")
            .env("PORTCULLIS_MIGRATE_ON_START", "false")
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("run `portcullis migrate`"), "{err}");
        // Nothing was migrated (the migrations table is not even created).
        let conn = db::connect(&db.url).await.unwrap();
        assert_eq!(
            Migrator::get_pending_migrations_read_only(&conn)
                .await
                .unwrap()
                .len(),
            Migrator::migrations().len()
        );
        // Once migrated, the same commands work with the setting still off.
        ok(&portcullis_with_env(&db, &["migrate"], &off, None));
        ok(&portcullis_with_env(&db, &["client", "list"], &off, None));
        ok(&portcullis_with_env(&db, &["keys", "list"], &off, None));
    }
);

// ---- access log ------------------------------------------------------------

fn access_lines(captured: &Captured) -> Vec<Value> {
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    logs.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "portcullis::access")
        .collect()
}

/// The line of `path` (exactly), answered with `request_id`.
fn line_of<'a>(lines: &'a [Value], path: &str, request_id: &str) -> &'a Value {
    lines
        .iter()
        .find(|l| l["fields"]["path"] == path && l["fields"]["request_id"] == request_id)
        .unwrap_or_else(|| panic!("no access line for {path} ({request_id}): {lines:#?}"))
}

const SECRET_STATE: &str = "state-Zm9vYmFyYmF6cXV4";
const SECRET_CODE: &str = "code-c2VjcmV0Y29kZQ";

async fn requests_of_every_kind(app: &crate::helpers::TestApp) -> Vec<(String, String, u16)> {
    let mut seen = Vec::new();
    for (method, path, query) in [
        // The fast path (discovery, JWKS).
        ("GET", "/.well-known/openid-configuration", "?probe=1"),
        ("GET", "/jwks", ""),
        // The router: a page, an API error, an unknown path.
        (
            "GET",
            "/authorize",
            &*format!("?client_id=nobody&state={SECRET_STATE}&code={SECRET_CODE}"),
        ),
        ("POST", "/token", ""),
        ("GET", "/no-such-path", &*format!("?code={SECRET_CODE}")),
    ] {
        let url = app.url(&format!("{path}{query}"));
        let req = match method {
            "GET" => app.http.get(url),
            _ => app.http.post(url).form(&[("grant_type", "nope")]),
        };
        let resp = req.send().await.unwrap();
        let id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
        seen.push((path.to_owned(), id, resp.status().as_u16()));
    }
    // A request id the client chose is the one logged.
    let resp = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .header("x-request-id", "rid-from-the-client")
        .send()
        .await
        .unwrap();
    seen.push((
        "/.well-known/jwks.json".into(),
        "rid-from-the-client".into(),
        resp.status().as_u16(),
    ));
    seen
}

fn one_line_per_request_without_the_query(backend: Backend) {
    let captured = Captured::default();
    with_logger(&capturing(&captured), || async {
        let app = spawn_app(backend).await;
        let seen = requests_of_every_kind(&app).await;
        let lines = access_lines(&captured);
        for (path, id, status) in &seen {
            let line = line_of(&lines, path, id);
            assert_eq!(line["level"], "INFO", "{line}");
            assert_eq!(line["fields"]["status"], *status, "{line}");
            assert!(line["fields"]["duration_ms"].as_f64().unwrap() >= 0.0);
            assert!(line["fields"]["method"].is_string(), "{line}");
            let same = lines
                .iter()
                .filter(|l| l["fields"]["request_id"] == id.as_str())
                .count();
            assert_eq!(same, 1, "one line per request: {lines:#?}");
        }
        assert_eq!(
            line_of(&lines, "/token", &seen[3].1)["fields"]["method"],
            "POST"
        );
        let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(!logs.contains(SECRET_STATE) && !logs.contains(SECRET_CODE));
        assert!(!logs.contains("probe=1"), "no query string is logged");
    });
}

#[test]
fn the_access_log_has_one_line_per_request_without_the_query_sqlite() {
    one_line_per_request_without_the_query(Backend::Sqlite);
}

#[test]
fn the_access_log_has_one_line_per_request_without_the_query_postgres() {
    one_line_per_request_without_the_query(Backend::Postgres);
}

#[test]
fn the_access_log_can_be_turned_off() {
    let captured = Captured::default();
    with_logger(&capturing(&captured), || async {
        let app = spawn_app_with(Backend::Sqlite, |c| c.access_log = false).await;
        let seen = requests_of_every_kind(&app).await;
        assert_eq!(seen.len(), 6);
        let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(logs.contains("request"), "the server logged: {logs}");
        assert!(access_lines(&captured).is_empty(), "{logs}");
    });
}

// ---- process metrics -------------------------------------------------------

/// The value of the unlabelled series `name` in a text exposition.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{name} missing from:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

both_backends!(
    metrics_include_the_standard_process_metrics,
    |backend| async move {
        let app = spawn_app(backend).await;
        let text = app
            .http
            .get(app.management_url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let now = f64::from(u32::try_from(chrono::Utc::now().timestamp()).unwrap());
        let resident = sample(&text, "process_resident_memory_bytes");
        assert!(resident > 1e6, "{resident}");
        assert!(sample(&text, "process_virtual_memory_bytes") >= resident);
        let cpu = sample(&text, "process_cpu_seconds_total");
        assert!((0.0..1e6).contains(&cpu), "{cpu}");
        let (open, max) = (
            sample(&text, "process_open_fds"),
            sample(&text, "process_max_fds"),
        );
        assert!(open >= 3.0 && open <= max, "{open} / {max}");
        let started = sample(&text, "process_start_time_seconds");
        assert!(
            started <= now + 1.0 && started > now - 86_400.0,
            "{started}"
        );
        assert!(sample(&text, "process_threads") >= 2.0);
        assert!(text.contains("# TYPE process_cpu_seconds_total counter"));
        assert!(text.contains("# TYPE process_resident_memory_bytes gauge"));
    }
);

// ---- master key from a file or the environment ------------------------------

both_backends!(
    a_key_ring_opens_the_same_keys_with_the_master_key_from_a_file_or_the_setting,
    |backend| async move {
        let db = TestDb::new(backend).await;
        let store: Arc<dyn Store> = Arc::new(db.store().await);
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let key: Vec<u8> = (0..32).map(|i| i * 7 + 3).collect();
        let key = STANDARD.encode(key);
        let secrets = tempfile::tempdir().unwrap();
        let file = secrets.path().join("master.key");
        std::fs::write(&file, format!("{key}\n")).unwrap();
        let mut config = test_config(&db, "127.0.0.1:1".parse().unwrap());
        config.master_key = MasterKeySource::File(file.clone());
        let by_file = factory::build_key_ring(&config, store.clone(), clock.clone(), None)
            .await
            .unwrap();
        let claims = id_token_claims(&config.issuer);
        let signed_by_file = by_file
            .sign_jwt(JwsAlg::Es256, "JWT", &claims)
            .await
            .unwrap();

        config.master_key = MasterKeySource::Inline(Zeroizing::new(key.clone()));
        let by_setting = factory::build_key_ring(&config, store.clone(), clock.clone(), None)
            .await
            .unwrap();
        for alg in JwsAlg::ALL {
            assert!(by_file.active_kid(alg).is_some());
            assert_eq!(by_file.active_kid(alg), by_setting.active_kid(alg));
        }
        by_setting.verify_jwt(&signed_by_file).unwrap();
        // The setting's ring unseals the private keys the file's ring sealed.
        let signed_by_setting = by_setting
            .sign_jwt(JwsAlg::Rs256, "JWT", &claims)
            .await
            .unwrap();
        by_file.verify_jwt(&signed_by_setting).unwrap();
        // The second ring made no keys of its own.
        assert_eq!(
            store
                .signing_keys()
                .list_signing_keys()
                .await
                .unwrap()
                .len(),
            JwsAlg::ALL.len()
        );

        // Never created or changed by us; nothing under the data directory.
        assert_eq!(std::fs::read_to_string(&file).unwrap(), format!("{key}\n"));
        assert!(!config.data_dir.join("master.key").exists());

        // Another key does not open them; a wrong length is refused.
        config.master_key = MasterKeySource::Inline(Zeroizing::new(STANDARD.encode([9_u8; 32])));
        let err = factory::build_key_ring(&config, store.clone(), clock.clone(), None)
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("another master key"), "{err}");
        config.master_key = MasterKeySource::Inline(Zeroizing::new(STANDARD.encode([9_u8; 16])));
        let err = factory::build_key_ring(&config, store.clone(), clock.clone(), None)
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("PORTCULLIS_MASTER_KEY") && err.contains("32 bytes"),
            "{err}"
        );
        config.master_key = MasterKeySource::File(secrets.path().join("absent.key"));
        let err = factory::build_key_ring(&config, store, clock, None)
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("never creates"), "{err}");
        assert!(!secrets.path().join("absent.key").exists());
    }
);

#[test]
fn serve_refuses_a_master_key_setting_of_the_wrong_length_or_given_twice() {
    let dir = tempfile::tempdir().unwrap();
    let key = STANDARD.encode([5_u8; 32]);
    for (envs, expected) in [
        (
            vec![("PORTCULLIS_MASTER_KEY", STANDARD.encode([5_u8; 31]))],
            "32 bytes",
        ),
        (
            vec![
                ("PORTCULLIS_MASTER_KEY", key.clone()),
                ("PORTCULLIS_MASTER_KEY_FILE", "/run/secrets/k".to_owned()),
            ],
            "give the master key one way",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .arg("serve")
            .current_dir(dir.path())
            .env_remove("PORTCULLIS_DATABASE_URL")
            .env("PORTCULLIS_LISTEN", "127.0.0.1:0")
            .env("PORTCULLIS_MANAGEMENT_LISTEN", "off")
            .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("PORTCULLIS_MASTER_KEY") && err.contains(expected),
            "{err}"
        );
        assert!(!err.contains(&key), "the key is never printed: {err}");
    }
    assert!(!dir.path().join("data").join("master.key").exists());
}
