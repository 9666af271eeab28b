//! Database statements per request on PostgreSQL (issue 9 §6; Hydra
//! publishes its queries per flow the same way). Every statement sea-orm
//! runs goes through the connection's metric callback, which records it;
//! each endpoint is called once warm and its count compared with its
//! budget (docs/BENCHMARKS.md, "Queries per request"). BEGIN and COMMIT are
//! not statements sea-orm reports, so a unit of work adds one round trip
//! each for them on top of the counts here.

use std::sync::{Arc, Mutex};

use portcullis::adapters::db::{self, SeaStore};
use portcullis::factory::Overrides;
use reqwest::StatusCode;

use crate::flow::{self, CHALLENGE, REDIRECT, VERIFIER};
use crate::helpers::{Backend, TestApp, TestDb, spawn_app_with_overrides, test_overrides};

/// The budget of each endpoint: at most this many statements per request.
pub const BUDGETS: &[(&str, usize)] = &[
    ("GET /.well-known/openid-configuration", 0),
    ("GET /jwks", 0),
    ("POST /token client_credentials (first: client read)", 1),
    ("POST /token client_credentials (warm)", 0),
    ("GET /authorize (no session)", 0),
    ("POST /login", 7),
    ("POST /consent", 8),
    ("POST /token authorization_code", 5),
    ("GET /userinfo", 3),
    // revoked jti, grant, and the user (a disabled user's tokens are
    // inactive, as at /userinfo).
    ("POST /introspect (JWT access token)", 3),
    ("POST /token refresh_token (rotation)", 5),
    ("POST /revoke (JWT access token)", 4),
];

fn budget(name: &str) -> usize {
    BUDGETS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or_else(|| panic!("no budget for {name}"), |(_, b)| *b)
}

/// The statements run since the last call.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

impl Recorder {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

async fn counting_app() -> (TestApp, Recorder) {
    let rec = Recorder::default();
    let sink = rec.clone();
    let app = spawn_app_with_overrides(
        Backend::Postgres,
        |_| {},
        async move |tdb: &TestDb| {
            let mut conn = db::connect(&tdb.url).await.unwrap();
            db::migrate(&conn).await.unwrap();
            let sink = sink.clone();
            conn.set_metric_callback(move |info| {
                // The outbox workers poll in the background (app::outbox,
                // app::backchannel): their statements belong to no request.
                if info.statement.sql.contains(r#"FROM "mail_outbox""#)
                    || info.statement.sql.contains(r#""outbound_deliveries""#)
                {
                    return;
                }
                sink.0.lock().unwrap().push(info.statement.sql.clone());
            });
            Overrides {
                store: Some(Arc::new(SeaStore::new(conn))),
                ..test_overrides()
            }
        },
    )
    .await;
    (app, rec)
}

/// Counts per endpoint; the test fails at the end with every overrun.
#[derive(Default)]
struct Tally(Vec<(String, usize, Vec<String>)>);

impl Tally {
    fn record(&mut self, name: &str, rec: &Recorder) {
        let stmts = rec.take();
        self.0.push((name.to_owned(), stmts.len(), stmts));
    }

    fn check(&self) {
        let mut over = Vec::new();
        for (name, n, stmts) in &self.0 {
            let b = budget(name);
            println!("{name}: {n} statement(s) (budget {b})");
            for sql in stmts {
                println!("    {}", sql.chars().take(90).collect::<String>());
            }
            if *n > b {
                over.push(format!(
                    "{name}: {n} statements, budget {b}:\n  {}",
                    stmts.join("\n  ")
                ));
            }
        }
        assert!(
            over.is_empty(),
            "over budget (docs/BENCHMARKS.md):\n{}",
            over.join("\n")
        );
        assert_eq!(self.0.len(), BUDGETS.len(), "every endpoint was measured");
    }
}

// One walk through every endpoint, in the order a client uses them.
#[allow(clippy::too_many_lines)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_per_request_stay_within_budget_on_postgres() {
    let (app, rec) = counting_app().await;
    let mut req = flow::client_req(false);
    req.grant_types.push("client_credentials".into());
    req.resource_server = true; // it introspects below (RFC 7662 §2.1)
    let client = flow::register(&app, req).await;
    let secret = client.secret.clone().unwrap();
    flow::user(&app, "alice").await;
    let mut tally = Tally::default();
    let post_token = |form: Vec<(&'static str, String)>| {
        app.http
            .post(app.url("/token"))
            .basic_auth(&client.id, Some(&secret))
            .form(&form)
            .send()
    };

    // Public documents: served from memory.
    for (name, path) in [
        (
            "GET /.well-known/openid-configuration",
            "/.well-known/openid-configuration",
        ),
        ("GET /jwks", "/jwks"),
    ] {
        rec.take();
        let r = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        tally.record(name, &rec);
    }

    // client_credentials: one read of the client, then none while cached.
    for name in [
        "POST /token client_credentials (first: client read)",
        "POST /token client_credentials (warm)",
    ] {
        rec.take();
        let r = post_token(vec![("grant_type", "client_credentials".into())])
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
        tally.record(name, &rec);
    }

    // The authorization-code flow, step by step.
    let query = {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        ser.append_pair("response_type", "code")
            .append_pair("client_id", &client.id)
            .append_pair("redirect_uri", REDIRECT)
            .append_pair("scope", "openid profile offline_access")
            .append_pair("state", "st")
            .append_pair("nonce", "n")
            .append_pair("code_challenge", CHALLENGE)
            .append_pair("code_challenge_method", "S256")
            .append_pair("prompt", "consent");
        ser.finish()
    };
    rec.take();
    let page = flow::get_authorize(&app, &query).await;
    assert_eq!(page.status(), StatusCode::OK);
    tally.record("GET /authorize (no session)", &rec);
    let html = page.text().await.unwrap();
    rec.take();
    let resp = flow::login(&app, &html, "alice", flow::PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::OK, "the consent page");
    tally.record("POST /login", &rec);
    let html = resp.text().await.unwrap();
    rec.take();
    let resp = flow::consent(&app, &html, "allow").await;
    tally.record("POST /consent", &rec);
    let params = flow::redirect_params(&resp);
    let code = flow::param(&params, "code").unwrap().to_owned();
    rec.take();
    let r = post_token(vec![
        ("grant_type", "authorization_code".into()),
        ("code", code),
        ("redirect_uri", REDIRECT.into()),
        ("code_verifier", VERIFIER.into()),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    tally.record("POST /token authorization_code", &rec);
    let tokens: serde_json::Value = r.json().await.unwrap();
    let at = tokens["access_token"].as_str().unwrap().to_owned();
    let rt = tokens["refresh_token"].as_str().unwrap().to_owned();

    rec.take();
    let r = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    tally.record("GET /userinfo", &rec);

    rec.take();
    let r = app
        .http
        .post(app.url("/introspect"))
        .basic_auth(&client.id, Some(&secret))
        .form(&[("token", at.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["active"], true);
    tally.record("POST /introspect (JWT access token)", &rec);

    rec.take();
    let r = post_token(vec![
        ("grant_type", "refresh_token".into()),
        ("refresh_token", rt),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    tally.record("POST /token refresh_token (rotation)", &rec);

    rec.take();
    let r = app
        .http
        .post(app.url("/revoke"))
        .basic_auth(&client.id, Some(&secret))
        .form(&[("token", at.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    tally.record("POST /revoke (JWT access token)", &rec);

    tally.check();
}
