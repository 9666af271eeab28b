//! sea-orm entities, one module per table. Only `adapters::db` sees them.

pub mod api_resources;
pub mod authorization_codes;
pub mod client_registrations;
pub mod clients;
pub mod consents;
pub mod device_codes;
pub mod grants;
pub mod initial_access_tokens;
pub mod login_throttles;
pub mod mail_outbox;
pub mod outbound_deliveries;
pub mod pushed_requests;
pub mod recovery_codes;
pub mod refresh_tokens;
pub mod revoked_access_tokens;
pub mod sessions;
pub mod signing_keys;
pub mod ssf_streams;
pub mod ssf_subjects;
pub mod user_factors;
pub mod user_tokens;
pub mod users;
pub mod webauthn_ceremonies;
