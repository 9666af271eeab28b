//! [`SecretBox`] adapters: TOTP secrets sealed at rest like the signing
//! keys (docs/KEYS.md, docs/MFA.md). FOUNDATION STUB: issue 17's TOTP work
//! replaces it with the master-key (AES-256-GCM) and KMS implementations.

use async_trait::async_trait;
use zeroize::Zeroizing;

use crate::ports::{SecretBox, SecretError};

/// Placeholder until the real adapters land: refuses every operation.
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
