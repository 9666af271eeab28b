//! Admin API tests: users (issue 15 item 1). Users are addressed by their
//! `user_id` (the `sub`); no answer ever carries the password hash; bad
//! input changes nothing; disabling, a new password and deleting end the
//! user's sessions and revoke every grant (seen from outside: the refresh
//! token gets `invalid_grant`, the access token 401 at /userinfo).

use portcullis::domain::UserId;
use portcullis::domain::event::{DetailKey, EventKind};
use portcullis::testing::MemoryEventSink;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{admin_token, call, read_token};
use crate::both_backends;
use crate::flow::{self, SignedIn};
use crate::helpers::{TestApp, spawn_app_recording};

/// The `admin_change` actions recorded so far, with their targets.
pub fn actions(sink: &MemoryEventSink) -> Vec<(String, String)> {
    sink.of_kind(EventKind::AdminChange)
        .iter()
        .map(|e| {
            (
                e.detail_value(DetailKey::Action).unwrap_or("").to_owned(),
                e.detail_value(DetailKey::Target).unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// The status of `/userinfo` with `access_token`.
pub async fn userinfo_status(app: &TestApp, access_token: &str) -> StatusCode {
    app.http
        .get(app.url("/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
        .status()
}

/// The status and `error` of a refresh of `s`'s refresh token.
pub async fn refresh(app: &TestApp, s: &SignedIn) -> (StatusCode, Value) {
    let resp = app
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
    (resp.status(), resp.json().await.unwrap())
}

/// The `sub` of `alice` (after [`flow::sign_in`]).
pub async fn alice_id(app: &TestApp) -> String {
    app.state
        .store
        .users()
        .user_by_username(&portcullis::domain::Username::parse("alice").unwrap())
        .await
        .unwrap()
        .unwrap()
        .id
        .to_string()
}

fn new_user(username: &str, email: &str) -> Value {
    json!({
        "username": username,
        "email": email,
        "name": format!("{username} Example"),
        "password": flow::PASSWORD,
    })
}

/// Every user id of the list, page by page (`limit` per page).
async fn all_pages(app: &TestApp, token: &str, query: &str, limit: u64) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..20 {
        let path = match &cursor {
            Some(c) => format!("/admin/v1/users?limit={limit}{query}&cursor={c}"),
            None => format!("/admin/v1/users?limit={limit}{query}"),
        };
        let (status, body) = call(app, Method::GET, &path, token, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let page = body["items"].as_array().unwrap();
        assert!(page.len() as u64 <= limit);
        items.extend(page.iter().cloned());
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return items,
        }
    }
    panic!("paging does not end");
}

fn no_secret(body: &Value) {
    let text = body.to_string();
    assert!(!text.contains("password"), "{text}");
    assert!(!text.contains("argon2"), "{text}");
}

both_backends!(
    users_are_created_listed_searched_and_paged,
    |backend| async move {
        let (app, sink) = spawn_app_recording(backend).await;
        let token = admin_token(&app).await;
        let mut ids = Vec::new();
        for (u, e) in [
            ("alice", "alice@example.com"),
            ("Bob", "bob@Example.org"),
            ("carol", "carol@example.com"),
            ("dave", "dave@example.net"),
            ("erin", "erin@example.com"),
        ] {
            let (status, body) = call(
                &app,
                Method::POST,
                "/admin/v1/users",
                &token,
                Some(new_user(u, e)),
            )
            .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            assert_eq!(body["username"], u);
            assert_eq!(body["email"], e);
            assert_eq!(body["disabled"], false);
            no_secret(&body);
            ids.push(body["user_id"].as_str().unwrap().to_owned());
        }
        // The stored user is the one created through the operator rules:
        // an argon2id hash of the password.
        let stored = app
            .state
            .store
            .users()
            .user_by_id(&UserId::new(ids[0].clone()))
            .await
            .unwrap()
            .unwrap();
        assert!(stored.password_hash.starts_with("$argon2id$"));

        // Paged by a stable key: every user once, in the same order twice.
        let listed = all_pages(&app, &token, "", 2).await;
        let listed_ids: Vec<&str> = listed
            .iter()
            .map(|u| u["user_id"].as_str().unwrap())
            .collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(listed_ids, sorted);
        listed.iter().for_each(no_secret);
        let again = all_pages(&app, &token, "", 3).await;
        assert_eq!(again, listed);

        // Search: a case-insensitive substring of the username or e-mail.
        let names = |v: Vec<Value>| -> Vec<String> {
            let mut n: Vec<String> = v
                .iter()
                .map(|u| u["username"].as_str().unwrap().to_owned())
                .collect();
            n.sort();
            n
        };
        assert_eq!(names(all_pages(&app, &token, "&q=bO", 10).await), ["Bob"]);
        assert_eq!(
            names(all_pages(&app, &token, "&q=EXAMPLE.COM", 1).await),
            ["alice", "carol", "erin"]
        );
        assert_eq!(names(all_pages(&app, &token, "&q=ar", 10).await), ["carol"]);
        // LIKE wildcards are plain characters.
        assert!(all_pages(&app, &token, "&q=%25", 10).await.is_empty());
        assert!(all_pages(&app, &token, "&q=_", 10).await.is_empty());
        let (status, _) = call(
            &app,
            Method::GET,
            &format!("/admin/v1/users?q={}", "a".repeat(129)),
            &token,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "the query is bounded");
        for bad in ["limit=0", "limit=x", "cursor=%25%25", "q=a&q=b"] {
            let (status, body) = call(
                &app,
                Method::GET,
                &format!("/admin/v1/users?{bad}"),
                &token,
                None,
            )
            .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
            assert_eq!(body["error"], "invalid_request");
        }

        // Bad input: a clear error, nothing created.
        let before = actions(&sink).len();
        for (body, want) in [
            (new_user("alice", "other@example.com"), StatusCode::CONFLICT),
            (new_user("frank", "not-an-address"), StatusCode::BAD_REQUEST),
            (
                new_user(" frank", "frank@example.com"),
                StatusCode::BAD_REQUEST,
            ),
            (
                json!({"username": "frank", "email": "frank@example.com", "password": "short"}),
                StatusCode::BAD_REQUEST,
            ),
            (
                json!({"username": "frank", "email": "frank@example.com"}),
                StatusCode::BAD_REQUEST,
            ),
            (
                json!({"username": "frank", "email": "frank@example.com",
                       "password": flow::PASSWORD, "disabled": true}),
                StatusCode::BAD_REQUEST,
            ),
        ] {
            let (status, answer) = call(
                &app,
                Method::POST,
                "/admin/v1/users",
                &token,
                Some(body.clone()),
            )
            .await;
            assert_eq!(status, want, "{body} -> {answer}");
            assert!(answer["error_description"].is_string());
        }
        assert_eq!(all_pages(&app, &token, "", 50).await.len(), 5);
        assert_eq!(actions(&sink).len(), before, "no event for a refusal");

        let created: Vec<(String, String)> = actions(&sink)
            .into_iter()
            .filter(|(a, _)| a == "user_created")
            .collect();
        assert_eq!(created.len(), 5);
        assert_eq!(created[0].1, ids[0], "the target is the new user's id");

        // A reader lists but cannot create.
        let reader = read_token(&app).await;
        let (status, _) = call(&app, Method::GET, "/admin/v1/users", &reader, None).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = call(
            &app,
            Method::POST,
            "/admin/v1/users",
            &reader,
            Some(new_user("frank", "frank@example.com")),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
);

both_backends!(
    a_user_is_shown_updated_disabled_and_enabled,
    |backend| async move {
        let (app, sink) = spawn_app_recording(backend).await;
        let s = flow::sign_in(&app).await;
        let id = alice_id(&app).await;
        let token = admin_token(&app).await;
        let path = format!("/admin/v1/users/{id}");

        let (status, body) = call(&app, Method::GET, &path, &token, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["user_id"], id.as_str());
        assert_eq!(body["username"], "alice");
        assert_eq!(body["name"], "Alice Example");
        no_secret(&body);
        let (status, body) = call(
            &app,
            Method::GET,
            "/admin/v1/users/0190e000-0000-7000-8000-000000000000",
            &token,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"], "not_found");

        // Bad input changes nothing.
        let (_, before) = call(&app, Method::GET, &path, &token, None).await;
        for bad in [
            json!({}),
            json!({"username": "mallory"}),
            json!({"email": "nope"}),
            json!({"name": "a\u{7}b"}),
            json!({"disabled": "yes"}),
            json!({"email": "new@example.com", "password": "whatever12"}),
        ] {
            let (status, answer) =
                call(&app, Method::PATCH, &path, &token, Some(bad.clone())).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad} -> {answer}");
        }
        let (_, still) = call(&app, Method::GET, &path, &token, None).await;
        assert_eq!(still, before);
        assert_eq!(still["email"], "alice@example.com");
        assert_eq!(userinfo_status(&app, &s.access_token).await, StatusCode::OK);

        // Profile: e-mail (no longer verified) and name; null clears the name.
        let (status, body) = call(
            &app,
            Method::PATCH,
            &path,
            &token,
            Some(json!({"email": "alice@new.example", "name": null})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["email"], "alice@new.example");
        assert_eq!(body["email_verified"], false);
        assert_eq!(body["name"], Value::Null);
        assert_eq!(body["disabled"], false);
        assert_eq!(userinfo_status(&app, &s.access_token).await, StatusCode::OK);

        // Disabling goes through the operator path: sessions end, grants go.
        let (status, body) = call(
            &app,
            Method::PATCH,
            &path,
            &token,
            Some(json!({"disabled": true})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["disabled"], true);
        assert_eq!(
            userinfo_status(&app, &s.access_token).await,
            StatusCode::UNAUTHORIZED
        );
        let (status, err) = refresh(&app, &s).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(err["error"], "invalid_grant");
        let (_, sessions) =
            call(&app, Method::GET, &format!("{path}/sessions"), &token, None).await;
        assert_eq!(sessions["items"], json!([]));

        let (status, body) = call(
            &app,
            Method::PATCH,
            &path,
            &token,
            Some(json!({"disabled": false})),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["disabled"], false);
        // Enabling brings no revoked grant back.
        let (status, _) = refresh(&app, &s).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        let acts: Vec<String> = actions(&sink)
            .into_iter()
            .filter(|(_, t)| *t == id)
            .map(|(a, _)| a)
            .collect();
        assert_eq!(acts, ["user_updated", "user_disabled", "user_enabled"]);
    }
);

both_backends!(
    a_new_password_ends_sessions_and_revokes_grants,
    |backend| async move {
        let (app, sink) = spawn_app_recording(backend).await;
        let s = flow::sign_in(&app).await;
        let id = alice_id(&app).await;
        let token = admin_token(&app).await;
        let path = format!("/admin/v1/users/{id}/password");

        for bad in [json!({"password": "short"}), json!({}), json!({"pw": "x"})] {
            let (status, _) = call(&app, Method::POST, &path, &token, Some(bad.clone())).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        }
        assert_eq!(userinfo_status(&app, &s.access_token).await, StatusCode::OK);
        let (status, _) = call(
            &app,
            Method::POST,
            "/admin/v1/users/0190e000-0000-7000-8000-000000000000/password",
            &token,
            Some(json!({"password": "another fine password"})),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        let (status, body) = call(
            &app,
            Method::POST,
            &path,
            &token,
            Some(json!({"password": "another fine password"})),
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        assert_eq!(
            userinfo_status(&app, &s.access_token).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(refresh(&app, &s).await.1["error"], "invalid_grant");
        let user = app
            .state
            .store
            .users()
            .user_by_id(&UserId::new(id.clone()))
            .await
            .unwrap()
            .unwrap();
        assert!(
            app.state
                .passwords
                .verify("another fine password", Some(&user.password_hash))
                .await
                .unwrap()
        );
        assert!(
            actions(&sink).contains(&("password_set".to_owned(), id.clone())),
            "{:?}",
            actions(&sink)
        );
        // The password never reaches an event.
        let all = format!("{:?}", sink.events());
        assert!(!all.contains("another fine password"));
    }
);

both_backends!(
    unlock_answers_how_many_throttle_keys_were_cleared,
    |backend| async move {
        let (app, sink) = spawn_app_recording(backend).await;
        let s = flow::sign_in(&app).await; // one wrong password on the way
        let id = alice_id(&app).await;
        let token = admin_token(&app).await;
        // A fresh browser (no session) fails one sign-in more.
        let fresh = crate::helpers::http_client();
        let page = fresh
            .get(app.url(&format!("/authorize?{}", s.query)))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        flow::submit(
            &fresh,
            &app,
            "/login",
            &page,
            &[("username", "alice"), ("password", flow::WRONG_PASSWORD)],
        )
        .await;
        let path = format!("/admin/v1/users/{id}/unlock");
        let (status, body) = call(&app, Method::POST, &path, &token, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body["cleared"].as_u64().unwrap() >= 1, "{body}");
        let (status, body) = call(&app, Method::POST, &path, &token, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["cleared"], 0);
        let (status, _) = call(
            &app,
            Method::POST,
            "/admin/v1/users/0190e000-0000-7000-8000-000000000000/unlock",
            &token,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(
            actions(&sink)
                .iter()
                .filter(|(a, t)| a == "user_unlocked" && *t == id)
                .count(),
            2
        );
    }
);

both_backends!(
    deleting_a_user_ends_everything_and_keeps_the_events,
    |backend| async move {
        let (app, sink) = spawn_app_recording(backend).await;
        let s = flow::sign_in(&app).await;
        let id = alice_id(&app).await;
        let user = UserId::new(id.clone());
        let token = admin_token(&app).await;
        let client = portcullis::domain::ClientId::parse(&s.client.id).unwrap();
        assert!(
            app.state
                .store
                .consents()
                .get_consent(&user, &client)
                .await
                .unwrap()
                .is_some()
        );
        let reader = read_token(&app).await;
        let path = format!("/admin/v1/users/{id}");
        let (status, _) = call(&app, Method::DELETE, &path, &reader, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        let (status, body) = call(&app, Method::DELETE, &path, &token, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let (status, _) = call(&app, Method::GET, &path, &token, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = call(&app, Method::DELETE, &path, &token, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(
            userinfo_status(&app, &s.access_token).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(refresh(&app, &s).await.1["error"], "invalid_grant");
        assert!(
            app.state
                .store
                .consents()
                .get_consent(&user, &client)
                .await
                .unwrap()
                .is_none(),
            "the consent is gone"
        );
        // The browser's session no longer signs anyone in.
        let page = flow::get_authorize(&app, &s.query)
            .await
            .text()
            .await
            .unwrap();
        assert!(page.contains("Sign in"), "{page}");
        // Events keep the subject id.
        assert!(
            sink.events()
                .iter()
                .any(|e| e.kind() == EventKind::LoginSucceeded && e.subject_id() == Some(&id))
        );
        assert!(actions(&sink).contains(&("user_deleted".to_owned(), id.clone())));
        // The username is free again, under a new id.
        let (status, body) = call(
            &app,
            Method::POST,
            "/admin/v1/users",
            &token,
            Some(new_user("alice", "alice@example.com")),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
        assert_ne!(body["user_id"], id.as_str());
    }
);
