//! Revocation reaches everything (issue 14 item 7): `user set-password` and
//! `user disable` end the user's sessions (a browser signed in before is
//! asked to sign in again, even after the user is enabled again) and revoke
//! their refresh and access tokens (`protocol::grant`); introspection
//! answers `{"active": false}` for a disabled user's tokens, as `/userinfo`
//! refuses them. Each token is introspected by a client told about it
//! while it lives (the access token by a resource server of the server-wide
//! audience, the refresh token by its own client), so that `active: false`
//! after the revocation means the revocation.

use portcullis::adapters::system::SystemClock;
use portcullis::app::operator::{self, NewClient};
use portcullis::domain::Username;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::flow::{self, SignedIn, TestClient, param, redirect_params};
use crate::helpers::TestApp;

/// `/authorize` with `prompt=none` from the browser that signed in: a code
/// while its session lives, `login_required` once it ended.
async fn silent_authorize(app: &TestApp, s: &SignedIn) -> Vec<(String, String)> {
    let r = flow::get_authorize(app, &format!("{}&prompt=none", s.query)).await;
    redirect_params(&r)
}

async fn refresh(app: &TestApp, s: &SignedIn) -> (StatusCode, Value) {
    let r = app
        .http
        .post(app.url("/token"))
        .basic_auth(&s.client.id, Some(&s.secret))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", s.refresh_token.as_str()),
        ])
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap_or_default())
}

async fn introspect(app: &TestApp, rs: &TestClient, token: &str) -> Value {
    app.http
        .post(app.url("/introspect"))
        .basic_auth(&rs.id, rs.secret.as_deref())
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A resource server registered with the server-wide access-token audience
/// (the issuer): told about every live access token.
async fn resource_server(app: &TestApp) -> TestClient {
    flow::register(
        app,
        NewClient {
            name: "The API".into(),
            grant_types: vec!["client_credentials".into()],
            resource_server: true,
            audience: Some(app.issuer.clone()),
            ..NewClient::default()
        },
    )
    .await
}

/// The signed-in client, registered as a resource server (its own
/// audience): told about its own refresh token (RFC 7662 §4).
async fn own_client(app: &TestApp, s: &SignedIn) -> TestClient {
    crate::security::set_resource_server(app, &s.client.id, true, None)
        .await
        .unwrap();
    TestClient {
        id: s.client.id.clone(),
        secret: Some(s.secret.clone()),
    }
}

/// Asserts that alice's tokens are live: each is described to the client
/// that [`assert_all_revoked`] asks.
async fn assert_live(app: &TestApp, s: &SignedIn, rs: &TestClient, own: &TestClient) {
    for (token, who) in [(&s.access_token, rs), (&s.refresh_token, own)] {
        let v = introspect(app, who, token).await;
        assert_eq!(v["active"], true, "before: {v}");
        assert!(v["sub"].is_string(), "before: {v}");
    }
}

/// Asserts that the browser's session is gone and alice's tokens are dead.
async fn assert_all_revoked(
    app: &TestApp,
    s: &SignedIn,
    rs: &TestClient,
    own: &TestClient,
    why: &str,
) {
    let p = silent_authorize(app, s).await;
    assert_eq!(
        (param(&p, "error"), param(&p, "code")),
        (Some("login_required"), None),
        "the session ended after {why}"
    );
    let (st, body) = refresh(app, s).await;
    assert_eq!(
        (st, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "the refresh token after {why}"
    );
    for (token, who) in [(&s.access_token, rs), (&s.refresh_token, own)] {
        assert_eq!(
            introspect(app, who, token).await,
            json!({"active": false}),
            "introspection after {why}"
        );
    }
}

both_backends!(
    a_new_password_ends_the_sessions_and_revokes_the_tokens,
    |backend| async move {
        let app = crate::helpers::spawn_app(backend).await;
        let s = flow::sign_in(&app).await;
        let rs = resource_server(&app).await;
        let own = own_client(&app, &s).await;
        assert_live(&app, &s, &rs, &own).await;
        let p = silent_authorize(&app, &s).await;
        assert!(param(&p, "code").is_some(), "signed in before: {p:?}");
        let state = &app.state;
        operator::set_password(
            state.store.as_ref(),
            state.passwords.as_ref(),
            &SystemClock,
            "alice",
            "a brand new password",
        )
        .await
        .unwrap();
        assert_all_revoked(&app, &s, &rs, &own, "a new password").await;
    }
);

both_backends!(disabling_ends_the_sessions_for_good, |backend| async move {
    let app = crate::helpers::spawn_app(backend).await;
    let s = flow::sign_in(&app).await;
    let rs = resource_server(&app).await;
    let own = own_client(&app, &s).await;
    assert_live(&app, &s, &rs, &own).await;
    let store = app.state.store.as_ref();
    operator::set_disabled(store, &SystemClock, "alice", true)
        .await
        .unwrap();
    // Enabled again: the old session does not come back.
    operator::set_disabled(store, &SystemClock, "alice", false)
        .await
        .unwrap();
    assert_all_revoked(&app, &s, &rs, &own, "disable and enable").await;
});

both_backends!(
    introspection_refuses_a_disabled_users_tokens_as_userinfo_does,
    |backend| async move {
        let app = crate::helpers::spawn_app(backend).await;
        let s = flow::sign_in(&app).await;
        let rs = resource_server(&app).await;
        let own = own_client(&app, &s).await;
        assert_live(&app, &s, &rs, &own).await;
        assert_eq!(
            introspect(&app, &rs, &s.refresh_token).await["active"],
            false,
            "not its token"
        );
        // Disabled by a path that does not revoke the grants (a direct
        // database change, a future admin API): the user check alone must
        // hold.
        app.state
            .store
            .users()
            .set_user_disabled(&Username::parse("alice").unwrap(), true, chrono::Utc::now())
            .await
            .unwrap();
        let r = app
            .http
            .get(app.url("/userinfo"))
            .bearer_auth(&s.access_token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "userinfo refuses it");
        assert_eq!(
            introspect(&app, &rs, &s.access_token).await,
            json!({"active": false}),
            "and so does introspection"
        );
        // The refresh token, asked by its own client (a resource server).
        assert_eq!(
            introspect(&app, &own, &s.refresh_token).await,
            json!({"active": false}),
            "a disabled user's refresh token"
        );
    }
);
