//! Housekeeping: dead rows are purged in bounded batches (`portcullis
//! purge` and a periodic task of `serve`) on both databases; files under
//! the data directory are owner-only; refresh-token families end at an
//! absolute lifetime however often they rotate. (Zeroizing key material is
//! held by unit tests beside the code: `adapters::keys::local` and
//! `adapters::argon2`.)

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use portcullis::app::housekeeping::{self, PurgeReport, PurgeSettings};
use portcullis::domain::mfa::{Ceremony, CeremonyKind};
use portcullis::domain::{
    AuthorizationCode, ClientId, RevokedAccessToken, ScopeSet, Session, TokenHash, UserId,
};
use portcullis::ports::Store;
use portcullis::ports::repositories::{PurgeTarget, Reservation, ThrottlePolicy};
use portcullis::testing::FixedClock;
use reqwest::StatusCode;

use crate::both_backends;
use crate::flow::sign_in;
use crate::helpers::{Backend, spawn_app, spawn_app_full, test_overrides};

fn code(name: &str, expires_at: DateTime<Utc>) -> AuthorizationCode {
    AuthorizationCode {
        code_hash: TokenHash::of(name),
        grant_id: format!("g-{name}"),
        client_id: ClientId::parse("c1").unwrap(),
        user_id: UserId::new("u1".to_owned()),
        redirect_uri: "https://app.example/cb".into(),
        scope: ScopeSet::parse("openid").unwrap(),
        nonce: None,
        code_challenge: None,
        code_challenge_method: None,
        session_id: None,
        auth_time: expires_at - Duration::seconds(60),
        amr: None,
        claims: None,
        created_at: expires_at - Duration::seconds(60),
        expires_at,
        consumed_at: None,
        acr: None,
        resources: Vec::new(),
        dpop_jkt: None,
    }
}

fn session(
    id: &str,
    last_seen_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    ended_at: Option<DateTime<Utc>>,
) -> Session {
    let start = last_seen_at;
    Session {
        id: id.to_owned(),
        id_hash: TokenHash::of(id),
        user_id: Some(UserId::new("u1".to_owned())),
        auth_time: Some(start),
        amr: None,
        created_at: start,
        last_seen_at,
        expires_at,
        ended_at,
        ip: None,
        user_agent: None,
        acr: None,
        second_factor_due: false,
    }
}

fn ceremony(handle: &str, expires_at: DateTime<Utc>) -> Ceremony {
    Ceremony {
        id_hash: TokenHash::of(handle),
        kind: CeremonyKind::Passwordless,
        user_id: None,
        state: "{}".to_owned(),
        created_at: expires_at - Duration::minutes(5),
        expires_at,
    }
}

fn revoked(jti: &str, expires_at: DateTime<Utc>) -> RevokedAccessToken {
    RevokedAccessToken {
        jti: jti.to_owned(),
        client_id: ClientId::parse("c1").unwrap(),
        revoked_at: expires_at - Duration::minutes(5),
        expires_at,
    }
}

const POLICY: ThrottlePolicy = ThrottlePolicy {
    max_failures: 5,
    window: Duration::minutes(15),
    lockout: Duration::minutes(5),
};

/// One attempt allowed, then locked for a year.
const LONG_LOCK: ThrottlePolicy = ThrottlePolicy {
    max_failures: 1,
    window: Duration::minutes(15),
    lockout: Duration::days(365),
};

/// Dead and live rows of every kind purge handles: `dead` of each kind
/// died more than a day before `now`; the live ones are still in use.
async fn seed(store: &dyn Store, now: DateTime<Utc>, dead: usize) {
    let old = now - Duration::days(1);
    for i in 0..dead {
        store
            .codes()
            .insert_code(&code(&format!("dead-{i}"), old))
            .await
            .unwrap();
        store
            .revoked_tokens()
            .insert_revoked_token(&revoked(&format!("assertion:dead-{i}"), old))
            .await
            .unwrap();
        store
            .sessions()
            .insert_session(&session(
                &format!("expired-{i}"),
                old - Duration::hours(10),
                old,
                None,
            ))
            .await
            .unwrap();
        store
            .sessions()
            .insert_session(&session(
                &format!("ended-{i}"),
                now - Duration::minutes(1),
                now + Duration::hours(5),
                Some(old),
            ))
            .await
            .unwrap();
        // Not ended, not expired, but unseen for longer than the idle
        // timeout: dead all the same.
        store
            .sessions()
            .insert_session(&session(
                &format!("idle-{i}"),
                old,
                now + Duration::hours(5),
                None,
            ))
            .await
            .unwrap();
        store
            .throttles()
            .reserve_attempts(&[(&format!("user:old-{i}"), POLICY)], old)
            .await
            .unwrap();
        // A WebAuthn ceremony nobody answered.
        store
            .factors()
            .insert_ceremony(&ceremony(&format!("ceremony-{i}"), old))
            .await
            .unwrap();
    }
    store
        .factors()
        .insert_ceremony(&ceremony("ceremony-live", now + Duration::minutes(5)))
        .await
        .unwrap();
    store
        .codes()
        .insert_code(&code("live", now + Duration::seconds(30)))
        .await
        .unwrap();
    // Just past its expiry: within the grace an assertion may still pass
    // the clock-skew allowance, so its jti must stay.
    store
        .revoked_tokens()
        .insert_revoked_token(&revoked("assertion:recent", now - Duration::seconds(30)))
        .await
        .unwrap();
    store
        .revoked_tokens()
        .insert_revoked_token(&revoked("live-jti", now + Duration::minutes(5)))
        .await
        .unwrap();
    store
        .sessions()
        .insert_session(&session(
            "live",
            now - Duration::minutes(1),
            now + Duration::hours(5),
            None,
        ))
        .await
        .unwrap();
    store
        .throttles()
        .reserve_attempts(&[("user:recent", POLICY)], now - Duration::minutes(1))
        .await
        .unwrap();
    // Locked long ago (the second attempt goes past the limit of one), but
    // the lock runs for a year: it stays.
    for _ in 0..2 {
        store
            .throttles()
            .reserve_attempts(&[("user:locked", LONG_LOCK)], old)
            .await
            .unwrap();
    }
}

/// The live rows [`seed`] wrote are all still there (the live ceremony is
/// taken, so call this once per seed).
async fn live_rows_remain(store: &dyn Store, now: DateTime<Utc>) {
    assert!(
        store
            .factors()
            .take_ceremony(&TokenHash::of("ceremony-live"), now)
            .await
            .unwrap()
            .is_some(),
        "a live ceremony was purged"
    );
    assert!(
        store
            .codes()
            .get_code(&TokenHash::of("live"))
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .revoked_tokens()
            .is_token_revoked("assertion:recent")
            .await
            .unwrap()
    );
    assert!(
        store
            .revoked_tokens()
            .is_token_revoked("live-jti")
            .await
            .unwrap()
    );
    assert!(
        store
            .sessions()
            .session_by_id("live")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        matches!(
            store
                .throttles()
                .reserve_attempts(&[("user:locked", LONG_LOCK)], now)
                .await
                .unwrap()[..],
            [Reservation::Locked { .. }]
        ),
        "an active lock is never purged"
    );
}

both_backends!(
    purge_removes_dead_rows_in_bounded_batches_and_keeps_live_ones,
    |backend| async move {
        let app = spawn_app(backend).await;
        let store = app.state.store.as_ref();
        let now = Utc::now();
        seed(store, now, 5).await;

        // One statement deletes at most `limit` rows.
        let before = now - housekeeping::GRACE;
        let one = store
            .housekeeping()
            .purge_batch(PurgeTarget::ExpiredCodes, before, 2)
            .await
            .unwrap();
        assert_eq!(one, 2, "a batch is bounded by its limit");

        let settings = PurgeSettings {
            batch_size: 2,
            throttle_window: POLICY.window,
            session_idle: Duration::hours(1),
        };
        let report = housekeeping::purge(store, now, &settings).await.unwrap();
        assert_eq!(
            report,
            PurgeReport {
                codes: 3,
                revocations: 5,
                sessions: 15,
                throttles: 5,
                initial_access_tokens: 0,
                mail: 0,
                links: 0,
                ceremonies: 5,
                device_codes: 0,
                deliveries: 0,
                pushed_requests: 0,
            }
        );
        for i in 0..5 {
            assert!(
                store
                    .codes()
                    .get_code(&TokenHash::of(&format!("dead-{i}")))
                    .await
                    .unwrap()
                    .is_none()
            );
            assert!(
                !store
                    .revoked_tokens()
                    .is_token_revoked(&format!("assertion:dead-{i}"))
                    .await
                    .unwrap()
            );
            for s in [
                format!("expired-{i}"),
                format!("ended-{i}"),
                format!("idle-{i}"),
            ] {
                assert!(store.sessions().session_by_id(&s).await.unwrap().is_none());
            }
        }
        live_rows_remain(store, now).await;
        // "user:recent" still counts its attempt: the next one is the second.
        assert_eq!(
            store
                .throttles()
                .reserve_attempts(&[("user:recent", POLICY)], now)
                .await
                .unwrap(),
            vec![Reservation::Allowed { attempt: 2 }],
            "a live throttle row was purged"
        );

        // Nothing left to do: a second purge removes nothing.
        let again = housekeeping::purge(store, now, &settings).await.unwrap();
        assert_eq!(again.total(), 0);
    }
);

both_backends!(
    purge_command_purges_the_configured_database,
    |backend| async move {
        let app = spawn_app(backend).await;
        let store = app.state.store.as_ref();
        let now = Utc::now();
        seed(store, now, 3).await;
        portcullis::cli::purge::run(&app.state.config, true)
            .await
            .unwrap();
        assert!(
            store
                .codes()
                .get_code(&TokenHash::of("dead-0"))
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .sessions()
                .session_by_id("ended-2")
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .factors()
                .take_ceremony(&TokenHash::of("ceremony-2"), now - Duration::days(2))
                .await
                .unwrap()
                .is_none(),
            "an expired ceremony was left"
        );
        live_rows_remain(store, now).await;
    }
);

both_backends!(serve_purges_periodically, |backend| async move {
    let app = spawn_app(backend).await;
    let store = app.state.store.clone();
    let now = Utc::now();
    seed(store.as_ref(), now, 3).await;
    let task = housekeeping::spawn_periodic(
        store.clone(),
        app.state.clock.clone(),
        PurgeSettings::from_config(&app.state.config),
        StdDuration::from_millis(200),
    )
    .expect("a task for a non-zero interval");
    let dead = TokenHash::of("dead-2");
    let mut purged = false;
    for _ in 0..100 {
        if store.codes().get_code(&dead).await.unwrap().is_none() {
            purged = true;
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    drop(task);
    assert!(purged, "the periodic purge never ran");
    live_rows_remain(store.as_ref(), now).await;
    assert!(
        housekeeping::spawn_periodic(
            store,
            app.state.clock.clone(),
            PurgeSettings::from_config(&app.state.config),
            StdDuration::ZERO,
        )
        .is_none(),
        "interval 0 turns the periodic purge off"
    );
});

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_under_the_data_directory_are_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |p: &std::path::Path| {
        std::fs::metadata(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    };
    let app = spawn_app(Backend::Sqlite).await;
    // Something to write: a sign-in (events, sessions, codes, tokens).
    sign_in(&app).await;
    app.state.events.flush().await.unwrap();

    let data = app.data_dir();
    assert_eq!(mode(&data), 0o700, "the data directory");
    assert_eq!(mode(&data.join("master.key")), 0o600, "the master key");
    let events = data.join("events");
    assert_eq!(mode(&events), 0o700, "the event directory");
    let files: Vec<_> = std::fs::read_dir(&events)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!files.is_empty(), "no event file was written");
    for f in files {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
    // The SQLite database (here beside the data directory) and its WAL.
    let db = app.db.dir.path().join("db.sqlite");
    assert_eq!(mode(&db), 0o600, "the SQLite database");
    for side in ["db.sqlite-wal", "db.sqlite-shm"] {
        let p = app.db.dir.path().join(side);
        if p.exists() {
            assert_eq!(mode(&p), 0o600, "{side}");
        }
    }
}

/// Refreshes with `token`; the new refresh token, or the error code.
async fn refresh(
    app: &crate::helpers::TestApp,
    s: &crate::flow::SignedIn,
    token: &str,
) -> Result<String, String> {
    let r = app
        .http
        .post(app.url("/token"))
        .basic_auth(&s.client.id, Some(&s.secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: serde_json::Value = r.json().await.unwrap();
    if status == StatusCode::OK {
        Ok(body["refresh_token"].as_str().unwrap().to_owned())
    } else {
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        Err(body["error"].as_str().unwrap().to_owned())
    }
}

both_backends!(
    refresh_tokens_end_at_their_absolute_lifetime,
    |backend| async move {
        let clock = Arc::new(FixedClock::at(Utc::now()));
        let mut overrides = test_overrides();
        overrides.clock = Some(clock.clone());
        let app = spawn_app_full(
            backend,
            |c| {
                c.tokens.refresh_ttl = Duration::days(1);
                c.tokens.refresh_absolute_ttl = Duration::days(3);
            },
            overrides,
        )
        .await;
        let s = sign_in(&app).await;
        let stored = app
            .state
            .store
            .refresh_tokens()
            .get_refresh_token(&TokenHash::of(&s.refresh_token))
            .await
            .unwrap()
            .unwrap();
        let grant = app
            .state
            .store
            .grants()
            .get_grant(&stored.family_id)
            .await
            .unwrap()
            .unwrap();
        let end = grant.created_at + Duration::days(3);

        // Rotating every 20 hours keeps the family alive (the sliding
        // lifetime is one day)...
        let mut token = s.refresh_token.clone();
        for _ in 0..3 {
            clock.advance(Duration::hours(20));
            token = refresh(&app, &s, &token)
                .await
                .expect("within both lifetimes");
        }
        // ...but no token of it expires after the absolute end.
        let stored = app
            .state
            .store
            .refresh_tokens()
            .get_refresh_token(&TokenHash::of(&token))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.expires_at, end, "capped at the absolute lifetime");
        clock.advance(Duration::hours(11)); // 71 h after the grant
        token = refresh(&app, &s, &token)
            .await
            .expect("still before the end");
        clock.advance(Duration::hours(2)); // 73 h: 2 h after the last rotation
        assert_eq!(
            refresh(&app, &s, &token).await,
            Err("invalid_grant".to_owned()),
            "past the absolute lifetime, however recent the rotation"
        );
    }
);
