//! Dynamic client registration (RFC 7591) and its management protocol
//! (RFC 7592), issue 15 item 4: `PORTCULLIS_REGISTRATION` off (404, not in
//! discovery), `token` (an initial access token, consumed atomically) or
//! `open`; the RFC 7591 §3.2.2 errors with nothing stored; the registration
//! access token for read, update and delete of the client's own record.

use chrono::{Duration, Utc};
use portcullis::adapters::system::{OsRng, SystemClock};
use portcullis::app::registration;
use portcullis::config::RegistrationMode;
use portcullis::domain::event::EventKind;
use portcullis::testing::FixedClock;
use reqwest::header::{HeaderMap, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{admin_token, call, read_token};
use crate::both_backends;
use crate::cli::{ok, portcullis};
use crate::flow;
use crate::helpers::{
    Backend, TestApp, TestDb, spawn_app, spawn_app_full, spawn_app_with, test_overrides,
};

async fn app_in(backend: Backend, mode: RegistrationMode) -> TestApp {
    spawn_app_with(backend, |c| c.registration.mode = mode).await
}

/// An initial access token of `app` (the app service the CLI and the admin
/// API call), valid for an hour, with `uses` uses.
async fn initial_token(app: &TestApp, uses: Option<u32>) -> String {
    registration::create_initial_access_token(
        app.state.store.as_ref(),
        &OsRng,
        &SystemClock,
        Duration::hours(1),
        uses,
    )
    .await
    .unwrap()
    .token
}

/// A minimal valid registration: a confidential code-flow client.
fn code_client() -> Value {
    json!({
        "client_name": "Registered App",
        "redirect_uris": [flow::REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "scope": "openid profile offline_access",
        "logo_uri": "https://app.example/logo.png",
    })
}

/// POST /register with an optional bearer token; status, headers, JSON.
async fn register(
    app: &TestApp,
    token: Option<&str>,
    body: &Value,
) -> (StatusCode, HeaderMap, Value) {
    let mut req = app.http.post(app.url("/register")).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, headers, json)
}

async fn client_count(app: &TestApp) -> usize {
    app.state
        .store
        .clients()
        .list_clients()
        .await
        .unwrap()
        .len()
}

async fn discovery(app: &TestApp) -> Value {
    app.http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn assert_invalid_token(status: StatusCode, headers: &HeaderMap, body: &Value, why: &str) {
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{why}: {body}");
    assert_eq!(body["error"], "invalid_token", "{why}: {body}");
    let challenge = headers
        .get(WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(challenge.starts_with("Bearer"), "{why}: {challenge}");
}

both_backends!(
    off_by_default_register_is_404_and_not_in_discovery,
    |backend| async move {
        let app = spawn_app(backend).await;
        assert_eq!(app.state.config.registration.mode, RegistrationMode::Off);
        let (status, _, _) = register(&app, None, &code_client()).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let unknown = app
            .http
            .post(app.url("/no-such-path"))
            .json(&code_client())
            .send()
            .await
            .unwrap();
        let get = app
            .http
            .get(app.url("/register/00000000000000000000000000000000"))
            .bearer_auth("x")
            .send()
            .await
            .unwrap();
        assert_eq!(get.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            get.headers().get("content-type"),
            unknown.headers().get("content-type"),
            "like an unknown path"
        );
        assert!(discovery(&app).await.get("registration_endpoint").is_none());
        assert_eq!(client_count(&app).await, 0);

        for mode in [RegistrationMode::Token, RegistrationMode::Open] {
            let on = app_in(backend, mode).await;
            assert_eq!(
                discovery(&on).await["registration_endpoint"],
                on.url("/register"),
                "{mode:?}"
            );
        }
    }
);

both_backends!(
    token_mode_refuses_missing_invalid_expired_and_used_up_tokens,
    |backend| async move {
        let app = app_in(backend, RegistrationMode::Token).await;
        let (s, h, b) = register(&app, None, &code_client()).await;
        assert_invalid_token(s, &h, &b, "no token");
        let (s, h, b) = register(&app, Some("not-a-token"), &code_client()).await;
        assert_invalid_token(s, &h, &b, "unknown token");

        // Expired: issued two hours ago for one hour.
        let expired = registration::create_initial_access_token(
            app.state.store.as_ref(),
            &OsRng,
            &FixedClock::at(Utc::now() - Duration::hours(2)),
            Duration::hours(1),
            None,
        )
        .await
        .unwrap()
        .token;
        let (s, h, b) = register(&app, Some(&expired), &code_client()).await;
        assert_invalid_token(s, &h, &b, "expired");

        // A Basic header is not an initial access token: a malformed
        // request (RFC 6750 §3.1 invalid_request), as at the admin API.
        let resp = app
            .http
            .post(app.url("/register"))
            .basic_auth("a", Some("b"))
            .json(&code_client())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert!(resp.headers().get(WWW_AUTHENTICATE).is_some());

        let once = initial_token(&app, Some(1)).await;
        let mut body = code_client();
        body["request_uris"] = json!(["https://app.example/requests/a.jwt#h1"]);
        let (s, _, b) = register(&app, Some(&once), &body).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        // OpenID Connect Registration §2: request_uris kept and answered.
        assert_eq!(
            b["request_uris"],
            json!(["https://app.example/requests/a.jwt#h1"])
        );
        let (s, h, b) = register(&app, Some(&once), &code_client()).await;
        assert_invalid_token(s, &h, &b, "used up");
        assert_eq!(client_count(&app).await, 1);
    }
);

both_backends!(
    a_single_use_token_registers_exactly_one_client_under_parallel_requests,
    |backend| async move {
        let app = app_in(backend, RegistrationMode::Token).await;
        let once = initial_token(&app, Some(1)).await;
        let body = code_client();
        let attempts = (0..8).map(|_| register(&app, Some(&once), &body));
        let statuses: Vec<StatusCode> = futures_util::future::join_all(attempts)
            .await
            .into_iter()
            .map(|(s, _, _)| s)
            .collect();
        let created = statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count();
        let refused = statuses
            .iter()
            .filter(|s| **s == StatusCode::UNAUTHORIZED)
            .count();
        assert_eq!((created, refused), (1, 7), "{statuses:?}");
        assert_eq!(client_count(&app).await, 1);
    }
);

both_backends!(
    rfc_7591_errors_are_400_with_the_right_code_and_store_nothing,
    |backend| async move {
        let app = app_in(backend, RegistrationMode::Token).await;
        let token = initial_token(&app, Some(1)).await;
        let with = |patch: Value| {
            let mut body = code_client();
            for (k, v) in patch.as_object().unwrap() {
                body[k] = v.clone();
            }
            body
        };
        let cases = [
            (
                with(json!({"redirect_uris": ["not a uri"]})),
                "invalid_redirect_uri",
                "malformed",
            ),
            (
                with(json!({"redirect_uris": ["http://app.example/cb"]})),
                "invalid_redirect_uri",
                "http to a non-loopback host",
            ),
            (
                with(json!({"redirect_uris": []})),
                "invalid_redirect_uri",
                "code without one",
            ),
            (
                with(json!({"jwks": {"keys": []}, "jwks_uri": "https://app.example/jwks"})),
                "invalid_client_metadata",
                "jwks and jwks_uri",
            ),
            (
                with(
                    json!({"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://127.0.0.1/jwks"}),
                ),
                "invalid_client_metadata",
                "jwks_uri to a loopback address",
            ),
            (
                with(json!({"grant_types": ["password"]})),
                "invalid_client_metadata",
                "unknown grant type",
            ),
            (
                with(json!({"request_uris": ["https://10.0.0.7/r.jwt"]})),
                "invalid_client_metadata",
                "a request_uri to an internal address",
            ),
            (
                with(json!({"request_uris": ["ftp://app.example/r.jwt"]})),
                "invalid_client_metadata",
                "a request_uri that is not https",
            ),
            (
                with(
                    json!({"request_uris": (0..21).map(|i| format!("https://app.example/{i}.jwt")).collect::<Vec<_>>()}),
                ),
                "invalid_client_metadata",
                "more than 20 request_uris",
            ),
            (
                with(json!({"response_types": ["token"]})),
                "invalid_client_metadata",
                "implicit",
            ),
            (
                with(json!({"grant_types": ["client_credentials"], "response_types": ["code"]})),
                "invalid_client_metadata",
                "response_types mismatch",
            ),
            (
                with(json!({"scope": "openid admin:write"})),
                "invalid_client_metadata",
                "admin scope",
            ),
            (
                with(json!({"scope": "openid admin:read"})),
                "invalid_client_metadata",
                "admin scope",
            ),
            (
                with(json!({"scope": "openid payroll:write"})),
                "invalid_client_metadata",
                "a scope not offered",
            ),
            (
                with(json!({"first_party": true})),
                "invalid_client_metadata",
                "first_party",
            ),
            (
                with(json!({"resource_server": true})),
                "invalid_client_metadata",
                "resource_server",
            ),
            (
                with(json!({"audience": "https://api.example"})),
                "invalid_client_metadata",
                "audience",
            ),
            (
                with(json!({"allow_http_redirect_uris": true})),
                "invalid_client_metadata",
                "allow_http_redirect_uris",
            ),
            (
                with(json!({"access_token_ttl": 601})),
                "invalid_client_metadata",
                "a lifetime beyond the server's",
            ),
            (
                with(json!({"refresh_token_ttl": 40_000_000})),
                "invalid_client_metadata",
                "a lifetime beyond the server's",
            ),
            (
                with(json!({"client_name": ""})),
                "invalid_client_metadata",
                "no name",
            ),
        ];
        for (body, error, why) in cases {
            let (status, headers, answer) = register(&app, Some(&token), &body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{why}: {answer}");
            assert_eq!(answer["error"], error, "{why}: {answer}");
            assert!(
                answer["error_description"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty()),
                "{why}: {answer}"
            );
            assert_eq!(headers.get("cache-control").unwrap(), "no-store", "{why}");
        }
        let (status, _, answer) = register(&app, Some(&token), &json!("not an object")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(client_count(&app).await, 0, "nothing stored");
        // A refused registration gives its use back: the single-use token
        // still registers one client, once.
        let (status, _, answer) = register(&app, Some(&token), &code_client()).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        // Shorter lifetimes than the server's are a registrant's to choose.
        let open = app_in(backend, RegistrationMode::Open).await;
        let (status, _, answer) =
            register(&open, None, &with(json!({"access_token_ttl": 60}))).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        assert_eq!(answer["access_token_ttl"], 60);
    }
);

both_backends!(
    a_registered_client_gets_tokens_with_its_secret,
    |backend| async move {
        let sink = std::sync::Arc::new(portcullis::testing::MemoryEventSink::new());
        let mut overrides = test_overrides();
        overrides.events = Some(sink.clone());
        let app = spawn_app_full(
            backend,
            |c| c.registration.mode = RegistrationMode::Token,
            overrides,
        )
        .await;
        let token = initial_token(&app, None).await;
        let (status, headers, body) = register(
            &app,
            Some(&token),
            &json!({
                "client_name": "Backend service",
                "grant_types": ["client_credentials"],
                "scope": "profile",
                "software_id": "ignored",
            }),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(headers.get("cache-control").unwrap(), "no-store");
        let id = body["client_id"].as_str().unwrap();
        let secret = body["client_secret"].as_str().unwrap();
        assert_eq!(body["client_secret_expires_at"], 0);
        assert_eq!(body["client_name"], "Backend service");
        assert_eq!(body["grant_types"], json!(["client_credentials"]));
        assert_eq!(body["first_party"], false);
        assert!(
            body.get("software_id").is_none(),
            "unknown metadata is ignored"
        );
        assert_eq!(
            body["registration_client_uri"],
            app.url(&format!("/register/{id}"))
        );
        let rat = body["registration_access_token"].as_str().unwrap();
        assert!(rat.len() >= 43 && rat != secret && rat != token);

        // Only hashes are stored.
        let stored = app
            .state
            .store
            .clients()
            .get_client(&portcullis::domain::ClientId::parse(id).unwrap())
            .await
            .unwrap()
            .unwrap();
        assert!(stored.secret_hash.as_ref().unwrap().matches(secret));

        let resp = app
            .http
            .post(app.url("/token"))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials"), ("scope", "profile")])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);

        let events = sink.of_kind(EventKind::AdminChange);
        let e = serde_json::to_value(events.last().expect("an admin_change event")).unwrap();
        let text = e.to_string();
        assert!(text.contains("client_registered"), "{text}");
        assert!(
            text.contains(id),
            "the actor is the registered client: {text}"
        );
        assert!(!text.contains(secret) && !text.contains(rat) && !text.contains(&token));
    }
);

both_backends!(open_mode_registers_without_a_token, |backend| async move {
    let app = app_in(backend, RegistrationMode::Open).await;
    let (status, _, body) = register(&app, None, &code_client()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // A public client: no secret, PKCE required.
    let mut public = code_client();
    public["token_endpoint_auth_method"] = json!("none");
    let (status, _, body) = register(&app, None, &public).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(body.get("client_secret").is_none(), "{body}");
    assert!(body.get("client_secret_expires_at").is_none(), "{body}");
    assert_eq!(body["require_pkce"], true);
    assert_eq!(client_count(&app).await, 2);
});

/// GET/PUT/DELETE `/register/{id}` with `token`.
async fn manage(
    app: &TestApp,
    method: Method,
    id: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, HeaderMap, Value) {
    let mut req = app
        .http
        .request(method, app.url(&format!("/register/{id}")));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, headers, json)
}

both_backends!(
    rfc_7592_read_and_delete_take_the_client_s_own_token,
    |backend| async move {
        let app = app_in(backend, RegistrationMode::Open).await;
        let (_, _, first) = register(&app, None, &code_client()).await;
        let (_, _, second) = register(&app, None, &code_client()).await;
        let (a_id, a_rat) = (
            first["client_id"].as_str().unwrap(),
            first["registration_access_token"].as_str().unwrap(),
        );
        let b_rat = second["registration_access_token"].as_str().unwrap();

        // Read (RFC 7592 §2.1).
        let (status, headers, read) = manage(&app, Method::GET, a_id, Some(a_rat), None).await;
        assert_eq!(status, StatusCode::OK, "{read}");
        assert_eq!(headers.get("cache-control").unwrap(), "no-store");
        for field in [
            "client_id",
            "client_name",
            "redirect_uris",
            "grant_types",
            "scope",
        ] {
            assert_eq!(read[field], first[field], "{field}");
        }
        assert!(
            read.get("client_secret").is_none(),
            "the secret is shown once"
        );
        assert_eq!(
            read["registration_client_uri"],
            first["registration_client_uri"]
        );
        assert_eq!(read["registration_access_token"], a_rat);

        // Refused: no token, another client's token, an unknown token, an
        // unknown client (never revealed: the same 401).
        for (token, id, why) in [
            (None, a_id, "no token"),
            (Some(b_rat), a_id, "another client's token"),
            (Some("nope"), a_id, "an unknown token"),
            (
                Some(a_rat),
                "00000000000000000000000000000000",
                "another id",
            ),
        ] {
            for method in [Method::GET, Method::DELETE] {
                let (st, hd, body) = manage(&app, method.clone(), id, token, None).await;
                assert_invalid_token(st, &hd, &body, &format!("{method} {why}"));
            }
        }

        // A grant of client A, made through the code flow.
        flow::user(&app, "alice").await;
        let params = flow::full_login(&app, a_id, "alice", &[]).await;
        let code = flow::param(&params, "code").expect("a code").to_owned();
        let tokens: Value = app
            .http
            .post(app.url("/token"))
            .basic_auth(a_id, first["client_secret"].as_str())
            .form(&flow::code_exchange(&code))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let access = tokens["access_token"].as_str().expect("tokens").to_owned();
        let userinfo = |t: String| {
            let app = &app;
            async move {
                app.http
                    .get(app.url("/userinfo"))
                    .bearer_auth(t)
                    .send()
                    .await
                    .unwrap()
                    .status()
            }
        };
        assert_eq!(userinfo(access.clone()).await, StatusCode::OK);

        // Delete (RFC 7592 §2.3): 204, the client and its grants are gone.
        let (status, _, body) = manage(&app, Method::DELETE, a_id, Some(a_rat), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        assert_eq!(body, Value::Null);
        let id = portcullis::domain::ClientId::parse(a_id).unwrap();
        assert!(
            app.state
                .store
                .clients()
                .get_client(&id)
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            userinfo(access).await,
            StatusCode::UNAUTHORIZED,
            "the grant's access token is revoked"
        );
        let (st, hd, body) = manage(&app, Method::GET, a_id, Some(a_rat), None).await;
        assert_invalid_token(st, &hd, &body, "after delete");
        let (st, hd, body) = manage(&app, Method::DELETE, a_id, Some(a_rat), None).await;
        assert_invalid_token(st, &hd, &body, "deleted twice");
        // B is untouched.
        let b_id = second["client_id"].as_str().unwrap();
        let (status, _, _) = manage(&app, Method::GET, b_id, Some(b_rat), None).await;
        assert_eq!(status, StatusCode::OK);
    }
);

both_backends!(
    the_admin_api_creates_and_lists_initial_access_tokens,
    |backend| async move {
        let app = app_in(backend, RegistrationMode::Token).await;
        let admin = admin_token(&app).await;
        let (status, created) = call(
            &app,
            Method::POST,
            "/admin/v1/initial-access-tokens",
            &admin,
            Some(json!({"ttl_secs": 3600, "uses": 2})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let token = created["token"].as_str().unwrap().to_owned();
        assert_eq!(created["uses_left"], 2);
        let id = created["id"].as_str().unwrap().to_owned();

        let (status, list) = call(
            &app,
            Method::GET,
            "/admin/v1/initial-access-tokens",
            &admin,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let items = list["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{list}");
        assert_eq!(items[0]["id"], id.as_str());
        assert_eq!(items[0]["uses_left"], 2);
        assert!(items[0]["created_at"].is_i64() && items[0]["expires_at"].is_i64());
        assert!(!list.to_string().contains(&token), "never the secret");
        assert!(items[0].get("token").is_none());

        for _ in 0..2 {
            let (status, _, body) = register(&app, Some(&token), &code_client()).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        let (s, h, b) = register(&app, Some(&token), &code_client()).await;
        assert_invalid_token(s, &h, &b, "both uses spent");
        let (_, list) = call(
            &app,
            Method::GET,
            "/admin/v1/initial-access-tokens",
            &admin,
            None,
        )
        .await;
        assert_eq!(list["items"][0]["uses_left"], 0);

        for bad in [
            json!({"ttl_secs": 0}),
            json!({"ttl_secs": 400 * 86_400}),
            json!({"uses": 0}),
        ] {
            let (status, body) = call(
                &app,
                Method::POST,
                "/admin/v1/initial-access-tokens",
                &admin,
                Some(bad.clone()),
            )
            .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        }
        let read = read_token(&app).await;
        let (status, _) = call(
            &app,
            Method::POST,
            "/admin/v1/initial-access-tokens",
            &read,
            Some(json!({})),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
);

both_backends!(
    the_cli_creates_initial_access_tokens_stored_as_hashes,
    |backend| async move {
        let db = TestDb::new(backend).await;
        let out = ok(&portcullis(
            &db,
            &[
                "registration",
                "token",
                "create",
                "--ttl",
                "1d",
                "--uses",
                "3",
                "--json",
            ],
            None,
        ));
        let created: Value = serde_json::from_str(&out).unwrap();
        let token = created["token"].as_str().unwrap();
        assert_eq!(created["uses_left"], 3);
        let expires = created["expires_at"].as_i64().unwrap();
        let in_a_day = Utc::now().timestamp() + 86_400;
        assert!(
            (in_a_day - 60..=in_a_day + 60).contains(&expires),
            "{created}"
        );

        let store = db.store().await;
        let listed = registration::list_initial_access_tokens(&store)
            .await
            .unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].id, created["id"].as_str().unwrap());
        let listing = ok(&portcullis(
            &db,
            &["registration", "token", "list", "--json"],
            None,
        ));
        assert!(
            listing.contains(created["id"].as_str().unwrap()),
            "{listing}"
        );
        assert!(!listing.contains(token), "never the secret: {listing}");
        let err = crate::cli::failed(&portcullis(
            &db,
            &["registration", "token", "create", "--uses", "0"],
            None,
        ));
        assert!(err.contains("uses"), "{err}");
    }
);

both_backends!(
    rfc_7592_update_replaces_the_whole_record_with_the_client_s_own_token,
    |backend| async move {
        let app = app_in(backend, RegistrationMode::Open).await;
        let mut first = code_client();
        first["scope"] = json!("openid");
        first["require_pkce"] = json!(true);
        let (_, _, a) = register(&app, None, &first).await;
        let (_, _, b) = register(&app, None, &code_client()).await;
        let id = a["client_id"].as_str().unwrap();
        let rat = a["registration_access_token"].as_str().unwrap();
        let secret = a["client_secret"].as_str().unwrap();
        let b_rat = b["registration_access_token"].as_str().unwrap();
        // What a refusal must leave as it is.
        let (_, _, before) = manage(&app, Method::GET, id, Some(rat), None).await;

        let full = json!({
            "client_id": id,
            "client_secret": secret,
            "client_name": "Renamed App",
            "redirect_uris": ["https://app.example/new-cb"],
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
            // Fields of a read's answer sent back are ignored (RFC 7592 §2.2).
            "registration_access_token": rat,
            "registration_client_uri": a["registration_client_uri"],
            "client_id_issued_at": a["client_id_issued_at"],
            "client_secret_expires_at": 0,
        });
        let with = |patch: Value| {
            let mut body = full.clone();
            for (k, v) in patch.as_object().unwrap() {
                body[k] = v.clone();
            }
            body
        };
        for (body, error, why) in [
            (
                with(json!({"client_id": null})),
                "invalid_client_metadata",
                "no client_id",
            ),
            (
                with(json!({"client_id": b["client_id"]})),
                "invalid_client_metadata",
                "another client_id",
            ),
            (
                with(json!({"client_secret": "a-secret-of-my-choosing"})),
                "invalid_client_metadata",
                "a client_secret that does not match",
            ),
            (
                with(json!({"scope": "openid admin:write"})),
                "invalid_client_metadata",
                "admin scope",
            ),
            (
                with(json!({"first_party": true})),
                "invalid_client_metadata",
                "first_party",
            ),
            (
                with(json!({"redirect_uris": ["http://app.example/cb"]})),
                "invalid_redirect_uri",
                "http to a non-loopback host",
            ),
            (
                with(json!({"token_endpoint_auth_method": "none"})),
                "invalid_client_metadata",
                "confidential to public",
            ),
        ] {
            let (status, _, answer) = manage(&app, Method::PUT, id, Some(rat), Some(body)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{why}: {answer}");
            assert_eq!(answer["error"], error, "{why}: {answer}");
        }
        let (s, h, body) = manage(&app, Method::PUT, id, Some(b_rat), Some(full.clone())).await;
        assert_invalid_token(s, &h, &body, "another client's token");
        let (s, h, body) = manage(&app, Method::PUT, id, None, Some(full.clone())).await;
        assert_invalid_token(s, &h, &body, "no token");
        let (_, _, unchanged) = manage(&app, Method::GET, id, Some(rat), None).await;
        assert_eq!(unchanged, before, "refusals change nothing");

        // A full replacement: what is sent is set, what is omitted takes
        // its default (RFC 7592 §2.2), the secret stays.
        let (status, headers, updated) =
            manage(&app, Method::PUT, id, Some(rat), Some(full.clone())).await;
        assert_eq!(status, StatusCode::OK, "{updated}");
        assert_eq!(headers.get("cache-control").unwrap(), "no-store");
        assert_eq!(updated["client_id"], id);
        assert_eq!(updated["client_name"], "Renamed App");
        assert_eq!(
            updated["redirect_uris"],
            json!(["https://app.example/new-cb"])
        );
        assert_eq!(updated["grant_types"], json!(["authorization_code"]));
        assert_eq!(
            updated["scope"], "email offline_access openid profile",
            "reset to the default"
        );
        assert_eq!(updated["require_pkce"], false, "reset to the default");
        assert_eq!(updated["registration_access_token"], rat, "not rotated");
        assert!(
            updated.get("client_secret").is_none(),
            "not rotated, not shown"
        );
        let (_, _, read) = manage(&app, Method::GET, id, Some(rat), None).await;
        assert_eq!(read, updated);
        // The secret still authenticates the client.
        for (secret, expected) in [
            (flow::WRONG_SECRET, StatusCode::UNAUTHORIZED),
            (secret, StatusCode::OK),
        ] {
            // RFC 7009 §2.2: an unknown token is a 200 for an
            // authenticated client.
            let status = app
                .http
                .post(app.url("/revoke"))
                .basic_auth(id, Some(secret))
                .form(&[("token", "nope")])
                .send()
                .await
                .unwrap()
                .status();
            assert_eq!(status, expected, "the secret still authenticates");
        }
        // client_secret may be left out.
        let mut no_secret = full.clone();
        no_secret.as_object_mut().unwrap().remove("client_secret");
        let (status, _, answer) = manage(&app, Method::PUT, id, Some(rat), Some(no_secret)).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
);

both_backends!(
    a_revoked_initial_access_token_stops_at_once,
    |backend| async move {
        let app = app_in(backend, RegistrationMode::Token).await;
        let admin = admin_token(&app).await;
        let (_, created) = call(
            &app,
            Method::POST,
            "/admin/v1/initial-access-tokens",
            &admin,
            Some(json!({"ttl_secs": 3600})),
        )
        .await;
        let token = created["token"].as_str().unwrap().to_owned();
        let id = created["id"].as_str().unwrap().to_owned();
        let (status, _, body) = register(&app, Some(&token), &code_client()).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");

        let path = format!("/admin/v1/initial-access-tokens/{id}");
        let read = read_token(&app).await;
        let (status, _) = call(&app, Method::DELETE, &path, &read, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "admin:read cannot revoke");
        let (status, body) = call(&app, Method::DELETE, &path, &admin, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let (s, h, b) = register(&app, Some(&token), &code_client()).await;
        assert_invalid_token(s, &h, &b, "revoked");
        let (status, body) = call(&app, Method::DELETE, &path, &admin, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(body["error"], "not_found");
        let (_, list) = call(
            &app,
            Method::GET,
            "/admin/v1/initial-access-tokens",
            &admin,
            None,
        )
        .await;
        assert_eq!(list["items"].as_array().unwrap().len(), 0, "{list}");
    }
);

both_backends!(
    registration_fixes_what_a_strict_client_sends,
    |backend| async move {
        let app = app_in(backend, RegistrationMode::Open).await;
        // RFC 7591 §2: client_name is optional.
        let (status, _, body) = register(
            &app,
            None,
            &json!({"redirect_uris": ["https://rp.example.com/cb"]}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["client_name"], "rp.example.com");
        // A JWK Set with private or symmetric material is refused.
        for key in [
            json!({"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0", "d": "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}),
            json!({"kty": "oct", "k": "c2VjcmV0"}),
        ] {
            let (status, _, body) = register(
                &app,
                None,
                &json!({"redirect_uris": ["https://rp.example.com/cb"], "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [key]}}),
            )
            .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(body["error"], "invalid_client_metadata", "{body}");
        }
        // A body that is not a JSON object is invalid_client_metadata (§3.2.2).
        let resp = app
            .http
            .post(app.url("/register"))
            .header("content-type", "application/json")
            .body("[\"App\", [\"https://rp.example.com/cb\"]]")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client_metadata", "{body}");
    }
);

both_backends!(
    an_admin_deletion_takes_the_registration_with_it,
    |backend| async move {
        let app = app_in(backend, RegistrationMode::Open).await;
        let (status, _, body) = register(&app, None, &code_client()).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let id = body["client_id"].as_str().unwrap().to_owned();
        let rat = body["registration_access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let admin = admin_token(&app).await;
        let (status, _) = call(
            &app,
            Method::DELETE,
            &format!("/admin/v1/clients/{id}"),
            &admin,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let hash = portcullis::domain::TokenHash::of(&rat);
        assert!(
            app.state
                .store
                .registrations()
                .client_registration(&hash)
                .await
                .unwrap()
                .is_none(),
            "the registration row is gone with the client"
        );
    }
);

both_backends!(initial_access_tokens_are_paged, |backend| async move {
    let app = app_in(backend, RegistrationMode::Token).await;
    let admin = admin_token(&app).await;
    let mut made = Vec::new();
    for _ in 0..3 {
        let (status, created) = call(
            &app,
            Method::POST,
            "/admin/v1/initial-access-tokens",
            &admin,
            Some(json!({})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
        made.push(created["id"].as_str().unwrap().to_owned());
    }
    let (status, first) = call(
        &app,
        Method::GET,
        "/admin/v1/initial-access-tokens?limit=2",
        &admin,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let (_, second) = call(
        &app,
        Method::GET,
        &format!("/admin/v1/initial-access-tokens?limit=2&cursor={cursor}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(second["items"].as_array().unwrap().len(), 1, "{second}");
    assert!(second.get("next_cursor").is_none(), "{second}");
    let mut seen: Vec<String> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["items"].as_array().unwrap())
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    seen.sort();
    made.sort();
    assert_eq!(seen, made, "every token once");
    let (status, _) = call(
        &app,
        Method::GET,
        "/admin/v1/initial-access-tokens?limit=0",
        &admin,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
});

both_backends!(
    purge_forgets_expired_initial_access_tokens,
    |backend| async move {
        use portcullis::app::housekeeping::{self, PurgeSettings};
        use portcullis::domain::InitialAccessToken;
        let app = app_in(backend, RegistrationMode::Token).await;
        let store = app.state.store.as_ref();
        let now = chrono::Utc::now();
        for (id, expires_at) in [
            ("old", now - chrono::Duration::hours(2)),
            ("live", now + chrono::Duration::hours(2)),
        ] {
            store
                .registrations()
                .insert_initial_access_token(&InitialAccessToken {
                    id: id.into(),
                    token_hash: portcullis::domain::TokenHash::of(id),
                    created_at: now - chrono::Duration::hours(3),
                    expires_at,
                    uses_left: None,
                })
                .await
                .unwrap();
        }
        let settings = PurgeSettings {
            batch_size: 10,
            throttle_window: chrono::Duration::minutes(15),
            session_idle: chrono::Duration::hours(1),
        };
        let report = housekeeping::purge(store, now, &settings).await.unwrap();
        assert_eq!(report.initial_access_tokens, 1, "{report:?}");
        let left: Vec<String> = store
            .registrations()
            .list_initial_access_tokens()
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.id)
            .collect();
        assert_eq!(left, ["live"]);
    }
);
