//! Self-registration (`/signup`, issue 16 item 4; docs/ACCOUNT.md
//! "Sign-up") and invitations (`portcullis user invite`,
//! `POST /admin/v1/invitations`). Mail is read from the outbox table
//! ([`mailbox::queued`]): what the page asked to send.

use std::sync::Arc;

use portcullis::app::links;
use portcullis::config::SignupMode;
use portcullis::domain::event::EventKind;
use portcullis::domain::{LinkPurpose, Username};
use portcullis::testing::MemoryEventSink;
use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::flow;
use crate::helpers::{Backend, TestApp, http_client, spawn_app, spawn_app_full, test_overrides};
use crate::mailbox::{self, queued};

const PASSWORD: &str = "a long sign-up passphrase";

async fn spawn(
    backend: Backend,
    mode: SignupMode,
    require_verified: bool,
) -> (TestApp, Arc<MemoryEventSink>) {
    let sink = Arc::new(MemoryEventSink::new());
    let mut overrides = test_overrides();
    overrides.events = Some(sink.clone());
    let app = spawn_app_full(
        backend,
        |c| {
            c.self_service.signup = mode;
            c.self_service.require_verified_email = require_verified;
        },
        overrides,
    )
    .await;
    (app, sink)
}

/// `GET /signup` (with `query`) from `http`: the status and the page.
async fn open_form(http: &reqwest::Client, app: &TestApp, query: &str) -> (StatusCode, String) {
    let resp = http
        .get(app.url(&format!("/signup{query}")))
        .send()
        .await
        .unwrap();
    (resp.status(), resp.text().await.unwrap())
}

/// Opens the form in a fresh browser and posts `fields` with its CSRF token
/// (and its invitation token, if the form carries one).
async fn sign_up(app: &TestApp, query: &str, fields: &[(&str, &str)]) -> (StatusCode, String) {
    let http = http_client();
    let (status, html) = open_form(&http, app, query).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    post(&http, app, &html, fields).await
}

async fn post(
    http: &reqwest::Client,
    app: &TestApp,
    html: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String) {
    let csrf = flow::hidden(html, "csrf_token");
    let mut form = vec![("csrf_token", csrf.clone())];
    if html.contains("name=\"token\"") {
        form.push(("token", flow::hidden(html, "token")));
    }
    form.extend(fields.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let resp = http
        .post(app.url("/signup"))
        .form(&form)
        .send()
        .await
        .unwrap();
    (resp.status(), resp.text().await.unwrap())
}

fn fields<'a>(username: &'a str, email: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("username", username),
        ("email", email),
        ("name", "Sam Signup"),
        ("password", PASSWORD),
        ("password_again", PASSWORD),
    ]
}

async fn user(app: &TestApp, username: &str) -> Option<portcullis::domain::User> {
    app.state
        .store
        .users()
        .user_by_username(&Username::parse(username).unwrap())
        .await
        .unwrap()
}

async fn user_count(app: &TestApp) -> usize {
    app.state.store.users().list_users().await.unwrap().len()
}

/// An invitation for `email` (the default lifetime), made as the CLI and
/// the admin API make it; returns the token (read from the queued mail).
async fn invitation(app: &TestApp, email: &str) -> String {
    portcullis::app::signup::invite(
        app.state.store.as_ref(),
        app.state.rng.as_ref(),
        app.state.clock.as_ref(),
        &app.state.config.self_service,
        &app.issuer,
        email,
        None,
    )
    .await
    .unwrap();
    let mail = queued(app.state.store.as_ref(), email).await;
    let last = mail.last().expect("an invitation mail");
    assert_eq!(last.subject, "You are invited to create an account");
    last.token("/signup").expect("a sign-up link")
}

both_backends!(
    signup_off_is_not_routed_and_not_linked,
    |backend| async move {
        let app = spawn_app(backend).await;
        let unknown = app.http.get(app.url("/no-such-page")).send().await.unwrap();
        let unknown_status = unknown.status();
        let unknown_body = unknown.text().await.unwrap();
        for resp in [
            app.http.get(app.url("/signup")).send().await.unwrap(),
            app.http
                .post(app.url("/signup"))
                .form(&fields("sam", "sam@example.test"))
                .send()
                .await
                .unwrap(),
        ] {
            assert_eq!(resp.status(), StatusCode::NOT_FOUND);
            assert_eq!(unknown_status, StatusCode::NOT_FOUND);
            assert_eq!(
                resp.text().await.unwrap(),
                unknown_body,
                "like an unknown path"
            );
        }
        assert!(user(&app, "sam").await.is_none());
        let client = flow::register(&app, flow::client_req(true)).await;
        let login = flow::get_authorize(&app, &flow::query(&client.id, &[]))
            .await
            .text()
            .await
            .unwrap();
        assert!(login.contains("action=\"/login\""), "{login}");
        assert!(!login.contains("/signup"), "no sign-up link: {login}");
        // And an invitation leads nowhere: refused.
        let err = portcullis::app::signup::invite(
            app.state.store.as_ref(),
            app.state.rng.as_ref(),
            app.state.clock.as_ref(),
            &app.state.config.self_service,
            &app.issuer,
            "x@example.test",
            None,
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("PORTCULLIS_SIGNUP"), "{err}");
    }
);

both_backends!(
    open_signup_creates_an_unverified_user_and_mails_a_link,
    |backend| async move {
        let (app, events) = spawn(backend, SignupMode::Open, false).await;
        let client = flow::register(&app, flow::client_req(true)).await;
        let login = flow::get_authorize(&app, &flow::query(&client.id, &[]))
            .await
            .text()
            .await
            .unwrap();
        assert!(login.contains("href=\"/signup\""), "the link: {login}");

        let http = http_client();
        let (status, form) = open_form(&http, &app, "").await;
        assert_eq!(status, StatusCode::OK);
        for needle in [
            "autocomplete=\"username\"",
            "autocomplete=\"email\"",
            "autocomplete=\"new-password\"",
            "<label for=\"password_again\">",
        ] {
            assert!(form.contains(needle), "{needle}: {form}");
        }
        assert!(!form.contains("<script"), "no JavaScript");
        let email = mailbox::address("open");
        let (status, page) = post(&http, &app, &form, &fields("sam", &email)).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.contains("Check your mail"), "{page}");
        assert!(page.contains("You can sign in now"), "not required: {page}");

        let sam = user(&app, "sam").await.expect("the user");
        assert_eq!(sam.email, email);
        assert!(!sam.email_verified);
        assert_eq!(sam.name.as_deref(), Some("Sam Signup"));
        let mail = queued(app.state.store.as_ref(), &email).await;
        assert_eq!(mail.len(), 1, "one verification mail");
        let token = mail[0].token("/email/verify").expect("a verification link");
        assert!(
            links::peek(
                app.state.store.as_ref(),
                &token,
                LinkPurpose::VerifyEmail,
                app.state.clock.now()
            )
            .await
            .unwrap()
            .is_some_and(|l| l.user_id.as_ref() == Some(&sam.id)),
            "the link verifies sam's address"
        );
        let registered = events.of_kind(EventKind::UserRegistered);
        assert_eq!(registered.len(), 1);
        assert_eq!(registered[0].subject_id(), Some(sam.id.as_str()));
        assert_eq!(registered[0].detail_map()["via"], "open");
        let text = format!("{:?}", events.events());
        assert!(
            !text.contains(PASSWORD) && !text.contains(&token),
            "no secrets in events"
        );
    }
);

both_backends!(
    a_required_verification_holds_the_new_user_back,
    |backend| async move {
        let (app, _) = spawn(backend, SignupMode::Open, true).await;
        let email = mailbox::address("verify");
        let (status, page) = sign_up(&app, "", &fields("vera", &email)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            page.contains("You can sign in once your address is verified"),
            "{page}"
        );

        let client = flow::register(&app, flow::client_req(true)).await;
        let login = flow::get_authorize(&app, &flow::query(&client.id, &[]))
            .await
            .text()
            .await
            .unwrap();
        let refused = flow::login(&app, &login, "vera", PASSWORD).await;
        let refused = refused.text().await.unwrap();
        assert!(
            refused.contains("Verify your e-mail address first"),
            "{refused}"
        );
        // The link's page (/email/verify) is another slice's; its effect is
        // this store call.
        let vera = user(&app, "vera").await.unwrap();
        assert!(
            app.state
                .store
                .users()
                .set_email_verified(&vera.id, &email, app.state.clock.now())
                .await
                .unwrap()
        );
        let login = flow::get_authorize(&app, &flow::query(&client.id, &[]))
            .await
            .text()
            .await
            .unwrap();
        let signed_in = flow::login(&app, &login, "vera", PASSWORD).await;
        let signed_in = signed_in.text().await.unwrap();
        assert!(signed_in.contains("action=\"/consent\""), "{signed_in}");
    }
);

both_backends!(
    a_known_address_gets_the_same_page_and_a_mail_not_an_account,
    |backend| async move {
        let (app, events) = spawn(backend, SignupMode::Open, false).await;
        let taken = mailbox::address("taken");
        let fresh = mailbox::address("fresh");
        let (s1, first) = sign_up(&app, "", &fields("owner", &taken)).await;
        assert_eq!(s1, StatusCode::OK);
        let before = user_count(&app).await;

        let (s2, again) = sign_up(&app, "", &fields("intruder", &taken)).await;
        let (s3, new) = sign_up(&app, "", &fields("newcomer", &fresh)).await;
        assert_eq!((s2, s3), (StatusCode::OK, StatusCode::OK));
        assert_eq!(
            again, first,
            "the same page as a new sign-up with this address"
        );
        assert_eq!(
            again.replace(&taken, ""),
            new.replace(&fresh, ""),
            "the same page as for an unknown address"
        );
        assert!(user(&app, "intruder").await.is_none(), "no account");
        assert_eq!(user_count(&app).await, before + 1, "only newcomer");

        let mail = queued(app.state.store.as_ref(), &taken).await;
        assert_eq!(mail.len(), 2, "the verification, then the warning");
        assert_eq!(
            mail[1].subject,
            "Someone tried to sign up with your address"
        );
        assert!(mail[1].link("/account").is_some(), "{}", mail[1].body);
        assert!(
            mail[1].link("/password/forgot").is_some(),
            "{}",
            mail[1].body
        );
        assert_eq!(events.of_kind(EventKind::UserRegistered).len(), 2);
    }
);

both_backends!(
    form_errors_keep_the_typed_values_and_create_nothing,
    |backend| async move {
        let (app, _) = spawn(backend, SignupMode::Open, false).await;
        let first = mailbox::address("first");
        sign_up(&app, "", &fields("dana", &first)).await;
        let before = user_count(&app).await;
        let other = mailbox::address("other");

        let (status, page) = sign_up(&app, "", &fields("dana", &other)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(page.contains("role=\"alert\""), "{page}");
        assert!(page.contains("This username is taken"), "{page}");
        assert!(
            page.contains(&format!("value=\"{other}\"")),
            "typed address kept: {page}"
        );

        let mut weak = fields("dana2", &other);
        weak[3] = ("password", "short");
        weak[4] = ("password_again", "short");
        let (status, page) = sign_up(&app, "", &weak).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(page.contains("too short"), "{page}");
        assert!(page.contains("value=\"dana2\""), "{page}");
        assert!(
            !page.contains("value=\"short\""),
            "passwords never come back: {page}"
        );

        let mut differ = fields("dana3", &other);
        differ[4] = ("password_again", "another long passphrase");
        let (status, page) = sign_up(&app, "", &differ).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(page.contains("The two passwords differ"), "{page}");
        assert!(!page.contains(PASSWORD), "{page}");

        let (status, page) = sign_up(&app, "", &fields("dana4", "not-an-address")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(page.contains("is not an e-mail address"), "{page}");

        assert_eq!(user_count(&app).await, before, "nothing created");
        assert!(
            queued(app.state.store.as_ref(), &other).await.is_empty(),
            "no mail"
        );
    }
);

both_backends!(
    a_post_without_the_csrf_token_is_refused,
    |backend| async move {
        let (app, _) = spawn(backend, SignupMode::Open, false).await;
        let email = mailbox::address("csrf");
        let http = http_client();
        let (_, form) = open_form(&http, &app, "").await;
        let wrong = [("csrf_token", "forged")];
        for extra in [&[][..], &wrong[..]] {
            let mut body: Vec<(&str, &str)> = fields("mallory", &email);
            body.extend_from_slice(extra);
            let resp = http
                .post(app.url("/signup"))
                .form(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        }
        // A token from another browser does not fit this one's cookie.
        let csrf = flow::hidden(&form, "csrf_token");
        let mut body: Vec<(&str, &str)> = fields("mallory", &email);
        body.push(("csrf_token", &csrf));
        let resp = http_client()
            .post(app.url("/signup"))
            .form(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert!(user(&app, "mallory").await.is_none());
        assert!(queued(app.state.store.as_ref(), &email).await.is_empty());
    }
);

both_backends!(invite_mode_needs_a_live_invitation, |backend| async move {
    let (app, events) = spawn(backend, SignupMode::Invite, true).await;
    // The login page links sign-up only when it is open.
    let client = flow::register(&app, flow::client_req(true)).await;
    let login = flow::get_authorize(&app, &flow::query(&client.id, &[]))
        .await
        .text()
        .await
        .unwrap();
    assert!(!login.contains("href=\"/signup\""), "{login}");

    let http = http_client();
    let (status, page) = open_form(&http, &app, "").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("Sign-up is by invitation"), "{page}");
    let (status, page) = open_form(&http, &app, "?token=made-up").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("This invitation cannot be used"), "{page}");
    assert!(!page.contains("csrf_token"), "no form: {page}");

    let invited = mailbox::address("invited");
    let token = invitation(&app, &invited).await;
    let (status, form) = open_form(&http, &app, &format!("?token={token}")).await;
    assert_eq!(status, StatusCode::OK);
    // A post without the invitation is refused like the page.
    let csrf = flow::hidden(&form, "csrf_token");
    let mut body = fields("ivy", &invited);
    body.push(("csrf_token", &csrf));
    let resp = http
        .post(app.url("/signup"))
        .form(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("Sign-up is by invitation")
    );
    assert!(user(&app, "ivy").await.is_none());
    assert!(
        form.contains(&format!("value=\"{invited}\"")),
        "fixed address: {form}"
    );
    assert!(form.contains("readonly"), "{form}");
    // The typed address is ignored: the invited one counts.
    let (status, page) = post(&http, &app, &form, &fields("ivy", "elsewhere@example.test")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Your account is ready"), "{page}");
    let ivy = user(&app, "ivy").await.unwrap();
    assert_eq!(ivy.email, invited);
    assert!(ivy.email_verified, "the invitation proved the address");
    assert_eq!(
        events.of_kind(EventKind::UserRegistered)[0].detail_map()["via"],
        "invite"
    );
    // Verified: sign-in works at once although verification is required.
    let login = flow::get_authorize(&app, &flow::query(&client.id, &[]))
        .await
        .text()
        .await
        .unwrap();
    let signed_in = flow::login(&app, &login, "ivy", PASSWORD)
        .await
        .text()
        .await
        .unwrap();
    assert!(signed_in.contains("action=\"/consent\""), "{signed_in}");

    // Used: the link works once.
    let (status, page) = open_form(&http, &app, &format!("?token={token}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("This invitation cannot be used"), "{page}");
    let (status, _) = post(
        &http,
        &app,
        &form,
        &fields("ivy2", "elsewhere@example.test"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(user(&app, "ivy2").await.is_none());
});

both_backends!(
    a_form_error_keeps_the_invitation_usable,
    |backend| async move {
        let (app, _) = spawn(backend, SignupMode::Invite, false).await;
        let invited = mailbox::address("retry");
        let token = invitation(&app, &invited).await;
        let http = http_client();
        let (_, form) = open_form(&http, &app, &format!("?token={token}")).await;
        let mut weak = fields("rita", &invited);
        weak[3] = ("password", "short");
        let (status, again) = post(&http, &app, &form, &weak).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{again}");
        assert!(again.contains(&format!("value=\"{invited}\"")), "{again}");
        let (status, page) = post(&http, &app, &again, &fields("rita", &invited)).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(user(&app, "rita").await.unwrap().email_verified);
    }
);

both_backends!(
    an_invitation_is_used_once_under_parallel_posts,
    |backend| async move {
        let (app, _) = spawn(backend, SignupMode::Invite, false).await;
        let invited = mailbox::address("race");
        let token = invitation(&app, &invited).await;
        let before = user_count(&app).await;
        let mut tasks = Vec::new();
        for i in 0..6 {
            let http = http_client();
            let (_, form) = open_form(&http, &app, &format!("?token={token}")).await;
            let body = vec![
                ("csrf_token", flow::hidden(&form, "csrf_token")),
                ("token", flow::hidden(&form, "token")),
                ("username", format!("racer{i}")),
                ("email", "x@example.test".to_owned()),
                ("password", PASSWORD.to_owned()),
                ("password_again", PASSWORD.to_owned()),
            ];
            tasks.push((http, body));
        }
        let url = app.url("/signup");
        let handles: Vec<_> = tasks
            .into_iter()
            .map(|(http, body)| {
                let url = url.clone();
                tokio::spawn(async move {
                    let resp = http.post(url).form(&body).send().await.unwrap();
                    (resp.status(), resp.text().await.unwrap())
                })
            })
            .collect();
        let mut statuses = Vec::new();
        for h in handles {
            statuses.push(h.await.unwrap());
        }
        // One wins; the others find the invitation used, or (when they read
        // the address after the winner committed) get the page of an address
        // that has an account: no second user either way.
        let ready = statuses
            .iter()
            .filter(|(_, page)| page.contains("Your account is ready"))
            .count();
        assert_eq!(
            ready,
            1,
            "{:?}",
            statuses.iter().map(|s| s.0).collect::<Vec<_>>()
        );
        assert!(statuses.iter().all(|(s, page)| *s == StatusCode::FORBIDDEN
            || page.contains("Your account is ready")
            || page.contains("Check your mail")));
        assert_eq!(user_count(&app).await, before + 1, "exactly one user");
    }
);

both_backends!(an_expired_invitation_is_refused, |backend| async move {
    let (app, _) = spawn(backend, SignupMode::Invite, false).await;
    let invited = mailbox::address("late");
    let now = app.state.clock.now();
    let token = links::issue(
        app.state.store.as_ref(),
        app.state.rng.as_ref(),
        now - chrono::Duration::hours(2),
        LinkPurpose::Invite,
        None,
        &invited,
        chrono::Duration::hours(1),
    )
    .await
    .unwrap();
    let (status, page) = open_form(&http_client(), &app, &format!("?token={token}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("This invitation cannot be used"), "{page}");
    // Posted straight, with a valid CSRF token: refused too.
    let http = http_client();
    let fresh = invitation(&app, &mailbox::address("other")).await;
    let (_, form) = open_form(&http, &app, &format!("?token={fresh}")).await;
    let csrf = flow::hidden(&form, "csrf_token");
    let mut body = fields("latecomer", &invited);
    body.push(("csrf_token", &csrf));
    body.push(("token", &token));
    let resp = http
        .post(app.url("/signup"))
        .form(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(user(&app, "latecomer").await.is_none());
});

both_backends!(
    the_sixth_signup_mail_in_an_hour_is_not_queued,
    |backend| async move {
        let (app, _) = spawn(backend, SignupMode::Open, false).await;
        let email = mailbox::address("limit");
        let mut pages = Vec::new();
        for i in 0..6 {
            let (status, page) = sign_up(&app, "", &fields(&format!("lim{i}"), &email)).await;
            assert_eq!(status, StatusCode::OK);
            pages.push(page);
            let n = queued(app.state.store.as_ref(), &email).await.len();
            assert_eq!(n, (i + 1).min(5), "after sign-up {i}");
        }
        assert_eq!(pages[5], pages[4], "the same page, mail or not");
        assert_eq!(user_count(&app).await, 1);
    }
);

both_backends!(
    the_cli_invites_by_mail_without_printing_the_link,
    |backend| async move {
        let db = crate::helpers::TestDb::new(backend).await;
        let email = mailbox::address("cli");
        let env = [("PORTCULLIS_SIGNUP", "invite")];
        let out =
            crate::cli::portcullis_with_env(&db, &["user", "invite", &email, "--json"], &env, None);
        let stdout = crate::cli::ok(&out);
        let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
        assert_eq!(v["email"], email.as_str());
        assert!(v["expires_at"].as_i64().unwrap() > chrono::Utc::now().timestamp() + 6 * 86_400);
        let store = db.store().await;
        let mail = queued(&store, &email).await;
        assert_eq!(mail.len(), 1);
        let token = mail[0].token("/signup").expect("the link is in the mail");
        assert!(!stdout.contains(&token) && !String::from_utf8_lossy(&out.stderr).contains(&token));
        // Sign-up off: refused, nothing queued.
        let other = mailbox::address("cli-off");
        let err = crate::cli::failed(&crate::cli::portcullis(
            &db,
            &["user", "invite", &other],
            None,
        ));
        assert!(err.contains("PORTCULLIS_SIGNUP"), "{err}");
        assert!(queued(&store, &other).await.is_empty());
    }
);

both_backends!(
    the_admin_api_invites_with_admin_write,
    |backend| async move {
        let (app, events) = spawn(backend, SignupMode::Invite, false).await;
        let email = mailbox::address("api");
        let path = "/admin/v1/invitations";
        let read = crate::admin::read_token(&app).await;
        let (status, _) = crate::admin::call(
            &app,
            reqwest::Method::POST,
            path,
            &read,
            Some(json!({"email": email})),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "admin:read is not enough");
        let anonymous = app
            .http
            .post(app.url(path))
            .json(&json!({"email": email}))
            .send()
            .await
            .unwrap();
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
        assert!(queued(app.state.store.as_ref(), &email).await.is_empty());

        let write = crate::admin::admin_token(&app).await;
        let (status, body) = crate::admin::call(
            &app,
            reqwest::Method::POST,
            path,
            &write,
            Some(json!({"email": email, "ttl_secs": 3600})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["email"], email.as_str());
        let expires = body["expires_at"].as_i64().unwrap();
        let now = app.state.clock.now().timestamp();
        assert!((now + 3590..=now + 3610).contains(&expires), "{body}");
        assert_eq!(
            body.as_object().unwrap().len(),
            2,
            "never the token: {body}"
        );
        let mail = queued(app.state.store.as_ref(), &email).await;
        assert_eq!(mail.len(), 1);
        let token = mail[0].token("/signup").unwrap();
        let change = events.of_kind(EventKind::AdminChange);
        let change = change.last().unwrap();
        assert_eq!(change.detail_map()["action"], "invitation_created");
        assert!(!format!("{change:?}").contains(&token));

        for (bad, want) in [
            (json!({"email": "nope"}), StatusCode::BAD_REQUEST),
            (
                json!({"email": email, "ttl_secs": 0}),
                StatusCode::BAD_REQUEST,
            ),
            (
                json!({"email": email, "ttl_secs": 31 * 86_400}),
                StatusCode::BAD_REQUEST,
            ),
            (json!({"mail": email}), StatusCode::BAD_REQUEST),
        ] {
            let (status, body) =
                crate::admin::call(&app, reqwest::Method::POST, path, &write, Some(bad.clone()))
                    .await;
            assert_eq!(status, want, "{bad}: {body}");
        }
        // An address with an account: 409.
        let (s, _) = sign_up(&app, &format!("?token={token}"), &fields("api", &email)).await;
        assert_eq!(s, StatusCode::OK);
        let (status, body) = crate::admin::call(
            &app,
            reqwest::Method::POST,
            path,
            &write,
            Some(json!({"email": email})),
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
    }
);
