//! Issue 18: the OAuth 2.0 Device Authorization Grant (RFC 8628), end to
//! end: `/device_authorization`, the `/device` pages driven like a browser
//! (code entry, the hosted sign-in with its second factor, the consent page)
//! while a client polls `/token`, every poll error of §3.5, the user-code
//! throttle, single redemption under parallel polls, and the purge.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use base64::Engine as _;
use chrono::{Duration, Utc};
use portcullis::app::housekeeping::{self, PurgeSettings};
use portcullis::app::operator::NewClient;
use portcullis::domain::TokenHash;
use portcullis::domain::event::{DetailKey, EventKind};
use portcullis::domain::{User, Username};
use portcullis::ports::Clock as _;
use portcullis::testing::{FixedClock, MemoryEventSink};
use reqwest::StatusCode;
use serde_json::Value;

use crate::both_backends;
use crate::flow::{PASSWORD, TestClient, hidden, register, submit, user};
use crate::helpers::{Backend, TestApp, http_client, spawn_app_full, test_overrides};

pub(crate) const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
const SECRET: &[u8] = b"12345678901234567890";

/// A server with a 1 s poll interval, recording its events.
async fn app_with(
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
    let app = spawn_app_full(
        backend,
        |c| {
            c.auth.device_poll_interval = Duration::seconds(1);
            adjust(c);
        },
        overrides,
    )
    .await;
    (app, sink)
}

async fn app(backend: Backend) -> (TestApp, Arc<MemoryEventSink>) {
    app_with(backend, None, |_| {}).await
}

/// A public device client ("Living Room TV") with the device and refresh
/// grants, and `extra` applied.
pub(crate) async fn device_client(app: &TestApp, extra: impl FnOnce(&mut NewClient)) -> TestClient {
    let mut req = NewClient {
        name: "Living Room TV".into(),
        public: true,
        grant_types: vec![DEVICE_GRANT.into(), "refresh_token".into()],
        ..NewClient::default()
    };
    extra(&mut req);
    register(app, req).await
}

async fn start_raw(app: &TestApp, client: &TestClient, scope: Option<&str>) -> reqwest::Response {
    let mut form = vec![("client_id", client.id.as_str())];
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    let mut req = app.http.post(app.url("/device_authorization"));
    if let Some(secret) = &client.secret {
        req = req.basic_auth(&client.id, Some(secret));
        form.remove(0);
    }
    req.form(&form).send().await.unwrap()
}

/// Starts a device authorization; returns the response.
pub(crate) async fn start(app: &TestApp, client: &TestClient, scope: &str) -> Value {
    let r = start_raw(app, client, Some(scope)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    r.json().await.unwrap()
}

async fn poll(app: &TestApp, client: &TestClient, device_code: &str) -> (StatusCode, Value) {
    let mut form = vec![("grant_type", DEVICE_GRANT), ("device_code", device_code)];
    let mut req = app.http.post(app.url("/token"));
    match &client.secret {
        Some(secret) => req = req.basic_auth(&client.id, Some(secret)),
        None => form.push(("client_id", client.id.as_str())),
    }
    let r = req.form(&form).send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap())
}

/// Awaits spawned tasks (they run concurrently once spawned).
async fn join_all<T>(
    handles: Vec<tokio::task::JoinHandle<T>>,
) -> Vec<Result<T, tokio::task::JoinError>> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await);
    }
    out
}

fn error_of(v: &Value) -> &str {
    v["error"].as_str().unwrap_or("(none)")
}

/// Opens `url` (the verification URI, complete or not) in `browser` and
/// submits the entry form with `typed` (its prefill when `None`).
pub(crate) async fn enter(
    app: &TestApp,
    browser: &reqwest::Client,
    url: &str,
    typed: Option<&str>,
) -> reqwest::Response {
    let page = browser.get(url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("Connect a device"), "{html}");
    let prefilled = hidden_input(&html, "user_code");
    let code = typed.map_or(prefilled, str::to_owned);
    let csrf = hidden(&html, "csrf_token");
    browser
        .post(app.url("/device"))
        .form(&[("user_code", code.as_str()), ("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap()
}

/// The `value` of the (text) input `name`.
fn hidden_input(html: &str, name: &str) -> String {
    let start = html
        .find(&format!("name=\"{name}\""))
        .unwrap_or_else(|| panic!("no {name} in\n{html}"));
    let rest = &html[start..];
    let v = rest.find("value=\"").unwrap() + "value=\"".len();
    let end = rest[v..].find('"').unwrap();
    rest[v..v + end].to_owned()
}

pub(crate) async fn sign_in_page(
    app: &TestApp,
    browser: &reqwest::Client,
    html: &str,
    username: &str,
) -> reqwest::Response {
    assert!(html.contains("Sign in"), "{html}");
    let fields = [("username", username), ("password", PASSWORD)];
    submit(browser, app, "/login", html, &fields).await
}

/// Answers the device consent page `html`.
pub(crate) async fn decide(
    app: &TestApp,
    browser: &reqwest::Client,
    html: &str,
    decision: &str,
) -> reqwest::Response {
    let code = hidden(html, "user_code");
    let csrf = hidden(html, "csrf_token");
    browser
        .post(app.url("/device/consent"))
        .form(&[
            ("user_code", code.as_str()),
            ("csrf_token", csrf.as_str()),
            ("decision", decision),
        ])
        .send()
        .await
        .unwrap()
}

fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

async fn user_of(app: &TestApp, name: &str) -> User {
    app.state
        .store
        .users()
        .user_by_username(&Username::parse(name).unwrap())
        .await
        .unwrap()
        .unwrap()
}

// The whole flow while a client polls: the browser opens
// `verification_uri_complete`, confirms the prefilled code, signs in and
// allows; the poller sees `authorization_pending` until then, then gets
// an access, refresh and ID token; the code works once.
both_backends!(
    the_device_flow_works_while_the_client_polls,
    |backend| async move {
        let (app, sink) = app(backend).await;
        user(&app, "alice").await;
        let client = device_client(&app, |_| {}).await;
        let d = start(&app, &client, "openid profile offline_access").await;
        let user_code = d["user_code"].as_str().unwrap().to_owned();
        let device_code = d["device_code"].as_str().unwrap().to_owned();
        assert_eq!(user_code.len(), 9);
        assert_eq!(&user_code[4..5], "-");
        assert!(
            user_code
                .bytes()
                .filter(|b| *b != b'-')
                .all(|b| b"BCDFGHJKLMNPQRSTVWXZ".contains(&b)),
            "{user_code}"
        );
        assert_eq!(d["verification_uri"], app.url("/device"));
        assert_eq!(
            d["verification_uri_complete"],
            app.url(&format!("/device?user_code={user_code}"))
        );
        assert_eq!(d["expires_in"], 600);
        assert_eq!(d["interval"], 1);
        // Only the hash of the device code is stored.
        let stored = app
            .state
            .store
            .device_codes()
            .device_code_by_hash(&TokenHash::of(&device_code))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.user_code.display(), user_code);

        // The client polls in the background at the interval.
        let poller = {
            let http = http_client();
            let url = app.url("/token");
            let id = client.id.clone();
            let device_code = device_code.clone();
            tokio::spawn(async move {
                let mut errors = Vec::new();
                for _ in 0..60 {
                    let r = http
                        .post(&url)
                        .form(&[
                            ("grant_type", DEVICE_GRANT),
                            ("device_code", device_code.as_str()),
                            ("client_id", id.as_str()),
                        ])
                        .send()
                        .await
                        .unwrap();
                    let status = r.status();
                    let body: Value = r.json().await.unwrap();
                    if status == StatusCode::OK {
                        return (errors, body);
                    }
                    errors.push(body["error"].as_str().unwrap().to_owned());
                    tokio::time::sleep(StdDuration::from_millis(1100)).await;
                }
                panic!("no tokens: {errors:?}");
            })
        };

        let browser = http_client();
        let url = d["verification_uri_complete"].as_str().unwrap();
        // The prefilled code is shown, never approved by opening the link.
        let page = browser.get(url).send().await.unwrap().text().await.unwrap();
        assert!(page.contains(&user_code), "{page}");
        let r = enter(&app, &browser, url, None).await;
        assert_eq!(r.status(), StatusCode::OK);
        let html = r.text().await.unwrap();
        assert!(html.contains("Living Room TV"), "{html}");
        let r = sign_in_page(&app, &browser, &html, "alice").await;
        assert_eq!(r.status(), StatusCode::OK);
        let html = r.text().await.unwrap();
        assert!(
            html.contains("on a device wants to access your account"),
            "{html}"
        );
        assert!(
            html.contains(&user_code),
            "the consent page shows the code: {html}"
        );
        assert!(html.contains("Living Room TV"));
        assert!(html.contains("data-scope=\"offline_access\""), "{html}");
        tokio::time::sleep(StdDuration::from_millis(1500)).await;
        let r = decide(&app, &browser, &html, "allow").await;
        assert_eq!(r.status(), StatusCode::OK);
        let html = r.text().await.unwrap();
        assert!(html.contains("You may return to your device"), "{html}");

        let (errors, tokens) = poller.await.unwrap();
        assert!(!errors.is_empty(), "the client polled before the approval");
        assert!(
            errors.iter().all(|e| e == "authorization_pending"),
            "{errors:?}"
        );
        assert_eq!(tokens["token_type"], "Bearer");
        assert_eq!(tokens["scope"], "offline_access openid profile");
        assert!(tokens["refresh_token"].is_string());
        let alice = user_of(&app, "alice").await;
        let id = claims(tokens["id_token"].as_str().unwrap());
        assert_eq!(id["sub"], alice.id.as_str());
        assert_eq!(id["aud"], client.id.as_str());
        assert_eq!(id["amr"], serde_json::json!(["pwd"]));
        assert_eq!(id["acr"], "urn:portcullis:acr:1fa");
        assert!(id["auth_time"].is_i64());
        assert!(id.get("nonce").is_none());
        let sid = id["sid"].as_str().unwrap();
        let access = claims(tokens["access_token"].as_str().unwrap());
        assert_eq!(access["sid"], sid);
        assert_eq!(access["client_id"], client.id.as_str());
        // The grant row carries the session: logout and revocation reach it.
        let grant = app
            .state
            .store
            .grants()
            .get_grant(access["grant_id"].as_str().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(grant.session_id.as_deref(), Some(sid));
        assert_eq!(grant.user_id, alice.id);

        // Redeemed once.
        tokio::time::sleep(StdDuration::from_millis(1100)).await;
        let (status, body) = poll(&app, &client, &device_code).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(error_of(&body), "invalid_grant");

        // The refresh token works like any other.
        let r = app
            .http
            .post(app.url("/token"))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
                ("client_id", client.id.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);

        // Events: requested, the sign-in, approved, the tokens.
        assert_eq!(
            sink.of_kind(EventKind::DeviceAuthorizationRequested).len(),
            1
        );
        let approved = sink.of_kind(EventKind::DeviceAuthorizationApproved);
        assert_eq!(approved.len(), 1);
        assert_eq!(sink.of_kind(EventKind::LoginSucceeded).len(), 1);
        let issued = sink.of_kind(EventKind::TokenIssued);
        assert!(!issued.is_empty());

        // A second device in the same browser: the live session is used (no
        // sign-in), but the consent page is still asked.
        let d2 = start(&app, &client, "openid").await;
        let r = enter(
            &app,
            &browser,
            &app.url("/device"),
            Some(
                &d2["user_code"]
                    .as_str()
                    .unwrap()
                    .to_lowercase()
                    .replace('-', ""),
            ),
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
        let html = r.text().await.unwrap();
        assert!(
            html.contains("on a device wants to access your account"),
            "{html}"
        );
        let r = decide(&app, &browser, &html, "deny").await;
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.text().await.unwrap().contains("Access denied"));
        let (status, body) = poll(&app, &client, d2["device_code"].as_str().unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(error_of(&body), "access_denied");
        assert_eq!(sink.of_kind(EventKind::DeviceAuthorizationDenied).len(), 1);
    }
);

// Discovery names the endpoint and the grant type (from the inventory and
// the registry).
both_backends!(
    discovery_names_the_device_endpoint_and_grant,
    |backend| async move {
        let (app, _) = app(backend).await;
        let doc: Value = app
            .http
            .get(app.url("/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            doc["device_authorization_endpoint"],
            app.url("/device_authorization")
        );
        let grants: Vec<&str> = doc["grant_types_supported"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(grants.contains(&DEVICE_GRANT), "{grants:?}");
    }
);

// `/device_authorization` refuses a client without the grant type, a bad
// client secret, and scopes the client may not have; a confidential
// client authenticates as at `/token`.
both_backends!(
    device_authorization_checks_the_client_and_scope,
    |backend| async move {
        let (app, _) = app(backend).await;
        let web = device_client(&app, |c| {
            c.grant_types = vec!["authorization_code".into()];
            c.redirect_uris = vec!["https://app.example/cb".into()];
        })
        .await;
        let r = start_raw(&app, &web, Some("openid")).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let body: Value = r.json().await.unwrap();
        assert_eq!(error_of(&body), "unauthorized_client");

        let tv = device_client(&app, |c| c.scopes = vec!["openid".into(), "profile".into()]).await;
        let r = start_raw(&app, &tv, None).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(error_of(&r.json().await.unwrap()), "invalid_scope");
        let r = start_raw(&app, &tv, Some("admin:write")).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(error_of(&r.json().await.unwrap()), "invalid_scope");
        // Trimmed to the client's scopes, as /authorize trims them.
        let d = start(&app, &tv, "openid profile email").await;
        let stored = app
            .state
            .store
            .device_codes()
            .device_code_by_hash(&TokenHash::of(d["device_code"].as_str().unwrap()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.scope.to_string(), "openid profile");

        let confidential = device_client(&app, |c| c.public = false).await;
        let d = start(&app, &confidential, "openid").await;
        assert!(d["device_code"].is_string());
        let wrong = TestClient {
            id: confidential.id.clone(),
            secret: Some("wrong-secret".into()),
        };
        let r = start_raw(&app, &wrong, Some("openid")).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(error_of(&r.json().await.unwrap()), "invalid_client");
    }
);

// Every poll error of RFC 8628 §3.5 with a fixed clock: unknown code,
// another client's code, pending, slow_down (the interval grows by 5 s),
// expired_token.
both_backends!(poll_errors_follow_rfc_8628, |backend| async move {
    let clock = Arc::new(FixedClock::at(Utc::now()));
    let (app, _) = app_with(backend, Some(clock.clone()), |c| {
        c.auth.device_poll_interval = Duration::seconds(5);
    })
    .await;
    let client = device_client(&app, |_| {}).await;
    let other = device_client(&app, |_| {}).await;
    let d = start(&app, &client, "openid").await;
    let code = d["device_code"].as_str().unwrap();
    assert_eq!(d["interval"], 5);

    let (status, body) = poll(&app, &client, "not-a-device-code").await;
    assert_eq!(
        (status, error_of(&body)),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
    let (_, body) = poll(&app, &other, code).await;
    assert_eq!(error_of(&body), "invalid_grant");
    let r = app
        .http
        .post(app.url("/token"))
        .form(&[
            ("grant_type", DEVICE_GRANT),
            ("client_id", client.id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(&r.json().await.unwrap()), "invalid_request");

    let (status, body) = poll(&app, &client, code).await;
    assert_eq!(
        (status, error_of(&body)),
        (StatusCode::BAD_REQUEST, "authorization_pending")
    );
    clock.advance(Duration::seconds(4));
    let (_, body) = poll(&app, &client, code).await;
    assert_eq!(error_of(&body), "slow_down");
    let interval = |app: &TestApp| {
        let store = app.state.store.clone();
        let hash = TokenHash::of(code);
        async move {
            store
                .device_codes()
                .device_code_by_hash(&hash)
                .await
                .unwrap()
                .unwrap()
                .interval_secs
        }
    };
    assert_eq!(interval(&app).await, 10);
    // The new interval counts from the refused poll.
    clock.advance(Duration::seconds(9));
    let (_, body) = poll(&app, &client, code).await;
    assert_eq!(error_of(&body), "slow_down");
    assert_eq!(interval(&app).await, 15);
    clock.advance(Duration::seconds(15));
    let (_, body) = poll(&app, &client, code).await;
    assert_eq!(error_of(&body), "authorization_pending");
    assert_eq!(interval(&app).await, 15);

    clock.advance(Duration::seconds(600));
    let (status, body) = poll(&app, &client, code).await;
    assert_eq!(
        (status, error_of(&body)),
        (StatusCode::BAD_REQUEST, "expired_token")
    );

    // An expired user code is refused on the page too.
    let browser = http_client();
    let r = enter(
        &app,
        &browser,
        &app.url("/device"),
        Some(d["user_code"].as_str().unwrap()),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("That code has expired"));

    // The purge removes expired device codes.
    let report = housekeeping::purge(
        app.state.store.as_ref(),
        clock.now() + Duration::minutes(30),
        &PurgeSettings::from_config(&app.state.config),
    )
    .await
    .unwrap();
    assert_eq!(report.device_codes, 1);
    assert!(
        app.state
            .store
            .device_codes()
            .device_code_by_hash(&TokenHash::of(code))
            .await
            .unwrap()
            .is_none()
    );
});

// Eight parallel polls of an approved code: exactly one gets tokens; and
// eight parallel redemptions in the store: exactly one wins.
both_backends!(an_approved_code_is_redeemed_once, |backend| async move {
    let (app, _) = app(backend).await;
    user(&app, "alice").await;
    let client = device_client(&app, |_| {}).await;
    let d = start(&app, &client, "openid").await;
    let code = d["device_code"].as_str().unwrap().to_owned();
    let browser = http_client();
    let r = enter(
        &app,
        &browser,
        d["verification_uri_complete"].as_str().unwrap(),
        None,
    )
    .await;
    let html = r.text().await.unwrap();
    let r = sign_in_page(&app, &browser, &html, "alice").await;
    let html = r.text().await.unwrap();
    let r = decide(&app, &browser, &html, "allow").await;
    assert_eq!(r.status(), StatusCode::OK);

    let polls = (0..8).map(|_| {
        let http = http_client();
        let url = app.url("/token");
        let id = client.id.clone();
        let code = code.clone();
        tokio::spawn(async move {
            let r = http
                .post(&url)
                .form(&[
                    ("grant_type", DEVICE_GRANT),
                    ("device_code", code.as_str()),
                    ("client_id", id.as_str()),
                ])
                .send()
                .await
                .unwrap();
            r.status()
        })
    });
    let statuses: Vec<StatusCode> = join_all(polls.collect())
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );

    // The store's redemption alone: one winner among eight.
    let d = start(&app, &client, "openid").await;
    let hash = TokenHash::of(d["device_code"].as_str().unwrap());
    let alice = user_of(&app, "alice").await;
    let now = Utc::now();
    let decision = portcullis::domain::device::DeviceDecision {
        approved: true,
        user_id: alice.id.clone(),
        session_id: "s-1".into(),
        auth_time: now,
        amr: None,
        acr: None,
        decided_at: now,
    };
    let store = app.state.store.clone();
    assert!(
        store
            .device_codes()
            .decide_device_code(&hash, &decision, now)
            .await
            .unwrap()
    );
    assert!(
        !store
            .device_codes()
            .decide_device_code(&hash, &decision, now)
            .await
            .unwrap(),
        "decided once"
    );
    let redemptions = (0..8).map(|_| {
        let store = store.clone();
        let hash = hash.clone();
        tokio::spawn(async move {
            store
                .device_codes()
                .redeem_device_code(&hash, now)
                .await
                .unwrap()
        })
    });
    let won: Vec<bool> = join_all(redemptions.collect())
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "{won:?}");
});

// Wrong user codes are throttled per client address, atomically under
// parallel entries; a good code gives its reservation back; the entry is
// case-insensitive with the hyphen optional.
both_backends!(
    wrong_user_codes_are_throttled_atomically,
    |backend| async move {
        let (app, sink) =
            app_with(backend, None, |c| c.auth.device_user_code_max_failures = 3).await;
        let client = device_client(&app, |_| {}).await;
        let d = start(&app, &client, "openid").await;
        let good = d["user_code"].as_str().unwrap().to_owned();
        let browser = http_client();
        let page = browser
            .get(app.url("/device"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = hidden(&page, "csrf_token");
        let post = |code: String| {
            let browser = browser.clone();
            let url = app.url("/device");
            let csrf = csrf.clone();
            async move {
                browser
                    .post(url)
                    .form(&[("user_code", code.as_str()), ("csrf_token", csrf.as_str())])
                    .send()
                    .await
                    .unwrap()
            }
        };
        // A good code (lower case, no hyphen), then two wrong ones: the good
        // one gave its reservation back, so neither is locked yet.
        let r = post(good.to_lowercase().replace('-', "")).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.text().await.unwrap().contains("Sign in"));
        for wrong in ["BBBB-BBBB", "not a code"] {
            let r = post(wrong.into()).await;
            assert_eq!(r.status(), StatusCode::BAD_REQUEST);
            assert!(r.text().await.unwrap().contains("That code is not right"));
        }
        // Eight at once: exactly one more may reach the lookup.
        let tries = (0..8).map(|i| {
            tokio::spawn(post(format!(
                "ZZZZ-ZZZ{}",
                ["B", "C", "D", "F", "G", "H", "J", "K"][i]
            )))
        });
        let statuses: Vec<StatusCode> = join_all(tries.collect())
            .await
            .into_iter()
            .map(|r| r.unwrap().status())
            .collect();
        assert_eq!(
            statuses
                .iter()
                .filter(|s| **s == StatusCode::BAD_REQUEST)
                .count(),
            1,
            "{statuses:?}"
        );
        assert_eq!(
            statuses
                .iter()
                .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
                .count(),
            7,
            "{statuses:?}"
        );
        // Locked: even the good code is refused now.
        let r = post(good.clone()).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(r.headers().contains_key("retry-after"));
        assert!(r.text().await.unwrap().contains("Too many wrong codes"));
        let failed = sink.of_kind(EventKind::DeviceUserCodeFailed);
        let reasons: Vec<&str> = failed
            .iter()
            .filter_map(|e| e.detail_value(DetailKey::Reason))
            .collect();
        assert_eq!(
            reasons.iter().filter(|r| **r == "unknown").count(),
            3,
            "{reasons:?}"
        );
        assert_eq!(
            reasons.iter().filter(|r| **r == "locked").count(),
            8,
            "{reasons:?}"
        );
    }
);

// A used code is refused on the page; the consent form cannot decide a
// code twice.
both_backends!(
    a_decided_code_cannot_be_entered_again,
    |backend| async move {
        let (app, _) = app(backend).await;
        user(&app, "alice").await;
        let client = device_client(&app, |_| {}).await;
        let d = start(&app, &client, "openid").await;
        let browser = http_client();
        let url = d["verification_uri_complete"].as_str().unwrap();
        let html = enter(&app, &browser, url, None).await.text().await.unwrap();
        let html = sign_in_page(&app, &browser, &html, "alice")
            .await
            .text()
            .await
            .unwrap();
        let r = decide(&app, &browser, &html, "allow").await;
        assert_eq!(r.status(), StatusCode::OK);
        // The same consent form again: the code is no longer pending.
        let r = decide(&app, &browser, &html, "deny").await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(r.text().await.unwrap().contains("already used"));
        let r = enter(&app, &browser, url, None).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(r.text().await.unwrap().contains("already used"));
        // The consent form needs its CSRF token.
        let r = browser
            .post(app.url("/device/consent"))
            .form(&[
                ("user_code", d["user_code"].as_str().unwrap()),
                ("decision", "allow"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
);

// A user with TOTP gives the second factor during the device sign-in; a
// client with `require_mfa` makes a one-factor live session step up.
both_backends!(
    the_second_factor_is_asked_when_enrolled_or_required,
    |backend| async move {
        let (app, _) = app(backend).await;
        user(&app, "alice").await;
        user(&app, "bob").await;
        let tv = device_client(&app, |_| {}).await;
        let strict = device_client(&app, |c| {
            c.name = "Strict TV".into();
            c.require_mfa = true;
        })
        .await;

        // Alice has TOTP: password, then the code.
        let alice = user_of(&app, "alice").await;
        crate::mfa_totp::confirmed_totp(&app, &alice.id, SECRET).await;
        let d = start(&app, &tv, "openid").await;
        let browser = http_client();
        let html = enter(
            &app,
            &browser,
            d["verification_uri_complete"].as_str().unwrap(),
            None,
        )
        .await
        .text()
        .await
        .unwrap();
        let r = sign_in_page(&app, &browser, &html, "alice").await;
        let html = r.text().await.unwrap();
        assert!(html.contains("Two-step verification"), "{html}");
        let wrong = submit(
            &browser,
            &app,
            "/login/factor",
            &html,
            &[("code", "000000")],
        )
        .await;
        assert!(
            wrong
                .text()
                .await
                .unwrap()
                .contains("That code is not right")
        );
        let code = crate::mfa_totp::rfc6238(SECRET, Utc::now().timestamp());
        let r = submit(
            &browser,
            &app,
            "/login/factor",
            &html,
            &[("code", code.as_str())],
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
        let html = r.text().await.unwrap();
        assert!(
            html.contains("on a device wants to access your account"),
            "{html}"
        );
        decide(&app, &browser, &html, "allow").await;
        let (status, tokens) = poll(&app, &tv, d["device_code"].as_str().unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        let id = claims(tokens["id_token"].as_str().unwrap());
        assert_eq!(id["acr"], "urn:portcullis:acr:2fa");
        assert!(
            id["amr"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!("otp")),
            "{id}"
        );

        // Bob signs in with his password for the plain TV (one factor), then
        // enrols TOTP; the strict TV asks his live session to step up.
        let d = start(&app, &tv, "openid").await;
        let bob_browser = http_client();
        let html = enter(
            &app,
            &bob_browser,
            d["verification_uri_complete"].as_str().unwrap(),
            None,
        )
        .await
        .text()
        .await
        .unwrap();
        let html = sign_in_page(&app, &bob_browser, &html, "bob")
            .await
            .text()
            .await
            .unwrap();
        assert!(
            html.contains("on a device wants to access your account"),
            "{html}"
        );
        let bob = user_of(&app, "bob").await;
        crate::mfa_totp::confirmed_totp(&app, &bob.id, SECRET).await;
        let d = start(&app, &strict, "openid").await;
        let r = enter(
            &app,
            &bob_browser,
            d["verification_uri_complete"].as_str().unwrap(),
            None,
        )
        .await;
        let html = r.text().await.unwrap();
        assert!(
            html.contains("Two-step verification"),
            "a step-up, no password: {html}"
        );
        assert!(!html.contains("name=\"password\""));
        let code = crate::mfa_totp::rfc6238(SECRET, Utc::now().timestamp() + 30);
        let r = submit(
            &bob_browser,
            &app,
            "/login/factor",
            &html,
            &[("code", code.as_str())],
        )
        .await;
        let html = r.text().await.unwrap();
        assert!(html.contains("Strict TV"), "{html}");
        assert!(
            html.contains("on a device wants to access your account"),
            "{html}"
        );
        decide(&app, &bob_browser, &html, "allow").await;
        let (status, tokens) = poll(&app, &strict, d["device_code"].as_str().unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        assert_eq!(
            claims(tokens["id_token"].as_str().unwrap())["acr"],
            "urn:portcullis:acr:2fa"
        );

        // A user without a second factor cannot approve for the strict TV.
        user(&app, "carol").await;
        let d = start(&app, &strict, "openid").await;
        let carol = http_client();
        let html = enter(
            &app,
            &carol,
            d["verification_uri_complete"].as_str().unwrap(),
            None,
        )
        .await
        .text()
        .await
        .unwrap();
        let r = sign_in_page(&app, &carol, &html, "carol").await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("requires two-step verification")
        );
    }
);

both_backends!(
    a_device_token_can_be_for_a_registered_api,
    |backend| async move {
        use portcullis::adapters::system::SystemClock;
        use portcullis::app::resources::{self, NewResource};
        let (app, _sink) = app(backend).await;
        user(&app, "alice").await;
        let api = "https://tv-api.example/v1";
        resources::create(
            app.state.store.as_ref(),
            &SystemClock,
            NewResource {
                id: api.into(),
                name: "TV API".into(),
                scopes: vec!["tv:watch".into()],
            },
        )
        .await
        .unwrap();
        let client = device_client(&app, |c| {
            c.scopes = vec!["openid".into(), "tv:watch".into()];
            c.allowed_resources = vec![api.into()];
        })
        .await;
        // A resource the client may not ask for is refused at once (RFC 8707 §2).
        let r = app
            .http
            .post(app.url("/device_authorization"))
            .form(&[
                ("client_id", client.id.as_str()),
                ("scope", "openid tv:watch"),
                ("resource", "https://other.example"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_target");
        let d: Value = app
            .http
            .post(app.url("/device_authorization"))
            .form(&[
                ("client_id", client.id.as_str()),
                ("scope", "openid tv:watch"),
                ("resource", api),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let device_code = d["device_code"].as_str().unwrap().to_owned();
        let browser = http_client();
        let r = enter(
            &app,
            &browser,
            d["verification_uri_complete"].as_str().unwrap(),
            None,
        )
        .await;
        let html = r.text().await.unwrap();
        let r = sign_in_page(&app, &browser, &html, "alice").await;
        let html = r.text().await.unwrap();
        let r = decide(&app, &browser, &html, "allow").await;
        assert_eq!(r.status(), StatusCode::OK);
        tokio::time::sleep(StdDuration::from_millis(1100)).await;
        // A poll naming another resource is refused and does not use the code.
        let (s, b) = {
            let r = app
                .http
                .post(app.url("/token"))
                .form(&[
                    ("grant_type", DEVICE_GRANT),
                    ("device_code", device_code.as_str()),
                    ("client_id", client.id.as_str()),
                    ("resource", "https://other.example"),
                ])
                .send()
                .await
                .unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        };
        assert_eq!(
            (s, error_of(&b)),
            (StatusCode::BAD_REQUEST, "invalid_target"),
            "{b}"
        );
        tokio::time::sleep(StdDuration::from_millis(1100)).await;
        let (s, tokens) = poll(&app, &client, &device_code).await;
        assert_eq!(s, StatusCode::OK, "{tokens}");
        let access = claims(tokens["access_token"].as_str().unwrap());
        assert_eq!(access["aud"], api, "the API is the audience");
        assert_eq!(access["scope"], "tv:watch", "only the API's scopes");
        assert_eq!(tokens["scope"], "tv:watch");
        assert!(tokens["id_token"].is_string(), "the ID token still comes");
    }
);
