//! Admin API tests: grants (issue 15).
