//! Refresh rotation that survives retries (RFC 9700 §4.14.2,
//! `PORTCULLIS_REFRESH_GRACE_SECS`): within the grace window the
//! just-rotated token presented again by its client gets the same successor
//! back; after it, reuse revokes the family as before.

use std::sync::Arc;

use chrono::Duration;
use portcullis::testing::FixedClock;
use reqwest::StatusCode;
use serde_json::Value;

use crate::both_backends;
use crate::helpers::{Backend, TestApp};
use crate::token::{basic, code_with_scope, exchange, setup, token};

/// A server with a 10 s grace window on a clock the test moves.
async fn app_with_grace(backend: Backend) -> (TestApp, Arc<FixedClock>) {
    let clock = Arc::new(FixedClock::at(chrono::Utc::now()));
    let mut overrides = crate::helpers::test_overrides();
    overrides.clock = Some(clock.clone());
    let app = crate::helpers::spawn_app_full(
        backend,
        |c| c.tokens.refresh_grace = Duration::seconds(10),
        overrides,
    )
    .await;
    (app, clock)
}

/// The client's Basic header and a first refresh token (with `openid`, so
/// that each refresh carries an ID token too).
async fn first_refresh_token(app: &TestApp) -> (String, String) {
    let client = setup(app).await;
    let auth = basic(&client.id, client.secret.as_deref().unwrap());
    let code = code_with_scope(app, &client, "openid profile offline_access").await;
    let (s, _, first) = token(app, Some(&auth), &exchange(&code)).await;
    assert_eq!(s, StatusCode::OK, "{first}");
    (auth, first["refresh_token"].as_str().unwrap().to_owned())
}

async fn refresh(app: &TestApp, auth: &str, rt: &str) -> (StatusCode, Value) {
    let (s, _, b) = token(
        app,
        Some(auth),
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
    )
    .await;
    (s, b)
}

both_backends!(
    eight_parallel_refreshes_of_one_token_get_the_same_successor,
    |backend| async move {
        let (app, _clock) = app_with_grace(backend).await;
        let (auth, rt1) = first_refresh_token(&app).await;
        let answers =
            futures_util::future::join_all((0..8).map(|_| refresh(&app, &auth, &rt1))).await;
        let first = &answers[0].1;
        for (s, b) in &answers {
            assert_eq!(*s, StatusCode::OK, "every parallel refresh succeeds: {b}");
            for field in ["refresh_token", "access_token", "id_token", "scope"] {
                assert_eq!(b[field], first[field], "the same successor ({field})");
            }
        }
        let rt2 = first["refresh_token"].as_str().unwrap();
        assert_ne!(rt2, rt1, "rotated");
        // One successor exists, and it works: the family was not revoked.
        let (s, third) = refresh(&app, &auth, rt2).await;
        assert_eq!(s, StatusCode::OK, "{third}");
        assert_ne!(third["refresh_token"], first["refresh_token"]);
    }
);

both_backends!(
    a_retry_within_the_window_gets_the_same_answer_with_the_time_left,
    |backend| async move {
        let (app, clock) = app_with_grace(backend).await;
        let (auth, rt1) = first_refresh_token(&app).await;
        let (s, second) = refresh(&app, &auth, &rt1).await;
        assert_eq!(s, StatusCode::OK, "{second}");
        clock.advance(Duration::seconds(9));
        let (s, again) = refresh(&app, &auth, &rt1).await;
        assert_eq!(s, StatusCode::OK, "{again}");
        assert_eq!(again["refresh_token"], second["refresh_token"]);
        assert_eq!(again["access_token"], second["access_token"]);
        assert_eq!(
            again["expires_in"].as_i64().unwrap(),
            second["expires_in"].as_i64().unwrap() - 9,
            "the same access token, with the seconds it has left"
        );
        // Another client presenting the token gets nothing, and takes
        // nothing from its owner.
        let other = crate::flow::register(&app, crate::flow::client_req(false)).await;
        let other_auth = basic(&other.id, other.secret.as_deref().unwrap());
        let (s, b) = refresh(&app, &other_auth, &rt1).await;
        assert_eq!(
            (s, b["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant"))
        );
        let rt2 = second["refresh_token"].as_str().unwrap();
        let (s, b) = refresh(&app, &auth, rt2).await;
        assert_eq!(s, StatusCode::OK, "the successor still works: {b}");
    }
);

both_backends!(
    reuse_after_the_window_still_revokes_the_family,
    |backend| async move {
        let (app, clock) = app_with_grace(backend).await;
        let (auth, rt1) = first_refresh_token(&app).await;
        let (s, second) = refresh(&app, &auth, &rt1).await;
        assert_eq!(s, StatusCode::OK, "{second}");
        let rt2 = second["refresh_token"].as_str().unwrap().to_owned();
        clock.advance(Duration::seconds(10));
        let (s, b) = refresh(&app, &auth, &rt1).await;
        assert_eq!(
            (s, b["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant"))
        );
        let (s, b) = refresh(&app, &auth, &rt2).await;
        assert_eq!(
            (s, b["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant")),
            "reuse after the window revoked the successor too"
        );
    }
);

both_backends!(
    without_a_grace_window_an_immediate_retry_is_reuse,
    |backend| async move {
        let clock = Arc::new(FixedClock::at(chrono::Utc::now()));
        let mut overrides = crate::helpers::test_overrides();
        overrides.clock = Some(clock.clone());
        let app = crate::helpers::spawn_app_full(
            backend,
            |c| c.tokens.refresh_grace = Duration::zero(),
            overrides,
        )
        .await;
        let (auth, rt1) = first_refresh_token(&app).await;
        let (s, second) = refresh(&app, &auth, &rt1).await;
        assert_eq!(s, StatusCode::OK, "{second}");
        let (_, b) = refresh(&app, &auth, &rt1).await;
        assert_eq!(b["error"], "invalid_grant");
        let (_, b) = refresh(&app, &auth, second["refresh_token"].as_str().unwrap()).await;
        assert_eq!(b["error"], "invalid_grant", "the family is revoked");
    }
);

both_backends!(
    a_different_request_within_the_window_gets_nothing_and_revokes_nothing,
    |backend| async move {
        let (app, _clock) = app_with_grace(backend).await;
        let (auth, rt1) = first_refresh_token(&app).await;
        let (s, second) = refresh(&app, &auth, &rt1).await;
        assert_eq!(s, StatusCode::OK, "{second}");
        let (s, _, b) = token(
            &app,
            Some(&auth),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &rt1),
                ("scope", "openid"),
            ],
        )
        .await;
        assert_eq!(
            (s, b["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant")),
            "another scope is not a retry: {b}"
        );
        let (s, b) = refresh(&app, &auth, second["refresh_token"].as_str().unwrap()).await;
        assert_eq!(s, StatusCode::OK, "the family lives on: {b}");
    }
);
