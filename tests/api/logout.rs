//! RP-Initiated Logout: untrusted requests ask the user; bad requests show
//! a page and never redirect.

use reqwest::StatusCode;

use crate::both_backends;
use crate::flow::{full_login, hidden, post_form, register, user};
use crate::helpers::spawn_app;
use portcullis::app::operator::NewClient;

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

both_backends!(
    logout_without_a_hint_asks_first_and_checks_the_redirect,
    |backend| async move {
        let app = spawn_app(backend).await;
        let c = register(
            &app,
            NewClient {
                name: "RP".into(),
                redirect_uris: vec![crate::flow::REDIRECT.into()],
                post_logout_redirect_uris: vec!["https://app.example/bye".into()],
                ..NewClient::default()
            },
        )
        .await;
        user(&app, "alice").await;
        full_login(&app, &c.id, "alice", &[]).await;

        // Unregistered post-logout URI: a page, no redirect, still signed in.
        let r = app
            .http
            .get(app.url(&format!(
                "/logout?client_id={}&post_logout_redirect_uri={}",
                c.id,
                enc("https://evil.example/")
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(r.headers().get("location").is_none());
        // A forged hint: a page.
        let r = app
            .http
            .get(app.url("/logout?id_token_hint=e30.e30.sig"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);

        // No hint: the user is asked (a third party cannot sign them out).
        let q = format!(
            "/logout?client_id={}&post_logout_redirect_uri={}&state=s1",
            c.id,
            enc("https://app.example/bye")
        );
        let r = app.http.get(app.url(&q)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let html = r.text().await.unwrap();
        assert!(html.contains("Sign out?") && html.contains("RP"), "{html}");
        let request = hidden(&html, "request");
        let csrf = hidden(&html, "csrf_token");
        // "Stay" changes nothing.
        let r = post_form(
            &app,
            "/logout/confirm",
            &[
                ("request", &request),
                ("csrf_token", &csrf),
                ("decision", "stay"),
            ],
        )
        .await;
        assert!(r.text().await.unwrap().contains("still signed in"));
        let p = full_login_skips_password(&app, &c.id).await;
        assert!(p, "still signed in after 'stay'");
        // A forged CSRF token is refused.
        let r = post_form(
            &app,
            "/logout/confirm",
            &[
                ("request", &request),
                ("csrf_token", "x"),
                ("decision", "logout"),
            ],
        )
        .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        // "Sign out" ends the session and returns to the RP with its state.
        let r = post_form(
            &app,
            "/logout/confirm",
            &[
                ("request", &request),
                ("csrf_token", &csrf),
                ("decision", "logout"),
            ],
        )
        .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()["location"], "https://app.example/bye?state=s1");
        assert!(
            r.headers()["set-cookie"]
                .to_str()
                .unwrap()
                .contains("Max-Age=0")
        );
        assert!(!full_login_skips_password(&app, &c.id).await, "signed out");
    }
);

/// Whether an authorization request goes through without the login page.
async fn full_login_skips_password(app: &crate::helpers::TestApp, client: &str) -> bool {
    let r = crate::flow::get_authorize(app, &crate::flow::query(client, &[])).await;
    if r.status() == StatusCode::SEE_OTHER {
        return true;
    }
    !r.text().await.unwrap().contains("Sign in")
}
