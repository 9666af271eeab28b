//! The multi-factor sign-in flow (issue 17, docs/MFA.md): the second-factor
//! step after the password, `acr_values` / essential `acr` / a client's
//! `require_mfa` (OpenID Connect Core §3.1.2.1, §5.5.1.1; Unmet
//! Authentication Requirements 1.0), step-up, honest `amr`/`acr` in the
//! tokens as an independent relying party (the `openidconnect` crate)
//! reads them, RFC 9470 at `/userinfo`, and the factor throttling.
//!
//! TOTP codes are computed with the TOTP tests' independent RFC 6238
//! implementation (`mfa_totp::rfc6238`: HMAC-SHA-1 from the `hmac` and
//! `sha1` crates), not with the server's.

use std::sync::Arc;

use base64::Engine as _;
use chrono::Utc;
use openidconnect::core::{CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, IssuerUrl, Nonce, OAuth2TokenResponse as _,
    PkceCodeVerifier, RedirectUrl, TokenResponse,
};
use portcullis::app::operator::NewClient;
use portcullis::domain::event::{DetailKey, EventKind};
use portcullis::domain::{TokenHash, User, Username};
use portcullis::testing::MemoryEventSink;
use reqwest::StatusCode;

use crate::both_backends;
use crate::flow::{
    PASSWORD, REDIRECT, TestClient, VERIFIER, consent, get_authorize, hidden, login, param, query,
    redirect_params, register, submit, user,
};
use crate::helpers::{TestApp, http_client, spawn_app, spawn_app_full, test_overrides};

const TWO_FA: &str = "urn:portcullis:acr:2fa";
const ONE_FA: &str = "urn:portcullis:acr:1fa";
/// The RFC 6238 Appendix B key ("12345678901234567890").
const SECRET: &[u8] = b"12345678901234567890";
const NONCE: &str = "n-456";

/// RFC 6238 (SHA-1, 6 digits, 30 s) at Unix time `t`: the TOTP tests'
/// independent implementation (HMAC-SHA-1), checked there against RFC 6238
/// Appendix B.
fn totp_at(secret: &[u8], t: i64) -> String {
    crate::mfa_totp::rfc6238(secret, t)
}

/// The current code, and one for the next step (each step is accepted
/// once: a test that signs in twice uses a code of another step).
fn code_now() -> String {
    totp_at(SECRET, Utc::now().timestamp())
}
fn code_next() -> String {
    totp_at(SECRET, Utc::now().timestamp() + 30)
}
fn code_prev() -> String {
    totp_at(SECRET, Utc::now().timestamp() - 30)
}

async fn user_of(app: &TestApp, name: &str) -> User {
    app.state
        .store
        .users()
        .user_by_username(&Username::parse(name).unwrap())
        .await
        .unwrap()
        .unwrap()
}

/// Enrols [`SECRET`] as `name`'s confirmed TOTP factor through the
/// repository and the server's `SecretBox` (as the account page does).
async fn enrol_totp(app: &TestApp, name: &str) {
    let u = user_of(app, name).await;
    crate::mfa_totp::confirmed_totp(app, &u.id, SECRET).await;
}

/// Gives `name` the recovery codes `codes` (stored as the account page
/// stores them: the SHA-256 of the normalized code).
async fn enrol_recovery(app: &TestApp, name: &str, codes: &[&str]) {
    let u = user_of(app, name).await;
    let hashes: Vec<TokenHash> = codes
        .iter()
        .map(|c| TokenHash::of(&c.replace('-', "")))
        .collect();
    app.state
        .store
        .factors()
        .replace_recovery_codes(&u.id, &hashes, Utc::now())
        .await
        .unwrap();
}

async fn rp_client(app: &TestApp, require_mfa: bool) -> TestClient {
    register(
        app,
        NewClient {
            name: "RP".into(),
            redirect_uris: vec![REDIRECT.into()],
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            first_party: true,
            require_mfa,
            ..NewClient::default()
        },
    )
    .await
}

fn is_factor_page(html: &str) -> bool {
    html.contains("<h1>Two-step verification</h1>") && html.contains("action=\"/login/factor\"")
}

/// `/authorize?<query with extra>` then the password: the answer.
async fn password_step(
    app: &TestApp,
    client: &TestClient,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let page = get_authorize(app, &query(&client.id, extra)).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("name=\"password\""), "{html}");
    login(app, &html, "alice", PASSWORD).await
}

/// Posts a TOTP code (`field` "code") or a recovery code (`field`
/// "recovery_code") on the second-factor page `html`.
async fn factor(app: &TestApp, html: &str, field: &str, value: &str) -> reqwest::Response {
    submit(&app.http, app, "/login/factor", html, &[(field, value)]).await
}

async fn text(r: reqwest::Response) -> String {
    r.text().await.unwrap()
}

/// The code of a redirect to the client.
fn code_of(resp: &reqwest::Response) -> String {
    let p = redirect_params(resp);
    assert_eq!(param(&p, "error"), None, "{p:?}");
    param(&p, "code").unwrap().to_owned()
}

fn error_of(resp: &reqwest::Response) -> String {
    let p = redirect_params(resp);
    param(&p, "error").unwrap_or("").to_owned()
}

/// What the independent RP reads from the tokens of `code`.
struct RpView {
    acr: Option<String>,
    amr: Vec<String>,
    access_token: String,
    refresh_token: Option<String>,
}

async fn exchange(app: &TestApp, client: &TestClient, code: &str) -> RpView {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(app.issuer.clone()).unwrap(), &http)
            .await
            .expect("discovery parses");
    let rp = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client.id.clone()),
        client.secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
    let tokens = rp
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .unwrap()
        .set_pkce_verifier(PkceCodeVerifier::new(VERIFIER.into()))
        .request_async(&http)
        .await
        .expect("code exchange");
    let id_token = tokens.id_token().expect("an ID token");
    let claims = id_token
        .claims(&rp.id_token_verifier(), &Nonce::new(NONCE.into()))
        .expect("the ID token verifies");
    RpView {
        acr: claims.auth_context_ref().map(|a| a.as_str().to_owned()),
        amr: claims
            .auth_method_refs()
            .map(|v| v.iter().map(|m| m.as_str().to_owned()).collect())
            .unwrap_or_default(),
        access_token: tokens.access_token().secret().clone(),
        refresh_token: tokens.refresh_token().map(|r| r.secret().clone()),
    }
}

/// The payload of a JWT (its signature is checked by the server's users:
/// here only the claims are read).
fn jwt_claims(jwt: &str) -> serde_json::Value {
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| (*x).to_owned()).collect()
}

both_backends!(
    a_password_only_sign_in_is_one_factor,
    |backend| async move {
        let app = spawn_app(backend).await;
        let client = rp_client(&app, false).await;
        user(&app, "alice").await;
        let resp = password_step(&app, &client, &[]).await;
        let rp = exchange(&app, &client, &code_of(&resp)).await;
        assert_eq!(rp.amr, s(&["pwd"]));
        assert_eq!(rp.acr.as_deref(), Some(ONE_FA));
        let at = jwt_claims(&rp.access_token);
        assert_eq!(at["acr"], ONE_FA);
        assert!(at["auth_time"].is_i64());
        // Discovery lists the classes and the claims.
        let d: serde_json::Value = app
            .http
            .get(app.url("/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            d["acr_values_supported"],
            serde_json::json!([ONE_FA, TWO_FA, "phr"])
        );
        let claims = d["claims_supported"].as_array().unwrap();
        assert!(claims.contains(&"acr".into()) && claims.contains(&"amr".into()));
    }
);

both_backends!(
    a_user_with_totp_gives_the_second_factor,
    |backend| async move {
        let sink = Arc::new(MemoryEventSink::new());
        let mut overrides = test_overrides();
        overrides.events = Some(sink.clone());
        let app = spawn_app_full(backend, |_| {}, overrides).await;
        let client = rp_client(&app, false).await;
        user(&app, "alice").await;
        enrol_totp(&app, "alice").await;
        let resp = password_step(&app, &client, &[]).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let html = text(resp).await;
        assert!(is_factor_page(&html), "{html}");
        assert!(html.contains("inputmode=\"numeric\""), "{html}");
        assert!(html.contains("name=\"recovery_code\""), "{html}");
        // No passkey: no passkey button.
        assert!(!html.contains("data-passkey="), "{html}");
        // The pending first step is not a sign-in.
        assert!(sink.of_kind(EventKind::LoginSucceeded).is_empty());

        // The pending session signs nobody in.
        let none = get_authorize(&app, &query(&client.id, &[("prompt", "none")])).await;
        assert_eq!(error_of(&none), "login_required");
        let account = text(app.http.get(app.url("/account")).send().await.unwrap()).await;
        assert!(account.contains("name=\"password\""), "{account}");

        // A wrong code: the page again, with a message.
        let wrong = factor(&app, &html, "code", "000000").await;
        assert_eq!(wrong.status(), StatusCode::OK);
        let again = text(wrong).await;
        assert!(is_factor_page(&again), "{again}");
        assert!(again.contains("role=\"alert\""), "{again}");
        let failed = sink.of_kind(EventKind::LoginFailed);
        assert_eq!(
            failed.last().unwrap().detail_value(DetailKey::Reason),
            Some("bad_second_factor")
        );

        let ok = factor(&app, &again, "code", &code_now()).await;
        let rp = exchange(&app, &client, &code_of(&ok)).await;
        assert_eq!(rp.amr, s(&["pwd", "otp", "mfa"]));
        assert_eq!(rp.acr.as_deref(), Some(TWO_FA));
        assert_eq!(jwt_claims(&rp.access_token)["acr"], TWO_FA);
        let succeeded = sink.of_kind(EventKind::LoginSucceeded);
        assert_eq!(succeeded.len(), 1);
        assert_eq!(
            succeeded[0].detail_value(DetailKey::Amr),
            Some("pwd otp mfa")
        );
        assert_eq!(succeeded[0].detail_value(DetailKey::Acr), Some(TWO_FA));

        // The live two-factor session meets acr_values=2fa silently.
        let again = get_authorize(
            &app,
            &query(&client.id, &[("prompt", "none"), ("acr_values", TWO_FA)]),
        )
        .await;
        let rp = exchange(&app, &client, &code_of(&again)).await;
        assert_eq!(rp.acr.as_deref(), Some(TWO_FA));
    }
);

both_backends!(a_recovery_code_works_once, |backend| async move {
    let app = spawn_app(backend).await;
    let client = rp_client(&app, false).await;
    user(&app, "alice").await;
    enrol_totp(&app, "alice").await;
    enrol_recovery(&app, "alice", &["abcd-efgh-ijkl", "mnop-qrst-uvwx"]).await;
    let html = text(password_step(&app, &client, &[]).await).await;
    let ok = factor(&app, &html, "recovery_code", " ABCD-efgh-ijkl ").await;
    let rp = exchange(&app, &client, &code_of(&ok)).await;
    assert_eq!(rp.amr, s(&["pwd", "otp", "mfa"]));
    assert_eq!(rp.acr.as_deref(), Some(TWO_FA));

    let html = text(password_step(&app, &client, &[("prompt", "login")]).await).await;
    assert!(is_factor_page(&html), "{html}");
    let used = factor(&app, &html, "recovery_code", "abcd-efgh-ijkl").await;
    assert_eq!(used.status(), StatusCode::OK, "a used recovery code");
    assert!(is_factor_page(&text(used).await));
});

both_backends!(
    acr_values_a_user_cannot_meet_are_refused_after_the_password,
    |backend| async move {
        let app = spawn_app(backend).await;
        let client = rp_client(&app, false).await;
        user(&app, "alice").await;
        // Before the password: the login page (nothing about factors).
        let resp = password_step(&app, &client, &[("acr_values", TWO_FA)]).await;
        assert_eq!(error_of(&resp), "unmet_authentication_requirements");
        // Only unknown values: the same error.
        let page = get_authorize(
            &app,
            &query(&client.id, &[("acr_values", "urn:example:gold")]),
        )
        .await;
        assert_eq!(error_of(&page), "unmet_authentication_requirements");
        // An essential acr in the claims parameter, likewise.
        let claims =
            format!(r#"{{"id_token":{{"acr":{{"essential":true,"values":["{TWO_FA}"]}}}}}}"#);
        let resp = password_step(&app, &client, &[("claims", &claims)]).await;
        assert_eq!(error_of(&resp), "unmet_authentication_requirements");
        // An unknown value before a known one is skipped.
        let resp = password_step(
            &app,
            &client,
            &[("acr_values", &format!("urn:example:gold {ONE_FA}"))],
        )
        .await;
        let rp = exchange(&app, &client, &code_of(&resp)).await;
        assert_eq!(rp.acr.as_deref(), Some(ONE_FA));
    }
);

both_backends!(a_one_factor_session_steps_up, |backend| async move {
    let app = spawn_app(backend).await;
    let client = rp_client(&app, false).await;
    user(&app, "alice").await;
    let resp = password_step(&app, &client, &[]).await;
    code_of(&resp);
    // Enrolled after signing in: the session is one factor.
    enrol_totp(&app, "alice").await;
    let none = get_authorize(
        &app,
        &query(&client.id, &[("prompt", "none"), ("acr_values", TWO_FA)]),
    )
    .await;
    assert_eq!(error_of(&none), "login_required");
    let page = get_authorize(&app, &query(&client.id, &[("acr_values", TWO_FA)])).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = text(page).await;
    assert!(is_factor_page(&html), "{html}");
    let ok = factor(&app, &html, "code", &code_now()).await;
    let rp = exchange(&app, &client, &code_of(&ok)).await;
    assert_eq!(rp.amr, s(&["pwd", "otp", "mfa"]));
    assert_eq!(rp.acr.as_deref(), Some(TWO_FA));
});

both_backends!(
    a_require_mfa_client_gets_two_factors_and_keeps_them,
    |backend| async move {
        let app = spawn_app(backend).await;
        let client = rp_client(&app, true).await;
        user(&app, "alice").await;
        // No factor: the client's requirement cannot be met.
        let resp = password_step(&app, &client, &[]).await;
        assert_eq!(error_of(&resp), "unmet_authentication_requirements");

        enrol_totp(&app, "alice").await;
        let offline = query(&client.id, &[]).replace(
            "scope=openid+profile",
            "scope=openid+profile+offline_access",
        );
        let page = text(get_authorize(&app, &offline).await).await;
        let html = text(login(&app, &page, "alice", PASSWORD).await).await;
        assert!(is_factor_page(&html), "{html}");
        let resp = factor(&app, &html, "code", &code_prev()).await;
        // offline_access asks for consent (OpenID Connect Core §11).
        assert_eq!(resp.status(), StatusCode::OK);
        let resp = consent(&app, &text(resp).await, "allow").await;
        let rp = exchange(&app, &client, &code_of(&resp)).await;
        assert_eq!(rp.acr.as_deref(), Some(TWO_FA));
        // Userinfo answers a two-factor token.
        let info = app
            .http
            .get(app.url("/userinfo"))
            .bearer_auth(&rp.access_token)
            .send()
            .await
            .unwrap();
        assert_eq!(info.status(), StatusCode::OK);
        // Refresh keeps acr in the new access token and ID token.
        let t: serde_json::Value = app
            .http
            .post(app.url("/token"))
            .basic_auth(&client.id, client.secret.as_ref())
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", rp.refresh_token.as_deref().unwrap()),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            jwt_claims(t["access_token"].as_str().unwrap())["acr"],
            TWO_FA
        );
        assert_eq!(jwt_claims(t["id_token"].as_str().unwrap())["acr"], TWO_FA);

        // prompt=login repeats the second factor.
        let html = text(password_step(&app, &client, &[("prompt", "login")]).await).await;
        assert!(is_factor_page(&html), "{html}");
        let resp = factor(&app, &html, "code", &code_next()).await;
        code_of(&resp);
    }
);

both_backends!(
    userinfo_asks_for_step_up_when_the_client_requires_mfa,
    |backend| async move {
        let app = spawn_app(backend).await;
        let client = rp_client(&app, false).await;
        user(&app, "alice").await;
        let resp = password_step(&app, &client, &[]).await;
        let rp = exchange(&app, &client, &code_of(&resp)).await;
        // The operator turns require_mfa on afterwards.
        let mut c = app
            .state
            .store
            .clients()
            .get_client(&portcullis::domain::ClientId::parse(&client.id).unwrap())
            .await
            .unwrap()
            .unwrap();
        c.require_mfa = true;
        app.state.store.clients().update_client(&c).await.unwrap();
        let info = app
            .http
            .get(app.url("/userinfo"))
            .bearer_auth(&rp.access_token)
            .send()
            .await
            .unwrap();
        assert_eq!(info.status(), StatusCode::UNAUTHORIZED);
        let challenge = info.headers()["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.starts_with("Bearer ")
                && challenge.contains("error=\"insufficient_user_authentication\"")
                && challenge.contains("error_description=\"")
                && challenge.contains(&format!("acr_values=\"{TWO_FA}\"")),
            "{challenge}"
        );
    }
);

both_backends!(
    parallel_wrong_codes_are_throttled_atomically,
    |backend| async move {
        let sink = Arc::new(MemoryEventSink::new());
        let mut overrides = test_overrides();
        overrides.events = Some(sink.clone());
        let app = spawn_app_full(backend, |_| {}, overrides).await;
        let limit = app.state.config.auth.login_max_failures as usize;
        let client = rp_client(&app, false).await;
        user(&app, "alice").await;
        enrol_totp(&app, "alice").await;
        let html = text(password_step(&app, &client, &[]).await).await;
        assert!(is_factor_page(&html), "{html}");
        let request = hidden(&html, "request");
        let csrf = hidden(&html, "csrf_token");
        let n = limit * 3;
        let posts = (0..n).map(|_| {
            app.http
                .post(app.url("/login/factor"))
                .form(&[
                    ("request", request.as_str()),
                    ("csrf_token", csrf.as_str()),
                    ("code", "000000"),
                ])
                .send()
        });
        for r in futures_util::future::join_all(posts).await {
            let status = r.unwrap().status();
            assert!(
                status == StatusCode::OK || status == StatusCode::TOO_MANY_REQUESTS,
                "{status}"
            );
        }
        let failed = sink.of_kind(EventKind::LoginFailed);
        let reason = |r: &str| {
            failed
                .iter()
                .filter(|e| e.detail_value(DetailKey::Reason) == Some(r))
                .count()
        };
        assert!(reason("bad_second_factor") <= limit, "{failed:?}");
        assert!(reason("locked") >= n - limit, "{failed:?}");
        // Locked: even the right code is refused now.
        let locked = factor(&app, &html, "code", &code_now()).await;
        assert_ne!(locked.status(), StatusCode::SEE_OTHER);
        // `portcullis user unlock` lifts the second factor's lock too.
        portcullis::app::operator::unlock_user(app.state.store.as_ref(), "alice")
            .await
            .unwrap();
        let ok = factor(&app, &html, "code", &code_now()).await;
        code_of(&ok);
    }
);

both_backends!(
    the_account_page_sign_in_asks_the_second_factor,
    |backend| async move {
        let app = spawn_app(backend).await;
        user(&app, "alice").await;
        enrol_totp(&app, "alice").await;
        let page = text(app.http.get(app.url("/account")).send().await.unwrap()).await;
        let csrf = hidden(&page, "csrf_token");
        let resp = app
            .http
            .post(app.url("/account/login"))
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("username", "alice"),
                ("password", PASSWORD),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let html = text(resp).await;
        assert!(is_factor_page(&html), "{html}");
        assert_eq!(hidden(&html, "request"), "");
        // Pending: the account page still asks for a sign-in.
        let account = text(app.http.get(app.url("/account")).send().await.unwrap()).await;
        assert!(account.contains("name=\"password\""), "{account}");
        let resp = factor(&app, &html, "code", &code_now()).await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            resp.headers()["location"].to_str().unwrap(),
            "/account?done=signed_in"
        );
        let account = text(app.http.get(app.url("/account")).send().await.unwrap()).await;
        assert!(!account.contains("name=\"password\""), "{account}");
    }
);

both_backends!(
    the_login_page_offers_a_passkey_and_a_fresh_browser_cannot_post_a_factor,
    |backend| async move {
        let app = spawn_app(backend).await;
        let client = rp_client(&app, false).await;
        user(&app, "alice").await;
        let html = text(get_authorize(&app, &query(&client.id, &[])).await).await;
        assert!(
            html.contains("data-passkey=\"/login/passkey/options\"")
                && html.contains("data-passkey-form=\"passkey-form\"")
                && html.contains("id=\"passkey-form\"")
                && html.contains("name=\"mode\" value=\"passwordless\"")
                && html.contains("/static/passkey.js"),
            "{html}"
        );
        // Another browser with no pending sign-in: back to the login page.
        let other = http_client();
        let page = text(
            other
                .get(app.url(&format!("/authorize?{}", query(&client.id, &[]))))
                .send()
                .await
                .unwrap(),
        )
        .await;
        let resp = submit(&other, &app, "/login/factor", &page, &[("code", "123456")]).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(text(resp).await.contains("name=\"password\""));
        // A passkey answer that does not verify signs nobody in.
        let resp = submit(
            &other,
            &app,
            "/login/passkey",
            &page,
            &[
                ("mode", "passwordless"),
                ("handle", "nope"),
                ("credential", "{}"),
            ],
        )
        .await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(text(resp).await.contains("name=\"password\""));
    }
);

/// Asks `/login/passkey/options` for a `mode` ceremony from the page
/// `html`, lets `auth` answer, and posts the answer with the page's
/// `request` to `/login/passkey` (what static/passkey.js does).
async fn passkey_answer(
    app: &TestApp,
    html: &str,
    mode: &str,
    auth: &mut crate::passkeys::SoftAuthenticator,
) -> reqwest::Response {
    let csrf = hidden(html, "csrf_token");
    let opts: serde_json::Value = app
        .http
        .post(app.url("/login/passkey/options"))
        .form(&[("csrf_token", csrf.as_str()), ("mode", mode)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let answer = auth.get(&opts["publicKey"]).to_string();
    let handle = opts["handle"].as_str().unwrap();
    let fields = [("mode", mode), ("handle", handle), ("credential", &answer)];
    submit(&app.http, app, "/login/passkey", html, &fields).await
}

both_backends!(
    a_passkey_signs_in_alone_and_as_the_second_factor,
    |backend| async move {
        use crate::passkeys::{SoftAuthenticator, origin, register, registered, signed_in};
        let (app, sink, _clock) = crate::passkeys::spawn(backend).await;
        let account = signed_in(&app, "alice").await;
        let mut auth = SoftAuthenticator::new(&origin(&app));
        assert!(registered(register(&app, &account, &mut auth, "Key").await).await);
        let client = rp_client(&app, false).await;
        sink.clear();

        // Passwordless from the login page meets even phr.
        let html =
            text(get_authorize(&app, &query(&client.id, &[("acr_values", "phr")])).await).await;
        let resp = passkey_answer(&app, &html, "passwordless", &mut auth).await;
        let rp = exchange(&app, &client, &code_of(&resp)).await;
        assert_eq!(rp.amr, s(&["hwk", "user", "mfa"]));
        assert_eq!(rp.acr.as_deref(), Some("phr"));
        let succeeded = sink.of_kind(EventKind::LoginSucceeded);
        assert_eq!(succeeded.len(), 1);
        assert_eq!(succeeded[0].detail_value(DetailKey::Acr), Some("phr"));

        // After the password, the passkey is offered as the second factor.
        let html = text(password_step(&app, &client, &[("prompt", "login")]).await).await;
        assert!(is_factor_page(&html), "{html}");
        // A passkey-only user is not offered an authenticator-app code.
        assert!(!html.contains("one-time-code"), "{html}");
        assert!(
            html.contains("name=\"mode\" value=\"second_factor\"")
                && html.contains("data-passkey-form=\"passkey-form\""),
            "{html}"
        );
        let resp = passkey_answer(&app, &html, "second_factor", &mut auth).await;
        let rp = exchange(&app, &client, &code_of(&resp)).await;
        assert_eq!(rp.amr, s(&["pwd", "hwk", "user", "mfa"]));
        assert_eq!(rp.acr.as_deref(), Some("phr"));
    }
);

both_backends!(the_cli_sets_and_clears_require_mfa, |backend| async move {
    use ::portcullis::ports::prelude::*;

    use crate::cli::{ok, portcullis as run};
    let db = crate::helpers::TestDb::new(backend).await;
    let out = run(
        &db,
        &[
            "client",
            "create",
            "--name",
            "Payroll",
            "--redirect-uri",
            "https://payroll.example/cb",
            "--require-mfa",
            "--json",
        ],
        None,
    );
    let v: serde_json::Value = serde_json::from_str(ok(&out).trim()).unwrap();
    assert_eq!(v["require_mfa"], true, "{v}");
    let id = v["client_id"].as_str().unwrap().to_owned();
    let cid = ::portcullis::domain::ClientId::parse(&id).unwrap();
    let store = db.store().await;
    let stored = async || {
        store
            .clients()
            .get_client(&cid)
            .await
            .unwrap()
            .unwrap()
            .require_mfa
    };
    assert!(stored().await);
    ok(&run(
        &db,
        &["client", "update", &id, "--require-mfa", "false"],
        None,
    ));
    assert!(!stored().await);
    let shown = ok(&run(&db, &["client", "show", &id, "--json"], None));
    let v: serde_json::Value = serde_json::from_str(shown.trim()).unwrap();
    assert_eq!(v["require_mfa"], false, "{v}");
});

both_backends!(a_factor_alone_is_no_new_sign_in, |backend| async move {
    // A live session cannot turn a TOTP code into the fresh sign-in
    // that prompt=login asks for: the password is asked again.
    let app = spawn_app(backend).await;
    let client = rp_client(&app, false).await;
    user(&app, "alice").await;
    enrol_totp(&app, "alice").await;
    let html = text(password_step(&app, &client, &[]).await).await;
    assert!(is_factor_page(&html), "{html}");
    code_of(&factor(&app, &html, "code", &code_now()).await);

    let login_page =
        text(get_authorize(&app, &query(&client.id, &[("prompt", "login")])).await).await;
    assert!(login_page.contains("name=\"password\""), "{login_page}");
    let resp = factor(&app, &login_page, "code", &code_next()).await;
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "no code without the password"
    );
    let html = text(resp).await;
    assert!(html.contains("name=\"password\""), "{html}");

    // The account page's path (no request) does not refresh a live
    // session either.
    let csrf = hidden(&login_page, "csrf_token");
    let resp = app
        .http
        .post(app.url("/login/factor"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("request", ""),
            ("code", code_prev().as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()["location"], "/account");
    assert!(resp.headers().get("set-cookie").is_none());
});

both_backends!(
    recovery_codes_go_with_the_last_factor,
    |backend| async move {
        let app = spawn_app(backend).await;
        user(&app, "alice").await;
        let u = user_of(&app, "alice").await;
        let store = app.state.store.as_ref();
        let now = Utc::now();
        // Without a factor there is nothing to recover: no codes are made.
        let none = portcullis::app::mfa::regenerate_recovery_codes(
            store,
            app.state.rng.as_ref(),
            &u.id,
            now,
        )
        .await
        .unwrap();
        assert!(none.is_none());
        assert_eq!(store.factors().recovery_codes_left(&u.id).await.unwrap(), 0);

        enrol_totp(&app, "alice").await;
        let set = portcullis::app::mfa::regenerate_recovery_codes(
            store,
            app.state.rng.as_ref(),
            &u.id,
            now,
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(set.codes.len(), 10);
        assert_eq!(
            store.factors().recovery_codes_left(&u.id).await.unwrap(),
            10
        );
        // Removing the last factor removes the codes.
        assert_eq!(
            portcullis::app::totp::remove(store, &u, now).await.unwrap(),
            1
        );
        assert_eq!(store.factors().recovery_codes_left(&u.id).await.unwrap(), 0);
    }
);

both_backends!(
    a_two_factor_session_steps_up_to_phr_with_a_passkey,
    |backend| async move {
        use crate::passkeys::{SoftAuthenticator, origin, register, registered, signed_in};
        use portcullis::ports::Clock as _;
        let (app, _sink, clock) = crate::passkeys::spawn(backend).await;
        let account = signed_in(&app, "alice").await;
        let mut auth = SoftAuthenticator::new(&origin(&app));
        assert!(registered(register(&app, &account, &mut auth, "Key").await).await);
        enrol_totp(&app, "alice").await;
        let client = rp_client(&app, false).await;

        // Password and TOTP: two factors, not phishing-resistant.
        let html = text(password_step(&app, &client, &[]).await).await;
        assert!(is_factor_page(&html), "{html}");
        let code = totp_at(SECRET, clock.now().timestamp());
        let rp = exchange(
            &app,
            &client,
            &code_of(&factor(&app, &html, "code", &code).await),
        )
        .await;
        assert_eq!(rp.acr.as_deref(), Some(TWO_FA));

        // The client asks for phr: the passkey steps the session up.
        let page = get_authorize(&app, &query(&client.id, &[("acr_values", "phr")])).await;
        let html = text(page).await;
        assert!(html.contains("<h1>Two-step verification</h1>"), "{html}");
        assert!(
            html.contains("name=\"mode\" value=\"second_factor\""),
            "{html}"
        );
        let resp = passkey_answer(&app, &html, "second_factor", &mut auth).await;
        let rp = exchange(&app, &client, &code_of(&resp)).await;
        assert_eq!(rp.acr.as_deref(), Some("phr"));
        assert_eq!(rp.amr, s(&["pwd", "otp", "hwk", "user", "mfa"]));
    }
);

both_backends!(
    a_phr_step_up_offers_only_the_passkey,
    |backend| async move {
        use crate::passkeys::{SoftAuthenticator, origin, register, registered, signed_in};
        use portcullis::ports::Clock as _;
        let (app, _sink, clock) = crate::passkeys::spawn(backend).await;
        let account = signed_in(&app, "alice").await;
        let mut auth = SoftAuthenticator::new(&origin(&app));
        assert!(registered(register(&app, &account, &mut auth, "Key").await).await);
        enrol_totp(&app, "alice").await;
        let client = rp_client(&app, false).await;
        let html = text(password_step(&app, &client, &[]).await).await;
        let code = totp_at(SECRET, clock.now().timestamp());
        code_of(&factor(&app, &html, "code", &code).await);

        // phr: a code would give 2fa only, so the page offers the passkey
        // alone and says why.
        let page = get_authorize(&app, &query(&client.id, &[("acr_values", "phr")])).await;
        let html = text(page).await;
        assert!(html.contains("<h1>Two-step verification</h1>"), "{html}");
        assert!(html.contains("confirm with a passkey"), "{html}");
        assert!(!html.contains("one-time-code"), "{html}");
        assert!(!html.contains("name=\"recovery_code\""), "{html}");
        assert!(
            html.contains("name=\"mode\" value=\"second_factor\""),
            "{html}"
        );
    }
);
