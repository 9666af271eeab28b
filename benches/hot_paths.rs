//! The pure and near-pure pieces of the hot paths (issue 21, item 5), so
//! that a regression shows without a load run:
//!
//! - `authorize/validate`: the checks of a typical authorization request
//!   once its client is known (`authorize::verify_client_and_redirect` and
//!   `authorize::validate`);
//! - `token/user_claims`: the claims of an ID token or `/userinfo` answer
//!   (`issue::user_claims`);
//! - `token/access_token`: building and signing one ES256 `at+jwt`
//!   (`issue::access_token`, local keys);
//! - `resource/validate`: what `/userinfo` and `/introspect` do with a
//!   token before their own work (`resource::validate`: the signature, the
//!   claims, the revocation lookups), for a client-credentials token (the
//!   client, cached) and for a user's token (its grant, one SQLite read);
//! - `store/get_grant`: that revocation lookup alone (SQLite on a file,
//!   as `serve` runs it by default).
//!
//! `cargo bench --bench hot_paths -- --warm-up-time 1 --measurement-time 3`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use portcullis::app::operator::{self, NewClient, NewUser};
use portcullis::config::{Config, RawSettings};
use portcullis::domain::{Client, Grant, ScopeSet, UserId};
use portcullis::factory::{self, Overrides};
use portcullis::protocol::authorize::{self, AuthorizePolicy};
use portcullis::protocol::params::RawParams;
use portcullis::protocol::resource;
use portcullis::protocol::token::issue::{self, Principal};
use portcullis::state::AppState;

const REDIRECT: &str = "https://app.example/cb";

async fn state(dir: &std::path::Path) -> AppState {
    let config = Config::from_raw(RawSettings {
        issuer: Some("https://id.example".into()),
        database_url: Some(format!("sqlite://{}/bench.db?mode=rwc", dir.display())),
        data_dir: Some(dir.join("data").display().to_string()),
        ..RawSettings::default()
    })
    .unwrap();
    factory::build(
        config,
        Overrides {
            force_migrate: true,
            ..Overrides::default()
        },
    )
    .await
    .unwrap()
}

async fn client(state: &AppState) -> Client {
    let created = operator::create_client(
        state.store.as_ref(),
        state.rng.as_ref(),
        state.clock.as_ref(),
        NewClient {
            name: "Bench".into(),
            redirect_uris: vec![REDIRECT.into()],
            grant_types: vec![
                "authorization_code".into(),
                "refresh_token".into(),
                "client_credentials".into(),
            ],
            ..NewClient::default()
        },
        false,
    )
    .await
    .unwrap();
    created.client
}

/// One access token of `client` for `subject` (a user's with `grant_id`).
async fn sign(
    state: &AppState,
    client: &Client,
    scope: &ScopeSet,
    subject: &str,
    grant_id: Option<&str>,
) -> String {
    let who = Principal {
        subject,
        auth_time: grant_id.map(|_| Utc::now()),
        session_id: None,
        grant_id,
        acr: None,
    };
    issue::access_token(&state.token_ctx(), client, &who, scope, Utc::now())
        .await
        .unwrap()
        .0
}

fn hot_paths(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = rt.block_on(state(dir.path()));
    let client = rt.block_on(client(&state));
    let user = rt.block_on(async {
        operator::create_user(
            state.store.as_ref(),
            state.passwords.as_ref(),
            state.clock.as_ref(),
            NewUser {
                username: "alice".into(),
                email: "alice@example.com".into(),
                name: Some("Alice Example".into()),
                password: "correct horse battery staple".into(),
            },
        )
        .await
        .unwrap()
    });
    let scope = ScopeSet::parse("openid profile email").unwrap();
    let grant = Grant {
        id: state.rng.uuid_v4(),
        client_id: client.id.clone(),
        user_id: UserId::new(user.id.as_str()),
        scope: scope.clone(),
        session_id: None,
        created_at: Utc::now(),
        revoked_at: None,
    };
    rt.block_on(state.store.grants().insert_grant(&grant))
        .unwrap();

    let query = format!(
        "response_type=code&client_id={}&redirect_uri={}&scope=openid%20profile%20email\
         &state=af0ifjsldkj&nonce=n-0S6_WzA2Mj&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\
         &code_challenge_method=S256",
        client.id.as_str(),
        REDIRECT
    );
    let policy = AuthorizePolicy {
        pkce_allow_plain: false,
        require_pushed: false,
    };
    c.bench_function("authorize/validate", |b| {
        b.iter(|| {
            let params = RawParams::parse(query.as_bytes());
            let redirect = authorize::verify_client_and_redirect(&params, Some(&client)).unwrap();
            authorize::validate(&params, &client, &redirect, policy).unwrap()
        });
    });

    c.bench_function("token/user_claims", |b| {
        b.iter(|| issue::user_claims(&user, &scope));
    });

    let cid = client.id.as_str();
    c.bench_function("token/access_token", |b| {
        b.to_async(&rt)
            .iter(|| sign(&state, &client, &scope, cid, None));
    });
    let service_token = rt.block_on(sign(&state, &client, &scope, cid, None));
    let user_token = rt.block_on(sign(
        &state,
        &client,
        &scope,
        user.id.as_str(),
        Some(&grant.id),
    ));
    for (name, token) in [
        ("resource/validate/client_credentials", &service_token),
        ("resource/validate/user_grant", &user_token),
    ] {
        // Both tokens pass (a bench of a refusal would mislead).
        rt.block_on(resource::validate(&state.token_ctx(), token))
            .unwrap();
        c.bench_function(name, |b| {
            b.to_async(&rt)
                .iter(|| async { resource::validate(&state.token_ctx(), token).await.unwrap() });
        });
    }
    c.bench_function("store/get_grant", |b| {
        b.to_async(&rt)
            .iter(|| async { state.store.grants().get_grant(&grant.id).await.unwrap() });
    });
}

criterion_group!(benches, hot_paths);
criterion_main!(benches);
