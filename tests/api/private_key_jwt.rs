//! `private_key_jwt` client authentication (RFC 7523 §2.2 and §3, OpenID
//! Connect Core §9) with a registered JWKS and with a `jwks_uri`.

use josekit::jwk::KeyPair as _;
use josekit::jws::{ES256, JwsHeader};
use josekit::jwt::JwtPayload;
use portcullis::app::operator::NewClient;
use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::flow::register;
use crate::helpers::TestApp;

pub(crate) struct Keys {
    pub(crate) private: josekit::jwk::Jwk,
    pub(crate) jwks: String,
}

pub(crate) fn keys(kid: &str) -> Keys {
    let pair = ES256.generate_key_pair().unwrap();
    let mut private = pair.to_jwk_key_pair();
    private.set_key_id(kid);
    let mut public = pair.to_jwk_public_key();
    public.set_key_id(kid);
    let jwks = json!({ "keys": [serde_json::Value::Object(public.as_ref().clone())] }).to_string();
    Keys { private, jwks }
}

pub(crate) fn assertion(k: &Keys, client: &str, aud: &str, jti: &str, exp_in: i64) -> String {
    typed_assertion(k, client, aud, jti, exp_in, None)
}

/// [`assertion`] with the JOSE header's `typ` set (`None`: none).
pub(crate) fn typed_assertion(
    k: &Keys,
    client: &str,
    aud: &str,
    jti: &str,
    exp_in: i64,
    typ: Option<&str>,
) -> String {
    let mut header = JwsHeader::new();
    header.set_key_id(k.private.key_id().unwrap());
    if let Some(typ) = typ {
        header.set_token_type(typ);
    }
    let mut p = JwtPayload::new();
    p.set_issuer(client);
    p.set_subject(client);
    p.set_audience(vec![aud]);
    p.set_jwt_id(jti);
    let now = std::time::SystemTime::now();
    p.set_issued_at(&now);
    let exp = if exp_in >= 0 {
        now + std::time::Duration::from_secs(exp_in.unsigned_abs())
    } else {
        now - std::time::Duration::from_secs(exp_in.unsigned_abs())
    };
    p.set_expires_at(&exp);
    let signer = ES256.signer_from_jwk(&k.private).unwrap();
    josekit::jwt::encode_with_signer(&p, &header, &signer).unwrap()
}

pub(crate) async fn token_with(
    app: &TestApp,
    client: &str,
    assertion: &str,
) -> (StatusCode, serde_json::Value) {
    let r = app
        .http
        .post(app.url("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
        ])
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap_or_default())
}

pub(crate) fn service(jwks: Option<String>, jwks_uri: Option<String>) -> NewClient {
    NewClient {
        name: "Service".into(),
        grant_types: vec!["client_credentials".into()],
        scopes: vec!["api:read".into()],
        auth_method: Some("private_key_jwt".into()),
        jwks,
        jwks_uri,
        ..NewClient::default()
    }
}

both_backends!(
    private_key_jwt_with_a_registered_jwks,
    |backend| async move {
        let app = crate::helpers::spawn_app(backend).await;
        let kp = keys("k1");
        let c = register(&app, service(Some(kp.jwks.clone()), None)).await;
        assert!(
            c.secret.is_none(),
            "a private_key_jwt client has keys, not a secret"
        );
        let aud = app.url("/token");
        let (s, b) = token_with(&app, &c.id, &assertion(&kp, &c.id, &aud, "j1", 60)).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        // The same jti again is a replay.
        let (s, b) = token_with(&app, &c.id, &assertion(&kp, &c.id, &aud, "j1", 60)).await;
        assert_eq!(
            (s, b["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_client"))
        );
        // Expired, wrong audience, signed by another key, iss != client.
        let (s, _) = token_with(&app, &c.id, &assertion(&kp, &c.id, &aud, "j2", -120)).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "expired");
        let (s, _) = token_with(
            &app,
            &c.id,
            &assertion(&kp, &c.id, "https://other.example/token", "j3", 60),
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "wrong aud");
        let stranger = keys("k1");
        let (s, _) = token_with(&app, &c.id, &assertion(&stranger, &c.id, &aud, "j4", 60)).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "not the client's key");
        let (s, _) = token_with(&app, &c.id, &assertion(&kp, "someone-else", &aud, "j5", 60)).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "iss is not the client");
        // The issuer is an accepted audience too.
        let (s, _) = token_with(&app, &c.id, &assertion(&kp, &c.id, &app.issuer, "j6", 60)).await;
        assert_eq!(s, StatusCode::OK);
        // Explicit typing (RFC 8725 §3.11): a JWT typed as another kind of
        // token (a request object, a DPoP proof) is no assertion; `JWT` and
        // client-authentication+jwt are.
        for (i, typ) in ["oauth-authz-req+jwt", "dpop+jwt"].into_iter().enumerate() {
            let a = typed_assertion(&kp, &c.id, &aud, &format!("t{i}"), 60, Some(typ));
            let (s, b) = token_with(&app, &c.id, &a).await;
            assert_eq!(
                (s, b["error"].as_str()),
                (StatusCode::UNAUTHORIZED, Some("invalid_client")),
                "{typ}"
            );
        }
        for (i, typ) in ["JWT", "client-authentication+jwt"].into_iter().enumerate() {
            let a = typed_assertion(&kp, &c.id, &aud, &format!("u{i}"), 60, Some(typ));
            let (s, b) = token_with(&app, &c.id, &a).await;
            assert_eq!(s, StatusCode::OK, "{typ}: {b}");
        }
        // A client registered for private_key_jwt cannot use its secret instead.
        let r = app
            .http
            .post(app.url("/token"))
            .basic_auth(&c.id, c.secret.as_deref())
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
);

both_backends!(private_key_jwt_with_a_jwks_uri, |backend| async move {
    // A local http server: the development exception of the outbound client.
    let app = crate::helpers::spawn_app_with(backend, |c| c.outbound.allow_insecure = true).await;
    let kp = keys("rp-key");
    let jwks = kp.jwks.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router =
        axum::Router::new().route("/jwks", axum::routing::get(move || async move { jwks }));
    tokio::spawn(async move { axum::serve(listener, router).await });
    let c = register(&app, service(None, Some(format!("http://{addr}/jwks")))).await;
    let (s, b) = token_with(
        &app,
        &c.id,
        &assertion(&kp, &c.id, &app.url("/token"), "u1", 60),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
});

both_backends!(
    an_assertion_jti_of_any_length_is_used_once,
    |backend| async move {
        // The replay key must fit the store whatever the `jti` (a UUID gave
        // 500 server_error on PostgreSQL): a UUID and a 200-character jti are
        // each accepted once, and their replay is refused.
        let app = crate::helpers::spawn_app(backend).await;
        let kp = keys("k1");
        let c = register(&app, service(Some(kp.jwks.clone()), None)).await;
        let aud = app.url("/token");
        let uuid = "0b6a7e3c-5f2d-4c1e-9a8b-7d6c5b4a3f21".to_owned();
        let long = "j".repeat(200);
        for jti in [uuid, long] {
            let (s, b) = token_with(&app, &c.id, &assertion(&kp, &c.id, &aud, &jti, 60)).await;
            assert_eq!(
                s,
                StatusCode::OK,
                "first use of a {}-char jti: {b}",
                jti.len()
            );
            let (s, b) = token_with(&app, &c.id, &assertion(&kp, &c.id, &aud, &jti, 60)).await;
            assert_eq!(
                (s, b["error"].as_str()),
                (StatusCode::UNAUTHORIZED, Some("invalid_client")),
                "replay of a {}-char jti",
                jti.len()
            );
        }
    }
);
