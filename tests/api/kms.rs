//! The KMS modes against the emulator (moto) at PORTCULLIS_TEST_KMS_ENDPOINT,
//! started by `scripts/test`. The emulator keeps keys in memory, so every
//! test creates its own. An unreachable emulator FAILS the tests.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeySpec, KeyUsageType};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{SubsecRound as _, Utc};
use openssl::bn::{BigNum, BigNumContext};
use openssl::pkey::PKey;
use portcullis::adapters::keys::kms::client_for_emulator;
use portcullis::config::{Config, KeyConfig};
use portcullis::factory::Overrides;
use portcullis::ports::prelude::*;
use portcullis::ports::{JwsAlg, KeyError};
use portcullis::testing::FixedClock;
use serde_json::Value;

use crate::both_backends;
use crate::helpers::{TestDb, test_overrides};
use crate::keys::{
    ModeSetup, fetch_jwks, header_of, id_token_claims, kid_of, rotation_across_two_instances,
    signature_verifies, start_instance, verify_as_relying_party,
};

pub fn kms_endpoint() -> String {
    std::env::var("PORTCULLIS_TEST_KMS_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:5599".into())
}

pub fn kms() -> aws_sdk_kms::Client {
    client_for_emulator(&kms_endpoint())
}

/// Creates a KMS key in the emulator; its absence fails the test.
pub async fn create_key(spec: KeySpec, usage: KeyUsageType) -> String {
    let out = kms()
        .create_key()
        .key_spec(spec)
        .key_usage(usage)
        .description("portcullis test")
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "the KMS emulator at {} is required (scripts/test starts it): {}",
                kms_endpoint(),
                aws_sdk_kms::error::DisplayErrorContext(&e)
            )
        });
    out.key_metadata().unwrap().key_id().to_owned()
}

async fn direct_keys() -> KeyConfig {
    KeyConfig::KmsDirect {
        es256_key_id: create_key(KeySpec::EccNistP256, KeyUsageType::SignVerify).await,
        rs256_key_id: create_key(KeySpec::Rsa2048, KeyUsageType::SignVerify).await,
        wrapping_key_id: None,
    }
}

async fn envelope_keys() -> KeyConfig {
    KeyConfig::KmsEnvelope {
        wrapping_key_id: create_key(KeySpec::SymmetricDefault, KeyUsageType::EncryptDecrypt).await,
    }
}

fn with_kms(client: aws_sdk_kms::Client) -> Overrides {
    Overrides {
        kms: Some(client),
        ..test_overrides()
    }
}

fn set_keys(keys: KeyConfig) -> impl FnOnce(&mut Config) {
    move |c| c.keys = keys
}

/// A port nothing listens on.
async fn closed_port_url() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}

/// A TCP proxy in front of the emulator that the test can cut, to make KMS
/// fail in the middle of a run.
struct KmsProxy {
    url: String,
    stop: tokio::sync::watch::Sender<bool>,
}

impl KmsProxy {
    async fn start() -> Self {
        let target = url::Url::parse(&kms_endpoint()).unwrap();
        let target: SocketAddr = format!(
            "{}:{}",
            target.host_str().unwrap(),
            target.port_or_known_default().unwrap()
        )
        .parse()
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let mut stopped = rx.clone();
            loop {
                tokio::select! {
                    _ = stopped.changed() => break,
                    accepted = listener.accept() => {
                        let Ok((mut inbound, _)) = accepted else { break };
                        let mut stopped = rx.clone();
                        tokio::spawn(async move {
                            let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else { return };
                            tokio::select! {
                                _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                                _ = stopped.changed() => {}
                            }
                        });
                    }
                }
            }
        });
        Self { url, stop }
    }

    /// KMS goes away: open connections drop, new ones are refused.
    fn cut(&self) {
        let _ = self.stop.send(true);
    }
}

/// A public key as JWK numbers (x, y or n, e), computed with OpenSSL,
/// independently of our conversion.
fn public_numbers<T: openssl::pkey::HasPublic>(pkey: &PKey<T>) -> Vec<String> {
    let b64 = |v: Vec<u8>| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    if let Ok(ec) = pkey.ec_key() {
        let (mut x, mut y) = (BigNum::new().unwrap(), BigNum::new().unwrap());
        ec.public_key()
            .affine_coordinates(
                ec.group(),
                &mut x,
                &mut y,
                &mut BigNumContext::new().unwrap(),
            )
            .unwrap();
        vec![
            b64(x.to_vec_padded(32).unwrap()),
            b64(y.to_vec_padded(32).unwrap()),
        ]
    } else {
        let rsa = pkey.rsa().unwrap();
        vec![b64(rsa.n().to_vec()), b64(rsa.e().to_vec())]
    }
}

fn jwk_numbers(jwk: &Value) -> Vec<String> {
    let fields: &[&str] = if jwk["kty"] == "EC" {
        &["x", "y"]
    } else {
        &["n", "e"]
    };
    fields
        .iter()
        .map(|f| jwk[*f].as_str().unwrap().to_owned())
        .collect()
}

/// The public key KMS holds.
async fn kms_public_numbers(key_id: &str) -> Vec<String> {
    let out = kms().get_public_key().key_id(key_id).send().await.unwrap();
    public_numbers(&PKey::public_key_from_der(out.public_key().unwrap().as_ref()).unwrap())
}

// ---- direct ----------------------------------------------------------------

both_backends!(
    direct_mode_signs_with_kms_and_verifies_against_jwks,
    |backend| async move {
        let db = TestDb::new(backend).await;
        let keys = direct_keys().await;
        let KeyConfig::KmsDirect {
            es256_key_id,
            rs256_key_id,
            ..
        } = keys.clone()
        else {
            unreachable!()
        };
        let app = start_instance(&db, with_kms(kms()), set_keys(keys))
            .await
            .unwrap();
        assert_eq!(
            app.state.keys.signing_algs(),
            vec![JwsAlg::Rs256, JwsAlg::Es256]
        );

        // The JWK Set holds exactly the KMS public keys.
        let v: Value = reqwest::get(app.url("/jwks"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let published = v["keys"].as_array().unwrap();
        assert_eq!(published.len(), 2);
        for (alg, id) in [("ES256", &es256_key_id), ("RS256", &rs256_key_id)] {
            let jwk = published.iter().find(|k| k["alg"] == alg).unwrap();
            assert_eq!(jwk_numbers(jwk), kms_public_numbers(id).await, "{alg}");
        }
        let rows = app
            .state
            .store
            .signing_keys()
            .list_signing_keys()
            .await
            .unwrap();
        assert!(
            rows.iter()
                .all(|r| r.backend == "kms_direct" && r.private_key_sealed.is_none())
        );

        let jwks = fetch_jwks(&app.url("/jwks")).await;
        for alg in [JwsAlg::Es256, JwsAlg::Rs256] {
            // Several signatures: DER-encoded ECDSA values vary in length.
            for _ in 0..4 {
                let token = app
                    .state
                    .keys
                    .sign_jwt(alg, "JWT", &id_token_claims(&app.issuer))
                    .await
                    .unwrap();
                assert_eq!(header_of(&token)["alg"], alg.as_str());
                verify_as_relying_party(&jwks, &app.issuer, &token);
                app.state.keys.verify_jwt(&token).unwrap();
            }
        }
        // Discovery lists what this mode signs with.
        let d: Value = reqwest::get(app.url("/.well-known/openid-configuration"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            d["id_token_signing_alg_values_supported"],
            serde_json::json!(["RS256", "ES256"])
        );
    }
);

both_backends!(direct_mode_refuses_oversized_tokens, |backend| async move {
    let db = TestDb::new(backend).await;
    let app = start_instance(&db, with_kms(kms()), set_keys(direct_keys().await))
        .await
        .unwrap();
    let mut claims = id_token_claims(&app.issuer);
    claims.insert("blob".into(), "x".repeat(4000).into());
    let err = app
        .state
        .keys
        .sign_jwt(JwsAlg::Es256, "JWT", &claims)
        .await
        .unwrap_err();
    assert!(
        matches!(err, KeyError::PayloadTooLarge { max: 4096, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("4096"));
});

both_backends!(
    kms_failing_during_direct_signing_is_unavailable,
    |backend| async move {
        let db = TestDb::new(backend).await;
        let proxy = KmsProxy::start().await;
        let app = start_instance(
            &db,
            with_kms(client_for_emulator(&proxy.url)),
            set_keys(direct_keys().await),
        )
        .await
        .unwrap();
        let claims = id_token_claims(&app.issuer);
        app.state
            .keys
            .sign_jwt(JwsAlg::Es256, "JWT", &claims)
            .await
            .unwrap();
        let jwks_before = reqwest::get(app.url("/jwks"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();

        proxy.cut();
        tokio::time::sleep(Duration::from_millis(50)).await;
        for alg in [JwsAlg::Es256, JwsAlg::Rs256] {
            let err = app
                .state
                .keys
                .sign_jwt(alg, "JWT", &claims)
                .await
                .unwrap_err();
            assert!(err.is_unavailable(), "{err}");
            assert!(err.to_string().contains("KMS Sign"), "{err}");
            // What a token endpoint turns it into: 503 temporarily_unavailable.
            let oauth: portcullis::protocol::error::OAuthError = err.into();
            assert_eq!(oauth.code.as_str(), "temporarily_unavailable");
        }
        // The JWK Set and verification do not need KMS.
        let jwks_after = reqwest::get(app.url("/jwks"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(jwks_before, jwks_after);
    }
);

both_backends!(
    kms_unreachable_at_start_fails_clearly,
    |backend| async move {
        let db = TestDb::new(backend).await;
        let dead = client_for_emulator(&closed_port_url().await);
        for keys in [
            KeyConfig::KmsDirect {
                es256_key_id: "alias/es".into(),
                rs256_key_id: "alias/rs".into(),
                wrapping_key_id: None,
            },
            KeyConfig::KmsEnvelope {
                wrapping_key_id: "alias/wrap".into(),
            },
        ] {
            let err = start_instance(&db, with_kms(dead.clone()), set_keys(keys))
                .await
                .err()
                .expect("start-up must fail");
            let msg = format!("{err:#}");
            assert!(
                msg.contains("signing keys") && msg.contains("KMS") && msg.contains("unreachable"),
                "{msg}"
            );
            assert!(msg.contains("alias/"), "names the key: {msg}");
        }
        assert!(
            TestDb::store(&db)
                .await
                .signing_keys()
                .list_signing_keys()
                .await
                .unwrap()
                .is_empty(),
            "nothing half-registered"
        );
    }
);

both_backends!(
    a_kms_key_of_the_wrong_type_is_refused,
    |backend| async move {
        let db = TestDb::new(backend).await;
        let rsa = create_key(KeySpec::Rsa2048, KeyUsageType::SignVerify).await;
        let keys = KeyConfig::KmsDirect {
            es256_key_id: rsa.clone(),
            rs256_key_id: rsa,
            wrapping_key_id: None,
        };
        let err = start_instance(&db, with_kms(kms()), set_keys(keys))
            .await
            .err()
            .expect("must fail");
        let msg = format!("{err:#}");
        assert!(msg.contains("ECC_NIST_P256"), "{msg}");

        let sym = create_key(KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
        let keys = KeyConfig::KmsEnvelope {
            wrapping_key_id: sym,
        };
        let err = start_instance(&db, with_kms(kms()), set_keys(keys))
            .await
            .err()
            .expect("must fail");
        assert!(format!("{err:#}").contains("ENCRYPT_DECRYPT"), "{err:#}");
    }
);

both_backends!(
    changing_the_configured_kms_key_is_a_rotation,
    |backend| async move {
        let db = TestDb::new(backend).await;
        let clock = Arc::new(FixedClock::at(Utc::now().trunc_subsecs(0)));
        let keys = direct_keys().await;
        let overrides = || Overrides {
            clock: Some(clock.clone()),
            ..with_kms(kms())
        };
        let a = start_instance(&db, overrides(), set_keys(keys.clone()))
            .await
            .unwrap();
        let old = kid_of(
            &a.state
                .keys
                .sign_jwt(JwsAlg::Es256, "JWT", &id_token_claims(&a.issuer))
                .await
                .unwrap(),
        );
        let KeyConfig::KmsDirect { rs256_key_id, .. } = keys else {
            unreachable!()
        };
        let new_es = create_key(KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
        let b = start_instance(
            &db,
            overrides(),
            set_keys(KeyConfig::KmsDirect {
                es256_key_id: new_es.clone(),
                rs256_key_id,
                wrapping_key_id: None,
            }),
        )
        .await
        .unwrap();
        let rows = b
            .state
            .store
            .signing_keys()
            .list_signing_keys()
            .await
            .unwrap();
        let new = rows
            .iter()
            .find(|r| r.kms_key_id.as_deref().is_some_and(|k| k.contains(&new_es)))
            .unwrap();
        assert_eq!(new.state, portcullis::domain::KeyState::Next);
        // Until its time, both sign with the old key.
        let tb = b
            .state
            .keys
            .sign_jwt(JwsAlg::Es256, "JWT", &id_token_claims(&b.issuer))
            .await
            .unwrap();
        assert_eq!(kid_of(&tb), old);
        clock.advance(chrono::Duration::days(2));
        a.state.keys.refresh().await.unwrap();
        b.state.keys.refresh().await.unwrap();
        for inst in [&a, &b] {
            let t = inst
                .state
                .keys
                .sign_jwt(JwsAlg::Es256, "JWT", &id_token_claims(&inst.issuer))
                .await
                .unwrap();
            assert_eq!(kid_of(&t), new.kid);
        }
    }
);

both_backends!(direct_rotation_across_two_instances, |backend| async move {
    let setup = ModeSetup {
        keys: direct_keys().await,
        kms: Some(kms()),
        new_es256_kms_key: Some(create_key(KeySpec::EccNistP256, KeyUsageType::SignVerify).await),
    };
    rotation_across_two_instances(backend, setup).await;
});

// ---- envelope --------------------------------------------------------------

both_backends!(
    envelope_mode_signs_in_memory_with_kms_wrapped_keys,
    |backend| async move {
        let db = TestDb::new(backend).await;
        let proxy = KmsProxy::start().await;
        let app = start_instance(
            &db,
            with_kms(client_for_emulator(&proxy.url)),
            set_keys(envelope_keys().await),
        )
        .await
        .unwrap();
        assert_eq!(
            app.state.keys.signing_algs(),
            vec![JwsAlg::Rs256, JwsAlg::Es256, JwsAlg::Ps256]
        );
        let jwks = fetch_jwks(&app.url("/jwks")).await;
        let claims = id_token_claims(&app.issuer);
        for alg in [JwsAlg::Es256, JwsAlg::Rs256, JwsAlg::Ps256] {
            let token = app.state.keys.sign_jwt(alg, "JWT", &claims).await.unwrap();
            verify_as_relying_party(&jwks, &app.issuer, &token);
        }

        // Stored wrapped: KMS opens it only with the kid as encryption context.
        for row in app
            .state
            .store
            .signing_keys()
            .list_signing_keys()
            .await
            .unwrap()
        {
            assert_eq!(row.backend, "kms_envelope");
            let sealed = row.private_key_sealed.clone().unwrap();
            let blob = STANDARD
                .decode(sealed.strip_prefix("kms.v1:").unwrap())
                .unwrap();
            let plain = kms()
                .decrypt()
                .ciphertext_blob(Blob::new(blob.clone()))
                .encryption_context("kid", &row.kid)
                .send()
                .await
                .unwrap();
            let der = plain.plaintext().unwrap().as_ref().to_vec();
            let pkey = PKey::private_key_from_pkcs8(&der).unwrap();
            assert!(
                !sealed.contains(&STANDARD.encode(&der)),
                "private key in the clear"
            );
            // The unwrapped private key is the one whose public part is published.
            let jwk: Value = serde_json::from_str(&row.public_jwk).unwrap();
            assert_eq!(public_numbers(&pkey), jwk_numbers(&jwk), "{}", row.kid);
            let wrong = kms()
                .decrypt()
                .ciphertext_blob(Blob::new(blob))
                .encryption_context("kid", "another-kid")
                .send()
                .await;
            assert!(wrong.is_err(), "the kid binds the wrapped key");
        }

        // Signing runs in memory: KMS down does not stop it.
        proxy.cut();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let token = app
            .state
            .keys
            .sign_jwt(JwsAlg::Es256, "JWT", &claims)
            .await
            .unwrap();
        assert!(signature_verifies(&jwks, &token));
    }
);

both_backends!(
    envelope_rotation_across_two_instances,
    |backend| async move {
        let setup = ModeSetup {
            keys: envelope_keys().await,
            kms: Some(kms()),
            new_es256_kms_key: None,
        };
        rotation_across_two_instances(backend, setup).await;
    }
);

// ---- the process -----------------------------------------------------------

#[test]
fn serve_fails_at_start_when_kms_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .arg("serve")
        .current_dir(dir.path())
        .env_remove("PORTCULLIS_DATABASE_URL")
        .env_remove("PORTCULLIS_DATA_DIR")
        .env("PORTCULLIS_LISTEN", "127.0.0.1:0")
        .env("PORTCULLIS_KMS_MODE", "direct")
        .env("PORTCULLIS_KMS_KEY_ID_ES256", "alias/portcullis-es256")
        .env("PORTCULLIS_KMS_KEY_ID_RS256", "alias/portcullis-rs256")
        .env("AWS_ENDPOINT_URL", &dead)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_MAX_ATTEMPTS", "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("signing keys (kms_direct mode)")
            && err.contains("KMS GetPublicKey")
            && err.contains("unreachable"),
        "{err}"
    );
}
