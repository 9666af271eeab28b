//! KMS direct: every signature is a KMS `Sign` call with `MessageType=RAW`
//! over the JWS signing input; the private keys never leave KMS. The
//! public keys come from `GetPublicKey` once, when a KMS key is registered,
//! and are kept in `signing_keys.public_jwk` (the JWK Set and verification
//! never call KMS).

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeySpec, KeyUsageType, MessageType, SigningAlgorithmSpec};

use super::kms::kms_error;
use super::{KeyBackend, NewKey, RawSigner, material};
use crate::domain::SigningKeyRecord;
use crate::ports::{JwsAlg, KeyError};

/// `signing_keys.backend` of KMS direct keys.
pub const BACKEND: &str = "kms_direct";

/// The largest `Message` KMS `Sign` takes with `MessageType=RAW`.
pub const MAX_RAW_MESSAGE: usize = 4096;

/// The KMS direct back end.
pub struct KmsDirectSigner {
    client: aws_sdk_kms::Client,
    configured: Vec<(JwsAlg, String)>,
}

impl std::fmt::Debug for KmsDirectSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsDirectSigner")
            .field("configured", &self.configured)
            .finish_non_exhaustive()
    }
}

impl KmsDirectSigner {
    /// A back end signing ES256 with `es256_key_id` and RS256 with
    /// `rs256_key_id` (ids, ARNs or aliases).
    pub fn new(client: aws_sdk_kms::Client, es256_key_id: &str, rs256_key_id: &str) -> Self {
        Self {
            client,
            configured: vec![
                (JwsAlg::Es256, es256_key_id.to_owned()),
                (JwsAlg::Rs256, rs256_key_id.to_owned()),
            ],
        }
    }

    /// Reads a KMS key's public key and checks that it can sign `alg`.
    async fn describe(&self, alg: JwsAlg, key_id: &str) -> Result<NewKey, KeyError> {
        let out = self
            .client
            .get_public_key()
            .key_id(key_id)
            .send()
            .await
            .map_err(|e| kms_error("GetPublicKey", key_id, &e))?;
        // `KeySpec`, or its deprecated twin `CustomerMasterKeySpec` (all
        // that some emulators, moto among them, send).
        #[allow(deprecated)]
        let legacy = out
            .customer_master_key_spec()
            .map(aws_sdk_kms::types::CustomerMasterKeySpec::as_str);
        let spec = out
            .key_spec()
            .map(KeySpec::as_str)
            .or(legacy)
            .unwrap_or("of unknown spec");
        let usable_spec = match alg {
            JwsAlg::Es256 => spec == "ECC_NIST_P256",
            JwsAlg::Rs256 | JwsAlg::Ps256 => {
                matches!(spec, "RSA_2048" | "RSA_3072" | "RSA_4096")
            }
        };
        let usable_use = matches!(out.key_usage(), Some(KeyUsageType::SignVerify));
        if !usable_spec || !usable_use {
            let want = match alg {
                JwsAlg::Es256 => "ECC_NIST_P256",
                JwsAlg::Rs256 | JwsAlg::Ps256 => "RSA_2048 (or larger)",
            };
            return Err(KeyError::BadRequest(format!(
                "KMS key {key_id} is {spec} with usage {}; {alg} needs key spec {want} with usage SIGN_VERIFY",
                out.key_usage().map_or("unknown", KeyUsageType::as_str),
            )));
        }
        let spki = out.public_key().ok_or_else(|| {
            KeyError::Unavailable(format!("KMS GetPublicKey {key_id}: no public key returned"))
        })?;
        let (kid, public_jwk) = material::public_jwk_from_spki(alg, spki.as_ref())?;
        // Keep the canonical ARN when KMS gives it: aliases can be moved.
        let kms_key_id = out.key_id().unwrap_or(key_id).to_owned();
        Ok(NewKey {
            alg,
            kid,
            public_jwk,
            private_key_sealed: None,
            kms_key_id: Some(kms_key_id),
        })
    }
}

/// Signs through KMS with one key.
struct KmsSign {
    client: aws_sdk_kms::Client,
    key_id: String,
    alg: JwsAlg,
}

#[async_trait]
impl RawSigner for KmsSign {
    async fn sign(&self, input: &[u8]) -> Result<Vec<u8>, KeyError> {
        if input.len() > MAX_RAW_MESSAGE {
            return Err(KeyError::PayloadTooLarge {
                len: input.len(),
                max: MAX_RAW_MESSAGE,
            });
        }
        let spec = match self.alg {
            JwsAlg::Es256 => SigningAlgorithmSpec::EcdsaSha256,
            JwsAlg::Rs256 => SigningAlgorithmSpec::RsassaPkcs1V15Sha256,
            JwsAlg::Ps256 => SigningAlgorithmSpec::RsassaPssSha256,
        };
        // RAW: KMS hashes the input itself (SHA-256 for these specs).
        let out = self
            .client
            .sign()
            .key_id(&self.key_id)
            .message(Blob::new(input))
            .message_type(MessageType::Raw)
            .signing_algorithm(spec)
            .send()
            .await
            .map_err(|e| kms_error("Sign", &self.key_id, &e))?;
        let sig = out.signature().ok_or_else(|| {
            KeyError::Unavailable(format!("KMS Sign {}: no signature returned", self.key_id))
        })?;
        match self.alg {
            // KMS returns DER; JOSE wants R || S (RFC 7518 §3.4).
            JwsAlg::Es256 => material::ecdsa_der_to_jose(sig.as_ref()),
            JwsAlg::Rs256 | JwsAlg::Ps256 => Ok(sig.as_ref().to_vec()),
        }
    }
}

#[async_trait]
impl KeyBackend for KmsDirectSigner {
    fn name(&self) -> &'static str {
        BACKEND
    }

    fn algs(&self) -> Vec<JwsAlg> {
        // PS256 would need a second registration of the RSA key; not
        // offered in this mode (docs/KEYS.md).
        vec![JwsAlg::Rs256, JwsAlg::Es256]
    }

    async fn check(&self) -> Result<(), KeyError> {
        // `configured_keys` reads every configured key: that is the check.
        Ok(())
    }

    async fn configured_keys(&self) -> Result<Vec<NewKey>, KeyError> {
        let mut keys = Vec::new();
        for (alg, id) in &self.configured {
            keys.push(self.describe(*alg, id).await?);
        }
        Ok(keys)
    }

    async fn create(&self, alg: JwsAlg, kms_key_id: Option<&str>) -> Result<NewKey, KeyError> {
        let id = kms_key_id.ok_or_else(|| {
            KeyError::BadRequest(format!(
                "in KMS direct mode a new {alg} key is a new KMS key: create one (SIGN_VERIFY) \
                 and pass its id with --kms-key-id"
            ))
        })?;
        self.describe(alg, id).await
    }

    async fn load(
        &self,
        record: &SigningKeyRecord,
        alg: JwsAlg,
    ) -> Result<Arc<dyn RawSigner>, KeyError> {
        let key_id = record.kms_key_id.clone().ok_or_else(|| {
            KeyError::Internal(format!("KMS direct key {} has no KMS key id", record.kid))
        })?;
        Ok(Arc::new(KmsSign {
            client: self.client.clone(),
            key_id,
            alg,
        }))
    }
}
