//! Client assertions (`private_key_jwt`, RFC 7523 §3,
//! draft-ietf-oauth-rfc7523bis; issue 14 item 5): a `jti` is single use by
//! ONE unique insert, so that parallel uses of one assertion give exactly
//! one success; `aud` is the issuer or the token endpoint and nothing else;
//! `exp` is required and bounded (`client_auth::ASSERTION_MAX_LIFETIME`);
//! `nbf` and `iat` are checked with a bounded skew
//! (`client_auth::ASSERTION_CLOCK_SKEW`).

use std::sync::Arc;

use josekit::jwk::KeyPair as _;
use josekit::jws::{ES256, JwsHeader};
use josekit::jwt::JwtPayload;
use portcullis::adapters::db::{self, SeaStore};
use portcullis::app::operator::NewClient;
use portcullis::factory::Overrides;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::flow::register;
use crate::helpers::{Backend, TestApp, TestDb, spawn_app_with_overrides, test_overrides};

struct Service {
    id: String,
    key: josekit::jwk::Jwk,
}

/// Registers a `client_credentials` client with a fresh ES256 key.
async fn service(app: &TestApp) -> Service {
    let pair = ES256.generate_key_pair().unwrap();
    let mut key = pair.to_jwk_key_pair();
    key.set_key_id("k1");
    let mut public = pair.to_jwk_public_key();
    public.set_key_id("k1");
    let jwks = json!({ "keys": [Value::Object(public.as_ref().clone())] }).to_string();
    let c = register(
        app,
        NewClient {
            name: "Service".into(),
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["api:read".into()],
            auth_method: Some("private_key_jwt".into()),
            jwks: Some(jwks),
            ..NewClient::default()
        },
    )
    .await;
    Service { id: c.id, key }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .try_into()
        .unwrap()
}

/// A signed assertion: the usual claims (aud the issuer, 60 s), then
/// `changes` (a null removes the claim).
fn assertion(app: &TestApp, s: &Service, jti: &str, changes: &Value) -> String {
    let t = now();
    let mut claims = json!({
        "iss": s.id, "sub": s.id, "aud": app.issuer, "jti": jti, "iat": t, "exp": t + 60,
    });
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    let Value::Object(map) = claims else {
        unreachable!()
    };
    let payload = JwtPayload::from_map(map).unwrap();
    let mut header = JwsHeader::new();
    header.set_key_id("k1");
    let signer = ES256.signer_from_jwk(&s.key).unwrap();
    josekit::jwt::encode_with_signer(&payload, &header, &signer).unwrap()
}

async fn token(app: &TestApp, s: &Service, assertion: &str) -> (StatusCode, Value) {
    let r = app
        .http
        .post(app.url("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", s.id.as_str()),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
        ])
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap_or_default())
}

/// A server whose database answers reads of the revoked-token table slowly
/// (each such SELECT holds its caller 100 ms), so that a check-then-insert
/// would let several parallel uses of one `jti` through: the single use must
/// come from the one INSERT alone.
async fn slow_reads_app(backend: Backend) -> TestApp {
    spawn_app_with_overrides(
        backend,
        |_| {},
        async |tdb: &TestDb| {
            let mut conn = db::connect(&tdb.url).await.unwrap();
            db::migrate(&conn).await.unwrap();
            conn.set_metric_callback(|info| {
                let sql = &info.statement.sql;
                if sql.starts_with("SELECT") && sql.contains("revoked_access_tokens") {
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
            });
            Overrides {
                store: Some(Arc::new(SeaStore::new(conn))),
                ..test_overrides()
            }
        },
    )
    .await
}

async fn twenty_parallel_uses(backend: Backend) {
    let app = slow_reads_app(backend).await;
    let s = service(&app).await;
    let a = assertion(&app, &s, "once", &json!({}));
    let answers = futures_util::future::join_all((0..20).map(|_| token(&app, &s, &a))).await;
    let ok = answers
        .iter()
        .filter(|(st, _)| *st == StatusCode::OK)
        .count();
    assert_eq!(ok, 1, "exactly one use wins: {answers:?}");
    for (st, body) in answers.iter().filter(|(st, _)| *st != StatusCode::OK) {
        assert_eq!(
            (*st, body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_client")),
            "{body}"
        );
    }
    // And later, once more: still a replay.
    let (st, _) = token(&app, &s, &a).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
}

/// `both_backends!` with more worker threads: the requests must really run
/// at once.
mod twenty_parallel_uses_of_one_assertion_give_exactly_one_success {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 8)]
    async fn sqlite() {
        twenty_parallel_uses(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 8)]
    async fn postgres() {
        twenty_parallel_uses(Backend::Postgres).await;
    }
}

both_backends!(
    assertion_audience_lifetime_and_times_are_checked,
    |backend| async move {
        let app = crate::helpers::spawn_app(backend).await;
        let s = service(&app).await;
        let t = now();
        let token_url = app.url("/token");
        let refused = [
            (
                "an array with a foreign value",
                json!({"aud": [app.issuer, "https://rs.example"]}),
            ),
            ("a foreign audience", json!({"aud": "https://rs.example"})),
            ("no exp", json!({"exp": null})),
            ("a lifetime of 30 minutes", json!({"exp": t + 1800})),
            (
                "a lifetime of 10 minutes, iat long ago",
                json!({"iat": t - 540, "exp": t + 60}),
            ),
            ("nbf in 10 minutes", json!({"nbf": t + 600, "exp": t + 240})),
            ("iat in 10 minutes", json!({"iat": t + 600})),
            (
                "expired a minute ago",
                json!({"iat": t - 120, "exp": t - 60}),
            ),
        ];
        for (i, (why, changes)) in refused.iter().enumerate() {
            let (st, body) = token(&app, &s, &assertion(&app, &s, &format!("r{i}"), changes)).await;
            assert_eq!(
                (st, body["error"].as_str()),
                (StatusCode::UNAUTHORIZED, Some("invalid_client")),
                "{why}: {body}"
            );
        }
        let accepted = [
            ("the issuer", json!({})),
            ("the token endpoint", json!({"aud": token_url})),
            ("both, as an array", json!({"aud": [app.issuer, token_url]})),
            ("nbf now, a small skew", json!({"nbf": t + 5, "iat": t + 5})),
            ("no iat, five minutes", json!({"iat": null, "exp": t + 290})),
        ];
        for (i, (why, changes)) in accepted.iter().enumerate() {
            let (st, body) = token(&app, &s, &assertion(&app, &s, &format!("a{i}"), changes)).await;
            assert_eq!(st, StatusCode::OK, "{why}: {body}");
        }
    }
);
