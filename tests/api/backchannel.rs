//! OpenID Connect Back-Channel Logout 1.0 (issue 18): every way a session
//! ends queues a logout token for each client that signed in to it and
//! registered a `backchannel_logout_uri`; the worker delivers them to a
//! relying party running in the test (an axum server on 127.0.0.1), which
//! verifies each token against the published JWKS with an independent JOSE
//! implementation (`jsonwebtoken`), never with our own code.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode as AxStatus};
use chrono::Utc;
use jsonwebtoken::{DecodingKey, Validation, decode, decode_header};
use portcullis::app::operator::NewClient;
use portcullis::domain::event::{DetailKey, EventKind};
use portcullis::ports::deliveries::DeliveryFilter;
use portcullis::testing::{FixedClock, MemoryEventSink};
use reqwest::StatusCode;
use serde_json::Value;

use crate::both_backends;
use crate::flow::{self, REDIRECT, TestClient, hidden, redirect_params};
use crate::helpers::{Backend, TestApp, spawn_app_full, test_overrides};

const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// What the relying party does with a POST to `/bc/{name}`.
#[derive(Clone, Copy)]
enum Answer {
    /// 200.
    Ok,
    /// 503 this many times, then 200.
    FailFirst(u32),
    /// Holds the request until the test opens the gate.
    Hang,
}

#[derive(Default)]
struct RpState {
    answers: HashMap<String, Answer>,
    /// (name, content type, logout_token) of every POST, in order.
    received: Vec<(String, String, String)>,
}

/// A relying party's back-channel logout endpoints.
#[derive(Clone)]
struct Rp {
    base: String,
    state: Arc<Mutex<RpState>>,
    gate: Arc<tokio::sync::Semaphore>,
}

async fn receive(
    State(rp): State<Rp>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: String,
) -> AxStatus {
    let token = url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "logout_token")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let answer = {
        let mut s = rp.state.lock().unwrap();
        s.received.push((name.clone(), content_type, token));
        let answer = s.answers.get(&name).copied().unwrap_or(Answer::Ok);
        if let Answer::FailFirst(n) = answer {
            let next = if n <= 1 {
                Answer::Ok
            } else {
                Answer::FailFirst(n - 1)
            };
            s.answers.insert(name, next);
        }
        answer
    };
    match answer {
        Answer::Ok => AxStatus::OK,
        Answer::FailFirst(_) => AxStatus::SERVICE_UNAVAILABLE,
        Answer::Hang => {
            let _permit = rp.gate.acquire().await;
            AxStatus::OK
        }
    }
}

impl Rp {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let rp = Self {
            base: format!("http://{}", listener.local_addr().unwrap()),
            state: Arc::default(),
            gate: Arc::new(tokio::sync::Semaphore::new(0)),
        };
        let router = axum::Router::new()
            .route("/bc/{name}", axum::routing::post(receive))
            .with_state(rp.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        rp
    }

    fn uri(&self, name: &str) -> String {
        format!("{}/bc/{name}", self.base)
    }

    fn answer(&self, name: &str, a: Answer) {
        self.state.lock().unwrap().answers.insert(name.into(), a);
    }

    /// The logout tokens `name` received so far.
    fn tokens(&self, name: &str) -> Vec<String> {
        let s = self.state.lock().unwrap();
        for (_, ct, _) in &s.received {
            assert_eq!(ct, "application/x-www-form-urlencoded");
        }
        s.received
            .iter()
            .filter(|(n, _, _)| n == name)
            .map(|(_, _, t)| t.clone())
            .collect()
    }

    /// Waits until `name` received `n` tokens (a hung test is stopped by
    /// nextest's timeout).
    async fn wait_for(&self, name: &str, n: usize) -> Vec<String> {
        for _ in 0..600 {
            let t = self.tokens(name);
            if t.len() >= n {
                return t;
            }
            tokio::time::sleep(StdDuration::from_millis(50)).await;
        }
        panic!(
            "{name} received {} tokens, not {n}",
            self.tokens(name).len()
        );
    }
}

/// A server that may call 127.0.0.1, recording its events, on `clock`.
async fn server(
    backend: Backend,
    clock: Option<Arc<FixedClock>>,
) -> (TestApp, Arc<MemoryEventSink>) {
    let sink = Arc::new(MemoryEventSink::new());
    let mut overrides = test_overrides();
    overrides.events = Some(sink.clone());
    if let Some(c) = clock {
        overrides.clock = Some(c);
    }
    let app = spawn_app_full(backend, |c| c.outbound.allow_insecure = true, overrides).await;
    (app, sink)
}

/// A first-party client (no consent page) with `uri` as its
/// `backchannel_logout_uri`.
async fn client(app: &TestApp, uri: Option<String>, session_required: bool) -> TestClient {
    flow::register(
        app,
        NewClient {
            name: "RP".into(),
            redirect_uris: vec![REDIRECT.into()],
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            first_party: true,
            allow_http: true,
            backchannel_logout_uri: uri,
            backchannel_logout_session_required: session_required,
            ..NewClient::default()
        },
    )
    .await
}

fn clock_now(app: &TestApp) -> chrono::DateTime<Utc> {
    app.state.clock.now()
}

/// The claims of a JWT, unverified (for the ID tokens we compare with).
fn claims_of(jwt: &str) -> Value {
    use base64::Engine as _;
    let part = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Signs `http` in to `client` (through the login page the first time,
/// at once afterwards) and exchanges the code: returns the ID token.
async fn sign_in_to(app: &TestApp, http: &reqwest::Client, c: &TestClient) -> String {
    sign_in_with(app, http, c, &[]).await["id_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// [`sign_in_to`] with `extra` authorization parameters; returns the
/// token response.
async fn sign_in_with(
    app: &TestApp,
    http: &reqwest::Client,
    c: &TestClient,
    extra: &[(&str, &str)],
) -> Value {
    let url = app.url(&format!("/authorize?{}", flow::query(&c.id, extra)));
    let r = http.get(&url).send().await.unwrap();
    let r = if r.status() == StatusCode::OK {
        let html = r.text().await.unwrap();
        assert!(html.contains("Sign in"), "{html}");
        let request = hidden(&html, "request");
        let csrf = hidden(&html, "csrf_token");
        http.post(app.url("/login"))
            .form(&[
                ("request", request.as_str()),
                ("csrf_token", csrf.as_str()),
                ("username", "alice"),
                ("password", flow::PASSWORD),
            ])
            .send()
            .await
            .unwrap()
    } else {
        r
    };
    let params = redirect_params(&r);
    let code = flow::param(&params, "code").unwrap().to_owned();
    let r = app
        .http
        .post(app.url("/token"))
        .basic_auth(&c.id, c.secret.as_deref())
        .form(&flow::code_exchange(&code))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

/// Verifies a logout token with `jsonwebtoken` against the server's JWKS
/// (Back-Channel Logout 1.0 §2.4, §2.6) for `client`; returns its claims.
async fn verify(app: &TestApp, token: &str, client: &str) -> Value {
    let header = decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    let jwks = crate::helpers::jwks_of(&app.issuer).await;
    let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let mut v = Validation::new(header.alg);
    v.set_audience(&[client]);
    v.set_issuer(&[app.issuer.as_str()]);
    v.set_required_spec_claims(&["exp", "iat", "iss", "aud"]);
    let claims = decode::<Value>(token, &key, &v).unwrap().claims;
    let iat = claims["iat"].as_i64().unwrap();
    assert_eq!(claims["exp"].as_i64().unwrap() - iat, 120, "{claims}");
    assert!((iat - Utc::now().timestamp()).abs() < 3600, "{claims}");
    assert!(!claims["jti"].as_str().unwrap().is_empty());
    assert_eq!(claims["events"], serde_json::json!({ EVENT: {} }));
    assert!(claims.get("nonce").is_none(), "§2.4: no nonce: {claims}");
    claims
}

/// Checks that `token` logs `client` out of the session of `id_token`.
async fn check_logout_of(app: &TestApp, token: &str, client: &str, id_token: &str) -> Value {
    let claims = verify(app, token, client).await;
    let id = claims_of(id_token);
    assert_eq!(claims["sub"], id["sub"]);
    assert_eq!(claims["sid"], id["sid"]);
    assert!(claims["sid"].is_string());
    claims
}

both_backends!(
    discovery_says_back_channel_logout_is_supported,
    |backend| async move {
        let (app, _) = server(backend, None).await;
        let d: Value = app
            .http
            .get(app.url("/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(d["backchannel_logout_supported"], true);
        assert_eq!(d["backchannel_logout_session_supported"], true);
    }
);

both_backends!(
    rp_initiated_logout_notifies_every_client_of_the_session,
    |backend| async move {
        let (app, events) = server(backend, None).await;
        let rp = Rp::start().await;
        flow::user(&app, "alice").await;
        let a = client(&app, Some(rp.uri("a")), false).await;
        let b = client(&app, Some(rp.uri("b")), true).await;
        let silent = client(&app, None, false).await;
        let id_a = sign_in_to(&app, &app.http, &a).await;
        let id_b = sign_in_to(&app, &app.http, &b).await;
        sign_in_to(&app, &app.http, &silent).await;
        // Another session of alice's, with client a: not ended.
        let other = crate::account::browser("other");
        sign_in_to(&app, &other, &a).await;

        let r = app
            .http
            .get(app.url(&format!("/logout?id_token_hint={id_a}")))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());

        let ta = rp.wait_for("a", 1).await;
        let tb = rp.wait_for("b", 1).await;
        let ca = check_logout_of(&app, &ta[0], &a.id, &id_a).await;
        // backchannel_logout_session_required: the sid is there.
        let cb = check_logout_of(&app, &tb[0], &b.id, &id_b).await;
        assert_ne!(ca["jti"], cb["jti"]);
        // Delivered, with an event each.
        for _ in 0..100 {
            if events.of_kind(EventKind::BackchannelLogoutDelivered).len() >= 2 {
                break;
            }
            tokio::time::sleep(StdDuration::from_millis(50)).await;
        }
        let delivered = events.of_kind(EventKind::BackchannelLogoutDelivered);
        let mut to: Vec<&str> = delivered.iter().filter_map(|e| e.client_id()).collect();
        to.sort_unstable();
        let mut want = vec![a.id.as_str(), b.id.as_str()];
        want.sort_unstable();
        assert_eq!(to, want);
        // Nothing more: not the other session, not the client without a URI.
        tokio::time::sleep(StdDuration::from_millis(1500)).await;
        assert_eq!(rp.tokens("a").len(), 1);
        assert_eq!(rp.tokens("b").len(), 1);
        let all = app
            .state
            .store
            .deliveries()
            .list_deliveries(DeliveryFilter::All, 10)
            .await
            .unwrap();
        assert_eq!(all.len(), 2, "{all:?}");
        assert!(all.iter().all(|d| d.delivered_at.is_some()));
        // `portcullis purge` removes delivered rows after a week, not before.
        let settings = portcullis::app::housekeeping::PurgeSettings::from_config(&app.state.config);
        let purge = |days: i64| {
            let app = &app;
            let settings = &settings;
            async move {
                portcullis::app::housekeeping::purge(
                    app.state.store.as_ref(),
                    Utc::now() + chrono::Duration::days(days),
                    settings,
                )
                .await
                .unwrap()
                .deliveries
            }
        };
        assert_eq!(purge(6).await, 0);
        assert_eq!(purge(8).await, 2);
    }
);

both_backends!(
    a_same_user_sign_in_keeps_the_sid_and_its_logout_reaches_earlier_grants,
    |backend| async move {
        let (app, _) = server(backend, None).await;
        let rp = Rp::start().await;
        flow::user(&app, "alice").await;
        let a = client(&app, Some(rp.uri("a")), false).await;
        let b = client(&app, Some(rp.uri("b")), true).await;
        let first = sign_in_with(&app, &app.http, &a, &[]).await;
        let id_a = first["id_token"].as_str().unwrap().to_owned();
        let sid = claims_of(&id_a)["sid"].as_str().unwrap().to_owned();
        let session = |sid: String| {
            let app = &app;
            async move {
                app.state
                    .store
                    .sessions()
                    .session_by_id(&sid)
                    .await
                    .unwrap()
                    .unwrap()
            }
        };
        let before = session(sid.clone()).await;
        // prompt=login: the same user signs in again in the same browser.
        let again = sign_in_with(&app, &app.http, &b, &[("prompt", "login")]).await;
        let id_b = again["id_token"].as_str().unwrap().to_owned();
        let (ca, cb) = (claims_of(&id_a), claims_of(&id_b));
        assert!(
            cb["auth_time"].as_i64() >= ca["auth_time"].as_i64(),
            "{ca} {cb}"
        );
        // The same sid, a new cookie (docs/SECURITY.md invariant 7).
        assert_eq!(ca["sid"], cb["sid"]);
        let after = session(sid.clone()).await;
        assert_ne!(after.id_hash, before.id_hash);
        assert!(after.ended_at.is_none(), "{after:?}");
        // A's access token from before the sign-in still works...
        let at_a = first["access_token"].as_str().unwrap().to_owned();
        let userinfo = |at: String| {
            let app = &app;
            async move {
                app.http
                    .get(app.url("/userinfo"))
                    .bearer_auth(at)
                    .send()
                    .await
                    .unwrap()
                    .status()
            }
        };
        assert_eq!(userinfo(at_a.clone()).await, StatusCode::OK);
        // ...until the user logs out of the (renewed) session: both clients
        // are told, with the sid they hold, and A's grant is revoked.
        let r = app
            .http
            .get(app.url(&format!("/logout?id_token_hint={id_b}")))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
        let ta = rp.wait_for("a", 1).await;
        let tb = rp.wait_for("b", 1).await;
        check_logout_of(&app, &ta[0], &a.id, &id_a).await;
        check_logout_of(&app, &tb[0], &b.id, &id_b).await;
        assert_eq!(userinfo(at_a).await, StatusCode::UNAUTHORIZED);
    }
);

both_backends!(
    the_account_page_ending_a_session_notifies,
    |backend| async move {
        let (app, _) = server(backend, None).await;
        let rp = Rp::start().await;
        flow::user(&app, "alice").await;
        let a = client(&app, Some(rp.uri("a")), false).await;
        let id_a = sign_in_to(&app, &app.http, &a).await;
        let sid = claims_of(&id_a)["sid"].as_str().unwrap().to_owned();
        // Another browser ends that session on the account page.
        let other = crate::account::signed_in(&app, "alice", "other").await;
        let html = other
            .get(app.url("/account"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = hidden(&html, "csrf_token");
        let r = other
            .post(app.url("/account/sessions/end"))
            .form(&[("csrf_token", csrf.as_str()), ("session_id", sid.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let t = rp.wait_for("a", 1).await;
        check_logout_of(&app, &t[0], &a.id, &id_a).await;
    }
);

both_backends!(
    an_operator_ending_the_sessions_notifies,
    |backend| async move {
        let (app, _) = server(backend, None).await;
        let rp = Rp::start().await;
        flow::user(&app, "alice").await;
        let a = client(&app, Some(rp.uri("a")), false).await;
        let id1 = sign_in_to(&app, &app.http, &a).await;
        let second = crate::account::browser("second");
        let id2 = sign_in_to(&app, &second, &a).await;
        // One session (`portcullis session end`), then all (`session end --user`).
        let sid1 = claims_of(&id1)["sid"].as_str().unwrap().to_owned();
        portcullis::app::sessions::end(app.state.store.as_ref(), app.state.clock.as_ref(), &sid1)
            .await
            .unwrap();
        let t = rp.wait_for("a", 1).await;
        check_logout_of(&app, &t[0], &a.id, &id1).await;
        let (_, ended) = portcullis::app::sessions::end_all(
            app.state.store.as_ref(),
            app.state.clock.as_ref(),
            app.state.config.auth.session_idle,
            portcullis::app::users::UserRef::Username("alice"),
        )
        .await
        .unwrap();
        assert_eq!(ended.len(), 1);
        let t = rp.wait_for("a", 2).await;
        check_logout_of(&app, &t[1], &a.id, &id2).await;
    }
);

both_backends!(disabling_the_user_notifies, |backend| async move {
    let (app, _) = server(backend, None).await;
    let rp = Rp::start().await;
    flow::user(&app, "alice").await;
    let a = client(&app, Some(rp.uri("a")), false).await;
    let id_a = sign_in_to(&app, &app.http, &a).await;
    portcullis::app::operator::set_disabled(
        app.state.store.as_ref(),
        app.state.clock.as_ref(),
        "alice",
        true,
    )
    .await
    .unwrap();
    let t = rp.wait_for("a", 1).await;
    check_logout_of(&app, &t[0], &a.id, &id_a).await;
});

both_backends!(a_new_password_notifies, |backend| async move {
    let (app, _) = server(backend, None).await;
    let rp = Rp::start().await;
    flow::user(&app, "alice").await;
    let a = client(&app, Some(rp.uri("a")), false).await;
    let id_a = sign_in_to(&app, &app.http, &a).await;
    portcullis::app::users::set_password(
        app.state.store.as_ref(),
        app.state.passwords.as_ref(),
        app.state.clock.as_ref(),
        portcullis::app::users::UserRef::Username("alice"),
        "a brand new passphrase",
    )
    .await
    .unwrap();
    let t = rp.wait_for("a", 1).await;
    check_logout_of(&app, &t[0], &a.id, &id_a).await;
});

both_backends!(
    a_failing_client_gets_it_on_a_retry_and_blocks_no_other,
    |backend| async move {
        let clock = Arc::new(FixedClock::at(Utc::now()));
        let (app, events) = server(backend, Some(clock.clone())).await;
        let rp = Rp::start().await;
        rp.answer("down", Answer::FailFirst(1));
        flow::user(&app, "alice").await;
        let down = client(&app, Some(rp.uri("down")), false).await;
        let up = client(&app, Some(rp.uri("up")), false).await;
        let id_down = sign_in_to(&app, &app.http, &down).await;
        sign_in_to(&app, &app.http, &up).await;
        let r = app
            .http
            .get(app.url(&format!("/logout?id_token_hint={id_down}")))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        // The one that is up is delivered at once; the other failed once.
        rp.wait_for("up", 1).await;
        let first = rp.wait_for("down", 1).await;
        for _ in 0..100 {
            if !events
                .of_kind(EventKind::BackchannelLogoutFailed)
                .is_empty()
            {
                break;
            }
            tokio::time::sleep(StdDuration::from_millis(50)).await;
        }
        let failed = events.of_kind(EventKind::BackchannelLogoutFailed);
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].client_id(), Some(down.id.as_str()));
        assert_eq!(
            failed[0].detail_value(DetailKey::Reason),
            Some("status 503")
        );
        // Not retried before its backoff (5 s) is over...
        tokio::time::sleep(StdDuration::from_millis(1500)).await;
        assert_eq!(rp.tokens("down").len(), 1);
        // ...and then it is, with the same jti.
        clock.advance(chrono::Duration::seconds(6));
        let again = rp.wait_for("down", 2).await;
        let c1 = check_logout_of(&app, &first[0], &down.id, &id_down).await;
        let c2 = check_logout_of(&app, &again[1], &down.id, &id_down).await;
        assert_eq!(c1["jti"], c2["jti"], "§2.4: the same jti on a retry");
        // Delivered: nothing is pending.
        let mut pending = Vec::new();
        for _ in 0..100 {
            pending = app
                .state
                .store
                .deliveries()
                .list_deliveries(DeliveryFilter::Pending, 10)
                .await
                .unwrap();
            if pending.is_empty() {
                break;
            }
            tokio::time::sleep(StdDuration::from_millis(50)).await;
        }
        assert!(pending.is_empty(), "{pending:?}");
    }
);

both_backends!(
    a_hanging_client_delays_neither_the_logout_nor_the_others,
    |backend| async move {
        let (app, _) = server(backend, None).await;
        let rp = Rp::start().await;
        rp.answer("slow", Answer::Hang);
        flow::user(&app, "alice").await;
        let slow = client(&app, Some(rp.uri("slow")), false).await;
        let fast = client(&app, Some(rp.uri("fast")), false).await;
        let id_slow = sign_in_to(&app, &app.http, &slow).await;
        sign_in_to(&app, &app.http, &fast).await;
        let r = app
            .http
            .get(app.url(&format!("/logout?id_token_hint={id_slow}")))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        // The logout answered before any attempt was made.
        let queued = app
            .state
            .store
            .deliveries()
            .list_deliveries(DeliveryFilter::All, 10)
            .await
            .unwrap();
        assert_eq!(queued.len(), 2);
        assert!(
            queued
                .iter()
                .all(|d| d.attempts == 0 && d.last_error.is_none())
        );
        // The slow one holds its request; the fast one is delivered meanwhile.
        rp.wait_for("slow", 1).await;
        let t = rp.wait_for("fast", 1).await;
        verify(&app, &t[0], &fast.id).await;
        // A later logout is not held up either.
        let other = crate::account::browser("other");
        let id_later = sign_in_to(&app, &other, &fast).await;
        let r = other
            .get(app.url(&format!("/logout?id_token_hint={id_later}")))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        let t = rp.wait_for("fast", 2).await;
        check_logout_of(&app, &t[1], &fast.id, &id_later).await;
        assert_eq!(rp.tokens("slow").len(), 1, "still held");
        rp.gate.add_permits(10);
    }
);

both_backends!(
    a_delivery_is_abandoned_after_the_maximum_age,
    |backend| async move {
        let clock = Arc::new(FixedClock::at(Utc::now()));
        let (app, events) = server(backend, Some(clock.clone())).await;
        let rp = Rp::start().await;
        rp.answer("down", Answer::FailFirst(1000));
        flow::user(&app, "alice").await;
        let down = client(&app, Some(rp.uri("down")), false).await;
        let id_down = sign_in_to(&app, &app.http, &down).await;
        let r = app
            .http
            .get(app.url(&format!("/logout?id_token_hint={id_down}")))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        rp.wait_for("down", 1).await;
        // The failed attempt is recorded before the clock moves.
        for _ in 0..100 {
            if !events
                .of_kind(EventKind::BackchannelLogoutFailed)
                .is_empty()
            {
                break;
            }
            tokio::time::sleep(StdDuration::from_millis(50)).await;
        }
        // Past PORTCULLIS_DELIVERY_MAX_AGE_SECS (one day by default).
        let max_age = app.state.config.auth.delivery_max_age;
        clock.advance(max_age + chrono::Duration::seconds(1));
        let mut abandoned = Vec::new();
        for _ in 0..200 {
            abandoned = app
                .state
                .store
                .deliveries()
                .list_deliveries(DeliveryFilter::Abandoned, 10)
                .await
                .unwrap();
            if !abandoned.is_empty() {
                break;
            }
            tokio::time::sleep(StdDuration::from_millis(50)).await;
        }
        let all = app
            .state
            .store
            .deliveries()
            .list_deliveries(DeliveryFilter::All, 10)
            .await
            .unwrap();
        assert_eq!(abandoned.len(), 1, "{all:?} now {}", clock_now(&app));
        assert!(abandoned[0].delivered_at.is_none());
        assert_eq!(rp.tokens("down").len(), 1, "not tried again");
        let via: Vec<_> = events
            .of_kind(EventKind::BackchannelLogoutFailed)
            .iter()
            .filter(|e| e.detail_value(DetailKey::Via) == Some("abandoned"))
            .map(|e| e.client_id().map(str::to_owned))
            .collect();
        assert_eq!(via, vec![Some(down.id.clone())]);
        // Nothing is due any more.
        clock.advance(chrono::Duration::hours(1));
        tokio::time::sleep(StdDuration::from_millis(1500)).await;
        assert_eq!(rp.tokens("down").len(), 1);
    }
);

both_backends!(
    an_operator_lists_the_deliveries_with_their_last_error,
    |backend| async move {
        use portcullis::ports::deliveries::Delivery;
        use portcullis::ports::prelude::*;
        let db = crate::helpers::TestDb::new(backend).await;
        let store = db.store().await;
        let now = chrono::Utc::now();
        for (id, url) in [
            ("d-down", "https://down.example/bcl"),
            ("d-ok", "https://ok.example/bcl"),
        ] {
            let d = Delivery::new(
                id.into(),
                "backchannel_logout",
                None,
                url.into(),
                r#"{"jti":"x","sid":"s"}"#.into(),
                now,
            );
            assert!(store.deliveries().enqueue_delivery(&d).await.unwrap());
        }
        store
            .deliveries()
            .mark_delivery_failed(
                "d-down",
                3,
                now + chrono::Duration::seconds(40),
                "status 503",
            )
            .await
            .unwrap();
        store
            .deliveries()
            .mark_delivered("d-ok", now)
            .await
            .unwrap();
        let cli = |args: &[&str]| {
            let out = crate::cli::portcullis(&db, args, None);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        };
        let all: Vec<Value> = serde_json::from_str(&cli(&["delivery", "list", "--json"])).unwrap();
        assert_eq!(all.len(), 2);
        let pending: Vec<Value> =
            serde_json::from_str(&cli(&["delivery", "list", "--pending", "--json"])).unwrap();
        assert_eq!(pending.len(), 1, "{pending:?}");
        assert_eq!(pending[0]["id"], "d-down");
        assert_eq!(pending[0]["status"], "pending");
        assert_eq!(pending[0]["attempts"], 3);
        assert_eq!(pending[0]["last_error"], "status 503");
        assert_eq!(pending[0]["url"], "https://down.example/bcl");
        let text = cli(&["delivery", "list"]);
        assert!(
            text.contains("d-down") && text.contains("status 503"),
            "{text}"
        );
        assert!(text.contains("delivered"), "{text}");
    }
);
