//! Consent and first-party clients (issue 14 item 12): a first-party client
//! skips the consent page, except when the request says `prompt=consent`
//! (OpenID Connect Core §3.1.2.1) and when it asks for `offline_access` the
//! user has not granted (§11), unless the operator turned that off with
//! `PORTCULLIS_FIRST_PARTY_OFFLINE_WITHOUT_CONSENT`.

use portcullis::app::operator::NewClient;
use reqwest::StatusCode;

use crate::both_backends;
use crate::flow::{
    PASSWORD, TestClient, client_req, code_exchange, consent, get_authorize, login, param, query,
    redirect_params, register, user,
};
use crate::helpers::{TestApp, spawn_app, spawn_app_with};

const CONSENT_PAGE: &str = "wants to access your account";

fn first_party() -> NewClient {
    NewClient {
        first_party: true,
        ..client_req(false)
    }
}

fn offline(query: &str) -> String {
    query.replace(
        "scope=openid+profile",
        "scope=openid+profile+offline_access",
    )
}

/// Signs alice in for `query` (already signed in: no login page) and
/// returns the page that follows: `Some(html)` for the consent page, `None`
/// when the code came straight away.
async fn after_sign_in(app: &TestApp, query: &str) -> Option<String> {
    let resp = get_authorize(app, query).await;
    let resp = if resp.status() == StatusCode::OK {
        let html = resp.text().await.unwrap();
        if html.contains(CONSENT_PAGE) {
            return Some(html);
        }
        login(app, &html, "alice", PASSWORD).await
    } else {
        resp
    };
    if resp.status() == StatusCode::OK {
        let html = resp.text().await.unwrap();
        assert!(html.contains(CONSENT_PAGE), "{html}");
        Some(html)
    } else {
        assert!(param(&redirect_params(&resp), "code").is_some());
        None
    }
}

both_backends!(
    prompt_consent_shows_the_page_to_first_party_clients,
    |backend| async move {
        let app = spawn_app(backend).await;
        let client = register(&app, first_party()).await;
        user(&app, "alice").await;
        assert!(
            after_sign_in(&app, &query(&client.id, &[])).await.is_none(),
            "a first-party client skips consent"
        );
        let html = after_sign_in(&app, &query(&client.id, &[("prompt", "consent")]))
            .await
            .expect("prompt=consent shows the consent page");
        let p = redirect_params(&consent(&app, &html, "allow").await);
        assert!(param(&p, "code").is_some());
    }
);

both_backends!(
    offline_access_needs_consent_from_first_party_clients,
    |backend| async move {
        let app = spawn_app(backend).await;
        let client = register(&app, first_party()).await;
        user(&app, "alice").await;
        let q = offline(&query(&client.id, &[]));
        let html = after_sign_in(&app, &q)
            .await
            .expect("offline_access shows the consent page");
        assert!(
            html.contains("Keep access when you are not using"),
            "{html}"
        );
        let denied = redirect_params(&consent(&app, &html, "deny").await);
        assert_eq!(param(&denied, "error"), Some("access_denied"));
        let none = offline(&query(&client.id, &[("prompt", "none")]));
        let p = redirect_params(&get_authorize(&app, &none).await);
        assert_eq!(param(&p, "error"), Some("consent_required"), "{p:?}");
        let html = after_sign_in(&app, &q).await.expect("still asked");
        let p = redirect_params(&consent(&app, &html, "allow").await);
        assert!(param(&p, "code").is_some());
        // Granted once, remembered.
        assert!(after_sign_in(&app, &q).await.is_none());
    }
);

both_backends!(
    the_operator_can_let_first_party_clients_skip_offline_consent,
    |backend| async move {
        let app = spawn_app_with(backend, |c| {
            c.auth.first_party_offline_without_consent = true;
        })
        .await;
        let client = register(&app, first_party()).await;
        user(&app, "alice").await;
        let q = offline(&query(&client.id, &[]));
        assert!(q.contains("offline_access"), "{q}");
        // No consent page, and the grant really holds offline_access.
        let code = code_after_sign_in(&app, &q).await;
        assert_offline_grant(&app, &client, &code).await;
        let q = offline(&query(&client.id, &[("prompt", "consent")]));
        assert!(
            after_sign_in(&app, &q).await.is_some(),
            "prompt=consent still asks"
        );
        // Third-party clients ask for offline_access as before: the consent
        // page names it, and allowing it grants it.
        let third = register(&app, client_req(false)).await;
        let html = after_sign_in(&app, &offline(&query(&third.id, &[])))
            .await
            .expect("a third-party client shows the consent page");
        assert!(
            html.contains("Keep access when you are not using"),
            "the consent page asks for offline_access: {html}"
        );
        let p = redirect_params(&consent(&app, &html, "allow").await);
        let code = param(&p, "code").expect("a code").to_owned();
        assert_offline_grant(&app, &third, &code).await;
    }
);

/// Signs alice in for `query` and returns the code, which must come
/// without a consent page.
async fn code_after_sign_in(app: &TestApp, query: &str) -> String {
    let resp = get_authorize(app, query).await;
    let resp = if resp.status() == StatusCode::OK {
        let html = resp.text().await.unwrap();
        assert!(!html.contains(CONSENT_PAGE), "no consent page: {html}");
        login(app, &html, "alice", PASSWORD).await
    } else {
        resp
    };
    let p = redirect_params(&resp);
    param(&p, "code").expect("a code").to_owned()
}

/// Exchanges `code` and checks that its grant holds `offline_access`: the
/// scope says so and a refresh token comes with it.
async fn assert_offline_grant(app: &TestApp, client: &TestClient, code: &str) {
    let t: serde_json::Value = app
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
    let scope = t["scope"].as_str().unwrap_or_default();
    assert!(
        scope.split(' ').any(|s| s == "offline_access"),
        "scope {scope:?}: {t}"
    );
    assert!(t["refresh_token"].as_str().is_some(), "{t}");
}
