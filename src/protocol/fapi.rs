//! The FAPI 2.0 Security Profile (OpenID FAPI 2.0 Security Profile, final,
//! February 2025) for clients registered with `profile: fapi2`: the one home
//! of what the profile adds to the server's ordinary rules. docs/FAPI.md
//! maps each clause to the code and the test that sees it refused.
//!
//! Registration (`operator::validated_client`) already makes such a client
//! use `private_key_jwt` (§5.3.2.1 item 6; mutual TLS is out of scope here),
//! sign its ID tokens with PS256 or ES256 (§5.4.1), require pushed
//! authorization requests (§5.3.2.2 item 4), PKCE (item 3) and DPoP-bound
//! tokens (§5.3.2.1 items 4-5). What happens at request time is here.

use chrono::Duration;

use crate::domain::{Client, ClientProfile};
use crate::ports::JwsAlg;

/// §5.4.1 item 1: the JWS algorithms a FAPI 2.0 client and the server may
/// use (EdDSA is not offered by this server).
pub const ALGS: &[&str] = &["PS256", "ES256"];

/// §5.3.2.2 item 6: the longest an authorization code lives.
pub const MAX_CODE_TTL: Duration = Duration::seconds(60);

/// Whether `client` is held to the FAPI 2.0 Security Profile.
pub fn applies(client: &Client) -> bool {
    client.profile == Some(ClientProfile::Fapi2)
}

/// §5.4.1: whether `client` may sign with `alg` (its client assertions,
/// request objects and DPoP proofs); every algorithm the server accepts
/// otherwise for a client outside the profile.
pub fn alg_allowed(client: &Client, alg: &str) -> bool {
    !applies(client) || ALGS.contains(&alg)
}

/// §5.3.2.2 item 3: a FAPI 2.0 client's authorization request uses PKCE
/// with S256 (never `plain`, whatever the server allows others). `Err`: the
/// `invalid_request` description.
pub fn check_pkce(client: &Client, method: Option<&str>) -> Result<(), &'static str> {
    if applies(client) && method != Some("S256") {
        return Err("the FAPI 2.0 profile requires PKCE with code_challenge_method S256");
    }
    Ok(())
}

/// §5.3.2.2 item 6: a code of a FAPI 2.0 client lives at most 60 s
/// (`None`: the configured lifetime, whatever it is).
pub fn max_code_ttl(client: &Client) -> Option<Duration> {
    applies(client).then_some(MAX_CODE_TTL)
}

/// §5.3.2.1 item 8: a FAPI 2.0 client's assertion names the issuer as its
/// audience, as a single string (not the token endpoint, not an array).
pub fn assertion_audience_ok(client: &Client, aud: &serde_json::Value, issuer: &str) -> bool {
    !applies(client) || aud.as_str() == Some(issuer)
}

/// §5.4.1: the algorithm of a FAPI 2.0 client's access tokens: the
/// configured one, except RS256, which becomes PS256.
pub fn access_token_alg(client: &Client, configured: JwsAlg) -> JwsAlg {
    if applies(client) && configured == JwsAlg::Rs256 {
        JwsAlg::Ps256
    } else {
        configured
    }
}

/// §5.3.2.1 item 10: "shall not use refresh token rotation unless, in the
/// case a response with a new refresh token is not received and stored by
/// the client, retrying the request (with the previous refresh token) will
/// succeed". A FAPI 2.0 client's refresh token is not rotated: a refresh
/// answers a new access token (and ID token) and the client keeps its
/// refresh token, so a lost answer costs nothing.
pub fn rotates_refresh_tokens(client: &Client) -> bool {
    !applies(client)
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::domain::{ClientId, ScopeSet, TokenEndpointAuthMethod};

    fn client(profile: Option<ClientProfile>) -> Client {
        let now = Utc::now();
        Client {
            id: ClientId::parse("c1").unwrap(),
            name: "c".into(),
            secret_hash: None,
            secret_rotated_at: None,
            previous_secret_hash: None,
            previous_secret_expires_at: None,
            auth_method: TokenEndpointAuthMethod::PrivateKeyJwt,
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            grant_types: Vec::new(),
            scopes: ScopeSet::parse("openid").unwrap(),
            first_party: false,
            require_pkce: true,
            require_mfa: false,
            resource_audience: None,
            id_token_signed_response_alg: Some("ES256".into()),
            jwks: None,
            jwks_uri: None,
            access_token_ttl_secs: None,
            id_token_ttl_secs: None,
            refresh_token_ttl_secs: None,
            backchannel_logout_uri: None,
            backchannel_logout_session_required: false,
            allowed_resources: Vec::new(),
            require_pushed_authorization_requests: true,
            dpop_bound_access_tokens: true,
            profile,
            request_uris: Vec::new(),
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn the_profile_narrows_only_its_clients() {
        let fapi = client(Some(ClientProfile::Fapi2));
        let plain = client(None);
        for alg in ["RS256", "HS256", "none"] {
            assert!(!alg_allowed(&fapi, alg), "{alg}");
        }
        assert!(alg_allowed(&fapi, "PS256") && alg_allowed(&fapi, "ES256"));
        assert!(alg_allowed(&plain, "RS256"));
        assert!(check_pkce(&fapi, Some("plain")).is_err());
        assert!(check_pkce(&fapi, None).is_err());
        assert!(check_pkce(&fapi, Some("S256")).is_ok());
        assert!(check_pkce(&plain, Some("plain")).is_ok());
        assert_eq!(max_code_ttl(&fapi), Some(Duration::seconds(60)));
        assert_eq!(max_code_ttl(&plain), None);
        let iss = "https://id.example";
        assert!(assertion_audience_ok(&fapi, &serde_json::json!(iss), iss));
        assert!(!assertion_audience_ok(
            &fapi,
            &serde_json::json!([iss]),
            iss
        ));
        assert!(!assertion_audience_ok(
            &fapi,
            &serde_json::json!("https://id.example/token"),
            iss
        ));
        assert!(assertion_audience_ok(
            &plain,
            &serde_json::json!([iss]),
            iss
        ));
        assert_eq!(access_token_alg(&fapi, JwsAlg::Rs256), JwsAlg::Ps256);
        assert_eq!(access_token_alg(&fapi, JwsAlg::Es256), JwsAlg::Es256);
        assert_eq!(access_token_alg(&plain, JwsAlg::Rs256), JwsAlg::Rs256);
        assert!(!rotates_refresh_tokens(&fapi) && rotates_refresh_tokens(&plain));
    }
}
