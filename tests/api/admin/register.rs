//! Admin API tests: register (issue 15).
