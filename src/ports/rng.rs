//! Randomness, injected so that tests can be deterministic.

use base64::Engine as _;

/// A cryptographically secure random source.
pub trait Rng: Send + Sync {
    /// Fills `buf` with random bytes.
    fn fill(&self, buf: &mut [u8]);

    /// A 256-bit random value, base64url without padding (43 characters):
    /// the form of every code, token, secret and session id we issue.
    fn token(&self) -> String {
        let mut buf = [0_u8; 32];
        self.fill(&mut buf);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
    }
}
