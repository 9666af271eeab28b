//! The inventory of endpoints: every path the server serves, once, with
//! what the rest of the server needs to know about it. Pure data: the
//! router (`http::router`) is built from it, the CORS and rate-limit
//! middleware read their path sets from it, and the discovery document
//! (`protocol::discovery`) takes its endpoint URLs and client
//! authentication metadata from it.
//!
//! Adding an endpoint: a variant here (path, methods, discovery name, CORS,
//! rate limit, client authentication, listener), its handler in
//! `http/routes/`, and its line in `http::handler`.

/// An HTTP method an endpoint answers (`HEAD` comes with `GET`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET` (and `HEAD`).
    Get,
    /// `POST`.
    Post,
    /// `PUT` (RFC 7592 §2.2).
    Put,
    /// `PATCH` (the admin API's partial updates).
    Patch,
    /// `DELETE`.
    Delete,
}

impl Method {
    /// The method name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }
}

/// Which CORS policy an endpoint gets (`http::cors`). Pages never get one:
/// they are navigated to, not fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorsPolicy {
    /// Public documents: any origin may read them.
    Public,
    /// API endpoints: only the configured origins.
    Api,
}

/// The rate limit an endpoint counts against (`http::rate_limit`); every
/// request to its path counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimit {
    /// `PORTCULLIS_RATE_LIMIT_TOKEN_PER_MIN`.
    Token,
    /// `PORTCULLIS_RATE_LIMIT_AUTHORIZE_PER_MIN`.
    Authorize,
    /// `PORTCULLIS_RATE_LIMIT_LOGIN_PER_MIN`.
    Login,
}

impl RateLimit {
    /// The label used in metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::Authorize => "authorize",
            Self::Login => "login",
        }
    }
}

/// Which listener serves an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// The public listener (`PORTCULLIS_LISTEN`).
    Public,
    /// The management listener (`PORTCULLIS_MANAGEMENT_LISTEN`, loopback by
    /// default): operational data that is nobody else's business.
    Management,
}

/// Client authentication methods (RFC 8414 §2, OpenID Connect Core §9) of
/// the endpoints where clients authenticate with `client_id`, secrets or
/// assertions.
const TOKEN_AUTH_METHODS: &[&str] = &[
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "none",
];

/// Introspection refuses public clients (RFC 7662 §2.1: the caller is a
/// protected resource, which is a confidential client).
const INTROSPECTION_AUTH_METHODS: &[&str] = &[
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
];

/// Every endpoint of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// The OpenID Provider Configuration document (Discovery §4).
    Discovery,
    /// The JWK Set (`jwks_uri`).
    Jwks,
    /// The JWK Set at its conventional well-known path.
    JwksWellKnown,
    /// Authorization endpoint (RFC 6749 §3.1, OIDC Core §3.1.2).
    Authorize,
    /// The sign-in form's target.
    Login,
    /// The consent form's target.
    Consent,
    /// Token endpoint (RFC 6749 §3.2).
    Token,
    /// UserInfo endpoint (OIDC Core §5.3).
    UserInfo,
    /// Revocation endpoint (RFC 7009).
    Revoke,
    /// Introspection endpoint (RFC 7662).
    Introspect,
    /// End-session endpoint (OpenID Connect RP-Initiated Logout §2).
    Logout,
    /// The logout confirmation form's target.
    LogoutConfirm,
    /// Liveness.
    Healthz,
    /// Readiness.
    Readyz,
    /// Prometheus metrics.
    Metrics,
    /// The stylesheet of the hosted pages.
    Stylesheet,
    /// The script of the `form_post` response page.
    FormPostScript,
    /// Dynamic client registration (RFC 7591 §3).
    Register,
    /// A registered client's configuration endpoint (RFC 7592 §2).
    RegisterClient,
    /// Admin API: list and create clients.
    AdminClients,
    /// Admin API: one client.
    AdminClient,
    /// Admin API: rotate a client's secret (with an overlap window).
    AdminClientSecret,
    /// Admin API: initial access tokens for dynamic registration.
    AdminInitialAccessTokens,
    /// Admin API: one initial access token (revoke it).
    AdminInitialAccessToken,
    /// Admin API: list, search and create users.
    AdminUsers,
    /// Admin API: one user.
    AdminUser,
    /// Admin API: set a user's password.
    AdminUserPassword,
    /// Admin API: clear a user's sign-in throttle.
    AdminUserUnlock,
    /// Admin API: a user's sessions (list, end all).
    AdminUserSessions,
    /// Admin API: one session (end it).
    AdminSession,
    /// Admin API: grants by user or client.
    AdminGrants,
    /// Admin API: one grant (show, revoke).
    AdminGrant,
    /// Admin API: consents by user or client.
    AdminConsents,
    /// Admin API: one consent (revoke it and its grants).
    AdminConsent,
    /// Admin API: signing keys.
    AdminKeys,
    /// Admin API: rotate the signing key now.
    AdminKeysRotate,
    /// Admin API: revoke a compromised signing key.
    AdminKeyRevoke,
    /// Admin API: recent events, filtered.
    AdminEvents,
    /// Admin API: event counts.
    AdminEventStats,
    /// The account page (issue 16): profile, password, sessions, applications, activity; a sign-in form without a session.
    Account,
    /// The account page's sign-in (and re-authentication) form.
    AccountLogin,
    /// Signs out of the account page (ends the session).
    AccountLogout,
    /// The account page's name form.
    AccountProfile,
    /// The account page's e-mail change (re-verified by a link).
    AccountEmail,
    /// The account page's password change (the current password is required).
    AccountPassword,
    /// Ends one session, or every other one, from the account page.
    AccountSessionEnd,
    /// Revokes an application's consent and grants from the account page.
    AccountAppRevoke,
    /// "Forgot your password?": asks for a reset link.
    PasswordForgot,
    /// A reset link's page: the new password.
    PasswordReset,
    /// An e-mail verification link's page.
    EmailVerify,
    /// Self-registration (`PORTCULLIS_SIGNUP`; 404 when `off`).
    Signup,
    /// Admin API: invitations to sign up (`PORTCULLIS_SIGNUP`).
    AdminInvitations,
    /// The second-factor step of a sign-in: a TOTP or recovery code (issue 17).
    LoginFactor,
    /// WebAuthn options (JSON) for a passkey sign-in: passwordless, or the second factor.
    LoginPasskeyOptions,
    /// A passkey answer of a sign-in (passwordless, or the second factor).
    LoginPasskey,
    /// The script of the passkey buttons (WebAuthn needs JavaScript).
    PasskeyScript,
    /// The account page's sign-in methods: TOTP, passkeys, recovery codes.
    AccountSecurity,
    /// Starts a TOTP enrolment (QR code and key).
    AccountTotp,
    /// Confirms a TOTP enrolment with its first code.
    AccountTotpConfirm,
    /// Removes the TOTP authenticator.
    AccountTotpRemove,
    /// Replaces the recovery codes with a new set (shown once).
    AccountRecoveryCodes,
    /// WebAuthn registration options (JSON) for a new passkey.
    AccountPasskeyOptions,
    /// Registers a passkey (the browser's answer).
    AccountPasskeys,
    /// Removes a passkey.
    AccountPasskeyRemove,
    /// Admin API: a user's second factors (list, reset all).
    AdminUserFactors,
    /// Device authorization endpoint (RFC 8628 §3.1).
    DeviceAuthorization,
    /// The device verification page (RFC 8628 §3.3): enter the user code.
    Device,
    /// The device consent form's target (approve or deny).
    DeviceConsent,
    /// Admin API: the APIs registered as resources (RFC 8707).
    AdminResources,
    /// Admin API: one registered API.
    AdminResource,
    /// Pushed authorization request endpoint (RFC 9126 §2).
    Par,
    /// Shared Signals transmitter configuration (SSF 1.0 §7.2).
    SsfConfiguration,
    /// Shared Signals stream configuration (SSF 1.0 §8.1.1).
    SsfStream,
    /// Shared Signals stream status (SSF 1.0 §8.1.2).
    SsfStatus,
    /// Shared Signals: add a subject (SSF 1.0 §8.1.3.2).
    SsfSubjectsAdd,
    /// Shared Signals: remove a subject (SSF 1.0 §8.1.3.3).
    SsfSubjectsRemove,
    /// Shared Signals: request a verification event (SSF 1.0 §8.1.4.2).
    SsfVerify,
}

impl Endpoint {
    /// Every endpoint, in the order the router lists them.
    pub const ALL: [Self; 77] = [
        Self::Discovery,
        Self::Jwks,
        Self::JwksWellKnown,
        Self::Authorize,
        Self::Login,
        Self::Consent,
        Self::Token,
        Self::UserInfo,
        Self::Revoke,
        Self::Introspect,
        Self::Logout,
        Self::LogoutConfirm,
        Self::Healthz,
        Self::Readyz,
        Self::Metrics,
        Self::Stylesheet,
        Self::FormPostScript,
        Self::Register,
        Self::RegisterClient,
        Self::AdminClients,
        Self::AdminClient,
        Self::AdminClientSecret,
        Self::AdminInitialAccessTokens,
        Self::AdminInitialAccessToken,
        Self::AdminUsers,
        Self::AdminUser,
        Self::AdminUserPassword,
        Self::AdminUserUnlock,
        Self::AdminUserSessions,
        Self::AdminSession,
        Self::AdminGrants,
        Self::AdminGrant,
        Self::AdminConsents,
        Self::AdminConsent,
        Self::AdminKeys,
        Self::AdminKeysRotate,
        Self::AdminKeyRevoke,
        Self::AdminEvents,
        Self::AdminEventStats,
        Self::Account,
        Self::AccountLogin,
        Self::AccountLogout,
        Self::AccountProfile,
        Self::AccountEmail,
        Self::AccountPassword,
        Self::AccountSessionEnd,
        Self::AccountAppRevoke,
        Self::PasswordForgot,
        Self::PasswordReset,
        Self::EmailVerify,
        Self::Signup,
        Self::AdminInvitations,
        Self::LoginFactor,
        Self::LoginPasskeyOptions,
        Self::LoginPasskey,
        Self::PasskeyScript,
        Self::AccountSecurity,
        Self::AccountTotp,
        Self::AccountTotpConfirm,
        Self::AccountTotpRemove,
        Self::AccountRecoveryCodes,
        Self::AccountPasskeyOptions,
        Self::AccountPasskeys,
        Self::AccountPasskeyRemove,
        Self::AdminUserFactors,
        Self::DeviceAuthorization,
        Self::Device,
        Self::DeviceConsent,
        Self::AdminResources,
        Self::AdminResource,
        Self::Par,
        Self::SsfConfiguration,
        Self::SsfStream,
        Self::SsfStatus,
        Self::SsfSubjectsAdd,
        Self::SsfSubjectsRemove,
        Self::SsfVerify,
    ];

    /// The path, under the issuer. Segments in braces (`{client_id}`) are
    /// path parameters, in the router's syntax.
    pub const fn path(self) -> &'static str {
        match self {
            Self::Discovery => "/.well-known/openid-configuration",
            Self::Jwks => "/jwks",
            Self::JwksWellKnown => "/.well-known/jwks.json",
            Self::Authorize => "/authorize",
            Self::Login => "/login",
            Self::Consent => "/consent",
            Self::Token => "/token",
            Self::UserInfo => "/userinfo",
            Self::Revoke => "/revoke",
            Self::Introspect => "/introspect",
            Self::Logout => "/logout",
            Self::LogoutConfirm => "/logout/confirm",
            Self::Healthz => "/healthz",
            Self::Readyz => "/readyz",
            Self::Metrics => "/metrics",
            Self::Stylesheet => "/static/portcullis.css",
            Self::FormPostScript => "/static/form_post.js",
            Self::Register => "/register",
            Self::RegisterClient => "/register/{client_id}",
            Self::AdminClients => "/admin/v1/clients",
            Self::AdminClient => "/admin/v1/clients/{client_id}",
            Self::AdminClientSecret => "/admin/v1/clients/{client_id}/secret",
            Self::AdminInitialAccessTokens => "/admin/v1/initial-access-tokens",
            Self::AdminInitialAccessToken => "/admin/v1/initial-access-tokens/{id}",
            Self::AdminUsers => "/admin/v1/users",
            Self::AdminUser => "/admin/v1/users/{user_id}",
            Self::AdminUserPassword => "/admin/v1/users/{user_id}/password",
            Self::AdminUserUnlock => "/admin/v1/users/{user_id}/unlock",
            Self::AdminUserSessions => "/admin/v1/users/{user_id}/sessions",
            Self::AdminSession => "/admin/v1/sessions/{session_id}",
            Self::AdminGrants => "/admin/v1/grants",
            Self::AdminGrant => "/admin/v1/grants/{grant_id}",
            Self::AdminConsents => "/admin/v1/consents",
            Self::AdminConsent => "/admin/v1/consents/{user_id}/{client_id}",
            Self::AdminKeys => "/admin/v1/keys",
            Self::AdminKeysRotate => "/admin/v1/keys/rotate",
            Self::AdminKeyRevoke => "/admin/v1/keys/{kid}/revoke",
            Self::AdminEvents => "/admin/v1/events",
            Self::AdminEventStats => "/admin/v1/events/stats",
            Self::Account => "/account",
            Self::AccountLogin => "/account/login",
            Self::AccountLogout => "/account/logout",
            Self::AccountProfile => "/account/profile",
            Self::AccountEmail => "/account/email",
            Self::AccountPassword => "/account/password",
            Self::AccountSessionEnd => "/account/sessions/end",
            Self::AccountAppRevoke => "/account/apps/revoke",
            Self::PasswordForgot => "/password/forgot",
            Self::PasswordReset => "/password/reset",
            Self::EmailVerify => "/email/verify",
            Self::Signup => "/signup",
            Self::AdminInvitations => "/admin/v1/invitations",
            Self::LoginFactor => "/login/factor",
            Self::LoginPasskeyOptions => "/login/passkey/options",
            Self::LoginPasskey => "/login/passkey",
            Self::PasskeyScript => "/static/passkey.js",
            Self::AccountSecurity => "/account/security",
            Self::AccountTotp => "/account/totp",
            Self::AccountTotpConfirm => "/account/totp/confirm",
            Self::AccountTotpRemove => "/account/totp/remove",
            Self::AccountRecoveryCodes => "/account/recovery-codes",
            Self::AccountPasskeyOptions => "/account/passkeys/options",
            Self::AccountPasskeys => "/account/passkeys",
            Self::AccountPasskeyRemove => "/account/passkeys/remove",
            Self::AdminUserFactors => "/admin/v1/users/{user_id}/factors",
            Self::DeviceAuthorization => "/device_authorization",
            Self::Device => "/device",
            Self::DeviceConsent => "/device/consent",
            Self::AdminResources => "/admin/v1/resources",
            Self::AdminResource => "/admin/v1/resources/{resource_id}",
            Self::Par => "/par",
            Self::SsfConfiguration => "/.well-known/ssf-configuration",
            Self::SsfStream => "/ssf/stream",
            Self::SsfStatus => "/ssf/status",
            Self::SsfSubjectsAdd => "/ssf/subjects/add",
            Self::SsfSubjectsRemove => "/ssf/subjects/remove",
            Self::SsfVerify => "/ssf/verify",
        }
    }

    /// The methods it answers.
    pub const fn methods(self) -> &'static [Method] {
        use Method::{Delete, Get, Patch, Post, Put};
        match self {
            Self::RegisterClient => &[Get, Put, Delete],
            Self::SsfStream => &[Get, Post, Put, Patch, Delete],
            Self::AdminClients
            | Self::AdminUsers
            | Self::AdminInitialAccessTokens
            | Self::AdminResources
            | Self::SsfStatus => &[Get, Post],
            Self::AdminClient | Self::AdminUser | Self::AdminResource => &[Get, Patch, Delete],
            Self::AdminUserSessions
            | Self::AdminSession
            | Self::AdminGrant
            | Self::AdminUserFactors => &[Get, Delete],
            Self::AdminConsent | Self::AdminInitialAccessToken => &[Delete],
            Self::Register
            | Self::AdminClientSecret
            | Self::AdminUserPassword
            | Self::AdminUserUnlock
            | Self::AdminKeysRotate
            | Self::AdminKeyRevoke
            | Self::AdminInvitations
            | Self::AccountLogin
            | Self::AccountLogout
            | Self::AccountProfile
            | Self::AccountEmail
            | Self::AccountPassword
            | Self::AccountSessionEnd
            | Self::AccountAppRevoke
            | Self::LoginFactor
            | Self::LoginPasskeyOptions
            | Self::LoginPasskey
            | Self::AccountTotp
            | Self::AccountTotpConfirm
            | Self::AccountTotpRemove
            | Self::AccountRecoveryCodes
            | Self::AccountPasskeyOptions
            | Self::AccountPasskeys
            | Self::AccountPasskeyRemove
            | Self::DeviceAuthorization
            | Self::DeviceConsent
            | Self::SsfSubjectsAdd
            | Self::SsfSubjectsRemove
            | Self::SsfVerify => &[Post],
            Self::AdminGrants
            | Self::AdminConsents
            | Self::AdminKeys
            | Self::AdminEvents
            | Self::AdminEventStats
            | Self::Account
            | Self::AccountSecurity => &[Get],
            Self::Authorize
            | Self::UserInfo
            | Self::Logout
            | Self::PasswordForgot
            | Self::PasswordReset
            | Self::EmailVerify
            | Self::Signup
            | Self::Device => &[Method::Get, Method::Post],
            Self::Login
            | Self::Consent
            | Self::Token
            | Self::Par
            | Self::Revoke
            | Self::Introspect
            | Self::LogoutConfirm => &[Method::Post],
            Self::Discovery
            | Self::Jwks
            | Self::JwksWellKnown
            | Self::Healthz
            | Self::Readyz
            | Self::Metrics
            | Self::Stylesheet
            | Self::FormPostScript
            | Self::PasskeyScript
            | Self::SsfConfiguration => &[Method::Get],
        }
    }

    /// The listener that serves it: `/metrics` on the management listener
    /// only (its counters are operational data, not for the internet),
    /// everything else on the public one.
    pub const fn listener(self) -> Listener {
        match self {
            Self::Metrics => Listener::Management,
            _ => Listener::Public,
        }
    }

    /// The discovery metadata field that carries its URL (RFC 8414 §2,
    /// Discovery §3), if it is advertised.
    pub const fn metadata_name(self) -> Option<&'static str> {
        match self {
            Self::Authorize => Some("authorization_endpoint"),
            Self::Token => Some("token_endpoint"),
            Self::UserInfo => Some("userinfo_endpoint"),
            Self::Jwks => Some("jwks_uri"),
            Self::Revoke => Some("revocation_endpoint"),
            Self::Introspect => Some("introspection_endpoint"),
            Self::Logout => Some("end_session_endpoint"),
            Self::DeviceAuthorization => Some("device_authorization_endpoint"),
            Self::Par => Some("pushed_authorization_request_endpoint"),
            // Advertised only while registration is on (`protocol::discovery`).
            Self::Register => Some("registration_endpoint"),
            _ => None,
        }
    }

    /// Its CORS policy, if a browser application may call it.
    pub const fn cors(self) -> Option<CorsPolicy> {
        match self {
            Self::Discovery | Self::Jwks | Self::JwksWellKnown | Self::SsfConfiguration => {
                Some(CorsPolicy::Public)
            }
            Self::Token
            | Self::UserInfo
            | Self::Revoke
            | Self::Introspect
            | Self::DeviceAuthorization
            | Self::Par => Some(CorsPolicy::Api),
            _ => None,
        }
    }

    /// The rate limit its requests count against, if any.
    pub const fn rate_limit(self) -> Option<RateLimit> {
        match self {
            // Registration is reachable without a client: it counts as a
            // token-endpoint call.
            // RFC 9126 §2: the pushed request is the token endpoint's kind
            // of call (an authenticated client's POST).
            Self::Token | Self::Register | Self::DeviceAuthorization | Self::Par => {
                Some(RateLimit::Token)
            }
            Self::Authorize => Some(RateLimit::Authorize),
            // Every form that checks a password or sends a mail counts as a
            // sign-in attempt of its address.
            Self::Login
            | Self::AccountLogin
            | Self::AccountEmail
            | Self::AccountPassword
            | Self::PasswordForgot
            | Self::PasswordReset
            | Self::EmailVerify
            | Self::Signup
            | Self::LoginFactor
            | Self::LoginPasskeyOptions
            | Self::LoginPasskey
            | Self::AccountTotpConfirm
            | Self::AccountPasskeyOptions
            | Self::AccountPasskeys
            | Self::Device
            | Self::DeviceConsent => Some(RateLimit::Login),
            _ => None,
        }
    }

    /// How clients authenticate here (RFC 8414 §2
    /// `*_endpoint_auth_methods_supported`); empty where they do not.
    pub const fn client_auth_methods(self) -> &'static [&'static str] {
        match self {
            // RFC 9126 §2: the token endpoint's client authentication.
            Self::Token | Self::Revoke | Self::DeviceAuthorization | Self::Par => {
                TOKEN_AUTH_METHODS
            }
            Self::Introspect => INTROSPECTION_AUTH_METHODS,
            _ => &[],
        }
    }

    /// The endpoint at `path`, if any (endpoints with path parameters
    /// match only their literal template; they have no CORS policy, and
    /// their rate limit is `None`).
    pub fn at(path: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.path() == path)
    }

    /// Whether it is dynamic registration (RFC 7591 `/register`, RFC 7592
    /// `/register/{client_id}`): served only while `PORTCULLIS_REGISTRATION`
    /// is not `off` (the router leaves it out, so that it answers 404 like
    /// an unknown path, and discovery does not list it).
    pub const fn is_registration(self) -> bool {
        matches!(self, Self::Register | Self::RegisterClient)
    }

    /// Whether it is self-registration (`/signup`): served only while
    /// `PORTCULLIS_SIGNUP` is not `off` (404 otherwise, like an unknown
    /// path).
    pub const fn is_signup(self) -> bool {
        matches!(self, Self::Signup)
    }

    /// Whether it is a hosted page of the end user's self-service (the
    /// account page, password reset, e-mail verification, sign-up): HTML
    /// forms with CSRF tokens, no CORS.
    pub const fn is_self_service(self) -> bool {
        matches!(
            self,
            Self::Account
                | Self::AccountLogin
                | Self::AccountLogout
                | Self::AccountProfile
                | Self::AccountEmail
                | Self::AccountPassword
                | Self::AccountSessionEnd
                | Self::AccountAppRevoke
                | Self::PasswordForgot
                | Self::PasswordReset
                | Self::EmailVerify
                | Self::Signup
                | Self::AccountSecurity
                | Self::AccountTotp
                | Self::AccountTotpConfirm
                | Self::AccountTotpRemove
                | Self::AccountRecoveryCodes
                | Self::AccountPasskeyOptions
                | Self::AccountPasskeys
                | Self::AccountPasskeyRemove
        )
    }

    /// Whether it belongs to the admin API (`/admin/v1`): bearer tokens
    /// with `admin:read` / `admin:write` (`protocol::admin`).
    pub const fn is_admin(self) -> bool {
        matches!(
            self,
            Self::AdminResources
                | Self::AdminResource
                | Self::AdminClients
                | Self::AdminClient
                | Self::AdminClientSecret
                | Self::AdminInitialAccessTokens
                | Self::AdminInitialAccessToken
                | Self::AdminUsers
                | Self::AdminUser
                | Self::AdminUserPassword
                | Self::AdminUserUnlock
                | Self::AdminUserSessions
                | Self::AdminSession
                | Self::AdminGrants
                | Self::AdminGrant
                | Self::AdminConsents
                | Self::AdminConsent
                | Self::AdminKeys
                | Self::AdminKeysRotate
                | Self::AdminKeyRevoke
                | Self::AdminEvents
                | Self::AdminEventStats
                | Self::AdminInvitations
                | Self::AdminUserFactors
        )
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn paths_and_metadata_names_are_unique() {
        let paths: HashSet<_> = Endpoint::ALL.iter().map(|e| e.path()).collect();
        assert_eq!(paths.len(), Endpoint::ALL.len());
        let names: Vec<_> = Endpoint::ALL
            .iter()
            .filter_map(|e| e.metadata_name())
            .collect();
        assert_eq!(names.iter().collect::<HashSet<_>>().len(), names.len());
        for e in Endpoint::ALL {
            assert!(e.path().starts_with('/'), "{e:?}");
            assert!(!e.methods().is_empty(), "{e:?}");
            assert_eq!(Endpoint::at(e.path()), Some(e));
        }
        assert_eq!(Endpoint::at("/token/x"), None);
        for e in Endpoint::ALL {
            assert_eq!(
                e.is_admin(),
                e.path().starts_with("/admin/v1/"),
                "{e:?} is_admin and its path disagree"
            );
        }
    }

    #[test]
    fn pages_get_no_cors_and_client_auth_is_only_on_api_endpoints() {
        for page in [
            Endpoint::Authorize,
            Endpoint::Login,
            Endpoint::Consent,
            Endpoint::Logout,
            Endpoint::LogoutConfirm,
        ] {
            assert_eq!(page.cors(), None, "{page:?}");
        }
        for e in Endpoint::ALL {
            if !e.client_auth_methods().is_empty() {
                assert_eq!(e.cors(), Some(CorsPolicy::Api), "{e:?}");
                assert!(e.metadata_name().is_some(), "{e:?}");
            }
        }
        assert!(!Endpoint::Introspect.client_auth_methods().contains(&"none"));
    }
}
