//! Pushed Authorization Requests (RFC 9126), end to end: `/par` with every
//! client authentication method, its refusals (JSON, nothing stored), the
//! `request_uri` at `/authorize` (single use, expiry, bound to its client,
//! never redirected when refused), the interaction bound to its secret, at
//! most one code per pushed request, and `require_pushed_authorization_requests`
//! per client and globally.

use std::sync::Arc;

use base64::Engine as _;
use chrono::{Duration, Utc};
use portcullis::app::operator::NewClient;
use portcullis::domain::event::{DetailKey, EventKind};
use portcullis::domain::par::PushedRequest;
use portcullis::ports::Clock as _;
use portcullis::testing::{FixedClock, MemoryEventSink};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait as _, Statement};
use serde_json::Value;
use sha2::Digest as _;

use crate::both_backends;
use crate::flow::{
    PASSWORD, REDIRECT, TestClient, client_req, code_exchange, consent, hidden, login, param,
    redirect_params, register, submit, user,
};
use crate::helpers::{Backend, TestApp, http_client, spawn_app_full, test_overrides};

/// The form of every `request_uri` `/par` issues.
pub(crate) const PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// A server recording its events, with `clock` if given.
pub(crate) async fn app_with(
    backend: Backend,
    clock: Option<Arc<FixedClock>>,
    adjust: impl FnOnce(&mut portcullis::config::Config),
) -> (TestApp, Arc<MemoryEventSink>) {
    let sink = Arc::new(MemoryEventSink::new());
    let mut overrides = test_overrides();
    overrides.events = Some(sink.clone());
    if let Some(c) = clock {
        overrides.clock = Some(c);
    }
    (spawn_app_full(backend, adjust, overrides).await, sink)
}

/// The default authorization request of `client` (`flow::query`) as form
/// pairs, with `extra`.
pub(crate) fn form(client: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(crate::flow::query(client, extra).as_bytes())
        .into_owned()
        .collect()
}

/// Pushes `form` for `client` (HTTP Basic with its secret, or as a public
/// client with `client_id` in the form).
pub(crate) async fn push(
    app: &TestApp,
    client: &TestClient,
    form: &[(String, String)],
) -> reqwest::Response {
    let mut req = app.http.post(app.url("/par"));
    if let Some(secret) = &client.secret {
        req = req.basic_auth(&client.id, Some(secret));
    }
    req.form(form).send().await.unwrap()
}

/// Pushes the default request of `client` and returns its `request_uri`.
pub(crate) async fn pushed_uri(
    app: &TestApp,
    client: &TestClient,
    extra: &[(&str, &str)],
) -> String {
    let r = push(app, client, &form(&client.id, extra)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    body["request_uri"].as_str().unwrap().to_owned()
}

/// `/authorize?client_id=..&request_uri=..` (and `extra`) as a URL.
pub(crate) fn authorize_url(
    app: &TestApp,
    client: &str,
    uri: &str,
    extra: &[(&str, &str)],
) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    ser.append_pair("client_id", client)
        .append_pair("request_uri", uri);
    for (k, v) in extra {
        ser.append_pair(k, v);
    }
    app.url(&format!("/authorize?{}", ser.finish()))
}

/// The SHA-256 (hex) of the `request_uri`'s random part, computed here.
fn uri_hash(uri: &str) -> String {
    let random = uri.strip_prefix(PREFIX).unwrap();
    hex::encode(sha2::Sha256::digest(random.as_bytes()))
}

/// The stored pushed request of `uri`.
pub(crate) async fn row(app: &TestApp, uri: &str) -> Option<PushedRequest> {
    let hash = portcullis::domain::TokenHash::from_stored(uri_hash(uri));
    app.state
        .store
        .pushed_requests()
        .pushed_request(&hash)
        .await
        .unwrap()
}

/// How many pushed requests are stored.
pub(crate) async fn stored(app: &TestApp) -> i64 {
    let conn = sea_orm::Database::connect(&app.db.url).await.unwrap();
    let r = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT COUNT(*) AS n FROM pushed_requests",
        ))
        .await
        .unwrap()
        .unwrap();
    let n: i64 = r.try_get("", "n").unwrap();
    conn.close().await.unwrap();
    n
}

/// The claims of a JWT, read without verifying (the test checks content).
pub(crate) fn claims(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

/// An error page: 400, no redirect, the text.
pub(crate) async fn page(resp: reqwest::Response) -> String {
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.headers().get("location").is_none());
    resp.text().await.unwrap()
}

/// A GET of `url` from a browser of its own.
async fn fresh(url: &str) -> reqwest::Response {
    http_client().get(url).send().await.unwrap()
}

/// Exchanges `code` for `client` (Basic) and returns the token response.
async fn exchange(app: &TestApp, client: &TestClient, code: &str) -> (StatusCode, Value) {
    let r = app
        .http
        .post(app.url("/token"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&code_exchange(code))
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap_or_default())
}

both_backends!(a_pushed_request_runs_end_to_end, |backend| async move {
    let (app, sink) = app_with(backend, None, |_| {}).await;
    let client = register(&app, client_req(false)).await;
    user(&app, "alice").await;
    let r = push(&app, &client, &form(&client.id, &[])).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    let uri = body["request_uri"].as_str().unwrap().to_owned();
    assert!(uri.starts_with(PREFIX), "{uri}");
    assert_eq!(uri.len(), PREFIX.len() + 43, "256 bits, base64url");
    assert_eq!(body["expires_in"], 60);
    // Stored under the SHA-256 of the random part, without the client's
    // credentials, not started.
    let stored_row = row(&app, &uri).await.expect("stored under its hash");
    assert_eq!(stored_row.client_id.as_str(), client.id);
    assert!(
        !stored_row
            .params
            .contains(client.secret.as_deref().unwrap())
    );
    assert!(stored_row.started_at.is_none());
    let pushed = sink.of_kind(EventKind::ParRequestPushed);
    assert_eq!(pushed.len(), 1);
    assert_eq!(pushed[0].client_id(), Some(client.id.as_str()));

    // RFC 9126 §4: the pushed parameters are the request; other query
    // parameters are ignored.
    let url = authorize_url(
        &app,
        &client.id,
        &uri,
        &[
            ("scope", "openid email"),
            ("state", "evil"),
            ("redirect_uri", "https://app.example/other?x=1"),
        ],
    );
    let r = app.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("Sign in"), "{html}");
    // The forms carry the client, the request_uri and the interaction's
    // secret, never the pushed parameters.
    let carried = hidden(&html, "request");
    let carried: Vec<(String, String)> = url::form_urlencoded::parse(carried.as_bytes())
        .into_owned()
        .collect();
    let names: Vec<&str> = carried.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["client_id", "request_uri", "interaction"]);
    let started = row(&app, &uri).await.unwrap();
    assert!(started.started_at.is_some() && started.completed_at.is_none());

    let html = login(&app, &html, "alice", PASSWORD)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("wants to access your account"), "{html}");
    let resp = consent(&app, &html, "allow").await;
    let loc = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(loc.starts_with(&format!("{REDIRECT}?")), "{loc}");
    let p = redirect_params(&resp);
    assert_eq!(param(&p, "state"), Some("st-123"));
    assert_eq!(param(&p, "iss"), Some(app.issuer.as_str()));
    let code = param(&p, "code").unwrap().to_owned();
    assert!(row(&app, &uri).await.unwrap().completed_at.is_some());

    let (status, t) = exchange(&app, &client, &code).await;
    assert_eq!(status, StatusCode::OK, "{t}");
    assert_eq!(t["scope"], "openid profile");
    assert_eq!(claims(t["id_token"].as_str().unwrap())["nonce"], "n-456");

    // Used: the same request_uri again is refused, on a page.
    let body = page(app.http.get(&url).send().await.unwrap()).await;
    assert!(body.contains("invalid_request_uri"), "{body}");
    let refused = sink.of_kind(EventKind::RequestUriRefused);
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].detail_value(DetailKey::Reason), Some("used"));
});

/// A refused push: why, who pushes, the form, the error code.
type Refusal<'a> = (&'a str, &'a TestClient, Vec<(String, String)>, &'a str);

/// A client that signs in with `private_key_jwt` and may use the code flow.
fn jwt_client(jwks: String) -> NewClient {
    NewClient {
        name: "Signed".into(),
        redirect_uris: vec![REDIRECT.into()],
        grant_types: vec!["authorization_code".into()],
        auth_method: Some("private_key_jwt".into()),
        jwks: Some(jwks),
        require_pkce: true,
        ..NewClient::default()
    }
}

both_backends!(
    par_takes_every_client_authentication,
    |backend| async move {
        let (app, sink) = app_with(backend, None, |_| {}).await;
        // none: a public client names itself.
        let public = register(&app, client_req(true)).await;
        let r = push(&app, &public, &form(&public.id, &[])).await;
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "{}",
            r.text().await.unwrap()
        );
        // client_secret_post.
        let mut post = client_req(false);
        post.auth_method = Some("client_secret_post".into());
        let post = register(&app, post).await;
        let mut f = form(&post.id, &[]);
        f.push(("client_secret".into(), post.secret.clone().unwrap()));
        let r = app
            .http
            .post(app.url("/par"))
            .form(&f)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        // private_key_jwt: RFC 9126 §2 accepts the issuer, the token endpoint
        // and the pushed authorization request endpoint as the audience.
        let kp = crate::private_key_jwt::keys("k1");
        let signed = register(&app, jwt_client(kp.jwks.clone())).await;
        for (jti, aud) in [
            ("a1", app.url("/par")),
            ("a2", app.issuer.clone()),
            ("a3", app.url("/token")),
        ] {
            let mut f = form(&signed.id, &[]);
            f.push((
                "client_assertion_type".into(),
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
            ));
            f.push((
                "client_assertion".into(),
                crate::private_key_jwt::assertion(&kp, &signed.id, &aud, jti, 60),
            ));
            let r = app
                .http
                .post(app.url("/par"))
                .form(&f)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::CREATED, "aud {aud}");
        }
        assert_eq!(stored(&app).await, 5);
        // A wrong secret: 401 invalid_client with the Basic challenge, nothing
        // stored, the authentication failure recorded.
        let basic = register(&app, client_req(false)).await;
        let wrong = TestClient {
            id: basic.id.clone(),
            secret: Some("wrong".into()),
        };
        let r = push(&app, &wrong, &form(&basic.id, &[])).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(r.headers().get("www-authenticate").is_some());
        let b: Value = r.json().await.unwrap();
        assert_eq!(b["error"], "invalid_client");
        assert_eq!(stored(&app).await, 5);
        let failed = sink.of_kind(EventKind::ClientAuthenticationFailed);
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].detail_value(DetailKey::Endpoint), Some("par"));
    }
);

both_backends!(
    par_refusals_are_json_and_store_nothing,
    |backend| async move {
        let (app, sink) = app_with(backend, None, |_| {}).await;
        let client = register(&app, client_req(false)).await;
        let other = register(&app, client_req(false)).await;
        let public = register(&app, client_req(true)).await;
        let without_pkce: Vec<(String, String)> = form(&public.id, &[])
            .into_iter()
            .filter(|(k, _)| !k.starts_with("code_challenge"))
            .collect();
        let replace = |name: &str, value: &str| -> Vec<(String, String)> {
            form(&client.id, &[])
                .into_iter()
                .map(|(k, v)| {
                    if k == name {
                        (k, value.to_owned())
                    } else {
                        (k, v)
                    }
                })
                .collect()
        };
        let without = |name: &str| -> Vec<(String, String)> {
            form(&client.id, &[])
                .into_iter()
                .filter(|(k, _)| k != name)
                .collect()
        };
        let cases: Vec<Refusal<'_>> = vec![
            (
                "a request_uri in the body (RFC 9126 §2.1)",
                &client,
                form(&client.id, &[("request_uri", &format!("{PREFIX}x"))]),
                "invalid_request",
            ),
            (
                "another client's client_id",
                &client,
                replace("client_id", &other.id),
                "invalid_request",
            ),
            (
                "an unregistered redirect_uri",
                &client,
                replace("redirect_uri", "https://evil.example/cb"),
                "invalid_request",
            ),
            (
                "no redirect_uri",
                &client,
                without("redirect_uri"),
                "invalid_request",
            ),
            (
                "response_type token",
                &client,
                replace("response_type", "token"),
                "unsupported_response_type",
            ),
            (
                "a scope the client may not have",
                &client,
                replace("scope", "admin"),
                "invalid_scope",
            ),
            (
                "a public client without PKCE",
                &public,
                without_pkce,
                "invalid_request",
            ),
            (
                "an id_token_hint we did not issue",
                &client,
                form(&client.id, &[("id_token_hint", "eyJhbGciOiJub25lIn0.e30.")]),
                "invalid_request",
            ),
            (
                "a resource the client may not ask for",
                &client,
                form(&client.id, &[("resource", "https://api.example")]),
                "invalid_target",
            ),
            (
                "a repeated parameter",
                &client,
                form(&client.id, &[("state", "again")]),
                "invalid_request",
            ),
            (
                "prompt none with login",
                &client,
                form(&client.id, &[("prompt", "none login")]),
                "invalid_request",
            ),
            (
                "an unsigned request object",
                &client,
                form(
                    &client.id,
                    &[("request", "eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.")],
                ),
                "invalid_request_object",
            ),
        ];
        for (why, who, f, code) in cases {
            let r = push(&app, who, &f).await;
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{why}");
            assert!(r.headers().get("location").is_none(), "{why}");
            assert_eq!(r.headers()["cache-control"], "no-store", "{why}");
            let b: Value = r.json().await.unwrap();
            assert_eq!(b["error"], code, "{why}: {b}");
            assert!(b["error_description"].is_string(), "{why}");
        }
        assert_eq!(stored(&app).await, 0, "a refused push stores nothing");
        assert!(sink.of_kind(EventKind::ParRequestPushed).is_empty());
        // Two of them (the client_id, the repeated parameter) are refused by
        // the client authentication that comes first.
        assert_eq!(sink.of_kind(EventKind::ParRequestRefused).len(), 10);
        // Not a form, not a POST.
        let r = app
            .http
            .post(app.url("/par"))
            .basic_auth(&client.id, client.secret.as_deref())
            .json(&serde_json::json!({"response_type": "code"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let r = app.http.get(app.url("/par")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(stored(&app).await, 0);
    }
);

both_backends!(
    a_request_uri_is_refused_on_a_page_and_changes_nothing,
    |backend| async move {
        let clock = Arc::new(FixedClock::at(Utc::now()));
        let (app, sink) = app_with(backend, Some(clock.clone()), |_| {}).await;
        let client = register(&app, client_req(false)).await;
        let other = register(&app, client_req(false)).await;
        let uri = pushed_uri(&app, &client, &[]).await;
        let unknown = format!("{PREFIX}{}", "A".repeat(43));
        for (why, url) in [
            ("unknown", authorize_url(&app, &client.id, &unknown, &[])),
            (
                "malformed",
                authorize_url(&app, &client.id, &format!("{PREFIX}x"), &[]),
            ),
            (
                "another client's",
                authorize_url(&app, &other.id, &uri, &[]),
            ),
        ] {
            let body = page(fresh(&url).await).await;
            assert!(body.contains("invalid_request_uri"), "{why}: {body}");
        }
        // Without client_id (RFC 9126 §4: required): a page too.
        let url = app.url(&format!(
            "/authorize?request_uri={}",
            url::form_urlencoded::byte_serialize(uri.as_bytes()).collect::<String>()
        ));
        page(fresh(&url).await).await;
        let reasons: Vec<Option<String>> = sink
            .of_kind(EventKind::RequestUriRefused)
            .iter()
            .map(|e| e.detail_value(DetailKey::Reason).map(str::to_owned))
            .collect();
        assert_eq!(
            reasons,
            [
                Some("unknown".to_owned()),
                Some("unknown".to_owned()),
                Some("other_client".to_owned())
            ]
        );
        // None of that touched it: its own client still starts it.
        let untouched = row(&app, &uri).await.unwrap();
        assert!(untouched.started_at.is_none() && untouched.interaction_hash.is_none());
        let r = fresh(&authorize_url(&app, &client.id, &uri, &[])).await;
        assert_eq!(r.status(), StatusCode::OK);
        // Replay: refused, from another browser or the same.
        let body = page(fresh(&authorize_url(&app, &client.id, &uri, &[])).await).await;
        assert!(body.contains("invalid_request_uri"));

        // Expiry (60 s): pushed, then used 61 s later.
        let late = pushed_uri(&app, &client, &[]).await;
        clock.advance(Duration::seconds(61));
        page(fresh(&authorize_url(&app, &client.id, &late, &[])).await).await;
        assert!(row(&app, &late).await.unwrap().started_at.is_none());
        let last = sink.of_kind(EventKind::RequestUriRefused);
        assert_eq!(
            last.last().unwrap().detail_value(DetailKey::Reason),
            Some("expired")
        );
        // Within its lifetime it works.
        let timely = pushed_uri(&app, &client, &[]).await;
        clock.advance(Duration::seconds(59));
        let r = fresh(&authorize_url(&app, &client.id, &timely, &[])).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
);

both_backends!(
    parallel_authorize_requests_start_a_request_uri_once,
    |backend| async move {
        let (app, _) = app_with(backend, None, |_| {}).await;
        let client = register(&app, client_req(false)).await;
        let uri = pushed_uri(&app, &client, &[]).await;
        let url = authorize_url(&app, &client.id, &uri, &[]);
        let attempts = (0..8).map(|_| {
            let http = http_client();
            let url = url.clone();
            async move { http.get(url).send().await.unwrap().status() }
        });
        let statuses = futures_util::future::join_all(attempts).await;
        let won = statuses.iter().filter(|s| **s == StatusCode::OK).count();
        let refused = statuses
            .iter()
            .filter(|s| **s == StatusCode::BAD_REQUEST)
            .count();
        assert_eq!((won, refused), (1, 7), "{statuses:?}");
    }
);

both_backends!(
    the_interaction_continues_only_with_its_secret,
    |backend| async move {
        let clock = Arc::new(FixedClock::at(Utc::now()));
        let (app, _) = app_with(backend, Some(clock.clone()), |c| {
            c.auth.session_idle = Duration::minutes(30);
        })
        .await;
        let client = register(&app, client_req(false)).await;
        user(&app, "alice").await;
        let uri = pushed_uri(&app, &client, &[]).await;
        let html = app
            .http
            .get(authorize_url(&app, &client.id, &uri, &[]))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let carried = hidden(&html, "request");
        let csrf = hidden(&html, "csrf_token");
        let secret: String = url::form_urlencoded::parse(carried.as_bytes())
            .find(|(k, _)| k == "interaction")
            .map(|(_, v)| v.into_owned())
            .unwrap();
        assert_eq!(secret.len(), 43, "256 bits");
        let post = |request: String| {
            let csrf = csrf.clone();
            let app = &app;
            async move {
                app.http
                    .post(app.url("/login"))
                    .form(&[
                        ("request", request.as_str()),
                        ("csrf_token", csrf.as_str()),
                        ("username", "alice"),
                        ("password", PASSWORD),
                    ])
                    .send()
                    .await
                    .unwrap()
            }
        };
        let base = format!(
            "client_id={}&request_uri={}",
            client.id,
            url::form_urlencoded::byte_serialize(uri.as_bytes()).collect::<String>()
        );
        // No secret, a wrong one: an error page, no sign-in, no code.
        for request in [
            base.clone(),
            format!("{base}&interaction={}", "B".repeat(43)),
            format!("{base}&interaction="),
        ] {
            let body = page(post(request.clone()).await).await;
            assert!(body.contains("invalid_request_uri"), "{request}: {body}");
        }
        let r = row(&app, &uri).await.unwrap();
        assert!(r.completed_at.is_none());
        // Parameters added to the carried form are ignored: the pushed
        // ones are the request.
        let tampered = format!(
            "{carried}&redirect_uri={}&scope=openid+email&state=evil",
            url::form_urlencoded::byte_serialize(b"https://app.example/other?x=1")
                .collect::<String>()
        );
        let consent_page = post(tampered).await;
        assert_eq!(consent_page.status(), StatusCode::OK);
        let html = consent_page.text().await.unwrap();
        assert!(html.contains("wants to access your account"), "{html}");
        assert!(
            !html.contains("See your e-mail address"),
            "the pushed scopes only: {html}"
        );
        let resp = consent(&app, &html, "allow").await;
        let loc = resp.headers()["location"].to_str().unwrap().to_owned();
        assert!(loc.starts_with(&format!("{REDIRECT}?")), "{loc}");
        let p = redirect_params(&resp);
        assert_eq!(param(&p, "state"), Some("st-123"));
        assert!(param(&p, "code").is_some());
        // Completed: the consent form again gives no second code.
        let again = consent(&app, &html, "allow").await;
        let body = page(again).await;
        assert!(body.contains("invalid_request_uri"));

        // An interaction past its time (the session idle limit) is over.
        let uri = pushed_uri(&app, &client, &[]).await;
        let browser = http_client();
        let html = browser
            .get(authorize_url(&app, &client.id, &uri, &[]))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        clock.advance(Duration::minutes(31));
        let r = submit(
            &browser,
            &app,
            "/login",
            &html,
            &[("username", "alice"), ("password", PASSWORD)],
        )
        .await;
        page(r).await;
    }
);

both_backends!(
    an_error_answer_completes_the_pushed_request,
    |backend| async move {
        let (app, _) = app_with(backend, None, |_| {}).await;
        let client = register(&app, client_req(false)).await;
        user(&app, "alice").await;
        // prompt=none without a session: login_required, redirected (the
        // pushed redirect URI is verified), and the request is done.
        let uri = pushed_uri(&app, &client, &[("prompt", "none")]).await;
        let resp = app
            .http
            .get(authorize_url(&app, &client.id, &uri, &[]))
            .send()
            .await
            .unwrap();
        let p = redirect_params(&resp);
        assert_eq!(param(&p, "error"), Some("login_required"));
        assert_eq!(param(&p, "state"), Some("st-123"));
        assert!(row(&app, &uri).await.unwrap().completed_at.is_some());
        // Deny: access_denied once; the same form again is a page.
        let uri = pushed_uri(&app, &client, &[]).await;
        let html = app
            .http
            .get(authorize_url(&app, &client.id, &uri, &[]))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let html = login(&app, &html, "alice", PASSWORD)
            .await
            .text()
            .await
            .unwrap();
        let p = redirect_params(&consent(&app, &html, "deny").await);
        assert_eq!(param(&p, "error"), Some("access_denied"));
        page(consent(&app, &html, "allow").await).await;
    }
);

both_backends!(
    pushed_requests_are_required_per_client_and_globally,
    |backend| async move {
        let (app, _) = app_with(backend, None, |_| {}).await;
        user(&app, "alice").await;
        let mut req = client_req(false);
        req.require_pushed_authorization_requests = true;
        let strict = register(&app, req).await;
        let lax = register(&app, client_req(false)).await;
        // RFC 9126 §6: a plain request of such a client is refused,
        // redirected (client and redirect URI verified).
        let resp = crate::flow::get_authorize(&app, &crate::flow::query(&strict.id, &[])).await;
        let p = redirect_params(&resp);
        assert_eq!(param(&p, "error"), Some("invalid_request"));
        assert_eq!(
            param(&p, "error_description"),
            Some("pushed authorization request required")
        );
        assert_eq!(param(&p, "state"), Some("st-123"));
        // Pushed, it goes.
        let uri = pushed_uri(&app, &strict, &[]).await;
        let r = app
            .http
            .get(authorize_url(&app, &strict.id, &uri, &[]))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        // Other clients are not concerned.
        let r = crate::flow::get_authorize(&app, &crate::flow::query(&lax.id, &[])).await;
        assert_eq!(r.status(), StatusCode::OK);
        let d: Value = app
            .http
            .get(app.url("/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(d["require_pushed_authorization_requests"], false);
        assert_eq!(d["pushed_authorization_request_endpoint"], app.url("/par"));

        // PORTCULLIS_REQUIRE_PAR: every client.
        let (app, _) = app_with(backend, None, |c| c.par.require = true).await;
        let lax = register(&app, client_req(false)).await;
        let resp = crate::flow::get_authorize(&app, &crate::flow::query(&lax.id, &[])).await;
        let p = redirect_params(&resp);
        assert_eq!(param(&p, "error"), Some("invalid_request"));
        let uri = pushed_uri(&app, &lax, &[]).await;
        let r = app
            .http
            .get(authorize_url(&app, &lax.id, &uri, &[]))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let d: Value = app
            .http
            .get(app.url("/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(d["require_pushed_authorization_requests"], true);
    }
);

both_backends!(
    par_lifetime_follows_the_setting_and_rows_are_purged,
    |backend| async move {
        let clock = Arc::new(FixedClock::at(Utc::now()));
        let (app, _) = app_with(backend, Some(clock.clone()), |c| {
            c.par.lifetime = Duration::seconds(30);
        })
        .await;
        let client = register(&app, client_req(false)).await;
        let r = push(&app, &client, &form(&client.id, &[])).await;
        let b: Value = r.json().await.unwrap();
        assert_eq!(b["expires_in"], 30);
        let started = pushed_uri(&app, &client, &[]).await;
        let r = app
            .http
            .get(authorize_url(&app, &client.id, &started, &[]))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(stored(&app).await, 2);
        // Past both the lifetime and the interaction (and the grace):
        // purged.
        clock.advance(Duration::hours(2));
        let settings = portcullis::app::housekeeping::PurgeSettings::from_config(&app.state.config);
        let report =
            portcullis::app::housekeeping::purge(app.state.store.as_ref(), clock.now(), &settings)
                .await
                .unwrap();
        assert_eq!(report.pushed_requests, 2);
        assert_eq!(stored(&app).await, 0);
    }
);
