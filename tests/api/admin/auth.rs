//! Who may call the admin API (issue 15 item 1, RFC 6750 §3.1): a
//! client-credentials access token with `admin:read` (reading) or
//! `admin:write` (changing), checked like any access token plus the
//! revocation check and the client's existence.

use portcullis::app::operator::NewClient;
use reqwest::{Method, StatusCode};

use super::{admin_client, admin_token, call, read_token, token_of};
use crate::both_backends;
use crate::flow;
use crate::helpers::spawn_app;

/// A route that reads and one that changes (an unknown client id: the
/// answer after authorization is 404, never 401/403).
const READ: &str = "/admin/v1/clients";
const WRITE: &str = "/admin/v1/clients/00000000000000000000000000000000";

fn challenge(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

both_backends!(
    no_token_is_401_with_a_bearer_challenge,
    |backend| async move {
        let app = spawn_app(backend).await;
        for (method, path) in [(Method::GET, READ), (Method::DELETE, WRITE)] {
            let resp = app
                .http
                .request(method, app.url(path))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{path}");
            assert!(
                challenge(&resp).starts_with("Bearer"),
                "{}",
                challenge(&resp)
            );
        }
        let resp = app
            .http
            .get(app.url(READ))
            .header("authorization", "Basic YTpi")
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::BAD_REQUEST,
            "not a Bearer header"
        );
        let resp = app
            .http
            .get(app.url(READ))
            .bearer_auth("not-a-token")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert!(challenge(&resp).contains("error=\"invalid_token\""));
    }
);

both_backends!(scopes_decide_read_and_write, |backend| async move {
    let app = spawn_app(backend).await;
    let none = {
        let c = admin_client(&app, "api:read").await;
        token_of(&app, &c).await
    };
    let read = read_token(&app).await;
    let write = admin_token(&app).await;

    let (status, body) = call(&app, Method::GET, READ, &none, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"], "insufficient_scope");
    let resp = app
        .http
        .get(app.url(READ))
        .bearer_auth(&none)
        .send()
        .await
        .unwrap();
    assert!(
        challenge(&resp).ends_with("scope=\"admin:read\""),
        "{}",
        challenge(&resp)
    );

    let (status, _) = call(&app, Method::GET, READ, &read, None).await;
    assert_eq!(status, StatusCode::OK);

    let (status, body) = call(&app, Method::DELETE, WRITE, &read, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "admin:read cannot change");
    assert_eq!(body["error"], "insufficient_scope");

    let resp = app
        .http
        .delete(app.url(WRITE))
        .bearer_auth(&read)
        .send()
        .await
        .unwrap();
    assert!(challenge(&resp).contains("error=\"insufficient_scope\""));
    assert!(
        challenge(&resp).ends_with("scope=\"admin:write\""),
        "RFC 6750 §3: the challenge names the scope: {}",
        challenge(&resp)
    );

    let (status, body) = call(&app, Method::DELETE, WRITE, &write, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
});

both_backends!(a_revoked_token_is_refused, |backend| async move {
    let app = spawn_app(backend).await;
    let client = admin_client(&app, "admin:read admin:write").await;
    let token = token_of(&app, &client).await;
    let (status, _) = call(&app, Method::GET, READ, &token, None).await;
    assert_eq!(status, StatusCode::OK);
    // RFC 7009: the client revokes its own access token.
    let resp = app
        .http
        .post(app.url("/revoke"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&[
            ("token", token.as_str()),
            ("token_type_hint", "access_token"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (status, body) = call(&app, Method::GET, READ, &token, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_token");
});

both_backends!(a_deleted_client_s_token_is_refused, |backend| async move {
    let app = spawn_app(backend).await;
    let client = admin_client(&app, "admin:read admin:write").await;
    let token = token_of(&app, &client).await;
    let id = portcullis::domain::ClientId::parse(&client.id).unwrap();
    assert!(app.state.store.clients().delete_client(&id).await.unwrap());
    let (status, body) = call(&app, Method::GET, READ, &token, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_token");
});

both_backends!(
    a_user_s_token_never_reaches_the_admin_api,
    |backend| async move {
        let app = spawn_app(backend).await;
        // A client that holds admin:write and also runs the code flow: the
        // user's token carries admin:write, yet it is a user's token.
        let client = flow::register(
            &app,
            NewClient {
                name: "Console".into(),
                redirect_uris: vec![flow::REDIRECT.into()],
                grant_types: vec!["authorization_code".into()],
                scopes: vec!["openid".into(), "admin:write".into()],
                first_party: true,
                ..NewClient::default()
            },
        )
        .await;
        flow::user(&app, "alice").await;
        let query = flow::query(&client.id, &[])
            .replace("scope=openid+profile", "scope=openid+admin%3Awrite");
        let p = flow::follow(&app, &app.url(&format!("/authorize?{query}")), "alice").await;
        let code = flow::param(&p, "code").expect("a code").to_owned();
        let t: serde_json::Value = app
            .http
            .post(app.url("/token"))
            .basic_auth(&client.id, client.secret.as_deref())
            .form(&flow::code_exchange(&code))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(t["scope"].as_str().unwrap().contains("admin:write"), "{t}");
        let user_token = t["access_token"].as_str().unwrap();
        let (status, body) = call(&app, Method::GET, READ, user_token, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["error"], "invalid_token");
    }
);

both_backends!(
    taking_the_scope_from_the_client_takes_it_from_its_tokens,
    |backend| async move {
        let app = spawn_app(backend).await;
        let client = admin_client(&app, "admin:read admin:write").await;
        let token = token_of(&app, &client).await;
        // The operator re-creates the client's row without admin:write (the
        // update route comes with the clients slice; the store is the truth).
        let id = portcullis::domain::ClientId::parse(&client.id).unwrap();
        let mut stored = app
            .state
            .store
            .clients()
            .get_client(&id)
            .await
            .unwrap()
            .unwrap();
        stored.scopes = portcullis::domain::ScopeSet::parse("admin:read").unwrap();
        assert!(app.state.store.clients().delete_client(&id).await.unwrap());
        app.state
            .store
            .clients()
            .insert_client(&stored)
            .await
            .unwrap();
        let (status, body) = call(&app, Method::DELETE, WRITE, &token, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        let (status, _) = call(&app, Method::GET, READ, &token, None).await;
        assert_eq!(status, StatusCode::OK);
    }
);

both_backends!(unknown_admin_paths_answer_json_404, |backend| async move {
    let app = spawn_app(backend).await;
    let token = admin_token(&app).await;
    for path in [
        "/admin/v1/nothing",
        "/admin/v1/clients/",
        "/admin/v2/clients",
    ] {
        let (status, body) = call(&app, Method::GET, path, &token, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body["error"], "not_found", "{path}: {body}");
    }
    // Pages keep their HTML 404.
    let resp = app.http.get(app.url("/nothing")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert!(resp.text().await.unwrap().contains("<html"));
});
