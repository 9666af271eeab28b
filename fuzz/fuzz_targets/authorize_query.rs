//! The authorization request: `RawParams::parse` of a query string, then
//! the client/redirect check and `validate` against two fixed clients (one
//! public, one confidential). Besides "no panic", checks invariant 1: a
//! redirect only ever goes to a registered URI.

#![no_main]

use std::sync::LazyLock;

use chrono::DateTime;
use libfuzzer_sys::fuzz_target;
use portcullis::domain::{
    Client, ClientId, GrantType, RedirectUri, ScopeSet, TokenEndpointAuthMethod, TokenHash,
};
use portcullis::protocol::authorize::{AuthorizePolicy, validate, verify_client_and_redirect};
use portcullis::protocol::params::RawParams;

fn client(id: &str, public: bool) -> Client {
    Client {
        id: ClientId::parse(id).unwrap(),
        name: "App".into(),
        secret_hash: (!public).then(|| TokenHash::of("s")),
        secret_rotated_at: None,
        previous_secret_hash: None,
        previous_secret_expires_at: None,
        auth_method: if public {
            TokenEndpointAuthMethod::None
        } else {
            TokenEndpointAuthMethod::ClientSecretBasic
        },
        redirect_uris: vec![
            RedirectUri::parse("https://app.example/cb?tenant=1", false).unwrap(),
            RedirectUri::parse("com.example.app:/oauth2redirect", false).unwrap(),
        ],
        post_logout_redirect_uris: vec![],
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        scopes: ScopeSet::parse("openid profile email offline_access").unwrap(),
        first_party: false,
        resource_audience: None,
        require_pkce: false,
        require_mfa: false,
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
        created_at: DateTime::UNIX_EPOCH,
        updated_at: DateTime::UNIX_EPOCH,
    }
}

static CLIENTS: LazyLock<Vec<Client>> =
    LazyLock::new(|| vec![client("c1", false), client("pub1", true)]);

fuzz_target!(|data: &[u8]| {
    let params = RawParams::parse(data);
    for c in CLIENTS.iter() {
        let found = params
            .get("client_id")
            .filter(|id| *id == c.id.as_str())
            .map(|_| c);
        let Ok(redirect) = verify_client_and_redirect(&params, found) else {
            continue;
        };
        assert!(
            c.has_redirect_uri(redirect.uri()),
            "redirect to an unregistered URI: {}",
            redirect.uri()
        );
        for pkce_allow_plain in [false, true] {
            let policy = AuthorizePolicy {
                pkce_allow_plain,
                require_pushed: false,
            };
            match validate(&params, c, &redirect, policy) {
                Ok(v) => {
                    assert_eq!(v.redirect.uri(), redirect.uri());
                    for s in v.scope.iter() {
                        assert!(c.scopes.contains(s), "scope {s} not allowed");
                    }
                }
                Err(e) => {
                    let params = e.redirect.response_params(
                        "https://id.example",
                        vec![("error", e.error.code.as_str().to_owned())],
                    );
                    let url = e.redirect.query_url(&params);
                    assert!(url.starts_with(redirect.uri()));
                }
            }
        }
    }
});
