//! `portcullis serve` as a process: embedded defaults in an empty directory,
//! and PostgreSQL through `PORTCULLIS_DATABASE_URL`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::helpers::{Backend, TestDb};

pub struct Server {
    pub child: Child,
    pub addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// Starts `serve` on an ephemeral port and reads the bound address from the
/// JSON `listening` log line (a server that exits first fails the test with
/// its log).
pub fn start(dir: &std::path::Path, envs: &[(&str, String)]) -> Server {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    cmd.arg("serve")
        .current_dir(dir)
        .env_remove("PORTCULLIS_DATABASE_URL")
        .env_remove("PORTCULLIS_DATA_DIR")
        .env("PORTCULLIS_LISTEN", "127.0.0.1:0")
        .env("PORTCULLIS_MANAGEMENT_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let lines = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let parsed = serde_json::from_str::<serde_json::Value>(&line).ok();
            if let Some(v) = parsed.filter(|v| v["message"] == "listening") {
                let _ = tx.send(v["addr"].as_str().unwrap_or_default().to_owned());
            }
            let mut log = lines.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
    let Ok(addr) = rx.recv_timeout(Duration::from_mins(1)) else {
        let _ = child.kill();
        panic!("server did not log `listening`:\n{}", log.lock().unwrap());
    };
    Server { child, addr }
}

async fn get(url: &str) -> reqwest::StatusCode {
    reqwest::get(url).await.unwrap().status()
}

fn terminate(server: &mut Server) -> std::process::ExitStatus {
    let pid = server.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    for _ in 0..100 {
        if let Some(status) = server.child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("server did not stop on SIGTERM");
}

#[tokio::test]
async fn serve_in_an_empty_directory_creates_data_and_is_ready() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path(), &[]);
    assert!(
        dir.path().join("data").join("portcullis.db").exists(),
        "SQLite file under ./data"
    );
    assert_eq!(get(&format!("http://{}/readyz", server.addr)).await, 200);
    assert_eq!(get(&format!("http://{}/healthz", server.addr)).await, 200);
    let status = terminate(&mut server);
    assert!(status.success(), "graceful shutdown exits 0: {status:?}");
}

#[tokio::test]
async fn serve_on_postgres_is_ready() {
    let db = TestDb::new(Backend::Postgres).await;
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path(), &[("PORTCULLIS_DATABASE_URL", db.url.clone())]);
    assert_eq!(get(&format!("http://{}/readyz", server.addr)).await, 200);
    assert!(
        !dir.path().join("data").join("portcullis.db").exists(),
        "no SQLite file when on PostgreSQL"
    );
    assert!(terminate(&mut server).success());
}

#[test]
fn serve_fails_clearly_when_postgres_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .arg("serve")
        .current_dir(dir.path())
        .env("PORTCULLIS_LISTEN", "127.0.0.1:0")
        .env(
            "PORTCULLIS_DATABASE_URL",
            "postgres://postgres@127.0.0.1:1/none",
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("cannot connect to the database"), "{err}");
}

#[tokio::test]
async fn fresh_serve_publishes_keys_and_a_discovery_document() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path(), &[]);
    let base = format!("http://{}", server.addr);
    let jwks: serde_json::Value = reqwest::get(format!("{base}/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kty: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kty"].as_str().unwrap())
        .collect();
    assert!(kty.contains(&"EC") && kty.contains(&"RSA"), "{kty:?}");
    let body = reqwest::get(format!("{base}/.well-known/openid-configuration"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let meta: openidconnect::core::CoreProviderMetadata = serde_json::from_slice(&body).unwrap();
    assert!(meta.jwks_uri().as_str().ends_with("/jwks"));
    assert!(dir.path().join("data").join("master.key").exists());
    assert!(terminate(&mut server).success());
}
