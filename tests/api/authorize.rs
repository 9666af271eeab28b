//! `/authorize` with the hosted login and consent pages, on both back ends.

use portcullis::domain::TokenHash;
use reqwest::StatusCode;

use crate::both_backends;
use crate::flow::{
    PASSWORD, REDIRECT, client_req, consent, full_login, get_authorize, hidden, login, param,
    post_form, query, redirect_params, register, user,
};
use crate::helpers::{Backend, spawn_app, spawn_app_with};

both_backends!(
    code_flow_redirects_with_code_state_and_iss,
    |backend| async move {
        let app = spawn_app(backend).await;
        let client = register(&app, client_req(false)).await;
        user(&app, "alice").await;
        let params = full_login(&app, &client.id, "alice", &[]).await;
        let code = param(&params, "code").expect("code");
        assert_eq!(param(&params, "state"), Some("st-123"));
        assert_eq!(
            param(&params, "iss"),
            Some(app.issuer.as_str()),
            "RFC 9207 iss"
        );
        assert!(code.len() >= 43, "256-bit code");
        let stored = app
            .state
            .store
            .codes()
            .get_code(&TokenHash::of(code))
            .await
            .unwrap()
            .expect("stored by hash");
        assert_eq!(stored.redirect_uri, REDIRECT);
        assert_eq!(stored.nonce.as_deref(), Some("n-456"));
        assert_eq!(stored.code_challenge_method.as_deref(), Some("S256"));
        assert_eq!(stored.scope.to_string(), "openid profile");
        assert!(stored.session_id.is_some());
        assert_eq!((stored.expires_at - stored.created_at).num_seconds(), 60);
        assert!(
            app.state
                .store
                .codes()
                .get_code(&TokenHash::from_stored(code))
                .await
                .unwrap()
                .is_none(),
            "the plain code is not a key"
        );
    }
);

both_backends!(
    registered_query_is_kept_and_post_authorize_works,
    |backend| async move {
        let app = spawn_app(backend).await;
        let client = register(&app, client_req(false)).await;
        user(&app, "alice").await;
        full_login(&app, &client.id, "alice", &[]).await;
        // Same request by POST, with the other redirect URI that has a query.
        let q = query(&client.id, &[]).replace(
            "redirect_uri=https%3A%2F%2Fapp.example%2Fcb",
            "redirect_uri=https%3A%2F%2Fapp.example%2Fother%3Fx%3D1",
        );
        let resp = app
            .http
            .post(app.url("/authorize"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(q)
            .send()
            .await
            .unwrap();
        let loc = resp.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            loc.starts_with("https://app.example/other?x=1&code="),
            "{loc}"
        );
    }
);

both_backends!(
    client_and_redirect_errors_show_a_page_and_never_redirect,
    |backend| async move {
        let app = spawn_app(backend).await;
        let client = register(&app, client_req(false)).await;
        let cases = [
            (query("no-such-client", &[]), "not registered"),
            (
                query(&client.id, &[]).replace(
                    "redirect_uri=https%3A%2F%2Fapp.example%2Fcb",
                    "redirect_uri=https%3A%2F%2Fevil.example%2Fcb",
                ),
                "not registered for this application",
            ),
            (
                query(&client.id, &[]).replace("redirect_uri=https%3A%2F%2Fapp.example%2Fcb&", ""),
                "where to return",
            ),
            (
                query(&client.id, &[]).replace(
                    "redirect_uri=https%3A%2F%2Fapp.example%2Fcb",
                    "redirect_uri=https%3A%2F%2Fapp.example%2Fcb%2F",
                ),
                "not registered for this application",
            ),
            (
                query(&client.id, &[("client_id", &client.id)]),
                "valid application",
            ),
            (
                format!("redirect_uri={}", urlencode(REDIRECT)),
                "valid application",
            ),
        ];
        for (q, text) in cases {
            let resp = get_authorize(&app, &q).await;
            assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{q}");
            assert!(resp.headers().get("location").is_none(), "{q}");
            let body = resp.text().await.unwrap();
            assert!(body.contains(text), "{q}: {body}");
        }
    }
);

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

both_backends!(
    request_errors_redirect_with_the_spec_codes,
    |backend| async move {
        let app = spawn_app(backend).await;
        let client = register(&app, client_req(false)).await;
        let public = register(&app, client_req(true)).await;
        let base = query(&client.id, &[]);
        let cases: Vec<(String, &str)> = vec![
            (
                base.replace("response_type=code", "response_type=token"),
                "unsupported_response_type",
            ),
            (base.replace("response_type=code&", ""), "invalid_request"),
            (query(&client.id, &[("scope", "openid")]), "invalid_request"),
            (
                query(&client.id, &[("nonce", &"x".repeat(5000))]),
                "invalid_request",
            ),
            (
                base.replace("scope=openid+profile", "scope=admin"),
                "invalid_scope",
            ),
            (
                query(&client.id, &[("request_uri", "https://rp.example/r")]),
                "request_uri_not_supported",
            ),
            (
                query(&client.id, &[("response_mode", "fragment")]),
                "invalid_request",
            ),
            (
                query(&client.id, &[("prompt", "none login")]),
                "invalid_request",
            ),
            (query(&client.id, &[("max_age", "-5")]), "invalid_request"),
            (
                base.replace("code_challenge_method=S256", "code_challenge_method=plain"),
                "invalid_request",
            ),
            (
                query(&public.id, &[]).replace(
                    &format!(
                        "&code_challenge={}&code_challenge_method=S256",
                        crate::flow::CHALLENGE
                    ),
                    "",
                ),
                "invalid_request",
            ),
            (query(&client.id, &[("prompt", "none")]), "login_required"),
        ];
        for (q, code) in cases {
            let resp = get_authorize(&app, &q).await;
            let params = redirect_params(&resp);
            let loc = resp.headers()["location"].to_str().unwrap();
            assert!(loc.starts_with(REDIRECT), "{loc}");
            assert_eq!(param(&params, "error"), Some(code), "{q}");
            assert!(param(&params, "error_description").is_some());
            assert_eq!(param(&params, "state"), Some("st-123"), "{q}");
            assert_eq!(param(&params, "iss"), Some(app.issuer.as_str()));
            assert!(param(&params, "code").is_none());
        }
    }
);

both_backends!(
    prompt_none_consent_required_and_remembered_consent,
    |backend| async move {
        let app = spawn_app(backend).await;
        let client = register(&app, client_req(false)).await;
        user(&app, "alice").await;
        // Sign in through a first request, deny consent: access_denied.
        let html = get_authorize(&app, &query(&client.id, &[]))
            .await
            .text()
            .await
            .unwrap();
        let html = login(&app, &html, "alice", PASSWORD)
            .await
            .text()
            .await
            .unwrap();
        let denied = consent(&app, &html, "deny").await;
        let p = redirect_params(&denied);
        assert_eq!(param(&p, "error"), Some("access_denied"));
        assert_eq!(param(&p, "state"), Some("st-123"));
        // Signed in, no consent: prompt=none → consent_required.
        let p =
            redirect_params(&get_authorize(&app, &query(&client.id, &[("prompt", "none")])).await);
        assert_eq!(param(&p, "error"), Some("consent_required"));
        // Consent once...
        let html = get_authorize(&app, &query(&client.id, &[]))
            .await
            .text()
            .await
            .unwrap();
        assert!(html.contains("wants to access your account"));
        assert!(html.contains("Confirm who you are") && html.contains("See your name"));
        let p = redirect_params(&consent(&app, &html, "allow").await);
        assert!(param(&p, "code").is_some());
        // ...then the same or fewer scopes skip the page, even with prompt=none.
        let fewer = query(&client.id, &[]).replace("scope=openid+profile", "scope=openid");
        let p = redirect_params(&get_authorize(&app, &fewer).await);
        assert!(param(&p, "code").is_some());
        let p =
            redirect_params(&get_authorize(&app, &query(&client.id, &[("prompt", "none")])).await);
        assert!(param(&p, "code").is_some(), "{p:?}");
        // prompt=consent asks again.
        let resp = get_authorize(&app, &query(&client.id, &[("prompt", "consent")])).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(
            resp.text()
                .await
                .unwrap()
                .contains("wants to access your account")
        );
    }
);

both_backends!(
    prompt_login_and_max_age_zero_ask_for_the_password_again,
    |backend| async move {
        let app = spawn_app(backend).await;
        let mut req = client_req(false);
        req.first_party = true;
        let client = register(&app, req).await;
        user(&app, "alice").await;
        full_login(&app, &client.id, "alice", &[]).await;
        // First-party: no consent page, and the session is reused.
        let p = redirect_params(&get_authorize(&app, &query(&client.id, &[])).await);
        assert!(param(&p, "code").is_some());
        for extra in [("prompt", "login"), ("max_age", "0")] {
            let resp = get_authorize(&app, &query(&client.id, &[extra])).await;
            assert_eq!(resp.status(), StatusCode::OK, "{extra:?}");
            let html = resp.text().await.unwrap();
            assert!(html.contains("Sign in"), "{extra:?}");
            let p = redirect_params(&login(&app, &html, "alice", PASSWORD).await);
            assert!(
                param(&p, "code").is_some(),
                "{extra:?}: after signing in again the code is issued"
            );
        }
        // login_hint pre-fills the username.
        let html = get_authorize(
            &app,
            &query(
                &client.id,
                &[("prompt", "login"), ("login_hint", "alice@example")],
            ),
        )
        .await
        .text()
        .await
        .unwrap();
        assert!(html.contains("value=\"alice@example\""), "{html}");
    }
);

both_backends!(
    form_post_response_mode_renders_a_self_submitting_form,
    |backend| async move {
        let app = spawn_app(backend).await;
        let mut req = client_req(false);
        req.first_party = true;
        let client = register(&app, req).await;
        user(&app, "alice").await;
        let html = get_authorize(&app, &query(&client.id, &[("response_mode", "form_post")]))
            .await
            .text()
            .await
            .unwrap();
        let resp = login(&app, &html, "alice", PASSWORD).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let csp = resp.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(csp.contains("form-action https://app.example"), "{csp}");
        assert!(!csp.contains("unsafe-inline"));
        let body = resp.text().await.unwrap();
        assert!(body.contains("action=\"https://app.example/cb\""), "{body}");
        assert!(!hidden(&body, "code").is_empty());
        assert_eq!(hidden(&body, "state"), "st-123");
        assert_eq!(hidden(&body, "iss"), app.issuer);
        assert!(body.contains("/static/form_post.js"));
    }
);

both_backends!(
    failed_sign_ins_do_not_reveal_accounts_and_lock_out,
    |backend| async move {
        let app = spawn_app_with(backend, |c| c.auth.login_max_failures = 3).await;
        let client = register(&app, client_req(false)).await;
        user(&app, "alice").await;
        let html = get_authorize(&app, &query(&client.id, &[]))
            .await
            .text()
            .await
            .unwrap();
        let wrong = login(&app, &html, "alice", "not the password").await;
        assert_eq!(wrong.status(), StatusCode::OK);
        let wrong = wrong.text().await.unwrap();
        let unknown = login(&app, &html, "nobody", "not the password")
            .await
            .text()
            .await
            .unwrap();
        assert!(wrong.contains("Incorrect username or password."));
        assert!(
            unknown.contains("Incorrect username or password."),
            "same message for unknown accounts"
        );
        // Third failure locks alice: now even the right password is refused.
        login(&app, &html, "alice", "wrong again").await;
        let locked = login(&app, &html, "alice", "still wrong")
            .await
            .text()
            .await
            .unwrap();
        assert!(locked.contains("Too many failed attempts"), "{locked}");
        let locked = login(&app, &html, "alice", PASSWORD).await;
        assert_eq!(locked.status(), StatusCode::OK);
        assert!(
            locked
                .text()
                .await
                .unwrap()
                .contains("Too many failed attempts")
        );
        // An unknown account locks the same way (no difference to observe).
        for _ in 0..3 {
            login(&app, &html, "ghost", "x").await;
        }
        let ghost = login(&app, &html, "ghost", "x").await.text().await.unwrap();
        assert!(ghost.contains("Too many failed attempts"));
    }
);

both_backends!(address_throttling_answers_429, |backend| async move {
    let app = spawn_app_with(backend, |c| c.auth.login_ip_max_failures = 2).await;
    let client = register(&app, client_req(false)).await;
    let html = get_authorize(&app, &query(&client.id, &[]))
        .await
        .text()
        .await
        .unwrap();
    login(&app, &html, "u1", "x").await;
    login(&app, &html, "u2", "x").await;
    let resp = login(&app, &html, "u3", "x").await;
    let status = resp.status();
    let retry = resp.headers().get("retry-after").cloned();
    let body = resp.text().await.unwrap();
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(
        body.contains("Too many sign-in attempts from your network"),
        "{body}"
    );
    assert!(retry.is_some());
});

both_backends!(disabled_users_cannot_sign_in, |backend| async move {
    let app = spawn_app(backend).await;
    let client = register(&app, client_req(false)).await;
    user(&app, "alice").await;
    let alice = portcullis::domain::Username::parse("alice").unwrap();
    app.state
        .store
        .users()
        .set_user_disabled(&alice, true, chrono::Utc::now())
        .await
        .unwrap();
    let html = get_authorize(&app, &query(&client.id, &[]))
        .await
        .text()
        .await
        .unwrap();
    let resp = login(&app, &html, "alice", PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.text().await.unwrap().contains("disabled"));
});

both_backends!(
    forms_without_a_valid_csrf_token_are_refused,
    |backend| async move {
        let app = spawn_app(backend).await;
        let client = register(&app, client_req(false)).await;
        user(&app, "alice").await;
        let html = get_authorize(&app, &query(&client.id, &[]))
            .await
            .text()
            .await
            .unwrap();
        let request = hidden(&html, "request");
        let resp = post_form(
            &app,
            "/login",
            &[
                ("request", &request),
                ("csrf_token", "forged"),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
        )
        .await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        // A browser without the cookie cannot use a token either.
        let csrf = hidden(&html, "csrf_token");
        let other = crate::helpers::http_client();
        let resp = other
            .post(app.url("/login"))
            .form(&[
                ("request", request.as_str()),
                ("csrf_token", csrf.as_str()),
                ("username", "alice"),
                ("password", PASSWORD),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert_eq!(app.state.store.users().list_users().await.unwrap().len(), 1);
    }
);

both_backends!(
    session_cookie_is_httponly_lax_and_renewed_at_login,
    |backend| async move {
        let app = spawn_app(backend).await;
        let client = register(&app, client_req(false)).await;
        user(&app, "alice").await;
        let page = get_authorize(&app, &query(&client.id, &[])).await;
        let before = page.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert!(before.starts_with("portcullis-session="), "{before}");
        assert!(
            before.contains("HttpOnly")
                && before.contains("SameSite=Lax")
                && before.contains("Path=/")
        );
        assert_eq!(page.headers()["cache-control"], "no-store");
        assert!(
            page.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
        let html = page.text().await.unwrap();
        let resp = login(&app, &html, "alice", PASSWORD).await;
        let after = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
        let value = |c: &str| {
            c.split(';')
                .next()
                .unwrap()
                .split_once('=')
                .unwrap()
                .1
                .to_owned()
        };
        assert_ne!(
            value(&before),
            value(&after),
            "the session id is renewed at login"
        );
        let session = app
            .state
            .store
            .sessions()
            // The cookie is `<session value>.<tag>` (http::session).
            .session_by_hash(&TokenHash::of(value(&after).split('.').next().unwrap()))
            .await
            .unwrap()
            .expect("stored by hash");
        assert!(session.auth_time.is_some());
        assert_eq!(session.amr.as_deref(), Some("[\"pwd\"]"));
    }
);

#[tokio::test]
async fn https_issuer_uses_host_prefixed_secure_cookie() {
    let app = spawn_app_with(Backend::Sqlite, |c| c.issuer = "https://id.example".into()).await;
    let client = register(&app, client_req(false)).await;
    let resp = app
        .http
        .get(format!(
            "http://{}/authorize?{}",
            app.addr,
            query(&client.id, &[])
        ))
        .send()
        .await
        .unwrap();
    let cookie = resp.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("__Host-portcullis-session="), "{cookie}");
    assert!(cookie.contains("; Secure"), "{cookie}");
}

both_backends!(
    sessions_expire_when_idle_and_at_their_absolute_limit,
    |backend| async move {
        use std::sync::Arc;
        let clock = Arc::new(portcullis::testing::FixedClock::at(chrono::Utc::now()));
        let mut overrides = crate::helpers::test_overrides();
        overrides.clock = Some(clock.clone());
        let app = crate::helpers::spawn_app_full(
            backend,
            |c| {
                c.auth.session_idle = chrono::Duration::minutes(30);
                c.auth.session_max = chrono::Duration::hours(2);
            },
            overrides,
        )
        .await;
        let mut req = client_req(false);
        req.first_party = true;
        let client = register(&app, req).await;
        user(&app, "alice").await;
        full_login(&app, &client.id, "alice", &[]).await;
        clock.advance(chrono::Duration::minutes(29));
        assert!(
            signed_in_at(&app, &client.id).await,
            "used within the idle limit"
        );
        clock.advance(chrono::Duration::minutes(29));
        assert!(
            signed_in_at(&app, &client.id).await,
            "each use resets the idle timer"
        );
        clock.advance(chrono::Duration::minutes(31));
        assert!(
            !signed_in_at(&app, &client.id).await,
            "idle for 31 minutes: signed out"
        );
        // Sign in again, keep using it, and hit the absolute limit.
        let html = get_authorize(&app, &query(&client.id, &[]))
            .await
            .text()
            .await
            .unwrap();
        assert!(login(&app, &html, "alice", PASSWORD).await.status() == StatusCode::SEE_OTHER);
        for _ in 0..4 {
            clock.advance(chrono::Duration::minutes(25));
            assert!(signed_in_at(&app, &client.id).await);
        }
        clock.advance(chrono::Duration::minutes(25));
        assert!(
            !signed_in_at(&app, &client.id).await,
            "more than two hours after sign-in: signed out"
        );
    }
);

async fn signed_in_at(app: &crate::helpers::TestApp, client: &str) -> bool {
    get_authorize(app, &query(client, &[])).await.status() == StatusCode::SEE_OTHER
}

// Browsers apply the form page's `form-action` to the redirect that follows
// the form post (CSP Level 3 §6.4.1; Chromium blocks it), so the login and
// consent pages must allow the client's redirect URI as well as 'self'.
both_backends!(
    login_and_consent_pages_allow_the_redirect_in_form_action,
    |backend| async move {
        let app = spawn_app(backend).await;
        let client = register(&app, client_req(false)).await;
        user(&app, "alice").await;
        let page = get_authorize(&app, &query(&client.id, &[])).await;
        let csp = page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            csp.contains("form-action 'self' https://app.example;"),
            "{csp}"
        );
        assert!(csp.contains("default-src 'self'"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        let html = page.text().await.unwrap();
        let resp = login(&app, &html, "alice", PASSWORD).await;
        let csp = resp.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        let body = resp.text().await.unwrap();
        assert!(body.contains("wants to access your account"), "{body}");
        assert!(
            csp.contains("form-action 'self' https://app.example;"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe-inline"), "{csp}");
    }
);
