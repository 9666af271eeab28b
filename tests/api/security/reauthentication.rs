//! One sign-in, not two (issue 14 item 10): with `prompt=login` or
//! `max_age=0` and consent needed, the sign-in carries through the consent
//! step; a sign-in that has already issued a code does not.

use reqwest::StatusCode;

use crate::both_backends;
use crate::flow::{
    PASSWORD, client_req, consent, full_login, get_authorize, login, param, query, redirect_params,
    register, submit, user,
};
use crate::helpers::spawn_app;

both_backends!(
    a_fresh_sign_in_carries_through_the_consent_page,
    |backend| async move {
        let app = spawn_app(backend).await;
        user(&app, "alice").await;
        for extra in [[("prompt", "login")], [("max_age", "0")]] {
            // Signed out, or signed in a moment ago: either way the login
            // page, the consent page (a new client) and then the code; no
            // second login.
            let client = register(&app, client_req(false)).await;
            let p = full_login(&app, &client.id, "alice", &extra).await;
            assert!(param(&p, "code").is_some(), "{extra:?}: {p:?}");
        }
    }
);

both_backends!(
    a_sign_in_that_issued_a_code_does_not_skip_the_next_login,
    |backend| async move {
        let app = spawn_app(backend).await;
        let client = register(&app, client_req(false)).await;
        user(&app, "alice").await;
        let first = full_login(&app, &client.id, "alice", &[("prompt", "login")]).await;
        assert!(param(&first, "code").is_some());
        // A new request that asks for a new sign-in shows the login page...
        let q = query(&client.id, &[("prompt", "login")]);
        let resp = get_authorize(&app, &q).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let html = resp.text().await.unwrap();
        assert!(html.contains("Sign in"), "{html}");
        // ...and posting a consent form for it straight away does not get
        // round it: the session's sign-in was used by the first code.
        let resp = submit(&app.http, &app, "/consent", &html, &[("decision", "allow")]).await;
        assert_eq!(
            resp.status(),
            StatusCode::OK,
            "no code without signing in again"
        );
        let page = resp.text().await.unwrap();
        assert!(page.contains("Sign in"), "{page}");
        // Signing in again answers it.
        let p = redirect_params(&login(&app, &html, "alice", PASSWORD).await);
        assert!(param(&p, "code").is_some());
    }
);

both_backends!(
    max_age_still_holds_when_the_consent_page_waits,
    |backend| async move {
        // OpenID Connect Core §3.1.2.1: with `max_age`, an authentication
        // older than `max_age` seconds must be redone. A sign-in carried
        // through the consent page is no exception.
        use std::sync::Arc;
        let clock = Arc::new(portcullis::testing::FixedClock::at(chrono::Utc::now()));
        let mut overrides = crate::helpers::test_overrides();
        overrides.clock = Some(clock.clone());
        let app = crate::helpers::spawn_app_full(backend, |_| {}, overrides).await;
        user(&app, "alice").await;
        for (wait, code_expected) in [(30, true), (61, false), (300, false)] {
            // The last round's sign-in is older than max_age: the login
            // page shows. A new client each round: consent is needed.
            clock.advance(chrono::Duration::seconds(120));
            let client = register(&app, client_req(false)).await;
            let q = query(&client.id, &[("max_age", "60")]);
            let html = get_authorize(&app, &q).await.text().await.unwrap();
            assert!(html.contains("Sign in"), "{html}");
            let resp = login(&app, &html, "alice", PASSWORD).await;
            assert_eq!(resp.status(), StatusCode::OK, "the consent page");
            let consent_page = resp.text().await.unwrap();
            assert!(
                consent_page.contains("decision"),
                "consent page: {consent_page}"
            );
            clock.advance(chrono::Duration::seconds(wait));
            let resp = consent(&app, &consent_page, "allow").await;
            if code_expected {
                let p = redirect_params(&resp);
                assert!(param(&p, "code").is_some(), "after {wait}s: {p:?}");
            } else {
                assert_eq!(
                    resp.status(),
                    StatusCode::OK,
                    "after {wait}s: no code from a sign-in older than max_age"
                );
                let page = resp.text().await.unwrap();
                assert!(page.contains("Sign in"), "after {wait}s: {page}");
                // Signing in again answers it.
                let p = redirect_params(&login(&app, &page, "alice", PASSWORD).await);
                assert!(param(&p, "code").is_some(), "after {wait}s: {p:?}");
            }
        }
    }
);
