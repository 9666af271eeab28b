//! The OpenID Provider Configuration document (OpenID Connect Discovery
//! 1.0 §3, with the OAuth 2.0 Authorization Server Metadata fields of
//! RFC 8414 §2). It must be truthful: it lists only endpoints, grants,
//! modes and methods the server really implements. The endpoint URLs and
//! the client-authentication metadata come from the endpoint inventory
//! ([`Endpoint`]), the grant types from the grant registry
//! (`protocol::token::GrantRegistry`); nothing here restates either.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::endpoints::Endpoint;
use crate::domain::mfa::Acr;
use crate::ports::JwsAlg;

/// The client-authentication methods that sign a JWT and so need their
/// algorithms listed (RFC 8414 §2: `*_auth_signing_alg_values_supported`
/// MUST be present when one of them is listed).
const JWT_AUTH_METHODS: [&str; 2] = ["private_key_jwt", "client_secret_jwt"];

/// The algorithms a client assertion (`private_key_jwt`, RFC 7523) or a
/// request object (RFC 9101) may be signed with: the ones the server
/// verifies (`client_auth::verify_client_jws`).
pub const CLIENT_ASSERTION_ALGS: [JwsAlg; 3] = super::client_auth::CLIENT_JWS_ALGS;

/// What the server implements beyond its endpoints: the values it
/// supports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryCapabilities {
    /// The endpoints to advertise (those of [`Endpoint::ALL`] that have a
    /// metadata name are listed).
    pub endpoints: Vec<Endpoint>,
    /// `grant_types_supported`: the grant registry's grant types.
    pub grant_types: Vec<&'static str>,
    /// `scopes_supported`.
    pub scopes: Vec<&'static str>,
    /// `claims_supported`.
    pub claims: Vec<&'static str>,
    /// `response_modes_supported`.
    pub response_modes: Vec<&'static str>,
    /// `code_challenge_methods_supported` (RFC 7636 §4.3; RFC 8414 §2).
    pub code_challenge_methods: Vec<&'static str>,
    /// `require_pushed_authorization_requests` (RFC 9126 §5): every client
    /// must use `/par` (`PORTCULLIS_REQUIRE_PAR`).
    pub require_pushed_authorization_requests: bool,
    /// Whether external `request_uri`s are fetched
    /// (`PORTCULLIS_REQUEST_URI_EXTERNAL`).
    pub request_uri_external: bool,
}

impl DiscoveryCapabilities {
    /// The capabilities of this server whose token endpoint runs
    /// `grant_types` (the grant registry's, in any order: they are sorted,
    /// so that the document and its entity tag are the same on every
    /// instance); `registration` says whether `/register` is served
    /// (`PORTCULLIS_REGISTRATION` is not `off`).
    pub fn new(grant_types: impl IntoIterator<Item = &'static str>, registration: bool) -> Self {
        let mut grants: Vec<&'static str> = grant_types.into_iter().collect();
        grants.sort_unstable();
        grants.dedup();
        Self {
            // `registration_endpoint` (RFC 8414 §2, RFC 7591 §3) only while
            // registration is on: advertise what is served.
            endpoints: Endpoint::ALL
                .into_iter()
                .filter(|e| registration || !e.is_registration())
                .collect(),
            grant_types: grants,
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
                "acr",
                "name",
                "preferred_username",
                "email",
                "email_verified",
                "updated_at",
            ],
            response_modes: vec!["query", "form_post"],
            code_challenge_methods: vec!["S256"],
            require_pushed_authorization_requests: false,
            request_uri_external: false,
        }
    }
}

/// The document; field names are the registered metadata names. The
/// endpoint fields (`*_endpoint`, `jwks_uri`, and their
/// `*_auth_methods_supported` and `*_auth_signing_alg_values_supported`)
/// are derived from the inventory into `endpoints`.
#[derive(Debug, Serialize)]
struct Document<'a> {
    issuer: &'a str,
    #[serde(flatten)]
    endpoints: BTreeMap<String, Value>,
    scopes_supported: &'a [&'static str],
    response_types_supported: [&'static str; 1],
    response_modes_supported: &'a [&'static str],
    grant_types_supported: &'a [&'static str],
    subject_types_supported: [&'static str; 1],
    id_token_signing_alg_values_supported: Vec<&'static str>,
    claims_supported: &'a [&'static str],
    acr_values_supported: Vec<&'static str>,
    code_challenge_methods_supported: &'a [&'static str],
    claims_parameter_supported: bool,
    request_parameter_supported: bool,
    request_uri_parameter_supported: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    require_request_uri_registration: bool,
    request_object_signing_alg_values_supported: Vec<&'static str>,
    require_pushed_authorization_requests: bool,
    authorization_response_iss_parameter_supported: bool,
    backchannel_logout_supported: bool,
    backchannel_logout_session_supported: bool,
    dpop_signing_alg_values_supported: Vec<&'static str>,
}

/// The endpoint metadata of `endpoints` under `issuer`: each URL, and for
/// an endpoint where clients authenticate, its methods and (when a JWT
/// method is among them) the assertion algorithms.
fn endpoint_metadata(issuer: &str, endpoints: &[Endpoint]) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for e in endpoints {
        let Some(name) = e.metadata_name() else {
            continue;
        };
        out.insert(
            name.to_owned(),
            Value::from(format!("{issuer}{}", e.path())),
        );
        let methods = e.client_auth_methods();
        if methods.is_empty() {
            continue;
        }
        out.insert(
            format!("{name}_auth_methods_supported"),
            Value::from(methods),
        );
        // RFC 8414 §2 (and Discovery §3 for the token endpoint): required
        // when a JWT method is listed; never `none`.
        if methods.iter().any(|m| JWT_AUTH_METHODS.contains(m)) {
            let algs: Vec<&str> = CLIENT_ASSERTION_ALGS.iter().map(|a| a.as_str()).collect();
            out.insert(
                format!("{name}_auth_signing_alg_values_supported"),
                Value::from(algs),
            );
        }
    }
    out
}

/// Builds the document for `issuer` (already without a trailing slash)
/// whose keys sign with `signing_algs`.
pub fn document(issuer: &str, caps: &DiscoveryCapabilities, signing_algs: &[JwsAlg]) -> Value {
    // When every client must push (RFC 9126 §6), no external request URI
    // is ever fetched (`request::resolve`), whatever the operator allows.
    let external_request_uris =
        caps.request_uri_external && !caps.require_pushed_authorization_requests;
    let doc = Document {
        issuer,
        endpoints: endpoint_metadata(issuer, &caps.endpoints),
        scopes_supported: &caps.scopes,
        // Only the authorization code flow (OIDC Core §3.1); Discovery §3
        // says dynamic OpenID Providers MUST support `code`.
        response_types_supported: ["code"],
        response_modes_supported: &caps.response_modes,
        grant_types_supported: &caps.grant_types,
        subject_types_supported: ["public"],
        // Discovery §3: RS256 MUST be included.
        id_token_signing_alg_values_supported: signing_algs.iter().map(|a| a.as_str()).collect(),
        claims_supported: &caps.claims,
        // OpenID Connect Discovery §3: the classes `acr` can take
        // (docs/MFA.md), weakest first.
        acr_values_supported: Acr::ALL.iter().map(|a| a.as_str()).collect(),
        code_challenge_methods_supported: &caps.code_challenge_methods,
        claims_parameter_supported: false,
        // RFC 9101: signed request objects (`request`) at /authorize and
        // /par. `request_uri_parameter_supported` (Discovery §3, true when
        // omitted) is about external request URIs: true only when the
        // operator allows them, and then each must be registered
        // (`request_uris`, RFC 9101 §10.4.1). The `request_uri`s of /par
        // are announced by `pushed_authorization_request_endpoint` (RFC
        // 9126 §5) and work either way.
        request_parameter_supported: true,
        request_uri_parameter_supported: external_request_uris,
        require_request_uri_registration: external_request_uris,
        request_object_signing_alg_values_supported: CLIENT_ASSERTION_ALGS
            .iter()
            .map(|a| a.as_str())
            .collect(),
        require_pushed_authorization_requests: caps.require_pushed_authorization_requests,
        // RFC 9207 §3: the authorization response carries `iss`.
        authorization_response_iss_parameter_supported: true,
        // Back-Channel Logout 1.0 §2.1: logout tokens are sent, and carry
        // `sid` (`protocol::logout::logout_token_claims`).
        backchannel_logout_supported: true,
        backchannel_logout_session_supported: true,
        // RFC 9449 §5.1: the algorithms `dpop::check` accepts, exactly.
        dpop_signing_alg_values_supported: super::dpop::ALGS.map(JwsAlg::as_str).to_vec(),
    };
    serde_json::to_value(doc).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps() -> DiscoveryCapabilities {
        DiscoveryCapabilities::new(
            ["refresh_token", "authorization_code", "client_credentials"],
            false,
        )
    }

    fn doc(caps: &DiscoveryCapabilities) -> Value {
        document("https://id.example", caps, &[JwsAlg::Rs256, JwsAlg::Es256])
    }

    #[test]
    fn required_metadata_is_present() {
        // Discovery §3: REQUIRED fields.
        let d = doc(&caps());
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
        assert_eq!(d["request_parameter_supported"], true);
        // External request URIs are off by default: discovery says so
        // (Discovery §3: an omitted value means true).
        assert_eq!(d["request_uri_parameter_supported"], false);
        assert!(d.get("require_request_uri_registration").is_none());
        let on = doc(&DiscoveryCapabilities {
            request_uri_external: true,
            ..caps()
        });
        assert_eq!(on["request_uri_parameter_supported"], true);
        assert_eq!(on["require_request_uri_registration"], true);
        let pushed = doc(&DiscoveryCapabilities {
            request_uri_external: true,
            require_pushed_authorization_requests: true,
            ..caps()
        });
        assert_eq!(pushed["request_uri_parameter_supported"], false);
        assert_eq!(
            d["request_object_signing_alg_values_supported"],
            serde_json::json!(["RS256", "ES256", "PS256"])
        );
        assert_eq!(d["require_pushed_authorization_requests"], false);
        assert_eq!(
            d["pushed_authorization_request_endpoint"],
            "https://id.example/par"
        );
        assert_eq!(d["authorization_response_iss_parameter_supported"], true);
        assert_eq!(d["backchannel_logout_supported"], true);
        assert_eq!(d["backchannel_logout_session_supported"], true);
        assert_eq!(
            d["dpop_signing_alg_values_supported"],
            serde_json::json!(["ES256", "PS256", "RS256"])
        );
        assert_eq!(
            d["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
    }

    #[test]
    fn grant_types_are_the_registry_s_sorted() {
        assert_eq!(
            doc(&caps())["grant_types_supported"],
            serde_json::json!(["authorization_code", "client_credentials", "refresh_token"])
        );
    }

    #[test]
    fn every_inventory_endpoint_with_a_metadata_name_is_listed_and_no_other() {
        let d = doc(&caps());
        let advertised = || {
            Endpoint::ALL
                .into_iter()
                .filter(|e| *e != Endpoint::Register)
        };
        for e in advertised() {
            if let Some(name) = e.metadata_name() {
                assert_eq!(d[name], format!("https://id.example{}", e.path()), "{name}");
            }
        }
        let listed = d
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| k.ends_with("_endpoint") || k.ends_with("_uri"))
            .count();
        let named = advertised().filter(|e| e.metadata_name().is_some()).count();
        assert_eq!(listed, named);
        assert!(d.get("registration_endpoint").is_none());
    }

    #[test]
    fn registration_endpoint_is_listed_exactly_when_registration_is_on() {
        let on = DiscoveryCapabilities::new(["authorization_code"], true);
        let d = doc(&on);
        assert_eq!(d["registration_endpoint"], "https://id.example/register");
        // RFC 7591 §3: the endpoint takes no client authentication.
        assert!(
            d.get("registration_endpoint_auth_methods_supported")
                .is_none()
        );
        let off = DiscoveryCapabilities::new(["authorization_code"], false);
        assert!(doc(&off).get("registration_endpoint").is_none());
        assert!(!off.endpoints.contains(&Endpoint::RegisterClient));
    }

    #[test]
    fn endpoints_are_advertised_only_when_served() {
        let caps = DiscoveryCapabilities {
            endpoints: vec![Endpoint::Authorize, Endpoint::Token, Endpoint::Jwks],
            ..caps()
        };
        let d = doc(&caps);
        for absent in [
            "revocation_endpoint",
            "revocation_endpoint_auth_methods_supported",
            "revocation_endpoint_auth_signing_alg_values_supported",
            "introspection_endpoint",
            "introspection_endpoint_auth_methods_supported",
            "end_session_endpoint",
            "userinfo_endpoint",
        ] {
            assert!(d.get(absent).is_none(), "{absent}");
        }
        assert_eq!(d["token_endpoint"], "https://id.example/token");
    }

    #[test]
    fn auth_methods_are_per_endpoint() {
        let d = doc(&caps());
        assert_eq!(
            d["revocation_endpoint_auth_methods_supported"],
            d["token_endpoint_auth_methods_supported"]
        );
        let introspection = d["introspection_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap();
        assert!(introspection.iter().any(|m| m == "private_key_jwt"));
        assert!(
            !introspection.iter().any(|m| m == "none"),
            "introspection refuses public clients"
        );
    }

    #[test]
    fn private_key_jwt_comes_with_its_algorithms_at_every_endpoint() {
        // Discovery §3 for the token endpoint, RFC 8414 §2 for revocation
        // and introspection.
        let d = doc(&caps());
        for name in [
            "token_endpoint",
            "revocation_endpoint",
            "introspection_endpoint",
        ] {
            let algs = d[format!("{name}_auth_signing_alg_values_supported")]
                .as_array()
                .unwrap_or_else(|| panic!("{name}"));
            assert_eq!(
                algs.iter().map(|a| a.as_str().unwrap()).collect::<Vec<_>>(),
                ["RS256", "ES256", "PS256"],
                "{name}"
            );
        }
        // An endpoint without client authentication has neither field.
        assert!(d.get("userinfo_endpoint_auth_methods_supported").is_none());
        assert!(
            d.get("userinfo_endpoint_auth_signing_alg_values_supported")
                .is_none()
        );
    }
}
