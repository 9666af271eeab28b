//! Admin API tests: signing keys (issue 15): list, rotate now, and the
//! emergency revocation through `/admin/v1/keys`, with the `admin_change`
//! events naming the acting client.

use portcullis::domain::event::{DetailKey, EventKind};
use reqwest::Method;
use serde_json::{Value, json};

use super::{admin_client, call, read_token, token_of};
use crate::both_backends;
use crate::helpers::spawn_app_recording;
use crate::keys::kid_of;

both_backends!(admin_lists_rotates_and_revokes_keys, |backend| async move {
    let (app, sink) = spawn_app_recording(backend).await;
    let admin = admin_client(&app, "admin:read admin:write").await;
    let token = token_of(&app, &admin).await;

    let (s, body) = call(&app, Method::GET, "/admin/v1/keys", &token, None).await;
    assert_eq!(s, 200, "{body}");
    let keys = body["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 3);
    assert!(keys.iter().all(|k| k["state"] == "active"));
    assert!(keys.iter().all(|k| k.get("private_key_sealed").is_none()));

    // Rotate ES256 now: a `next` key, published.
    let (s, body) = call(
        &app,
        Method::POST,
        "/admin/v1/keys/rotate",
        &token,
        Some(json!({"alg": "ES256"})),
    )
    .await;
    assert_eq!(s, 201, "{body}");
    let next = body["keys"][0]["kid"].as_str().unwrap().to_owned();
    assert_eq!(body["keys"][0]["state"], "next");
    // A bad algorithm: 400, nothing changed.
    let (s, body) = call(
        &app,
        Method::POST,
        "/admin/v1/keys/rotate",
        &token,
        Some(json!({"alg": "HS256"})),
    )
    .await;
    assert_eq!(
        (s.as_u16(), body["error"].as_str()),
        (400, Some("invalid_request"))
    );

    // Revoke the key that signs the admin's own token (ES256): the next key
    // replaces it, the old token is refused from now on.
    let old = kid_of(&token);
    let path = format!("/admin/v1/keys/{old}/revoke");
    let (s, body) = call(&app, Method::POST, &path, &token, Some(json!({}))).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["revoked"]["state"], "revoked");
    assert!(body["revoked"]["revoked_at"].is_string());
    assert_eq!(body["replacement"]["kid"], next.as_str());
    let jwks: Value = reqwest::get(app.url("/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!jwks.to_string().contains(&old));
    let (s, _) = call(&app, Method::GET, "/admin/v1/keys", &token, None).await;
    assert_eq!(
        s, 401,
        "the admin's own token was signed with the revoked key"
    );

    // A fresh token (signed by the replacement) works; revoking again is a
    // conflict, an unknown kid is 404; neither changes anything.
    let token = token_of(&app, &admin).await;
    assert_eq!(kid_of(&token), next);
    let (s, body) = call(&app, Method::POST, &path, &token, Some(json!({}))).await;
    assert_eq!(
        (s.as_u16(), body["error"].as_str()),
        (409, Some("conflict"))
    );
    let (s, body) = call(
        &app,
        Method::POST,
        "/admin/v1/keys/nope/revoke",
        &token,
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (s.as_u16(), body["error"].as_str()),
        (404, Some("not_found"))
    );
    let (_, body) = call(&app, Method::GET, "/admin/v1/keys", &token, None).await;
    let states: Vec<&str> = body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["state"].as_str().unwrap())
        .collect();
    assert_eq!(states.iter().filter(|s| **s == "revoked").count(), 1);
    assert_eq!(states.iter().filter(|s| **s == "active").count(), 3);

    // Each change: one admin_change event naming the acting client.
    app.state.events.flush().await.unwrap();
    let changes = sink.of_kind(EventKind::AdminChange);
    let seen: Vec<&str> = changes
        .iter()
        .map(|e| e.detail_value(DetailKey::Action).unwrap())
        .collect();
    assert_eq!(seen, ["key_rotated", "key_revoked"]);
    // `detail.target` holds the kid, but a kid (a 43-character base64url
    // thumbprint) has the shape the event redaction takes for a credential:
    // it is stored as `[redacted]` (reported; the rule is domain::event's).
    assert!(
        changes
            .iter()
            .all(|e| e.detail_value(DetailKey::Target).is_some())
    );
    assert!(
        changes
            .iter()
            .all(|e| e.client_id() == Some(admin.id.as_str()))
    );
});

both_backends!(a_reader_cannot_rotate_or_revoke, |backend| async move {
    let (app, sink) = spawn_app_recording(backend).await;
    let token = read_token(&app).await;
    let (s, _) = call(&app, Method::GET, "/admin/v1/keys", &token, None).await;
    assert_eq!(s, 200);
    let before = app
        .state
        .store
        .signing_keys()
        .list_signing_keys()
        .await
        .unwrap();
    let kid = before[0].kid.clone();
    for path in [
        "/admin/v1/keys/rotate".to_owned(),
        format!("/admin/v1/keys/{kid}/revoke"),
    ] {
        let (s, _) = call(&app, Method::POST, &path, &token, Some(json!({}))).await;
        assert_eq!(s, 403, "{path}");
        let (s, _) = call(&app, Method::POST, &path, "not-a-token", Some(json!({}))).await;
        assert_eq!(s, 401, "{path}");
    }
    assert_eq!(
        app.state
            .store
            .signing_keys()
            .list_signing_keys()
            .await
            .unwrap(),
        before
    );
    assert!(sink.of_kind(EventKind::AdminChange).is_empty());
});

both_backends!(rotate_and_revoke_need_no_body, |backend| async move {
    let (app, _sink) = spawn_app_recording(backend).await;
    let admin = admin_client(&app, "admin:read admin:write").await;
    let token = token_of(&app, &admin).await;
    // `curl -X POST` without `-d`: no body, no Content-Type.
    let resp = app
        .http
        .post(app.url("/admin/v1/keys/rotate"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let body: Value = resp.json().await.unwrap();
    let next = body["keys"][0]["kid"].as_str().unwrap().to_owned();
    let resp = app
        .http
        .post(app.url(&format!("/admin/v1/keys/{next}/revoke")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // A body that is there must be JSON.
    let resp = app
        .http
        .post(app.url("/admin/v1/keys/rotate"))
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body("alg=ES256")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
});
