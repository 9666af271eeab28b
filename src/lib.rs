//! portcullis: an OAuth 2.0 / OpenID Connect authorization server.
//!
//! Layers (dependencies point downward only): [`http`] → [`protocol`] →
//! [`ports`] ← [`adapters`]; [`cli`] → [`app`] (the operator services the
//! command line and the admin API share) → [`ports`]; [`factory`] picks the
//! adapters from [`config`]; [`startup`] runs the server on the accept loop of
//! [`server`].

#![deny(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod adapters;
pub mod app;
pub mod cli;
pub mod config;
pub mod domain;
pub mod error;
pub mod factory;
pub mod http;
pub mod metrics;
pub mod ports;
pub mod protocol;
pub mod server;
pub mod startup;
pub mod state;

#[cfg(any(test, feature = "test-util"))]
pub mod testing;
