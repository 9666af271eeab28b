//! oxide-auth's `Registrar` over one of our clients: the one place that
//! decides a client's redirect URI, its scope and its secret, for
//! `/authorize` ([`crate::protocol::authorize`]) and for client
//! authentication at the token, revocation and introspection endpoints
//! ([`crate::protocol::client_auth`]) alike.
//!
//! - The redirect URI is bound by exact string match, never by prefix or
//!   normalised comparison (RFC 6749 §3.1.2.3, RFC 9700 §4.1.3), and it is
//!   required (OpenID Connect Core §3.1.2.1).
//! - The scope is trimmed to what the client may have (RFC 6749 §3.3);
//!   nothing left is an error, which `/authorize` answers `invalid_scope`.
//! - The secret is compared with the stored SHA-256 hash in constant time;
//!   a public client (no stored secret) passes only without a secret.

use std::borrow::Cow;

use oxide_auth::primitives::registrar::{
    BoundClient, ClientUrl, ExactUrl, PreGrant, RegisteredUrl, Registrar, RegistrarError,
};
use oxide_auth::primitives::scope::Scope;

use crate::domain::{Client, ScopeSet};

/// A [`Registrar`] that knows exactly one client (the one the request
/// names, already loaded from the repository).
pub struct ClientRegistrar<'a> {
    client: &'a Client,
}

impl<'a> ClientRegistrar<'a> {
    /// Wraps a loaded client.
    pub fn new(client: &'a Client) -> Self {
        Self { client }
    }

    /// RFC 6749 §3.3: the server may grant fewer scopes than requested and
    /// says so in the token response. Scopes the client may not have are
    /// dropped; nothing left is `None` (`invalid_scope`). The rule of
    /// [`Registrar::negotiate`], for grants without a redirect URI (the
    /// device grant).
    pub fn granted_scope(&self, requested: &ScopeSet) -> Option<ScopeSet> {
        let granted = requested.intersection(&self.client.scopes);
        (!granted.is_empty()).then_some(granted)
    }
}

impl Registrar for ClientRegistrar<'_> {
    fn bound_redirect<'b>(&self, bound: ClientUrl<'b>) -> Result<BoundClient<'b>, RegistrarError> {
        if bound.client_id != self.client.id.as_str() {
            return Err(RegistrarError::Unspecified);
        }
        // OpenID Connect Core §3.1.2.1 makes redirect_uri REQUIRED: no default.
        let uri = bound.redirect_uri.ok_or(RegistrarError::Unspecified)?;
        if !self.client.has_redirect_uri(uri.as_str()) {
            return Err(RegistrarError::Unspecified);
        }
        let exact =
            ExactUrl::new(uri.as_str().to_owned()).map_err(|_| RegistrarError::Unspecified)?;
        Ok(BoundClient {
            client_id: bound.client_id,
            redirect_uri: Cow::Owned(RegisteredUrl::Exact(exact)),
        })
    }

    fn negotiate(
        &self,
        client: BoundClient,
        scope: Option<Scope>,
    ) -> Result<PreGrant, RegistrarError> {
        let requested = scope.ok_or(RegistrarError::Unspecified)?;
        let requested =
            ScopeSet::from_tokens(requested.iter()).map_err(|_| RegistrarError::Unspecified)?;
        let granted = self
            .granted_scope(&requested)
            .ok_or(RegistrarError::Unspecified)?;
        let scope: Scope = granted
            .to_string()
            .parse()
            .map_err(|_| RegistrarError::Unspecified)?;
        Ok(PreGrant {
            client_id: client.client_id.into_owned(),
            redirect_uri: client.redirect_uri.into_owned(),
            scope,
        })
    }

    fn check(&self, client_id: &str, passphrase: Option<&[u8]>) -> Result<(), RegistrarError> {
        if client_id != self.client.id.as_str() {
            return Err(RegistrarError::Unspecified);
        }
        match (&self.client.secret_hash, passphrase) {
            (None, None) => Ok(()),
            (Some(hash), Some(secret)) => {
                let secret =
                    std::str::from_utf8(secret).map_err(|_| RegistrarError::Unspecified)?;
                if hash.matches(secret) {
                    Ok(())
                } else {
                    Err(RegistrarError::Unspecified)
                }
            }
            _ => Err(RegistrarError::Unspecified),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::domain::{ClientId, GrantType, RedirectUri, TokenEndpointAuthMethod, TokenHash};

    fn client() -> Client {
        Client {
            id: ClientId::parse("c1").unwrap(),
            name: "App".into(),
            secret_hash: Some(TokenHash::of("secret")),
            secret_rotated_at: None,
            previous_secret_hash: None,
            previous_secret_expires_at: None,
            auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
            redirect_uris: vec![RedirectUri::parse("https://app.example/cb", false).unwrap()],
            post_logout_redirect_uris: vec![],
            grant_types: vec![GrantType::AuthorizationCode],
            scopes: ScopeSet::parse("openid profile").unwrap(),
            first_party: false,
            require_pkce: false,
            require_mfa: false,
            resource_audience: None,
            id_token_signed_response_alg: None,
            jwks: None,
            jwks_uri: None,
            access_token_ttl_secs: None,
            id_token_ttl_secs: None,
            refresh_token_ttl_secs: None,
            backchannel_logout_uri: None,
            backchannel_logout_session_required: false,
            allowed_resources: Vec::new(),
            require_pushed_authorization_requests: false,
            dpop_bound_access_tokens: false,
            profile: None,
            request_uris: Vec::new(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn bind<'a>(r: &ClientRegistrar<'_>, uri: &'a str) -> Result<BoundClient<'a>, RegistrarError> {
        r.bound_redirect(ClientUrl {
            client_id: Cow::Borrowed("c1"),
            redirect_uri: Some(Cow::Owned(ExactUrl::new(uri.to_owned()).unwrap())),
        })
    }

    #[test]
    fn redirect_uri_must_match_exactly() {
        let c = client();
        let r = ClientRegistrar::new(&c);
        assert!(bind(&r, "https://app.example/cb").is_ok());
        for near_miss in [
            "https://app.example/cb/",
            "https://app.example/cb?x=1",
            "https://APP.example/cb",
            "https://app.example:443/cb",
            "https://app.example/CB",
        ] {
            assert!(bind(&r, near_miss).is_err(), "{near_miss}");
        }
    }

    #[test]
    fn scope_is_trimmed_to_the_client_and_empty_is_refused() {
        let c = client();
        let r = ClientRegistrar::new(&c);
        let bound = bind(&r, "https://app.example/cb").unwrap();
        let pre = r
            .negotiate(bound.clone(), Some("openid email profile".parse().unwrap()))
            .unwrap();
        assert_eq!(
            ScopeSet::parse(&pre.scope.to_string()).unwrap().to_string(),
            "openid profile"
        );
        assert!(r.negotiate(bound, Some("email".parse().unwrap())).is_err());
    }

    #[test]
    fn redirect_uri_is_required_and_bound_to_the_client() {
        let c = client();
        let r = ClientRegistrar::new(&c);
        let no_uri = ClientUrl {
            client_id: Cow::Borrowed("c1"),
            redirect_uri: None,
        };
        assert!(r.bound_redirect(no_uri).is_err(), "no default redirect URI");
        let other_client = ClientUrl {
            client_id: Cow::Borrowed("c2"),
            redirect_uri: Some(Cow::Owned(
                ExactUrl::new("https://app.example/cb".to_owned()).unwrap(),
            )),
        };
        assert!(r.bound_redirect(other_client).is_err());
        let bound = bind(&r, "https://app.example/cb").unwrap();
        assert_eq!(
            bound.redirect_uri.as_ref(),
            &RegisteredUrl::Exact(ExactUrl::new("https://app.example/cb".to_owned()).unwrap())
        );
    }

    #[test]
    fn scope_is_required() {
        let c = client();
        let r = ClientRegistrar::new(&c);
        let bound = bind(&r, "https://app.example/cb").unwrap();
        assert!(r.negotiate(bound, None).is_err());
    }

    #[test]
    fn secret_check_is_exact() {
        let c = client();
        let r = ClientRegistrar::new(&c);
        assert!(r.check("c1", Some(b"secret")).is_ok());
        assert!(r.check("c1", Some(b"Secret")).is_err());
        assert!(r.check("c1", Some(b"secret ")).is_err());
        assert!(r.check("c1", Some(b"")).is_err());
        assert!(r.check("c1", Some(&[0xff, 0xfe])).is_err(), "not UTF-8");
        assert!(
            r.check("c1", None).is_err(),
            "a confidential client needs it"
        );
        assert!(r.check("c2", Some(b"secret")).is_err(), "another client");
    }

    #[test]
    fn a_public_client_passes_only_without_a_secret() {
        let mut c = client();
        c.secret_hash = None;
        c.auth_method = TokenEndpointAuthMethod::None;
        let r = ClientRegistrar::new(&c);
        assert!(r.check("c1", None).is_ok());
        assert!(r.check("c1", Some(b"secret")).is_err());
        assert!(r.check("c1", Some(b"")).is_err());
        assert!(r.check("c2", None).is_err());
    }
}
