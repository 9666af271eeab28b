//! The integration-test binary (one binary, STYLE.md §13).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod flow;
mod helpers;

mod authorize;
mod cli;
mod hardening;
mod health;
mod migrations;
mod repositories;
mod serve;
