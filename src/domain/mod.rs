//! Domain newtypes and aggregates. Pure data: no I/O, no framework types.

pub mod alert;
mod client;
pub mod destination;
pub mod device;
pub mod event;
mod ids;
pub mod mfa;
pub mod par;
pub mod password;
pub mod resource;
mod scope;
pub mod ssf;
mod user;

pub use client::{Client, ClientKind, ClientProfile, GrantType, TokenEndpointAuthMethod};
pub use ids::{ClientId, TokenHash, UserId};
pub use scope::{ScopeError, ScopeSet};
pub use user::{User, Username};

mod records;
mod redirect;
mod registration;
mod self_service;

pub use records::{
    AuthorizationCode, Consent, Grant, KeyState, RefreshToken, RevokedAccessToken, Session,
    SigningKeyRecord,
};
pub use redirect::{RedirectUri, RedirectUriError};
pub use registration::{ClientRegistration, InitialAccessToken};
pub use self_service::{LinkPurpose, MailKind, OutboxMail, UserLink};
