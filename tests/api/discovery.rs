//! The discovery document is true (RFC 8414 §2, OpenID Connect Discovery
//! 1.0 §3): every endpoint it names is served, every grant type, response
//! mode, PKCE method, client-authentication method and client-assertion
//! algorithm it lists is accepted where it says; and CORS and the rate
//! limits follow the endpoint inventory (`protocol::endpoints`).

use josekit::jwk::Jwk;
use josekit::jws::{ES256, JwsHeader, JwsSigner, PS256, RS256};
use josekit::jwt::JwtPayload;
use portcullis::app::operator::NewClient;
use portcullis::config::{CorsOrigins, RateLimits};
use portcullis::protocol::endpoints::{CorsPolicy, Endpoint, Listener, Method};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::flow::{client_req, get_authorize, query, register};
use crate::helpers::{Backend, TestApp, spawn_app, spawn_app_with};

async fn discovery(app: &TestApp) -> Value {
    let r = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

/// A client key pair for `alg`: the private JWK and a JWKS of the public key.
fn client_key(alg: &str) -> (Box<dyn JwsSigner>, String) {
    let (signer, public): (Box<dyn JwsSigner>, Jwk) = match alg {
        "ES256" => {
            let pair = ES256.generate_key_pair().unwrap();
            (
                Box::new(ES256.signer_from_jwk(&pair.to_jwk_key_pair()).unwrap()),
                pair.to_jwk_public_key(),
            )
        }
        "RS256" => {
            let pair = RS256.generate_key_pair(2048).unwrap();
            (
                Box::new(RS256.signer_from_jwk(&pair.to_jwk_key_pair()).unwrap()),
                pair.to_jwk_public_key(),
            )
        }
        "PS256" => {
            let pair = PS256.generate_key_pair(2048).unwrap();
            (
                Box::new(PS256.signer_from_jwk(&pair.to_jwk_key_pair()).unwrap()),
                pair.to_jwk_public_key(),
            )
        }
        other => panic!("the test has no key for {other}"),
    };
    let mut public = public;
    public.set_key_id("k1");
    let jwks = json!({ "keys": [Value::Object(public.as_ref().clone())] }).to_string();
    (signer, jwks)
}

/// A `private_key_jwt` assertion (RFC 7523 §3) for `client` with `aud`.
fn assertion(signer: &dyn JwsSigner, client: &str, aud: &str) -> String {
    let mut header = JwsHeader::new();
    header.set_key_id("k1");
    let mut p = JwtPayload::new();
    p.set_issuer(client);
    p.set_subject(client);
    p.set_audience(vec![aud]);
    // Short: a long jti hits the replay table's column width on PostgreSQL
    // (reported separately; not what this file tests).
    p.set_jwt_id(&uuid::Uuid::new_v4().simple().to_string()[..12]);
    let now = std::time::SystemTime::now();
    p.set_issued_at(&now);
    p.set_expires_at(&(now + std::time::Duration::from_mins(1)));
    josekit::jwt::encode_with_signer(&p, &header, signer).unwrap()
}

/// How a client of `method` authenticates: form fields and Basic credentials.
struct Credentials {
    form: Vec<(String, String)>,
    basic: Option<(String, Option<String>)>,
}

/// Registers a client that authenticates with `method` (and, for
/// `private_key_jwt`, signs with `alg`), and the credentials of one request.
async fn client_for(app: &TestApp, method: &str, alg: &str, grants: &[String]) -> Credentials {
    let mut req = NewClient {
        grant_types: grants.to_vec(),
        ..client_req(method == "none")
    };
    let mut signer = None;
    if method != "none" {
        req.auth_method = Some(method.to_owned());
        // It calls /introspect too (RFC 7662 §2.1: a resource server).
        req.resource_server = true;
    }
    if method == "private_key_jwt" {
        let (s, jwks) = client_key(alg);
        req.jwks = Some(jwks);
        signer = Some(s);
    }
    let c = register(app, req).await;
    let id = c.id.clone();
    match method {
        "client_secret_basic" => Credentials {
            form: vec![],
            basic: Some((id, c.secret)),
        },
        "client_secret_post" => Credentials {
            form: vec![
                ("client_id".into(), id),
                ("client_secret".into(), c.secret.unwrap()),
            ],
            basic: None,
        },
        "private_key_jwt" => Credentials {
            form: vec![
                ("client_id".into(), id.clone()),
                (
                    "client_assertion_type".into(),
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
                ),
                (
                    "client_assertion".into(),
                    assertion(signer.unwrap().as_ref(), &id, &app.issuer),
                ),
            ],
            basic: None,
        },
        "none" => Credentials {
            form: vec![("client_id".into(), id)],
            basic: None,
        },
        other => panic!("the test does not know the method {other}"),
    }
}

async fn post_with(
    app: &TestApp,
    url: &str,
    creds: &Credentials,
    params: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut form: Vec<(&str, &str)> = creds
        .form
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    form.extend_from_slice(params);
    let mut req = app.http.post(url).form(&form);
    if let Some((id, secret)) = &creds.basic {
        req = req.basic_auth(id, secret.as_deref());
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The endpoints where clients authenticate, as discovery names them.
const CLIENT_AUTH_ENDPOINTS: [&str; 4] = [
    "token",
    "revocation",
    "introspection",
    "pushed_authorization_request",
];

/// A request the endpoint answers once the client is authenticated.
fn params_for(endpoint: &str, public: bool) -> Vec<(&'static str, &'static str)> {
    match endpoint {
        "token" if public => vec![("grant_type", "refresh_token"), ("refresh_token", "nope")],
        "token" => vec![("grant_type", "client_credentials")],
        // RFC 9126 §2: an authorization request, authenticated as at the
        // token endpoint.
        "pushed_authorization_request" => vec![
            ("response_type", "code"),
            ("redirect_uri", crate::flow::REDIRECT),
            ("scope", "openid"),
            ("code_challenge", crate::flow::CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
        _ => vec![("token", "not-a-token")],
    }
}

both_backends!(
    jwt_client_authentication_algorithms_are_listed_and_accepted,
    |backend| async move {
        let app = spawn_app(backend).await;
        let doc = discovery(&app).await;
        let grants = vec![
            "client_credentials".to_owned(),
            "authorization_code".to_owned(),
        ];
        for endpoint in CLIENT_AUTH_ENDPOINTS {
            let methods = strings(&doc[format!("{endpoint}_endpoint_auth_methods_supported")]);
            assert!(methods.iter().any(|m| m == "private_key_jwt"), "{endpoint}");
            // RFC 8414 §2: MUST be present when private_key_jwt is listed.
            let field = format!("{endpoint}_endpoint_auth_signing_alg_values_supported");
            let algs = strings(&doc[&field]);
            assert!(!algs.is_empty(), "{field}");
            assert!(!algs.iter().any(|a| a == "none"), "{field}: none");
            let url = doc[format!("{endpoint}_endpoint")].as_str().unwrap();
            for alg in &algs {
                let creds = client_for(&app, "private_key_jwt", alg, &grants).await;
                let (status, body) =
                    post_with(&app, url, &creds, &params_for(endpoint, false)).await;
                assert!(
                    status.is_success(),
                    "{endpoint} with {alg}: {status} {body}"
                );
            }
        }
    }
);

// The endpoints (and the JWKS) answer: a path no route serves would be a
// 404, and a method it does not take a 405 (so at least one of GET and
// POST must be neither).
both_backends!(every_advertised_endpoint_is_served, |backend| async move {
    let app = spawn_app(backend).await;
    let doc = discovery(&app).await;
    let mut seen = 0;
    for (name, value) in doc.as_object().unwrap() {
        if !(name.ends_with("_endpoint") || name == "jwks_uri") {
            continue;
        }
        seen += 1;
        let url = value.as_str().unwrap();
        assert!(url.starts_with(&app.issuer), "{name}: {url}");
        let get = app.http.get(url).send().await.unwrap().status();
        let post = app
            .http
            .post(url)
            .form(&[("x", "y")])
            .send()
            .await
            .unwrap()
            .status();
        let served =
            |s: StatusCode| s != StatusCode::NOT_FOUND && s != StatusCode::METHOD_NOT_ALLOWED;
        assert!(
            served(get) || served(post),
            "{name} {url}: GET {get}, POST {post}"
        );
        assert_ne!(get, StatusCode::NOT_FOUND, "{name}");
    }
    assert!(seen >= 7, "{doc}");
});

both_backends!(
    every_advertised_grant_type_is_accepted_by_the_token_endpoint,
    |backend| async move {
        let app = spawn_app(backend).await;
        let doc = discovery(&app).await;
        let grants = strings(&doc["grant_types_supported"]);
        assert!(grants.iter().any(|g| g == "authorization_code"));
        let creds = client_for(&app, "client_secret_basic", "", &grants).await;
        let url = doc["token_endpoint"].as_str().unwrap();
        for grant in &grants {
            let (status, body) = post_with(
                &app,
                url,
                &creds,
                &[
                    ("grant_type", grant),
                    ("code", "nope"),
                    ("refresh_token", "nope"),
                    ("redirect_uri", crate::flow::REDIRECT),
                    ("code_verifier", crate::flow::VERIFIER),
                ],
            )
            .await;
            assert_ne!(body["error"], "unsupported_grant_type", "{grant}");
            assert_ne!(body["error"], "unauthorized_client", "{grant}");
            assert_ne!(status, StatusCode::UNAUTHORIZED, "{grant}: {body}");
        }
        // And the token endpoint refuses what is not listed.
        let (_, body) = post_with(
            &app,
            url,
            &creds,
            &[("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")],
        )
        .await;
        assert_eq!(body["error"], "unsupported_grant_type");
    }
);

// Each client-authentication method listed for an endpoint authenticates
// there (RFC 8414 §2: `token_endpoint_auth_methods_supported`,
// `revocation_endpoint_auth_methods_supported`,
// `introspection_endpoint_auth_methods_supported`).
both_backends!(
    every_advertised_client_auth_method_is_accepted,
    |backend| async move {
        let app = spawn_app(backend).await;
        let doc = discovery(&app).await;
        for endpoint in CLIENT_AUTH_ENDPOINTS {
            let url = doc[format!("{endpoint}_endpoint")].as_str().unwrap();
            let methods = strings(&doc[format!("{endpoint}_endpoint_auth_methods_supported")]);
            for method in &methods {
                let public = method == "none";
                let grants: Vec<String> = if public {
                    vec!["authorization_code".into(), "refresh_token".into()]
                } else {
                    vec!["client_credentials".into()]
                };
                let creds = client_for(&app, method, "ES256", &grants).await;
                let (status, body) =
                    post_with(&app, url, &creds, &params_for(endpoint, public)).await;
                assert_ne!(
                    status,
                    StatusCode::UNAUTHORIZED,
                    "{endpoint} lists {method}, but refuses it: {body}"
                );
                assert_ne!(body["error"], "invalid_client", "{endpoint} {method}");
            }
        }
    }
);

// Each response mode and PKCE method listed is accepted by `/authorize`
// (the login page is shown, not an error).
both_backends!(
    every_advertised_response_mode_and_pkce_method_is_accepted,
    |backend| async move {
        let app = spawn_app(backend).await;
        let doc = discovery(&app).await;
        let c = register(&app, client_req(false)).await;
        for mode in strings(&doc["response_modes_supported"]) {
            let r = get_authorize(&app, &query(&c.id, &[("response_mode", &mode)])).await;
            assert_eq!(r.status(), StatusCode::OK, "response_mode={mode}");
        }
        for method in strings(&doc["code_challenge_methods_supported"]) {
            let q = query(&c.id, &[]).replace("S256", &method);
            let r = get_authorize(&app, &q).await;
            assert_eq!(r.status(), StatusCode::OK, "code_challenge_method={method}");
        }
        for rt in strings(&doc["response_types_supported"]) {
            let q = query(&c.id, &[]).replace("response_type=code", &format!("response_type={rt}"));
            let r = get_authorize(&app, &q).await;
            assert_eq!(r.status(), StatusCode::OK, "response_type={rt}");
        }
    }
);

/// A path no route serves gets no CORS headers, whatever the origin.
#[tokio::test]
async fn unserved_paths_get_no_cors_headers() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.cors_allowed_origins = CorsOrigins::Any;
        c.rate_limits = RateLimits::DEFAULT;
    })
    .await;
    for path in [
        "/.well-known/oauth-authorization-server",
        "/nope",
        "/token/x",
    ] {
        let r = app
            .http
            .get(app.url(path))
            .header("origin", "https://rp.example")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(
            !r.headers().contains_key("access-control-allow-origin"),
            "{path} is not served, yet answers CORS"
        );
    }
}

fn request(app: &TestApp, method: &str, path: &str) -> reqwest::RequestBuilder {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    app.http.request(m, app.url(path))
}

/// The router serves each endpoint of the inventory with exactly the
/// methods the inventory lists (GET comes with HEAD); dynamic registration
/// only while it is on (off, its paths are unknown: 404).
#[tokio::test]
async fn the_router_serves_the_inventory() {
    let off = spawn_app_with(Backend::Sqlite, |c| c.rate_limits = RateLimits::OFF).await;
    // Dynamic registration and sign-up are off by default: not routed.
    for e in Endpoint::ALL
        .into_iter()
        .filter(|e| e.is_registration() || e.is_signup())
    {
        for method in e.methods() {
            let m = reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap();
            let status = off.http.request(m, off.url(e.path())).send().await.unwrap();
            assert_eq!(
                status.status(),
                StatusCode::NOT_FOUND,
                "{method:?} {}",
                e.path()
            );
        }
    }
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.rate_limits = RateLimits::OFF;
        c.registration.mode = portcullis::config::RegistrationMode::Token;
        c.self_service.signup = portcullis::config::SignupMode::Open;
    })
    .await;
    for e in Endpoint::ALL {
        for (method, listed) in [
            ("GET", e.methods().contains(&Method::Get)),
            ("HEAD", e.methods().contains(&Method::Get)),
            ("POST", e.methods().contains(&Method::Post)),
            ("PUT", e.methods().contains(&Method::Put)),
            ("PATCH", e.methods().contains(&Method::Patch)),
            ("DELETE", e.methods().contains(&Method::Delete)),
        ] {
            let url = match e.listener() {
                Listener::Public => app.url(e.path()),
                Listener::Management => app.management_url(e.path()),
            };
            let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let status = app.http.request(m, url).send().await.unwrap().status();
            assert_ne!(status, StatusCode::NOT_FOUND, "{method} {}", e.path());
            assert_eq!(
                status != StatusCode::METHOD_NOT_ALLOWED,
                listed,
                "{method} {}: {status}",
                e.path()
            );
        }
    }
}

/// CORS is answered on exactly the inventory's CORS endpoints, with their
/// policy, and the rate limits count exactly the inventory's rate-limited
/// endpoints.
#[tokio::test]
async fn cors_and_rate_limits_follow_the_inventory() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.cors_allowed_origins = CorsOrigins::List(vec!["https://rp.example".into()]);
        c.rate_limits = RateLimits {
            token_per_min: 1,
            authorize_per_min: 1,
            login_per_min: 1,
        };
    })
    .await;
    for e in Endpoint::ALL {
        for origin in ["https://rp.example", "https://other.example"] {
            let r = request(&app, "OPTIONS", e.path())
                .header("origin", origin)
                .header("access-control-request-method", e.methods()[0].as_str())
                .send()
                .await
                .unwrap();
            let allowed = r
                .headers()
                .get("access-control-allow-origin")
                .map(|v| v.to_str().unwrap().to_owned());
            let expected = match e.cors() {
                Some(CorsPolicy::Public) => Some("*".to_owned()),
                Some(CorsPolicy::Api) if origin == "https://rp.example" => Some(origin.to_owned()),
                _ => None,
            };
            assert_eq!(allowed, expected, "preflight of {} from {origin}", e.path());
        }
        // Two requests: a limit of one a minute refuses the second (or the
        // first, when an earlier endpoint of the same limit used it up).
        let method = e.methods()[0].as_str();
        let mut limited = false;
        for _ in 0..2 {
            let status = request(&app, method, e.path())
                .send()
                .await
                .unwrap()
                .status();
            limited |= status == StatusCode::TOO_MANY_REQUESTS;
        }
        assert_eq!(limited, e.rate_limit().is_some(), "{method} {}", e.path());
    }
}
