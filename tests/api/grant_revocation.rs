//! One grant-revocation operation reaches every token of the grant, JWT
//! access tokens included (issue 13 item 3): after a replayed code (RFC 6749
//! §4.1.2), a reused refresh token, `/revoke` of a refresh token, a user
//! disabled or given a new password, and logout, `/userinfo` answers 401
//! `invalid_token` and `/introspect` `{"active": false}` for the access
//! tokens of that grant.

use reqwest::StatusCode;
use serde_json::Value;

use crate::both_backends;
use crate::flow::TestClient;
use crate::helpers::{TestApp, spawn_app};
use crate::token::{basic, code_with_scope, exchange, setup, token};

fn auth(c: &TestClient) -> String {
    basic(&c.id, c.secret.as_deref().unwrap())
}

/// Asserts that `at` is dead: userinfo 401 `invalid_token`, introspection
/// inactive.
async fn assert_dead(app: &TestApp, c: &TestClient, at: &str, why: &str) {
    let r = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "userinfo after {why}");
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_token\""),
        "{why}"
    );
    let v = introspect(app, c, at).await;
    assert_eq!(
        v,
        serde_json::json!({"active": false}),
        "introspection after {why}"
    );
}

/// What `/introspect` says of `at`, asked by client `c`.
async fn introspect(app: &TestApp, c: &TestClient, at: &str) -> Value {
    app.http
        .post(app.url("/introspect"))
        .header("authorization", auth(c))
        .form(&[("token", at)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn assert_alive(app: &TestApp, c: &TestClient, at: &str) {
    let r = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v = introspect(app, c, at).await;
    assert_eq!(v["active"], true);
}

/// A client and alice's tokens for `openid profile offline_access`.
async fn tokens(app: &TestApp) -> (TestClient, String, String) {
    let c = setup(app).await;
    let code = code_with_scope(app, &c, "openid profile offline_access").await;
    let (s, _, t) = token(app, Some(&auth(&c)), &exchange(&code)).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let at = t["access_token"].as_str().unwrap().to_owned();
    let rt = t["refresh_token"].as_str().unwrap().to_owned();
    assert_alive(app, &c, &at).await;
    (c, at, rt)
}

async fn refresh(app: &TestApp, c: &TestClient, rt: &str) -> (StatusCode, Value) {
    let (s, _, b) = token(
        app,
        Some(&auth(c)),
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
    )
    .await;
    (s, b)
}

both_backends!(
    a_replayed_code_kills_its_access_token,
    |backend| async move {
        let app = spawn_app(backend).await;
        let c = setup(&app).await;
        let code = code_with_scope(&app, &c, "openid profile").await;
        let (_, _, t) = token(&app, Some(&auth(&c)), &exchange(&code)).await;
        let at = t["access_token"].as_str().unwrap().to_owned();
        assert_alive(&app, &c, &at).await;
        let (_, _, again) = token(&app, Some(&auth(&c)), &exchange(&code)).await;
        assert_eq!(again["error"], "invalid_grant");
        assert_dead(&app, &c, &at, "a code replay").await;
    }
);

both_backends!(
    refresh_token_reuse_kills_every_access_token_of_the_grant,
    |backend| async move {
        let app = spawn_app(backend).await;
        let (c, at1, rt1) = tokens(&app).await;
        let (s, second) = refresh(&app, &c, &rt1).await;
        assert_eq!(s, StatusCode::OK, "{second}");
        let at2 = second["access_token"].as_str().unwrap().to_owned();
        assert_alive(&app, &c, &at2).await;
        let (_, b) = refresh(&app, &c, &rt1).await;
        assert_eq!(b["error"], "invalid_grant");
        assert_dead(&app, &c, &at1, "refresh-token reuse").await;
        assert_dead(&app, &c, &at2, "refresh-token reuse").await;
    }
);

both_backends!(
    revoking_a_refresh_token_kills_the_access_tokens_of_its_grant,
    |backend| async move {
        let app = spawn_app(backend).await;
        let (c, at, rt) = tokens(&app).await;
        let r = app
            .http
            .post(app.url("/revoke"))
            .header("authorization", auth(&c))
            .form(&[("token", &rt)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_dead(&app, &c, &at, "/revoke of the refresh token").await;
    }
);

both_backends!(
    disabling_a_user_revokes_every_grant_for_good,
    |backend| async move {
        let app = spawn_app(backend).await;
        let (c, at, rt) = tokens(&app).await;
        let s = &app.state;
        portcullis::app::operator::set_disabled(s.store.as_ref(), s.clock.as_ref(), "alice", true)
            .await
            .unwrap();
        assert_dead(&app, &c, &at, "user disable").await;
        // Enabling the user again does not bring the tokens back.
        portcullis::app::operator::set_disabled(s.store.as_ref(), s.clock.as_ref(), "alice", false)
            .await
            .unwrap();
        assert_dead(&app, &c, &at, "user disable and enable").await;
        let (st, b) = refresh(&app, &c, &rt).await;
        assert_eq!(
            (st, b["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant"))
        );
        let v: Value = app
            .http
            .post(app.url("/introspect"))
            .header("authorization", auth(&c))
            .form(&[("token", &rt)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["active"], false, "the refresh token too");
    }
);

both_backends!(
    a_new_password_revokes_every_grant_of_the_user,
    |backend| async move {
        let app = spawn_app(backend).await;
        let (c, at, rt) = tokens(&app).await;
        let s = &app.state;
        portcullis::app::operator::set_password(
            s.store.as_ref(),
            s.passwords.as_ref(),
            s.clock.as_ref(),
            "alice",
            "a whole new passphrase",
        )
        .await
        .unwrap();
        assert_dead(&app, &c, &at, "a password change").await;
        let (st, b) = refresh(&app, &c, &rt).await;
        assert_eq!(
            (st, b["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant"))
        );
    }
);

both_backends!(
    logout_revokes_the_grants_of_the_session_but_not_offline_ones,
    |backend| async move {
        let app = spawn_app(backend).await;
        let c = setup(&app).await;
        let code = code_with_scope(&app, &c, "openid profile").await;
        let (_, _, t) = token(&app, Some(&auth(&c)), &exchange(&code)).await;
        let at = t["access_token"].as_str().unwrap().to_owned();
        let id_token = t["id_token"].as_str().unwrap().to_owned();
        assert_alive(&app, &c, &at).await;
        // A hint for this very session: signed out at once.
        let r = app
            .http
            .get(app.url(&format!("/logout?id_token_hint={id_token}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.text().await.unwrap().contains("You are signed out"));
        assert_dead(&app, &c, &at, "logout").await;

        // offline_access (OIDC Core §11) outlives the session.
        let code = code_with_scope(&app, &c, "openid profile offline_access").await;
        let (_, _, t) = token(&app, Some(&auth(&c)), &exchange(&code)).await;
        let at = t["access_token"].as_str().unwrap().to_owned();
        let rt = t["refresh_token"].as_str().unwrap().to_owned();
        let id_token = t["id_token"].as_str().unwrap().to_owned();
        let r = app
            .http
            .get(app.url(&format!("/logout?id_token_hint={id_token}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_alive(&app, &c, &at).await;
        let (st, b) = refresh(&app, &c, &rt).await;
        assert_eq!(st, StatusCode::OK, "{b}");
    }
);
