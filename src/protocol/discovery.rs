//! The OpenID Provider Configuration document (OpenID Connect Discovery
//! 1.0 §3, with the OAuth 2.0 Authorization Server Metadata fields of
//! RFC 8414 §2). It must be truthful: it lists only endpoints, grants,
//! modes and methods the server really implements. Each endpoint is a field
//! of [`DiscoveryCapabilities`], switched on when its handler lands.

use serde::Serialize;

use crate::ports::JwsAlg;

/// The path of the JWK Set (`jwks_uri`), under the issuer.
pub const JWKS_PATH: &str = "/jwks";
/// The path of this document (Discovery §4).
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// What the server implements: endpoint paths (under the issuer; `None`
/// when the endpoint does not exist) and the values it supports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryCapabilities {
    /// Authorization endpoint (OAuth 2.0 §3.1, OIDC Core §3.1.2).
    pub authorization_endpoint: Option<&'static str>,
    /// Token endpoint (OAuth 2.0 §3.2, OIDC Core §3.1.3).
    pub token_endpoint: Option<&'static str>,
    /// UserInfo endpoint (OIDC Core §5.3).
    pub userinfo_endpoint: Option<&'static str>,
    /// Revocation endpoint (RFC 7009; RFC 8414 §2).
    pub revocation_endpoint: Option<&'static str>,
    /// Introspection endpoint (RFC 7662; RFC 8414 §2).
    pub introspection_endpoint: Option<&'static str>,
    /// End-session endpoint (OpenID Connect RP-Initiated Logout §2.1).
    pub end_session_endpoint: Option<&'static str>,
    /// `grant_types_supported`.
    pub grant_types: Vec<&'static str>,
    /// `token_endpoint_auth_methods_supported`, also used for the
    /// revocation and introspection endpoints.
    pub token_endpoint_auth_methods: Vec<&'static str>,
    /// `scopes_supported`.
    pub scopes: Vec<&'static str>,
    /// `claims_supported`.
    pub claims: Vec<&'static str>,
    /// `response_modes_supported`.
    pub response_modes: Vec<&'static str>,
    /// `code_challenge_methods_supported` (RFC 7636 §4.3; RFC 8414 §2).
    pub code_challenge_methods: Vec<&'static str>,
}

impl DiscoveryCapabilities {
    /// What is implemented on this branch. The lead switches endpoints on
    /// here as their handlers are merged.
    pub fn implemented() -> Self {
        Self {
            authorization_endpoint: Some("/authorize"),
            token_endpoint: Some("/token"),
            userinfo_endpoint: Some("/userinfo"),
            revocation_endpoint: Some("/revoke"),
            introspection_endpoint: Some("/introspect"),
            end_session_endpoint: Some("/logout"),
            grant_types: vec!["authorization_code", "refresh_token", "client_credentials"],
            token_endpoint_auth_methods: vec![
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
                "none",
            ],
            scopes: vec!["openid", "profile", "email", "offline_access"],
            claims: vec![
                "iss",
                "sub",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "at_hash",
                "sid",
                "azp",
                "amr",
                "name",
                "preferred_username",
                "email",
                "email_verified",
                "updated_at",
            ],
            response_modes: vec!["query", "form_post"],
            code_challenge_methods: vec!["S256"],
        }
    }
}

/// The document; field names are the registered metadata names.
#[derive(Debug, Serialize)]
struct Document<'a> {
    issuer: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    authorization_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    userinfo_endpoint: Option<String>,
    jwks_uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    revocation_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    revocation_endpoint_auth_methods_supported: Option<&'a [&'static str]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    introspection_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    introspection_endpoint_auth_methods_supported: Option<&'a [&'static str]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_session_endpoint: Option<String>,
    scopes_supported: &'a [&'static str],
    response_types_supported: [&'static str; 1],
    response_modes_supported: &'a [&'static str],
    grant_types_supported: &'a [&'static str],
    subject_types_supported: [&'static str; 1],
    id_token_signing_alg_values_supported: Vec<&'static str>,
    token_endpoint_auth_methods_supported: &'a [&'static str],
    #[serde(skip_serializing_if = "Option::is_none")]
    token_endpoint_auth_signing_alg_values_supported: Option<Vec<&'static str>>,
    claims_supported: &'a [&'static str],
    code_challenge_methods_supported: &'a [&'static str],
    claims_parameter_supported: bool,
    request_parameter_supported: bool,
    request_uri_parameter_supported: bool,
    authorization_response_iss_parameter_supported: bool,
}

/// Builds the document for `issuer` (already without a trailing slash)
/// whose keys sign with `signing_algs`.
pub fn document(
    issuer: &str,
    caps: &DiscoveryCapabilities,
    signing_algs: &[JwsAlg],
) -> serde_json::Value {
    let url = |path: Option<&str>| path.map(|p| format!("{issuer}{p}"));
    let algs: Vec<&'static str> = signing_algs.iter().map(|a| a.as_str()).collect();
    let auth_methods = caps.token_endpoint_auth_methods.as_slice();
    let doc = Document {
        issuer,
        authorization_endpoint: url(caps.authorization_endpoint),
        token_endpoint: url(caps.token_endpoint),
        userinfo_endpoint: url(caps.userinfo_endpoint),
        jwks_uri: format!("{issuer}{JWKS_PATH}"),
        revocation_endpoint: url(caps.revocation_endpoint),
        revocation_endpoint_auth_methods_supported: caps.revocation_endpoint.map(|_| auth_methods),
        introspection_endpoint: url(caps.introspection_endpoint),
        introspection_endpoint_auth_methods_supported: caps
            .introspection_endpoint
            .map(|_| auth_methods),
        end_session_endpoint: url(caps.end_session_endpoint),
        scopes_supported: &caps.scopes,
        // Only the authorization code flow (OIDC Core §3.1); Discovery §3
        // says dynamic OpenID Providers MUST support `code`.
        response_types_supported: ["code"],
        response_modes_supported: &caps.response_modes,
        grant_types_supported: &caps.grant_types,
        subject_types_supported: ["public"],
        // Discovery §3: RS256 MUST be included.
        id_token_signing_alg_values_supported: algs,
        token_endpoint_auth_methods_supported: auth_methods,
        // Discovery §3: required when private_key_jwt is listed; never
        // `none`. We verify client assertions with these algorithms.
        token_endpoint_auth_signing_alg_values_supported: auth_methods
            .contains(&"private_key_jwt")
            .then(|| JwsAlg::ALL.iter().map(|a| a.as_str()).collect()),
        claims_supported: &caps.claims,
        code_challenge_methods_supported: &caps.code_challenge_methods,
        claims_parameter_supported: false,
        request_parameter_supported: false,
        // Discovery §3: the default is true, so say false.
        request_uri_parameter_supported: false,
        // RFC 9207 §3: the authorization response carries `iss`.
        authorization_response_iss_parameter_supported: true,
    };
    serde_json::to_value(doc).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(caps: &DiscoveryCapabilities) -> serde_json::Value {
        document("https://id.example", caps, &[JwsAlg::Rs256, JwsAlg::Es256])
    }

    #[test]
    fn required_metadata_is_present() {
        // Discovery §3: REQUIRED fields.
        let d = doc(&DiscoveryCapabilities::implemented());
        assert_eq!(d["issuer"], "https://id.example");
        assert_eq!(d["authorization_endpoint"], "https://id.example/authorize");
        assert_eq!(d["token_endpoint"], "https://id.example/token");
        assert_eq!(d["jwks_uri"], "https://id.example/jwks");
        assert_eq!(d["response_types_supported"], serde_json::json!(["code"]));
        assert_eq!(d["subject_types_supported"], serde_json::json!(["public"]));
        assert_eq!(
            d["id_token_signing_alg_values_supported"],
            serde_json::json!(["RS256", "ES256"])
        );
        assert_eq!(d["request_uri_parameter_supported"], false);
        assert_eq!(d["authorization_response_iss_parameter_supported"], true);
        assert_eq!(
            d["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
    }

    #[test]
    fn endpoints_are_advertised_only_when_implemented() {
        let caps = DiscoveryCapabilities {
            revocation_endpoint: None,
            introspection_endpoint: None,
            end_session_endpoint: None,
            ..DiscoveryCapabilities::implemented()
        };
        let d = doc(&caps);
        for absent in [
            "revocation_endpoint",
            "revocation_endpoint_auth_methods_supported",
            "introspection_endpoint",
            "end_session_endpoint",
            "registration_endpoint",
        ] {
            assert!(d.get(absent).is_none(), "{absent}");
        }
        let d = doc(&DiscoveryCapabilities::implemented());
        assert_eq!(d["revocation_endpoint"], "https://id.example/revoke");
        assert_eq!(
            d["revocation_endpoint_auth_methods_supported"],
            d["token_endpoint_auth_methods_supported"]
        );
        assert_eq!(d["introspection_endpoint"], "https://id.example/introspect");
        assert_eq!(d["end_session_endpoint"], "https://id.example/logout");
        assert!(d.get("registration_endpoint").is_none());
    }

    #[test]
    fn private_key_jwt_comes_with_its_algorithms() {
        let d = doc(&DiscoveryCapabilities::implemented());
        let algs = d["token_endpoint_auth_signing_alg_values_supported"]
            .as_array()
            .unwrap();
        assert!(algs.iter().any(|a| a == "RS256"));
        assert!(
            !algs.iter().any(|a| a == "none"),
            "Discovery §3 forbids none"
        );
        let caps = DiscoveryCapabilities {
            token_endpoint_auth_methods: vec!["client_secret_basic"],
            ..DiscoveryCapabilities::implemented()
        };
        assert!(
            doc(&caps)
                .get("token_endpoint_auth_signing_alg_values_supported")
                .is_none()
        );
    }
}
