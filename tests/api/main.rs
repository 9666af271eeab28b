//! The integration-test binary (one binary, STYLE.md §13).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod helpers;

mod cli;
mod health;
mod keys;
mod kms;
mod migrations;
mod repositories;
mod serve;
