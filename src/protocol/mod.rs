//! Protocol rules of the specs. Pure: no HTTP framework, no database, no
//! cloud SDK. Unit-tested without a server.

pub mod admin;
pub mod authorize;
pub mod client_address;
pub mod client_auth;
pub mod device;
pub mod discovery;
pub mod dpop;
pub mod endpoints;
pub mod error;
pub mod fapi;
pub mod grant;
pub mod interaction;
pub mod introspect;
pub mod jwt;
pub mod logout;
pub mod mfa;
pub mod par;
pub mod params;
pub mod passkey;
pub mod pkce;
pub mod registrar;
pub mod request;
pub mod request_object;
pub mod resource;
pub mod revoke;
pub mod secevent;
pub mod ssf;
pub mod token;
pub mod userinfo;
