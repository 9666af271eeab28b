//! KMS envelope: key pairs are generated here; their private parts are
//! wrapped with KMS `Encrypt` under the wrapping key, with the `kid` as
//! encryption context, and stored wrapped. They are unwrapped with KMS
//! `Decrypt` when an instance starts or first meets a new key (rotation);
//! signing then runs in memory, so the token endpoint never calls KMS.
//!
//! (`GenerateDataKeyPair` would do generation and wrapping in one call, but
//! the emulator the tests use does not implement it; generating with
//! OpenSSL and calling `Encrypt` gives the same result.)

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeyState as KmsKeyState, KeyUsageType};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use super::kms::kms_error;
use super::{KeyBackend, NewKey, RawSigner, material};
use crate::domain::SigningKeyRecord;
use crate::ports::{JwsAlg, KeyError};

/// `signing_keys.backend` of envelope keys.
pub const BACKEND: &str = "kms_envelope";
/// Prefix of wrapped keys: a KMS ciphertext blob, base64.
const WRAPPED_PREFIX: &str = "kms.v1:";
/// The encryption context key (KMS binds the ciphertext to it).
const CONTEXT_KEY: &str = "kid";

/// The KMS envelope back end.
pub struct KmsEnvelopeSigner {
    client: aws_sdk_kms::Client,
    wrapping_key_id: String,
}

impl std::fmt::Debug for KmsEnvelopeSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsEnvelopeSigner")
            .field("wrapping_key_id", &self.wrapping_key_id)
            .finish_non_exhaustive()
    }
}

impl KmsEnvelopeSigner {
    /// A back end wrapping private keys with `wrapping_key_id` (a symmetric
    /// `ENCRYPT_DECRYPT` key: id, ARN or alias).
    pub fn new(client: aws_sdk_kms::Client, wrapping_key_id: &str) -> Self {
        Self {
            client,
            wrapping_key_id: wrapping_key_id.to_owned(),
        }
    }
}

#[async_trait]
impl KeyBackend for KmsEnvelopeSigner {
    fn name(&self) -> &'static str {
        BACKEND
    }

    fn algs(&self) -> Vec<JwsAlg> {
        JwsAlg::ALL.to_vec()
    }

    async fn check(&self) -> Result<(), KeyError> {
        let id = &self.wrapping_key_id;
        let out = self
            .client
            .describe_key()
            .key_id(id)
            .send()
            .await
            .map_err(|e| kms_error("DescribeKey", id, &e))?;
        let meta = out
            .key_metadata()
            .ok_or_else(|| KeyError::Unavailable(format!("KMS DescribeKey {id}: no metadata")))?;
        if meta.key_usage() != Some(&KeyUsageType::EncryptDecrypt) {
            return Err(KeyError::BadRequest(format!(
                "KMS key {id} (PORTCULLIS_KMS_WRAPPING_KEY_ID) must have usage ENCRYPT_DECRYPT"
            )));
        }
        if meta.key_state() != Some(&KmsKeyState::Enabled) {
            return Err(KeyError::Unavailable(format!(
                "KMS key {id} (PORTCULLIS_KMS_WRAPPING_KEY_ID) is {}",
                meta.key_state()
                    .map_or("in an unknown state", KmsKeyState::as_str)
            )));
        }
        Ok(())
    }

    async fn configured_keys(&self) -> Result<Vec<NewKey>, KeyError> {
        Ok(Vec::new())
    }

    async fn create(&self, alg: JwsAlg, kms_key_id: Option<&str>) -> Result<NewKey, KeyError> {
        let generated = material::generate_in_process(alg, kms_key_id).await?;
        let id = &self.wrapping_key_id;
        let out = self
            .client
            .encrypt()
            .key_id(id)
            .plaintext(Blob::new(generated.private_pkcs8.as_slice()))
            .encryption_context(CONTEXT_KEY, &generated.kid)
            .send()
            .await
            .map_err(|e| kms_error("Encrypt", id, &e))?;
        let blob = out.ciphertext_blob().ok_or_else(|| {
            KeyError::Unavailable(format!("KMS Encrypt {id}: no ciphertext returned"))
        })?;
        Ok(NewKey {
            alg,
            kid: generated.kid,
            public_jwk: generated.public_jwk,
            private_key_sealed: Some(format!("{WRAPPED_PREFIX}{}", STANDARD.encode(blob))),
            kms_key_id: Some(out.key_id().unwrap_or(id).to_owned()),
        })
    }

    async fn load(
        &self,
        record: &SigningKeyRecord,
        alg: JwsAlg,
    ) -> Result<Arc<dyn RawSigner>, KeyError> {
        let kid = &record.kid;
        let blob = record
            .private_key_sealed
            .as_deref()
            .and_then(|s| s.strip_prefix(WRAPPED_PREFIX))
            .and_then(|b| STANDARD.decode(b).ok())
            .ok_or_else(|| KeyError::Internal(format!("key {kid}: not a KMS-wrapped key")))?;
        // The key that wrapped it, which may differ from today's setting
        // after the wrapping key was changed.
        let key_id = record
            .kms_key_id
            .as_deref()
            .unwrap_or(&self.wrapping_key_id);
        let mut out = self
            .client
            .decrypt()
            .key_id(key_id)
            .ciphertext_blob(Blob::new(blob))
            .encryption_context(CONTEXT_KEY, kid)
            .send()
            .await
            .map_err(|e| kms_error("Decrypt", key_id, &e))?;
        // The unwrapped key moves into a buffer wiped on drop, without a
        // copy left behind in the response.
        let der = Zeroizing::new(
            out.plaintext
                .take()
                .ok_or_else(|| {
                    KeyError::Unavailable(format!("KMS Decrypt {key_id}: no plaintext returned"))
                })?
                .into_inner(),
        );
        tracing::debug!(%kid, "unwrapped signing key");
        material::in_memory_signer(alg, &der)
    }
}
