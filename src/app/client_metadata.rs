//! Client metadata as RFC 7591 §2 names it: the one language of the admin
//! API (`/admin/v1/clients`) and dynamic registration (`/register`), as
//! Hydra does. [`ClientMetadata`] is what a caller sends (every field
//! optional, so that it also serves partial updates); [`ClientView`] is
//! what the server answers. The rules themselves stay in
//! [`super::operator`]: metadata only becomes a [`NewClient`] there.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::operator::{NewClient, OperatorError};
use crate::domain::{Client, ClientKind, GrantType};

/// Client metadata sent by a caller (RFC 7591 §2, OpenID Connect Dynamic
/// Client Registration 1.0 §2), plus portcullis's own fields (marked
/// *extension*). Absent means "the default" on create and "unchanged" on
/// update. Unknown names are ignored (RFC 7591 §2: "MUST ignore any client
/// metadata sent by the client that it does not understand").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientMetadata {
    /// `client_name`: shown on the sign-in and consent pages.
    pub client_name: Option<String>,
    /// `redirect_uris`.
    pub redirect_uris: Option<Vec<String>>,
    /// `post_logout_redirect_uris` (RP-Initiated Logout §3.1).
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// `grant_types`.
    pub grant_types: Option<Vec<String>>,
    /// `response_types`: only `["code"]` is served; checked against
    /// `grant_types` (RFC 7591 §2.1).
    pub response_types: Option<Vec<String>>,
    /// `scope`: space-separated scopes the client may ask for.
    pub scope: Option<String>,
    /// `token_endpoint_auth_method`; `none` makes a public client.
    pub token_endpoint_auth_method: Option<String>,
    /// `jwks`: the client's JWK Set, by value (exclusive with `jwks_uri`).
    pub jwks: Option<Value>,
    /// `jwks_uri`: the client's JWK Set, by reference (the outbound rules
    /// apply: https, no internal address).
    pub jwks_uri: Option<String>,
    /// `id_token_signed_response_alg`: RS256, ES256 or PS256.
    pub id_token_signed_response_alg: Option<String>,
    /// *Extension*: skip the consent page (operators only).
    pub first_party: Option<bool>,
    /// *Extension*: require PKCE of a confidential client (always required
    /// of public ones).
    pub require_pkce: Option<bool>,
    /// *Extension*: require a second factor of every sign-in for this
    /// client (at least `urn:portcullis:acr:2fa`; docs/MFA.md).
    pub require_mfa: Option<bool>,
    /// *Extension*: a resource server, which may call `/introspect`
    /// (RFC 7662 §2.1; operators only).
    pub resource_server: Option<bool>,
    /// *Extension*: a resource server's audience (default: its client id).
    pub audience: Option<String>,
    /// *Extension*: access-token lifetime, seconds.
    pub access_token_ttl: Option<i64>,
    /// *Extension*: ID-token lifetime, seconds.
    pub id_token_ttl: Option<i64>,
    /// *Extension*: refresh-token lifetime, seconds.
    pub refresh_token_ttl: Option<i64>,
    /// *Extension*: permit http redirect URIs to non-loopback hosts
    /// (development set-ups; operators only).
    pub allow_http_redirect_uris: Option<bool>,
    /// `backchannel_logout_uri` (OpenID Connect Back-Channel Logout 1.0
    /// §2.2): where logout tokens are POSTed.
    pub backchannel_logout_uri: Option<String>,
    /// `backchannel_logout_session_required`: logout tokens must carry `sid`.
    pub backchannel_logout_session_required: Option<bool>,
    /// *Extension*: the resource indicators (RFC 8707) the client may ask
    /// tokens for (operators only).
    pub allowed_resources: Option<Vec<String>>,
    /// `require_pushed_authorization_requests` (RFC 9126 §6): `/authorize`
    /// takes only a `request_uri` from `/par`.
    pub require_pushed_authorization_requests: Option<bool>,
    /// `dpop_bound_access_tokens` (RFC 9449 §5.2): token requests must carry
    /// a DPoP proof.
    pub dpop_bound_access_tokens: Option<bool>,
    /// *Extension*: the security profile (`"fapi2"`: the FAPI 2.0 Security
    /// Profile, docs/FAPI.md); an empty string removes it.
    pub profile: Option<String>,
    /// `request_uris` (OpenID Connect Dynamic Client Registration 1.0 §2):
    /// the external `request_uri`s the client may send (used only when
    /// `PORTCULLIS_REQUEST_URI_EXTERNAL` is on).
    pub request_uris: Option<Vec<String>>,
}

impl ClientMetadata {
    /// The [`NewClient`] these metadata ask for, for `create_client`
    /// (which applies every rule). Checks here only what is about the
    /// metadata's own shape: `response_types` against `grant_types`
    /// (RFC 7591 §2.1) and `jwks` being an object.
    pub fn into_new_client(self) -> Result<NewClient, OperatorError> {
        let invalid = |m: &str| OperatorError::Invalid(m.to_owned());
        let grant_types = self.grant_types.unwrap_or_default();
        if let Some(types) = &self.response_types {
            if types.iter().any(|t| t != "code") {
                return Err(invalid(
                    "response_types: only \"code\" is supported (RFC 7591 §2.1)",
                ));
            }
            let code_flow = grant_types.is_empty()
                || grant_types
                    .iter()
                    .any(|g| g == GrantType::AuthorizationCode.as_str());
            if types.is_empty() == code_flow {
                return Err(invalid(
                    "response_types and grant_types disagree: \"code\" goes with authorization_code (RFC 7591 §2.1)",
                ));
            }
        }
        let jwks = match self.jwks {
            None | Some(Value::Null) => None,
            Some(v @ Value::Object(_)) => Some(v.to_string()),
            Some(_) => return Err(invalid("jwks must be a JWK Set object ({\"keys\": [...]})")),
        };
        if jwks.is_some() && self.jwks_uri.is_some() {
            return Err(invalid(
                "jwks and jwks_uri are exclusive (RFC 7591 §2): send one",
            ));
        }
        let method = self.token_endpoint_auth_method;
        let public = method.as_deref() == Some("none");
        Ok(NewClient {
            name: self.client_name.unwrap_or_default(),
            redirect_uris: self.redirect_uris.unwrap_or_default(),
            post_logout_redirect_uris: self.post_logout_redirect_uris.unwrap_or_default(),
            public,
            grant_types,
            scopes: self
                .scope
                .map(|s| {
                    s.split(' ')
                        .filter(|t| !t.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            auth_method: if public { None } else { method },
            first_party: self.first_party.unwrap_or(false),
            require_pkce: self.require_pkce.unwrap_or(false),
            require_mfa: self.require_mfa.unwrap_or(false),
            resource_server: self.resource_server.unwrap_or(false),
            audience: self.audience,
            allow_http: self.allow_http_redirect_uris.unwrap_or(false),
            jwks,
            jwks_uri: self.jwks_uri,
            id_token_alg: self.id_token_signed_response_alg,
            access_token_ttl_secs: self.access_token_ttl,
            id_token_ttl_secs: self.id_token_ttl,
            refresh_token_ttl_secs: self.refresh_token_ttl,
            backchannel_logout_uri: self.backchannel_logout_uri.filter(|u| !u.is_empty()),
            backchannel_logout_session_required: self
                .backchannel_logout_session_required
                .unwrap_or(false),
            allowed_resources: self.allowed_resources.unwrap_or_default(),
            require_pushed_authorization_requests: self
                .require_pushed_authorization_requests
                .unwrap_or(false),
            dpop_bound_access_tokens: self.dpop_bound_access_tokens.unwrap_or(false),
            profile: match self.profile.as_deref() {
                None | Some("") => None,
                Some(p) => Some(p.parse().map_err(|e: String| invalid(&e))?),
            },
            request_uris: self.request_uris.unwrap_or_default(),
        })
    }

    /// The metadata of a stored client: the starting point of an update
    /// (the caller's fields are laid over it, then the whole goes through
    /// the same rules as a new client).
    pub fn of(client: &Client) -> Self {
        let view = ClientView::of(client);
        Self {
            client_name: Some(view.client_name),
            redirect_uris: Some(view.redirect_uris),
            post_logout_redirect_uris: Some(view.post_logout_redirect_uris),
            grant_types: Some(view.grant_types),
            response_types: Some(view.response_types),
            scope: Some(view.scope),
            token_endpoint_auth_method: Some(view.token_endpoint_auth_method),
            jwks: view.jwks,
            jwks_uri: view.jwks_uri,
            id_token_signed_response_alg: view.id_token_signed_response_alg,
            first_party: Some(view.first_party),
            require_pkce: Some(view.require_pkce),
            require_mfa: Some(view.require_mfa),
            resource_server: Some(view.resource_server),
            audience: view.audience,
            access_token_ttl: view.access_token_ttl,
            id_token_ttl: view.id_token_ttl,
            refresh_token_ttl: view.refresh_token_ttl,
            // A stored http redirect URI was allowed when it was registered.
            allow_http_redirect_uris: Some(true),
            backchannel_logout_uri: view.backchannel_logout_uri,
            backchannel_logout_session_required: Some(view.backchannel_logout_session_required),
            allowed_resources: Some(view.allowed_resources),
            require_pushed_authorization_requests: Some(view.require_pushed_authorization_requests),
            dpop_bound_access_tokens: Some(view.dpop_bound_access_tokens),
            profile: view.profile,
            request_uris: Some(view.request_uris),
        }
    }

    /// `self` with every field that `patch` carries replaced (a partial
    /// update: absent fields stay as they are). `jwks` and `jwks_uri`
    /// replace each other: sending one drops the other.
    #[must_use]
    pub fn merged(self, patch: Self) -> Self {
        let (jwks, jwks_uri) = if patch.jwks.is_some() || patch.jwks_uri.is_some() {
            (patch.jwks, patch.jwks_uri)
        } else {
            (self.jwks, self.jwks_uri)
        };
        Self {
            client_name: patch.client_name.or(self.client_name),
            redirect_uris: patch.redirect_uris.or(self.redirect_uris),
            post_logout_redirect_uris: patch
                .post_logout_redirect_uris
                .or(self.post_logout_redirect_uris),
            grant_types: patch.grant_types.or(self.grant_types),
            response_types: patch.response_types.or(self.response_types),
            scope: patch.scope.or(self.scope),
            token_endpoint_auth_method: patch
                .token_endpoint_auth_method
                .or(self.token_endpoint_auth_method),
            jwks,
            jwks_uri,
            id_token_signed_response_alg: patch
                .id_token_signed_response_alg
                .or(self.id_token_signed_response_alg),
            first_party: patch.first_party.or(self.first_party),
            require_pkce: patch.require_pkce.or(self.require_pkce),
            require_mfa: patch.require_mfa.or(self.require_mfa),
            resource_server: patch.resource_server.or(self.resource_server),
            audience: patch.audience.or(self.audience),
            access_token_ttl: patch.access_token_ttl.or(self.access_token_ttl),
            id_token_ttl: patch.id_token_ttl.or(self.id_token_ttl),
            refresh_token_ttl: patch.refresh_token_ttl.or(self.refresh_token_ttl),
            allow_http_redirect_uris: patch
                .allow_http_redirect_uris
                .or(self.allow_http_redirect_uris),
            // An empty string removes the URI.
            backchannel_logout_uri: patch.backchannel_logout_uri.or(self.backchannel_logout_uri),
            backchannel_logout_session_required: patch
                .backchannel_logout_session_required
                .or(self.backchannel_logout_session_required),
            allowed_resources: patch.allowed_resources.or(self.allowed_resources),
            require_pushed_authorization_requests: patch
                .require_pushed_authorization_requests
                .or(self.require_pushed_authorization_requests),
            dpop_bound_access_tokens: patch
                .dpop_bound_access_tokens
                .or(self.dpop_bound_access_tokens),
            profile: patch.profile.or(self.profile),
            request_uris: patch.request_uris.or(self.request_uris),
        }
    }
}

/// A client as the admin API and registration answer it: RFC 7591 §3.2.1
/// names, never the secret's hash. The secret itself appears only in the
/// answer that created it (`client_secret`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClientView {
    /// `client_id`.
    pub client_id: String,
    /// `client_secret`: only in the answer that issued it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// `client_id_issued_at`, seconds since the epoch.
    pub client_id_issued_at: i64,
    /// `client_secret_expires_at`: 0 (secrets do not expire) for
    /// confidential clients (RFC 7591 §3.2.1 requires it whenever a secret
    /// was issued); absent for public ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret_expires_at: Option<i64>,
    /// `client_name`.
    pub client_name: String,
    /// `redirect_uris`.
    pub redirect_uris: Vec<String>,
    /// `post_logout_redirect_uris`.
    pub post_logout_redirect_uris: Vec<String>,
    /// `grant_types`.
    pub grant_types: Vec<String>,
    /// `response_types`.
    pub response_types: Vec<String>,
    /// `scope`.
    pub scope: String,
    /// `token_endpoint_auth_method`.
    pub token_endpoint_auth_method: String,
    /// `jwks`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<Value>,
    /// `jwks_uri`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// `id_token_signed_response_alg`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token_signed_response_alg: Option<String>,
    /// *Extension*: skips consent.
    pub first_party: bool,
    /// *Extension*: PKCE required.
    pub require_pkce: bool,
    /// *Extension*: a second factor required (docs/MFA.md).
    pub require_mfa: bool,
    /// *Extension*: a resource server.
    pub resource_server: bool,
    /// *Extension*: the resource server's audience.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// *Extension*: access-token lifetime override, seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token_ttl: Option<i64>,
    /// *Extension*: ID-token lifetime override, seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token_ttl: Option<i64>,
    /// *Extension*: refresh-token lifetime override, seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token_ttl: Option<i64>,
    /// `backchannel_logout_uri`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_uri: Option<String>,
    /// `backchannel_logout_session_required`.
    pub backchannel_logout_session_required: bool,
    /// *Extension*: the resources (RFC 8707) the client may ask tokens for.
    pub allowed_resources: Vec<String>,
    /// `require_pushed_authorization_requests` (RFC 9126 §6).
    pub require_pushed_authorization_requests: bool,
    /// `dpop_bound_access_tokens` (RFC 9449 §5.2).
    pub dpop_bound_access_tokens: bool,
    /// *Extension*: the security profile (`fapi2`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// `request_uris` (OpenID Connect Dynamic Client Registration 1.0 §2).
    pub request_uris: Vec<String>,
    /// *Extension*: last change, seconds since the epoch.
    pub updated_at: i64,
}

impl ClientView {
    /// The view of a stored client (no secret).
    pub fn of(c: &Client) -> Self {
        let code = c.allows_grant(GrantType::AuthorizationCode);
        Self {
            client_id: c.id.as_str().to_owned(),
            client_secret: None,
            client_id_issued_at: c.created_at.timestamp(),
            client_secret_expires_at: (c.kind() == ClientKind::Confidential
                && c.secret_hash.is_some())
            .then_some(0),
            client_name: c.name.clone(),
            redirect_uris: c
                .redirect_uris
                .iter()
                .map(|u| u.as_str().to_owned())
                .collect(),
            post_logout_redirect_uris: c
                .post_logout_redirect_uris
                .iter()
                .map(|u| u.as_str().to_owned())
                .collect(),
            grant_types: c
                .grant_types
                .iter()
                .map(|g| g.as_str().to_owned())
                .collect(),
            response_types: if code { vec!["code".into()] } else { vec![] },
            scope: c.scopes.to_string(),
            token_endpoint_auth_method: c.auth_method.as_str().to_owned(),
            jwks: c.jwks.as_deref().and_then(|j| serde_json::from_str(j).ok()),
            jwks_uri: c.jwks_uri.clone(),
            id_token_signed_response_alg: c.id_token_signed_response_alg.clone(),
            first_party: c.first_party,
            require_pkce: c.require_pkce,
            require_mfa: c.require_mfa,
            resource_server: c.resource_audience.is_some(),
            audience: c.resource_audience.clone(),
            access_token_ttl: c.access_token_ttl_secs,
            id_token_ttl: c.id_token_ttl_secs,
            refresh_token_ttl: c.refresh_token_ttl_secs,
            backchannel_logout_uri: c.backchannel_logout_uri.clone(),
            backchannel_logout_session_required: c.backchannel_logout_session_required,
            allowed_resources: c.allowed_resources.clone(),
            require_pushed_authorization_requests: c.require_pushed_authorization_requests,
            dpop_bound_access_tokens: c.dpop_bound_access_tokens,
            profile: c.profile.map(|p| p.as_str().to_owned()),
            request_uris: c.request_uris.clone(),
            updated_at: c.updated_at.timestamp(),
        }
    }

    /// The view with the plain secret just issued.
    #[must_use]
    pub fn with_secret(mut self, secret: Option<String>) -> Self {
        self.client_secret = secret;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(v: serde_json::Value) -> ClientMetadata {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn unknown_metadata_is_ignored_and_names_are_rfc_7591() {
        let m = meta(serde_json::json!({
            "client_name": "App",
            "redirect_uris": ["https://app.example/cb"],
            "logo_uri": "https://app.example/logo.png",
            "token_endpoint_auth_method": "none",
            "scope": "openid  profile",
        }));
        let n = m.into_new_client().unwrap();
        assert_eq!(n.name, "App");
        assert!(n.public);
        assert_eq!(n.auth_method, None);
        assert_eq!(n.scopes, ["openid", "profile"]);
    }

    #[test]
    fn require_mfa_is_read_patched_and_shown() {
        let m = meta(serde_json::json!({
            "client_name": "App",
            "redirect_uris": ["https://app.example/cb"],
            "require_mfa": true,
        }));
        assert_eq!(m.require_mfa, Some(true));
        let patched = m
            .clone()
            .merged(meta(serde_json::json!({"require_mfa": false})));
        assert_eq!(patched.require_mfa, Some(false));
        let kept = m.merged(meta(serde_json::json!({"client_name": "B"})));
        assert_eq!(kept.require_mfa, Some(true));
        assert!(kept.into_new_client().unwrap().require_mfa);
        let plain = meta(serde_json::json!({"client_name": "App"}));
        assert!(!plain.into_new_client().unwrap().require_mfa);
    }

    #[test]
    fn response_types_must_agree_with_grant_types() {
        for (bad, why) in [
            (serde_json::json!({"response_types": ["token"]}), "implicit"),
            (
                serde_json::json!({"grant_types": ["client_credentials"], "response_types": ["code"]}),
                "code without authorization_code",
            ),
            (
                serde_json::json!({"grant_types": ["authorization_code"], "response_types": []}),
                "authorization_code without code",
            ),
        ] {
            assert!(
                matches!(meta(bad).into_new_client(), Err(OperatorError::Invalid(_))),
                "{why}"
            );
        }
        let ok = serde_json::json!({"grant_types": ["client_credentials"], "response_types": []});
        assert!(meta(ok).into_new_client().is_ok());
    }

    #[test]
    fn jwks_and_jwks_uri_are_exclusive_and_jwks_is_an_object() {
        let both = serde_json::json!({"jwks": {"keys": []}, "jwks_uri": "https://a.example/jwks"});
        assert!(meta(both).into_new_client().is_err());
        assert!(
            meta(serde_json::json!({"jwks": "keys"}))
                .into_new_client()
                .is_err()
        );
        let n = meta(serde_json::json!({"jwks": {"keys": []}}))
            .into_new_client()
            .unwrap();
        assert_eq!(n.jwks.as_deref(), Some("{\"keys\":[]}"));
    }

    #[test]
    fn a_patch_replaces_only_what_it_carries() {
        let base = meta(serde_json::json!({
            "client_name": "Old", "redirect_uris": ["https://a.example/cb"],
            "jwks_uri": "https://a.example/jwks", "first_party": true,
        }));
        let patched = base.merged(meta(serde_json::json!({
            "client_name": "New", "jwks": {"keys": []},
        })));
        assert_eq!(patched.client_name.as_deref(), Some("New"));
        assert_eq!(patched.redirect_uris.unwrap(), ["https://a.example/cb"]);
        assert_eq!(patched.jwks_uri, None, "jwks replaces jwks_uri");
        assert_eq!(patched.first_party, Some(true));
    }
}
