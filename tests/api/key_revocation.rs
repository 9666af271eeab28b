//! The emergency revocation of a signing key (issue 15, docs/KEYS.md
//! "Revoking a compromised key"): the key leaves the JWK Set at once,
//! every token it signed is refused by our own verification (userinfo,
//! introspection, `id_token_hint`) and by a relying party that fetched the
//! changed JWK Set; signing never stops; other instances follow within
//! `PORTCULLIS_KEY_REFRESH_SECS`; bad requests change nothing.

use std::time::Duration;

use openidconnect::core::{CoreIdToken, CoreIdTokenVerifier};
use openidconnect::{ClientId, IssuerUrl, Nonce};
use portcullis::app::keys as key_admin;
use portcullis::domain::{KeyState, SigningKeyRecord};
use portcullis::ports::{JwsAlg, KeyError, KeyRevocation};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::flow::TestClient;
use crate::helpers::{TestApp, TestDb, spawn_app, test_overrides};
use crate::keys::{Instance, eventually, fetch_jwks, kid_of, start_instance};
use crate::token::{basic, code_with_scope, exchange, setup, token};

/// What `portcullis keys revoke KID` and `POST /admin/v1/keys/{kid}/revoke`
/// call, on `app`'s own state.
pub async fn revoke(app: &TestApp, kid: &str) -> Result<KeyRevocation, KeyError> {
    key_admin::revoke(&key_admin::KeyServices::of(&app.state), kid, None).await
}

async fn rows(app: &TestApp) -> Vec<SigningKeyRecord> {
    app.state
        .store
        .signing_keys()
        .list_signing_keys()
        .await
        .unwrap()
}

async fn jwks_kids(url: &str) -> Vec<String> {
    let v: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// The `kid` the server signs `alg` with now.
async fn signer_kid(app: &TestApp, alg: JwsAlg) -> String {
    let claims = crate::keys::id_token_claims(&app.issuer);
    kid_of(&app.state.keys.sign_jwt(alg, "JWT", &claims).await.unwrap())
}

fn auth(c: &TestClient) -> String {
    basic(&c.id, c.secret.as_deref().unwrap())
}

async fn userinfo(app: &TestApp, at: &str) -> reqwest::Response {
    app.http
        .get(app.url("/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap()
}

async fn introspect(app: &TestApp, c: &TestClient, at: &str) -> Value {
    app.http
        .post(app.url("/introspect"))
        .header("authorization", auth(c))
        .form(&[("token", at)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A resource-server client and alice's tokens (`openid profile
/// offline_access`): access token, refresh token, ID token.
async fn tokens(app: &TestApp) -> (TestClient, String, String, String) {
    let c = setup(app).await;
    let code = code_with_scope(app, &c, "openid profile offline_access").await;
    let (s, _, t) = token(app, Some(&auth(&c)), &exchange(&code)).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let field = |n: &str| t[n].as_str().unwrap().to_owned();
    (
        c,
        field("access_token"),
        field("refresh_token"),
        field("id_token"),
    )
}

async fn assert_refused(app: &TestApp, c: &TestClient, at: &str) {
    let r = userinfo(app, at).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "userinfo");
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_token\"")
    );
    assert_eq!(introspect(app, c, at).await, json!({"active": false}));
}

async fn assert_accepted(app: &TestApp, c: &TestClient, at: &str) {
    assert_eq!(userinfo(app, at).await.status(), StatusCode::OK, "userinfo");
    assert_eq!(introspect(app, c, at).await["active"], true);
}

both_backends!(
    tokens_of_a_revoked_key_are_refused_at_once,
    |backend| async move {
        let app = spawn_app(backend).await;
        let (c, at, rt, id_token) = tokens(&app).await;
        assert_accepted(&app, &c, &at).await;
        let kid = kid_of(&at);
        assert!(jwks_kids(&app.url("/jwks")).await.contains(&kid));

        let done = revoke(&app, &kid).await.unwrap();
        assert_eq!(done.revoked.kid, kid);
        assert_eq!(done.revoked.state, KeyState::Revoked);
        assert!(done.revoked.revoked_at.is_some());
        let replacement = done
            .replacement
            .expect("the active signer is replaced before it is revoked");
        assert_eq!(replacement.state, KeyState::Active);
        assert_eq!(replacement.alg, "ES256");

        // Gone from the JWK Set at once (the fast path serves the ring's
        // bytes: no refresh, no restart), at both addresses.
        for path in ["/jwks", "/.well-known/jwks.json"] {
            let kids = jwks_kids(&app.url(path)).await;
            assert!(!kids.contains(&kid), "{path}: {kids:?}");
            assert!(kids.contains(&replacement.kid), "{path}: {kids:?}");
        }
        // Refused by userinfo and introspection from now on.
        assert_refused(&app, &c, &at).await;

        // The database says so: revoked, never to be purged, one active
        // ES256 key.
        let stored = rows(&app).await;
        let row = stored.iter().find(|r| r.kid == kid).unwrap();
        assert_eq!(row.state, KeyState::Revoked);
        assert_eq!(row.expires_at, None);
        assert_eq!(
            stored
                .iter()
                .filter(|r| r.alg == "ES256" && r.state == KeyState::Active)
                .count(),
            1
        );

        // Signing never stopped: the refresh token (opaque, not signed)
        // still works and its new access token, signed by the replacement,
        // is accepted.
        let (s, _, t) = token(
            &app,
            Some(&auth(&c)),
            &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{t}");
        let fresh = t["access_token"].as_str().unwrap();
        assert_eq!(kid_of(fresh), replacement.kid);
        assert_accepted(&app, &c, fresh).await;

        // The ID token was signed by the RS256 key, which is not revoked.
        app.state.keys.verify_jwt(&id_token).unwrap();
    }
);

both_backends!(
    an_id_token_hint_of_a_revoked_key_is_refused,
    |backend| async move {
        let app = spawn_app(backend).await;
        let (_c, _at, _rt, id_token) = tokens(&app).await;
        let kid = kid_of(&id_token);
        revoke(&app, &kid).await.unwrap();
        let r = app
            .http
            .get(app.url(&format!("/logout?id_token_hint={id_token}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(r.headers().get("location").is_none());
    }
);

both_backends!(
    a_relying_party_refuses_an_id_token_of_a_revoked_key,
    |backend| async move {
        let app = spawn_app(backend).await;
        let (c, _at, _rt, id_token) = tokens(&app).await;
        let rp_verifies = |jwks| {
            let verifier = CoreIdTokenVerifier::new_confidential_client(
                ClientId::new(c.id.clone()),
                openidconnect::ClientSecret::new(c.secret.clone().unwrap()),
                IssuerUrl::new(app.issuer.clone()).unwrap(),
                jwks,
            );
            let parsed: CoreIdToken = id_token.parse().unwrap();
            parsed
                .claims(&verifier, &Nonce::new("n-456".into()))
                .map(|claims| claims.subject().as_str().to_owned())
        };
        // Before: the relying party accepts it against the published set.
        let before = fetch_jwks(&app.url("/jwks")).await;
        assert!(rp_verifies(before).is_ok());

        revoke(&app, &kid_of(&id_token)).await.unwrap();

        // After fetching the changed set, openidconnect refuses it.
        let after = fetch_jwks(&app.url("/jwks")).await;
        let err = rp_verifies(after).expect_err("signed with a revoked key");
        assert!(
            matches!(
                err,
                openidconnect::ClaimsVerificationError::SignatureVerification(_)
            ),
            "{err:?}"
        );

        // A new ID token (signed by the replacement) passes.
        let fresh = app
            .state
            .keys
            .sign_jwt(
                JwsAlg::Rs256,
                "JWT",
                &crate::keys::id_token_claims(&app.issuer),
            )
            .await
            .unwrap();
        crate::keys::verify_as_relying_party(
            &fetch_jwks(&app.url("/jwks")).await,
            &app.issuer,
            &fresh,
        );
    }
);

both_backends!(
    revoking_an_unknown_or_revoked_kid_changes_nothing,
    |backend| async move {
        let app = spawn_app(backend).await;
        let before = rows(&app).await;
        let jwks_before = app.state.keys.jwks();
        match revoke(&app, "no-such-kid").await {
            Err(KeyError::NotFound(msg)) => assert!(msg.contains("no-such-kid"), "{msg}"),
            other => panic!("expected NotFound, got {other:?}"),
        }
        assert_eq!(rows(&app).await, before);
        assert_eq!(app.state.keys.jwks(), jwks_before);

        // A key revoked once cannot be revoked again; nothing changes.
        let kid = before
            .iter()
            .find(|r| r.alg == "PS256")
            .unwrap()
            .kid
            .clone();
        revoke(&app, &kid).await.unwrap();
        let after_first = rows(&app).await;
        match revoke(&app, &kid).await {
            Err(KeyError::Conflict(msg)) => assert!(msg.contains("already revoked"), "{msg}"),
            other => panic!("expected Conflict, got {other:?}"),
        }
        assert_eq!(rows(&app).await, after_first);
    }
);

both_backends!(
    revoking_a_next_key_needs_no_replacement,
    |backend| async move {
        let app = spawn_app(backend).await;
        let next = key_admin::rotate(
            &key_admin::KeyServices::of(&app.state),
            &key_admin::Rotation {
                alg: Some(JwsAlg::Es256),
                kms_key_id: None,
                immediately: false,
            },
        )
        .await
        .unwrap();
        assert_eq!(next.len(), 1);
        let next = &next[0];
        assert_eq!(next.state, KeyState::Next);
        assert!(jwks_kids(&app.url("/jwks")).await.contains(&next.kid));
        let active_before = signer_kid(&app, JwsAlg::Es256).await;

        let done = revoke(&app, &next.kid).await.unwrap();
        assert!(done.replacement.is_none());
        assert!(!jwks_kids(&app.url("/jwks")).await.contains(&next.kid));
        assert_eq!(signer_kid(&app, JwsAlg::Es256).await, active_before);
        // The revoked `next` key never activates, even past its time.
        app.state.keys.refresh().await.unwrap();
        assert_eq!(signer_kid(&app, JwsAlg::Es256).await, active_before);
    }
);

both_backends!(
    revoking_the_active_key_promotes_a_published_next_key,
    |backend| async move {
        let app = spawn_app(backend).await;
        let services = key_admin::KeyServices::of(&app.state);
        let next = key_admin::rotate(
            &services,
            &key_admin::Rotation {
                alg: Some(JwsAlg::Rs256),
                kms_key_id: None,
                immediately: false,
            },
        )
        .await
        .unwrap()
        .remove(0);
        let active = signer_kid(&app, JwsAlg::Rs256).await;
        let done = revoke(&app, &active).await.unwrap();
        // The key relying parties already cached becomes the signer.
        let replacement = done.replacement.unwrap();
        assert_eq!(replacement.kid, next.kid);
        assert_eq!(replacement.state, KeyState::Active);
        let t = app
            .state
            .keys
            .sign_jwt(
                JwsAlg::Rs256,
                "JWT",
                &crate::keys::id_token_claims(&app.issuer),
            )
            .await
            .unwrap();
        assert_eq!(kid_of(&t), next.kid);
    }
);

/// Another instance on the same database learns the revocation at its next
/// key refresh (every `PORTCULLIS_KEY_REFRESH_SECS`): its JWK Set drops the
/// key and its verification refuses the key's tokens, without a restart.
async fn other_instance(backend: crate::helpers::Backend) {
    let db = TestDb::new(backend).await;
    let fast = |c: &mut portcullis::config::Config| {
        c.key_rotation.refresh_interval = Duration::from_secs(1);
    };
    let a: Instance = start_instance(&db, test_overrides(), fast).await.unwrap();
    let b: Instance = start_instance(&db, test_overrides(), fast).await.unwrap();
    let claims = crate::keys::id_token_claims(&b.issuer);
    let from_b = b
        .state
        .keys
        .sign_jwt(JwsAlg::Es256, "JWT", &claims)
        .await
        .unwrap();
    let kid = kid_of(&from_b);
    a.state.keys.verify_jwt(&from_b).unwrap();

    key_admin::revoke(&key_admin::KeyServices::of(&a.state), &kid, None)
        .await
        .unwrap();
    // The instance that revoked: at once.
    assert!(a.state.keys.verify_jwt(&from_b).is_err());
    assert!(!jwks_kids(&a.url("/jwks")).await.contains(&kid));
    // The other: within its refresh interval.
    let url = b.url("/jwks");
    eventually("the other instance drops the revoked key", || {
        let (url, kid) = (url.clone(), kid.clone());
        async move { !jwks_kids(&url).await.contains(&kid) }
    })
    .await;
    assert!(matches!(
        b.state.keys.verify_jwt(&from_b),
        Err(KeyError::Invalid(_))
    ));
    let fresh = b
        .state
        .keys
        .sign_jwt(JwsAlg::Es256, "JWT", &claims)
        .await
        .unwrap();
    assert_ne!(kid_of(&fresh), kid);
    a.state.keys.verify_jwt(&fresh).unwrap();
}

both_backends!(
    other_instances_follow_a_revocation_at_their_refresh,
    |backend| async move { other_instance(backend).await }
);

// ---- CLI -------------------------------------------------------------------

fn portcullis(db: &TestDb, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .current_dir(db.dir.path())
        .env("PORTCULLIS_DATABASE_URL", &db.url)
        .env("PORTCULLIS_DATA_DIR", db.dir.path().join("data"))
        .env_remove("PORTCULLIS_KMS_MODE")
        .output()
        .unwrap()
}

both_backends!(keys_cli_revokes_a_key, |backend| async move {
    let db = TestDb::new(backend).await;
    let app = start_instance(&db, test_overrides(), |_| {}).await.unwrap();
    let claims = crate::keys::id_token_claims(&app.issuer);
    let old = app
        .state
        .keys
        .sign_jwt(JwsAlg::Es256, "JWT", &claims)
        .await
        .unwrap();
    let kid = kid_of(&old);

    let out = portcullis(&db, &["keys", "revoke", &kid]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // It says what happened: which key, that it left the JWK Set, which
    // key signs now, and when the other instances follow.
    assert!(stdout.contains(&format!("revoked {kid}")), "{stdout}");
    assert!(stdout.contains("now signs ES256"), "{stdout}");
    assert!(stdout.contains("PORTCULLIS_KEY_REFRESH_SECS"), "{stdout}");

    // `keys list` shows the state and when.
    let listed: Value =
        serde_json::from_slice(&portcullis(&db, &["keys", "list", "--json"]).stdout).unwrap();
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap()
        .clone();
    assert_eq!(row["state"], "revoked");
    assert!(row["revoked_at"].is_string(), "{row}");
    let table = String::from_utf8_lossy(&portcullis(&db, &["keys", "list"]).stdout).into_owned();
    assert!(
        table
            .lines()
            .any(|l| l.starts_with(&kid) && l.contains("revoked")),
        "{table}"
    );

    // The running server follows at its refresh.
    app.state.keys.refresh().await.unwrap();
    assert!(app.state.keys.verify_jwt(&old).is_err());

    // An unknown kid: a clear error, non-zero exit, nothing changed.
    let before = app
        .state
        .store
        .signing_keys()
        .list_signing_keys()
        .await
        .unwrap();
    let out = portcullis(&db, &["keys", "revoke", "nope"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no signing key with kid \"nope\""), "{err}");
    assert_eq!(
        app.state
            .store
            .signing_keys()
            .list_signing_keys()
            .await
            .unwrap(),
        before
    );
});
