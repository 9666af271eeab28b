//! Adapters: the technology behind each port.

pub mod argon2;
pub mod db;
pub mod events;
pub mod system;
