//! Admin API tests: sessions (issue 15).
