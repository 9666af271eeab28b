//! CSRF tokens and session cookies (issue 14 item 6; docs/SECURITY.md
//! invariants 7 and 8): the CSRF token is an HMAC of the session value under
//! a server key (`<data_dir>/session.key`), and the cookie carries a tag of
//! its own under that key, so a cookie the server did not issue is replaced,
//! never adopted. Before, a planted cookie plus its computed (unkeyed) token
//! signed a victim in to the attacker's account: login CSRF.

use base64::Engine as _;
use reqwest::StatusCode;
use sha2::{Digest as _, Sha256};

use crate::both_backends;
use crate::flow::{self, PASSWORD, client_req, hidden, query, register, user};

/// The token an attacker computed for a cookie value before this change: the
/// unkeyed SHA-256 the server used.
fn unkeyed_token(cookie_value: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(
        format!("portcullis-csrf|{cookie_value}").as_bytes(),
    ))
}

fn set_cookie_value(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("portcullis-session="))
        .map(|v| v.split(';').next().unwrap()["portcullis-session=".len()..].to_owned())
}

both_backends!(
    a_planted_cookie_and_its_computed_token_do_not_sign_in,
    |backend| async move {
        let app = crate::helpers::spawn_app(backend).await;
        let client = register(&app, client_req(false)).await;
        user(&app, "alice").await; // the attacker's own account
        // The attacker fetches a login page for the request to carry.
        let html = flow::get_authorize(&app, &query(&client.id, &[]))
            .await
            .text()
            .await
            .unwrap();
        let request = hidden(&html, "request");
        // The victim's browser holds a cookie the attacker planted (a
        // sibling domain, an http page): a value the server never issued.
        let planted = "attacker-chosen-session-value";
        let cookie = format!("portcullis-session={planted}");
        let victim = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let token = unkeyed_token(planted);
        let r = victim
            .post(app.url("/login"))
            .header("cookie", &cookie)
            .form(&[
                ("request", request.as_str()),
                ("csrf_token", token.as_str()),
                ("username", "alice"),
                ("password", PASSWORD),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::FORBIDDEN,
            "the login CSRF is refused"
        );
        assert_eq!(set_cookie_value(&r), None, "no session was opened");

        // The planted cookie is not adopted: the login page replaces it, and
        // the token on that page belongs to the new cookie only.
        let r = victim
            .get(app.url(&format!("/authorize?{}", query(&client.id, &[]))))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let issued = set_cookie_value(&r).expect("the planted cookie is replaced");
        assert!(!issued.starts_with(planted), "{issued}");
        let page = r.text().await.unwrap();
        let page_token = hidden(&page, "csrf_token");
        assert_ne!(page_token, token);
        // With the planted cookie, even the page's token is refused.
        let r = victim
            .post(app.url("/login"))
            .header("cookie", &cookie)
            .form(&[
                ("request", hidden(&page, "request").as_str()),
                ("csrf_token", page_token.as_str()),
                ("username", "alice"),
                ("password", PASSWORD),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        // With the cookie the server issued, the same form signs in.
        let r = victim
            .post(app.url("/login"))
            .header("cookie", format!("portcullis-session={issued}"))
            .form(&[
                ("request", hidden(&page, "request").as_str()),
                ("csrf_token", page_token.as_str()),
                ("username", "alice"),
                ("password", PASSWORD),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "the consent page");
        let session = set_cookie_value(&r).expect("a new session at sign-in");
        assert_ne!(session, issued, "renewed at sign-in");
    }
);

// Files only: one back end is enough.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_key_is_kept_owner_only_and_shared_by_instances() {
    {
        let app = crate::helpers::spawn_app(crate::helpers::Backend::Sqlite).await;
        let path = app.data_dir().join("session.key");
        let first = std::fs::read_to_string(&path).expect("created at start");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A second instance on the same data directory uses the same key:
        // a CSRF token issued by one is accepted by the other.
        let config = crate::helpers::test_config(&app.db, app.addr);
        let key = portcullis::factory::build_session_key(&config).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), first);
        let cookie = "some-session-value";
        assert_eq!(
            portcullis::http::session::csrf_token(&key, cookie),
            portcullis::http::session::csrf_token(&app.state.session_key, cookie)
        );
    }
}
