//! Signed request objects (JAR, RFC 9101) at `/authorize` and `/par`: made
//! here with an independent JOSE library (`jsonwebtoken`, keys generated
//! with `openssl`), RS256, ES256 and PS256 accepted end to end with the
//! outer parameters ignored; `none`, HS256, a key the client did not
//! register, an encrypted object, and wrong `aud`, `iss`, `client_id`,
//! `exp` or lifetime refused; external `request_uri`s off by default and
//! fetched through the outbound client when the operator allows them.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::PKey;
use portcullis::domain::event::{DetailKey, EventKind};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::flow::{
    CHALLENGE, PASSWORD, REDIRECT, TestClient, client_req, code_exchange, consent, hidden, login,
    param, redirect_params, register, user,
};
use crate::helpers::{TestApp, http_client};
use crate::par::{PREFIX, app_with, authorize_url, claims, page, stored};

/// A signing key made here, with its public JWK.
pub(crate) struct Key {
    alg: Algorithm,
    kid: String,
    pem: Vec<u8>,
    jwk: Value,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// An RSA key (2048 bits) for `alg` (RS256 or PS256).
pub(crate) fn rsa_key(kid: &str, alg: Algorithm) -> Key {
    let rsa = openssl::rsa::Rsa::generate(2048).unwrap();
    let jwk = json!({
        "kty": "RSA", "kid": kid, "use": "sig",
        "n": b64(&rsa.n().to_vec()), "e": b64(&rsa.e().to_vec()),
    });
    let pem = PKey::from_rsa(rsa)
        .unwrap()
        .private_key_to_pem_pkcs8()
        .unwrap();
    Key {
        alg,
        kid: kid.to_owned(),
        pem,
        jwk,
    }
}

/// A P-256 key for ES256.
pub(crate) fn ec_key(kid: &str) -> Key {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let key = EcKey::generate(&group).unwrap();
    let mut ctx = BigNumContext::new().unwrap();
    let (mut x, mut y) = (BigNum::new().unwrap(), BigNum::new().unwrap());
    key.public_key()
        .affine_coordinates(&group, &mut x, &mut y, &mut ctx)
        .unwrap();
    let jwk = json!({
        "kty": "EC", "crv": "P-256", "kid": kid, "use": "sig",
        "x": b64(&x.to_vec_padded(32).unwrap()), "y": b64(&y.to_vec_padded(32).unwrap()),
    });
    let pem = PKey::from_ec_key(key)
        .unwrap()
        .private_key_to_pem_pkcs8()
        .unwrap();
    Key {
        alg: Algorithm::ES256,
        kid: kid.to_owned(),
        pem,
        jwk,
    }
}

/// The JWK Set of `keys` (public parts), as a client registers it.
pub(crate) fn jwks(keys: &[&Key]) -> String {
    json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() }).to_string()
}

/// `claims` signed with `key` (`typ: oauth-authz-req+jwt`, RFC 9101 §10.8).
pub(crate) fn sign(key: &Key, claims: &Value) -> String {
    sign_typed(key, claims, Some("oauth-authz-req+jwt"))
}

/// [`sign`] with the JOSE header's `typ` given (`None`: no `typ`).
pub(crate) fn sign_typed(key: &Key, claims: &Value, typ: Option<&str>) -> String {
    let mut header = Header::new(key.alg);
    header.kid = Some(key.kid.clone());
    header.typ = typ.map(str::to_owned);
    let encoding = match key.alg {
        Algorithm::ES256 => EncodingKey::from_ec_pem(&key.pem),
        _ => EncodingKey::from_rsa_pem(&key.pem),
    }
    .unwrap();
    jsonwebtoken::encode(&header, claims, &encoding).unwrap()
}

/// A request object of `client` for `app`: the default request (as
/// `flow::query`), valid five minutes, with `extra` merged (a `null`
/// removes a claim).
pub(crate) fn object(app: &TestApp, client: &str, extra: &Value) -> Value {
    let now = chrono::Utc::now().timestamp();
    let mut o = json!({
        "iss": client, "aud": app.issuer, "client_id": client,
        "iat": now, "nbf": now, "exp": now + 300, "jti": "j1",
        "response_type": "code", "redirect_uri": REDIRECT, "scope": "openid profile",
        "state": "st-123", "nonce": "n-456", "code_challenge": CHALLENGE,
        "code_challenge_method": "S256", "max_age": 3600,
    });
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            o.as_object_mut().unwrap().remove(k);
        } else {
            o[k] = v.clone();
        }
    }
    o
}

/// `/authorize?client_id=..&request=..` with `extra` outer parameters.
fn request_url(app: &TestApp, client: &str, request: &str, extra: &[(&str, &str)]) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    ser.append_pair("client_id", client)
        .append_pair("request", request);
    for (k, v) in extra {
        ser.append_pair(k, v);
    }
    app.url(&format!("/authorize?{}", ser.finish()))
}

/// A confidential client (Basic) that registered `keys` for its request
/// objects.
async fn jar_client(app: &TestApp, keys: &[&Key]) -> TestClient {
    let mut req = client_req(false);
    req.jwks = Some(jwks(keys));
    register(app, req).await
}

both_backends!(
    signed_request_objects_run_end_to_end,
    |backend| async move {
        let (app, _) = app_with(backend, None, |_| {}).await;
        let (rs, es, ps) = (
            rsa_key("rs", Algorithm::RS256),
            ec_key("es"),
            rsa_key("ps", Algorithm::PS256),
        );
        let client = jar_client(&app, &[&rs, &es, &ps]).await;
        user(&app, "alice").await;
        for (i, key) in [&rs, &es, &ps].into_iter().enumerate() {
            let token = sign(key, &object(&app, &client.id, &json!({})));
            // RFC 9101 §6.3: only the object counts; these are ignored.
            let url = request_url(
                &app,
                &client.id,
                &token,
                &[
                    ("scope", "openid email"),
                    ("state", "evil"),
                    ("redirect_uri", "https://app.example/other?x=1"),
                    ("nonce", "outer"),
                ],
            );
            let resp = app.http.get(&url).send().await.unwrap();
            let resp = if i == 0 {
                // The first: sign in and consent, the object carried as is.
                assert_eq!(resp.status(), StatusCode::OK);
                let html = resp.text().await.unwrap();
                let carried = hidden(&html, "request");
                let names: Vec<String> = url::form_urlencoded::parse(carried.as_bytes())
                    .map(|(k, _)| k.into_owned())
                    .collect();
                assert_eq!(names, ["client_id", "request"]);
                let html = login(&app, &html, "alice", PASSWORD)
                    .await
                    .text()
                    .await
                    .unwrap();
                assert!(html.contains("wants to access your account"), "{html}");
                assert_eq!(hidden(&html, "request"), carried);
                consent(&app, &html, "allow").await
            } else {
                // Signed in and consented: the code at once.
                resp
            };
            let loc = resp.headers()["location"].to_str().unwrap().to_owned();
            assert!(
                loc.starts_with(&format!("{REDIRECT}?")),
                "{:?}: {loc}",
                key.alg
            );
            let p = redirect_params(&resp);
            assert_eq!(param(&p, "state"), Some("st-123"), "{:?}", key.alg);
            let code = param(&p, "code").unwrap();
            let t: Value = app
                .http
                .post(app.url("/token"))
                .basic_auth(&client.id, client.secret.as_deref())
                .form(&code_exchange(code))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(t["scope"], "openid profile", "{:?}: {t}", key.alg);
            assert_eq!(claims(t["id_token"].as_str().unwrap())["nonce"], "n-456");
        }
        // An audience array holding the issuer is accepted.
        let token = sign(
            &es,
            &object(
                &app,
                &client.id,
                &json!({"aud": ["https://other.example", app.issuer]}),
            ),
        );
        let resp = app
            .http
            .get(request_url(&app, &client.id, &token, &[]))
            .send()
            .await
            .unwrap();
        assert!(param(&redirect_params(&resp), "code").is_some());
        // RFC 9101 §10.8 recommends the explicit type; `JWT`, its
        // `application/` form and no typ at all are still request objects.
        for typ in [None, Some("JWT"), Some("application/oauth-authz-req+jwt")] {
            let token = sign_typed(&es, &object(&app, &client.id, &json!({})), typ);
            let resp = app
                .http
                .get(request_url(&app, &client.id, &token, &[]))
                .send()
                .await
                .unwrap();
            assert!(
                param(&redirect_params(&resp), "code").is_some(),
                "typ {typ:?}"
            );
        }
    }
);

both_backends!(bad_request_objects_are_refused, |backend| async move {
    let (app, sink) = app_with(backend, None, |_| {}).await;
    let key = ec_key("k1");
    let stranger = ec_key("k1");
    let client = jar_client(&app, &[&key]).await;
    let other = jar_client(&app, &[&key]).await;
    let now = chrono::Utc::now().timestamp();
    let good = || object(&app, &client.id, &json!({}));
    let unsigned = format!(
        "{}.{}.",
        b64(br#"{"alg":"none"}"#),
        b64(good().to_string().as_bytes())
    );
    let hs256 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &good(),
        &EncodingKey::from_secret(client.secret.as_deref().unwrap().as_bytes()),
    )
    .unwrap();
    let signed = |extra: Value| sign(&key, &object(&app, &client.id, &extra));
    // Refused on a page: nothing verified the redirect URI.
    let pages: Vec<(&str, String, &str)> = vec![
        ("alg none", unsigned, "algorithm"),
        ("HS256 with the client secret", hs256, "algorithm"),
        (
            "a key the client did not register",
            sign(&stranger, &good()),
            "signature",
        ),
        ("an encrypted object", "a.b.c.d.e".to_owned(), "encrypted"),
        ("not a JWS", "not-a-jwt".to_owned(), "malformed"),
        // RFC 9101 §10.8: a JWT of another type is never a request object.
        (
            "typ dpop+jwt",
            sign_typed(&key, &good(), Some("dpop+jwt")),
            "type",
        ),
        (
            "typ client-authentication+jwt",
            sign_typed(&key, &good(), Some("client-authentication+jwt")),
            "type",
        ),
        (
            "a request_uri inside",
            signed(json!({"request_uri": format!("{PREFIX}x")})),
            "claims",
        ),
        (
            "a wrong aud, and a redirect_uri not registered",
            signed(
                json!({"aud": "https://other.example", "redirect_uri": "https://evil.example/cb"}),
            ),
            "claims",
        ),
    ];
    for (why, token, reason) in pages {
        let resp = http_client()
            .get(request_url(&app, &client.id, &token, &[]))
            .send()
            .await
            .unwrap();
        let body = page(resp).await;
        assert!(body.contains("invalid_request_object"), "{why}: {body}");
        let e = sink.of_kind(EventKind::RequestObjectRefused);
        assert_eq!(
            e.last().unwrap().detail_value(DetailKey::Reason),
            Some(reason),
            "{why}"
        );
    }
    // Signed by the client, with its registered redirect URI: the error
    // goes back to the client (RFC 9101 §6.3).
    let redirected: Vec<(&str, String)> = vec![
        (
            "aud another party",
            signed(json!({"aud": "https://other.example"})),
        ),
        ("iss another client", signed(json!({"iss": other.id}))),
        (
            "client_id another client",
            signed(json!({"client_id": other.id})),
        ),
        (
            "expired",
            signed(json!({"iat": now - 600, "nbf": now - 600, "exp": now - 60})),
        ),
        ("no exp", signed(json!({"exp": null}))),
        (
            "not valid yet",
            signed(json!({"nbf": now + 600, "exp": now + 900})),
        ),
        ("longer than 60 minutes", signed(json!({"exp": now + 7200}))),
    ];
    for (why, token) in redirected {
        let resp = http_client()
            .get(request_url(&app, &client.id, &token, &[]))
            .send()
            .await
            .unwrap();
        let p = redirect_params(&resp);
        assert_eq!(param(&p, "error"), Some("invalid_request_object"), "{why}");
        assert_eq!(param(&p, "state"), Some("st-123"), "{why}");
        assert!(param(&p, "code").is_none());
    }
    // The outer client_id is required and names the client whose keys
    // verify it; request and request_uri together are refused.
    let token = signed(json!({}));
    let url = app.url(&format!(
        "/authorize?request={}",
        url::form_urlencoded::byte_serialize(token.as_bytes()).collect::<String>()
    ));
    page(http_client().get(url).send().await.unwrap()).await;
    let body = page(
        http_client()
            .get(request_url(
                &app,
                &client.id,
                &token,
                &[("request_uri", &format!("{PREFIX}x"))],
            ))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(body.contains("invalid_request"), "{body}");
    // Another client's outer client_id: its keys do not verify it.
    let body = page(
        http_client()
            .get(request_url(&app, &other.id, &sign(&stranger, &good()), &[]))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(body.contains("invalid_request_object"), "{body}");
});

both_backends!(a_request_object_can_be_pushed, |backend| async move {
    let (app, sink) = app_with(backend, None, |_| {}).await;
    let key = rsa_key("k1", Algorithm::PS256);
    let client = jar_client(&app, &[&key]).await;
    user(&app, "alice").await;
    let token = sign(&key, &object(&app, &client.id, &json!({})));
    // Outside the object only client_id counts: a scope the client may not
    // have would be refused if it were read.
    let form = [
        ("request", token.as_str()),
        ("scope", "admin"),
        ("response_type", "token"),
    ];
    let r = app
        .http
        .post(app.url("/par"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let b: Value = r.json().await.unwrap();
    let uri = b["request_uri"].as_str().unwrap().to_owned();
    let pushed = sink.of_kind(EventKind::ParRequestPushed);
    assert_eq!(
        pushed[0].detail_value(DetailKey::Via),
        Some("request_object")
    );
    let html = app
        .http
        .get(authorize_url(&app, &client.id, &uri, &[]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let html = login(&app, &html, "alice", PASSWORD)
        .await
        .text()
        .await
        .unwrap();
    let p = redirect_params(&consent(&app, &html, "allow").await);
    assert_eq!(param(&p, "state"), Some("st-123"));
    assert!(param(&p, "code").is_some());
    // A request object longer than an ordinary parameter (4096 bytes) is
    // pushed as it could be sent to /authorize: up to the 16 KiB of a JWS.
    let mut extra = serde_json::Map::new();
    for i in 0..12 {
        extra.insert(format!("x_ext_{i}"), json!("v".repeat(700)));
    }
    let big = sign(&key, &object(&app, &client.id, &Value::Object(extra)));
    assert!(big.len() > 8 * 1024, "{}", big.len());
    let r = app
        .http
        .post(app.url("/par"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&[("request", big.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
    // Longer than any JWS we read: invalid_request, as before.
    let r = app
        .http
        .post(app.url("/par"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&[("request", "x".repeat(16 * 1024 + 1).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"], "invalid_request", "{b}");
    // A bad object at /par: JSON invalid_request_object, nothing stored.
    let before = stored(&app).await;
    let bad = sign(
        &key,
        &object(&app, &client.id, &json!({"aud": "https://other.example"})),
    );
    let r = app
        .http
        .post(app.url("/par"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&[("request", bad.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"], "invalid_request_object");
    assert_eq!(stored(&app).await, before);
    let refused = sink.of_kind(EventKind::ParRequestRefused);
    assert_eq!(refused[0].detail_value(DetailKey::Reason), Some("claims"));
});

/// A local http server serving `documents` (path, body), for the outbound
/// client's development exception (`PORTCULLIS_OUTBOUND_ALLOW_INSECURE`).
async fn serve(documents: Vec<(&'static str, String)>) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut router = axum::Router::new();
    for (path, body) in documents {
        router = router.route(path, axum::routing::get(move || async move { body }));
    }
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

both_backends!(
    external_request_uris_are_off_unless_allowed,
    |backend| async move {
        // Off (the default): request_uri_not_supported, never fetched.
        let (app, _) = app_with(backend, None, |c| c.outbound.allow_insecure = true).await;
        let key = ec_key("k1");
        let client = jar_client(&app, &[&key]).await;
        let token = sign(&key, &object(&app, &client.id, &json!({})));
        let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = hits.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let body = token.clone();
        let router = axum::Router::new().route(
            "/r.jwt",
            axum::routing::get(move || async move {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                body
            }),
        );
        tokio::spawn(async move { axum::serve(listener, router).await });
        let external = format!("http://{addr}/r.jwt");
        let q = crate::flow::query(&client.id, &[("request_uri", &external)]);
        let p = redirect_params(&crate::flow::get_authorize(&app, &q).await);
        assert_eq!(param(&p, "error"), Some("request_uri_not_supported"));
        // Without a verifiable outer redirect URI: a page.
        let body = page(
            http_client()
                .get(authorize_url(&app, &client.id, &external, &[]))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert!(body.contains("redirect_uri"), "{body}");
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0);
        // Discovery says so (Discovery §3: an omitted value would mean true);
        // PAR's request_uris are announced by its endpoint.
        let d: Value = app
            .http
            .get(app.url("/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(d["request_uri_parameter_supported"], false);
        assert!(d.get("require_request_uri_registration").is_none(), "{d}");
        assert_eq!(d["pushed_authorization_request_endpoint"], app.url("/par"));

        // On: fetched through the outbound client, and handled as a request
        // object, with the client's keys from its jwks_uri; only at a
        // location the client registered (RFC 9101 §10.4.1), the fragment
        // (the object's hash, OpenID Connect Core §6.2) not part of the match.
        let (app, sink) = app_with(backend, None, |c| {
            c.outbound.allow_insecure = true;
            c.par.request_uri_external = true;
        })
        .await;
        user(&app, "alice").await;
        let key = rsa_key("k2", Algorithm::RS256);
        let keys_at = serve(vec![("/jwks", jwks(&[&key]))]).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let at = listener.local_addr().unwrap();
        let mut req = client_req(false);
        req.jwks_uri = Some(format!("http://{keys_at}/jwks"));
        req.request_uris = vec![
            format!("http://{at}/r.jwt#the-objects-hash"),
            format!("http://{at}/missing"),
        ];
        let client = register(&app, req).await;
        let mut req = client_req(false);
        req.jwks_uri = Some(format!("http://{keys_at}/jwks"));
        req.request_uris = vec![format!("http://{at}/r.jwt")];
        req.require_pushed_authorization_requests = true;
        let pusher = register(&app, req).await;
        let token = sign(&key, &object(&app, &client.id, &json!({})));
        let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = hits.clone();
        let router = axum::Router::new().route(
            "/{name}",
            axum::routing::get(
                move |axum::extract::Path(name): axum::extract::Path<String>| {
                    counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let body = token.clone();
                    async move {
                        if name == "r.jwt" || name == "other.jwt" {
                            (StatusCode::OK, body)
                        } else {
                            (StatusCode::NOT_FOUND, String::new())
                        }
                    }
                },
            ),
        );
        tokio::spawn(async move { axum::serve(listener, router).await });
        let fetched = || hits.load(std::sync::atomic::Ordering::SeqCst);
        let resp = app
            .http
            .get(authorize_url(
                &app,
                &client.id,
                &format!("http://{at}/r.jwt"),
                &[],
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(fetched(), 1);
        let html = resp.text().await.unwrap();
        let html = login(&app, &html, "alice", PASSWORD)
            .await
            .text()
            .await
            .unwrap();
        let p = redirect_params(&consent(&app, &html, "allow").await);
        assert_eq!(param(&p, "state"), Some("st-123"));
        assert!(param(&p, "code").is_some());
        // Registered, but nothing there: a page (invalid_request_uri).
        let before = fetched();
        let body = page(
            http_client()
                .get(authorize_url(
                    &app,
                    &client.id,
                    &format!("http://{at}/missing"),
                    &[],
                ))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert!(body.contains("invalid_request_uri"), "{body}");
        assert_eq!(fetched(), before + 1);
        let reason = |sink: &portcullis::testing::MemoryEventSink| {
            sink.of_kind(EventKind::RequestUriRefused)
                .last()
                .and_then(|e| e.detail_value(DetailKey::Reason).map(str::to_owned))
        };
        assert_eq!(reason(&sink).as_deref(), Some("unavailable"));
        // Not registered (another path on the same host, or another
        // client's location): refused on a page, never fetched.
        let before = fetched();
        for uri in [
            format!("http://{at}/other.jwt"),
            format!("http://{keys_at}/jwks"),
        ] {
            let body = page(
                http_client()
                    .get(authorize_url(&app, &client.id, &uri, &[]))
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            assert!(body.contains("invalid_request_uri"), "{uri}: {body}");
            assert!(body.contains("not at an address it registered"), "{body}");
            assert_eq!(reason(&sink).as_deref(), Some("unregistered"));
        }
        // A client that must push (RFC 9126 §6) is told so, even for its
        // registered location, which is never fetched.
        let q = crate::flow::query(
            &pusher.id,
            &[("request_uri", &format!("http://{at}/r.jwt"))],
        );
        let p = redirect_params(&crate::flow::get_authorize(&app, &q).await);
        assert_eq!(param(&p, "error"), Some("invalid_request"));
        assert_eq!(
            param(&p, "error_description"),
            Some("pushed authorization request required")
        );
        assert_eq!(fetched(), before, "nothing fetched for either");
        // Discovery says what works: external URIs, each registered.
        let d: Value = app
            .http
            .get(app.url("/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(d["request_uri_parameter_supported"], true);
        assert_eq!(d["require_request_uri_registration"], true);
    }
);
