//! One JWS signature per back end and algorithm: local (in memory), KMS
//! envelope (in memory after one unwrap), KMS direct (one KMS `Sign` call
//! per signature, here against the emulator at
//! PORTCULLIS_TEST_KMS_ENDPOINT, default http://127.0.0.1:5599).
//!
//! `cargo bench --bench signing -- --warm-up-time 1 --measurement-time 3`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use aws_sdk_kms::types::{KeySpec, KeyUsageType};
use criterion::{Criterion, criterion_group, criterion_main};
use portcullis::adapters::db::{self, SeaStore};
use portcullis::adapters::keys::kms::client_for_emulator;
use portcullis::adapters::keys::{
    KeyBackend, KeyRing, KmsDirectSigner, KmsEnvelopeSigner, LocalSigner,
};
use portcullis::adapters::system::SystemClock;
use portcullis::config::{Config, RawSettings};
use portcullis::ports::{JwsAlg, Signer, Store};
use serde_json::{Map, Value, json};

fn claims() -> Map<String, Value> {
    let Value::Object(m) = json!({
        "iss": "https://id.example",
        "sub": "0192f1d4-7c1e-7a4b-9c1e-3f2a1b0c9d8e",
        "aud": "https://api.example",
        "client_id": "c_4f9a1b2c3d",
        "scope": "openid profile email",
        "iat": 1_764_072_000,
        "exp": 1_764_075_600,
        "jti": "3b8f2c1a-9d7e-4f6a-8b5c-2e1d0f9a8b7c",
    }) else {
        unreachable!()
    };
    m
}

async fn ring(dir: &std::path::Path, backend: Arc<dyn KeyBackend>) -> KeyRing {
    let url = format!("sqlite://{}/{}.db?mode=rwc", dir.display(), backend.name());
    let conn = db::connect(&url).await.unwrap();
    db::migrate(&conn).await.unwrap();
    let store: Arc<dyn Store> = Arc::new(SeaStore::new(conn));
    let rotation = Config::from_raw(RawSettings::default())
        .unwrap()
        .key_rotation;
    KeyRing::open(backend, store, Arc::new(SystemClock), rotation)
        .await
        .unwrap()
}

async fn kms_key(client: &aws_sdk_kms::Client, spec: KeySpec, usage: KeyUsageType) -> String {
    client
        .create_key()
        .key_spec(spec)
        .key_usage(usage)
        .send()
        .await
        .expect("the KMS emulator is required (scripts/test --services-only)")
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned()
}

fn signing(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let endpoint = std::env::var("PORTCULLIS_TEST_KMS_ENDPOINT")
        .unwrap_or_else(|_| "http://127.0.0.1:5599".into());
    let kms = client_for_emulator(&endpoint);
    let (local, direct, envelope) = rt.block_on(async {
        let local = ring(
            dir.path(),
            Arc::new(LocalSigner::open(&dir.path().join("data")).unwrap()),
        )
        .await;
        let es = kms_key(&kms, KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
        let rs = kms_key(&kms, KeySpec::Rsa2048, KeyUsageType::SignVerify).await;
        let direct = ring(
            dir.path(),
            Arc::new(KmsDirectSigner::new(kms.clone(), &es, &rs)),
        )
        .await;
        let wrap = kms_key(
            &kms,
            KeySpec::SymmetricDefault,
            KeyUsageType::EncryptDecrypt,
        )
        .await;
        let envelope = ring(
            dir.path(),
            Arc::new(KmsEnvelopeSigner::new(kms.clone(), &wrap)),
        )
        .await;
        (local, direct, envelope)
    });
    let claims = claims();
    let mut group = c.benchmark_group("sign_jwt");
    for (name, ring, algs) in [
        (
            "local",
            &local,
            &[JwsAlg::Es256, JwsAlg::Rs256, JwsAlg::Ps256][..],
        ),
        (
            "kms_envelope",
            &envelope,
            &[JwsAlg::Es256, JwsAlg::Rs256][..],
        ),
        (
            "kms_direct_emulator",
            &direct,
            &[JwsAlg::Es256, JwsAlg::Rs256][..],
        ),
    ] {
        for alg in algs {
            group.bench_function(format!("{name}/{alg}"), |b| {
                b.to_async(&rt)
                    .iter(|| async { ring.sign_jwt(*alg, "at+jwt", &claims).await.unwrap() });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, signing);
criterion_main!(benches);
