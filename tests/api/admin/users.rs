//! Admin API tests: users (issue 15).
