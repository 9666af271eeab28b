//! End to end with the `openidconnect` crate as a strict relying party:
//! discovery → authorization URL with PKCE and nonce → login and consent →
//! code exchange → ID token verified against the JWKS → userinfo → refresh
//! (rotation) → reuse of the old refresh token revokes the family → revoke
//! → logout. For a confidential and a public client, and client
//! credentials, on both back ends.

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use portcullis::app::operator::NewClient;
use reqwest::StatusCode;

use crate::both_backends;
use crate::flow::{
    PASSWORD, REDIRECT, WRONG_PASSWORD, WRONG_SECRET, follow, misuse_and_revoke, param, register,
    sign_in, submit, user,
};
use crate::helpers::TestApp;

fn rp_http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Follows the RP's authorization URL through the hosted pages; returns
/// the code and the state.
async fn browse(app: &TestApp, auth_url: &str) -> (String, String) {
    let p = follow(app, auth_url, "alice").await;
    assert_eq!(param(&p, "iss"), Some(app.issuer.as_str()));
    (
        param(&p, "code").unwrap().to_owned(),
        param(&p, "state").unwrap().to_owned(),
    )
}

#[allow(clippy::too_many_lines)] // one flow, read top to bottom as the RP lives it
async fn full_flow(app: &TestApp, public: bool) {
    let c = register(
        app,
        NewClient {
            name: "RP".into(),
            redirect_uris: vec![REDIRECT.into()],
            post_logout_redirect_uris: vec!["https://app.example/bye".into()],
            public,
            ..NewClient::default()
        },
    )
    .await;
    user(app, "alice").await;
    let http = rp_http();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(app.issuer.clone()).unwrap(), &http)
            .await
            .expect("discovery document parses");
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(c.id.clone()),
        c.secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();
    let (code, state) = browse(app, url.as_str()).await;
    assert_eq!(&state, csrf.secret());

    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");
    let id_token = tokens.id_token().expect("an ID token");
    let verifier = client.id_token_verifier();
    let claims = id_token
        .claims(&verifier, &nonce)
        .expect("ID token verifies against the JWKS");
    let expected_hash = claims.access_token_hash().expect("at_hash");
    let actual = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(&actual, expected_hash);
    assert!(claims.auth_time().is_some());
    assert_eq!(
        claims.preferred_username().map(|u| u.as_str()),
        Some("alice")
    );

    let info: CoreUserInfoClaims = client
        .user_info(
            tokens.access_token().clone(),
            Some(claims.subject().clone()),
        )
        .unwrap()
        .request_async(&http)
        .await
        .expect("userinfo");
    assert_eq!(info.email().map(|e| e.as_str()), Some("alice@example.com"));

    let rt1 = tokens
        .refresh_token()
        .expect("a refresh token (offline_access)")
        .clone();
    let refreshed = client
        .exchange_refresh_token(&rt1)
        .unwrap()
        .request_async(&http)
        .await
        .expect("refresh");
    let rt2 = refreshed.refresh_token().expect("rotated").clone();
    assert_ne!(rt1.secret(), rt2.secret());
    let reuse = client
        .exchange_refresh_token(&rt1)
        .unwrap()
        .request_async(&http)
        .await;
    assert!(reuse.is_err(), "reuse of a rotated token fails");
    let after = client
        .exchange_refresh_token(&rt2)
        .unwrap()
        .request_async(&http)
        .await;
    assert!(after.is_err(), "and revokes the whole family");

    // openidconnect refuses a plain-http revocation URL, so revoke as the
    // RP would over the wire (RFC 7009 §2.1).
    let at = refreshed.access_token().secret().clone();
    let mut form = vec![("token", at.as_str()), ("token_type_hint", "access_token")];
    let req = http.post(format!("{}/revoke", app.issuer));
    let req = if let Some(secret) = &c.secret {
        req.basic_auth(&c.id, Some(secret))
    } else {
        form.push(("client_id", c.id.as_str()));
        req
    };
    assert_eq!(
        req.form(&form).send().await.unwrap().status(),
        StatusCode::OK
    );
    let revoked = client
        .user_info(refreshed.access_token().clone(), None)
        .unwrap()
        .request_async(&http)
        .await;
    let revoked: Result<CoreUserInfoClaims, _> = revoked;
    assert!(revoked.is_err(), "a revoked access token is refused");

    // RP-initiated logout with the ID token as hint: trusted, no prompt.
    let logout = format!(
        "{}/logout?id_token_hint={}&post_logout_redirect_uri={}&state=bye-1",
        app.issuer,
        id_token,
        url::form_urlencoded::byte_serialize(b"https://app.example/bye").collect::<String>()
    );
    let resp = app.http.get(logout).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        resp.headers()["location"],
        "https://app.example/bye?state=bye-1"
    );
    // The session is gone: a new authorization asks for the password again.
    let (url, _, _) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(PkceCodeChallenge::new_random_sha256().0)
        .url();
    let html = app
        .http
        .get(url.as_str())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Sign in"), "signed out");
}

both_backends!(
    confidential_client_full_flow_with_openidconnect,
    |backend| async move {
        let app = crate::helpers::spawn_app(backend).await;
        full_flow(&app, false).await;
    }
);

both_backends!(
    public_client_full_flow_with_openidconnect,
    |backend| async move {
        let app = crate::helpers::spawn_app(backend).await;
        full_flow(&app, true).await;
    }
);

both_backends!(
    client_credentials_with_openidconnect,
    |backend| async move {
        let app = crate::helpers::spawn_app(backend).await;
        let c = register(
            &app,
            NewClient {
                name: "Service".into(),
                grant_types: vec!["client_credentials".into()],
                scopes: vec!["api:read".into(), "api:write".into()],
                ..NewClient::default()
            },
        )
        .await;
        let http = rp_http();
        let metadata = CoreProviderMetadata::discover_async(
            IssuerUrl::new(app.issuer.clone()).unwrap(),
            &http,
        )
        .await
        .unwrap();
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(c.id.clone()),
            c.secret.map(ClientSecret::new),
        );
        let tokens = client
            .exchange_client_credentials()
            .unwrap()
            .add_scope(Scope::new("api:read".into()))
            .request_async(&http)
            .await
            .expect("client credentials");
        assert_eq!(tokens.scopes().map(Vec::len), Some(1));
        assert!(tokens.refresh_token().is_none());
    }
);

both_backends!(
    one_full_flow_emits_the_event_catalogue_without_secrets,
    |backend| async move {
        use portcullis::domain::event::EventKind as K;
        let (app, sink) = crate::helpers::spawn_app_recording(backend).await;
        let s = sign_in(&app).await;
        misuse_and_revoke(&app, &s).await;
        let html = app
            .http
            .get(app.url(&format!("/logout?client_id={}", s.client.id)))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let confirm = [("decision", "logout")];
        submit(&app.http, &app, "/logout/confirm", &html, &confirm).await;
        // A second user, in a browser of their own, denies consent.
        user(&app, "bob").await;
        let other = crate::helpers::http_client();
        let html = other
            .get(app.url(&format!("/authorize?{}", s.query)))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let bob = [("username", "bob"), ("password", PASSWORD)];
        let resp = submit(&other, &app, "/login", &html, &bob).await;
        let html = resp.text().await.unwrap();
        submit(&other, &app, "/consent", &html, &[("decision", "deny")]).await;

        let kinds = sink.kinds();
        for k in [
            K::LoginFailed,
            K::LoginSucceeded,
            K::ConsentGranted,
            K::AuthorizationCodeIssued,
            K::TokenIssued,
            K::AuthorizationCodeReplayed,
            K::RefreshTokenRotated,
            K::RefreshTokenReuseDetected,
            K::ClientAuthenticationFailed,
            K::TokenRevoked,
            K::Logout,
            K::ConsentDenied,
        ] {
            assert!(kinds.contains(&k), "missing {k:?} in {kinds:?}");
        }
        let failed = sink.of_kind(K::LoginFailed);
        assert_eq!(
            failed[0].detail_map().get("reason").map(String::as_str),
            Some("bad_password")
        );
        let issued = sink.of_kind(K::TokenIssued);
        assert_eq!(issued[0].client_id(), Some(s.client.id.as_str()));
        assert!(issued[0].ip().is_some() && issued[0].request_id().is_some());
        // No secret in any event.
        let all = serde_json::to_string(&sink.events()).unwrap();
        for secret in [
            s.code.as_str(),
            s.access_token.as_str(),
            s.refresh_token.as_str(),
            s.id_token.as_str(),
            s.secret.as_str(),
            WRONG_SECRET,
            PASSWORD,
            WRONG_PASSWORD,
        ] {
            assert!(!all.contains(secret), "an event carries a secret");
        }
    }
);
