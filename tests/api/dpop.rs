//! DPoP (RFC 9449): proofs at `/token` binding the tokens of every grant,
//! the proof rules (§4.3) each broken once, replay (§11.1, with parallel
//! requests), public clients' refresh tokens bound to the key (§5), the
//! client metadata `dpop_bound_access_tokens` (§5.2), `dpop_jkt` at
//! `/authorize` (§10), `/userinfo` with the `DPoP` scheme and `ath` (§7),
//! introspection's `cnf` (§6.2), server nonces (§8, §9) and discovery
//! (§5.1).
//!
//! The proofs are built here with an independent JOSE implementation
//! (`jsonwebtoken`'s signer over keys made with `openssl`), and the
//! expected thumbprints are computed here from RFC 7638, never with the
//! server's own code.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use portcullis::app::operator::NewClient;
use portcullis::domain::TokenHash;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::both_backends;
use crate::flow::{self, TestClient, param, register, user};
use crate::helpers::{Backend, TestApp, spawn_app, spawn_app_with};

// ---- an independent DPoP client ---------------------------------------------

/// A DPoP key pair of the client: the signer, its public JWK and its RFC
/// 7638 thumbprint, computed here.
pub struct DpopKey {
    pub alg: Algorithm,
    enc: EncodingKey,
    pub jwk: Value,
    pub jkt: String,
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// RFC 7638 §3: SHA-256 of the required members in lexicographic order,
/// without whitespace.
fn thumbprint(canonical: &str) -> String {
    b64(openssl::sha::sha256(canonical.as_bytes()))
}

pub fn now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// A P-256 key for ES256.
pub fn es256() -> DpopKey {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let ec = EcKey::generate(&group).unwrap();
    let mut ctx = BigNumContext::new().unwrap();
    let (mut x, mut y) = (BigNum::new().unwrap(), BigNum::new().unwrap());
    ec.public_key()
        .affine_coordinates(&group, &mut x, &mut y, &mut ctx)
        .unwrap();
    let x = b64(x.to_vec_padded(32).unwrap());
    let y = b64(y.to_vec_padded(32).unwrap());
    let pem = PKey::from_ec_key(ec)
        .unwrap()
        .private_key_to_pem_pkcs8()
        .unwrap();
    DpopKey {
        alg: Algorithm::ES256,
        enc: EncodingKey::from_ec_pem(&pem).unwrap(),
        jkt: thumbprint(&format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#
        )),
        jwk: json!({"kty": "EC", "crv": "P-256", "x": x, "y": y}),
    }
}

/// A 2048-bit RSA key for `alg` (RS256 or PS256).
pub fn rsa(alg: Algorithm) -> DpopKey {
    let rsa = Rsa::generate(2048).unwrap();
    let n = b64(rsa.n().to_vec());
    let e = b64(rsa.e().to_vec());
    let pem = rsa.private_key_to_pem().unwrap();
    DpopKey {
        alg,
        enc: EncodingKey::from_rsa_pem(&pem).unwrap(),
        jkt: thumbprint(&format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#)),
        jwk: json!({"kty": "RSA", "n": n, "e": e}),
    }
}

fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::ES256 => "ES256",
        Algorithm::RS256 => "RS256",
        Algorithm::PS256 => "PS256",
        Algorithm::HS256 => "HS256",
        other => panic!("{other:?}"),
    }
}

/// `ath` (RFC 9449 §4.2), computed here.
pub fn ath(token: &str) -> String {
    b64(openssl::sha::sha256(token.as_bytes()))
}

impl DpopKey {
    /// The same key signing with `alg` (an RSA key signs RS256 and PS256
    /// under one thumbprint).
    pub fn with_alg(&self, alg: Algorithm) -> DpopKey {
        DpopKey {
            alg,
            enc: self.enc.clone(),
            jwk: self.jwk.clone(),
            jkt: self.jkt.clone(),
        }
    }

    /// The proof header: `typ`, `alg`, the public `jwk`.
    pub fn header(&self) -> Value {
        json!({"typ": "dpop+jwt", "alg": alg_name(self.alg), "jwk": self.jwk})
    }

    /// Signs `header` and `claims` as a compact JWS, whatever they say.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
        let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &self.enc, self.alg).unwrap();
        format!("{input}.{sig}")
    }

    /// A proof for `htm htu`, with `edit` applied to its header and claims
    /// before signing.
    pub fn proof_with(
        &self,
        htm: &str,
        htu: &str,
        edit: impl FnOnce(&mut Value, &mut Value),
    ) -> String {
        let mut header = self.header();
        let mut claims = json!({
            "jti": uuid::Uuid::new_v4().to_string(),
            "htm": htm,
            "htu": htu,
            "iat": now(),
        });
        edit(&mut header, &mut claims);
        self.sign(&header, &claims)
    }

    /// A good proof for `htm htu`.
    pub fn proof(&self, htm: &str, htu: &str) -> String {
        self.proof_with(htm, htu, |_, _| {})
    }

    /// A good proof for `htm htu` with `ath` for `token` (and a nonce).
    pub fn proof_for(&self, htm: &str, htu: &str, token: &str, nonce: Option<&str>) -> String {
        self.proof_with(htm, htu, |_, c| {
            c["ath"] = json!(ath(token));
            if let Some(n) = nonce {
                c["nonce"] = json!(n);
            }
        })
    }
}

/// The claims of a JWT, unverified (the test reads what the server
/// issued).
pub fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

// ---- requests -----------------------------------------------------------------

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or("(none)")
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map_or("(none)", |v| v.to_str().unwrap())
    }
}

async fn answer(resp: reqwest::Response) -> Answer {
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.json::<Value>().await.unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
    }
}

/// `POST /token` as `client` (Basic with its secret, or `client_id` for a
/// public client) with `proofs` in `DPoP` headers.
pub async fn token(
    app: &TestApp,
    client: &TestClient,
    form: &[(&str, &str)],
    proofs: &[&str],
) -> Answer {
    let mut form = form.to_vec();
    let mut req = app.http.post(app.url("/token"));
    match &client.secret {
        Some(s) => req = req.basic_auth(&client.id, Some(s)),
        None => form.push(("client_id", client.id.as_str())),
    }
    for p in proofs {
        req = req.header("DPoP", *p);
    }
    answer(req.form(&form).send().await.unwrap()).await
}

const CC: [(&str, &str); 1] = [("grant_type", "client_credentials")];

/// A confidential client-credentials client that is also a resource
/// server (it may introspect its own tokens), `extra` applied.
async fn service(app: &TestApp, extra: impl FnOnce(&mut NewClient)) -> TestClient {
    let mut req = NewClient {
        name: "Service".into(),
        grant_types: vec!["client_credentials".into()],
        scopes: vec!["api:read".into()],
        resource_server: true,
        ..NewClient::default()
    };
    extra(&mut req);
    register(app, req).await
}

async fn introspect(app: &TestApp, client: &TestClient, token: &str) -> Value {
    let r = app
        .http
        .post(app.url("/introspect"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

async fn userinfo(
    app: &TestApp,
    method: reqwest::Method,
    authorization: &str,
    proofs: &[&str],
) -> Answer {
    let mut req = app
        .http
        .request(method, app.url("/userinfo"))
        .header("authorization", authorization);
    for p in proofs {
        req = req.header("DPoP", *p);
    }
    answer(req.send().await.unwrap()).await
}

/// The `/authorize` query of `flow::query` for `offline_access` too, with
/// `extra`.
fn offline_query(client: &str, extra: &[(&str, &str)]) -> String {
    flow::query(client, extra).replace(
        "scope=openid+profile",
        "scope=openid+profile+offline_access",
    )
}

/// A code for `client` (alice signs in and allows), the authorization
/// request carrying `extra`.
async fn code(app: &TestApp, client: &TestClient, extra: &[(&str, &str)]) -> String {
    let url = app.url(&format!("/authorize?{}", offline_query(&client.id, extra)));
    let p = flow::follow(app, &url, "alice").await;
    param(&p, "code").unwrap().to_owned()
}

fn exchange(code: &str) -> [(&str, &str); 4] {
    flow::code_exchange(code)
}

/// The stored DPoP binding of a refresh token.
async fn refresh_binding(app: &TestApp, refresh_token: &str) -> Option<String> {
    app.state
        .store
        .refresh_tokens()
        .get_refresh_token(&TokenHash::of(refresh_token))
        .await
        .unwrap()
        .unwrap()
        .dpop_jkt
}

// ---- the token endpoint -------------------------------------------------------

both_backends!(
    a_client_credentials_token_with_a_proof_is_bound,
    |backend| async move {
        let app = spawn_app(backend).await;
        let c = service(&app, |_| {}).await;
        let htu = app.url("/token");
        for key in [es256(), rsa(Algorithm::PS256), rsa(Algorithm::RS256)] {
            let a = token(&app, &c, &CC, &[&key.proof("POST", &htu)]).await;
            assert_eq!(a.status, StatusCode::OK, "{:?}: {}", key.alg, a.body);
            // RFC 9449 §5: token_type DPoP; §6.1: cnf.jkt the key's RFC 7638
            // thumbprint.
            assert_eq!(a.body["token_type"], "DPoP");
            let at = a.body["access_token"].as_str().unwrap();
            assert_eq!(claims(at)["cnf"], json!({"jkt": key.jkt}), "{:?}", key.alg);
            // §6.2: introspection says so.
            let i = introspect(&app, &c, at).await;
            assert_eq!(i["active"], true);
            assert_eq!(i["token_type"], "DPoP");
            assert_eq!(i["cnf"]["jkt"], json!(key.jkt));
        }
        // Without a proof: a bearer token, as before.
        let a = token(&app, &c, &CC, &[]).await;
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(a.body["token_type"], "Bearer");
        let at = a.body["access_token"].as_str().unwrap();
        assert!(claims(at).get("cnf").is_none());
        let i = introspect(&app, &c, at).await;
        assert_eq!(i["token_type"], "Bearer");
        assert!(i.get("cnf").is_none());
    }
);

both_backends!(every_proof_rule_is_enforced, |backend| async move {
    let app = spawn_app(backend).await;
    let c = service(&app, |_| {}).await;
    let htu = app.url("/token");
    let key = es256();
    let other = es256();
    let rsa_key = rsa(Algorithm::RS256);
    let t = now();
    let edit = |f: fn(&mut Value, &mut Value)| key.proof_with("POST", &htu, f);
    // A proof in the header of `key`, signed by `other`.
    let foreign_signature = other.sign(
        &key.header(),
        &json!({"jti": "f1", "htm": "POST", "htu": htu, "iat": t}),
    );
    // alg none: no signature at all.
    let none = format!(
        "{}.{}.",
        b64(json!({"typ": "dpop+jwt", "alg": "none", "jwk": key.jwk}).to_string()),
        b64(json!({"jti": "n1", "htm": "POST", "htu": htu, "iat": t}).to_string())
    );
    // HS256 with a shared secret: a MAC, never accepted.
    let hs256 = {
        let header = json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": key.jwk});
        let claims = json!({"jti": "h1", "htm": "POST", "htu": htu, "iat": t});
        let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
        let sig = jsonwebtoken::crypto::sign(
            input.as_bytes(),
            &EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef"),
            Algorithm::HS256,
        )
        .unwrap();
        format!("{input}.{sig}")
    };
    // A private member in the jwk (the signature is good).
    let private_jwk = key.proof_with("POST", &htu, |h, _| h["jwk"]["d"] = json!("c2VjcmV0"));
    // An RSA key with ES256.
    let kty_mismatch = key.proof_with("POST", &htu, |h, _| h["jwk"] = rsa_key.jwk.clone());
    // One character of the signature changed (the first: all its bits are
    // used, unlike the last one's).
    let tampered = {
        let p = key.proof("POST", &htu);
        let at = p.rfind('.').unwrap() + 1;
        let swap = if p[at..].starts_with('A') { "B" } else { "A" };
        format!("{}{swap}{}", &p[..at], &p[at + 1..])
    };
    let cases: Vec<(&str, &str, Vec<String>)> = vec![
        (
            "typ missing",
            "typ must be dpop+jwt",
            vec![edit(|h, _| {
                h.as_object_mut().unwrap().remove("typ");
            })],
        ),
        (
            "typ JWT",
            "typ must be dpop+jwt",
            vec![edit(|h, _| h["typ"] = json!("JWT"))],
        ),
        ("alg none", "alg must be ES256, PS256 or RS256", vec![none]),
        (
            "alg HS256",
            "alg must be ES256, PS256 or RS256",
            vec![hs256],
        ),
        (
            "no jwk",
            "has no jwk",
            vec![edit(|h, _| {
                h.as_object_mut().unwrap().remove("jwk");
            })],
        ),
        ("a private jwk", "must be a public key", vec![private_jwk]),
        (
            "a jwk of another key type",
            "does not fit its alg",
            vec![kty_mismatch],
        ),
        (
            "signed by another key",
            "signature does not verify",
            vec![foreign_signature],
        ),
        (
            "a tampered signature",
            "signature does not verify",
            vec![tampered],
        ),
        (
            "htm GET",
            "htm is not the request method",
            vec![edit(|_, c| c["htm"] = json!("GET"))],
        ),
        (
            "htm post",
            "htm is not the request method",
            vec![edit(|_, c| c["htm"] = json!("post"))],
        ),
        (
            "htu another endpoint",
            "htu is not this endpoint",
            vec![edit(|_, c| {
                let u = c["htu"].as_str().unwrap().replace("/token", "/userinfo");
                c["htu"] = json!(u);
            })],
        ),
        (
            "htu another host",
            "htu is not this endpoint",
            vec![edit(|_, c| c["htu"] = json!("https://rs.example/token"))],
        ),
        (
            "no htu",
            "has no htu",
            vec![edit(|_, c| {
                c.as_object_mut().unwrap().remove("htu");
            })],
        ),
        (
            "iat too old",
            "too old",
            vec![edit(|_, c| c["iat"] = json!(now() - 120))],
        ),
        (
            "iat in the future",
            "in the future",
            vec![edit(|_, c| c["iat"] = json!(now() + 120))],
        ),
        (
            "no iat",
            "numeric iat",
            vec![edit(|_, c| {
                c.as_object_mut().unwrap().remove("iat");
            })],
        ),
        (
            "no jti",
            "jti of at most 256 bytes",
            vec![edit(|_, c| {
                c.as_object_mut().unwrap().remove("jti");
            })],
        ),
        (
            "a jti too long",
            "jti of at most 256 bytes",
            vec![edit(|_, c| c["jti"] = json!("j".repeat(300)))],
        ),
        ("not a JWS", "not a JWS", vec!["not-a-proof".to_owned()]),
        (
            "two DPoP headers",
            "exactly one DPoP header",
            vec![key.proof("POST", &htu), key.proof("POST", &htu)],
        ),
    ];
    for (why, reason, proofs) in &cases {
        let proofs: Vec<&str> = proofs.iter().map(String::as_str).collect();
        let a = token(&app, &c, &CC, &proofs).await;
        assert_eq!(
            (a.status, a.error()),
            (StatusCode::BAD_REQUEST, "invalid_dpop_proof"),
            "{why}: {}",
            a.body
        );
        // Refused for the rule it breaks, not another one.
        let said = a.body["error_description"].as_str().unwrap_or_default();
        assert!(said.contains(reason), "{why}: {said}");
        assert_eq!(a.header("cache-control"), "no-store", "{why}");
    }
    // Accepted: a query and a fragment in htu are ignored (§4.3 item 9),
    // the host's case and the default port too; an iat within the window
    // or a little ahead.
    let htu_variants = [format!("{htu}?x=1#f"), htu.replace("http://", "HTTP://")];
    for u in &htu_variants {
        let a = token(&app, &c, &CC, &[&key.proof("POST", u)]).await;
        assert_eq!(a.status, StatusCode::OK, "{u}: {}", a.body);
    }
    for iat in [now() - 50, now() + 20] {
        let p = key.proof_with("POST", &htu, |_, c| c["iat"] = json!(iat));
        let a = token(&app, &c, &CC, &[&p]).await;
        assert_eq!(a.status, StatusCode::OK, "iat {iat}: {}", a.body);
    }
});

both_backends!(a_proof_is_used_once, |backend| async move {
    let app = spawn_app(backend).await;
    let c = service(&app, |_| {}).await;
    let key = es256();
    let proof = key.proof("POST", &app.url("/token"));
    let a = token(&app, &c, &CC, &[&proof]).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let a = token(&app, &c, &CC, &[&proof]).await;
    assert_eq!(
        (a.status, a.error()),
        (StatusCode::BAD_REQUEST, "invalid_dpop_proof"),
        "a replayed jti (§11.1)"
    );
    // Eight requests at once with one fresh proof: exactly one wins (one
    // insert-once in the store decides).
    let proof = key.proof("POST", &app.url("/token"));
    let requests = (0..8).map(|_| {
        let http = crate::helpers::http_client();
        let url = app.url("/token");
        let (id, secret, proof) = (c.id.clone(), c.secret.clone(), proof.clone());
        tokio::spawn(async move {
            let r = http
                .post(&url)
                .basic_auth(&id, secret)
                .header("DPoP", proof)
                .form(&CC)
                .send()
                .await
                .unwrap();
            let status = r.status();
            let body: Value = r.json().await.unwrap();
            (status, body["error"].as_str().map(str::to_owned))
        })
    });
    let results: Vec<_> = futures_util::future::join_all(requests)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let won = results.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!(won, 1, "{results:?}");
    assert!(
        results
            .iter()
            .filter(|(s, _)| *s != StatusCode::OK)
            .all(|(s, e)| *s == StatusCode::BAD_REQUEST
                && e.as_deref() == Some("invalid_dpop_proof")),
        "{results:?}"
    );
});

both_backends!(
    a_dpop_bound_client_must_send_a_proof,
    |backend| async move {
        let app = spawn_app(backend).await;
        let c = service(&app, |r| r.dpop_bound_access_tokens = true).await;
        // RFC 9449 §5.2: "MUST reject token requests ... that do not contain
        // the DPoP header".
        let a = token(&app, &c, &CC, &[]).await;
        assert_eq!(
            (a.status, a.error()),
            (StatusCode::BAD_REQUEST, "invalid_dpop_proof"),
            "{}",
            a.body
        );
        let key = es256();
        let a = token(&app, &c, &CC, &[&key.proof("POST", &app.url("/token"))]).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert_eq!(a.body["token_type"], "DPoP");
    }
);

both_backends!(
    a_public_client_s_tokens_are_bound_to_its_key,
    |backend| async move {
        let app = spawn_app(backend).await;
        user(&app, "alice").await;
        let c = register(&app, flow::client_req(true)).await;
        let htu = app.url("/token");
        let key = es256();
        let code = code(&app, &c, &[]).await;
        let a = token(&app, &c, &exchange(&code), &[&key.proof("POST", &htu)]).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert_eq!(a.body["token_type"], "DPoP");
        let at = a.body["access_token"].as_str().unwrap().to_owned();
        assert_eq!(claims(&at)["cnf"]["jkt"], json!(key.jkt));
        let rt = a.body["refresh_token"].as_str().unwrap().to_owned();
        // RFC 9449 §5: a public client's refresh token is bound to the key.
        assert_eq!(
            refresh_binding(&app, &rt).await.as_deref(),
            Some(key.jkt.as_str())
        );

        let refresh = [
            ("grant_type", "refresh_token"),
            ("refresh_token", rt.as_str()),
        ];
        // Without a proof, with a proof of another key: refused, and the
        // token is left as it was (not rotated).
        let a = token(&app, &c, &refresh, &[]).await;
        assert_eq!(
            (a.status, a.error()),
            (StatusCode::BAD_REQUEST, "invalid_dpop_proof"),
            "{}",
            a.body
        );
        let stranger = es256();
        let a = token(&app, &c, &refresh, &[&stranger.proof("POST", &htu)]).await;
        assert_eq!(
            (a.status, a.error()),
            (StatusCode::BAD_REQUEST, "invalid_grant"),
            "{}",
            a.body
        );
        // The key's own proof: a new pair, still bound.
        let a = token(&app, &c, &refresh, &[&key.proof("POST", &htu)]).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert_eq!(a.body["token_type"], "DPoP");
        assert_eq!(
            claims(a.body["access_token"].as_str().unwrap())["cnf"]["jkt"],
            json!(key.jkt)
        );
        let rt2 = a.body["refresh_token"].as_str().unwrap();
        assert_eq!(
            refresh_binding(&app, rt2).await.as_deref(),
            Some(key.jkt.as_str())
        );

        // /userinfo: the DPoP scheme with a proof carrying ath.
        let ui = app.url("/userinfo");
        let dpop = format!("DPoP {at}");
        let a = userinfo(
            &app,
            reqwest::Method::GET,
            &dpop,
            &[&key.proof_for("GET", &ui, &at, None)],
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert!(a.body["sub"].is_string());
        let a = userinfo(
            &app,
            reqwest::Method::POST,
            &dpop,
            &[&key.proof_for("POST", &ui, &at, None)],
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "POST: {}", a.body);
    }
);

both_backends!(
    a_confidential_client_s_refresh_token_stays_unbound,
    |backend| async move {
        let app = spawn_app(backend).await;
        user(&app, "alice").await;
        let c = register(&app, flow::client_req(false)).await;
        let htu = app.url("/token");
        let key = es256();
        let code = code(&app, &c, &[]).await;
        let a = token(&app, &c, &exchange(&code), &[&key.proof("POST", &htu)]).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert_eq!(a.body["token_type"], "DPoP");
        let rt = a.body["refresh_token"].as_str().unwrap().to_owned();
        // RFC 9449 §5: the client authenticates; its refresh token is not
        // bound to the key.
        assert_eq!(refresh_binding(&app, &rt).await, None);
        let refresh = [
            ("grant_type", "refresh_token"),
            ("refresh_token", rt.as_str()),
        ];
        let a = token(&app, &c, &refresh, &[]).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert_eq!(a.body["token_type"], "Bearer");
    }
);

both_backends!(dpop_jkt_binds_the_code, |backend| async move {
    let app = spawn_app(backend).await;
    user(&app, "alice").await;
    let c = register(&app, flow::client_req(true)).await;
    let htu = app.url("/token");
    let key = es256();
    // A malformed dpop_jkt is redirected as invalid_request (§10).
    for bad in [
        "short",
        &format!("{}=", key.jkt),
        &format!("{}+", &key.jkt[..42]),
    ] {
        let r = flow::get_authorize(&app, &offline_query(&c.id, &[("dpop_jkt", bad)])).await;
        let p = flow::redirect_params(&r);
        assert_eq!(param(&p, "error"), Some("invalid_request"), "{bad}");
    }
    let code = code(&app, &c, &[("dpop_jkt", key.jkt.as_str())]).await;
    // No proof, a proof of another key: refused, the code stays usable.
    let a = token(&app, &c, &exchange(&code), &[]).await;
    assert_eq!(
        (a.status, a.error()),
        (StatusCode::BAD_REQUEST, "invalid_dpop_proof"),
        "{}",
        a.body
    );
    let a = token(&app, &c, &exchange(&code), &[&es256().proof("POST", &htu)]).await;
    assert_eq!(
        (a.status, a.error()),
        (StatusCode::BAD_REQUEST, "invalid_grant"),
        "{}",
        a.body
    );
    let a = token(&app, &c, &exchange(&code), &[&key.proof("POST", &htu)]).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(
        claims(a.body["access_token"].as_str().unwrap())["cnf"]["jkt"],
        json!(key.jkt)
    );
});

both_backends!(a_device_code_token_is_bound, |backend| async move {
    use crate::device::{DEVICE_GRANT, decide, device_client, enter, sign_in_page, start};
    let app = spawn_app_with(backend, |c| {
        c.auth.device_poll_interval = chrono::Duration::seconds(1);
    })
    .await;
    user(&app, "alice").await;
    let c = device_client(&app, |_| {}).await;
    let d = start(&app, &c, "openid offline_access").await;
    let browser = crate::helpers::http_client();
    let r = enter(
        &app,
        &browser,
        d["verification_uri_complete"].as_str().unwrap(),
        None,
    )
    .await;
    let html = r.text().await.unwrap();
    let html = sign_in_page(&app, &browser, &html, "alice")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        decide(&app, &browser, &html, "allow").await.status(),
        StatusCode::OK
    );
    let key = es256();
    let form = [
        ("grant_type", DEVICE_GRANT),
        ("device_code", d["device_code"].as_str().unwrap()),
    ];
    let a = token(&app, &c, &form, &[&key.proof("POST", &app.url("/token"))]).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["token_type"], "DPoP");
    assert_eq!(
        claims(a.body["access_token"].as_str().unwrap())["cnf"]["jkt"],
        json!(key.jkt)
    );
    let rt = a.body["refresh_token"].as_str().unwrap();
    assert_eq!(
        refresh_binding(&app, rt).await.as_deref(),
        Some(key.jkt.as_str())
    );
});

// ---- protected resources ------------------------------------------------------

/// A confidential client's bound access token (with `openid`) for alice.
async fn bound_user_token(app: &TestApp, key: &DpopKey) -> String {
    user(app, "alice").await;
    let c = register(app, flow::client_req(false)).await;
    let code = code(app, &c, &[]).await;
    let a = token(
        app,
        &c,
        &exchange(&code),
        &[&key.proof("POST", &app.url("/token"))],
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    a.body["access_token"].as_str().unwrap().to_owned()
}

fn challenge(a: &Answer) -> String {
    a.headers
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join(" | ")
}

both_backends!(
    userinfo_wants_a_proof_for_a_bound_token,
    |backend| async move {
        let app = spawn_app(backend).await;
        let key = es256();
        let at = bound_user_token(&app, &key).await;
        let ui = app.url("/userinfo");
        let dpop = format!("DPoP {at}");
        let get = reqwest::Method::GET;
        let refused = |a: &Answer, code: &str, why: &str| {
            assert_eq!(
                (a.status, a.error()),
                (StatusCode::UNAUTHORIZED, code),
                "{why}: {}",
                a.body
            );
            let c = challenge(a);
            assert!(c.starts_with("DPoP "), "{why}: {c}");
            assert!(c.contains(&format!("error=\"{code}\"")), "{why}: {c}");
            assert!(c.contains("algs=\"ES256 PS256 RS256\""), "{why}: {c}");
        };
        // §7.2: presented as a bearer token, it is refused.
        let a = userinfo(&app, get.clone(), &format!("Bearer {at}"), &[]).await;
        refused(&a, "invalid_token", "as Bearer");
        // The DPoP scheme without a proof; with a proof lacking or with a
        // wrong ath; of another key; for another method or URL.
        let a = userinfo(&app, get.clone(), &dpop, &[]).await;
        refused(&a, "invalid_dpop_proof", "no proof");
        let no_ath = key.proof("GET", &ui);
        let a = userinfo(&app, get.clone(), &dpop, &[&no_ath]).await;
        refused(&a, "invalid_dpop_proof", "no ath");
        let wrong_ath = key.proof_for("GET", &ui, "another token", None);
        let a = userinfo(&app, get.clone(), &dpop, &[&wrong_ath]).await;
        refused(&a, "invalid_dpop_proof", "wrong ath");
        let stranger = es256();
        let a = userinfo(
            &app,
            get.clone(),
            &dpop,
            &[&stranger.proof_for("GET", &ui, &at, None)],
        )
        .await;
        refused(&a, "invalid_dpop_proof", "another key");
        let a = userinfo(
            &app,
            get.clone(),
            &dpop,
            &[&key.proof_for("POST", &ui, &at, None)],
        )
        .await;
        refused(&a, "invalid_dpop_proof", "htm POST for a GET");
        let a = userinfo(
            &app,
            get.clone(),
            &dpop,
            &[&key.proof_for("GET", &app.url("/token"), &at, None)],
        )
        .await;
        refused(&a, "invalid_dpop_proof", "htu /token");
        // The good one works once.
        let good = key.proof_for("GET", &ui, &at, None);
        let a = userinfo(&app, get.clone(), &dpop, &[&good]).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert!(a.body["sub"].is_string());
        let a = userinfo(&app, get.clone(), &dpop, &[&good]).await;
        refused(&a, "invalid_dpop_proof", "replayed");
        // A bearer token with the DPoP scheme is refused too.
        let c = service(&app, |_| {}).await;
        let bearer = token(&app, &c, &[("grant_type", "client_credentials")], &[]).await;
        let bt = bearer.body["access_token"].as_str().unwrap();
        let a = userinfo(
            &app,
            get.clone(),
            &format!("DPoP {bt}"),
            &[&key.proof_for("GET", &ui, bt, None)],
        )
        .await;
        refused(&a, "invalid_token", "an unbound token as DPoP");
        // No credentials at all: both schemes are offered.
        let a = answer(app.http.get(&ui).send().await.unwrap()).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
        let c = challenge(&a);
        assert!(
            c.contains("Bearer") && c.contains("DPoP algs=\"ES256 PS256 RS256\""),
            "{c}"
        );
    }
);

both_backends!(
    the_admin_api_refuses_a_bound_token_as_bearer,
    |backend| async move {
        let app = spawn_app(backend).await;
        let admin = crate::admin::admin_client(&app, "admin:read").await;
        let key = es256();
        let a = token(&app, &admin, &CC, &[&key.proof("POST", &app.url("/token"))]).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        let at = a.body["access_token"].as_str().unwrap();
        let (status, body) =
            crate::admin::call(&app, reqwest::Method::GET, "/admin/v1/clients", at, None).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_token"))
        );
        // Its bearer token works.
        let bearer = crate::admin::token_of(&app, &admin).await;
        let (status, _) = crate::admin::call(
            &app,
            reqwest::Method::GET,
            "/admin/v1/clients",
            &bearer,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
);

// ---- server nonces ------------------------------------------------------------

both_backends!(server_nonces_when_on, |backend| async move {
    let app = spawn_app_with(backend, |c| c.tokens.dpop_nonce = true).await;
    let c = service(&app, |_| {}).await;
    let htu = app.url("/token");
    let key = es256();
    // §8: a proof without the nonce gets use_dpop_nonce and the nonce.
    let a = token(&app, &c, &CC, &[&key.proof("POST", &htu)]).await;
    assert_eq!(
        (a.status, a.error()),
        (StatusCode::BAD_REQUEST, "use_dpop_nonce"),
        "{}",
        a.body
    );
    let nonce = a.header("dpop-nonce").to_owned();
    assert_ne!(nonce, "(none)");
    // A nonce we did not issue is refused the same way.
    let p = key.proof_with("POST", &htu, |_, c| c["nonce"] = json!("made-up"));
    let a = token(&app, &c, &CC, &[&p]).await;
    assert_eq!(
        (a.status, a.error()),
        (StatusCode::BAD_REQUEST, "use_dpop_nonce")
    );
    // With it: the token, and a nonce for the next request (§8.2).
    let p = key.proof_with("POST", &htu, |_, c| c["nonce"] = json!(nonce));
    let a = token(&app, &c, &CC, &[&p]).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_ne!(a.header("dpop-nonce"), "(none)");
    assert_eq!(a.body["token_type"], "DPoP");

    // §9 at /userinfo: 401 with the DPoP challenge and the nonce.
    let key = es256();
    user(&app, "alice").await;
    let rp = register(&app, flow::client_req(false)).await;
    let code = code(&app, &rp, &[]).await;
    let p = key.proof_with("POST", &htu, |_, c| c["nonce"] = json!(nonce));
    let a = token(&app, &rp, &exchange(&code), &[&p]).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let at = a.body["access_token"].as_str().unwrap();
    let ui = app.url("/userinfo");
    let dpop = format!("DPoP {at}");
    let a = userinfo(
        &app,
        reqwest::Method::GET,
        &dpop,
        &[&key.proof_for("GET", &ui, at, None)],
    )
    .await;
    assert_eq!(
        (a.status, a.error()),
        (StatusCode::UNAUTHORIZED, "use_dpop_nonce")
    );
    let c = challenge(&a);
    assert!(
        c.starts_with("DPoP ") && c.contains("error=\"use_dpop_nonce\""),
        "{c}"
    );
    let nonce = a.header("dpop-nonce").to_owned();
    assert_ne!(nonce, "(none)");
    let a = userinfo(
        &app,
        reqwest::Method::GET,
        &dpop,
        &[&key.proof_for("GET", &ui, at, Some(&nonce))],
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
});

both_backends!(nonces_are_off_by_default, |backend| async move {
    let app = spawn_app(backend).await;
    let c = service(&app, |_| {}).await;
    let a = token(&app, &c, &CC, &[&es256().proof("POST", &app.url("/token"))]).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.header("dpop-nonce"), "(none)");
});

// ---- discovery ----------------------------------------------------------------

#[tokio::test]
async fn discovery_lists_exactly_the_proof_algorithms() {
    let app = spawn_app(Backend::Sqlite).await;
    let d: Value = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // RFC 9449 §5.1; the three each work (see
    // a_client_credentials_token_with_a_proof_is_bound) and HS256 and none
    // do not (every_proof_rule_is_enforced).
    assert_eq!(
        d["dpop_signing_alg_values_supported"],
        json!(["ES256", "PS256", "RS256"])
    );
}
