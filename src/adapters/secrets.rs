//! [`SecretBox`] adapters: TOTP secrets sealed at rest with the same
//! protection as the signing keys (docs/KEYS.md, docs/MFA.md).
//!
//! - [`MasterKeyBox`]: AES-256-GCM under the master key (the one
//!   [`MasterKey`] the local signing keys use, opened once), the context as
//!   additional authenticated data; format `aes256gcm.v1:<base64>`.
//! - [`KmsBox`]: KMS `Encrypt`/`Decrypt` under the wrapping key, with the
//!   encryption context `{"purpose": <context>}`; format `kms.v1:<base64 of
//!   the ciphertext blob>`.
//!
//! In both, a sealed value copied to another row (another context) does not
//! open.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_kms::error::SdkError;
use aws_sdk_kms::primitives::Blob;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::adapters::keys::kms::kms_error;
use crate::adapters::keys::local::{MasterKey, SealError};
use crate::ports::{KeyError, SecretBox, SecretError};

/// Prefix of values sealed by KMS: format version 1 (a KMS ciphertext
/// blob, base64).
const KMS_PREFIX: &str = "kms.v1:";
/// The encryption context key (KMS binds the ciphertext to it).
const KMS_CONTEXT_KEY: &str = "purpose";

/// Placeholder for tests that build a state by hand: refuses every
/// operation.
#[derive(Debug, Default)]
pub struct Unavailable;

#[async_trait]
impl SecretBox for Unavailable {
    async fn seal(&self, _context: &str, _plaintext: &[u8]) -> Result<String, SecretError> {
        Err(SecretError::Unavailable("no secret box configured".into()))
    }
    async fn open(&self, _context: &str, _sealed: &str) -> Result<Zeroizing<Vec<u8>>, SecretError> {
        Err(SecretError::Unavailable("no secret box configured".into()))
    }
    fn protection(&self) -> &'static str {
        "none"
    }
}

/// Seals with the master key (local keys; KMS direct without a wrapping
/// key).
#[derive(Debug)]
pub struct MasterKeyBox {
    key: Arc<MasterKey>,
}

impl MasterKeyBox {
    /// Seals with `key`, the master key the factory opened.
    pub fn new(key: Arc<MasterKey>) -> Self {
        Self { key }
    }
}

#[async_trait]
impl SecretBox for MasterKeyBox {
    async fn seal(&self, context: &str, plaintext: &[u8]) -> Result<String, SecretError> {
        self.key
            .seal(context.as_bytes(), plaintext)
            .map_err(|e| SecretError::Invalid(e.to_string()))
    }

    async fn open(&self, context: &str, sealed: &str) -> Result<Zeroizing<Vec<u8>>, SecretError> {
        self.key
            .open_sealed(context.as_bytes(), sealed)
            .map_err(|e| match e {
                SealError::DoesNotOpen(_) => SecretError::Invalid(format!(
                    "{context}: {e} (sealed with another master key, for another context, or \
                     changed)"
                )),
                _ => SecretError::Invalid(format!("{context}: {e}")),
            })
    }

    fn protection(&self) -> &'static str {
        "master_key"
    }
}

/// Seals with KMS `Encrypt` under the wrapping key
/// (`PORTCULLIS_KMS_WRAPPING_KEY_ID`).
pub struct KmsBox {
    client: aws_sdk_kms::Client,
    wrapping_key_id: String,
}

impl std::fmt::Debug for KmsBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsBox")
            .field("wrapping_key_id", &self.wrapping_key_id)
            .finish_non_exhaustive()
    }
}

impl KmsBox {
    /// Seals with `wrapping_key_id` (a `SYMMETRIC_DEFAULT` `ENCRYPT_DECRYPT`
    /// key) through `client`.
    pub fn new(client: aws_sdk_kms::Client, wrapping_key_id: &str) -> Self {
        Self {
            client,
            wrapping_key_id: wrapping_key_id.to_owned(),
        }
    }
}

/// KMS refused the ciphertext (another context, changed, another key):
/// the value does not open. Anything else (unreachable, throttled, a key
/// disabled) is [`SecretError::Unavailable`].
fn secret_error<E, R>(op: &str, key_id: &str, err: &SdkError<E, R>) -> SecretError
where
    E: aws_sdk_kms::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if let SdkError::ServiceError(se) = err
        && matches!(
            se.err().code(),
            Some("InvalidCiphertextException" | "IncorrectKeyException")
        )
    {
        return SecretError::Invalid(format!(
            "KMS {op}: {}",
            se.err().message().unwrap_or("the ciphertext does not open")
        ));
    }
    match kms_error(op, key_id, err) {
        KeyError::Unavailable(m) | KeyError::Internal(m) => SecretError::Unavailable(m),
        other => SecretError::Unavailable(other.to_string()),
    }
}

#[async_trait]
impl SecretBox for KmsBox {
    async fn seal(&self, context: &str, plaintext: &[u8]) -> Result<String, SecretError> {
        let id = &self.wrapping_key_id;
        let out = self
            .client
            .encrypt()
            .key_id(id)
            .plaintext(Blob::new(plaintext))
            .encryption_context(KMS_CONTEXT_KEY, context)
            .send()
            .await
            .map_err(|e| secret_error("Encrypt", id, &e))?;
        let blob = out.ciphertext_blob().ok_or_else(|| {
            SecretError::Unavailable(format!("KMS Encrypt {id}: no ciphertext returned"))
        })?;
        Ok(format!("{KMS_PREFIX}{}", STANDARD.encode(blob)))
    }

    async fn open(&self, context: &str, sealed: &str) -> Result<Zeroizing<Vec<u8>>, SecretError> {
        let blob = sealed
            .strip_prefix(KMS_PREFIX)
            .and_then(|b| STANDARD.decode(b).ok())
            .ok_or_else(|| SecretError::Invalid(format!("{context}: not a KMS-sealed value")))?;
        // No key id: KMS reads it from the blob, so that values sealed
        // before the wrapping key setting changed still open.
        let mut out = self
            .client
            .decrypt()
            .ciphertext_blob(Blob::new(blob))
            .encryption_context(KMS_CONTEXT_KEY, context)
            .send()
            .await
            .map_err(|e| secret_error("Decrypt", &self.wrapping_key_id, &e))?;
        let plain = out.plaintext.take().ok_or_else(|| {
            SecretError::Unavailable(format!(
                "KMS Decrypt {}: no plaintext returned",
                self.wrapping_key_id
            ))
        })?;
        Ok(Zeroizing::new(plain.into_inner()))
    }

    fn protection(&self) -> &'static str {
        "kms"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed() -> (tempfile::TempDir, MasterKeyBox) {
        let dir = tempfile::tempdir().unwrap();
        let key = MasterKey::open(dir.path()).unwrap();
        (dir, MasterKeyBox::new(Arc::new(key)))
    }

    #[tokio::test]
    async fn a_sealed_secret_opens_for_its_context_only() {
        let (_dir, b) = boxed();
        let secret = [7_u8; 20];
        let sealed = b.seal("totp:a", &secret).await.unwrap();
        assert!(sealed.starts_with("aes256gcm.v1:"), "{sealed}");
        assert!(!sealed.contains(&STANDARD.encode(secret)));
        assert_eq!(b.open("totp:a", &sealed).await.unwrap().as_slice(), &secret);
        // Sealing twice gives two different values (a fresh nonce).
        assert_ne!(b.seal("totp:a", &secret).await.unwrap(), sealed);
        let err = b.open("totp:b", &sealed).await.unwrap_err();
        assert!(matches!(err, SecretError::Invalid(_)), "{err}");
        assert_eq!(b.protection(), "master_key");
    }

    #[tokio::test]
    async fn a_tampered_or_foreign_value_is_refused() {
        let (_dir, b) = boxed();
        let sealed = b.seal("totp:a", b"12345678901234567890").await.unwrap();
        let mut blob = STANDARD
            .decode(sealed.strip_prefix("aes256gcm.v1:").unwrap())
            .unwrap();
        let last = blob.len() - 1;
        blob[last] ^= 1;
        let tampered = format!("aes256gcm.v1:{}", STANDARD.encode(&blob));
        for bad in [
            tampered.as_str(),
            "aes256gcm.v1:",
            "aes256gcm.v1:!!",
            "kms.v1:AAAA",
            "plain text",
        ] {
            let err = b.open("totp:a", bad).await.unwrap_err();
            assert!(matches!(err, SecretError::Invalid(_)), "{bad}: {err}");
        }
        // Another master key does not open it.
        let (_other_dir, other) = boxed();
        assert!(matches!(
            other.open("totp:a", &sealed).await.unwrap_err(),
            SecretError::Invalid(_)
        ));
    }

    /// One master key serves both: what the signing keys' master key opens,
    /// the box opens, with the same format.
    #[tokio::test]
    async fn the_box_and_the_signing_keys_share_the_master_key() {
        let dir = tempfile::tempdir().unwrap();
        let key = Arc::new(MasterKey::open(dir.path()).unwrap());
        let b = MasterKeyBox::new(key.clone());
        let sealed = key.seal(b"totp:x", b"secret").unwrap();
        assert_eq!(
            b.open("totp:x", &sealed).await.unwrap().as_slice(),
            b"secret"
        );
    }
}
