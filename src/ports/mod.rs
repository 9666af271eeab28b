//! Ports: the traits the protocol layer talks to. Adapters implement them;
//! nothing here knows which adapter is behind a trait.

pub mod alerts;
pub mod archive;
pub mod clock;
pub mod deliveries;
pub mod device;
pub mod events;
pub mod keys;
pub mod mail;
pub mod mfa;
pub mod outbound;
pub mod par;
pub mod password;
pub mod repositories;
pub mod resources;
pub mod rng;
pub mod self_service;
pub mod ssf;
pub mod unit_of_work;

pub use alerts::{AlertMessage, AlertQueue, AlertQueueError};
pub use archive::{ArchiveError, ArchivedHours, ObjectInfo, ObjectStore};
pub use clock::Clock;
pub use deliveries::DeliveryRepository;
pub use device::DeviceCodeRepository;
pub use events::{
    EventError, EventFollower, EventQuery, EventReadError, EventReader, EventSink, EventStats,
    SinkStats,
};
pub use keys::{JwsAlg, KeyError, KeyProvider, KeyRevocation, PublishedJwks, Signer};
pub use mail::{MailError, Mailer};
pub use mfa::{
    FactorRepository, NewPasskey, PasskeyAssertion, PasskeyChallenge, SecretBox, SecretError,
    WebAuthn, WebAuthnError,
};
pub use outbound::{OutboundError, OutboundHttp, OutboundResponse};
pub use par::PushedRequestRepository;
pub use password::{PasswordError, PasswordHasher};
pub use repositories::{
    AuthorizationCodeRepository, ClientRepository, ConsentRepository, GrantRepository,
    RefreshTokenRepository, RegistrationRepository, Repositories, Reservation,
    RevokedTokenRepository, SessionRepository, SigningKeyRepository, StoreError, ThrottlePolicy,
    ThrottleRepository, UserRepository,
};
pub use resources::ResourceRepository;
pub use rng::Rng;
pub use self_service::{MailOutboxRepository, UserLinkRepository};
pub use ssf::StreamRepository;
pub use unit_of_work::{Store, UnitOfWork};

/// Every port trait, for `use portcullis::ports::prelude::*`.
pub mod prelude {
    pub use super::deliveries::DeliveryRepository;
    pub use super::device::DeviceCodeRepository;
    pub use super::mfa::FactorRepository;
    pub use super::par::PushedRequestRepository;
    pub use super::repositories::{
        AuthorizationCodeRepository, ClientRepository, ConsentRepository, GrantRepository,
        RefreshTokenRepository, RegistrationRepository, Repositories, RevokedTokenRepository,
        SessionRepository, SigningKeyRepository, ThrottleRepository, UserRepository,
    };
    pub use super::resources::ResourceRepository;
    pub use super::self_service::{MailOutboxRepository, UserLinkRepository};
    pub use super::unit_of_work::{Store, UnitOfWork};
    pub use super::{Clock, EventSink, KeyProvider, PasswordHasher, Rng, Signer};
}
