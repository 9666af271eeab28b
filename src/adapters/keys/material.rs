//! Key material: generating key pairs, public keys as JWKs with RFC 7638
//! thumbprints as `kid`, JWS signers and verifiers (josekit), and the DER
//! to JOSE conversion of ECDSA signatures.

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::Jwk;
use josekit::jws::{ES256, JwsSigner, JwsVerifier, PS256, RS256};
use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcGroup, EcKey};
use openssl::ecdsa::EcdsaSig;
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey};
use openssl::rsa::Rsa;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use super::RawSigner;
use crate::ports::{JwsAlg, KeyError};

/// RSA modulus size of the keys we generate.
pub const RSA_BITS: u32 = 2048;

/// Length of one ECDSA P-256 coordinate or signature half.
const P256_LEN: i32 = 32;

fn internal(what: &str) -> impl FnOnce(openssl::error::ErrorStack) -> KeyError + '_ {
    move |e| KeyError::Internal(format!("{what}: {e}"))
}

/// A freshly generated key pair.
pub struct Generated {
    /// RFC 7638 thumbprint of the public key.
    pub kid: String,
    /// The public JWK as published (with `kid`, `alg`, `use`).
    pub public_jwk: String,
    /// PKCS#8 `PrivateKeyInfo`, DER. Wiped on drop.
    pub private_pkcs8: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Generated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generated")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Generates a key pair in this process for a back end that holds private
/// parts itself (local and KMS envelope modes), off the async workers (RSA
/// generation takes a while). A KMS key id is refused: it only applies in
/// KMS direct mode.
pub async fn generate_in_process(
    alg: JwsAlg,
    kms_key_id: Option<&str>,
) -> Result<Generated, KeyError> {
    if kms_key_id.is_some() {
        return Err(KeyError::BadRequest(
            "a KMS key id only applies in KMS direct mode".into(),
        ));
    }
    tokio::task::spawn_blocking(move || generate(alg))
        .await
        .map_err(|e| KeyError::Internal(format!("key generation: {e}")))?
}

/// Generates a key pair for `alg`: EC P-256 for ES256, RSA 2048 for RS256
/// and PS256 (RFC 7518 §3.3 and §3.5 ask for at least 2048 bits).
pub fn generate(alg: JwsAlg) -> Result<Generated, KeyError> {
    let pkey = match alg {
        JwsAlg::Es256 => {
            let group =
                EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).map_err(internal("EC group"))?;
            let ec = EcKey::generate(&group).map_err(internal("EC key generation"))?;
            PKey::from_ec_key(ec).map_err(internal("EC key"))?
        }
        JwsAlg::Rs256 | JwsAlg::Ps256 => {
            let rsa = Rsa::generate(RSA_BITS).map_err(internal("RSA key generation"))?;
            PKey::from_rsa(rsa).map_err(internal("RSA key"))?
        }
    };
    let spki = pkey
        .public_key_to_der()
        .map_err(internal("public key encoding"))?;
    let (kid, public_jwk) = public_jwk_from_spki(alg, &spki)?;
    let private_pkcs8 = Zeroizing::new(
        pkey.private_key_to_pkcs8()
            .map_err(internal("private key encoding"))?,
    );
    Ok(Generated {
        kid,
        public_jwk,
        private_pkcs8,
    })
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Turns a DER `SubjectPublicKeyInfo` (what KMS `GetPublicKey` returns, and
/// what we generate) into the `kid` and the published JWK for `alg`.
///
/// The `kid` is the RFC 7638 JWK thumbprint (SHA-256 over the required
/// members in lexicographic order, no whitespace), so the same public key
/// always gets the same `kid` and instances registering one KMS key agree.
pub fn public_jwk_from_spki(alg: JwsAlg, spki_der: &[u8]) -> Result<(String, String), KeyError> {
    let bad = |m: String| KeyError::BadRequest(m);
    let pkey = PKey::public_key_from_der(spki_der)
        .map_err(|e| bad(format!("not a DER SubjectPublicKeyInfo: {e}")))?;
    let (thumbprint_input, mut jwk) = match alg {
        JwsAlg::Es256 => {
            if pkey.id() != Id::EC {
                return Err(bad(format!("{alg} needs an EC P-256 key")));
            }
            let ec = pkey.ec_key().map_err(internal("EC key"))?;
            if ec.group().curve_name() != Some(Nid::X9_62_PRIME256V1) {
                return Err(bad(format!("{alg} needs an EC key on P-256")));
            }
            let mut ctx = BigNumContext::new().map_err(internal("bignum"))?;
            let (mut x, mut y) = (
                BigNum::new().map_err(internal("bignum"))?,
                BigNum::new().map_err(internal("bignum"))?,
            );
            ec.public_key()
                .affine_coordinates(ec.group(), &mut x, &mut y, &mut ctx)
                .map_err(internal("EC point"))?;
            let pad = |n: &BigNum| {
                n.to_vec_padded(P256_LEN)
                    .map(|v| b64(&v))
                    .map_err(internal("EC coordinate"))
            };
            let (x, y) = (pad(&x)?, pad(&y)?);
            // RFC 7638 §3.2: crv, kty, x, y.
            let input = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
            let jwk = serde_json::json!({ "kty": "EC", "crv": "P-256", "x": x, "y": y });
            (input, jwk)
        }
        JwsAlg::Rs256 | JwsAlg::Ps256 => {
            if pkey.id() != Id::RSA {
                return Err(bad(format!("{alg} needs an RSA key")));
            }
            let rsa = pkey.rsa().map_err(internal("RSA key"))?;
            if rsa.size() * 8 < RSA_BITS {
                return Err(bad(format!(
                    "{alg} needs an RSA key of at least {RSA_BITS} bits (RFC 7518 §3.3)"
                )));
            }
            let (n, e) = (b64(&rsa.n().to_vec()), b64(&rsa.e().to_vec()));
            // RFC 7638 §3.2: e, kty, n.
            let input = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
            let jwk = serde_json::json!({ "kty": "RSA", "n": n, "e": e });
            (input, jwk)
        }
    };
    let kid = b64(&Sha256::digest(thumbprint_input.as_bytes()));
    // RFC 7517 §4.2-4.5: use, alg, kid.
    jwk["use"] = "sig".into();
    jwk["alg"] = alg.as_str().into();
    jwk["kid"] = kid.clone().into();
    Ok((kid, jwk.to_string()))
}

/// A josekit verifier for a published JWK, bound to `alg`.
pub fn verifier(alg: JwsAlg, public_jwk: &str) -> Result<Arc<dyn JwsVerifier>, KeyError> {
    let jwk = Jwk::from_bytes(public_jwk.as_bytes())
        .map_err(|e| KeyError::Internal(format!("stored public JWK: {e}")))?;
    let verifier: Box<dyn JwsVerifier> = match alg {
        JwsAlg::Es256 => ES256.verifier_from_jwk(&jwk).map(|v| Box::new(v) as _),
        JwsAlg::Rs256 => RS256.verifier_from_jwk(&jwk).map(|v| Box::new(v) as _),
        JwsAlg::Ps256 => PS256.verifier_from_jwk(&jwk).map(|v| Box::new(v) as _),
    }
    .map_err(|e| KeyError::Internal(format!("stored public JWK for {alg}: {e}")))?;
    Ok(Arc::from(verifier))
}

/// A private key held in memory (local and envelope modes).
struct InMemorySigner(Box<dyn JwsSigner>);

#[async_trait]
impl RawSigner for InMemorySigner {
    async fn sign(&self, input: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.0
            .sign(input)
            .map_err(|e| KeyError::Internal(format!("signing: {e}")))
    }
}

/// An ES256 key held in memory, signed with OpenSSL's `ECDSA_do_sign`
/// directly. josekit goes through `EVP_DigestSign`, which in OpenSSL 3
/// fetches the algorithm from the provider tables (locks, hash lookups,
/// string compares) on every call and then re-encodes the DER signature:
/// about half of a `client_credentials` request's CPU time. This path
/// hashes with `sha2` and builds the JOSE form itself (docs/BENCHMARKS.md,
/// "Where the time goes").
struct P256Signer(EcKey<openssl::pkey::Private>);

#[async_trait]
impl RawSigner for P256Signer {
    async fn sign(&self, input: &[u8]) -> Result<Vec<u8>, KeyError> {
        let digest = Sha256::digest(input);
        let sig = EcdsaSig::sign(&digest, &self.0).map_err(internal("ECDSA signing"))?;
        jose_from_ecdsa_sig(&sig)
    }
}

/// A signer over a PKCS#8 private key, producing the JOSE form of each
/// signature (RFC 7518 §3.4: `R || S` for ECDSA; josekit for RSA).
pub fn in_memory_signer(alg: JwsAlg, pkcs8_der: &[u8]) -> Result<Arc<dyn RawSigner>, KeyError> {
    let signer: Box<dyn JwsSigner> = match alg {
        JwsAlg::Es256 => {
            let key = PKey::private_key_from_pkcs8(pkcs8_der)
                .and_then(|k| k.ec_key())
                .map_err(internal("private key for ES256"))?;
            if key.group().curve_name() != Some(Nid::X9_62_PRIME256V1) {
                return Err(KeyError::Internal(
                    "private key for ES256 is not on P-256".into(),
                ));
            }
            return Ok(Arc::new(P256Signer(key)));
        }
        JwsAlg::Rs256 => RS256.signer_from_der(pkcs8_der).map(|s| Box::new(s) as _),
        JwsAlg::Ps256 => PS256.signer_from_der(pkcs8_der).map(|s| Box::new(s) as _),
    }
    .map_err(|e| KeyError::Internal(format!("private key for {alg}: {e}")))?;
    Ok(Arc::new(InMemorySigner(signer)))
}

/// Converts a DER `ECDSA-Sig-Value` (RFC 3279 §2.2.3; what KMS returns) into
/// the 64-byte JOSE form `R || S` (RFC 7518 §3.4).
pub fn ecdsa_der_to_jose(der: &[u8]) -> Result<Vec<u8>, KeyError> {
    let sig = EcdsaSig::from_der(der).map_err(|e| {
        KeyError::Internal(format!("KMS returned a malformed ECDSA signature: {e}"))
    })?;
    jose_from_ecdsa_sig(&sig)
}

/// `R || S`, each left-padded to 32 bytes (RFC 7518 §3.4).
fn jose_from_ecdsa_sig(sig: &EcdsaSig) -> Result<Vec<u8>, KeyError> {
    let mut out = sig
        .r()
        .to_vec_padded(P256_LEN)
        .map_err(internal("ECDSA r"))?;
    out.extend(
        sig.s()
            .to_vec_padded(P256_LEN)
            .map_err(internal("ECDSA s"))?,
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kid_is_the_rfc7638_thumbprint() {
        // RFC 7638 §3.1 example key and its thumbprint.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let rsa = Rsa::from_public_components(
            BigNum::from_slice(&URL_SAFE_NO_PAD.decode(n).unwrap()).unwrap(),
            BigNum::from_slice(&URL_SAFE_NO_PAD.decode("AQAB").unwrap()).unwrap(),
        )
        .unwrap();
        let spki = PKey::from_rsa(rsa).unwrap().public_key_to_der().unwrap();
        let (kid, jwk) = public_jwk_from_spki(JwsAlg::Rs256, &spki).unwrap();
        assert_eq!(kid, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
        let jwk: serde_json::Value = serde_json::from_str(&jwk).unwrap();
        assert_eq!(jwk["kid"], kid);
        assert_eq!(jwk["alg"], "RS256");
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["n"], n);
        assert!(jwk.get("d").is_none());
    }

    #[test]
    fn generated_keys_sign_what_their_jwk_verifies() {
        for alg in [JwsAlg::Es256, JwsAlg::Rs256, JwsAlg::Ps256] {
            let g = generate(alg).unwrap();
            let signer = in_memory_signer(alg, &g.private_pkcs8).unwrap();
            let sig = futures_lite(signer.sign(b"header.payload")).unwrap();
            if alg == JwsAlg::Es256 {
                assert_eq!(sig.len(), 64, "JOSE form R || S");
            }
            let v = verifier(alg, &g.public_jwk).unwrap();
            v.verify(b"header.payload", &sig).unwrap();
            assert!(v.verify(b"header.payloaD", &sig).is_err());
        }
    }

    #[test]
    fn wrong_key_type_for_the_algorithm_is_refused() {
        let ec = generate(JwsAlg::Es256).unwrap();
        let pkey = PKey::private_key_from_pkcs8(&ec.private_pkcs8).unwrap();
        let spki = pkey.public_key_to_der().unwrap();
        assert!(matches!(
            public_jwk_from_spki(JwsAlg::Rs256, &spki),
            Err(KeyError::BadRequest(_))
        ));
        let small = PKey::from_rsa(Rsa::generate(1024).unwrap()).unwrap();
        let spki = small.public_key_to_der().unwrap();
        assert!(matches!(
            public_jwk_from_spki(JwsAlg::Rs256, &spki),
            Err(KeyError::BadRequest(_))
        ));
    }

    #[test]
    fn der_ecdsa_signatures_become_64_bytes() {
        let g = generate(JwsAlg::Es256).unwrap();
        let pkey = PKey::private_key_from_pkcs8(&g.private_pkcs8).unwrap();
        let ec = pkey.ec_key().unwrap();
        let digest = Sha256::digest(b"header.payload");
        // Sign until r or s is short, to check the padding too.
        for _ in 0..64 {
            let sig = EcdsaSig::sign(&digest, &ec).unwrap();
            let der = sig.to_der().unwrap();
            let jose = ecdsa_der_to_jose(&der).unwrap();
            assert_eq!(jose.len(), 64);
            let v = verifier(JwsAlg::Es256, &g.public_jwk).unwrap();
            v.verify(b"header.payload", &jose).unwrap();
        }
        assert!(ecdsa_der_to_jose(b"\x30\x02\x01").is_err());
    }

    /// Polls a future that never waits (in-memory signing) to completion.
    fn futures_lite<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }
}
