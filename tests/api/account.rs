//! The account page (issue 16 item 5, docs/ACCOUNT.md "The account page"):
//! sign-in, profile, e-mail, password, sessions, applications, activity,
//! re-authentication and CSRF, on both back ends.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use portcullis::domain::Username;
use portcullis::ports::repositories::UserProfile;
use portcullis::testing::FixedClock;
use reqwest::StatusCode;

use crate::both_backends;
use crate::flow::{self, PASSWORD, hidden};
use crate::helpers::{TestApp, spawn_app, spawn_app_full, test_overrides};
use crate::mailbox;

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const NEW_PASSWORD: &str = "a brand new passphrase";

/// A browser: keeps cookies, never follows redirects, sends `ua`.
pub(crate) fn browser(ua: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .user_agent(ua)
        .build()
        .unwrap()
}

async fn get_page(app: &TestApp, http: &reqwest::Client) -> (StatusCode, String) {
    let r = http.get(app.url("/account")).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

/// Signs in on the account page's own form.
async fn account_login(
    app: &TestApp,
    http: &reqwest::Client,
    username: &str,
    password: &str,
) -> reqwest::Response {
    let (_, html) = get_page(app, http).await;
    let csrf = hidden(&html, "csrf_token");
    http.post(app.url("/account/login"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("username", username),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
}

/// A browser signed in as `username` on the account page.
pub(crate) async fn signed_in(app: &TestApp, username: &str, ua: &str) -> reqwest::Client {
    let http = browser(ua);
    let r = account_login(app, &http, username, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/account?done=signed_in");
    http
}

/// Posts a form of the account page with the page's CSRF token.
async fn post(
    app: &TestApp,
    http: &reqwest::Client,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let (_, html) = get_page(app, http).await;
    let csrf = hidden(&html, "csrf_token");
    let mut form = vec![("csrf_token", csrf.as_str())];
    form.extend_from_slice(fields);
    http.post(app.url(path)).form(&form).send().await.unwrap()
}

fn is_signed_in(html: &str) -> bool {
    html.contains("Signed in as")
}

/// The `session_id` values of the page's "Sign out this session" forms.
fn session_ids(html: &str) -> Vec<String> {
    html.split("name=\"session_id\" value=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].to_owned())
        .collect()
}

pub(crate) async fn user(app: &TestApp, username: &str) -> portcullis::domain::User {
    app.state
        .store
        .users()
        .user_by_username(&Username::parse(username).unwrap())
        .await
        .unwrap()
        .unwrap()
}

async fn refresh(app: &TestApp, s: &flow::SignedIn) -> (StatusCode, serde_json::Value) {
    let r = app
        .http
        .post(app.url("/token"))
        .basic_auth(&s.client.id, Some(&s.secret))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", s.refresh_token.as_str()),
        ])
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap())
}

async fn userinfo(app: &TestApp, at: &str) -> StatusCode {
    app.http
        .get(app.url("/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap()
        .status()
}

both_backends!(
    without_a_session_the_page_is_a_sign_in_form,
    |backend| async move {
        let app = spawn_app(backend).await;
        flow::user(&app, "alice").await;
        let http = browser(FIREFOX);
        let r = http.get(app.url("/account")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            r.headers()["set-cookie"]
                .to_str()
                .unwrap()
                .contains("HttpOnly")
        );
        assert!(
            r.headers()["cache-control"]
                .to_str()
                .unwrap()
                .contains("no-store")
        );
        let csp = r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(csp.contains("form-action 'self'"), "{csp}");
        let html = r.text().await.unwrap();
        assert!(html.contains(r#"action="/account/login""#), "{html}");
        assert!(html.contains(r#"<label for="password">"#));
        // One script, the passkey button's file (CSP default-src 'self'):
        // no inline script.
        assert_eq!(html.matches("<script").count(), 1, "{html}");
        assert!(
            html.contains(r#"<script src="/static/passkey.js" defer></script>"#),
            "{html}"
        );

        let r = account_login(&app, &http, "alice", "wrong password!").await;
        assert_eq!(r.status(), StatusCode::OK);
        let html = r.text().await.unwrap();
        assert!(html.contains("Incorrect username or password."), "{html}");
        assert!(html.contains("role=\"alert\""));
        assert!(!is_signed_in(&get_page(&app, &http).await.1));

        let r = account_login(&app, &http, "alice", PASSWORD).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let (_, html) = get_page(&app, &http).await;
        assert!(is_signed_in(&html), "{html}");
    }
);

both_backends!(
    the_page_lists_profile_sessions_and_apps,
    |backend| async move {
        let app = spawn_app(backend).await;
        let s = flow::sign_in(&app).await;
        let other = signed_in(&app, "alice", FIREFOX).await;
        let r = app.http.get(app.url("/account")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            r.headers()["cache-control"]
                .to_str()
                .unwrap()
                .contains("no-store")
        );
        assert!(r.headers().contains_key("content-security-policy"));
        let html = r.text().await.unwrap();
        assert!(!html.contains("<script"), "{html}");
        for want in [
            "Signed in as <span class=\"app\">alice</span>",
            "alice@example.com",
            "not verified",
            "value=\"Alice Example\"",
            "this session",
            "Firefox on Linux",
            "IP address 127.0.0.1",
            "RP",
            "Confirm who you are",
            "Keep access when you are not using the application",
            "Revoke access",
            &format!("name=\"client_id\" value=\"{}\"", s.client.id),
            "Sign out every other session",
        ] {
            assert!(html.contains(want), "{want} in\n{html}");
        }
        assert!(
            !html.contains("last used never"),
            "the app was used: {html}"
        );
        // The other browser sees this one as another session.
        let (_, html) = get_page(&app, &other).await;
        assert_eq!(session_ids(&html).len(), 1, "{html}");
    }
);

both_backends!(revoking_an_app_stops_its_tokens, |backend| async move {
    let app = spawn_app(backend).await;
    let s = flow::sign_in(&app).await;
    assert_eq!(userinfo(&app, &s.access_token).await, StatusCode::OK);
    let r = post(
        &app,
        &app.http,
        "/account/apps/revoke",
        &[("client_id", "no-such-app")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        userinfo(&app, &s.access_token).await,
        StatusCode::OK,
        "unchanged"
    );

    let r = post(
        &app,
        &app.http,
        "/account/apps/revoke",
        &[("client_id", &s.client.id)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/account?done=app");
    let (status, body) = refresh(&app, &s).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(
        userinfo(&app, &s.access_token).await,
        StatusCode::UNAUTHORIZED
    );
    let html = app
        .http
        .get(app.url("/account?done=app"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("No application has access"), "{html}");
    assert!(
        html.contains("access was revoked"),
        "the flash message: {html}"
    );
    assert!(is_signed_in(&html), "the session stays");
});

both_backends!(ending_sessions, |backend| async move {
    let app = spawn_app(backend).await;
    flow::user(&app, "alice").await;
    flow::user(&app, "bob").await;
    let firefox = signed_in(&app, "alice", FIREFOX).await;
    let chrome = signed_in(&app, "alice", CHROME).await;
    // One session ended: that browser is signed out, this one is not.
    let (_, html) = get_page(&app, &chrome).await;
    let ids = session_ids(&html);
    assert_eq!(ids.len(), 1, "{html}");
    let r = post(
        &app,
        &chrome,
        "/account/sessions/end",
        &[("session_id", &ids[0])],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(!is_signed_in(&get_page(&app, &firefox).await.1));
    assert!(is_signed_in(&get_page(&app, &chrome).await.1));
    // Another user's session id changes nothing.
    let bob1 = signed_in(&app, "bob", FIREFOX).await;
    let bob2 = signed_in(&app, "bob", CHROME).await;
    let bob_ids = session_ids(&get_page(&app, &bob1).await.1);
    assert_eq!(bob_ids.len(), 1);
    let r = post(
        &app,
        &chrome,
        "/account/sessions/end",
        &[("session_id", &bob_ids[0])],
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(
        is_signed_in(&get_page(&app, &bob2).await.1),
        "bob's session lives"
    );
    let r = post(
        &app,
        &chrome,
        "/account/sessions/end",
        &[("session_id", "nope")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Every other session: this one stays.
    let third = signed_in(&app, "alice", FIREFOX).await;
    let fourth = signed_in(&app, "alice", FIREFOX).await;
    let r = post(&app, &chrome, "/account/sessions/end", &[("others", "1")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/account?done=others");
    assert!(!is_signed_in(&get_page(&app, &third).await.1));
    assert!(!is_signed_in(&get_page(&app, &fourth).await.1));
    let (_, html) = get_page(&app, &chrome).await;
    assert!(is_signed_in(&html));
    assert!(session_ids(&html).is_empty(), "{html}");
    assert!(
        is_signed_in(&get_page(&app, &bob1).await.1),
        "bob is untouched"
    );
    // Sign out.
    let r = post(&app, &chrome, "/account/logout", &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("You are signed out"));
    assert!(!is_signed_in(&get_page(&app, &chrome).await.1));
});

both_backends!(name_and_email_changes, |backend| async move {
    let app = spawn_app(backend).await;
    flow::user(&app, "alice").await;
    let alice = user(&app, "alice").await;
    app.state
        .store
        .users()
        .update_user_profile(
            &alice.id,
            &UserProfile {
                email: alice.email.clone(),
                email_verified: true,
                name: alice.name.clone(),
            },
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let http = signed_in(&app, "alice", FIREFOX).await;
    assert!(get_page(&app, &http).await.1.contains(">verified<"));

    let r = post(
        &app,
        &http,
        "/account/profile",
        &[("name", "Alice Liddell")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        user(&app, "alice").await.name.as_deref(),
        Some("Alice Liddell")
    );
    let r = post(&app, &http, "/account/profile", &[("name", "bad\u{7}name")]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("role=\"alert\""));
    assert_eq!(
        user(&app, "alice").await.name.as_deref(),
        Some("Alice Liddell")
    );

    let r = post(
        &app,
        &http,
        "/account/email",
        &[("email", "not an address")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let u = user(&app, "alice").await;
    assert_eq!(
        (u.email.as_str(), u.email_verified),
        ("alice@example.com", true)
    );

    let new = mailbox::address("account-email");
    let r = post(&app, &http, "/account/email", &[("email", &new)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/account?done=email");
    let u = user(&app, "alice").await;
    assert_eq!(u.email, new);
    assert!(!u.email_verified);
    let mail = mailbox::queued(app.state.store.as_ref(), &new).await;
    assert_eq!(mail.len(), 1);
    assert!(mail[0].body.contains("/email/verify"), "{}", mail[0].body);
    assert!(
        mailbox::queued(app.state.store.as_ref(), "alice@example.com")
            .await
            .is_empty(),
        "the link goes to the new address only"
    );
    let (_, html) = get_page(&app, &http).await;
    assert!(html.contains("not verified"), "{html}");
});

both_backends!(password_change, |backend| async move {
    let app = spawn_app(backend).await;
    let s = flow::sign_in(&app).await;
    let other = signed_in(&app, "alice", FIREFOX).await;
    let r = change(&app, "not my password", NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("current password is not correct")
    );
    let r = change(&app, PASSWORD, NEW_PASSWORD, "something else entirely").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = change(&app, PASSWORD, "short", "short").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Nothing changed (the refresh token rotates: keep the new one).
    let (status, body) = refresh(&app, &s).await;
    assert_eq!(status, StatusCode::OK);
    assert!(is_signed_in(&get_page(&app, &other).await.1));
    let s = flow::SignedIn {
        refresh_token: body["refresh_token"].as_str().unwrap().to_owned(),
        ..s
    };

    let r = change(&app, PASSWORD, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/account?done=password");
    let html = app
        .http
        .get(app.url("/account?done=password"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!is_signed_in(&html));
    assert!(html.contains("Your password was changed"), "{html}");
    assert!(!is_signed_in(&get_page(&app, &other).await.1));
    let (status, body) = refresh(&app, &s).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let r = account_login(&app, &browser(FIREFOX), "alice", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK, "the old password is refused");
    signed_in_with(&app, NEW_PASSWORD).await;
});

async fn change(app: &TestApp, current: &str, new: &str, again: &str) -> reqwest::Response {
    post(
        app,
        &app.http,
        "/account/password",
        &[
            ("current_password", current),
            ("new_password", new),
            ("new_password_again", again),
        ],
    )
    .await
}

async fn signed_in_with(app: &TestApp, password: &str) {
    let r = account_login(app, &browser(FIREFOX), "alice", password).await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "signs in with {password}"
    );
}

both_backends!(
    sensitive_changes_ask_for_a_recent_sign_in,
    |backend| async move {
        let clock = Arc::new(FixedClock::at(chrono::Utc::now()));
        let mut overrides = test_overrides();
        overrides.clock = Some(clock.clone());
        let app = spawn_app_full(backend, |_| {}, overrides).await;
        flow::user(&app, "alice").await;
        let http = signed_in(&app, "alice", FIREFOX).await;
        let other = signed_in(&app, "alice", CHROME).await;
        clock.advance(chrono::Duration::seconds(301));
        let new = mailbox::address("reauth");
        for fields in [vec![("email", new.as_str())], vec![("others", "1")]] {
            let r = post(
                &app,
                &http,
                if fields[0].0 == "email" {
                    "/account/email"
                } else {
                    "/account/sessions/end"
                },
                &fields,
            )
            .await;
            assert_eq!(r.status(), StatusCode::OK);
            let html = r.text().await.unwrap();
            assert!(html.contains("sign in again to continue"), "{html}");
            assert!(html.contains("value=\"alice\""), "{html}");
        }
        assert_eq!(user(&app, "alice").await.email, "alice@example.com");
        assert!(
            mailbox::queued(app.state.store.as_ref(), &new)
                .await
                .is_empty()
        );
        assert!(is_signed_in(&get_page(&app, &other).await.1));
        // A name change is not sensitive.
        let r = post(&app, &http, "/account/profile", &[("name", "A")]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        // Signing in again lets the change through.
        let r = account_login(&app, &http, "alice", PASSWORD).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let r = post(&app, &http, "/account/email", &[("email", &new)]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(user(&app, "alice").await.email, new);
    }
);

both_backends!(
    forms_without_the_csrf_token_change_nothing,
    |backend| async move {
        let app = spawn_app(backend).await;
        let s = flow::sign_in(&app).await;
        for token in [None, Some("forged")] {
            for (path, fields) in [
                ("/account/profile", vec![("name", "Mallory")]),
                (
                    "/account/apps/revoke",
                    vec![("client_id", s.client.id.as_str())],
                ),
                ("/account/sessions/end", vec![("others", "1")]),
                ("/account/email", vec![("email", "mallory@example.com")]),
                ("/account/logout", vec![]),
                (
                    "/account/login",
                    vec![("username", "alice"), ("password", PASSWORD)],
                ),
                (
                    "/account/password",
                    vec![
                        ("current_password", PASSWORD),
                        ("new_password", NEW_PASSWORD),
                        ("new_password_again", NEW_PASSWORD),
                    ],
                ),
            ] {
                let mut form = fields.clone();
                if let Some(t) = token {
                    form.push(("csrf_token", t));
                }
                let r = app
                    .http
                    .post(app.url(path))
                    .form(&form)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path} {token:?}");
            }
        }
        let u = user(&app, "alice").await;
        assert_eq!(u.name.as_deref(), Some("Alice Example"));
        assert_eq!(u.email, "alice@example.com");
        assert_eq!(userinfo(&app, &s.access_token).await, StatusCode::OK);
        assert!(is_signed_in(&get_page(&app, &app.http).await.1));
        signed_in_with(&app, PASSWORD).await;
        // Not a form at all.
        let r = app
            .http
            .post(app.url("/account/profile"))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }
);

both_backends!(
    activity_lists_failed_sign_ins_and_password_changes,
    |backend| async move {
        let app = spawn_app(backend).await;
        flow::user(&app, "alice").await;
        let http = browser(FIREFOX);
        let r = account_login(&app, &http, "alice", "wrong password!").await;
        assert_eq!(r.status(), StatusCode::OK);
        let http = signed_in(&app, "alice", FIREFOX).await;
        let r = post(
            &app,
            &http,
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
                ("new_password_again", NEW_PASSWORD),
            ],
        )
        .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let r = account_login(&app, &http, "alice", NEW_PASSWORD).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        // Events are written in the background: wait for them.
        let mut html = String::new();
        for _ in 0..100 {
            html = get_page(&app, &http).await.1;
            if html.contains("Password changed") && html.contains("Failed sign-in attempt") {
                break;
            }
            tokio::time::sleep(StdDuration::from_millis(100)).await;
        }
        assert!(html.contains("Password changed"), "{html}");
        assert!(html.contains("Failed sign-in attempt"), "{html}");
        assert!(html.contains("Signed in"), "{html}");
        assert!(!html.contains("Activity is unavailable"), "{html}");
    }
);

both_backends!(
    guessing_the_current_password_is_throttled_like_a_sign_in,
    |backend| async move {
        let app = crate::helpers::spawn_app_with(backend, |c| c.auth.login_max_failures = 2).await;
        flow::user(&app, "alice").await;
        let http = signed_in(&app, "alice", FIREFOX).await;
        let mut last = String::new();
        for _ in 0..3 {
            let r = post(
                &app,
                &http,
                "/account/password",
                &[
                    ("current_password", "a wrong guess"),
                    ("new_password", NEW_PASSWORD),
                    ("new_password_again", NEW_PASSWORD),
                ],
            )
            .await;
            assert_eq!(r.status(), StatusCode::BAD_REQUEST);
            last = r.text().await.unwrap();
        }
        assert!(last.contains("Too many failed attempts"), "{last}");
        // The same lock holds for the sign-in form from this address.
        let r = account_login(&app, &browser(FIREFOX), "alice", PASSWORD).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.text().await.unwrap().contains("Too many failed attempts"));
        // Even the right current password is refused while locked.
        let r = post(
            &app,
            &http,
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
                ("new_password_again", NEW_PASSWORD),
            ],
        )
        .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(
            is_signed_in(&get_page(&app, &http).await.1),
            "nothing changed"
        );
    }
);
