//! Scale-out (docs/SCALING.md): two instances on one PostgreSQL database
//! share clients and keys. A client registered or changed through one is
//! used by the other without a restart, within the client-cache TTL.

use std::time::Duration;

use portcullis::adapters::system::{OsRng, SystemClock};
use portcullis::startup::App;
use portcullis::state::AppState;
use reqwest::StatusCode;

use crate::flow;
use crate::helpers::{Backend, TestApp, spawn_app_with, test_config, test_overrides};

const TTL: Duration = Duration::from_secs(1);

/// A second instance on the first one's database and data directory, with
/// the same issuer (as behind a load balancer), on its own port.
struct Instance {
    url: String,
    _state: AppState,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn second_instance(first: &TestApp) -> Instance {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = test_config(&first.db, addr);
    config.issuer.clone_from(&first.issuer);
    config.client_cache_ttl = TTL;
    let app = App::build(config, listener, test_overrides())
        .await
        .unwrap();
    let state = app.state().clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async move {
        let _ = rx.await;
    }));
    Instance {
        url: format!("http://{addr}"),
        _state: state,
        _stop: tx,
    }
}

async fn client_credentials(
    http: &reqwest::Client,
    base: &str,
    id: &str,
    secret: &str,
) -> reqwest::Response {
    http.post(format!("{base}/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
}

/// Polls `check` until it holds, for at most `TTL` plus a margin.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + TTL * 5;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within the cache TTL"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_registered_or_rotated_through_one_instance_is_used_by_the_other() {
    let a = spawn_app_with(Backend::Postgres, |c| c.client_cache_ttl = TTL).await;
    let b = second_instance(&a).await;
    let http = &a.http;

    let mut req = flow::client_req(false);
    req.grant_types = vec!["client_credentials".into()];
    req.resource_server = true; // it introspects below (RFC 7662 §2.1)
    let client = flow::register(&a, req).await;
    let old = client.secret.clone().unwrap();

    // Registered through A, used at B at once: an unknown client is never
    // cached, so B reads it from the shared database.
    let r = client_credentials(http, &b.url, &client.id, &old).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let issued_by_b: serde_json::Value = r.json().await.unwrap();

    // Keys are shared too: A verifies what B signed.
    let r = http
        .post(a.url("/introspect"))
        .basic_auth(&client.id, Some(&old))
        .form(&[("token", issued_by_b["access_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["active"], true, "{v}");

    // Rotated through A (B has the client cached now): B takes the new
    // secret and refuses the old one within the TTL, without a restart.
    let new = portcullis::app::clients::rotate_client_secret(
        a.state.store.as_ref(),
        &OsRng,
        &SystemClock,
        &client.id,
        0,
    )
    .await
    .unwrap()
    .secret;
    let r = client_credentials(http, &a.url(""), &client.id, &new).await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "A invalidated its own cache entry"
    );
    eventually("B accepts the new secret", || async {
        client_credentials(http, &b.url, &client.id, &new)
            .await
            .status()
            == StatusCode::OK
    })
    .await;
    let r = client_credentials(http, &b.url, &client.id, &old).await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "B refuses the old secret"
    );

    // Deleted through A: B stops serving it within the TTL.
    assert!(
        a.state
            .store
            .clients()
            .delete_client(&portcullis::domain::ClientId::parse(&client.id).unwrap())
            .await
            .unwrap()
    );
    eventually("B forgets the deleted client", || async {
        client_credentials(http, &b.url, &client.id, &new)
            .await
            .status()
            == StatusCode::UNAUTHORIZED
    })
    .await;
}
