//! Sign-in throttling that holds under concurrency (issue 14 item 1): every
//! attempt is reserved with one atomic statement before the password is
//! checked, a success never clears a lock, and locks are kept per (account,
//! client address) at `PORTCULLIS_LOGIN_MAX_FAILURES` and per account at the
//! higher `PORTCULLIS_LOGIN_ACCOUNT_MAX_FAILURES`; `portcullis user unlock`
//! lifts them.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use portcullis::adapters::argon2::{Argon2Hasher, Argon2Params};
use portcullis::config::TrustedProxies;
use portcullis::ports::{PasswordError, PasswordHasher};
use reqwest::StatusCode;

use crate::both_backends;
use crate::flow::{
    PASSWORD, client_req, get_authorize, hidden, login, query, register, submit, user,
};
use crate::helpers::{TestApp, http_client, spawn_app_full, spawn_app_with, test_overrides};

const LOCKED: &str = "Too many failed attempts";

/// The test hasher, counting verifications and holding each one for a
/// while, so that many attempts are in flight at once.
struct CountingHasher {
    inner: Argon2Hasher,
    verifications: AtomicUsize,
    hold: Duration,
}

#[async_trait]
impl PasswordHasher for CountingHasher {
    async fn hash(&self, password: &str) -> Result<String, PasswordError> {
        self.inner.hash(password).await
    }

    async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, PasswordError> {
        self.verifications.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.hold).await;
        self.inner.verify(password, hash).await
    }
}

both_backends!(
    parallel_wrong_passwords_reach_the_check_at_most_the_limit_and_lock_out_the_right_one,
    |backend| async move {
        let hasher = Arc::new(CountingHasher {
            inner: Argon2Hasher::new(Argon2Params::TEST, 4).unwrap(),
            verifications: AtomicUsize::new(0),
            hold: Duration::from_millis(1500),
        });
        let mut overrides = test_overrides();
        overrides.passwords = Some(hasher.clone());
        let app = Arc::new(spawn_app_full(backend, |_| {}, overrides).await);
        let limit = usize::try_from(app.state.config.auth.login_max_failures).unwrap();
        assert_eq!(limit, 5, "the default PORTCULLIS_LOGIN_MAX_FAILURES");
        let client = register(&app, client_req(false)).await;
        user(&app, "alice").await;
        let html = get_authorize(&app, &query(&client.id, &[]))
            .await
            .text()
            .await
            .unwrap();

        let answered = Arc::new(AtomicUsize::new(0));
        let wrong: Vec<_> = (0..40)
            .map(|i| {
                let (app, html, answered) = (app.clone(), html.clone(), answered.clone());
                tokio::spawn(async move {
                    let resp = login(&app, &html, "alice", &format!("wrong password {i}")).await;
                    let status = resp.status();
                    answered.fetch_add(1, Ordering::SeqCst);
                    status
                })
            })
            .collect();
        // Every wrong attempt is now either answered or inside the password
        // check (which holds it for a while): they are in flight.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while answered.load(Ordering::SeqCst) + hasher.verifications.load(Ordering::SeqCst) < 40 {
            assert!(tokio::time::Instant::now() < deadline, "attempts stalled");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let right = login(&app, &html, "alice", PASSWORD).await;
        assert_eq!(
            right.status(),
            StatusCode::OK,
            "the right password inside a burst of wrong ones must not sign in"
        );
        assert!(
            right.headers().get("set-cookie").is_none(),
            "no new session"
        );
        let body = right.text().await.unwrap();
        assert!(body.contains(LOCKED), "{body}");
        for task in wrong {
            assert_eq!(task.await.unwrap(), StatusCode::OK);
        }
        let verified = hasher.verifications.load(Ordering::SeqCst);
        assert!(
            verified <= limit,
            "{verified} password verifications ran; the limit is {limit}"
        );
        // Still locked afterwards: the right password does not clear it.
        let again = login(&app, &html, "alice", PASSWORD).await;
        assert!(again.text().await.unwrap().contains(LOCKED));
    }
);

/// One sign-in attempt from a fresh browser at client address `ip` (behind
/// the trusted proxy 127.0.0.1): the login page's status and text.
async fn attempt(app: &TestApp, client: &str, ip: &str, password: &str) -> (StatusCode, String) {
    let http = http_client();
    let html = http
        .get(app.url(&format!("/authorize?{}", query(client, &[]))))
        .header("x-forwarded-for", ip)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let form = [
        ("request", hidden(&html, "request")),
        ("csrf_token", hidden(&html, "csrf_token")),
        ("username", "alice".to_owned()),
        ("password", password.to_owned()),
    ];
    let resp = http
        .post(app.url("/login"))
        .header("x-forwarded-for", ip)
        .form(&form)
        .send()
        .await
        .unwrap();
    (resp.status(), resp.text().await.unwrap())
}

fn signed_in((status, body): &(StatusCode, String)) -> bool {
    *status == StatusCode::OK && body.contains("wants to access your account")
}

both_backends!(
    locks_hold_per_address_then_per_account_until_the_operator_unlocks,
    |backend| async move {
        let app = spawn_app_with(backend, |c| {
            c.trusted_proxies = TrustedProxies::parse("127.0.0.1").unwrap();
            c.auth.login_max_failures = 2;
            c.auth.login_account_max_failures = 4;
        })
        .await;
        let client = register(&app, client_req(false)).await;
        user(&app, "alice").await;
        let id = client.id.as_str();
        let attacker = "203.0.113.9";

        // Two attempts from one address lock alice there, even with the
        // right password...
        let first = attempt(&app, id, attacker, "wrong one").await;
        assert!(
            first.1.contains("Incorrect username or password."),
            "{}",
            first.1
        );
        let second = attempt(&app, id, attacker, "wrong two").await;
        assert!(
            second.1.contains(LOCKED),
            "the last allowed failure says so"
        );
        let locked = attempt(&app, id, attacker, PASSWORD).await;
        assert!(
            !signed_in(&locked) && locked.1.contains(LOCKED),
            "{}",
            locked.1
        );
        // ...but not from her own address.
        assert!(signed_in(
            &attempt(&app, id, "198.51.100.1", PASSWORD).await
        ));

        // Attempts from many addresses add up on the account (the success
        // above gave back its own attempt): 2 + 2 reach the limit of 4.
        for ip in ["203.0.113.10", "203.0.113.11"] {
            let (_, body) = attempt(&app, id, ip, "wrong again").await;
            assert!(!body.contains("wants to access"), "{body}");
        }
        let everywhere = attempt(&app, id, "198.51.100.1", PASSWORD).await;
        assert!(
            !signed_in(&everywhere) && everywhere.1.contains(LOCKED),
            "the account is locked from every address: {}",
            everywhere.1
        );

        // The operator lifts every lock of the account.
        let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(["user", "unlock", "alice"])
            .env("PORTCULLIS_DATABASE_URL", &app.db.url)
            .env("PORTCULLIS_DATA_DIR", app.data_dir())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(signed_in(
            &attempt(&app, id, "198.51.100.1", PASSWORD).await
        ));
        assert!(signed_in(&attempt(&app, id, attacker, PASSWORD).await));
        let unknown = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(["user", "unlock", "nobody"])
            .env("PORTCULLIS_DATABASE_URL", &app.db.url)
            .env("PORTCULLIS_DATA_DIR", app.data_dir())
            .output()
            .unwrap();
        assert!(!unknown.status.success(), "an unknown user is an error");
    }
);

both_backends!(
    ipv6_addresses_of_one_64_share_their_locks,
    |backend| async move {
        // An IPv6 client usually holds a whole /64: one count for all of it,
        // or an attacker draws a fresh count per address.
        let app = spawn_app_with(backend, |c| {
            c.trusted_proxies = TrustedProxies::parse("127.0.0.1").unwrap();
            c.auth.login_max_failures = 2;
        })
        .await;
        let client = register(&app, client_req(false)).await;
        user(&app, "alice").await;
        let id = client.id.as_str();
        for ip in ["2001:db8:1:2::1", "2001:db8:1:2:ffff::9"] {
            let (_, body) = attempt(&app, id, ip, "wrong").await;
            assert!(!body.contains("wants to access"), "{body}");
        }
        let same_64 = attempt(&app, id, "2001:db8:1:2::7", PASSWORD).await;
        assert!(
            !signed_in(&same_64) && same_64.1.contains(LOCKED),
            "another address of the /64 is locked too: {}",
            same_64.1
        );
        assert!(
            signed_in(&attempt(&app, id, "2001:db8:1:3::1", PASSWORD).await),
            "another /64 is not"
        );
    }
);

both_backends!(
    a_right_password_does_not_clear_earlier_failures,
    |backend| async move {
        let app = spawn_app_with(backend, |c| c.auth.login_max_failures = 3).await;
        let client = register(&app, client_req(false)).await;
        user(&app, "alice").await;
        let page = || async {
            get_authorize(&app, &query(&client.id, &[]))
                .await
                .text()
                .await
                .unwrap()
        };
        let html = page().await;
        login(&app, &html, "alice", "wrong one").await;
        login(&app, &html, "alice", "wrong two").await;
        let ok = login(&app, &html, "alice", PASSWORD)
            .await
            .text()
            .await
            .unwrap();
        assert!(ok.contains("wants to access your account"), "{ok}");
        // The failures before the success still count: one more is the last.
        let html = page().await;
        let last = login(&app, &html, "alice", "wrong three")
            .await
            .text()
            .await
            .unwrap();
        assert!(last.contains(LOCKED), "{last}");
        let html = page().await;
        let refused = submit(
            &app.http,
            &app,
            "/login",
            &html,
            &[("username", "alice"), ("password", PASSWORD)],
        )
        .await
        .text()
        .await
        .unwrap();
        assert!(refused.contains(LOCKED), "{refused}");
    }
);
