//! The admin API (`/admin/v1`) and dynamic registration (`/register`),
//! issue 15: one file per resource. The helpers here register an admin
//! client and fetch its token with the client-credentials grant, as an
//! operator's script would.

#![allow(dead_code)] // shared by the admin test modules

mod auth;
mod clients;
mod events;
mod factors;
mod grants;
mod keys;
mod register;
mod resources;
mod sessions;
mod users;
mod users_cli;

use portcullis::app::operator::NewClient;
use reqwest::StatusCode;
use serde_json::Value;

use crate::flow::{self, TestClient};
use crate::helpers::TestApp;

/// Registers a confidential client-credentials client holding `scope`
/// (e.g. `"admin:read admin:write"`).
pub async fn admin_client(app: &TestApp, scope: &str) -> TestClient {
    flow::register(
        app,
        NewClient {
            name: "Operator script".into(),
            grant_types: vec!["client_credentials".into()],
            scopes: scope.split(' ').map(str::to_owned).collect(),
            ..NewClient::default()
        },
    )
    .await
}

/// An access token of `client` from the client-credentials grant.
pub async fn token_of(app: &TestApp, client: &TestClient) -> String {
    let resp = app
        .http
        .post(app.url("/token"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// A token with `admin:read admin:write` (a fresh admin client each call).
pub async fn admin_token(app: &TestApp) -> String {
    let client = admin_client(app, "admin:read admin:write").await;
    token_of(app, &client).await
}

/// A token with `admin:read` only.
pub async fn read_token(app: &TestApp) -> String {
    let client = admin_client(app, "admin:read").await;
    token_of(app, &client).await
}

/// Sends `method path` with `token` and an optional JSON body; returns the
/// status and the JSON body (`Value::Null` when there is none).
pub async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = app.http.request(method, app.url(path)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, json)
}
