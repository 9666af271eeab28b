//! Admin API tests: events (issue 15).
