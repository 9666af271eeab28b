//! The integration-test binary (one binary; docs/ARCHITECTURE.md, "Tests").

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod flow;
mod grant_revocation;
mod helpers;
mod logout;
mod logs;
mod mail;
mod mailbox;

mod account;
mod admin;
mod alerts;
mod archive;
mod authorize;
mod backchannel;
mod cli;
mod config;
mod device;
mod discovery;
mod documents;
mod dpop;
mod e2e;
mod events;
mod events_clickhouse;
mod events_query;
mod fapi;
mod hardening;
mod health;
mod instances;
mod jar;
mod key_revocation;
mod keys;
mod kms;
mod mfa_flow;
mod mfa_totp;
mod migrations;
mod par;
mod passkeys;
mod private_key_jwt;
mod queries;
mod refresh_grace;
mod repositories;
mod resources;
mod scaling;
mod security;
mod self_service_links;
mod serve;
mod signup;
mod ssf;
mod token;
