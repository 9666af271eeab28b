//! One module per endpoint.

pub mod assets;
pub mod authorize;
pub mod discovery;
pub mod health;
pub mod jwks;
pub mod metrics;
