//! One module per endpoint.

pub mod assets;
pub mod health;
