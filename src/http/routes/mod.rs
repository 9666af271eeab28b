//! One module per endpoint.

pub mod assets;
pub mod authorize;
pub mod health;
