//! Logout confirmation as a browser meets it (OpenID Connect RP-Initiated
//! Logout 1.0 §2–§3). The confirmation form answers with a 303 to the
//! client's `post_logout_redirect_uri`, and Chromium checks that redirect
//! against the confirmation page's CSP `form-action` (CSP Level 3 §6.4.1):
//! the page must allow the exact origin of the validated URI, and nothing
//! more, while every other page keeps `form-action 'self'`. The browser
//! itself is driven by tests/browser/flow.js (scripts/browser-test).

use reqwest::StatusCode;

use crate::both_backends;
use crate::flow::{REDIRECT, full_login, hidden, post_form, register, user};
use crate::helpers::spawn_app;
use portcullis::app::operator::NewClient;

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The `form-action` directive of a response's CSP.
fn form_action(resp: &reqwest::Response) -> String {
    let csp = resp
        .headers()
        .get("content-security-policy")
        .expect("a CSP")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    csp.split(';')
        .map(str::trim)
        .find(|d| d.starts_with("form-action"))
        .unwrap_or_else(|| panic!("no form-action in {csp}"))
        .to_owned()
}

both_backends!(
    logout_confirmation_page_allows_exactly_the_post_logout_origin,
    |backend| async move {
        let app = spawn_app(backend).await;
        let c = register(
            &app,
            NewClient {
                name: "RP".into(),
                redirect_uris: vec![REDIRECT.into()],
                post_logout_redirect_uris: vec!["https://rp.example:8443/bye?from=op".into()],
                ..NewClient::default()
            },
        )
        .await;
        user(&app, "alice").await;
        full_login(&app, &c.id, "alice", &[]).await;

        // Without a redirect, the confirmation page keeps the strict policy.
        let r = app
            .http
            .get(app.url(&format!("/logout?client_id={}", c.id)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(form_action(&r), "form-action 'self'");

        // With a registered one: 'self' and that origin, nothing else.
        let q = format!(
            "/logout?client_id={}&post_logout_redirect_uri={}&state=s1",
            c.id,
            enc("https://rp.example:8443/bye?from=op")
        );
        let r = app.http.get(app.url(&q)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            form_action(&r),
            "form-action 'self' https://rp.example:8443"
        );
        let html = r.text().await.unwrap();
        assert!(html.contains("Sign out?"), "{html}");

        // A refused request's page keeps the strict policy.
        let bad = app
            .http
            .get(app.url(&format!(
                "/logout?client_id={}&post_logout_redirect_uri={}",
                c.id,
                enc("https://evil.example/")
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
        assert_eq!(form_action(&bad), "form-action 'self'");

        // The form's answer goes to exactly the allowed origin.
        let r = post_form(
            &app,
            "/logout/confirm",
            &[
                ("request", &hidden(&html, "request")),
                ("csrf_token", &hidden(&html, "csrf_token")),
                ("decision", "logout"),
            ],
        )
        .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let location = r.headers()["location"].to_str().unwrap();
        assert_eq!(location, "https://rp.example:8443/bye?from=op&state=s1");
        assert!(location.starts_with("https://rp.example:8443/"));
    }
);
