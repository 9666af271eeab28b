//! Helpers that drive the hosted pages like a browser: register a client and
//! a user, follow `/authorize` through login and consent.

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

pub async fn register(app: &TestApp, req: NewClient) -> TestClient {
    let created = operator::create_client(app.state.store.as_ref(), &OsRng, &SystemClock, req)
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

/// Submits the login page `html` with `password`.
pub async fn login(app: &TestApp, html: &str, username: &str, password: &str) -> reqwest::Response {
    let request = hidden(html, "request");
    let csrf = hidden(html, "csrf_token");
    post_form(
        app,
        "/login",
        &[
            ("request", &request),
            ("csrf_token", &csrf),
            ("username", username),
            ("password", password),
        ],
    )
    .await
}

/// Submits the consent page `html` with `decision`.
pub async fn consent(app: &TestApp, html: &str, decision: &str) -> reqwest::Response {
    let request = hidden(html, "request");
    let csrf = hidden(html, "csrf_token");
    post_form(
        app,
        "/consent",
        &[
            ("request", &request),
            ("csrf_token", &csrf),
            ("decision", decision),
        ],
    )
    .await
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

/// Runs /authorize → login → consent (allow) and returns the redirect's
/// parameters.
pub async fn full_login(
    app: &TestApp,
    client: &str,
    username: &str,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let page = get_authorize(app, &query(client, extra)).await;
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
