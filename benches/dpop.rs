//! What a DPoP proof costs the token endpoint (RFC 9449 §4.3): the whole
//! pure check of one proof (`protocol::dpop::check`: parsing, the header
//! rules, the thumbprint, the signature, the claims), beside one bare
//! signature verification of the same JWS with the same library, so that
//! the difference is what the checks add around the verification. The
//! `jti` insert (`dpop::record_use`) is one database statement and is in
//! the load benchmark (`scripts/bench --only client_credentials_dpop`).
//!
//! `cargo bench --bench dpop -- --warm-up-time 1 --measurement-time 3`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use josekit::jwk::Jwk;
use josekit::jws::{ES256, JwsHeader, RS256};
use josekit::jwt::JwtPayload;
use portcullis::protocol::dpop::{self, DpopSettings, Expected};
use serde_json::json;

const HTU: &str = "https://id.example/token";

/// A proof signed with `signer` for `POST HTU`, its public key in `jwk`.
fn proof(jwk: &Jwk, alg: &str, sign: impl Fn(&JwsHeader, &JwtPayload) -> String) -> String {
    let mut header = JwsHeader::new();
    header.set_token_type("dpop+jwt");
    header.set_algorithm(alg);
    header.set_jwk(jwk.to_public_key().unwrap());
    let mut payload = JwtPayload::new();
    payload.set_jwt_id("0192f1d4-7c1e-7a4b-9c1e-3f2a1b0c9d8e");
    payload.set_claim("htm", Some(json!("POST"))).unwrap();
    payload.set_claim("htu", Some(json!(HTU))).unwrap();
    payload.set_issued_at(&std::time::SystemTime::now());
    sign(&header, &payload)
}

fn dpop_proofs(c: &mut Criterion) {
    let ec = ES256.generate_key_pair().unwrap().to_jwk_key_pair();
    let es_signer = ES256.signer_from_jwk(&ec).unwrap();
    let es = proof(&ec, "ES256", |h, p| {
        josekit::jwt::encode_with_signer(p, h, &es_signer).unwrap()
    });
    let rsa = RS256.generate_key_pair(2048).unwrap().to_jwk_key_pair();
    let rs_signer = RS256.signer_from_jwk(&rsa).unwrap();
    let rs = proof(&rsa, "RS256", |h, p| {
        josekit::jwt::encode_with_signer(p, h, &rs_signer).unwrap()
    });
    let expected = Expected {
        method: "POST",
        uri: HTU,
        access_token: None,
    };
    let settings = DpopSettings::default();
    let now = chrono::Utc::now();
    // Both proofs pass the checks (a bench of a refusal would mislead).
    for p in [&es, &rs] {
        assert!(
            dpop::check(&[p], &expected, &settings, now)
                .unwrap()
                .is_some()
        );
    }
    let mut group = c.benchmark_group("dpop_proof");
    group.bench_function("check/ES256", |b| {
        b.iter(|| dpop::check(&[&es], &expected, &settings, now).unwrap());
    });
    group.bench_function("verify_only/ES256", |b| {
        let public = ec.to_public_key().unwrap();
        b.iter(|| {
            let v = ES256.verifier_from_jwk(&public).unwrap();
            josekit::jwt::decode_with_verifier(&es, &v).unwrap()
        });
    });
    group.bench_function("check/RS256", |b| {
        b.iter(|| dpop::check(&[&rs], &expected, &settings, now).unwrap());
    });
    group.bench_function("verify_only/RS256", |b| {
        let public = rsa.to_public_key().unwrap();
        b.iter(|| {
            let v = RS256.verifier_from_jwk(&public).unwrap();
            josekit::jwt::decode_with_verifier(&rs, &v).unwrap()
        });
    });
    // The RFC 7638 thumbprint's input, for scale: one SHA-256 of ~100 bytes.
    let members = format!(
        r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
        ec.parameter("x").and_then(|v| v.as_str()).unwrap(),
        ec.parameter("y").and_then(|v| v.as_str()).unwrap()
    );
    group.bench_function("thumbprint_sha256", |b| {
        b.iter(|| URL_SAFE_NO_PAD.encode(openssl::sha::sha256(members.as_bytes())));
    });
    group.finish();
}

criterion_group!(benches, dpop_proofs);
criterion_main!(benches);
