//! Issue 18: resource indicators (RFC 8707). Registered APIs get access
//! tokens of their own: `aud` the API's identifier, `scope` only the
//! scopes it defines. The `resource` parameter at `/authorize` (one or
//! more, each allowed for the client) and at `/token` (at most one, among
//! those authorized; a refresh narrows, never widens); `invalid_target`
//! otherwise. `/userinfo` refuses an API's token; introspection tells only
//! the API's resource server about it. Without `resource`, nothing changes.

use base64::Engine as _;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use portcullis::adapters::system::SystemClock;
use portcullis::app::operator::NewClient;
use portcullis::app::resources::{self, NewResource};
use reqwest::StatusCode;
use serde_json::Value;

use crate::both_backends;
use crate::flow::{
    REDIRECT, TestClient, code_exchange, follow, get_authorize, param, query, redirect_params,
    register, user,
};
use crate::helpers::{TestApp, spawn_app};

const ORDERS: &str = "https://orders.example.com/api";
const BILLING: &str = "urn:example:billing";
const OTHER: &str = "https://other.example.com";

/// The payload of a JWT (the signature is the server's; `openidconnect`
/// verifies the ID token against the JWKS, `/introspect` the access token).
fn payload(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

async fn api(app: &TestApp, id: &str, scopes: &[&str]) {
    resources::create(
        app.state.store.as_ref(),
        &SystemClock,
        NewResource {
            id: id.into(),
            name: format!("API {id}"),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        },
    )
    .await
    .unwrap();
}

/// The APIs ORDERS (orders:read orders:write), BILLING (billing:read) and
/// OTHER (other:read, allowed to no client); the user alice; the
/// confidential client "RP" allowed ORDERS and BILLING.
async fn setup(app: &TestApp) -> TestClient {
    api(app, ORDERS, &["orders:read", "orders:write"]).await;
    api(app, BILLING, &["billing:read"]).await;
    api(app, OTHER, &["other:read"]).await;
    user(app, "alice").await;
    register(
        app,
        NewClient {
            name: "RP".into(),
            redirect_uris: vec![REDIRECT.into()],
            grant_types: vec![
                "authorization_code".into(),
                "refresh_token".into(),
                "client_credentials".into(),
            ],
            scopes: [
                "openid",
                "profile",
                "email",
                "offline_access",
                "orders:read",
                "orders:write",
                "billing:read",
                "other:read",
            ]
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
            allowed_resources: vec![ORDERS.into(), BILLING.into()],
            ..NewClient::default()
        },
    )
    .await
}

/// A resource server (may introspect) serving `audience`.
async fn resource_server(app: &TestApp, audience: &str) -> TestClient {
    register(
        app,
        NewClient {
            name: format!("RS {audience}"),
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["other:read".into()],
            resource_server: true,
            audience: Some(audience.into()),
            ..NewClient::default()
        },
    )
    .await
}

async fn introspect(app: &TestApp, rs: &TestClient, token: &str) -> Value {
    let r = app
        .http
        .post(app.url("/introspect"))
        .basic_auth(&rs.id, rs.secret.as_deref())
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

async fn token(app: &TestApp, c: &TestClient, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let r = app
        .http
        .post(app.url("/token"))
        .basic_auth(&c.id, c.secret.as_deref())
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap())
}

async fn userinfo(app: &TestApp, access_token: &str) -> StatusCode {
    app.http
        .get(app.url("/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
        .status()
}

/// The code of an authorization of `c` for `scope` and `resources` (alice
/// signs in and consents).
async fn authorize(app: &TestApp, c: &TestClient, scope: &str, resources: &[&str]) -> String {
    let extra: Vec<(&str, &str)> = resources.iter().map(|r| ("resource", *r)).collect();
    let q = query(&c.id, &extra).replace("scope=openid+profile", &format!("scope={scope}"));
    let p = follow(app, &app.url(&format!("/authorize?{q}")), "alice").await;
    param(&p, "code")
        .unwrap_or_else(|| panic!("no code: {p:?}"))
        .to_owned()
}

both_backends!(
    a_relying_party_gets_a_token_meant_for_one_api,
    |backend| async move {
        let app = spawn_app(backend).await;
        let c = setup(&app).await;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let metadata = CoreProviderMetadata::discover_async(
            IssuerUrl::new(app.issuer.clone()).unwrap(),
            &http,
        )
        .await
        .unwrap();
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(c.id.clone()),
            c.secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, _csrf, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("profile".into()))
            .add_scope(Scope::new("orders:read".into()))
            .add_scope(Scope::new("billing:read".into()))
            .add_extra_param("resource", ORDERS)
            .set_pkce_challenge(challenge)
            .url();
        let p = follow(&app, url.as_str(), "alice").await;
        let code = param(&p, "code").unwrap().to_owned();
        // No resource at /token: the code's only resource.
        let tokens = client
            .exchange_code(AuthorizationCode::new(code))
            .unwrap()
            .set_pkce_verifier(verifier)
            .request_async(&http)
            .await
            .expect("code exchange");
        // The ID token is the relying party's, unaffected.
        let id_token = tokens.id_token().expect("an ID token");
        let claims = id_token
            .claims(&client.id_token_verifier(), &nonce)
            .expect("the ID token verifies against the JWKS");
        assert_eq!(
            claims.preferred_username().map(|u| u.as_str()),
            Some("alice")
        );
        let at = tokens.access_token().secret().clone();
        let body = payload(&at);
        assert_eq!(body["aud"], ORDERS);
        assert_eq!(
            body["scope"], "orders:read",
            "only the API's scopes: no OpenID scope, no other API's"
        );
        let scopes: Vec<String> = tokens
            .scopes()
            .unwrap()
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            scopes,
            ["orders:read"],
            "the response names the token's scope"
        );

        // /userinfo takes the default resource's tokens only.
        assert_eq!(userinfo(&app, &at).await, StatusCode::UNAUTHORIZED);

        // Introspection: the API's resource server sees it, another does not.
        let orders_rs = resource_server(&app, ORDERS).await;
        let billing_rs = resource_server(&app, BILLING).await;
        let default_rs = resource_server(&app, &app.issuer).await;
        let seen = introspect(&app, &orders_rs, &at).await;
        assert_eq!(seen["active"], true, "{seen}");
        assert_eq!(seen["aud"], ORDERS);
        assert_eq!(seen["scope"], "orders:read");
        assert_eq!(
            introspect(&app, &billing_rs, &at).await,
            serde_json::json!({"active": false})
        );
        assert_eq!(
            introspect(&app, &default_rs, &at).await,
            serde_json::json!({"active": false}),
            "the default resource's server does not read an API's tokens"
        );
    }
);

both_backends!(without_a_resource_nothing_changes, |backend| async move {
    let app = spawn_app(backend).await;
    let c = setup(&app).await;
    let code = authorize(&app, &c, "openid+profile+orders:read", &[]).await;
    let (status, t) = token(&app, &c, &code_exchange(&code)).await;
    assert_eq!(status, StatusCode::OK, "{t}");
    let at = t["access_token"].as_str().unwrap();
    let body = payload(at);
    assert_eq!(body["aud"], app.issuer.as_str(), "the default resource");
    assert_eq!(body["scope"], "openid orders:read profile");
    assert_eq!(t["scope"], "openid orders:read profile");
    assert_eq!(userinfo(&app, at).await, StatusCode::OK);
    let default_rs = resource_server(&app, &app.issuer).await;
    assert_eq!(introspect(&app, &default_rs, at).await["active"], true);
    let orders_rs = resource_server(&app, ORDERS).await;
    assert_eq!(introspect(&app, &orders_rs, at).await["active"], false);
});

both_backends!(
    authorize_refuses_unknown_and_unallowed_resources,
    |backend| async move {
        let app = spawn_app(backend).await;
        let c = setup(&app).await;
        for (why, resources) in [
            ("not registered", vec!["https://nowhere.example.com"]),
            ("registered, not allowed for the client", vec![OTHER]),
            ("one of several not allowed", vec![ORDERS, OTHER]),
            ("not an absolute URI", vec!["orders"]),
        ] {
            let extra: Vec<(&str, &str)> = resources.iter().map(|r| ("resource", *r)).collect();
            let resp = get_authorize(&app, &query(&c.id, &extra)).await;
            assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{why}");
            let loc = resp.headers()["location"].to_str().unwrap().to_owned();
            assert!(loc.starts_with(REDIRECT), "{why}: {loc}");
            let p = redirect_params(&resp);
            assert_eq!(param(&p, "error"), Some("invalid_target"), "{why}");
            assert_eq!(param(&p, "state"), Some("st-123"), "{why}");
        }
    }
);

both_backends!(
    token_requests_name_one_authorized_resource,
    |backend| async move {
        let app = spawn_app(backend).await;
        let c = setup(&app).await;
        let code = authorize(
            &app,
            &c,
            "openid+offline_access+orders:read+billing:read",
            &[ORDERS, BILLING],
        )
        .await;
        let exchange = code_exchange(&code);
        let with = |resources: &[&'static str]| {
            let mut f: Vec<(&str, &str)> = exchange.to_vec();
            f.extend(resources.iter().map(|r| ("resource", *r)));
            f
        };
        for (why, resources) in [
            (
                "two resources: one audience per token",
                vec![ORDERS, BILLING],
            ),
            ("not part of the authorization", vec![OTHER]),
            ("not registered", vec!["https://nowhere.example.com"]),
        ] {
            let (status, body) = token(&app, &c, &with(&resources)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{why}");
            assert_eq!(body["error"], "invalid_target", "{why}: {body}");
        }
        // The refusals left the code usable: BILLING, one of the two.
        let (status, t) = token(&app, &c, &with(&[BILLING])).await;
        assert_eq!(status, StatusCode::OK, "{t}");
        let at = payload(t["access_token"].as_str().unwrap());
        assert_eq!(at["aud"], BILLING);
        assert_eq!(at["scope"], "billing:read");
        assert!(t["id_token"].is_string(), "the ID token comes as before");
        let rt = t["refresh_token"].as_str().unwrap().to_owned();

        // A refresh narrows to ORDERS (the grant covers it).
        let (status, t) = token(
            &app,
            &c,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &rt),
                ("resource", ORDERS),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{t}");
        let at = payload(t["access_token"].as_str().unwrap());
        assert_eq!(at["aud"], ORDERS);
        assert_eq!(at["scope"], "orders:read");
        let rt = t["refresh_token"].as_str().unwrap().to_owned();
        // Widening is refused, and so are two at once.
        for resources in [vec![OTHER], vec![ORDERS, BILLING]] {
            let mut f = vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", rt.as_str()),
            ];
            f.extend(resources.iter().map(|r| ("resource", *r)));
            let (status, body) = token(&app, &c, &f).await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert_eq!(body["error"], "invalid_target", "{body}");
        }
        // The new refresh token kept both resources; none named with two in
        // the grant: the default resource with every granted scope.
        let (status, t) = token(
            &app,
            &c,
            &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{t}");
        let at = payload(t["access_token"].as_str().unwrap());
        assert_eq!(at["aud"], app.issuer.as_str());
        assert_eq!(
            at["scope"],
            "billing:read offline_access openid orders:read"
        );
        let rt = t["refresh_token"].as_str().unwrap().to_owned();
        let (status, t) = token(
            &app,
            &c,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &rt),
                ("resource", BILLING),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{t}");
        assert_eq!(payload(t["access_token"].as_str().unwrap())["aud"], BILLING);
    }
);

both_backends!(
    a_refresh_cannot_widen_to_another_resource,
    |backend| async move {
        let app = spawn_app(backend).await;
        let c = setup(&app).await;
        let code = authorize(
            &app,
            &c,
            "openid+offline_access+orders:read+billing:read",
            &[ORDERS],
        )
        .await;
        let (status, t) = token(&app, &c, &code_exchange(&code)).await;
        assert_eq!(status, StatusCode::OK, "{t}");
        assert_eq!(payload(t["access_token"].as_str().unwrap())["aud"], ORDERS);
        let rt = t["refresh_token"].as_str().unwrap();
        let (status, body) = token(
            &app,
            &c,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", rt),
                ("resource", BILLING),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"], "invalid_target", "{body}");
        // The grant's one resource again without naming it.
        let (status, t) = token(
            &app,
            &c,
            &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{t}");
        assert_eq!(payload(t["access_token"].as_str().unwrap())["aud"], ORDERS);
    }
);

both_backends!(
    an_api_that_defines_none_of_the_scopes_is_invalid_scope,
    |backend| async move {
        let app = spawn_app(backend).await;
        let c = setup(&app).await;
        let code = authorize(&app, &c, "openid+profile", &[ORDERS]).await;
        let (status, body) = token(&app, &c, &code_exchange(&code)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"], "invalid_scope", "{body}");
        assert!(
            body["error_description"].as_str().unwrap().contains(ORDERS),
            "{body}"
        );
    }
);

both_backends!(client_credentials_for_a_resource, |backend| async move {
    let app = spawn_app(backend).await;
    let c = setup(&app).await;
    let cc = |extra: &[(&'static str, &'static str)]| {
        let mut f = vec![("grant_type", "client_credentials")];
        f.extend_from_slice(extra);
        f
    };
    let (status, t) = token(&app, &c, &cc(&[("resource", ORDERS)])).await;
    assert_eq!(status, StatusCode::OK, "{t}");
    let at = t["access_token"].as_str().unwrap();
    let body = payload(at);
    assert_eq!(body["aud"], ORDERS);
    assert_eq!(body["scope"], "orders:read orders:write");
    assert_eq!(body["sub"], c.id.as_str());
    assert_eq!(t["scope"], "orders:read orders:write");
    let orders_rs = resource_server(&app, ORDERS).await;
    let billing_rs = resource_server(&app, BILLING).await;
    assert_eq!(introspect(&app, &orders_rs, at).await["active"], true);
    assert_eq!(introspect(&app, &billing_rs, at).await["active"], false);

    let (status, t) = token(
        &app,
        &c,
        &cc(&[("resource", ORDERS), ("scope", "orders:read billing:read")]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{t}");
    assert_eq!(
        payload(t["access_token"].as_str().unwrap())["scope"],
        "orders:read"
    );

    for (why, extra, error) in [
        ("not allowed", vec![("resource", OTHER)], "invalid_target"),
        (
            "not registered",
            vec![("resource", "https://nowhere.example.com")],
            "invalid_target",
        ),
        (
            "two",
            vec![("resource", ORDERS), ("resource", BILLING)],
            "invalid_target",
        ),
        (
            "no scope of the API",
            vec![("resource", ORDERS), ("scope", "billing:read")],
            "invalid_scope",
        ),
    ] {
        let (status, body) = token(&app, &c, &cc(&extra)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{why}");
        assert_eq!(body["error"], error, "{why}: {body}");
    }
    // Without a resource: the default resource, as before.
    let (status, t) = token(&app, &c, &cc(&[])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        payload(t["access_token"].as_str().unwrap())["aud"],
        app.issuer.as_str()
    );
});

both_backends!(
    clients_may_allow_registered_resources_only,
    |backend| async move {
        let app = spawn_app(backend).await;
        api(&app, ORDERS, &["orders:read"]).await;
        let err = portcullis::app::operator::create_client(
            app.state.store.as_ref(),
            &portcullis::adapters::system::OsRng,
            &SystemClock,
            NewClient {
                name: "RP".into(),
                redirect_uris: vec![REDIRECT.into()],
                allowed_resources: vec![ORDERS.into(), BILLING.into()],
                ..NewClient::default()
            },
            false,
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains(BILLING), "{err}");
        let c = register(
            &app,
            NewClient {
                name: "RP".into(),
                redirect_uris: vec![REDIRECT.into()],
                allowed_resources: vec![ORDERS.into()],
                ..NewClient::default()
            },
        )
        .await;
        // Deleting an API a client still allows is refused, naming the client.
        let err = resources::delete(app.state.store.as_ref(), ORDERS)
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            portcullis::app::operator::OperatorError::Conflict(_)
        ));
        assert!(err.to_string().contains(&c.id), "{err}");
    }
);

both_backends!(the_cli_manages_resources, |backend| async move {
    use crate::cli::{failed, ok, portcullis};
    let db = crate::helpers::TestDb::new(backend).await;
    let out = portcullis(
        &db,
        &[
            "resource",
            "create",
            "--id",
            ORDERS,
            "--name",
            "Orders",
            "--scope",
            "orders:read",
            "--scope",
            "orders:write",
            "--json",
        ],
        None,
    );
    let v: Value = serde_json::from_str(ok(&out).trim()).unwrap();
    assert_eq!(v["resource_id"], ORDERS);
    assert_eq!(
        v["scopes"],
        serde_json::json!(["orders:read", "orders:write"])
    );
    let err = failed(&portcullis(
        &db,
        &[
            "resource", "create", "--id", "orders", "--name", "X", "--scope", "a",
        ],
        None,
    ));
    assert!(err.contains("absolute URI"), "{err}");
    let err = failed(&portcullis(
        &db,
        &[
            "client",
            "create",
            "--name",
            "RP",
            "--redirect-uri",
            REDIRECT,
            "--allowed-resource",
            BILLING,
        ],
        None,
    ));
    assert!(err.contains("not a registered resource"), "{err}");
    let out = ok(&portcullis(
        &db,
        &[
            "client",
            "create",
            "--name",
            "RP",
            "--redirect-uri",
            REDIRECT,
            "--allowed-resource",
            ORDERS,
            "--json",
        ],
        None,
    ));
    let client: Value = serde_json::from_str(out.trim()).unwrap();
    let client_id = client["client_id"].as_str().unwrap();
    let out = ok(&portcullis(
        &db,
        &[
            "resource",
            "update",
            ORDERS,
            "--name",
            "Orders API",
            "--scope",
            "orders:all",
        ],
        None,
    ));
    assert!(out.contains("Orders API\torders:all"), "{out}");
    let listed = ok(&portcullis(&db, &["resource", "list", "--json"], None));
    let listed: Value = serde_json::from_str(listed.trim()).unwrap();
    assert_eq!(listed[0]["name"], "Orders API");
    let err = failed(&portcullis(&db, &["resource", "delete", ORDERS], None));
    assert!(err.contains(client_id), "{err}");
    ok(&portcullis(&db, &["client", "delete", client_id], None));
    ok(&portcullis(&db, &["resource", "delete", ORDERS], None));
    let err = failed(&portcullis(&db, &["resource", "show", ORDERS], None));
    assert!(err.contains("no resource"), "{err}");
});

both_backends!(
    withdrawing_an_api_from_a_client_cuts_its_refresh_tokens_off_it,
    |backend| async move {
        let app = spawn_app(backend).await;
        let c = setup(&app).await;
        let code = authorize(&app, &c, "openid+offline_access+orders:read", &[ORDERS]).await;
        let (status, t) = token(&app, &c, &code_exchange(&code)).await;
        assert_eq!(status, StatusCode::OK, "{t}");
        assert_eq!(payload(t["access_token"].as_str().unwrap())["aud"], ORDERS);
        let rt = t["refresh_token"].as_str().unwrap().to_owned();
        // The operator withdraws ORDERS from the client (BILLING stays): a
        // partial update, as `client update --allowed-resource` makes it.
        let existing = app
            .state
            .store
            .clients()
            .get_client(&portcullis::domain::ClientId::parse(&c.id).unwrap())
            .await
            .unwrap()
            .unwrap();
        portcullis::app::clients::update_client(
            app.state.store.as_ref(),
            &SystemClock,
            &c.id,
            portcullis::app::client_metadata::ClientMetadata::of(&existing).merged(
                portcullis::app::client_metadata::ClientMetadata {
                    allowed_resources: Some(vec![BILLING.into()]),
                    ..Default::default()
                },
            ),
            false,
        )
        .await
        .unwrap();
        for form in [
            vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", rt.as_str()),
            ],
            vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", rt.as_str()),
                ("resource", ORDERS),
            ],
        ] {
            let (status, body) = token(&app, &c, &form).await;
            assert_eq!(
                (status, body["error"].as_str()),
                (StatusCode::BAD_REQUEST, Some("invalid_target")),
                "{body}"
            );
        }
    }
);
