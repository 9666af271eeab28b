//! One module per endpoint.

pub mod account;
pub mod account_security;
pub mod admin;
pub mod assets;
pub mod authorize;
pub mod device;
pub mod discovery;
pub mod email;
pub mod health;
pub mod introspect;
pub mod jwks;
pub mod logout;
pub mod metrics;
pub mod mfa_login;
pub mod par;
pub mod passkeys;
pub mod password;
pub mod register;
pub mod revoke;
pub mod signup;
pub mod ssf;
pub mod token;
pub mod userinfo;
