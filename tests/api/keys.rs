//! Signing keys in local mode, the JWK Set, discovery, rotation across two
//! instances (every mode), and `portcullis keys`. Signatures are checked
//! with the `openidconnect` crate (a relying party's code), never ours.

use std::future::Future;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{SubsecRound as _, Utc};
use openidconnect::core::{
    CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKeySet, CoreJwsSigningAlgorithm,
    CoreProviderMetadata,
};
use openidconnect::{ClientId, IssuerUrl, JsonWebKey as _, Nonce};
use portcullis::config::{Config, KeyConfig};
use portcullis::domain::KeyState;
use portcullis::factory::{self, Overrides};
use portcullis::ports::prelude::*;
use portcullis::ports::{JwsAlg, KeyError};
use portcullis::startup::App;
use portcullis::state::AppState;
use portcullis::testing::FixedClock;
use serde_json::{Map, Value, json};

use crate::both_backends;
use crate::helpers::{Backend, TestDb, spawn_app, test_config, test_overrides};

// ---- harness ---------------------------------------------------------------

/// One server instance on a database that others may share.
pub struct Instance {
    pub issuer: String,
    pub state: AppState,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl Instance {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }
}

/// Starts an instance on `db` (its data directory, hence its master key,
/// is shared by every instance on `db`).
pub async fn start_instance(
    db: &TestDb,
    overrides: Overrides,
    adjust: impl FnOnce(&mut Config),
) -> anyhow::Result<Instance> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let mut config = test_config(db, addr);
    adjust(&mut config);
    let issuer = config.issuer.clone();
    let app = App::build(config, listener, overrides).await?;
    let state = app.state().clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async move {
        let _ = rx.await;
    }));
    Ok(Instance {
        issuer,
        state,
        _shutdown: tx,
    })
}

/// Claims of an ID token for the relying party `rp` (OIDC Core §2).
pub fn id_token_claims(issuer: &str) -> Map<String, Value> {
    let now = Utc::now().timestamp();
    let Value::Object(m) = json!({
        "iss": issuer,
        "sub": "user-1",
        "aud": "rp",
        "iat": now,
        "exp": now + 300,
        "nonce": "n-0S6_WzA2Mj",
    }) else {
        unreachable!()
    };
    m
}

/// The JOSE header of a compact JWS.
pub fn header_of(token: &str) -> Value {
    let h = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).unwrap()).unwrap()
}

/// The `kid` a token was signed with.
pub fn kid_of(token: &str) -> String {
    header_of(token)["kid"].as_str().unwrap().to_owned()
}

pub async fn fetch_jwks(url: &str) -> CoreJsonWebKeySet {
    let body = reqwest::get(url).await.unwrap().bytes().await.unwrap();
    serde_json::from_slice(&body).unwrap()
}

fn core_alg(alg: &str) -> CoreJwsSigningAlgorithm {
    match alg {
        "ES256" => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        "RS256" => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        "PS256" => CoreJwsSigningAlgorithm::RsaSsaPssSha256,
        other => panic!("unexpected alg {other}"),
    }
}

/// Verifies `token` the way a relying party does: `openidconnect`'s ID
/// token verifier with the JWK Set fetched from the server.
pub fn verify_as_relying_party(jwks: &CoreJsonWebKeySet, issuer: &str, token: &str) {
    let alg = header_of(token)["alg"].as_str().unwrap().to_owned();
    let verifier = CoreIdTokenVerifier::new_public_client(
        ClientId::new("rp".into()),
        IssuerUrl::new(issuer.into()).unwrap(),
        jwks.clone(),
    )
    .set_allowed_algs([core_alg(&alg)]);
    let id_token: CoreIdToken = token.parse().unwrap();
    let claims = id_token
        .claims(&verifier, &Nonce::new("n-0S6_WzA2Mj".into()))
        .unwrap_or_else(|e| panic!("{alg} token rejected by openidconnect: {e}"));
    assert_eq!(claims.subject().as_str(), "user-1");
}

/// Checks only the signature, with `openidconnect`'s JWK code.
pub fn signature_verifies(jwks: &CoreJsonWebKeySet, token: &str) -> bool {
    let header = header_of(token);
    let kid = header["kid"].as_str().unwrap();
    let Some(key) = jwks
        .keys()
        .iter()
        .find(|k| k.key_id().is_some_and(|id| id.as_str() == kid))
    else {
        return false;
    };
    let (input, sig) = token.rsplit_once('.').unwrap();
    let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
    key.verify_signature(
        &core_alg(header["alg"].as_str().unwrap()),
        input.as_bytes(),
        &sig,
    )
    .is_ok()
}

/// Polls `check` for up to ten seconds.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting until {what}");
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

// ---- JWKS and discovery ----------------------------------------------------

both_backends!(
    fresh_server_publishes_ec_and_rsa_keys,
    |backend| async move {
        let app = spawn_app(backend).await;
        let resp = app.http.get(app.url("/jwks")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let h = resp.headers().clone();
        assert_eq!(h["content-type"], "application/jwk-set+json");
        let cache = h["cache-control"].to_str().unwrap();
        assert!(cache.starts_with("public, max-age="), "{cache}");
        let etag = h["etag"].to_str().unwrap().to_owned();
        let body = resp.bytes().await.unwrap();

        // RFC 7517 §5; every key with kid, alg, use=sig and no private member.
        let v: Value = serde_json::from_slice(&body).unwrap();
        let keys = v["keys"].as_array().unwrap();
        for k in keys {
            assert_eq!(k["use"], "sig");
            assert!(k["kid"].is_string());
            for private in ["d", "p", "q", "dp", "dq", "qi"] {
                assert!(k.get(private).is_none(), "{private} published");
            }
        }
        let algs: Vec<(&str, &str)> = keys
            .iter()
            .map(|k| (k["kty"].as_str().unwrap(), k["alg"].as_str().unwrap()))
            .collect();
        assert!(algs.contains(&("EC", "ES256")), "{algs:?}");
        assert!(algs.contains(&("RSA", "RS256")), "{algs:?}");
        assert!(algs.contains(&("RSA", "PS256")), "{algs:?}");
        let set: CoreJsonWebKeySet = serde_json::from_slice(&body).unwrap();
        assert_eq!(set.keys().len(), keys.len());

        // Same document at the well-known alias.
        let alias = app
            .http
            .get(app.url("/.well-known/jwks.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(alias.bytes().await.unwrap(), body);

        // Conditional GET (RFC 9110 §13.1.2).
        let again = app
            .http
            .get(app.url("/jwks"))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304);
        assert_eq!(again.headers()["etag"], etag.as_str());
        assert!(again.bytes().await.unwrap().is_empty());
        let other = app
            .http
            .get(app.url("/jwks"))
            .header("if-none-match", "\"stale\"")
            .send()
            .await
            .unwrap();
        assert_eq!(other.status(), 200);
    }
);

both_backends!(discovery_is_parsed_by_openidconnect, |backend| async move {
    let app = spawn_app(backend).await;
    let resp = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["cache-control"]
            .to_str()
            .unwrap()
            .starts_with("public")
    );
    let body = resp.bytes().await.unwrap();
    let parsed: CoreProviderMetadata = serde_json::from_slice(&body).unwrap();
    assert_eq!(parsed.issuer().as_str(), app.issuer);

    // The relying party's own discovery: fetches the document and the JWK
    // Set, and checks that the issuer matches (Discovery §4.3).
    let rp_http = openidconnect::reqwest::Client::builder()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let meta =
        CoreProviderMetadata::discover_async(IssuerUrl::new(app.issuer.clone()).unwrap(), &rp_http)
            .await
            .unwrap();
    assert_eq!(meta.jwks_uri().as_str(), app.url("/jwks"));
    assert!(meta.jwks().keys().len() >= 3);
    let algs = meta.id_token_signing_alg_values_supported();
    assert!(algs.contains(&CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256));
    assert!(algs.contains(&CoreJwsSigningAlgorithm::EcdsaP256Sha256));

    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(v["response_modes_supported"], json!(["query", "form_post"]));
    assert_eq!(v["revocation_endpoint"], json!(app.url("/revoke")));
    assert_eq!(v["end_session_endpoint"], json!(app.url("/logout")));
});

// ---- local signing ---------------------------------------------------------

both_backends!(
    local_tokens_verify_against_the_published_jwks,
    |backend| async move {
        let app = spawn_app(backend).await;
        assert_eq!(
            app.state.keys.signing_algs(),
            vec![JwsAlg::Rs256, JwsAlg::Es256, JwsAlg::Ps256]
        );
        let jwks = fetch_jwks(&app.url("/jwks")).await;
        for alg in [JwsAlg::Es256, JwsAlg::Rs256, JwsAlg::Ps256] {
            let token = app
                .state
                .keys
                .sign_jwt(alg, "JWT", &id_token_claims(&app.issuer))
                .await
                .unwrap();
            let h = header_of(&token);
            assert_eq!(h["alg"], alg.as_str());
            assert_eq!(h["typ"], "JWT");
            verify_as_relying_party(&jwks, &app.issuer, &token);
            assert!(signature_verifies(&jwks, &token));
            // And our own verification agrees.
            let claims = app.state.keys.verify_jwt(&token).unwrap();
            assert_eq!(claims["sub"], "user-1");
        }
    }
);

both_backends!(verification_refuses_forged_tokens, |backend| async move {
    let app = spawn_app(backend).await;
    let keys = &app.state.keys;
    let claims = id_token_claims(&app.issuer);
    let es = keys
        .sign_jwt(JwsAlg::Es256, "at+jwt", &claims)
        .await
        .unwrap();
    let rs = keys.sign_jwt(JwsAlg::Rs256, "JWT", &claims).await.unwrap();
    let parts: Vec<&str> = es.split('.').collect();
    let enc = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());

    // A changed payload.
    let mut forged = claims.clone();
    forged.insert("sub".into(), "admin".into());
    let t = format!("{}.{}.{}", parts[0], enc(&Value::Object(forged)), parts[2]);
    assert!(matches!(keys.verify_jwt(&t), Err(KeyError::Invalid(_))));

    // The algorithm comes from the key, never the header (RFC 8725 §3.1).
    let kid = kid_of(&es);
    for alg in ["none", "HS256", "RS256"] {
        let h = enc(&json!({"alg": alg, "kid": kid, "typ": "JWT"}));
        let t = format!("{h}.{}.{}", parts[1], parts[2]);
        assert!(
            matches!(keys.verify_jwt(&t), Err(KeyError::Invalid(_))),
            "{alg}"
        );
        let t = format!("{h}.{}.", parts[1]);
        assert!(matches!(keys.verify_jwt(&t), Err(KeyError::Invalid(_))));
    }
    // An ES256 signature presented under the RS256 key.
    let rs_kid = kid_of(&rs);
    let h = enc(&json!({"alg": "RS256", "kid": rs_kid, "typ": "JWT"}));
    let t = format!("{h}.{}.{}", parts[1], parts[2]);
    assert!(matches!(keys.verify_jwt(&t), Err(KeyError::Invalid(_))));
    // Unknown kid, garbage.
    let h = enc(&json!({"alg": "ES256", "kid": "nope"}));
    let t = format!("{h}.{}.{}", parts[1], parts[2]);
    assert!(matches!(keys.verify_jwt(&t), Err(KeyError::Invalid(_))));
    for junk in ["", "a.b", "a.b.c.d", "....", &"x".repeat(70_000)] {
        assert!(matches!(keys.verify_jwt(junk), Err(KeyError::Invalid(_))));
    }
    assert!(keys.verify_jwt(&es).is_ok());
});

both_backends!(
    local_private_keys_are_sealed_at_rest,
    |backend| async move {
        use aes_gcm::aead::{Aead, KeyInit, Payload};
        use openssl::pkey::PKey;

        let app = spawn_app(backend).await;
        let master_path = app.data_dir().join("master.key");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&master_path)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "master.key must be 0600");
        }
        let master = base64::engine::general_purpose::STANDARD
            .decode(std::fs::read_to_string(&master_path).unwrap().trim())
            .unwrap();
        let cipher = aes_gcm::Aes256Gcm::new_from_slice(&master).unwrap();

        let rows = app
            .state
            .store
            .signing_keys()
            .list_signing_keys()
            .await
            .unwrap();
        assert_eq!(rows.len(), 3);
        for row in rows {
            assert_eq!(row.backend, "local");
            assert_eq!(row.state, KeyState::Active);
            let sealed = row.private_key_sealed.clone().unwrap();
            assert!(!sealed.contains("PRIVATE KEY"), "PEM in the clear");
            // Open it independently: AES-256-GCM, nonce || ciphertext, kid as AAD.
            let blob = base64::engine::general_purpose::STANDARD
                .decode(sealed.strip_prefix("aes256gcm.v1:").unwrap())
                .unwrap();
            let (nonce, ct) = blob.split_at(12);
            let der = cipher
                .decrypt(
                    &aes_gcm::Nonce::try_from(nonce).unwrap(),
                    Payload {
                        msg: ct,
                        aad: row.kid.as_bytes(),
                    },
                )
                .unwrap();
            let pkey = PKey::private_key_from_pkcs8(&der).unwrap();
            // The private scalar / exponent, as a JWK `d` would carry it.
            let d = match row.alg.as_str() {
                "ES256" => pkey.ec_key().unwrap().private_key().to_vec(),
                _ => pkey.rsa().unwrap().d().to_vec(),
            };
            for encoded in [
                URL_SAFE_NO_PAD.encode(&d),
                base64::engine::general_purpose::STANDARD.encode(&d),
                hex::encode(&d),
                base64::engine::general_purpose::STANDARD.encode(&der),
            ] {
                assert!(!sealed.contains(&encoded), "private key in the clear");
                assert!(!row.public_jwk.contains(&encoded));
            }
            // The stored row is bound to its kid: under another kid it does not open.
            assert!(
                cipher
                    .decrypt(
                        &aes_gcm::Nonce::try_from(nonce).unwrap(),
                        Payload {
                            msg: ct,
                            aad: b"another-kid"
                        }
                    )
                    .is_err()
            );
        }
    }
);

both_backends!(
    a_different_master_key_fails_start_up,
    |backend| async move {
        let db = TestDb::new(backend).await;
        let first = start_instance(&db, test_overrides(), |_| {}).await.unwrap();
        drop(first);
        let master = db.dir.path().join("data").join("master.key");
        std::fs::remove_file(&master).unwrap();
        let err = start_instance(&db, test_overrides(), |_| {})
            .await
            .err()
            .expect("start-up must fail");
        let msg = format!("{err:#}");
        assert!(msg.contains("another master key"), "{msg}");
    }
);

both_backends!(instances_starting_together_converge, |backend| async move {
    let db = TestDb::new(backend).await;
    db.store().await; // migrated first: concurrent migrations are not the subject here
    let (a, b) = tokio::join!(
        start_instance(&db, test_overrides(), |_| {}),
        start_instance(&db, test_overrides(), |_| {})
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    a.state.keys.refresh().await.unwrap();
    b.state.keys.refresh().await.unwrap();
    let claims = id_token_claims(&a.issuer);
    for alg in JwsAlg::ALL {
        let ta = a.state.keys.sign_jwt(alg, "JWT", &claims).await.unwrap();
        let tb = b.state.keys.sign_jwt(alg, "JWT", &claims).await.unwrap();
        assert_eq!(kid_of(&ta), kid_of(&tb), "{alg}");
        b.state.keys.verify_jwt(&ta).unwrap();
    }
    let rows = a
        .state
        .store
        .signing_keys()
        .list_signing_keys()
        .await
        .unwrap();
    for alg in JwsAlg::ALL {
        let active = rows
            .iter()
            .filter(|r| r.alg == alg.as_str() && r.state == KeyState::Active)
            .count();
        assert_eq!(active, 1, "{alg}");
    }
});

// ---- rotation across two instances -----------------------------------------

/// What differs between modes in the rotation scenario.
pub struct ModeSetup {
    pub keys: KeyConfig,
    pub kms: Option<aws_sdk_kms::Client>,
    /// KMS direct: the KMS key the operator rotates ES256 to.
    pub new_es256_kms_key: Option<String>,
}

fn overrides(clock: &Arc<FixedClock>, kms: Option<aws_sdk_kms::Client>) -> Overrides {
    Overrides {
        clock: Some(clock.clone()),
        kms,
        ..test_overrides()
    }
}

/// `portcullis keys rotate --alg ES256` while two instances run; they pick
/// up the `next` key, switch to it together after the pre-publication
/// period without a restart, and keep the old key published until every
/// token it signed has expired.
pub async fn rotation_across_two_instances(backend: Backend, setup: ModeSetup) {
    let db = TestDb::new(backend).await;
    let clock = Arc::new(FixedClock::at(Utc::now().trunc_subsecs(0)));
    let keys = setup.keys.clone();
    let adjust = move |c: &mut Config| {
        c.keys = keys;
        c.key_rotation.refresh_interval = Duration::from_secs(1);
    };
    let a = start_instance(&db, overrides(&clock, setup.kms.clone()), adjust.clone())
        .await
        .unwrap();
    let b = start_instance(&db, overrides(&clock, setup.kms.clone()), adjust)
        .await
        .unwrap();
    let rotation = a.state.config.key_rotation;
    let claims = id_token_claims(&a.issuer);
    let alg = JwsAlg::Es256;
    let old_token = a.state.keys.sign_jwt(alg, "JWT", &claims).await.unwrap();
    let old = kid_of(&old_token);
    let tb = b.state.keys.sign_jwt(alg, "JWT", &claims).await.unwrap();
    assert_eq!(kid_of(&tb), old, "both instances sign with the same key");

    let new = schedule_rotation(&a, &clock, &setup, alg).await;

    // Published by both instances (background refresh) before it signs.
    for inst in [&a, &b] {
        let url = inst.url("/jwks");
        let kid = new.kid.clone();
        eventually("the next key is published", || {
            let (url, kid) = (url.clone(), kid.clone());
            async move { jwks_kids(&url).await.contains(&kid) }
        })
        .await;
        let t = inst.state.keys.sign_jwt(alg, "JWT", &claims).await.unwrap();
        assert_eq!(kid_of(&t), old, "a next key does not sign");
    }

    // After the pre-publication period both switch, without a restart.
    clock.advance(
        chrono::Duration::from_std(rotation.prepublish).unwrap() + chrono::Duration::seconds(1),
    );
    for inst in [&a, &b] {
        let keys = inst.state.keys.clone();
        let claims = claims.clone();
        let kid = new.kid.clone();
        eventually("the new key signs", || {
            let (keys, claims, kid) = (keys.clone(), claims.clone(), kid.clone());
            async move { kid_of(&keys.sign_jwt(alg, "JWT", &claims).await.unwrap()) == kid }
        })
        .await;
    }
    let rows = a
        .state
        .store
        .signing_keys()
        .list_signing_keys()
        .await
        .unwrap();
    let old_row = rows.iter().find(|r| r.kid == old).unwrap();
    assert_eq!(old_row.state, KeyState::Retired);
    assert_eq!(
        old_row.expires_at.unwrap(),
        old_row.retired_at.unwrap() + chrono::Duration::from_std(rotation.max_token_ttl).unwrap()
    );
    assert_eq!(
        rows.iter()
            .filter(|r| r.alg == "ES256" && r.state == KeyState::Active)
            .count(),
        1
    );
    // The old key is still published: its tokens still verify, on both
    // instances and for a relying party.
    for inst in [&a, &b] {
        inst.state.keys.verify_jwt(&old_token).unwrap();
        let jwks = fetch_jwks(&inst.url("/jwks")).await;
        assert!(signature_verifies(&jwks, &old_token));
        let fresh = inst
            .state
            .keys
            .sign_jwt(alg, "JWT", &id_token_claims(&inst.issuer))
            .await
            .unwrap();
        verify_as_relying_party(&jwks, &inst.issuer, &fresh);
    }

    old_key_expires(&[&a, &b], &clock, &old, &old_token).await;
}

/// The operator rotates (what `portcullis keys rotate` does).
async fn schedule_rotation(
    a: &Instance,
    clock: &Arc<FixedClock>,
    setup: &ModeSetup,
    alg: JwsAlg,
) -> portcullis::domain::SigningKeyRecord {
    let rotation = a.state.config.key_rotation;
    let operator = factory::build_key_ring(
        &a.state.config,
        a.state.store.clone(),
        clock.clone(),
        setup.kms.clone(),
    )
    .await
    .unwrap();
    let new = operator
        .rotate(alg, setup.new_es256_kms_key.as_deref(), false)
        .await
        .unwrap();
    assert_eq!(new.state, KeyState::Next);
    assert_eq!(
        new.activates_at,
        clock.now() + chrono::Duration::from_std(rotation.prepublish).unwrap()
    );
    let again = operator
        .rotate(alg, setup.new_es256_kms_key.as_deref(), false)
        .await;
    assert!(
        matches!(again, Err(KeyError::BadRequest(_))),
        "one pending rotation at a time"
    );

    new
}

/// Once every token it signed has expired, the old key leaves the JWK Set.
async fn old_key_expires(instances: &[&Instance], clock: &FixedClock, old: &str, old_token: &str) {
    let rotation = instances[0].state.config.key_rotation;
    clock.advance(
        chrono::Duration::from_std(rotation.max_token_ttl).unwrap() + chrono::Duration::seconds(1),
    );
    for inst in instances {
        let url = inst.url("/jwks");
        let old = old.to_owned();
        eventually("the retired key leaves the JWK Set", || {
            let (url, old) = (url.clone(), old.clone());
            async move { !jwks_kids(&url).await.contains(&old) }
        })
        .await;
        assert!(matches!(
            inst.state.keys.verify_jwt(old_token),
            Err(KeyError::Invalid(_))
        ));
    }
    assert!(
        !instances[0]
            .state
            .store
            .signing_keys()
            .list_signing_keys()
            .await
            .unwrap()
            .iter()
            .any(|r| r.kid == old),
        "expired keys are purged"
    );
}

both_backends!(local_rotation_across_two_instances, |backend| async move {
    rotation_across_two_instances(
        backend,
        ModeSetup {
            keys: KeyConfig::Local,
            kms: None,
            new_es256_kms_key: None,
        },
    )
    .await;
});

both_backends!(
    immediate_rotation_skips_prepublication,
    |backend| async move {
        let db = TestDb::new(backend).await;
        let clock = Arc::new(FixedClock::at(Utc::now().trunc_subsecs(0)));
        let a = start_instance(&db, overrides(&clock, None), |_| {})
            .await
            .unwrap();
        let before = a
            .state
            .keys
            .sign_jwt(JwsAlg::Rs256, "JWT", &id_token_claims(&a.issuer))
            .await
            .unwrap();
        let operator =
            factory::build_key_ring(&a.state.config, a.state.store.clone(), clock.clone(), None)
                .await
                .unwrap();
        clock.advance(chrono::Duration::seconds(1));
        let new = operator.rotate(JwsAlg::Rs256, None, true).await.unwrap();
        assert_eq!(new.state, KeyState::Active);
        a.state.keys.refresh().await.unwrap();
        let after = a
            .state
            .keys
            .sign_jwt(JwsAlg::Rs256, "JWT", &id_token_claims(&a.issuer))
            .await
            .unwrap();
        assert_eq!(kid_of(&after), new.kid);
        a.state.keys.verify_jwt(&before).unwrap();
        // A KMS key id makes no sense in local mode.
        assert!(matches!(
            operator.rotate(JwsAlg::Es256, Some("arn:x"), false).await,
            Err(KeyError::BadRequest(_))
        ));
    }
);

// ---- CLI -------------------------------------------------------------------

fn portcullis(db: &TestDb, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .current_dir(db.dir.path())
        .env("PORTCULLIS_DATABASE_URL", &db.url)
        .env("PORTCULLIS_DATA_DIR", db.dir.path().join("data"))
        .env_remove("PORTCULLIS_KMS_MODE")
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

both_backends!(keys_cli_lists_and_rotates, |backend| async move {
    let db = TestDb::new(backend).await;
    let app = start_instance(&db, test_overrides(), |_| {}).await.unwrap();

    let listed: Value =
        serde_json::from_str(ok(&portcullis(&db, &["keys", "list", "--json"])).trim()).unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 3);
    for k in listed {
        assert_eq!(k["state"], "active");
        assert_eq!(k["backend"], "local");
        assert!(k.get("private_key_sealed").is_none());
    }
    let table = ok(&portcullis(&db, &["keys", "list"]));
    assert!(
        table.lines().count() == 4 && table.contains("ES256"),
        "{table}"
    );

    let out = ok(&portcullis(
        &db,
        &["keys", "rotate", "--alg", "ES256", "--json"],
    ));
    let rotated: Value = serde_json::from_str(out.trim()).unwrap();
    let new = &rotated[0];
    assert_eq!(new["alg"], "ES256");
    assert_eq!(new["state"], "next");
    let new_kid = new["kid"].as_str().unwrap().to_owned();
    // The running server publishes it after a refresh; still signs with the old key.
    app.state.keys.refresh().await.unwrap();
    assert!(jwks_kids(&app.url("/jwks")).await.contains(&new_kid));
    let t = app
        .state
        .keys
        .sign_jwt(JwsAlg::Es256, "JWT", &id_token_claims(&app.issuer))
        .await
        .unwrap();
    assert_ne!(kid_of(&t), new_kid);

    // A second rotation while one is pending is refused, and changes nothing.
    let out = portcullis(&db, &["keys", "rotate", "--alg", "ES256"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already has a next key"), "{err}");
    let out = portcullis(&db, &["keys", "rotate", "--alg", "HS256"]);
    assert!(!out.status.success());
    assert_eq!(
        app.state
            .store
            .signing_keys()
            .list_signing_keys()
            .await
            .unwrap()
            .len(),
        4
    );
});
