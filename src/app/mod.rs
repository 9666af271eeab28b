//! Application services: the operator actions that the command line (and
//! the admin API) share. They sit between the adapters that drive
//! them ([`crate::cli`]) and the ports they call ([`crate::ports`]); the
//! rules live here so that tests run them without a process.

pub mod account;
pub mod alerts;
pub mod archive;
pub mod backchannel;
pub mod client_metadata;
pub mod clients;
pub mod events;
pub mod fanout;
pub mod grants;
pub mod housekeeping;
pub mod keys;
pub mod links;
pub mod mail;
pub mod mfa;
pub mod operator;
pub mod outbox;
pub mod passkeys;
pub mod registration;
pub mod reset;
pub mod resources;
pub mod sessions;
pub mod signup;
pub mod ssf;
pub mod totp;
pub mod users;
pub mod verification;
