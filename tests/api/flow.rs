//! Helpers that drive the hosted pages like a browser: register a client and
//! a user, follow `/authorize` through login and consent ([`follow`],
//! [`full_login`]), and the whole authorization-code flow up to the tokens
//! ([`sign_in`]). A test that checks one step drives the steps itself; every
//! other test takes its flow from here.

#![allow(dead_code)] // shared by the test modules

use portcullis::adapters::system::{OsRng, SystemClock};
use portcullis::app::operator::{self, NewClient, NewUser};
use reqwest::StatusCode;

use crate::helpers::TestApp;

pub const PASSWORD: &str = "correct horse battery staple";
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
pub const REDIRECT: &str = "https://app.example/cb";

/// A registered client.
pub struct TestClient {
    pub id: String,
    pub secret: Option<String>,
}

/// Registers `req` as `client create` would on `app`'s server: the
/// `jwks_uri` rule follows the app's `PORTCULLIS_OUTBOUND_ALLOW_INSECURE`.
pub async fn register(app: &TestApp, req: NewClient) -> TestClient {
    let created = operator::create_client(
        app.state.store.as_ref(),
        &OsRng,
        &SystemClock,
        req,
        app.state.config.outbound.allow_insecure,
    )
    .await
    .unwrap();
    TestClient {
        id: created.client.id.to_string(),
        secret: created.secret,
    }
}

pub fn client_req(public: bool) -> NewClient {
    NewClient {
        name: "Example App".into(),
        redirect_uris: vec![REDIRECT.into(), "https://app.example/other?x=1".into()],
        public,
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        ..NewClient::default()
    }
}

pub async fn user(app: &TestApp, username: &str) {
    operator::create_user(
        app.state.store.as_ref(),
        app.state.passwords.as_ref(),
        &SystemClock,
        NewUser {
            username: username.into(),
            email: format!("{username}@example.com"),
            name: Some("Alice Example".into()),
            password: PASSWORD.into(),
        },
    )
    .await
    .unwrap();
}

/// The default authorization query for `client`, with `extra` pairs.
pub fn query(client: &str, extra: &[(&str, &str)]) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    ser.append_pair("response_type", "code")
        .append_pair("client_id", client)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "openid profile")
        .append_pair("state", "st-123")
        .append_pair("nonce", "n-456")
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256");
    for (k, v) in extra {
        ser.append_pair(k, v);
    }
    ser.finish()
}

/// The value of a hidden input in a page.
pub fn hidden(html: &str, name: &str) -> String {
    let needle = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&needle)
        .unwrap_or_else(|| panic!("no {name} in page:\n{html}"))
        + needle.len();
    let end = html[start..].find('"').unwrap() + start;
    // askama escapes HTML; undo the entities it produces.
    html[start..end]
        .replace("&amp;", "&")
        .replace("&#38;", "&")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

pub async fn get_authorize(app: &TestApp, query: &str) -> reqwest::Response {
    app.http
        .get(app.url(&format!("/authorize?{query}")))
        .send()
        .await
        .unwrap()
}

pub async fn post_form(app: &TestApp, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    app.http
        .post(app.url(path))
        .form(form)
        .send()
        .await
        .unwrap()
}

/// Submits the form of the hosted page `html` (login, consent, logout) to
/// `path` from the browser `http`: its `request` and `csrf_token` and
/// `fields`.
pub async fn submit(
    http: &reqwest::Client,
    app: &TestApp,
    path: &str,
    html: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let request = hidden(html, "request");
    let csrf = hidden(html, "csrf_token");
    let mut form = vec![("request", request.as_str()), ("csrf_token", csrf.as_str())];
    form.extend_from_slice(fields);
    http.post(app.url(path)).form(&form).send().await.unwrap()
}

/// Submits the login page `html` with `password`.
pub async fn login(app: &TestApp, html: &str, username: &str, password: &str) -> reqwest::Response {
    let fields = [("username", username), ("password", password)];
    submit(&app.http, app, "/login", html, &fields).await
}

/// Submits the consent page `html` with `decision`.
pub async fn consent(app: &TestApp, html: &str, decision: &str) -> reqwest::Response {
    submit(&app.http, app, "/consent", html, &[("decision", decision)]).await
}

/// The parameters of a 303 redirect to the client.
pub fn redirect_params(resp: &reqwest::Response) -> Vec<(String, String)> {
    assert_eq!(
        resp.status(),
        StatusCode::SEE_OTHER,
        "expected a redirect to the client"
    );
    let loc = resp.headers()["location"].to_str().unwrap();
    let url = url::Url::parse(loc).unwrap();
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Follows the authorization URL `url` through the hosted pages: the login
/// page (signed in as `username`), then the consent page (allow) if it is
/// asked for. Returns the parameters of the redirect to the client.
pub async fn follow(app: &TestApp, url: &str, username: &str) -> Vec<(String, String)> {
    let page = app.http.get(url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("Sign in"), "{html}");
    let resp = login(app, &html, username, PASSWORD).await;
    let resp = if resp.status() == StatusCode::OK {
        let html = resp.text().await.unwrap();
        assert!(html.contains("wants to access your account"), "{html}");
        consent(app, &html, "allow").await
    } else {
        resp
    };
    redirect_params(&resp)
}

/// Runs /authorize → login → consent (allow) and returns the redirect's
/// parameters.
pub async fn full_login(
    app: &TestApp,
    client: &str,
    username: &str,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let url = app.url(&format!("/authorize?{}", query(client, extra)));
    follow(app, &url, username).await
}

/// The password [`sign_in`] tries first.
pub const WRONG_PASSWORD: &str = "wrong password!";
/// The client secret [`misuse_and_revoke`] sends for a failed client
/// authentication.
pub const WRONG_SECRET: &str = "wrong-secret-value";

/// One finished authorization-code flow ([`sign_in`]). The session cookie
/// stays in `app.http`.
pub struct SignedIn {
    /// The confidential client the flow ran for.
    pub client: TestClient,
    /// Its client secret.
    pub secret: String,
    /// The authorization query (`openid profile offline_access`).
    pub query: String,
    /// The authorization code, already exchanged.
    pub code: String,
    pub access_token: String,
    pub refresh_token: String,
    pub id_token: String,
}

impl SignedIn {
    /// The token request that exchanged [`SignedIn::code`].
    pub fn code_exchange(&self) -> [(&str, &str); 4] {
        code_exchange(&self.code)
    }
}

/// The token request that exchanges `code` (for a client authenticating
/// with its secret).
pub fn code_exchange(code: &str) -> [(&str, &str); 4] {
    [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ]
}

/// The whole authorization-code flow a relying party lives: registers the
/// confidential client "RP" (authorization_code, refresh_token,
/// client_credentials) and the user alice, then /authorize (`openid profile
/// offline_access`) → the login page with [`WRONG_PASSWORD`] → the right
/// password → consent (allow) → the code exchanged at /token with
/// client_secret_basic.
pub async fn sign_in(app: &TestApp) -> SignedIn {
    let client = register(
        app,
        NewClient {
            name: "RP".into(),
            redirect_uris: vec![REDIRECT.into()],
            grant_types: vec![
                "authorization_code".into(),
                "refresh_token".into(),
                "client_credentials".into(),
            ],
            ..NewClient::default()
        },
    )
    .await;
    user(app, "alice").await;
    let secret = client.secret.clone().unwrap();
    let query = query(&client.id, &[]).replace(
        "scope=openid+profile",
        "scope=openid+profile+offline_access",
    );
    let html = get_authorize(app, &query).await.text().await.unwrap();
    let bad = login(app, &html, "alice", WRONG_PASSWORD)
        .await
        .text()
        .await
        .unwrap();
    let html = login(app, &bad, "alice", PASSWORD)
        .await
        .text()
        .await
        .unwrap();
    let p = redirect_params(&consent(app, &html, "allow").await);
    let code = param(&p, "code").unwrap().to_owned();
    let t: serde_json::Value = app
        .http
        .post(app.url("/token"))
        .basic_auth(&client.id, Some(&secret))
        .form(&code_exchange(&code))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = |name: &str| t[name].as_str().unwrap().to_owned();
    SignedIn {
        access_token: token("access_token"),
        refresh_token: token("refresh_token"),
        id_token: token("id_token"),
        client,
        secret,
        query,
        code,
    }
}

/// After [`sign_in`]: rotates the refresh token, revokes the access token
/// (while its grant lives: the reuse below revokes the grant, and every token
/// of it with it), reuses the old refresh token (the grant is revoked),
/// replays the code and fails a client authentication with [`WRONG_SECRET`].
pub async fn misuse_and_revoke(app: &TestApp, s: &SignedIn) {
    let refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", s.refresh_token.as_str()),
    ];
    let token = |form: &[(&str, &str)], secret: &str| {
        app.http
            .post(app.url("/token"))
            .basic_auth(&s.client.id, Some(secret.to_owned()))
            .form(form)
            .send()
    };
    token(&refresh, &s.secret).await.unwrap();
    app.http
        .post(app.url("/revoke"))
        .basic_auth(&s.client.id, Some(&s.secret))
        .form(&[("token", s.access_token.as_str())])
        .send()
        .await
        .unwrap();
    token(&refresh, &s.secret).await.unwrap();
    token(&s.code_exchange(), &s.secret).await.unwrap();
    token(&[("grant_type", "client_credentials")], WRONG_SECRET)
        .await
        .unwrap();
}
