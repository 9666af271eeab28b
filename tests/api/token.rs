//! `/token`, `/userinfo`, `/revoke` and `/introspect`: every RFC 6749 §5.2
//! error the server can produce, and the happy paths, on both back ends.

use base64::Engine as _;
use portcullis::app::operator::NewClient;
use reqwest::StatusCode;
use serde_json::Value;

use crate::both_backends;
use crate::flow::{REDIRECT, TestClient, VERIFIER, client_req, full_login, param, register, user};
use crate::helpers::TestApp;

pub fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

pub async fn token(
    app: &TestApp,
    auth: Option<&str>,
    form: &[(&str, &str)],
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut req = app.http.post(app.url("/token")).form(form);
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.json::<Value>().await.unwrap_or(Value::Null);
    (status, headers, body)
}

async fn code_for(app: &TestApp, client: &TestClient, scope: &str) -> String {
    let params = full_login(app, &client.id, "alice", &[]).await;
    let _ = scope;
    param(&params, "code").unwrap().to_owned()
}

pub fn exchange(code: &str) -> Vec<(&'static str, &str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ]
}

pub async fn setup(app: &TestApp) -> TestClient {
    let mut req = client_req(false);
    req.scopes = vec![
        "openid".into(),
        "profile".into(),
        "email".into(),
        "offline_access".into(),
        "api:read".into(),
    ];
    req.grant_types = vec![
        "authorization_code".into(),
        "refresh_token".into(),
        "client_credentials".into(),
    ];
    // It introspects in the tests that use it (RFC 7662 §2.1: a resource
    // server).
    req.resource_server = true;
    let c = register(app, req).await;
    user(app, "alice").await;
    c
}

fn with_scope(scope: &str) -> Vec<(&'static str, String)> {
    vec![("scope", scope.to_owned())]
}

pub async fn code_with_scope(app: &TestApp, client: &TestClient, scope: &str) -> String {
    let extra = with_scope(scope);
    let q = crate::flow::query(&client.id, &[]).replace(
        "scope=openid+profile",
        &format!(
            "scope={}",
            url::form_urlencoded::byte_serialize(scope.as_bytes()).collect::<String>()
        ),
    );
    let _ = extra;
    let params = crate::flow::follow(app, &app.url(&format!("/authorize?{q}")), "alice").await;
    param(&params, "code").unwrap().to_owned()
}

both_backends!(
    code_exchange_returns_tokens_with_no_store,
    |backend| async move {
        let app = crate::helpers::spawn_app(backend).await;
        let client = setup(&app).await;
        let code = code_with_scope(&app, &client, "openid profile email offline_access").await;
        let (status, headers, body) = token(
            &app,
            Some(&basic(&client.id, client.secret.as_deref().unwrap())),
            &exchange(&code),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(headers["cache-control"], "no-store");
        assert_eq!(headers["pragma"], "no-cache");
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 600);
        assert_eq!(body["scope"], "email offline_access openid profile");
        assert!(body["refresh_token"].is_string() && body["id_token"].is_string());
        // RFC 9068 access token.
        let at = body["access_token"].as_str().unwrap();
        let header: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(at.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(header["typ"], "at+jwt");
        assert_eq!(header["alg"], "ES256");
        let claims: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(at.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap();
        for c in [
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "jti",
            "client_id",
            "scope",
        ] {
            assert!(claims.get(c).is_some(), "access token claim {c}: {claims}");
        }
        assert_eq!(claims["client_id"], client.id.as_str());
        // Userinfo with it.
        let ui = app
            .http
            .get(app.url("/userinfo"))
            .bearer_auth(at)
            .send()
            .await
            .unwrap();
        assert_eq!(ui.status(), StatusCode::OK);
        let ui: Value = ui.json().await.unwrap();
        assert_eq!(ui["sub"], claims["sub"]);
        assert_eq!(ui["email"], "alice@example.com");
        assert_eq!(ui["preferred_username"], "alice");
        // POST with the token in the body works too.
        let ui = app
            .http
            .post(app.url("/userinfo"))
            .form(&[("access_token", at)])
            .send()
            .await
            .unwrap();
        assert_eq!(ui.status(), StatusCode::OK);
    }
);

both_backends!(each_token_error_of_rfc6749_5_2, |backend| async move {
    let app = crate::helpers::spawn_app(backend).await;
    let client = setup(&app).await;
    let secret = client.secret.clone().unwrap();
    let auth = basic(&client.id, &secret);
    let public = register(&app, client_req(true)).await;

    // invalid_request
    let (s, _, b) = token(&app, Some(&auth), &[("code", "x")]).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request")),
        "missing grant_type"
    );
    let (s, _, b) = token(
        &app,
        Some(&auth),
        &[
            ("grant_type", "client_credentials"),
            ("grant_type", "client_credentials"),
        ],
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request")),
        "repeated"
    );
    let (s, _, b) = token(&app, Some(&auth), &[("grant_type", "authorization_code")]).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request")),
        "missing code"
    );
    let (_, _, b) = token(
        &app,
        Some(&auth),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &client.id),
            ("client_secret", &secret),
        ],
    )
    .await;
    assert_eq!(b["error"], "invalid_request", "two methods");

    // invalid_client: 401, and the Basic challenge when Basic was used.
    let (s, h, b) = token(
        &app,
        Some(&basic(&client.id, "wrong")),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    assert!(h["www-authenticate"].to_str().unwrap().starts_with("Basic"));
    let (s, h, b) = token(
        &app,
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &client.id),
            ("client_secret", &secret),
        ],
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client")),
        "post is not the registered method"
    );
    assert!(h.get("www-authenticate").is_none());
    let (s, _, b) = token(
        &app,
        Some(&basic("nope", "x")),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    let (s, _, b) = token(&app, None, &[("grant_type", "client_credentials")]).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );

    // unsupported_grant_type
    let (s, _, b) = token(
        &app,
        Some(&auth),
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "x"),
        ],
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unsupported_grant_type"))
    );

    // unauthorized_client: the public client may not use client_credentials.
    let (s, _, b) = token(
        &app,
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &public.id),
        ],
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unauthorized_client"))
    );

    // invalid_scope
    let (s, _, b) = token(
        &app,
        Some(&auth),
        &[("grant_type", "client_credentials"), ("scope", "admin")],
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope"))
    );

    // invalid_grant: unknown code, wrong redirect_uri, wrong verifier, replay.
    let (s, _, b) = token(&app, Some(&auth), &exchange("no-such-code")).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let code = code_for(&app, &client, "").await;
    let mut wrong = exchange(&code);
    wrong[2] = ("redirect_uri", "https://app.example/other?x=1");
    let (_, _, b) = token(&app, Some(&auth), &wrong).await;
    assert_eq!(b["error"], "invalid_grant", "redirect_uri mismatch");
    let mut wrong = exchange(&code);
    wrong[3] = (
        "code_verifier",
        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXz",
    );
    let (_, _, b) = token(&app, Some(&auth), &wrong).await;
    assert_eq!(b["error"], "invalid_grant", "PKCE mismatch");
    let (s, _, b) = token(&app, Some(&auth), &exchange(&code)).await;
    assert_eq!(
        s,
        StatusCode::OK,
        "the failed attempts did not consume the code: {b}"
    );
    let (s, _, b) = token(&app, Some(&auth), &exchange(&code)).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "replay"
    );
    // Non-form body.
    let resp = app
        .http
        .post(app.url("/token"))
        .json(&serde_json::json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
});

both_backends!(
    replayed_code_revokes_the_refresh_token_it_issued,
    |backend| async move {
        let app = crate::helpers::spawn_app(backend).await;
        let client = setup(&app).await;
        let auth = basic(&client.id, client.secret.as_deref().unwrap());
        let code = code_with_scope(&app, &client, "openid offline_access").await;
        let (_, _, first) = token(&app, Some(&auth), &exchange(&code)).await;
        let rt = first["refresh_token"].as_str().unwrap().to_owned();
        let (_, _, again) = token(&app, Some(&auth), &exchange(&code)).await;
        assert_eq!(again["error"], "invalid_grant");
        let (s, _, b) = token(
            &app,
            Some(&auth),
            &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
        )
        .await;
        assert_eq!(
            (s, b["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant")),
            "{b}"
        );
    }
);

both_backends!(
    refresh_rotates_narrows_refuses_widening_and_detects_reuse,
    |backend| async move {
        let app = crate::helpers::spawn_app(backend).await;
        let client = setup(&app).await;
        let auth = basic(&client.id, client.secret.as_deref().unwrap());
        let code = code_with_scope(&app, &client, "openid profile offline_access").await;
        let (_, _, first) = token(&app, Some(&auth), &exchange(&code)).await;
        let rt1 = first["refresh_token"].as_str().unwrap().to_owned();
        let (s, _, b) = token(
            &app,
            Some(&auth),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &rt1),
                ("scope", "openid email"),
            ],
        )
        .await;
        assert_eq!(
            (s, b["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_scope")),
            "widening"
        );
        let (s, _, second) = token(
            &app,
            Some(&auth),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &rt1),
                ("scope", "openid"),
            ],
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{second}");
        assert_eq!(second["scope"], "openid", "narrowed");
        assert!(second["id_token"].is_string());
        let rt2 = second["refresh_token"].as_str().unwrap().to_owned();
        assert_ne!(rt1, rt2, "rotated");
        // Reuse of rt1 revokes the family, so rt2 dies too.
        let (_, _, b) = token(
            &app,
            Some(&auth),
            &[("grant_type", "refresh_token"), ("refresh_token", &rt1)],
        )
        .await;
        assert_eq!(b["error"], "invalid_grant");
        let (_, _, b) = token(
            &app,
            Some(&auth),
            &[("grant_type", "refresh_token"), ("refresh_token", &rt2)],
        )
        .await;
        assert_eq!(b["error"], "invalid_grant", "the family is revoked");
    }
);

both_backends!(
    client_credentials_limits_scopes_and_writes_nothing,
    |backend| async move {
        let app = crate::helpers::spawn_app(backend).await;
        let client = setup(&app).await;
        let auth = basic(&client.id, client.secret.as_deref().unwrap());
        let (s, _, b) = token(&app, Some(&auth), &[("grant_type", "client_credentials")]).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(
            b["scope"], "api:read email profile",
            "openid and offline_access need a user"
        );
        assert!(b.get("refresh_token").is_none() && b.get("id_token").is_none());
        let (s, _, b) = token(
            &app,
            Some(&auth),
            &[("grant_type", "client_credentials"), ("scope", "api:read")],
        )
        .await;
        assert_eq!((s, b["scope"].as_str()), (StatusCode::OK, Some("api:read")));
        // A client-credentials token has no user: userinfo refuses it.
        let at = b["access_token"].as_str().unwrap();
        let ui = app
            .http
            .get(app.url("/userinfo"))
            .bearer_auth(at)
            .send()
            .await
            .unwrap();
        assert_eq!(
            ui.status(),
            StatusCode::FORBIDDEN,
            "no openid scope → insufficient_scope"
        );
    }
);

both_backends!(userinfo_errors_follow_rfc6750, |backend| async move {
    let app = crate::helpers::spawn_app(backend).await;
    let r = app.http.get(app.url("/userinfo")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer realm=\"portcullis\""
    );
    let r = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth("not.a.jwt")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_token\"")
    );
    let r = app
        .http
        .get(app.url("/userinfo"))
        .header("authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_request\"")
    );
});

both_backends!(revocation_and_introspection, |backend| async move {
    let app = crate::helpers::spawn_app(backend).await;
    let client = setup(&app).await;
    let other = register(&app, {
        let mut r = client_req(false);
        r.grant_types = vec!["client_credentials".into()];
        r.redirect_uris = vec![];
        r.scopes = vec!["api:read".into()];
        // A resource server of the server-wide access-token audience (the
        // issuer): it reads the access tokens of other clients.
        r.resource_server = true;
        r.audience = Some(app.issuer.clone());
        r
    })
    .await;
    let auth = basic(&client.id, client.secret.as_deref().unwrap());
    let other_auth = basic(&other.id, other.secret.as_deref().unwrap());
    let code = code_with_scope(&app, &client, "openid profile offline_access").await;
    let (_, _, t) = token(&app, Some(&auth), &exchange(&code)).await;
    let at = t["access_token"].as_str().unwrap().to_owned();
    let rt = t["refresh_token"].as_str().unwrap().to_owned();
    let introspect = |auth: String, tok: String| {
        let app = &app;
        async move {
            let r = app
                .http
                .post(app.url("/introspect"))
                .header("authorization", auth)
                .form(&[("token", tok)])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            r.json::<Value>().await.unwrap()
        }
    };
    let v = introspect(auth.clone(), at.clone()).await;
    assert_eq!(v["active"], true);
    assert_eq!(v["client_id"], client.id.as_str());
    assert_eq!(
        introspect(other_auth.clone(), at.clone()).await["active"],
        true,
        "a resource server may introspect access tokens"
    );
    assert_eq!(introspect(auth.clone(), rt.clone()).await["active"], true);
    assert_eq!(
        introspect(other_auth.clone(), rt.clone()).await["active"],
        false,
        "refresh tokens only to their client"
    );
    assert_eq!(
        introspect(auth.clone(), "garbage".into()).await["active"],
        false
    );

    // Revoke the access token: userinfo and introspection refuse it.
    let r = app
        .http
        .post(app.url("/revoke"))
        .header("authorization", &other_auth)
        .form(&[("token", &at)])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "another client's token"
    );
    let r = app
        .http
        .post(app.url("/revoke"))
        .header("authorization", &auth)
        .form(&[("token", at.as_str()), ("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(introspect(auth.clone(), at.clone()).await["active"], false);
    let ui = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap();
    assert_eq!(ui.status(), StatusCode::UNAUTHORIZED);
    // Revoke the refresh token.
    let r = app
        .http
        .post(app.url("/revoke"))
        .header("authorization", &auth)
        .form(&[("token", &rt)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (_, _, b) = token(
        &app,
        Some(&auth),
        &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
    )
    .await;
    assert_eq!(b["error"], "invalid_grant");
    // Unknown tokens: 200 (RFC 7009 §2.2). No client auth: 401.
    let r = app
        .http
        .post(app.url("/revoke"))
        .header("authorization", &auth)
        .form(&[("token", "unknown")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .http
        .post(app.url("/revoke"))
        .form(&[("token", "unknown")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
});

#[allow(dead_code)]
fn _unused(_: NewClient) {}
