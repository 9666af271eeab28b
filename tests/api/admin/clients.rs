//! Admin API tests: clients (issue 15).
