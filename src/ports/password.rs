//! Password hashing (argon2id in production).

use async_trait::async_trait;

/// Why hashing or verification failed (never "wrong password": that is
/// `Ok(false)`).
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The stored hash could not be parsed.
    #[error("stored password hash is malformed")]
    MalformedHash,
    /// Hashing failed or the worker pool is gone.
    #[error("password hashing failed: {0}")]
    Internal(String),
}

/// Hashes and verifies user passwords. Implementations run the work off the
/// async runtime with bounded concurrency.
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// Hashes a password into a PHC string.
    async fn hash(&self, password: &str) -> Result<String, PasswordError>;

    /// Verifies `password` against a PHC string. With `None` it runs a dummy
    /// verification of the same cost and returns `false`, so that unknown
    /// accounts take as long as known ones (docs/SECURITY.md invariant 5).
    async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, PasswordError>;
}
