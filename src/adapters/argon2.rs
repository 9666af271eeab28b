//! argon2id password hashing on the blocking pool with bounded concurrency
//! (DESIGN.md invariant 5).

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;
use tokio::sync::Semaphore;

use crate::ports::password::{PasswordError, PasswordHasher};

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy)]
pub struct Argon2Params {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Iterations.
    pub iterations: u32,
    /// Parallelism.
    pub parallelism: u32,
}

impl Argon2Params {
    /// OWASP's first recommended argon2id configuration (m=19 MiB, t=2, p=1).
    pub const OWASP: Self = Self {
        memory_kib: 19 * 1024,
        iterations: 2,
        parallelism: 1,
    };
    /// Cheap parameters for tests only.
    pub const TEST: Self = Self {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    };
}

/// [`PasswordHasher`] using argon2id.
pub struct Argon2Hasher {
    params: Params,
    permits: Arc<Semaphore>,
    dummy_hash: String,
}

impl Argon2Hasher {
    /// Builds a hasher allowing `max_concurrent` hashes at once.
    pub fn new(params: Argon2Params, max_concurrent: usize) -> Result<Self, PasswordError> {
        let params = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .map_err(|e| PasswordError::Internal(e.to_string()))?;
        let dummy_hash = hash_with(&params, "portcullis-dummy-password")?;
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            dummy_hash,
        })
    }
}

fn argon(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

fn hash_with(params: &Params, password: &str) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    argon(params)
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Internal(e.to_string()))
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| PasswordError::Internal(e.to_string()))?;
        let params = self.params.clone();
        let password = zeroize::Zeroizing::new(password.to_owned());
        tokio::task::spawn_blocking(move || hash_with(&params, &password))
            .await
            .map_err(|e| PasswordError::Internal(e.to_string()))?
    }

    async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, PasswordError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| PasswordError::Internal(e.to_string()))?;
        let known = hash.is_some();
        let stored = hash.unwrap_or(&self.dummy_hash).to_owned();
        let password = zeroize::Zeroizing::new(password.to_owned());
        tokio::task::spawn_blocking(move || {
            let parsed = PasswordHash::new(&stored).map_err(|_| PasswordError::MalformedHash)?;
            // Verification uses the parameters recorded in the hash itself.
            let ok = Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok();
            Ok(ok && known)
        })
        .await
        .map_err(|e| PasswordError::Internal(e.to_string()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_with_argon2id_and_verifies() {
        let h = Argon2Hasher::new(Argon2Params::TEST, 2).unwrap();
        let hash = h.hash("correct horse").await.unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains("correct horse"));
        assert!(h.verify("correct horse", Some(&hash)).await.unwrap());
        assert!(!h.verify("wrong", Some(&hash)).await.unwrap());
    }

    #[tokio::test]
    async fn unknown_user_runs_a_dummy_verification_and_fails() {
        let h = Argon2Hasher::new(Argon2Params::TEST, 2).unwrap();
        assert!(!h.verify("portcullis-dummy-password", None).await.unwrap());
    }

    #[test]
    fn owasp_parameters_are_at_least_the_recommended_minimum() {
        let p = Argon2Params::OWASP;
        assert!(p.memory_kib >= 19 * 1024 && p.iterations >= 2);
    }
}
