//! The FAPI 2.0 Security Profile (docs/FAPI.md) for a client registered
//! with `profile: fapi2`: the profile end to end (PAR with a
//! `private_key_jwt` assertion and a DPoP proof, the code with `iss`, the
//! token exchange with PKCE S256 and DPoP, no refresh rotation), and every
//! requirement broken once and refused. Assertions, request objects and
//! DPoP proofs are signed here with `jsonwebtoken` over `openssl` keys
//! (`crate::dpop`'s independent signer), never with the server's code.

#![allow(clippy::many_single_char_names)] // c(lient), p(arams), s(tatus), b(ody), t(okens): short, as in the other flow tests

use std::sync::Arc;

use chrono::{Duration, Utc};
use jsonwebtoken::Algorithm;
use portcullis::app::operator::{self, NewClient, OperatorError};
use portcullis::domain::ClientProfile;
use portcullis::testing::FixedClock;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::dpop::{DpopKey, es256, now, rsa};
use crate::flow::{
    CHALLENGE, PASSWORD, REDIRECT, VERIFIER, consent, login, param, redirect_params, user,
};
use crate::helpers::{Backend, TestApp};
use crate::par::{PREFIX, app_with, authorize_url, claims};

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A FAPI 2.0 client: its id and its two signing keys (ES256 `es1`, and an
/// RS256 `rs1` the profile must refuse), both registered in its JWK Set.
struct Fapi {
    id: String,
    es: DpopKey,
    rs: DpopKey,
}

/// The client's JWK Set: the public keys with their `kid`s.
fn jwks(es: &DpopKey, rs: &DpopKey) -> String {
    let mut a = es.jwk.clone();
    a["kid"] = json!("es1");
    a["alg"] = json!("ES256");
    let mut b = rs.jwk.clone();
    b["kid"] = json!("rs1");
    b["alg"] = json!("RS256");
    json!({ "keys": [a, b] }).to_string()
}

/// The registration of a FAPI 2.0 client with `jwks`.
fn fapi_client(jwks: String) -> NewClient {
    NewClient {
        name: "Bank App".into(),
        redirect_uris: vec![REDIRECT.into()],
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        auth_method: Some("private_key_jwt".into()),
        jwks: Some(jwks),
        id_token_alg: Some("ES256".into()),
        profile: Some(ClientProfile::Fapi2),
        ..NewClient::default()
    }
}

async fn create(app: &TestApp, req: NewClient) -> Result<String, OperatorError> {
    operator::create_client(
        app.state.store.as_ref(),
        &portcullis::adapters::system::OsRng,
        &portcullis::adapters::system::SystemClock,
        req,
        false,
    )
    .await
    .map(|c| c.client.id.as_str().to_owned())
}

async fn fapi(app: &TestApp) -> Fapi {
    let (es, rs) = (es256(), rsa(Algorithm::RS256));
    let id = create(app, fapi_client(jwks(&es, &rs))).await.unwrap();
    Fapi { id, es, rs }
}

/// A client assertion (RFC 7523) by `key` (`kid`) for `aud`.
fn assertion(key: &DpopKey, kid: &str, client: &str, aud: &Value) -> String {
    assertion_at(key, kid, client, aud, now())
}

/// [`assertion`] issued at `t` (a server whose clock was moved).
fn assertion_at(key: &DpopKey, kid: &str, client: &str, aud: &Value, t: i64) -> String {
    let header = json!({ "alg": key.header()["alg"], "kid": kid, "typ": "JWT" });
    key.sign(
        &header,
        &json!({
            "iss": client, "sub": client, "aud": aud,
            "jti": uuid::Uuid::new_v4().to_string(), "iat": t, "exp": t + 60,
        }),
    )
}

/// The client's authentication fields with an ES256 assertion for the
/// issuer.
fn auth(app: &TestApp, c: &Fapi) -> Vec<(String, String)> {
    auth_with(c, &assertion(&c.es, "es1", &c.id, &json!(app.issuer)))
}

fn auth_with(c: &Fapi, assertion: &str) -> Vec<(String, String)> {
    vec![
        ("client_id".into(), c.id.clone()),
        ("client_assertion_type".into(), ASSERTION_TYPE.into()),
        ("client_assertion".into(), assertion.into()),
    ]
}

/// The authorization request a FAPI client pushes (PKCE S256, offline
/// access; `client_id` comes with the client's authentication), `replace`
/// laid over it (an empty value drops the parameter).
fn request(replace: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = [
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        ("scope", "openid profile offline_access"),
        ("state", "st-fapi"),
        ("nonce", "n-fapi"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (k, v) in replace {
        out.retain(|(name, _)| name != k);
        if !v.is_empty() {
            out.push(((*k).to_owned(), (*v).to_owned()));
        }
    }
    out
}

/// `POST /par` with `form` and, if given, a DPoP proof.
async fn push(app: &TestApp, form: &[(String, String)], dpop: Option<&str>) -> (StatusCode, Value) {
    let mut req = app.http.post(app.url("/par"));
    if let Some(p) = dpop {
        req = req.header("DPoP", p);
    }
    let r = req.form(form).send().await.unwrap();
    (r.status(), r.json().await.unwrap_or_default())
}

/// `POST /token` with `form` and, if given, a DPoP proof.
async fn token(
    app: &TestApp,
    form: &[(String, String)],
    dpop: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = app.http.post(app.url("/token"));
    if let Some(p) = dpop {
        req = req.header("DPoP", p);
    }
    let r = req.form(form).send().await.unwrap();
    (r.status(), r.json().await.unwrap_or_default())
}

fn with(mut a: Vec<(String, String)>, b: &[(&str, &str)]) -> Vec<(String, String)> {
    a.extend(b.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    a
}

/// Pushes the default request (with a DPoP proof of `dpop`), signs alice
/// in and allows; returns the authorization response's parameters.
async fn authorize(app: &TestApp, c: &Fapi, dpop: &DpopKey) -> Vec<(String, String)> {
    let proof = dpop.proof("POST", &app.url("/par"));
    let (s, b) = push(
        app,
        &with(auth(app, c), &pairs(&request(&[]))),
        Some(&proof),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let uri = b["request_uri"].as_str().unwrap();
    assert!(uri.starts_with(PREFIX));
    let r = app
        .http
        .get(authorize_url(app, &c.id, uri, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    let r = login(app, &html, "alice", PASSWORD).await;
    let r = if r.status() == StatusCode::OK {
        let html = r.text().await.unwrap();
        consent(app, &html, "allow").await
    } else {
        r
    };
    redirect_params(&r)
}

fn pairs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// The code exchange form (PKCE verifier, the client's assertion).
fn exchange(app: &TestApp, c: &Fapi, code: &str) -> Vec<(String, String)> {
    with(
        auth(app, c),
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
}

fn header_alg(jwt: &str) -> String {
    use base64::Engine as _;
    let h = jwt.split('.').next().unwrap();
    let v: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(h)
            .unwrap(),
    )
    .unwrap();
    v["alg"].as_str().unwrap().to_owned()
}

async fn server(backend: Backend) -> TestApp {
    let (app, _) = app_with(backend, None, |c| {
        // The profile refuses plain PKCE even where the server allows it,
        // and caps the code's lifetime below the configured one; access
        // tokens would be RS256 but for the profile.
        c.auth.pkce_allow_plain = true;
        c.auth.code_ttl = Duration::seconds(600);
        c.tokens.access_token_alg = portcullis::ports::JwsAlg::Rs256;
    })
    .await;
    user(&app, "alice").await;
    app
}

both_backends!(the_profile_runs_end_to_end, |backend| async move {
    let app = server(backend).await;
    let c = fapi(&app).await;
    let dpop = es256();
    let p = authorize(&app, &c, &dpop).await;
    // §5.3.2.2 item 8, RFC 9207: iss in the authorization response.
    assert_eq!(param(&p, "iss"), Some(app.issuer.as_str()));
    assert_eq!(param(&p, "state"), Some("st-fapi"));
    let code = param(&p, "code").unwrap().to_owned();
    let proof = dpop.proof("POST", &app.url("/token"));
    let (s, t) = token(&app, &exchange(&app, &c, &code), Some(&proof)).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(t["token_type"], "DPoP");
    let at = t["access_token"].as_str().unwrap();
    assert_eq!(claims(at)["cnf"]["jkt"], dpop.jkt);
    // §5.4.1: PS256 instead of the configured RS256; the ID token ES256.
    assert_eq!(header_alg(at), "PS256");
    assert_eq!(header_alg(t["id_token"].as_str().unwrap()), "ES256");
    assert_eq!(claims(t["id_token"].as_str().unwrap())["nonce"], "n-fapi");
    // §5.3.2.1 item 10: the refresh token is not rotated; a lost answer is
    // asked again with the same token.
    let rt = t["refresh_token"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let form = with(
            auth(&app, &c),
            &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
        );
        let proof = dpop.proof("POST", &app.url("/token"));
        let (s, r) = token(&app, &form, Some(&proof)).await;
        assert_eq!(s, StatusCode::OK, "{r}");
        assert_eq!(r["token_type"], "DPoP");
        assert!(r.get("refresh_token").is_none(), "not rotated: {r}");
    }
    // The bound token works at /userinfo only with a proof of its key.
    let r = app
        .http
        .get(app.url("/userinfo"))
        .header("authorization", format!("DPoP {at}"))
        .header(
            "DPoP",
            dpop.proof_for("GET", &app.url("/userinfo"), at, None),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
});

both_backends!(
    a_bound_tokens_proof_at_userinfo_is_ps256_or_es256,
    |backend| async move {
        // §5.4.1: an RSA key can sign PS256 (allowed) and RS256 (not) with
        // one thumbprint; the token is bound to the key, so /userinfo holds
        // the proof's algorithm to the profile itself.
        let app = server(backend).await;
        let c = fapi(&app).await;
        let ps = rsa(Algorithm::PS256);
        let p = authorize(&app, &c, &ps).await;
        let code = param(&p, "code").unwrap().to_owned();
        let proof = ps.proof("POST", &app.url("/token"));
        let (s, t) = token(&app, &exchange(&app, &c, &code), Some(&proof)).await;
        assert_eq!(s, StatusCode::OK, "{t}");
        let at = t["access_token"].as_str().unwrap();
        assert_eq!(claims(at)["cnf"]["jkt"], ps.jkt);
        let rs = ps.with_alg(Algorithm::RS256);
        let userinfo = |key: &DpopKey| {
            app.http
                .get(app.url("/userinfo"))
                .header("authorization", format!("DPoP {at}"))
                .header(
                    "DPoP",
                    key.proof_for("GET", &app.url("/userinfo"), at, None),
                )
                .send()
        };
        let r = userinfo(&rs).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(challenge.starts_with("DPoP "), "{challenge}");
        assert!(challenge.contains("invalid_dpop_proof"), "{challenge}");
        let r = userinfo(&ps).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
);

both_backends!(
    discovery_advertises_what_a_fapi_client_needs,
    |backend| async move {
        let app = server(backend).await;
        let d: Value = app
            .http
            .get(app.url("/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(d["pushed_authorization_request_endpoint"], app.url("/par"));
        assert_eq!(d["authorization_response_iss_parameter_supported"], true);
        for (field, value) in [
            ("dpop_signing_alg_values_supported", "ES256"),
            ("dpop_signing_alg_values_supported", "PS256"),
            ("token_endpoint_auth_methods_supported", "private_key_jwt"),
            ("code_challenge_methods_supported", "S256"),
            ("id_token_signing_alg_values_supported", "ES256"),
            ("id_token_signing_alg_values_supported", "PS256"),
            ("request_object_signing_alg_values_supported", "PS256"),
        ] {
            assert!(
                d[field].as_array().unwrap().contains(&json!(value)),
                "{field} lacks {value}: {d}"
            );
        }
    }
);

both_backends!(
    registration_refuses_what_the_profile_forbids,
    |backend| async move {
        let app = server(backend).await;
        let (es, rs) = (es256(), rsa(Algorithm::RS256));
        let good = fapi_client(jwks(&es, &rs));
        // §5.3.2.1 items 3 and 6: private_key_jwt only (no secret, no
        // public client).
        for method in ["client_secret_basic", "client_secret_post"] {
            let req = NewClient {
                auth_method: Some(method.into()),
                jwks: None,
                ..good.clone()
            };
            let e = create(&app, req).await.unwrap_err();
            assert!(e.to_string().contains("private_key_jwt"), "{method}: {e}");
        }
        let public = NewClient {
            public: true,
            auth_method: None,
            ..good.clone()
        };
        assert!(create(&app, public).await.is_err());
        // §5.4.1: ID tokens PS256 or ES256 only.
        for alg in [None, Some("RS256")] {
            let req = NewClient {
                id_token_alg: alg.map(str::to_owned),
                ..good.clone()
            };
            let e = create(&app, req).await.unwrap_err();
            assert!(e.to_string().contains("PS256 or ES256"), "{alg:?}: {e}");
        }
        // What the profile implies is stored, whatever the request said.
        let id = create(&app, good).await.unwrap();
        let stored = app
            .state
            .store
            .clients()
            .get_client(&portcullis::domain::ClientId::parse(&id).unwrap())
            .await
            .unwrap()
            .unwrap();
        assert!(stored.require_pushed_authorization_requests);
        assert!(stored.dpop_bound_access_tokens);
        assert!(stored.require_pkce);
        assert_eq!(stored.profile, Some(ClientProfile::Fapi2));
    }
);

both_backends!(an_unpushed_request_is_refused, |backend| async move {
    // §5.3.2.2 item 4: the request goes through /par, or it is refused.
    let app = server(backend).await;
    let c = fapi(&app).await;
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", &c.id)
        .extend_pairs(pairs(&request(&[])))
        .finish();
    let r = app
        .http
        .get(app.url(&format!("/authorize?{q}")))
        .send()
        .await
        .unwrap();
    let p = redirect_params(&r);
    assert_eq!(param(&p, "error"), Some("invalid_request"));
    assert_eq!(param(&p, "state"), Some("st-fapi"));
    assert!(param(&p, "code").is_none());
});

both_backends!(pkce_must_be_s256, |backend| async move {
    // §5.3.2.2 item 3: S256, never plain (the server allows plain here),
    // never none.
    let app = server(backend).await;
    let c = fapi(&app).await;
    for replace in [
        vec![
            ("code_challenge_method", "plain"),
            ("code_challenge", VERIFIER),
        ],
        vec![("code_challenge_method", ""), ("code_challenge", "")],
    ] {
        let form = with(auth(&app, &c), &pairs(&request(&replace)));
        let (s, b) = push(&app, &form, None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{replace:?}: {b}");
        assert_eq!(b["error"], "invalid_request", "{b}");
    }
    assert_eq!(crate::par::stored(&app).await, 0, "nothing stored");
});

both_backends!(
    a_token_request_without_dpop_is_refused,
    |backend| async move {
        // §5.3.2.1 items 4-5: only sender-constrained tokens.
        let app = server(backend).await;
        let c = fapi(&app).await;
        let p = authorize(&app, &c, &es256()).await;
        let code = param(&p, "code").unwrap().to_owned();
        let (s, b) = token(&app, &exchange(&app, &c, &code), None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
        assert_eq!(b["error"], "invalid_dpop_proof");
    }
);

both_backends!(
    an_assertion_for_another_audience_is_refused,
    |backend| async move {
        // §5.3.2.1 item 8: the issuer, as a string, and nothing else (the
        // token endpoint and an array are fine for other clients).
        let app = server(backend).await;
        let c = fapi(&app).await;
        for aud in [
            json!(app.url("/token")),
            json!(app.url("/par")),
            json!([app.issuer]),
        ] {
            let a = assertion(&c.es, "es1", &c.id, &aud);
            let form = with(auth_with(&c, &a), &pairs(&request(&[])));
            let (s, b) = push(&app, &form, None).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{aud}: {b}");
            assert_eq!(b["error"], "invalid_client");
        }
        let (s, b) = push(&app, &with(auth(&app, &c), &pairs(&request(&[]))), None).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
);

both_backends!(rs256_is_refused_everywhere, |backend| async move {
    // §5.4.1: PS256 or ES256 for the client's assertions, request objects
    // and DPoP proofs.
    let app = server(backend).await;
    let c = fapi(&app).await;
    let a = assertion(&c.rs, "rs1", &c.id, &json!(app.issuer));
    let (s, b) = push(&app, &with(auth_with(&c, &a), &pairs(&request(&[]))), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    assert_eq!(b["error"], "invalid_client");
    // A request object signed RS256 (its claims are the request).
    let t = now();
    let mut claims_obj = serde_json::Map::new();
    for (k, v) in request(&[]) {
        claims_obj.insert(k, json!(v));
    }
    claims_obj.insert("iss".into(), json!(c.id));
    claims_obj.insert("client_id".into(), json!(c.id));
    claims_obj.insert("aud".into(), json!(app.issuer));
    claims_obj.insert("nbf".into(), json!(t));
    claims_obj.insert("exp".into(), json!(t + 300));
    let object = c.rs.sign(
        &json!({"alg": "RS256", "kid": "rs1", "typ": "oauth-authz-req+jwt"}),
        &Value::Object(claims_obj.clone()),
    );
    let form = with(auth(&app, &c), &[("request", &object)]);
    let (s, b) = push(&app, &form, None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"], "invalid_request_object");
    // The same object signed ES256 is accepted.
    let object = c.es.sign(
        &json!({"alg": "ES256", "kid": "es1", "typ": "oauth-authz-req+jwt"}),
        &Value::Object(claims_obj),
    );
    let form = with(auth(&app, &c), &[("request", &object)]);
    let (s, b) = push(&app, &form, None).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    // A DPoP proof signed RS256 at the token endpoint.
    let p = authorize(&app, &c, &es256()).await;
    let code = param(&p, "code").unwrap().to_owned();
    let rs_proof = rsa(Algorithm::RS256).proof("POST", &app.url("/token"));
    let (s, b) = token(&app, &exchange(&app, &c, &code), Some(&rs_proof)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"], "invalid_dpop_proof");
});

both_backends!(
    a_code_older_than_60_seconds_is_refused,
    |backend| async move {
        // §5.3.2.2 item 6: 60 s at most, though the server's codes live
        // 600 s.
        let clock = Arc::new(FixedClock::at(Utc::now()));
        let (app, _) = app_with(backend, Some(clock.clone()), |c| {
            c.auth.code_ttl = Duration::seconds(600);
        })
        .await;
        user(&app, "alice").await;
        let c = fapi(&app).await;
        // The proofs carry the real time: the server's clock moves by at
        // most a minute, within their window.
        let dpop = es256();
        let p = authorize(&app, &c, &dpop).await;
        let code = param(&p, "code").unwrap().to_owned();
        clock.advance(Duration::seconds(61));
        let proof = dpop.proof_with("POST", &app.url("/token"), |_, claims| {
            claims["iat"] = json!(now() + 61);
        });
        let later = assertion_at(&c.es, "es1", &c.id, &json!(app.issuer), now() + 61);
        let form = with(
            auth_with(&c, &later),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ],
        );
        let (s, b) = token(&app, &form, Some(&proof)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
        assert_eq!(b["error"], "invalid_grant");
        assert!(
            b["error_description"].as_str().unwrap().contains("expired"),
            "{b}"
        );
    }
);
