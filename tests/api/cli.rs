//! The operator CLI, run as a process against both back ends.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use portcullis::domain::{ClientId, Username};
use portcullis::ports::prelude::*;

use crate::both_backends;
use crate::helpers::TestDb;

pub fn portcullis(db: &TestDb, args: &[&str], stdin: Option<&str>) -> Output {
    portcullis_with_env(db, args, &[], stdin)
}

/// [`portcullis`] with extra environment variables (settings).
pub fn portcullis_with_env(
    db: &TestDb,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: Option<&str>,
) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    cmd.args(args)
        .envs(env.iter().copied())
        .current_dir(db.dir.path())
        .env("PORTCULLIS_DATABASE_URL", &db.url)
        .env("PORTCULLIS_DATA_DIR", db.dir.path().join("data"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    {
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).unwrap();
        }
    }
    child.wait_with_output().unwrap()
}

pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

pub fn failed(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "expected failure; stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr.clone()).unwrap()
}

both_backends!(
    creates_confidential_and_public_clients_storing_only_hashes,
    |backend| async move {
        let db = TestDb::new(backend).await;
        let out = portcullis(
            &db,
            &[
                "client",
                "create",
                "--name",
                "Billing",
                "--redirect-uri",
                "https://billing.example/cb",
                "--redirect-uri",
                "http://127.0.0.1:9000/cb",
                "--grant-type",
                "authorization_code",
                "--grant-type",
                "client_credentials",
                "--scope",
                "openid",
                "--scope",
                "invoices:read",
                "--json",
            ],
            None,
        );
        let v: serde_json::Value = serde_json::from_str(ok(&out).trim()).unwrap();
        let id = v["client_id"].as_str().unwrap().to_owned();
        let secret = v["client_secret"].as_str().unwrap().to_owned();
        assert!(secret.len() >= 43, "256-bit secret, base64url: {secret}");
        assert_eq!(v["token_endpoint_auth_method"], "client_secret_basic");
        assert_eq!(
            v["grant_types"],
            serde_json::json!(["authorization_code", "client_credentials"])
        );

        let out = portcullis(
            &db,
            &[
                "client",
                "create",
                "--name",
                "Mobile",
                "--public",
                "--redirect-uri",
                "com.example.app:/cb",
                "--json",
            ],
            None,
        );
        let p: serde_json::Value = serde_json::from_str(ok(&out).trim()).unwrap();
        assert!(
            p.get("client_secret").is_none(),
            "public clients get no secret: {p}"
        );
        assert_eq!(p["token_endpoint_auth_method"], "none");

        let store = db.store().await;
        let stored = store
            .clients()
            .get_client(&ClientId::parse(&id).unwrap())
            .await
            .unwrap()
            .unwrap();
        let hash = stored.secret_hash.unwrap();
        assert_ne!(hash.as_str(), secret, "the secret is stored hashed");
        assert!(hash.matches(&secret));

        let listed = ok(&portcullis(&db, &["client", "list"], None));
        assert!(
            listed.contains(&id) && listed.contains("Mobile"),
            "{listed}"
        );
        assert!(!listed.contains(&secret));
        let shown = ok(&portcullis(&db, &["client", "show", &id, "--json"], None));
        assert!(!shown.contains(&secret), "show never prints the secret");

        let rotated = ok(&portcullis(
            &db,
            &["client", "rotate-secret", &id, "--json"],
            None,
        ));
        let r: serde_json::Value = serde_json::from_str(rotated.trim()).unwrap();
        let new_secret = r["client_secret"].as_str().unwrap();
        assert_ne!(new_secret, secret);
        let stored = store
            .clients()
            .get_client(&ClientId::parse(&id).unwrap())
            .await
            .unwrap()
            .unwrap();
        assert!(stored.secret_hash.as_ref().unwrap().matches(new_secret));
        assert!(
            !stored.secret_hash.unwrap().matches(&secret),
            "the old secret no longer works"
        );

        ok(&portcullis(&db, &["client", "delete", &id], None));
        assert!(
            store
                .clients()
                .get_client(&ClientId::parse(&id).unwrap())
                .await
                .unwrap()
                .is_none()
        );
        failed(&portcullis(&db, &["client", "delete", &id], None));
    }
);

both_backends!(
    invalid_client_input_is_refused_and_writes_nothing,
    |backend| async move {
        let db = TestDb::new(backend).await;
        for (args, needle) in [
            (vec!["--redirect-uri", "/relative"], "not an absolute URI"),
            (vec!["--redirect-uri", "https://a.example/cb#x"], "fragment"),
            (
                vec!["--redirect-uri", "http://a.example/cb"],
                "http for a non-loopback host",
            ),
            (
                vec![
                    "--public",
                    "--redirect-uri",
                    "https://a.example/cb",
                    "--grant-type",
                    "client_credentials",
                ],
                "confidential",
            ),
            (vec!["--grant-type", "authorization_code"], "--redirect-uri"),
            (
                vec![
                    "--redirect-uri",
                    "https://a.example/cb",
                    "--grant-type",
                    "implicit",
                ],
                "unknown grant type",
            ),
            (
                vec![
                    "--redirect-uri",
                    "https://a.example/cb",
                    "--scope",
                    "bad\"scope",
                ],
                "scope",
            ),
        ] {
            let mut full = vec!["client", "create", "--name", "X"];
            full.extend(args.iter().copied());
            let err = failed(&portcullis(&db, &full, None));
            assert!(err.contains(needle), "{args:?}: {err}");
            assert_eq!(err.trim().lines().count(), 1, "one clear line: {err}");
        }
        let out = ok(&portcullis(
            &db,
            &[
                "client",
                "create",
                "--name",
                "Dev",
                "--redirect-uri",
                "http://dev.example/cb",
                "--allow-http",
            ],
            None,
        ));
        assert!(out.contains("client_secret"));
        let store = db.store().await;
        assert_eq!(
            store.clients().list_clients().await.unwrap().len(),
            1,
            "only the valid one was written"
        );
    }
);

both_backends!(
    user_lifecycle_with_password_on_stdin,
    |backend| async move {
        let db = TestDb::new(backend).await;
        let password = "correct horse battery";
        ok(&portcullis(
            &db,
            &[
                "user",
                "create",
                "--username",
                "alice",
                "--email",
                "alice@example.com",
                "--name",
                "Alice",
                "--password-stdin",
            ],
            Some(&format!("{password}\n")),
        ));
        let store = db.store().await;
        let alice = store
            .users()
            .user_by_username(&Username::parse("alice").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert!(
            alice.password_hash.starts_with("$argon2id$"),
            "argon2id hash"
        );
        assert!(!alice.password_hash.contains(password));

        let err = failed(&portcullis(
            &db,
            &[
                "user",
                "create",
                "--username",
                "alice",
                "--email",
                "a2@example.com",
                "--password-stdin",
            ],
            Some("another good password\n"),
        ));
        assert!(err.contains("already exists"), "{err}");
        for (pw, needle) in [("\n", "empty"), ("short\n", "too short")] {
            let err = failed(&portcullis(
                &db,
                &[
                    "user",
                    "create",
                    "--username",
                    "bob",
                    "--email",
                    "bob@example.com",
                    "--password-stdin",
                ],
                Some(pw),
            ));
            assert!(err.contains(needle), "{err}");
        }
        let err = failed(&portcullis(
            &db,
            &[
                "user",
                "create",
                "--username",
                "bob",
                "--email",
                "not-an-email",
                "--password-stdin",
            ],
            Some("long enough pw\n"),
        ));
        assert!(err.contains("e-mail"), "{err}");
        assert_eq!(
            store.users().list_users().await.unwrap().len(),
            1,
            "failed creates wrote nothing"
        );

        ok(&portcullis(&db, &["user", "disable", "alice"], None));
        let listed = ok(&portcullis(&db, &["user", "list"], None));
        assert!(
            listed.contains("alice") && listed.contains("disabled"),
            "{listed}"
        );
        ok(&portcullis(
            &db,
            &["user", "set-password", "alice", "--password-stdin"],
            Some("a brand new password\n"),
        ));
        let after = store
            .users()
            .user_by_username(&Username::parse("alice").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_ne!(after.password_hash, alice.password_hash);
        failed(&portcullis(&db, &["user", "disable", "nobody"], None));
    }
);

#[test]
fn a_bad_setting_stops_with_one_line_naming_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["migrate"])
        .env("PORTCULLIS_LISTEN", "nonsense")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("PORTCULLIS_LISTEN"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

both_backends!(
    admin_bootstrap_prints_credentials_once_and_refuses_a_second_time,
    |backend| async move {
        let db = TestDb::new(backend).await;
        let out = ok(&portcullis(&db, &["admin", "bootstrap", "--json"], None));
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        let id = v["client_id"].as_str().unwrap().to_owned();
        let secret = v["client_secret"].as_str().unwrap().to_owned();
        assert_eq!(v["grant_types"], serde_json::json!(["client_credentials"]));
        assert_eq!(v["scope"], "admin:read admin:write");
        let store = db.store().await;
        let stored = store
            .clients()
            .get_client(&ClientId::parse(&id).unwrap())
            .await
            .unwrap()
            .unwrap();
        assert!(stored.secret_hash.unwrap().matches(&secret));

        let err = failed(&portcullis(&db, &["admin", "bootstrap"], None));
        assert!(
            err.contains("admin client exists") && err.contains(&id),
            "{err}"
        );
        assert_eq!(store.clients().list_clients().await.unwrap().len(), 1);

        let out = ok(&portcullis(&db, &["admin", "bootstrap", "--force"], None));
        assert!(out.contains("client_secret:"), "{out}");
        assert!(!out.contains(&secret));
        assert_eq!(store.clients().list_clients().await.unwrap().len(), 2);
    }
);

both_backends!(
    client_update_and_overlapping_rotation_from_the_cli,
    |backend| async move {
        let db = TestDb::new(backend).await;
        let out = ok(&portcullis(
            &db,
            &[
                "client",
                "create",
                "--name",
                "Web",
                "--redirect-uri",
                "https://app.example/cb",
                "--json",
            ],
            None,
        ));
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        let id = v["client_id"].as_str().unwrap().to_owned();
        let secret = v["client_secret"].as_str().unwrap().to_owned();
        let out = ok(&portcullis(
            &db,
            &[
                "client",
                "update",
                &id,
                "--name",
                "Web 2",
                "--redirect-uri",
                "https://app.example/a",
                "--redirect-uri",
                "https://app.example/b",
                "--first-party",
                "true",
                "--access-token-ttl",
                "120",
                "--json",
            ],
            None,
        ));
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(v["client_id"], id.as_str());
        assert_eq!(v["client_name"], "Web 2");
        assert_eq!(
            v["redirect_uris"],
            serde_json::json!(["https://app.example/a", "https://app.example/b"])
        );
        assert_eq!(v["first_party"], true);
        let store = db.store().await;
        let cid = ClientId::parse(&id).unwrap();
        let before = store.clients().get_client(&cid).await.unwrap().unwrap();
        assert_eq!(before.access_token_ttl_secs, Some(120));
        assert!(before.secret_hash.as_ref().unwrap().matches(&secret));
        // A bad update says why and changes nothing.
        let err = failed(&portcullis(
            &db,
            &[
                "client",
                "update",
                &id,
                "--redirect-uri",
                "http://plain.example/cb",
            ],
            None,
        ));
        assert!(err.contains("http"), "{err}");
        let err = failed(&portcullis(
            &db,
            &["client", "update", &id, "--access-token-ttl", "0"],
            None,
        ));
        assert!(err.contains("--access-token-ttl"), "{err}");
        assert_eq!(
            store.clients().get_client(&cid).await.unwrap().unwrap(),
            before
        );

        // Rotation with an overlap: both secrets work until the time printed.
        let err = failed(&portcullis(
            &db,
            &["client", "rotate-secret", &id, "--overlap", "31d"],
            None,
        ));
        assert!(err.contains("30 days"), "{err}");
        let out = portcullis(
            &db,
            &["client", "rotate-secret", &id, "--overlap", "1h"],
            None,
        );
        let printed = ok(&out);
        let new = printed
            .trim()
            .strip_prefix("client_secret:")
            .unwrap()
            .trim()
            .to_owned();
        let said = String::from_utf8(out.stderr).unwrap();
        assert!(said.contains("keeps working until"), "{said}");
        let stored = store.clients().get_client(&cid).await.unwrap().unwrap();
        assert!(stored.secret_hash.as_ref().unwrap().matches(&new));
        assert!(
            stored
                .previous_secret_hash
                .as_ref()
                .unwrap()
                .matches(&secret)
        );
        let until = stored.previous_secret_expires_at.unwrap();
        assert!(said.contains(&until.timestamp().to_string()), "{said}");
        let ahead = until - chrono::Utc::now();
        assert!(ahead > chrono::Duration::minutes(59) && ahead <= chrono::Duration::hours(1));

        let shown = ok(&portcullis(&db, &["client", "show", &id], None));
        assert!(shown.contains("Web 2") && !shown.contains(&new));
        ok(&portcullis(&db, &["client", "delete", &id], None));
        assert!(store.clients().get_client(&cid).await.unwrap().is_none());
    }
);
