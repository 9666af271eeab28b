//! Protocol rules of the specs. Pure: no HTTP framework, no database, no
//! cloud SDK. Unit-tested without a server.

pub mod discovery;
pub mod error;
