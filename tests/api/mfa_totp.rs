//! TOTP and recovery codes (issue 17 item 1): the secret box (master key
//! and KMS), verification with replay and parallel submissions, recovery
//! codes used once, and enrolment through the account page, on both back
//! ends. Codes are computed here with an independent RFC 6238
//! implementation (HMAC-SHA-1 from the hmac and sha1 crates), never with
//! portcullis' own.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use portcullis::config::KeyConfig;
use portcullis::domain::UserId;
use portcullis::domain::mfa::{Factor, FactorKind};
use portcullis::factory;
use portcullis::ports::prelude::*;
use portcullis::ports::{SecretBox, SecretError};
use portcullis::protocol::mfa;
use portcullis::testing::FixedClock;
use reqwest::StatusCode;

use crate::account::{browser, signed_in, user};
use crate::both_backends;
use crate::flow::{self, hidden};
use crate::helpers::{Backend, TestApp, TestDb, spawn_app_full, test_config, test_overrides};
use crate::kms::{create_key, kms};

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

/// RFC 6238 with HMAC-SHA-1, 6 digits, 30-second steps, T0 = 0: written
/// here from the RFC (RFC 4226 §5.3 dynamic truncation).
fn rfc6238(secret: &[u8], unix: i64) -> String {
    use hmac::{KeyInit as _, Mac as _};
    let counter = u64::try_from(unix / 30).unwrap();
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(secret).unwrap();
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let offset = usize::from(h[19] & 0x0f);
    let bin =
        u32::from_be_bytes([h[offset], h[offset + 1], h[offset + 2], h[offset + 3]]) & 0x7fff_ffff;
    format!("{:06}", bin % 1_000_000)
}

/// RFC 4648 base32 (upper or lower case, no padding) to bytes.
fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0_u32, 0_u32);
    for c in text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
    {
        let value = ALPHABET
            .iter()
            .position(|a| *a == c.to_ascii_uppercase())
            .unwrap_or_else(|| panic!("not base32: {text}"));
        buffer = (buffer << 5) | u32::try_from(value).unwrap();
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff).unwrap());
        }
    }
    out
}

#[test]
fn the_independent_implementation_matches_rfc_6238_appendix_b() {
    // The SHA-1 seed of Appendix B; its 8-digit values end in these 6.
    let seed = b"12345678901234567890";
    assert_eq!(rfc6238(seed, 59), "287082");
    assert_eq!(rfc6238(seed, 1_111_111_109), "081804");
    assert_eq!(rfc6238(seed, 2_000_000_000), "279037");
    assert_eq!(base32_decode("GEZDGNBVGY3TQOJQ"), b"1234567890");
}

async fn app_with_clock(backend: Backend) -> (TestApp, Arc<FixedClock>) {
    // A whole step, so that "now" and the steps either side are known.
    let start = DateTime::from_timestamp(1_900_000_020, 0).unwrap();
    let clock = Arc::new(FixedClock::at(start));
    let mut overrides = test_overrides();
    overrides.clock = Some(clock.clone());
    let app = spawn_app_full(backend, |_| {}, overrides).await;
    (app, clock)
}

/// Stores a confirmed TOTP factor for `user` with `secret`, sealed as the
/// application seals it.
async fn confirmed_totp(app: &TestApp, user: &UserId, secret: &[u8]) -> Factor {
    let now = app.state.clock.now();
    let id = uuid::Uuid::new_v4().to_string();
    let sealed = app
        .state
        .secrets
        .seal(&mfa::totp_context(&id), secret)
        .await
        .unwrap();
    let factor = Factor {
        id: id.clone(),
        user_id: user.clone(),
        kind: FactorKind::Totp,
        name: "Authenticator app".into(),
        secret_sealed: Some(sealed),
        credential_id: None,
        credential: None,
        last_step: None,
        confirmed_at: None,
        created_at: now,
        last_used_at: None,
    };
    let factors = app.state.store.factors();
    factors.insert_factor(&factor).await.unwrap();
    assert!(factors.confirm_factor(user, &id, 0, now).await.unwrap());
    factors
        .list_factors(user)
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.id == id)
        .unwrap()
}

async fn verify(app: &TestApp, user: &UserId, code: &str, now: DateTime<Utc>) -> bool {
    mfa::verify_totp(
        app.state.store.as_ref(),
        app.state.secrets.as_ref(),
        user,
        code,
        now,
    )
    .await
    .unwrap()
}

both_backends!(
    totp_codes_are_accepted_once_with_one_step_of_drift,
    |backend| async move {
        let (app, clock) = app_with_clock(backend).await;
        flow::user(&app, "alice").await;
        let alice = user(&app, "alice").await.id;
        let secret = [0x42_u8; 20];
        confirmed_totp(&app, &alice, &secret).await;
        let now = clock.now();
        let t = now.timestamp();
        // Two steps away either side: refused.
        assert!(!verify(&app, &alice, &rfc6238(&secret, t - 60), now).await);
        assert!(!verify(&app, &alice, &rfc6238(&secret, t + 60), now).await);
        assert!(!verify(&app, &alice, "000000", now).await || rfc6238(&secret, t) == "000000");
        // One step behind: accepted, once.
        let behind = rfc6238(&secret, t - 30);
        assert!(verify(&app, &alice, &behind, now).await);
        assert!(!verify(&app, &alice, &behind, now).await, "replayed");
        // The current one: accepted once, refused for the rest of its window.
        let current = rfc6238(&secret, t);
        assert!(verify(&app, &alice, &current, now).await);
        assert!(!verify(&app, &alice, &current, now + chrono::Duration::seconds(20)).await);
        // One step ahead: accepted; then the current step is behind it.
        let ahead = rfc6238(&secret, t + 30);
        assert!(verify(&app, &alice, &ahead, now).await);
        assert!(!verify(&app, &alice, &ahead, now).await);
        // Another user has no TOTP factor: nothing matches for them.
        flow::user(&app, "bob").await;
        let bob = user(&app, "bob").await.id;
        let next = rfc6238(&secret, t + 60);
        assert!(!verify(&app, &bob, &next, now + chrono::Duration::seconds(60)).await);
        // Later, the next code works for alice.
        assert!(verify(&app, &alice, &next, now + chrono::Duration::seconds(60)).await);
    }
);

both_backends!(
    parallel_submissions_of_one_totp_code_are_accepted_once,
    |backend| async move {
        let (app, clock) = app_with_clock(backend).await;
        flow::user(&app, "alice").await;
        let alice = user(&app, "alice").await.id;
        let secret = [0x17_u8; 20];
        confirmed_totp(&app, &alice, &secret).await;
        let now = clock.now();
        let code = rfc6238(&secret, now.timestamp());
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let state = app.state.clone();
                let alice = alice.clone();
                let code = code.clone();
                tokio::spawn(async move {
                    mfa::verify_totp(
                        state.store.as_ref(),
                        state.secrets.as_ref(),
                        &alice,
                        &code,
                        now,
                    )
                    .await
                    .unwrap()
                })
            })
            .collect();
        let mut accepted = 0;
        for t in tasks {
            accepted += usize::from(t.await.unwrap());
        }
        assert_eq!(accepted, 1);
    }
);

both_backends!(
    recovery_codes_are_used_once_even_in_parallel,
    |backend| async move {
        let (app, clock) = app_with_clock(backend).await;
        flow::user(&app, "alice").await;
        let alice = user(&app, "alice").await.id;
        let set = mfa::generate_recovery_codes(app.state.rng.as_ref());
        let now = clock.now();
        let factors = app.state.store.factors();
        factors
            .replace_recovery_codes(&alice, &set.hashes, now)
            .await
            .unwrap();
        assert_eq!(factors.recovery_codes_left(&alice).await.unwrap(), 10);
        let store = app.state.store.as_ref();
        // Typed in capitals with spaces: the same code.
        let typed = set.codes[0].to_uppercase().replace('-', " ");
        assert!(
            mfa::use_recovery_code(store, &alice, &typed, now)
                .await
                .unwrap()
        );
        assert!(
            !mfa::use_recovery_code(store, &alice, &set.codes[0], now)
                .await
                .unwrap()
        );
        assert!(
            !mfa::use_recovery_code(store, &alice, "aaaa-bbbb-cccc", now)
                .await
                .unwrap()
        );
        assert!(
            !mfa::use_recovery_code(store, &alice, "", now)
                .await
                .unwrap()
        );
        // Another user cannot use alice's code.
        flow::user(&app, "bob").await;
        let bob = user(&app, "bob").await.id;
        assert!(
            !mfa::use_recovery_code(store, &bob, &set.codes[1], now)
                .await
                .unwrap()
        );
        assert_eq!(factors.recovery_codes_left(&alice).await.unwrap(), 9);
        // Eight parallel uses of one code: one succeeds.
        let code = set.codes[1].to_string();
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let state = app.state.clone();
                let alice = alice.clone();
                let code = code.clone();
                tokio::spawn(async move {
                    mfa::use_recovery_code(state.store.as_ref(), &alice, &code, now)
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut accepted = 0;
        for t in tasks {
            accepted += usize::from(t.await.unwrap());
        }
        assert_eq!(accepted, 1);
        assert_eq!(factors.recovery_codes_left(&alice).await.unwrap(), 8);
    }
);

/// A configuration whose keys are `keys` (the KMS tests build the box with
/// the factory, as the server does).
async fn config_with(keys: KeyConfig) -> (TestDb, portcullis::config::Config) {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut config = test_config(&db, "127.0.0.1:1".parse().unwrap());
    config.keys = keys;
    (db, config)
}

async fn seal_open_refuse(secrets: &dyn SecretBox) {
    let secret = b"twenty bytes secret!";
    let sealed = secrets.seal("totp:f-1", secret).await.unwrap();
    assert!(!sealed.contains("twenty"));
    assert_eq!(
        secrets.open("totp:f-1", &sealed).await.unwrap().as_slice(),
        secret
    );
    let err = secrets.open("totp:f-2", &sealed).await.unwrap_err();
    assert!(matches!(err, SecretError::Invalid(_)), "{err}");
    let (prefix, body) = sealed.split_at(sealed.find(':').unwrap() + 1);
    let mut chars: Vec<char> = body.chars().collect();
    let middle = chars.len() / 2;
    chars[middle] = if chars[middle] == 'A' { 'B' } else { 'A' };
    let tampered = format!("{prefix}{}", chars.into_iter().collect::<String>());
    let err = secrets.open("totp:f-1", &tampered).await.unwrap_err();
    assert!(matches!(err, SecretError::Invalid(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kms_seals_totp_secrets_in_envelope_mode() {
    let wrapping_key_id = create_key(
        aws_sdk_kms::types::KeySpec::SymmetricDefault,
        aws_sdk_kms::types::KeyUsageType::EncryptDecrypt,
    )
    .await;
    let (_db, config) = config_with(KeyConfig::KmsEnvelope { wrapping_key_id }).await;
    let secrets = factory::build_secret_box(&config, Some(kms()), None)
        .await
        .unwrap();
    assert_eq!(secrets.protection(), "kms");
    seal_open_refuse(secrets.as_ref()).await;
    // No master key was created: KMS protects everything.
    assert!(!config.data_dir.join("master.key").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kms_direct_uses_the_wrapping_key_if_set_else_the_master_key() {
    let wrapping_key_id = create_key(
        aws_sdk_kms::types::KeySpec::SymmetricDefault,
        aws_sdk_kms::types::KeyUsageType::EncryptDecrypt,
    )
    .await;
    let direct = |wrapping_key_id| KeyConfig::KmsDirect {
        es256_key_id: "unused".into(),
        rs256_key_id: "unused".into(),
        wrapping_key_id,
    };
    let (_db, config) = config_with(direct(Some(wrapping_key_id))).await;
    let secrets = factory::build_secret_box(&config, Some(kms()), None)
        .await
        .unwrap();
    assert_eq!(secrets.protection(), "kms");
    seal_open_refuse(secrets.as_ref()).await;
    let (_db, config) = config_with(direct(None)).await;
    let secrets = factory::build_secret_box(&config, Some(kms()), None)
        .await
        .unwrap();
    assert_eq!(secrets.protection(), "master_key");
    seal_open_refuse(secrets.as_ref()).await;
    assert!(config.data_dir.join("master.key").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_keys_seal_with_the_master_key() {
    let (_db, config) = config_with(KeyConfig::Local).await;
    let secrets = factory::build_secret_box(&config, None, None)
        .await
        .unwrap();
    assert_eq!(secrets.protection(), "master_key");
    seal_open_refuse(secrets.as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_kms_is_unavailable_not_invalid() {
    let (_db, config) = config_with(KeyConfig::KmsEnvelope {
        wrapping_key_id: "alias/nowhere".into(),
    })
    .await;
    // Nothing listens on port 1.
    let client = portcullis::adapters::keys::kms::client_for_emulator("http://127.0.0.1:1");
    let secrets = factory::build_secret_box(&config, Some(client), None)
        .await
        .unwrap();
    let err = secrets.seal("totp:f-1", b"x").await.unwrap_err();
    assert!(matches!(err, SecretError::Unavailable(_)), "{err}");
    let err = secrets.open("totp:f-1", "kms.v1:AAAA").await.unwrap_err();
    assert!(matches!(err, SecretError::Unavailable(_)), "{err}");
}

/// The sign-in methods page.
async fn security_page(app: &TestApp, http: &reqwest::Client) -> String {
    let r = http.get(app.url("/account/security")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.text().await.unwrap()
}

/// Posts a form of the sign-in methods page with its CSRF token.
async fn post(
    app: &TestApp,
    http: &reqwest::Client,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let csrf = hidden(&security_page(app, http).await, "csrf_token");
    let mut form = vec![("csrf_token", csrf.as_str())];
    form.extend_from_slice(fields);
    http.post(app.url(path)).form(&form).send().await.unwrap()
}

/// The key the enrolment page shows in text.
fn shown_key(html: &str) -> Vec<u8> {
    let start = html.find("id=\"totp-key\"").expect("the key is shown");
    let start = html[start..].find('>').unwrap() + start + 1;
    let end = html[start..].find('<').unwrap() + start;
    base32_decode(&html[start..end])
}

/// The recovery codes a page shows.
fn shown_codes(html: &str) -> Vec<String> {
    html.split("<li><code>")
        .skip(1)
        .map(|rest| rest[..rest.find('<').unwrap()].to_owned())
        .collect()
}

async fn totp_factors(app: &TestApp, user: &UserId) -> Vec<Factor> {
    app.state
        .store
        .factors()
        .list_factors(user)
        .await
        .unwrap()
        .into_iter()
        .filter(|f| f.kind == FactorKind::Totp)
        .collect()
}

both_backends!(
    a_user_enrols_an_authenticator_app_on_the_account_page,
    |backend| async move {
        let (app, clock) = app_with_clock(backend).await;
        flow::user(&app, "alice").await;
        let alice = user(&app, "alice").await.id;
        let http = signed_in(&app, "alice", FIREFOX).await;
        let account = http
            .get(app.url("/account"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            account.contains("href=\"/account/security\">Sign-in methods</a>"),
            "{account}"
        );
        let html = security_page(&app, &http).await;
        assert!(html.contains("Set up an authenticator app"), "{html}");
        assert!(html.contains("id=\"passkey-register\""));
        assert!(html.contains(
            "data-passkey=\"/account/passkeys/options\" data-passkey-form=\"passkey-register\""
        ));
        assert!(html.contains("<script src=\"/static/passkey.js\" defer></script>"));
        assert!(html.contains("0 unused recovery codes left"), "{html}");

        // Start: the page shows the key in text and a QR code.
        let r = post(&app, &http, "/account/totp", &[]).await;
        assert_eq!(r.status(), StatusCode::OK);
        let page = r.text().await.unwrap();
        assert!(page.contains("<svg role=\"img\""), "{page}");
        assert!(
            !page.contains("<script"),
            "no JavaScript on the enrolment page"
        );
        let secret = shown_key(&page);
        assert_eq!(secret.len(), 20);
        // The database holds it sealed, never in the clear.
        let rows = totp_factors(&app, &alice).await;
        assert_eq!(rows.len(), 1);
        assert!(rows[0].confirmed_at.is_none());
        let sealed = rows[0].secret_sealed.clone().unwrap();
        let b32 = {
            let start = page.find("id=\"totp-key\"").unwrap();
            let start = page[start..].find('>').unwrap() + start + 1;
            let end = page[start..].find('<').unwrap() + start;
            page[start..end].replace(' ', "")
        };
        for clear in [
            b32.clone(),
            b32.to_lowercase(),
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &secret),
            hex::encode(&secret),
        ] {
            assert!(!sealed.contains(&clear), "{sealed}");
        }
        // A wrong first code: refused, nothing confirmed, the key shown again.
        let now = clock.now().timestamp();
        let good = rfc6238(&secret, now);
        let wrong = if good == "123456" { "654321" } else { "123456" };
        let r = post(&app, &http, "/account/totp/confirm", &[("code", wrong)]).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let again = r.text().await.unwrap();
        assert!(again.contains("That code is not right"), "{again}");
        assert_eq!(shown_key(&again), secret);
        assert!(totp_factors(&app, &alice).await[0].confirmed_at.is_none());
        assert!(
            !mfa::has_second_factor(app.state.store.as_ref(), &alice)
                .await
                .unwrap()
        );

        // The right code confirms it; the recovery codes are shown once.
        let r = post(&app, &http, "/account/totp/confirm", &[("code", &good)]).await;
        assert_eq!(r.status(), StatusCode::OK);
        let codes_page = r.text().await.unwrap();
        let codes = shown_codes(&codes_page);
        assert_eq!(codes.len(), 10, "{codes_page}");
        let distinct: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), 10);
        for c in &codes {
            assert_eq!(c.len(), 14, "{c}");
            assert!(
                c.bytes().enumerate().all(|(i, b)| if i == 4 || i == 9 {
                    b == b'-'
                } else {
                    b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)
                }),
                "{c}"
            );
        }
        assert!(
            mfa::has_second_factor(app.state.store.as_ref(), &alice)
                .await
                .unwrap()
        );
        let html = security_page(&app, &http).await;
        assert!(html.contains("Remove the authenticator app"), "{html}");
        assert!(html.contains("10 unused recovery codes left"), "{html}");
        for c in &codes {
            assert!(!html.contains(c.as_str()), "shown once");
        }
        // The code that confirmed is spent: the login cannot replay it.
        assert!(!verify(&app, &alice, &good, clock.now()).await);
        // A recovery code works once.
        let store = app.state.store.as_ref();
        assert!(
            mfa::use_recovery_code(store, &alice, &codes[3], clock.now())
                .await
                .unwrap()
        );
        assert!(
            !mfa::use_recovery_code(store, &alice, &codes[3], clock.now())
                .await
                .unwrap()
        );

        // A new authenticator replaces the old one once confirmed.
        let old_id = totp_factors(&app, &alice).await[0].id.clone();
        let r = post(&app, &http, "/account/totp", &[]).await;
        let second = shown_key(&r.text().await.unwrap());
        assert_ne!(second, secret);
        assert_eq!(
            totp_factors(&app, &alice).await.len(),
            2,
            "the old one stays until confirmed"
        );
        clock.advance(chrono::Duration::seconds(30));
        let code = rfc6238(&second, clock.now().timestamp());
        let r = post(&app, &http, "/account/totp/confirm", &[("code", &code)]).await;
        assert_eq!(
            r.status(),
            StatusCode::SEE_OTHER,
            "recovery codes exist already"
        );
        assert_eq!(r.headers()["location"], "/account/security?done=totp");
        let rows = totp_factors(&app, &alice).await;
        assert_eq!(rows.len(), 1);
        assert_ne!(rows[0].id, old_id);

        // A new set of recovery codes replaces the old set.
        let r = post(&app, &http, "/account/recovery-codes", &[]).await;
        assert_eq!(r.status(), StatusCode::OK);
        let fresh = shown_codes(&r.text().await.unwrap());
        assert_eq!(fresh.len(), 10);
        assert!(
            !mfa::use_recovery_code(store, &alice, &codes[4], clock.now())
                .await
                .unwrap()
        );
        assert!(
            mfa::use_recovery_code(store, &alice, &fresh[0], clock.now())
                .await
                .unwrap()
        );

        // Removal.
        let r = post(&app, &http, "/account/totp/remove", &[]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            r.headers()["location"],
            "/account/security?done=totp_removed"
        );
        assert!(totp_factors(&app, &alice).await.is_empty());
        let r = http
            .get(app.url("/account/security?done=totp_removed"))
            .send()
            .await
            .unwrap();
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("The authenticator app was removed.")
        );
    }
);

both_backends!(
    enrolment_and_removal_need_a_recent_sign_in_and_the_csrf_token,
    |backend| async move {
        let (app, clock) = app_with_clock(backend).await;
        flow::user(&app, "alice").await;
        let alice = user(&app, "alice").await.id;
        let http = signed_in(&app, "alice", FIREFOX).await;
        let r = post(&app, &http, "/account/totp", &[]).await;
        let secret = shown_key(&r.text().await.unwrap());
        let code = rfc6238(&secret, clock.now().timestamp());
        // Without or with a forged CSRF token: 403, nothing changes.
        for token in [None, Some("forged")] {
            for path in [
                "/account/totp",
                "/account/totp/confirm",
                "/account/totp/remove",
                "/account/recovery-codes",
            ] {
                let mut form = vec![("code", code.as_str())];
                if let Some(t) = token {
                    form.push(("csrf_token", t));
                }
                let r = http.post(app.url(path)).form(&form).send().await.unwrap();
                assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path} {token:?}");
            }
        }
        assert!(totp_factors(&app, &alice).await[0].confirmed_at.is_none());
        // Another browser without a session gets the sign-in form.
        let stranger = browser(FIREFOX);
        let r = stranger
            .get(app.url("/account/security"))
            .send()
            .await
            .unwrap();
        assert!(r.text().await.unwrap().contains("name=\"password\""));
        // Confirm within the window, then let the sign-in grow old.
        let r = post(&app, &http, "/account/totp/confirm", &[("code", &code)]).await;
        assert_eq!(r.status(), StatusCode::OK);
        clock.advance(chrono::Duration::seconds(301));
        for path in [
            "/account/totp/remove",
            "/account/recovery-codes",
            "/account/totp",
        ] {
            let r = post(&app, &http, path, &[]).await;
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            let html = r.text().await.unwrap();
            assert!(html.contains("sign in again to continue"), "{path}: {html}");
        }
        let rows = totp_factors(&app, &alice).await;
        assert_eq!(rows.len(), 1, "nothing removed, nothing started");
        assert!(rows[0].confirmed_at.is_some());
        assert_eq!(
            app.state
                .store
                .factors()
                .recovery_codes_left(&alice)
                .await
                .unwrap(),
            10
        );
    }
);
