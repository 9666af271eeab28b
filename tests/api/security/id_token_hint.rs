//! `id_token_hint` at `/authorize` (issue 14 item 9, OpenID Connect Core
//! §3.1.2.1): the hint is verified (our signature; an expired ID token is
//! still a hint); a different signed-in user gets `login_required` with
//! `prompt=none` and the login page otherwise, never a code; a hint that
//! does not verify is an error.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;

use crate::both_backends;
use crate::flow::{
    PASSWORD, SignedIn, code_exchange, param, query, redirect_params, sign_in, submit, user,
};
use crate::helpers::{TestApp, http_client, spawn_app_with};

const WRONG_ACCOUNT: &str = "The application asked for another account.";

fn one_second_id_tokens(c: &mut portcullis::config::Config) {
    c.tokens.id_ttl = chrono::Duration::seconds(1);
}

/// The `sub` of an ID token (not verified: the server did that).
fn subject(id_token: &str) -> String {
    let payload = id_token.split('.').nth(1).unwrap();
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["sub"].as_str().unwrap().to_owned()
}

/// alice signed in to the client "RP" in `app.http` (her ID token expired by
/// now), and bob signed in to it, with consent, in a browser of his own.
async fn two_users(app: &TestApp) -> (SignedIn, reqwest::Client) {
    let alice = sign_in(app).await;
    user(app, "bob").await;
    let bob = http_client();
    let url = app.url(&format!("/authorize?{}", query(&alice.client.id, &[])));
    let html = bob.get(&url).send().await.unwrap().text().await.unwrap();
    let fields = [("username", "bob"), ("password", PASSWORD)];
    let html = submit(&bob, app, "/login", &html, &fields)
        .await
        .text()
        .await
        .unwrap();
    let done = submit(&bob, app, "/consent", &html, &[("decision", "allow")]).await;
    assert!(param(&redirect_params(&done), "code").is_some());
    // ID tokens live one second here: the hints below have expired.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    (alice, bob)
}

async fn get(
    http: &reqwest::Client,
    app: &TestApp,
    client: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let url = app.url(&format!("/authorize?{}", query(client, extra)));
    http.get(url).send().await.unwrap()
}

both_backends!(
    prompt_none_with_another_signed_in_user_is_login_required,
    |backend| async move {
        let app = spawn_app_with(backend, one_second_id_tokens).await;
        let (alice, bob) = two_users(&app).await;
        let extra = [
            ("prompt", "none"),
            ("id_token_hint", alice.id_token.as_str()),
        ];
        let p = redirect_params(&get(&bob, &app, &alice.client.id, &extra).await);
        assert_eq!(param(&p, "error"), Some("login_required"), "{p:?}");
        assert_eq!(param(&p, "code"), None, "never a code for the other user");
        // The hinted user herself gets her code, expired hint and all.
        let p = redirect_params(&get(&app.http, &app, &alice.client.id, &extra).await);
        assert!(param(&p, "code").is_some(), "{p:?}");
    }
);

both_backends!(
    another_signed_in_user_is_asked_to_sign_in_as_the_hinted_one,
    |backend| async move {
        let app = spawn_app_with(backend, one_second_id_tokens).await;
        let (alice, bob) = two_users(&app).await;
        let extra = [("id_token_hint", alice.id_token.as_str())];
        let resp = get(&bob, &app, &alice.client.id, &extra).await;
        assert_eq!(
            resp.status(),
            StatusCode::OK,
            "the login page, not a code for bob"
        );
        let html = resp.text().await.unwrap();
        assert!(
            html.contains("value=\"alice\""),
            "the hinted user is filled in: {html}"
        );
        assert!(html.contains(WRONG_ACCOUNT), "{html}");
        // Signing in as bob again does not answer for alice.
        let fields = [("username", "bob"), ("password", PASSWORD)];
        let resp = submit(&bob, &app, "/login", &html, &fields).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let html = resp.text().await.unwrap();
        assert!(html.contains(WRONG_ACCOUNT), "{html}");
        // Signing in as alice does.
        let fields = [("username", "alice"), ("password", PASSWORD)];
        let resp = submit(&bob, &app, "/login", &html, &fields).await;
        let p = redirect_params(&resp);
        let code = param(&p, "code").unwrap();
        let tokens: serde_json::Value = app
            .http
            .post(app.url("/token"))
            .basic_auth(&alice.client.id, Some(&alice.secret))
            .form(&code_exchange(code))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            subject(tokens["id_token"].as_str().unwrap()),
            subject(&alice.id_token)
        );
    }
);

both_backends!(
    a_hint_that_does_not_verify_is_an_error,
    |backend| async move {
        let app = spawn_app_with(backend, one_second_id_tokens).await;
        let (alice, _bob) = two_users(&app).await;
        // Another signature: one character in the middle of it changed.
        let at = alice.id_token.rfind('.').unwrap() + 10;
        let mut forged = alice.id_token.clone();
        let swap = if &forged[at..=at] == "A" { "B" } else { "A" };
        forged.replace_range(at..=at, swap);
        // The access token is signed by us too, but it is not an ID token.
        let hints = [forged.as_str(), "not-a-jwt", alice.access_token.as_str()];
        for hint in hints {
            let extra = [("id_token_hint", hint)];
            let p = redirect_params(&get(&app.http, &app, &alice.client.id, &extra).await);
            assert_eq!(param(&p, "error"), Some("invalid_request"), "{hint}: {p:?}");
            assert_eq!(param(&p, "code"), None);
            assert_eq!(param(&p, "state"), Some("st-123"));
        }
    }
);
