//! E-mail verification and password reset by mail (issue 16 items 2 and
//! 3): the links work once (also under parallel posts), expire, are ended
//! by a newer link; a link for an address the user no longer has verifies
//! nothing; "forgot" answers the same page whether or not an account
//! matches, and within the hourly mail limit; a reset ends every session
//! and every refresh token; the password rules hold on the reset page.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use portcullis::adapters::system::{OsRng, SystemClock};
use portcullis::app::operator::NewUser;
use portcullis::app::users::{self, UserRef, UserUpdate};
use portcullis::app::verification;
use portcullis::domain::event::{DetailKey, EventKind};
use portcullis::domain::{User, Username};
use portcullis::ports::Clock;
use portcullis::ports::prelude::*;
use portcullis::ports::repositories::UserProfile;
use portcullis::testing::{FixedClock, MemoryEventSink};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::admin::{admin_token, call};
use crate::both_backends;
use crate::flow::{self, PASSWORD};
use crate::helpers::{Backend, TestApp, http_client, spawn_app_full, test_overrides};
use crate::mailbox::{self, Received};

const NEW_PASSWORD: &str = "plum-kettle-orbit-97";

/// A server recording its events, on `clock` (the system clock if none).
async fn app_on(
    backend: Backend,
    clock: Option<Arc<FixedClock>>,
) -> (TestApp, Arc<MemoryEventSink>) {
    let sink = Arc::new(MemoryEventSink::new());
    let mut overrides = test_overrides();
    overrides.events = Some(sink.clone());
    if let Some(c) = clock {
        overrides.clock = Some(c);
    }
    (spawn_app_full(backend, |_| {}, overrides).await, sink)
}

async fn user(app: &TestApp, username: &str) -> User {
    app.state
        .store
        .users()
        .user_by_username(&Username::parse(username).unwrap())
        .await
        .unwrap()
        .unwrap()
}

/// Creates `username` through the one operator creation (CLI and admin
/// API), which queues a verification link to `email`.
async fn create(app: &TestApp, username: &str, email: &str) -> User {
    users::create(
        app.state.store.as_ref(),
        app.state.passwords.as_ref(),
        app.state.clock.as_ref(),
        &verification::Sender::from_config(&app.state.config, &OsRng),
        NewUser {
            username: username.into(),
            email: email.into(),
            name: None,
            password: PASSWORD.into(),
        },
    )
    .await
    .unwrap();
    user(app, username).await
}

/// Waits until `address` has `n` queued mails (the forgot form queues in a
/// background task).
async fn queued(app: &TestApp, address: &str, n: usize) -> Vec<Received> {
    for _ in 0..200 {
        let got = mailbox::queued(app.state.store.as_ref(), address).await;
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{address}: fewer than {n} mails queued");
}

/// Waits until `n` events of `kind` were recorded.
async fn events(
    sink: &MemoryEventSink,
    kind: EventKind,
    n: usize,
) -> Vec<portcullis::domain::event::Event> {
    for _ in 0..200 {
        let got = sink.of_kind(kind);
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("fewer than {n} {kind:?} events");
}

async fn page(http: &reqwest::Client, app: &TestApp, path: &str) -> (StatusCode, String) {
    let resp = http.get(app.url(path)).send().await.unwrap();
    (resp.status(), resp.text().await.unwrap())
}

/// Posts the form of `html` (its `csrf_token`, and its `token` if any) to
/// `path` with `fields`.
async fn post(
    http: &reqwest::Client,
    app: &TestApp,
    path: &str,
    html: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String) {
    let csrf = flow::hidden(html, "csrf_token");
    let mut form = vec![("csrf_token", csrf.clone())];
    if html.contains("name=\"token\"") {
        form.push(("token", flow::hidden(html, "token")));
    }
    form.extend(fields.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let resp = http.post(app.url(path)).form(&form).send().await.unwrap();
    (resp.status(), resp.text().await.unwrap())
}

/// The verification link's path and query from the last mail to `address`.
async fn verify_link(app: &TestApp, address: &str, n: usize) -> String {
    let mails = queued(app, address, n).await;
    let token = mails[n - 1].token("/email/verify").unwrap();
    format!("/email/verify?token={token}")
}

/// Opens a verification link and presses "Verify".
async fn verify(http: &reqwest::Client, app: &TestApp, link: &str) -> (StatusCode, String) {
    let (status, html) = page(http, app, link).await;
    if status != StatusCode::OK {
        return (status, html);
    }
    post(http, app, "/email/verify", &html, &[]).await
}

/// "Forgot your password?" for `login`.
async fn forgot(http: &reqwest::Client, app: &TestApp, login: &str) -> (StatusCode, String) {
    let (status, html) = page(http, app, "/password/forgot").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    post(http, app, "/password/forgot", &html, &[("login", login)]).await
}

/// The reset link's path and query from mail number `n` to `address`.
async fn reset_link(app: &TestApp, address: &str, n: usize) -> String {
    let mails = queued(app, address, n).await;
    let m = &mails[n - 1];
    assert_eq!(m.subject, "Reset your password");
    format!(
        "/password/reset?token={}",
        m.token("/password/reset").unwrap()
    )
}

/// Opens a reset link and sends `password` twice.
async fn reset(
    http: &reqwest::Client,
    app: &TestApp,
    link: &str,
    password: &str,
) -> (StatusCode, String) {
    let (status, html) = page(http, app, link).await;
    if status != StatusCode::OK {
        return (status, html);
    }
    post(
        http,
        app,
        "/password/reset",
        &html,
        &[("password", password), ("password2", password)],
    )
    .await
}

fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

both_backends!(
    a_verified_address_shows_in_the_id_token_and_at_userinfo,
    |backend| async move {
        let (app, sink) = app_on(backend, None).await;
        let client = flow::register(&app, flow::client_req(false)).await;
        let alice = create(&app, "alice", "alice@example.com").await;
        assert!(!alice.email_verified);
        let link = verify_link(&app, "alice@example.com", 1).await;
        // Opening the link (a mail scanner does) uses nothing.
        let browser = http_client();
        for _ in 0..2 {
            let (status, html) = page(&browser, &app, &link).await;
            assert_eq!(status, StatusCode::OK, "{html}");
            assert!(
                html.contains("alice@example.com") && html.contains(">Verify<"),
                "{html}"
            );
        }
        assert!(!user(&app, "alice").await.email_verified);
        let (status, html) = verify(&browser, &app, &link).await;
        assert_eq!(status, StatusCode::OK, "{html}");
        assert!(html.contains("is verified"), "{html}");
        assert!(user(&app, "alice").await.email_verified);
        let e = events(&sink, EventKind::EmailVerified, 1).await;
        assert_eq!(e[0].subject_id(), Some(alice.id.as_str()));
        assert_eq!(e[0].detail_value(DetailKey::Via), Some("link"));

        // A relying party asking for `email` now sees it verified.
        let q = flow::query(&client.id, &[]).replace("scope=openid+profile", "scope=openid+email");
        let p = flow::follow(&app, &app.url(&format!("/authorize?{q}")), "alice").await;
        let code = flow::param(&p, "code").unwrap();
        let t: Value = app
            .http
            .post(app.url("/token"))
            .basic_auth(&client.id, client.secret.as_deref())
            .form(&flow::code_exchange(code))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = claims(t["id_token"].as_str().unwrap());
        assert_eq!(id["email_verified"], json!(true), "{id}");
        assert_eq!(id["email"], "alice@example.com");
        let info: Value = app
            .http
            .get(app.url("/userinfo"))
            .bearer_auth(t["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(info["email_verified"], json!(true), "{info}");
    }
);

both_backends!(
    a_verification_link_works_once_even_posted_twice_at_once,
    |backend| async move {
        let (app, sink) = app_on(backend, None).await;
        create(&app, "alice", "alice@example.com").await;
        let link = verify_link(&app, "alice@example.com", 1).await;
        let (_, html) = page(&app.http, &app, &link).await;
        let (a, b) = tokio::join!(
            post(&app.http, &app, "/email/verify", &html, &[]),
            post(&app.http, &app, "/email/verify", &html, &[])
        );
        let mut statuses = [a.0, b.0];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::BAD_REQUEST],
            "{a:?} {b:?}"
        );
        let (status, html) = verify(&app.http, &app, &link).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            html.contains("expired or was already used") && html.contains("role=\"alert\""),
            "{html}"
        );
        assert_eq!(sink.of_kind(EventKind::EmailVerified).len(), 1);
        // Unknown tokens, and a post without the CSRF token.
        let (status, _) = page(&app.http, &app, "/email/verify?token=nope").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _) = page(&app.http, &app, "/email/verify").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let resp = app
            .http
            .post(app.url("/email/verify"))
            .form(&[("token", "x")])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    }
);

both_backends!(
    an_expired_verification_link_is_refused,
    |backend| async move {
        let clock = Arc::new(FixedClock::at(chrono::Utc::now()));
        let (app, _) = app_on(backend, Some(clock.clone())).await;
        create(&app, "alice", "alice@example.com").await;
        let link = verify_link(&app, "alice@example.com", 1).await;
        let (status, html) = page(&app.http, &app, &link).await;
        assert_eq!(status, StatusCode::OK);
        clock
            .advance(app.state.config.self_service.email_verify_ttl + chrono::Duration::seconds(1));
        // Both the page and a form opened before the expiry refuse it.
        let (status, _) = page(&app.http, &app, &link).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, body) = post(&app.http, &app, "/email/verify", &html, &[]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(!user(&app, "alice").await.email_verified);
    }
);

both_backends!(
    a_link_for_an_address_no_longer_the_users_verifies_nothing,
    |backend| async move {
        let (app, _) = app_on(backend, None).await;
        let alice = create(&app, "alice", "alice@example.com").await;
        let first = verify_link(&app, "alice@example.com", 1).await;
        let (_, form) = page(&app.http, &app, &first).await;
        // The address changes without a new link (as the account page's
        // own change might): the old link is still unused, yet verifies
        // nothing.
        app.state
            .store
            .users()
            .update_user_profile(
                &alice.id,
                &UserProfile {
                    email: "alice@example.org".into(),
                    email_verified: false,
                    name: None,
                },
                SystemClock.now(),
            )
            .await
            .unwrap();
        let (status, html) = post(&app.http, &app, "/email/verify", &form, &[]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
        assert!(html.contains("Nothing was verified"), "{html}");
        assert!(!user(&app, "alice").await.email_verified);

        // An operator's change sends a link to the new address and ends
        // the old ones.
        let sender = verification::Sender::from_config(&app.state.config, &OsRng);
        let first = verify_link(&app, "alice@example.com", 1).await;
        let updated = users::update(
            app.state.store.as_ref(),
            &SystemClock,
            &sender,
            UserRef::Username("alice"),
            UserUpdate {
                email: Some("alice@example.net".into()),
                ..UserUpdate::default()
            },
        )
        .await
        .unwrap();
        assert!(updated.link_sent);
        let (status, _) = verify(&app.http, &app, &first).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let new = verify_link(&app, "alice@example.net", 1).await;
        let (status, html) = verify(&app.http, &app, &new).await;
        assert_eq!(status, StatusCode::OK, "{html}");
        let now = user(&app, "alice").await;
        assert!(now.email_verified && now.email == "alice@example.net");
    }
);

both_backends!(
    a_newer_verification_link_ends_the_older,
    |backend| async move {
        let (app, _) = app_on(backend, None).await;
        let alice = create(&app, "alice", "alice@example.com").await;
        let sender = verification::Sender::from_config(&app.state.config, &OsRng);
        sender
            .send(
                app.state.store.as_ref(),
                SystemClock.now(),
                &alice.id,
                &alice.email,
            )
            .await
            .unwrap();
        let older = verify_link(&app, "alice@example.com", 1).await;
        let newer = verify_link(&app, "alice@example.com", 2).await;
        assert_ne!(older, newer);
        let (status, _) = verify(&app.http, &app, &older).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(!user(&app, "alice").await.email_verified);
        let (status, _) = verify(&app.http, &app, &newer).await;
        assert_eq!(status, StatusCode::OK);
        assert!(user(&app, "alice").await.email_verified);
    }
);

both_backends!(
    the_admin_api_sends_links_and_marks_addresses_verified,
    |backend| async move {
        let (app, sink) = app_on(backend, None).await;
        let token = admin_token(&app).await;
        let (status, body) = call(
            &app,
            Method::POST,
            "/admin/v1/users",
            &token,
            Some(json!({"username": "bob", "email": "bob@example.com", "password": PASSWORD})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["email_verified"], false);
        let id = body["user_id"].as_str().unwrap().to_owned();
        let mails = queued(&app, "bob@example.com", 1).await;
        assert_eq!(mails[0].subject, "Verify your e-mail address");
        // A new address: a new link, not verified.
        let path = format!("/admin/v1/users/{id}");
        let (status, body) = call(
            &app,
            Method::PATCH,
            &path,
            &token,
            Some(json!({"email": "bob@example.org"})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["email_verified"], false);
        queued(&app, "bob@example.org", 1).await;
        assert!(sink.of_kind(EventKind::EmailVerified).is_empty());
        // The operator vouches for it.
        let (status, body) = call(
            &app,
            Method::PATCH,
            &path,
            &token,
            Some(json!({"email_verified": true})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["email_verified"], true);
        let e = events(&sink, EventKind::EmailVerified, 1).await;
        assert_eq!(e[0].subject_id(), Some(id.as_str()));
        assert_eq!(e[0].detail_value(DetailKey::Via), Some("operator"));
        // The link sent before has nothing left to do.
        let link = verify_link(&app, "bob@example.org", 1).await;
        let (status, _) = page(&app.http, &app, &link).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        // Saying it again changes nothing and records nothing.
        let (status, _) = call(
            &app,
            Method::PATCH,
            &path,
            &token,
            Some(json!({"email_verified": true})),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(sink.of_kind(EventKind::EmailVerified).len(), 1);
        // A bad type changes nothing.
        let (status, _) = call(
            &app,
            Method::PATCH,
            &path,
            &token,
            Some(json!({"email_verified": "yes"})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
);

both_backends!(
    the_cli_sends_links_and_marks_addresses_verified,
    |backend| async move {
        use crate::cli::{ok, portcullis};
        let db = crate::helpers::TestDb::new(backend).await;
        ok(&portcullis(
            &db,
            &[
                "user",
                "create",
                "--username",
                "carol",
                "--email",
                "carol@example.com",
                "--password-stdin",
            ],
            Some("correct horse battery staple\n"),
        ));
        let store = db.store().await;
        let mails = mailbox::queued(&store, "carol@example.com").await;
        assert_eq!(mails.len(), 1);
        assert!(
            mails[0].token("/email/verify").is_some(),
            "{}",
            mails[0].body
        );
        ok(&portcullis(
            &db,
            &["user", "update", "carol", "--email-verified"],
            None,
        ));
        let carol = store
            .users()
            .user_by_username(&Username::parse("carol").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert!(carol.email_verified);
        // A common password is refused, and creates nothing.
        let out = portcullis(
            &db,
            &[
                "user",
                "create",
                "--username",
                "dave",
                "--email",
                "dave@example.com",
                "--password-stdin",
            ],
            Some("password123\n"),
        );
        let err = crate::cli::failed(&out);
        assert!(err.contains("too common"), "{err}");
        let out = portcullis(
            &db,
            &[
                "user",
                "create",
                "--username",
                "erin1234",
                "--email",
                "e@example.com",
                "--password-stdin",
            ],
            Some("Erin1234\n"),
        );
        assert!(crate::cli::failed(&out).contains("username"));
    }
);

both_backends!(
    a_forgotten_password_is_reset_by_mail_and_the_old_one_stops_working,
    |backend| async move {
        let (app, sink) = app_on(backend, None).await;
        let client = flow::register(&app, flow::client_req(false)).await;
        flow::user(&app, "alice").await;
        let alice = user(&app, "alice").await;
        let browser = http_client();
        let (status, html) = forgot(&browser, &app, "alice").await;
        assert_eq!(status, StatusCode::OK, "{html}");
        assert!(html.contains("Check your mail"), "{html}");
        let link = reset_link(&app, "alice@example.com", 1).await;
        let e = events(&sink, EventKind::PasswordResetRequested, 1).await;
        assert_eq!(e[0].subject_id(), Some(alice.id.as_str()));
        let (status, html) = page(&browser, &app, &link).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("autocomplete=\"new-password\""), "{html}");
        let (status, html) = reset(&browser, &app, &link, NEW_PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "{html}");
        assert!(html.contains("Your password was changed"), "{html}");
        let e = events(&sink, EventKind::PasswordChanged, 1).await;
        assert_eq!(e[0].subject_id(), Some(alice.id.as_str()));
        assert_eq!(e[0].detail_value(DetailKey::Via), Some("reset"));
        let mails = queued(&app, "alice@example.com", 2).await;
        assert_eq!(mails[1].subject, "Your password was changed");
        assert!(!mails[1].body.contains(NEW_PASSWORD));
        // The link is used.
        let (status, _) = page(&browser, &app, &link).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        // Sign in: the old password fails, the new one works.
        let html = flow::get_authorize(&app, &flow::query(&client.id, &[]))
            .await
            .text()
            .await
            .unwrap();
        let resp = flow::login(&app, &html, "alice", PASSWORD).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let html = resp.text().await.unwrap();
        assert!(html.contains("role=\"alert\""), "{html}");
        let resp = flow::login(&app, &html, "alice", NEW_PASSWORD).await;
        let html = resp.text().await.unwrap();
        assert!(html.contains("wants to access your account"), "{html}");
    }
);

both_backends!(
    forgot_answers_the_same_for_an_unknown_account_and_queues_nothing,
    |backend| async move {
        let (app, sink) = app_on(backend, None).await;
        flow::user(&app, "alice").await;
        let (known_status, known) = forgot(&http_client(), &app, "alice@example.com").await;
        queued(&app, "alice@example.com", 1).await;
        let (status, unknown) = forgot(&http_client(), &app, "nobody@example.com").await;
        assert_eq!(status, known_status);
        assert_eq!(unknown, known);
        let (status, unknown_name) = forgot(&http_client(), &app, "nobody").await;
        assert_eq!(status, known_status);
        assert_eq!(unknown_name, known);
        let e = events(&sink, EventKind::PasswordResetRequested, 3).await;
        assert_eq!(e.iter().filter(|e| e.subject_id().is_none()).count(), 2);
        let all = app
            .state
            .store
            .outbox()
            .list_mail(false, 100)
            .await
            .unwrap();
        assert_eq!(all.len(), 1, "only alice's mail");
        // A disabled account gets nothing either.
        portcullis::app::operator::set_disabled(
            app.state.store.as_ref(),
            &SystemClock,
            "alice",
            true,
        )
        .await
        .unwrap();
        let (_, disabled) = forgot(&http_client(), &app, "alice").await;
        assert_eq!(disabled, known);
        events(&sink, EventKind::PasswordResetRequested, 4).await;
        assert_eq!(
            app.state
                .store
                .outbox()
                .list_mail(false, 100)
                .await
                .unwrap()
                .len(),
            1
        );
        // An empty form is an error, the same for everyone.
        let (status, html) = forgot(&http_client(), &app, "  ").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(html.contains("role=\"alert\""), "{html}");
    }
);

both_backends!(
    forgot_mails_an_address_at_most_five_times_an_hour,
    |backend| async move {
        let (app, sink) = app_on(backend, None).await;
        flow::user(&app, "alice").await;
        let limit = app.state.config.self_service.mail_per_address_per_hour as usize;
        let mut pages = Vec::new();
        for i in 0..=limit {
            let login = if i % 2 == 0 {
                "alice"
            } else {
                "ALICE@example.com"
            };
            pages.push(forgot(&http_client(), &app, login).await);
            // One at a time: each request's background task is done before
            // the next (its event is its last step).
            events(&sink, EventKind::PasswordResetRequested, i + 1).await;
        }
        assert!(
            pages.windows(2).all(|w| w[0] == w[1]),
            "every answer is the same"
        );
        let mails = mailbox::queued(app.state.store.as_ref(), "alice@example.com").await;
        assert_eq!(
            mails.len(),
            limit,
            "the {}th request queues nothing",
            limit + 1
        );
    }
);

both_backends!(
    a_reset_link_works_once_even_posted_twice_at_once,
    |backend| async move {
        let (app, sink) = app_on(backend, None).await;
        flow::user(&app, "alice").await;
        forgot(&app.http, &app, "alice").await;
        let link = reset_link(&app, "alice@example.com", 1).await;
        let (_, html) = page(&app.http, &app, &link).await;
        let fields = [("password", NEW_PASSWORD), ("password2", NEW_PASSWORD)];
        let other = [
            ("password", "quartz-meadow-lantern"),
            ("password2", "quartz-meadow-lantern"),
        ];
        let (a, b) = tokio::join!(
            post(&app.http, &app, "/password/reset", &html, &fields),
            post(&app.http, &app, "/password/reset", &html, &other)
        );
        let mut statuses = [a.0, b.0];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::BAD_REQUEST],
            "{a:?} {b:?}"
        );
        assert_eq!(sink.of_kind(EventKind::PasswordChanged).len(), 1);
        let (status, html) = post(&app.http, &app, "/password/reset", &html, &fields).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(html.contains("expired or was already used"), "{html}");
    }
);

both_backends!(
    an_expired_or_superseded_reset_link_is_refused,
    |backend| async move {
        let clock = Arc::new(FixedClock::at(chrono::Utc::now()));
        let (app, sink) = app_on(backend, Some(clock.clone())).await;
        flow::user(&app, "alice").await;
        forgot(&app.http, &app, "alice").await;
        events(&sink, EventKind::PasswordResetRequested, 1).await;
        // The fixed clock orders the two mails (and their links).
        clock.advance(chrono::Duration::seconds(1));
        forgot(&app.http, &app, "alice").await;
        let older = reset_link(&app, "alice@example.com", 1).await;
        let newer = reset_link(&app, "alice@example.com", 2).await;
        let (status, html) = page(&app.http, &app, &older).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            html.contains("/password/forgot"),
            "a way to ask again: {html}"
        );
        let (status, form) = page(&app.http, &app, &newer).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            app.state.config.self_service.password_reset_ttl,
            chrono::Duration::minutes(30)
        );
        clock.advance(chrono::Duration::minutes(31));
        let (status, _) = page(&app.http, &app, &newer).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let fields = [("password", NEW_PASSWORD), ("password2", NEW_PASSWORD)];
        let (status, _) = post(&app.http, &app, "/password/reset", &form, &fields).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(sink.of_kind(EventKind::PasswordChanged).is_empty());
    }
);

both_backends!(
    a_reset_ends_every_session_and_refresh_token,
    |backend| async move {
        let (app, _) = app_on(backend, None).await;
        let s = flow::sign_in(&app).await;
        let browser = http_client();
        forgot(&browser, &app, "alice").await;
        let link = reset_link(&app, "alice@example.com", 1).await;
        let (status, _) = reset(&browser, &app, &link, NEW_PASSWORD).await;
        assert_eq!(status, StatusCode::OK);
        let resp = app
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
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "invalid_grant");
        // The browser that was signed in must sign in again.
        let html = flow::get_authorize(&app, &s.query)
            .await
            .text()
            .await
            .unwrap();
        assert!(html.contains("Sign in"), "{html}");
    }
);

both_backends!(
    weak_passwords_are_refused_without_using_the_link,
    |backend| async move {
        let (app, sink) = app_on(backend, None).await;
        flow::user(&app, "alice").await;
        forgot(&app.http, &app, "alice").await;
        let link = reset_link(&app, "alice@example.com", 1).await;
        let (_, form) = page(&app.http, &app, &link).await;
        for (p1, p2, says) in [
            ("Password123", "Password123", "too common"),
            ("short", "short", "at least 8"),
            (
                "alice@example.com",
                "alice@example.com",
                "username or your e-mail",
            ),
            (NEW_PASSWORD, "something-else-1", "differ"),
        ] {
            let (status, html) = post(
                &app.http,
                &app,
                "/password/reset",
                &form,
                &[("password", p1), ("password2", p2)],
            )
            .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{p1}");
            assert!(
                html.contains(says) && html.contains("role=\"alert\""),
                "{p1}: {html}"
            );
            assert!(html.contains("name=\"token\""), "the form again");
        }
        assert!(sink.of_kind(EventKind::PasswordChanged).is_empty());
        let (status, html) = reset(&app.http, &app, &link, NEW_PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "the link still works: {html}");
    }
);
