//! The OpenID Shared Signals Framework 1.0 transmitter (issue 20, item 3):
//! the configuration document, the stream management API a receiver
//! drives with its client-credentials token, and push delivery (RFC 8935)
//! to a receiver running in the test (an axum server on 127.0.0.1), which
//! verifies every SET against the published JWKS with an independent JOSE
//! implementation (`jsonwebtoken`), never with our own code.

use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxStatus};
use chrono::Utc;
use portcullis::app::operator::NewClient;
use portcullis::domain::ssf::StreamStatus;
use portcullis::ports::deliveries::{Delivery, DeliveryFilter, SSF_SET};
use portcullis::testing::FixedClock;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::flow::{self, REDIRECT, TestClient};
use crate::helpers::{Backend, TestApp, spawn_app_full, test_overrides};

const DISABLED: &str = "https://schemas.openid.net/secevent/risc/event-type/account-disabled";
const ENABLED: &str = "https://schemas.openid.net/secevent/risc/event-type/account-enabled";
const CREDENTIAL: &str = "https://schemas.openid.net/secevent/caep/event-type/credential-change";
const VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";
const UPDATED: &str = "https://schemas.openid.net/secevent/ssf/event-type/stream-updated";
const PUSH: &str = "urn:ietf:rfc:8935";

/// One POST the receiver got.
#[derive(Debug, Clone)]
struct Received {
    content_type: String,
    authorization: Option<String>,
    set: String,
}

#[derive(Default)]
struct RxState {
    /// Answers 503 (with an RFC 8935 error body) while above zero.
    fail: u32,
    received: Vec<Received>,
}

/// A Shared Signals receiver's push endpoint.
#[derive(Clone)]
struct Receiver {
    url: String,
    state: Arc<Mutex<RxState>>,
}

async fn receive(
    State(rx): State<Receiver>,
    headers: HeaderMap,
    body: String,
) -> (AxStatus, String) {
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let mut s = rx.state.lock().unwrap();
    s.received.push(Received {
        content_type: header("content-type").unwrap_or_default(),
        authorization: header("authorization"),
        set: body,
    });
    if s.fail > 0 {
        s.fail -= 1;
        // RFC 8935 §2.3: an error answer names its error.
        return (
            AxStatus::BAD_REQUEST,
            json!({"err": "invalid_key", "description": "not today"}).to_string(),
        );
    }
    (AxStatus::ACCEPTED, String::new())
}

impl Receiver {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let rx = Self {
            url: format!("http://{}/events", listener.local_addr().unwrap()),
            state: Arc::default(),
        };
        let router = axum::Router::new()
            .route("/events", axum::routing::post(receive))
            .with_state(rx.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        rx
    }

    fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// Waits until `n` SETs arrived.
    async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..600 {
            let r = self.received();
            if r.len() >= n {
                return r;
            }
            tokio::time::sleep(StdDuration::from_millis(50)).await;
        }
        panic!("the receiver got {} SETs, not {n}", self.received().len());
    }
}

/// A server that may call 127.0.0.1, on `clock` when given.
async fn server(backend: Backend, clock: Option<Arc<FixedClock>>) -> TestApp {
    let mut overrides = test_overrides();
    if let Some(c) = clock {
        overrides.clock = Some(c);
    }
    spawn_app_full(backend, |c| c.outbound.allow_insecure = true, overrides).await
}

/// A receiver: a first-party client users sign in to, which also holds the
/// receiver role (`ssf:receiver`) for its client-credentials tokens.
async fn receiver_client(app: &TestApp) -> TestClient {
    flow::register(
        app,
        NewClient {
            name: "Receiver".into(),
            redirect_uris: vec![REDIRECT.into()],
            grant_types: vec!["authorization_code".into(), "client_credentials".into()],
            first_party: true,
            allow_http: true,
            scopes: ["openid", "profile", "email", "ssf:receiver"]
                .map(str::to_owned)
                .to_vec(),
            ..NewClient::default()
        },
    )
    .await
}

/// A client-credentials token of `client` asking for `scope`.
async fn token(app: &TestApp, client: &TestClient, scope: &str) -> String {
    let resp = app
        .http
        .post(app.url("/token"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&[("grant_type", "client_credentials"), ("scope", scope)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// Sends `method path` with `token` and an optional JSON body.
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, HeaderMap, Value) {
    let mut req = app.http.request(method, app.url(path)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, headers, body)
}

/// The user id of `username`.
async fn user_id(app: &TestApp, username: &str) -> String {
    app.state
        .store
        .users()
        .user_by_username(&portcullis::domain::Username::parse(username).unwrap())
        .await
        .unwrap()
        .unwrap()
        .id
        .as_str()
        .to_owned()
}

/// `username` signs in to `client` (a fresh browser) and the code is
/// exchanged: the user now has a grant of the client.
async fn sign_in(app: &TestApp, client: &TestClient, username: &str) {
    sign_in_for(app, client, username, "openid profile").await;
}

/// [`sign_in`] asking for `scope`.
async fn sign_in_for(app: &TestApp, client: &TestClient, username: &str, scope: &str) {
    let browser = crate::helpers::http_client();
    let query = flow::query(&client.id, &[]).replace(
        "scope=openid+profile",
        &url::form_urlencoded::Serializer::new(String::new())
            .append_pair("scope", scope)
            .finish(),
    );
    let url = app.url(&format!("/authorize?{query}"));
    let page = browser.get(&url).send().await.unwrap();
    let html = page.text().await.unwrap();
    let resp = browser
        .post(app.url("/login"))
        .form(&[
            ("request", flow::hidden(&html, "request").as_str()),
            ("csrf_token", flow::hidden(&html, "csrf_token").as_str()),
            ("username", username),
            ("password", flow::PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    let params = flow::redirect_params(&resp);
    let code = flow::param(&params, "code").unwrap().to_owned();
    let r = app
        .http
        .post(app.url("/token"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&flow::code_exchange(&code))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

/// Disables or enables `user` through the admin API.
async fn set_disabled(app: &TestApp, admin: &str, user: &str, disabled: bool) {
    let (status, _, body) = call(
        app,
        Method::PATCH,
        &format!("/admin/v1/users/{user}"),
        admin,
        Some(json!({"disabled": disabled})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Verifies `set` against the JWKS with `jsonwebtoken`
/// ([`crate::helpers::verify_set`]: `typ` `secevent+jwt`, our issuer, the
/// receiver as audience, no `exp`); SSF 1.0 §4: no `sub`, one event.
/// Returns the claims.
async fn verify(app: &TestApp, set: &str, receiver: &str) -> Value {
    let jwks = crate::helpers::jwks_of(&app.issuer).await;
    let claims = crate::helpers::verify_set(&jwks, &app.issuer, Some(receiver), set);
    assert!(claims.get("sub").is_none(), "SSF 1.0 §4.1.2: {claims}");
    assert!(!claims["jti"].as_str().unwrap().is_empty());
    assert_eq!(claims["events"].as_object().unwrap().len(), 1, "{claims}");
    claims
}

/// The event type of verified claims.
fn event_type(claims: &Value) -> String {
    claims["events"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone()
}

/// The SSF deliveries in the outbox.
async fn ssf_deliveries(app: &TestApp) -> Vec<Delivery> {
    app.state
        .store
        .deliveries()
        .list_deliveries(DeliveryFilter::All, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.kind == SSF_SET)
        .collect()
}

/// Waits until every event emitted so far went through the fan-out.
async fn settle(app: &TestApp) {
    app.state.events.flush().await.unwrap();
}

fn stream_body(rx: &Receiver, events: &[&str]) -> Value {
    json!({
        "delivery": {
            "method": PUSH,
            "endpoint_url": rx.url,
            "authorization_header": "Bearer rx-secret",
        },
        "events_requested": events,
        "description": "test stream",
    })
}

#[tokio::test]
async fn the_configuration_is_public_and_the_api_needs_the_receiver_role() {
    let app = server(Backend::Sqlite, None).await;
    let r = app
        .http
        .get(app.url("/.well-known/ssf-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let doc: Value = r.json().await.unwrap();
    let issuer = app.issuer.trim_end_matches('/');
    assert_eq!(doc["spec_version"], "1_0");
    assert_eq!(doc["issuer"], app.issuer.as_str());
    assert_eq!(doc["jwks_uri"], format!("{issuer}/jwks"));
    assert_eq!(doc["delivery_methods_supported"], json!([PUSH]));
    assert_eq!(
        doc["configuration_endpoint"],
        format!("{issuer}/ssf/stream")
    );
    assert_eq!(doc["status_endpoint"], format!("{issuer}/ssf/status"));
    assert_eq!(
        doc["add_subject_endpoint"],
        format!("{issuer}/ssf/subjects/add")
    );
    assert_eq!(
        doc["remove_subject_endpoint"],
        format!("{issuer}/ssf/subjects/remove")
    );
    assert_eq!(doc["verification_endpoint"], format!("{issuer}/ssf/verify"));
    assert_eq!(
        doc["authorization_schemes"],
        json!([{"spec_urn": "urn:ietf:rfc:6749"}])
    );
    assert_eq!(doc["default_subjects"], "NONE");

    // No token: 401 with a challenge.
    let r = app.http.get(app.url("/ssf/stream")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().contains_key("www-authenticate"));
    // A garbage token: 401 invalid_token.
    let (status, headers, _) = call(&app, Method::GET, "/ssf/stream", "not-a-token", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    // A client without the receiver role: 403 insufficient_scope.
    let other = crate::admin::admin_client(&app, "admin:read").await;
    let t = crate::admin::token_of(&app, &other).await;
    let (status, headers, _) = call(&app, Method::GET, "/ssf/stream", &t, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
    // A receiver whose token lacks the scope: 403 too.
    let rc = receiver_client(&app).await;
    let t = token(&app, &rc, "profile").await;
    let (status, _, _) = call(&app, Method::GET, "/ssf/stream", &t, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // With it: an empty list.
    let t = token(&app, &rc, "ssf:receiver").await;
    let (status, headers, body) = call(&app, Method::GET, "/ssf/stream", &t, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!([]));
    assert_eq!(headers["cache-control"], "no-store");
}

both_backends!(a_receiver_manages_its_one_stream, |backend| async move {
    let app = server(backend, None).await;
    let rx = Receiver::start().await;
    let rc = receiver_client(&app).await;
    let t = token(&app, &rc, "ssf:receiver").await;

    // Bad requests change nothing.
    for (bad, why) in [
        (json!({"events_requested": [DISABLED]}), "no delivery: poll"),
        (json!({"delivery": {"method": "urn:ietf:rfc:8936"}}), "poll"),
        (
            json!({"delivery": {"method": PUSH, "endpoint_url": "ftp://x.example/"}}),
            "not http(s)",
        ),
        (json!({"delivery": {"method": PUSH}}), "no endpoint"),
        (
            json!({"delivery": {"method": PUSH, "endpoint_url": rx.url}, "events_requested": "x"}),
            "events not an array",
        ),
        (
            json!({"delivery": {"method": PUSH, "endpoint_url": rx.url, "authorization_header": "a\r\nb"}}),
            "header with CR LF",
        ),
        (
            json!({"stream_id": "mine", "delivery": {"method": PUSH, "endpoint_url": rx.url}}),
            "stream_id chosen by the receiver",
        ),
    ] {
        let (status, _, body) = call(&app, Method::POST, "/ssf/stream", &t, Some(bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{why}: {body}");
        assert_eq!(body["error"], "invalid_request", "{why}");
    }
    let (_, _, list) = call(&app, Method::GET, "/ssf/stream", &t, None).await;
    assert_eq!(list, json!([]));

    // Create: 201 with the configuration.
    let (status, headers, created) = call(
        &app,
        Method::POST,
        "/ssf/stream",
        &t,
        Some(stream_body(
            &rx,
            &[DISABLED, "urn:example:unknown", ENABLED],
        )),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(headers["cache-control"], "no-store");
    let id = created["stream_id"].as_str().unwrap().to_owned();
    assert!(id.len() >= 32);
    assert_eq!(created["iss"], app.issuer.as_str());
    assert_eq!(created["aud"], rc.id.as_str());
    assert_eq!(
        created["delivery"],
        json!({"method": PUSH, "endpoint_url": rx.url})
    );
    assert!(
        created["delivery"].get("authorization_header").is_none(),
        "the receiver's secret is never given back"
    );
    assert_eq!(created["events_supported"].as_array().unwrap().len(), 5);
    assert_eq!(
        created["events_requested"],
        json!([DISABLED, "urn:example:unknown", ENABLED])
    );
    assert_eq!(created["events_delivered"], json!([DISABLED, ENABLED]));
    assert_eq!(created["min_verification_interval"], 30);
    assert_eq!(created["description"], "test stream");
    // The header is sealed at rest.
    let stored = app
        .state
        .store
        .streams()
        .get_stream(&id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        !stored
            .authorization_header
            .as_deref()
            .unwrap()
            .contains("rx-secret")
    );

    // A stream_id that names nothing: 404, never a 500 (a NUL cannot even
    // reach PostgreSQL); a repeated one: 400.
    for path in [
        "/ssf/stream?stream_id=%00",
        "/ssf/status?stream_id=x%00y",
        "/ssf/stream?stream_id=nope",
    ] {
        let (status, _, _) = call(&app, Method::GET, path, &t, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let (status, _, body) = call(
        &app,
        Method::GET,
        &format!("/ssf/stream?stream_id={id}&stream_id={id}"),
        &t,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request");

    // One stream per receiver: 409.
    let (status, _, _) = call(
        &app,
        Method::POST,
        "/ssf/stream",
        &t,
        Some(stream_body(&rx, &[DISABLED])),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Read: one, and the list.
    let (status, _, one) = call(
        &app,
        Method::GET,
        &format!("/ssf/stream?stream_id={id}"),
        &t,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one, created);
    let (_, _, list) = call(&app, Method::GET, "/ssf/stream", &t, None).await;
    assert_eq!(list, json!([created]));

    // Another receiver sees none of it: 404, and its own empty list.
    let other = receiver_client(&app).await;
    let t2 = token(&app, &other, "ssf:receiver").await;
    for (method, path, body) in [
        (Method::GET, format!("/ssf/stream?stream_id={id}"), None),
        (Method::DELETE, format!("/ssf/stream?stream_id={id}"), None),
        (Method::GET, format!("/ssf/status?stream_id={id}"), None),
        (
            Method::PATCH,
            "/ssf/stream".to_owned(),
            Some(json!({"stream_id": id, "description": "mine now"})),
        ),
        (
            Method::POST,
            "/ssf/verify".to_owned(),
            Some(json!({"stream_id": id})),
        ),
    ] {
        let (status, _, _) = call(&app, method.clone(), &path, &t2, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}");
    }
    let (_, _, list) = call(&app, Method::GET, "/ssf/stream", &t2, None).await;
    assert_eq!(list, json!([]));

    // Update: what is present changes, the rest stays.
    let (status, _, updated) = call(
        &app,
        Method::PATCH,
        "/ssf/stream",
        &t,
        Some(json!({"stream_id": id, "description": "renamed", "iss": app.issuer})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["description"], "renamed");
    assert_eq!(updated["events_delivered"], json!([DISABLED, ENABLED]));
    // An update of the delivery without the header keeps it (it is never
    // read back); an explicit null removes it.
    let header = |app: &TestApp| {
        let (store, id) = (app.state.store.clone(), id.clone());
        async move {
            store
                .streams()
                .get_stream(&id)
                .await
                .unwrap()
                .unwrap()
                .authorization_header
        }
    };
    let (status, _, _) = call(
        &app,
        Method::PATCH,
        "/ssf/stream",
        &t,
        Some(json!({"stream_id": id, "delivery": {"method": PUSH, "endpoint_url": rx.url}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(header(&app).await.is_some());
    let (status, _, _) = call(
        &app,
        Method::PATCH,
        "/ssf/stream",
        &t,
        Some(json!({"stream_id": id, "delivery": {"method": PUSH, "endpoint_url": rx.url, "authorization_header": null}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(header(&app).await.is_none());
    // A transmitter-supplied member that does not match: 400, no change.
    let (status, _, _) = call(
        &app,
        Method::PATCH,
        "/ssf/stream",
        &t,
        Some(json!({"stream_id": id, "description": "x", "aud": "someone-else"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, _, now) = call(
        &app,
        Method::GET,
        &format!("/ssf/stream?stream_id={id}"),
        &t,
        None,
    )
    .await;
    assert_eq!(now["description"], "renamed");

    // Replace: missing receiver-supplied members are deleted.
    let (status, _, replaced) = call(
        &app,
        Method::PUT,
        "/ssf/stream",
        &t,
        Some(json!({"stream_id": id, "delivery": {"method": PUSH, "endpoint_url": rx.url}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["events_requested"], json!([]));
    assert_eq!(replaced["events_delivered"], json!([]));
    assert!(replaced.get("description").is_none());

    // Status.
    let (status, _, s) = call(
        &app,
        Method::GET,
        &format!("/ssf/status?stream_id={id}"),
        &t,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s, json!({"stream_id": id, "status": "enabled"}));
    let (status, _, s) = call(
        &app,
        Method::POST,
        "/ssf/status",
        &t,
        Some(json!({"stream_id": id, "status": "paused", "reason": "maintenance"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        s,
        json!({"stream_id": id, "status": "paused", "reason": "maintenance"})
    );
    let (status, _, _) = call(
        &app,
        Method::POST,
        "/ssf/status",
        &t,
        Some(json!({"stream_id": id, "status": "asleep"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Subjects: formats we cannot resolve are 400; unknown users are a
    // silent 200 (no subject probing).
    for (subject, want) in [
        (
            json!({"format": "phone_number", "phone_number": "+1"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"format": "iss_sub", "iss": "https://elsewhere.example", "sub": "u"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"format": "iss_sub", "iss": app.issuer, "sub": "nobody"}),
            StatusCode::OK,
        ),
        (
            json!({"format": "email", "email": "nobody@example.com"}),
            StatusCode::OK,
        ),
    ] {
        let (status, _, _) = call(
            &app,
            Method::POST,
            "/ssf/subjects/add",
            &t,
            Some(json!({"stream_id": id, "subject": subject})),
        )
        .await;
        assert_eq!(status, want, "{subject}");
    }
    assert_eq!(
        app.state.store.streams().count_subjects(&id).await.unwrap(),
        0
    );

    // Delete: 204, then gone.
    let (status, _, _) = call(
        &app,
        Method::DELETE,
        &format!("/ssf/stream?stream_id={id}"),
        &t,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = call(
        &app,
        Method::GET,
        &format!("/ssf/stream?stream_id={id}"),
        &t,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, _, list) = call(&app, Method::GET, "/ssf/stream", &t, None).await;
    assert_eq!(list, json!([]));
});

both_backends!(
    signals_reach_the_receiver_signed_and_only_for_its_users,
    |backend| async move {
        let app = server(backend, None).await;
        let rx = Receiver::start().await;
        let rc = receiver_client(&app).await;
        let t = token(&app, &rc, "ssf:receiver").await;
        let admin = crate::admin::admin_token(&app).await;
        flow::user(&app, "alice").await;
        flow::user(&app, "bob").await;
        let alice = user_id(&app, "alice").await;
        let bob = user_id(&app, "bob").await;
        // Alice signed in to the receiver; Bob never did.
        sign_in(&app, &rc, "alice").await;

        let (status, _, created) = call(
            &app,
            Method::POST,
            "/ssf/stream",
            &t,
            Some(stream_body(&rx, &[DISABLED, ENABLED])),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
        let id = created["stream_id"].as_str().unwrap().to_owned();
        for subject in [
            json!({"format": "iss_sub", "iss": app.issuer, "sub": alice}),
            json!({"format": "iss_sub", "iss": app.issuer, "sub": bob}),
        ] {
            let (status, _, _) = call(
                &app,
                Method::POST,
                "/ssf/subjects/add",
                &t,
                Some(json!({"stream_id": id, "subject": subject, "verified": true})),
            )
            .await;
            assert_eq!(status, StatusCode::OK);
        }

        // Both are disabled: only Alice's signal goes to the receiver.
        set_disabled(&app, &admin, &alice, true).await;
        set_disabled(&app, &admin, &bob, true).await;
        let got = rx.wait_for(1).await;
        let r = &got[0];
        assert_eq!(r.content_type, "application/secevent+jwt");
        assert_eq!(r.authorization.as_deref(), Some("Bearer rx-secret"));
        let claims = verify(&app, &r.set, &rc.id).await;
        assert_eq!(event_type(&claims), DISABLED);
        assert_eq!(
            claims["sub_id"],
            json!({"format": "iss_sub", "iss": app.issuer, "sub": alice})
        );
        assert!(claims["txn"].is_string(), "{claims}");
        settle(&app).await;
        let rows = ssf_deliveries(&app).await;
        assert_eq!(rows.len(), 1, "nothing for Bob: {rows:?}");

        // Enabled again: the account-enabled event.
        set_disabled(&app, &admin, &alice, false).await;
        let got = rx.wait_for(2).await;
        let claims = verify(&app, &got[1].set, &rc.id).await;
        assert_eq!(event_type(&claims), ENABLED);
        assert_ne!(
            claims["jti"],
            verify(&app, &got[0].set, &rc.id).await["jti"]
        );

        // A password change raises credential-change, which this stream
        // did not ask for: nothing is queued.
        app.state
            .events
            .emit(portcullis::domain::event::Event::password_changed(
                app.state.rng.event_stamp(Utc::now()),
                &portcullis::domain::UserId::new(alice.clone()),
                "account",
            ));
        settle(&app).await;
        assert_eq!(ssf_deliveries(&app).await.len(), 2);
        // Asked for, it is delivered, as CAEP says.
        let (status, _, _) = call(
            &app,
            Method::PATCH,
            "/ssf/stream",
            &t,
            Some(json!({"stream_id": id, "events_requested": [DISABLED, ENABLED, CREDENTIAL]})),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        app.state
            .events
            .emit(portcullis::domain::event::Event::password_changed(
                app.state.rng.event_stamp(Utc::now()),
                &portcullis::domain::UserId::new(alice.clone()),
                "account",
            ));
        let got = rx.wait_for(3).await;
        let claims = verify(&app, &got[2].set, &rc.id).await;
        assert_eq!(event_type(&claims), CREDENTIAL);
        let payload = &claims["events"][CREDENTIAL];
        assert_eq!(payload["credential_type"], "password");
        assert_eq!(payload["change_type"], "update");
        assert_eq!(payload["initiating_entity"], "user");
        assert!(payload["event_timestamp"].is_i64());

        // Removed from the stream: no more signals about Alice.
        let (status, _, _) = call(
            &app,
            Method::POST,
            "/ssf/subjects/remove",
            &t,
            Some(json!({"stream_id": id, "subject": {"format": "email", "email": "alice@example.com"}})),
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        // (The address was never verified: an email subject names no one.)
        assert_eq!(
            app.state.store.streams().count_subjects(&id).await.unwrap(),
            2
        );
        // Verified, but Alice never gave the receiver her address: still
        // no one (a receiver cannot learn whose address it guessed)...
        let (status, _, _) = call(
            &app,
            Method::PATCH,
            &format!("/admin/v1/users/{alice}"),
            &admin,
            Some(json!({"email_verified": true})),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let by_email =
            json!({"stream_id": id, "subject": {"format": "email", "email": "alice@example.com"}});
        let (status, _, _) = call(
            &app,
            Method::POST,
            "/ssf/subjects/remove",
            &t,
            Some(by_email.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(
            app.state.store.streams().count_subjects(&id).await.unwrap(),
            2
        );
        // ...once she did (a grant with the email scope), the address names her.
        sign_in_for(&app, &rc, "alice", "openid email").await;
        let (status, _, _) = call(
            &app,
            Method::POST,
            "/ssf/subjects/remove",
            &t,
            Some(by_email.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(
            app.state.store.streams().count_subjects(&id).await.unwrap(),
            1
        );
        let (status, _, _) =
            call(&app, Method::POST, "/ssf/subjects/add", &t, Some(by_email)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            app.state.store.streams().count_subjects(&id).await.unwrap(),
            2
        );
        let (status, _, _) = call(
            &app,
            Method::POST,
            "/ssf/subjects/remove",
            &t,
            Some(json!({"stream_id": id, "subject": {"format": "iss_sub", "iss": app.issuer, "sub": alice}})),
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        set_disabled(&app, &admin, &alice, true).await;
        settle(&app).await;
        assert_eq!(ssf_deliveries(&app).await.len(), 3);

        // The operator takes the receiver role away: what is queued is
        // dropped, and its token no longer opens the API.
        let (status, _, _) = call(
            &app,
            Method::POST,
            "/ssf/subjects/add",
            &t,
            Some(json!({"stream_id": id, "subject": {"format": "iss_sub", "iss": app.issuer, "sub": alice}})),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let (status, _, _) = call(
            &app,
            Method::PATCH,
            &format!("/admin/v1/clients/{}", rc.id),
            &admin,
            Some(json!({"scope": "openid profile email"})),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        set_disabled(&app, &admin, &alice, false).await;
        settle(&app).await;
        let mut withdrawn = None;
        for _ in 0..100 {
            withdrawn = ssf_deliveries(&app)
                .await
                .into_iter()
                .find(|d| d.abandoned_at.is_some());
            if withdrawn.is_some() {
                break;
            }
            tokio::time::sleep(StdDuration::from_millis(50)).await;
        }
        assert_eq!(
            withdrawn.expect("dropped").last_error.as_deref(),
            Some("receiver role withdrawn")
        );
        assert_eq!(rx.received().len(), 3);
        let (status, _, _) = call(&app, Method::GET, "/ssf/stream", &t, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        // The receiver's client deleted: its stream goes with it.
        portcullis::app::clients::delete_client(
            app.state.store.as_ref(),
            app.state.clock.as_ref(),
            &rc.id,
        )
        .await
        .unwrap();
        assert!(
            app.state
                .store
                .streams()
                .get_stream(&id)
                .await
                .unwrap()
                .is_none()
        );
    }
);

both_backends!(
    verification_status_and_outage_lose_nothing,
    |backend| async move {
        let clock = Arc::new(FixedClock::at(Utc::now()));
        let app = server(backend, Some(clock.clone())).await;
        let rx = Receiver::start().await;
        let rc = receiver_client(&app).await;
        let t = token(&app, &rc, "ssf:receiver").await;
        let admin = crate::admin::admin_token(&app).await;
        flow::user(&app, "alice").await;
        let alice = user_id(&app, "alice").await;
        sign_in(&app, &rc, "alice").await;
        let (_, _, created) = call(
            &app,
            Method::POST,
            "/ssf/stream",
            &t,
            Some(stream_body(&rx, &[DISABLED, ENABLED])),
        )
        .await;
        let id = created["stream_id"].as_str().unwrap().to_owned();
        let (status, _, _) = call(
            &app,
            Method::POST,
            "/ssf/subjects/add",
            &t,
            Some(json!({"stream_id": id, "subject": {"format": "iss_sub", "iss": app.issuer, "sub": alice}})),
        )
        .await;
        assert_eq!(status, StatusCode::OK);

        // Verification: eight at once, exactly one is queued (one
        // conditional update); the others are 429.
        let mut calls = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (http, url, t, id) = (
                app.http.clone(),
                app.url("/ssf/verify"),
                t.clone(),
                id.clone(),
            );
            calls.spawn(async move {
                http.post(url)
                    .bearer_auth(t)
                    .json(&json!({"stream_id": id, "state": "s-1"}))
                    .send()
                    .await
                    .unwrap()
                    .status()
            });
        }
        let mut statuses = Vec::new();
        while let Some(s) = calls.join_next().await {
            statuses.push(s.unwrap());
        }
        assert_eq!(
            statuses
                .iter()
                .filter(|s| **s == StatusCode::NO_CONTENT)
                .count(),
            1,
            "{statuses:?}"
        );
        assert_eq!(
            statuses
                .iter()
                .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
                .count(),
            7
        );
        let got = rx.wait_for(1).await;
        let claims = verify(&app, &got[0].set, &rc.id).await;
        assert_eq!(event_type(&claims), VERIFICATION);
        assert_eq!(claims["events"][VERIFICATION], json!({"state": "s-1"}));
        assert_eq!(claims["sub_id"], json!({"format": "opaque", "id": id}));
        // After the interval, another is accepted.
        clock.advance(chrono::Duration::seconds(31));
        let (status, _, _) = call(
            &app,
            Method::POST,
            "/ssf/verify",
            &t,
            Some(json!({"stream_id": id})),
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let got = rx.wait_for(2).await;
        let claims = verify(&app, &got[1].set, &rc.id).await;
        assert_eq!(claims["events"][VERIFICATION], json!({}));

        // Paused: the signal is held, not lost...
        let (status, _, _) = call(
            &app,
            Method::POST,
            "/ssf/status",
            &t,
            Some(json!({"stream_id": id, "status": "paused"})),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        set_disabled(&app, &admin, &alice, true).await;
        settle(&app).await;
        tokio::time::sleep(StdDuration::from_millis(1500)).await;
        assert_eq!(rx.received().len(), 2);
        let held: Vec<_> = ssf_deliveries(&app)
            .await
            .into_iter()
            .filter(|d| d.delivered_at.is_none())
            .collect();
        assert_eq!(held.len(), 1);
        assert!(held[0].abandoned_at.is_none());
        // ...and sent once enabled again.
        let (status, _, _) = call(
            &app,
            Method::POST,
            "/ssf/status",
            &t,
            Some(json!({"stream_id": id, "status": "enabled"})),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        clock.advance(chrono::Duration::seconds(6));
        let got = rx.wait_for(3).await;
        assert_eq!(
            event_type(&verify(&app, &got[2].set, &rc.id).await),
            DISABLED
        );

        // The receiver fails (RFC 8935 §2.3 error): retried with backoff,
        // with the same jti, until it takes it.
        rx.state.lock().unwrap().fail = 1;
        set_disabled(&app, &admin, &alice, false).await;
        let got = rx.wait_for(4).await;
        let first = verify(&app, &got[3].set, &rc.id).await;
        assert_eq!(event_type(&first), ENABLED);
        let mut failed = None;
        for _ in 0..100 {
            failed = ssf_deliveries(&app)
                .await
                .into_iter()
                .find(|d| d.attempts == 1 && d.delivered_at.is_none());
            if failed.is_some() {
                break;
            }
            tokio::time::sleep(StdDuration::from_millis(50)).await;
        }
        let failed = failed.expect("the failed attempt is recorded");
        assert_eq!(
            failed.last_error.as_deref(),
            Some("status 400: invalid_key")
        );
        tokio::time::sleep(StdDuration::from_millis(1500)).await;
        assert_eq!(rx.received().len(), 4, "not before its backoff");
        clock.advance(chrono::Duration::seconds(6));
        let got = rx.wait_for(5).await;
        let again = verify(&app, &got[4].set, &rc.id).await;
        assert_eq!(first["jti"], again["jti"]);
        assert_eq!(first["txn"], again["txn"]);

        // Paused with a signal held, then disabled: the held signal is
        // dropped, and new ones are not even queued.
        for status in ["paused"] {
            let (code, _, _) = call(
                &app,
                Method::POST,
                "/ssf/status",
                &t,
                Some(json!({"stream_id": id, "status": status})),
            )
            .await;
            assert_eq!(code, StatusCode::OK);
        }
        set_disabled(&app, &admin, &alice, true).await;
        settle(&app).await;
        let (status, _, _) = call(
            &app,
            Method::POST,
            "/ssf/status",
            &t,
            Some(json!({"stream_id": id, "status": "disabled"})),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        clock.advance(chrono::Duration::seconds(6));
        let mut dropped = Vec::new();
        for _ in 0..100 {
            dropped = ssf_deliveries(&app)
                .await
                .into_iter()
                .filter(|d| d.abandoned_at.is_some())
                .collect();
            if !dropped.is_empty() {
                break;
            }
            tokio::time::sleep(StdDuration::from_millis(50)).await;
        }
        assert_eq!(dropped.len(), 1);
        assert_eq!(dropped[0].last_error.as_deref(), Some("stream disabled"));
        let queued = ssf_deliveries(&app).await.len();
        set_disabled(&app, &admin, &alice, false).await;
        settle(&app).await;
        assert_eq!(ssf_deliveries(&app).await.len(), queued);
        assert_eq!(rx.received().len(), 5);

        // The transmitter pauses it (an operator): the receiver hears of it
        // with a stream-updated event, although the stream is now paused,
        // and cannot lift the pause itself (403).
        let before = portcullis::app::ssf::set_status_by_operator(
            app.state.store.as_ref(),
            app.state.clock.as_ref(),
            app.state.rng.as_ref(),
            &id,
            StreamStatus::Paused,
            Some("maintenance"),
        )
        .await
        .unwrap();
        assert_eq!(before, StreamStatus::Disabled);
        let got = rx.wait_for(6).await;
        let claims = verify(&app, &got[5].set, &rc.id).await;
        assert_eq!(
            claims["events"][UPDATED],
            json!({"status": "paused", "reason": "maintenance"})
        );
        let (status, _, body) = call(
            &app,
            Method::POST,
            "/ssf/status",
            &t,
            Some(json!({"stream_id": id, "status": "enabled"})),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        // The transmitter enables it again: the receiver hears of it.
        let before = portcullis::app::ssf::set_status_by_operator(
            app.state.store.as_ref(),
            app.state.clock.as_ref(),
            app.state.rng.as_ref(),
            &id,
            StreamStatus::Enabled,
            Some("back from maintenance"),
        )
        .await
        .unwrap();
        assert_eq!(before, StreamStatus::Paused);
        let got = rx.wait_for(7).await;
        let claims = verify(&app, &got[6].set, &rc.id).await;
        assert_eq!(event_type(&claims), UPDATED);
        assert_eq!(
            claims["events"][UPDATED],
            json!({"status": "enabled", "reason": "back from maintenance"})
        );
        assert_eq!(claims["sub_id"], json!({"format": "opaque", "id": id}));
    }
);
