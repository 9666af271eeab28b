//! Security alerts to SQS (issue 20, item 2; docs/EVENTS.md, "Security
//! alerts") against the emulator (moto) at PORTCULLIS_TEST_KMS_ENDPOINT,
//! which serves SQS as well; each test creates its own queue. An
//! unreachable emulator FAILS the tests. Every SET is verified with
//! `jsonwebtoken` (an independent JOSE implementation) against the JWK Set
//! the server publishes.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::QueueAttributeName;
use portcullis::adapters::sqs::{DEDUP_ATTRIBUTE, EVENT_TYPE_ATTRIBUTE, client_for_emulator};
use portcullis::config::Config;
use portcullis::domain::ClientId;
use portcullis::domain::UserId;
use portcullis::domain::alert::AlertType;
use portcullis::domain::event::{Event, LoginFailureReason, TokenKind};
use portcullis::ports::deliveries::{Delivery, DeliveryFilter, SECURITY_ALERT};
use portcullis::state::AppState;
use reqwest::Method;
use serde_json::json;

use crate::admin::{admin_token, call};
use crate::both_backends;
use crate::flow;
use crate::helpers::{TestApp, jwks_of, spawn_app_full, test_overrides, verify_set as verify};
use crate::keys::{kid_of, start_instance};
use crate::kms::kms_endpoint;

fn sqs() -> aws_sdk_sqs::Client {
    client_for_emulator(&kms_endpoint())
}

/// Creates a queue of its own in the emulator (FIFO when `fifo`).
async fn create_queue(fifo: bool) -> String {
    let name = format!(
        "portcullis-alerts-{}{}",
        uuid::Uuid::new_v4().simple(),
        if fifo { ".fifo" } else { "" }
    );
    let mut req = sqs().create_queue().queue_name(&name);
    if fifo {
        req = req.attributes(QueueAttributeName::FifoQueue, "true");
    }
    let out = req.send().await.unwrap_or_else(|e| {
        panic!(
            "the SQS emulator at {} is required (scripts/test starts it): {}",
            kms_endpoint(),
            DisplayErrorContext(&e)
        )
    });
    out.queue_url().unwrap().to_owned()
}

/// A message as the consumer sees it.
#[derive(Debug)]
struct Received {
    set: String,
    dedup_id: String,
    event_type: String,
}

/// Receives (and deletes) from `queue` until `want` messages came or
/// `within` passed.
async fn receive(queue: &str, want: usize, within: Duration) -> Vec<Received> {
    let deadline = tokio::time::Instant::now() + within;
    let mut got = Vec::new();
    while got.len() < want && tokio::time::Instant::now() < deadline {
        let out = sqs()
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .visibility_timeout(600)
            .message_attribute_names("All")
            .send()
            .await
            .unwrap();
        for m in out.messages() {
            let attr = |name: &str| {
                m.message_attributes()
                    .and_then(|a| a.get(name))
                    .and_then(|v| v.string_value())
                    .unwrap_or_default()
                    .to_owned()
            };
            got.push(Received {
                set: m.body().unwrap().to_owned(),
                dedup_id: attr(DEDUP_ATTRIBUTE),
                event_type: attr(EVENT_TYPE_ATTRIBUTE),
            });
            // Consumed: a FIFO queue holds back the rest of a group while a
            // message of it is in flight.
            sqs()
                .delete_message()
                .queue_url(queue)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    got
}

/// The alerts queued in the outbox of `state`.
async fn queued_alerts(state: &AppState) -> Vec<Delivery> {
    state
        .store
        .deliveries()
        .list_deliveries(DeliveryFilter::All, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.kind == SECURITY_ALERT)
        .collect()
}

/// Polls `check` until it holds, for up to `secs` seconds.
async fn wait_until<F, Fut>(what: &str, secs: u64, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Creates a client through the admin API (an `admin_change`); the
/// request must complete.
async fn create_client(app: &TestApp, name: &str) {
    let token = admin_token(app).await;
    let (s, body) = call(
        app,
        Method::POST,
        "/admin/v1/clients",
        &token,
        Some(json!({"client_name": name, "grant_types": ["client_credentials"]})),
    )
    .await;
    assert!(s.is_success(), "{body}");
}

fn stamp(state: &AppState) -> portcullis::domain::event::EventStamp {
    state.rng.event_stamp(state.clock.now())
}

/// Emits the high-severity events that no admin call raises, as the
/// server's handlers build them; returns their ids by event type URI.
fn emit_attacks(state: &AppState) -> BTreeMap<String, String> {
    let client = ClientId::parse("victim-app").unwrap();
    let user = UserId::new("user-1");
    let mut ids = BTreeMap::new();
    for (alert, event) in [
        (
            AlertType::RefreshTokenReuse,
            Event::refresh_token_reuse_detected(stamp(state), &client).subject(&user),
        ),
        (
            AlertType::AuthorizationCodeReplay,
            Event::authorization_code_replayed(stamp(state), &client),
        ),
        (
            AlertType::AccountLocked,
            Event::login_failed(stamp(state), LoginFailureReason::Locked).subject(&user),
        ),
    ] {
        // The alert's id: the event id, or its lockout window's.
        ids.insert(alert.uri(), portcullis::app::alerts::delivery_id(&event));
        state.events.emit(event);
    }
    ids
}

both_backends!(
    every_high_severity_event_reaches_the_queue_as_a_signed_set,
    |backend| async move {
        let queue = create_queue(false).await;
        let mut overrides = test_overrides();
        overrides.sqs = Some(sqs());
        let url = queue.clone();
        let app = spawn_app_full(
            backend,
            move |c: &mut Config| {
                c.alerts.sqs_queue_url = Some(url);
                c.alerts.audience = Some("security-team".into());
            },
            overrides,
        )
        .await;
        // Through the admin API, as an operator does: a signing key revoked
        // (the one that signed the admin's token), a client created.
        let token = admin_token(&app).await;
        let kid = kid_of(&token);
        let path = format!("/admin/v1/keys/{kid}/revoke");
        let (s, body) = call(&app, Method::POST, &path, &token, Some(json!({}))).await;
        assert_eq!(s, 200, "{body}");
        create_client(&app, "New").await;
        // A relying party's tokens misused over HTTP: a refresh token
        // reused and a code replayed (and, of low severity, a wrong password,
        // a failed client authentication, a revocation).
        let signed_in = flow::sign_in(&app).await;
        flow::misuse_and_revoke(&app, &signed_in).await;
        // As the handlers emit them: a locked account, an operator's MFA
        // reset, and more events of low severity that must not be sent.
        let mut ids = BTreeMap::new();
        let locked = Event::login_failed(stamp(&app.state), LoginFailureReason::Locked)
            .subject(&UserId::new("user-1"));
        ids.insert(
            AlertType::AccountLocked.uri(),
            portcullis::app::alerts::delivery_id(&locked),
        );
        app.state.events.emit(locked);
        // The same account refused again in its lockout window: no second
        // alert (one per account and window).
        let again = Event::login_failed(stamp(&app.state), LoginFailureReason::Locked)
            .subject(&UserId::new("user-1"));
        app.state.events.emit(again);
        let user = UserId::new("user-2");
        let reset = Event::mfa_removed(stamp(&app.state), &user, "all", "operator", 2);
        ids.insert(AlertType::MfaReset.uri(), reset.event_id().to_string());
        app.state.events.emit(reset);
        let client = ClientId::parse("victim-app").unwrap();
        for low in [
            Event::login_failed(stamp(&app.state), LoginFailureReason::BadPassword),
            Event::login_succeeded(stamp(&app.state), &user),
            Event::mfa_removed(stamp(&app.state), &user, "totp", "account", 1),
            Event::token_revoked(stamp(&app.state), &client, TokenKind::RefreshToken),
        ] {
            app.state.events.emit(low);
        }
        app.state.events.flush().await.unwrap();

        let received = receive(&queue, AlertType::ALL.len(), Duration::from_mins(1)).await;
        assert_eq!(received.len(), AlertType::ALL.len(), "{received:#?}");
        let jwks = jwks_of(&app.issuer).await;
        let mut by_type = BTreeMap::new();
        for m in &received {
            let claims = verify(&jwks, &app.issuer, Some("security-team"), &m.set);
            assert_eq!(claims["jti"], m.dedup_id.as_str(), "dedup id is the jti");
            let events = claims["events"].as_object().unwrap();
            assert_eq!(events.len(), 1, "{claims}");
            let (uri, payload) = events.iter().next().unwrap();
            assert_eq!(uri, &m.event_type);
            // The alert's id is its event's, but for account-locked, whose
            // id is its lockout window's (one alert per window).
            if m.event_type == AlertType::AccountLocked.uri() {
                assert!(m.dedup_id.starts_with("locked:"), "{claims}");
            } else {
                assert_eq!(payload["event_id"], m.dedup_id.as_str(), "{claims}");
            }
            assert!(claims["toe"].as_i64().is_some(), "{claims}");
            by_type.insert(uri.clone(), (claims.clone(), payload.clone()));
        }
        let all: BTreeSet<String> = AlertType::ALL.iter().map(|a| a.uri()).collect();
        assert_eq!(by_type.keys().cloned().collect::<BTreeSet<_>>(), all);
        for (uri, id) in &ids {
            assert_eq!(&by_type[uri].0["jti"], id, "{uri}");
        }
        let (_, revoked) = &by_type[&AlertType::SigningKeyRevoked.uri()];
        assert_eq!(revoked["kind"], "admin_change");
        assert_eq!(revoked["detail"]["action"], "key_revoked");
        assert_eq!(revoked["detail"]["target"], kid.as_str());
        let (_, created) = &by_type[&AlertType::AdminChange.uri()];
        assert_eq!(created["kind"], "admin_change");
        for (alert, kind) in [
            (AlertType::RefreshTokenReuse, "refresh_token_reuse_detected"),
            (
                AlertType::AuthorizationCodeReplay,
                "authorization_code_replayed",
            ),
        ] {
            let (claims, payload) = &by_type[&alert.uri()];
            assert_eq!(payload["kind"], kind);
            assert_eq!(payload["client_id"], signed_in.client.id.as_str());
            assert_eq!(payload["error_code"], "invalid_grant");
            // The request that caused it, as the transaction id.
            assert_eq!(claims["txn"], payload["request_id"], "{claims}");
            assert!(claims["txn"].is_string(), "{claims}");
        }
        let (_, locked) = &by_type[&AlertType::AccountLocked.uri()];
        assert_eq!(locked["detail"]["reason"], "locked");
        let (_, reset) = &by_type[&AlertType::MfaReset.uri()];
        assert_eq!(reset["detail"]["via"], "operator");

        // The low-severity events were never queued, and nothing else
        // arrives.
        assert_eq!(queued_alerts(&app.state).await.len(), AlertType::ALL.len());
        assert!(receive(&queue, 1, Duration::from_secs(2)).await.is_empty());
    }
);

/// A TCP proxy in front of the emulator that can be taken down: while
/// down it closes every connection it accepts and those it carried.
struct Proxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    carried: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start_down(target: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(false));
        let carried: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let (is_up, conns) = (up.clone(), carried.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                if !is_up.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let handle = tokio::spawn(async move {
                    if let Ok(mut out) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                });
                conns.lock().unwrap().push(handle.abort_handle());
            }
        });
        Self {
            addr,
            up,
            carried,
            task,
        }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
        if !up {
            for h in self.carried.lock().unwrap().drain(..) {
                h.abort();
            }
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

both_backends!(
    a_queue_outage_delays_alerts_loses_none_and_slows_no_request,
    |backend| async move {
        let queue = create_queue(true).await;
        let target: SocketAddr = url::Url::parse(&kms_endpoint())
            .unwrap()
            .socket_addrs(|| None)
            .unwrap()[0];
        let proxy = Proxy::start_down(target).await;
        let overrides = || {
            let mut o = test_overrides();
            o.sqs = Some(client_for_emulator(&proxy.endpoint()));
            o
        };
        let adjust = |c: &mut Config| c.alerts.sqs_queue_url = Some(queue.clone());
        let app = spawn_app_full(backend, adjust, overrides()).await;

        // The queue is down: a request that raises an alert completes.
        create_client(&app, "During the outage").await;
        let attacks = emit_attacks(&app.state);
        app.state.events.flush().await.unwrap();

        // Each alert is attempted and fails, and stays queued.
        let state = app.state.clone();
        wait_until("every alert attempted and failed", 30, || {
            let state = state.clone();
            async move {
                let q = queued_alerts(&state).await;
                q.len() == 4
                    && q.iter().all(|d| {
                        d.attempts >= 1 && d.last_error.is_some() && d.delivered_at.is_none()
                    })
            }
        })
        .await;
        let expected: BTreeSet<String> = queued_alerts(&app.state)
            .await
            .into_iter()
            .map(|d| d.id)
            .collect();
        assert!(attacks.values().all(|id| expected.contains(id)));
        assert!(receive(&queue, 1, Duration::from_secs(1)).await.is_empty());

        // A restart while the queue is down, then the queue comes back:
        // every alert arrives, each once.
        let db = app.stop();
        tokio::time::sleep(Duration::from_millis(500)).await;
        proxy.set_up(true);
        let second = start_instance(&db, overrides(), adjust).await.unwrap();
        let received = receive(&queue, expected.len(), Duration::from_mins(1)).await;
        let jwks = jwks_of(&second.issuer).await;
        let mut seen = BTreeSet::new();
        for m in &received {
            let claims = verify(&jwks, &second.issuer, None, &m.set);
            assert_eq!(claims["jti"], m.dedup_id.as_str());
            assert!(
                seen.insert(m.dedup_id.clone()),
                "sent twice: {}",
                m.dedup_id
            );
        }
        assert_eq!(seen, expected);
        assert!(receive(&queue, 1, Duration::from_secs(2)).await.is_empty());
        let state = second.state.clone();
        wait_until("every alert marked delivered", 10, || {
            let state = state.clone();
            async move {
                queued_alerts(&state)
                    .await
                    .iter()
                    .all(|d| d.delivered_at.is_some())
            }
        })
        .await;
    }
);

both_backends!(
    a_key_revoked_from_the_command_line_is_sent_as_an_alert,
    |backend| async move {
        let queue = create_queue(false).await;
        let mut overrides = test_overrides();
        overrides.sqs = Some(sqs());
        let url = queue.clone();
        let app = spawn_app_full(
            backend,
            move |c: &mut Config| c.alerts.sqs_queue_url = Some(url),
            overrides,
        )
        .await;
        // The ES256 key: the alerts are signed with RS256, which stays.
        let keys = app
            .state
            .store
            .signing_keys()
            .list_signing_keys()
            .await
            .unwrap();
        let kid = keys.iter().find(|k| k.alg == "ES256").unwrap().kid.clone();
        // The command queues the alert in the shared outbox; the server's
        // worker sends it.
        let out = crate::cli::portcullis_with_env(
            &app.db,
            &["keys", "revoke", &kid],
            &[("PORTCULLIS_ALERTS_SQS_QUEUE_URL", queue.as_str())],
            None,
        );
        crate::cli::ok(&out);
        let received = receive(&queue, 1, Duration::from_mins(1)).await;
        assert_eq!(received.len(), 1, "{received:#?}");
        let claims = verify(
            &jwks_of(&app.issuer).await,
            &app.issuer,
            None,
            &received[0].set,
        );
        let payload = &claims["events"][AlertType::SigningKeyRevoked.uri()];
        assert_eq!(payload["detail"]["target"], kid.as_str(), "{claims}");
        assert_eq!(payload["detail"]["initiator"], "cli", "{claims}");
    }
);
