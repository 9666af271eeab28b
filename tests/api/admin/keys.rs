//! Admin API tests: keys (issue 15).
