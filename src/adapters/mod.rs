//! Adapters: the technology behind each port.

pub mod archive;
pub mod argon2;
pub mod aws;
pub mod cache;
pub mod db;
pub mod events;
pub mod files;
pub mod jwks_fetch;
pub mod keys;
pub mod mail;
pub mod outbound;
pub mod secrets;
pub mod sqs;
pub mod system;
pub mod webauthn;
