//! The security suite (issue "Security hardening, round two"): one file per
//! rule, so that a reviewer can read them together. docs/SECURITY.md maps
//! each invariant to its tests here.

mod client_assertions;
mod connections;
mod consent;
mod csrf;
mod housekeeping;
mod id_token_hint;
mod introspection_access;
mod login_throttle;
mod logout_browser;
mod metrics_listener;
mod outbound;
mod reauthentication;
mod revocation_reach;
