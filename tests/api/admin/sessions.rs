//! Admin API tests: sessions (issue 15 item 1). Ending a session is a
//! logout by the operator: the session ends, the grants made in it are
//! revoked except the `offline_access` ones (OpenID Connect Core §11), and
//! the `logout` event says `initiator: operator`.

use portcullis::domain::event::{DetailKey, EventKind};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::users::{actions, alice_id, refresh, userinfo_status};
use super::{admin_token, call, read_token};
use crate::both_backends;
use crate::flow::{self, SignedIn};
use crate::helpers::{TestApp, http_client, spawn_app_recording};

/// After [`flow::sign_in`]: a second authorization in the same browser
/// session for `openid profile` only (no `offline_access`), exchanged; its
/// access token.
pub async fn online_access_token(app: &TestApp, s: &SignedIn) -> String {
    let resp = flow::get_authorize(app, &flow::query(&s.client.id, &[])).await;
    let resp = if resp.status() == StatusCode::OK {
        let html = resp.text().await.unwrap();
        flow::consent(app, &html, "allow").await
    } else {
        resp
    };
    let p = flow::redirect_params(&resp);
    let code = flow::param(&p, "code").unwrap().to_owned();
    let t: Value = app
        .http
        .post(app.url("/token"))
        .basic_auth(&s.client.id, Some(&s.secret))
        .form(&flow::code_exchange(&code))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    t["access_token"].as_str().unwrap().to_owned()
}

/// Signs alice in once more from a fresh browser (a second session).
async fn second_session(app: &TestApp, s: &SignedIn) {
    let browser = http_client();
    let html = browser
        .get(app.url(&format!("/authorize?{}", s.query)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let resp = flow::submit(
        &browser,
        app,
        "/login",
        &html,
        &[("username", "alice"), ("password", flow::PASSWORD)],
    )
    .await;
    assert!(
        resp.status() == StatusCode::SEE_OTHER || resp.status() == StatusCode::OK,
        "{}",
        resp.status()
    );
}

both_backends!(
    a_session_is_listed_shown_and_ended_like_a_logout,
    |backend| async move {
        let (app, sink) = spawn_app_recording(backend).await;
        let s = flow::sign_in(&app).await;
        let online = online_access_token(&app, &s).await;
        let id = alice_id(&app).await;
        let token = admin_token(&app).await;
        let reader = read_token(&app).await;

        let (status, body) = call(
            &app,
            Method::GET,
            &format!("/admin/v1/users/{id}/sessions"),
            &reader,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let items = body["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{body}");
        let sid = items[0]["session_id"].as_str().unwrap().to_owned();
        assert_eq!(items[0]["user_id"], id.as_str());
        for field in ["created_at", "last_seen_at", "expires_at", "auth_time"] {
            assert!(items[0][field].is_string(), "{field}: {body}");
        }
        assert_eq!(items[0]["amr"], json!(["pwd"]));
        // The session's cookie value and its hash never show.
        let stored = app
            .state
            .store
            .sessions()
            .session_by_id(&sid)
            .await
            .unwrap()
            .unwrap();
        assert!(!body.to_string().contains(stored.id_hash.as_str()));

        let path = format!("/admin/v1/sessions/{sid}");
        let (status, shown) = call(&app, Method::GET, &path, &reader, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(shown, items[0]);
        let (status, _) = call(&app, Method::DELETE, &path, &reader, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(userinfo_status(&app, &online).await, StatusCode::OK);

        let (status, _) = call(&app, Method::DELETE, &path, &token, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        // As at logout: the online grant is revoked, the offline one lives.
        assert_eq!(
            userinfo_status(&app, &online).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(refresh(&app, &s).await.0, StatusCode::OK);
        // The browser is signed out.
        let page = flow::get_authorize(&app, &s.query)
            .await
            .text()
            .await
            .unwrap();
        assert!(page.contains("Sign in"), "{page}");

        let (_, body) = call(
            &app,
            Method::GET,
            &format!("/admin/v1/users/{id}/sessions"),
            &token,
            None,
        )
        .await;
        assert_eq!(body["items"], json!([]));
        let (status, shown) = call(&app, Method::GET, &path, &token, None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(shown["ended_at"].is_string(), "{shown}");
        let (status, body) = call(&app, Method::DELETE, &path, &token, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "ended already: {body}");
        for unknown in ["nope", "0190e000-0000-4000-8000-000000000000"] {
            let (status, _) = call(
                &app,
                Method::DELETE,
                &format!("/admin/v1/sessions/{unknown}"),
                &token,
                None,
            )
            .await;
            assert_eq!(status, StatusCode::NOT_FOUND);
        }

        let logouts = sink.of_kind(EventKind::Logout);
        assert_eq!(logouts.len(), 1);
        assert_eq!(logouts[0].subject_id(), Some(id.as_str()));
        assert_eq!(logouts[0].session_id(), Some(sid.as_str()));
        assert_eq!(
            logouts[0].detail_value(DetailKey::Initiator),
            Some("operator")
        );
        assert_eq!(
            actions(&sink)
                .into_iter()
                .filter(|(a, _)| a == "session_ended")
                .collect::<Vec<_>>(),
            [("session_ended".to_owned(), sid)]
        );
    }
);

both_backends!(ending_all_sessions_answers_how_many, |backend| async move {
    let (app, sink) = spawn_app_recording(backend).await;
    let s = flow::sign_in(&app).await;
    second_session(&app, &s).await;
    let online = online_access_token(&app, &s).await;
    let id = alice_id(&app).await;
    let token = admin_token(&app).await;
    let path = format!("/admin/v1/users/{id}/sessions");

    let (_, body) = call(&app, Method::GET, &format!("{path}?limit=1"), &token, None).await;
    assert_eq!(body["items"].as_array().unwrap().len(), 1);
    let cursor = body["next_cursor"].as_str().unwrap().to_owned();
    let (_, next) = call(
        &app,
        Method::GET,
        &format!("{path}?limit=1&cursor={cursor}"),
        &token,
        None,
    )
    .await;
    assert_eq!(next["items"].as_array().unwrap().len(), 1);
    assert_ne!(next["items"][0], body["items"][0]);
    assert!(next.get("next_cursor").is_none(), "{next}");

    let (status, body) = call(&app, Method::DELETE, &path, &token, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"ended": 2}));
    assert_eq!(
        userinfo_status(&app, &online).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(refresh(&app, &s).await.0, StatusCode::OK, "offline lives");
    let (_, body) = call(&app, Method::GET, &path, &token, None).await;
    assert_eq!(body["items"], json!([]));
    let (status, body) = call(&app, Method::DELETE, &path, &token, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"ended": 0}));
    let (status, _) = call(
        &app,
        Method::DELETE,
        "/admin/v1/users/0190e000-0000-7000-8000-000000000000/sessions",
        &token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(
        &app,
        Method::GET,
        "/admin/v1/users/0190e000-0000-7000-8000-000000000000/sessions",
        &token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    assert_eq!(sink.of_kind(EventKind::Logout).len(), 2);
    assert!(
        sink.of_kind(EventKind::Logout)
            .iter()
            .all(|e| e.detail_value(DetailKey::Initiator) == Some("operator"))
    );
    let ended: Vec<(String, String)> = actions(&sink)
        .into_iter()
        .filter(|(a, _)| a == "sessions_ended")
        .collect();
    assert_eq!(
        ended,
        [("sessions_ended".to_owned(), id.clone())],
        "once, when something ended"
    );
});
