//! (filled in by its item of the security issue)
