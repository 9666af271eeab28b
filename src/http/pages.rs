//! Hosted pages (askama): login, consent and the form-post response.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::error::no_store;
use crate::protocol::endpoints::Endpoint;

// The paths the templates link and post to, from the endpoint inventory
// (`protocol::endpoints`): templates name these, never a literal path.
/// `action` of the sign-in form.
pub const LOGIN_PATH: &str = Endpoint::Login.path();
/// `action` of the consent form.
pub const CONSENT_PATH: &str = Endpoint::Consent.path();
/// `action` of the logout confirmation form.
pub const LOGOUT_CONFIRM_PATH: &str = Endpoint::LogoutConfirm.path();
/// The account page.
pub const ACCOUNT_PATH: &str = Endpoint::Account.path();
/// "Forgot your password?" (linked from the sign-in page).
pub const PASSWORD_FORGOT_PATH: &str = Endpoint::PasswordForgot.path();
/// The reset link's form.
pub const PASSWORD_RESET_PATH: &str = Endpoint::PasswordReset.path();
/// The verification link's form.
pub const EMAIL_VERIFY_PATH: &str = Endpoint::EmailVerify.path();
/// The sign-up page (linked from the sign-in page when `PORTCULLIS_SIGNUP=open`).
pub const SIGNUP_PATH: &str = Endpoint::Signup.path();
/// The stylesheet every page links.
pub const STYLESHEET_PATH: &str = Endpoint::Stylesheet.path();
/// The script that submits a `form_post` response.
pub const FORM_POST_SCRIPT_PATH: &str = Endpoint::FormPostScript.path();

/// The login page.
#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    /// Application name.
    pub client_name: &'a str,
    /// The carried authorization request.
    pub request: &'a str,
    /// CSRF token.
    pub csrf: &'a str,
    /// Pre-filled username.
    pub username: &'a str,
    /// Error message.
    pub message: Option<&'a str>,
    /// Link to the sign-up page (`PORTCULLIS_SIGNUP=open`).
    pub signup: bool,
}

/// One line of the consent page.
pub struct ScopeLine {
    /// Plain-words description.
    pub text: String,
    /// The scope value.
    pub scope: String,
}

/// The consent page.
#[derive(Template)]
#[template(path = "consent.html")]
pub struct ConsentPage<'a> {
    /// Application name.
    pub client_name: &'a str,
    /// Signed-in user.
    pub username: &'a str,
    /// What is asked.
    pub lines: Vec<ScopeLine>,
    /// The carried authorization request.
    pub request: &'a str,
    /// CSRF token.
    pub csrf: &'a str,
}

/// The OAuth 2.0 Form Post Response Mode page.
#[derive(Template)]
#[template(path = "form_post.html")]
pub struct FormPostPage<'a> {
    /// The client's redirect URI.
    pub action: &'a str,
    /// Response parameters.
    pub fields: &'a [(&'static str, String)],
}

/// Plain words for a scope, one line per scope and its claims.
pub fn describe_scope(scope: &str) -> String {
    match scope {
        "openid" => "Confirm who you are (your account identifier)".to_owned(),
        "profile" => "See your name and basic profile (name, username)".to_owned(),
        "email" => "See your e-mail address and whether it is verified".to_owned(),
        "offline_access" => "Keep access when you are not using the application".to_owned(),
        "address" => "See your postal address".to_owned(),
        "phone" => "See your phone number".to_owned(),
        other => format!("Use the permission \u{201c}{other}\u{201d}"),
    }
}

/// A `303 See Other` to a hosted page (`location`: a path of ours, with a
/// query of fixed values), `no-store`: the one redirect of the self-service
/// forms (`?done=` messages, a finished sign-in).
pub fn see_other(location: &str) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let mut r = axum::http::StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(location) {
        r.headers_mut().insert(axum::http::header::LOCATION, v);
    }
    crate::error::no_store(&mut r);
    r
}

/// Renders a page with `no-store` and the pages' CSP.
pub fn html(
    status: StatusCode,
    body: Result<String, askama::Error>,
    csp: Option<String>,
) -> Response {
    let Ok(body) = body else {
        tracing::error!("page rendering failed");
        return crate::error::render_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "The page could not be shown. Try again later.",
        );
    };
    let mut resp = (status, Html(body)).into_response();
    no_store(&mut resp);
    if let Some(v) = csp.and_then(|c| HeaderValue::from_str(&c).ok()) {
        resp.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, v);
    }
    resp
}

/// The CSP of the login, consent and logout confirmation pages: the
/// default policy, with `form-action` (CSP Level 3 §6.4.1) also allowing the
/// client's (validated) redirect URI: `/login`, `/consent` and
/// `/logout/confirm` answer the form with a redirect to the client, and
/// Chromium checks that redirect against the form page's `form-action` too
/// (seen in tests/browser: with `'self'` alone the browser never reaches
/// the client).
pub fn interaction_csp(redirect_uri: &str) -> String {
    format!(
        "default-src 'self'; form-action 'self' {}; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
        form_action_source(redirect_uri)
    )
}

/// The origin to allow in `form-action` for a form post to `uri`.
pub fn form_action_source(uri: &str) -> String {
    match url::Url::parse(uri) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => u.origin().ascii_serialization(),
        Ok(u) => format!("{}:", u.scheme()),
        Err(_) => "'none'".to_owned(),
    }
}

/// The sign-up form (`GET /signup`, and `POST /signup` again with a
/// message): the typed values come back, never the passwords.
#[derive(Template)]
#[template(path = "signup.html")]
pub struct SignupPage<'a> {
    /// CSRF token.
    pub csrf: &'a str,
    /// The invitation token, carried by a hidden field (empty: none).
    pub invitation: &'a str,
    /// The invited address, fixed (with an invitation).
    pub invited: Option<&'a str>,
    /// Typed username.
    pub username: &'a str,
    /// Typed e-mail address.
    pub email: &'a str,
    /// Typed name.
    pub name: &'a str,
    /// Why the form came back.
    pub message: Option<&'a str>,
    /// The shortest password accepted.
    pub min_password_chars: usize,
}

/// After a sign-up: "check your mail" (an open sign-up, the same whether
/// or not the address had an account) or "your account is ready" (with an
/// invitation).
#[derive(Template)]
#[template(path = "signup_done.html")]
pub struct SignupDonePage<'a> {
    /// The address the mail went to, or the invited one.
    pub email: &'a str,
    /// An open sign-up: a verification mail is on its way.
    pub check_mail: bool,
    /// Sign-in waits for the verified address
    /// (`PORTCULLIS_REQUIRE_VERIFIED_EMAIL`).
    pub must_verify: bool,
}

/// A page that says one thing: a result, or why a link cannot be used;
/// `alert` when it reports a problem (`role="alert"`), with an optional
/// further line and link.
#[derive(Template)]
#[template(path = "notice.html")]
pub struct NoticePage<'a> {
    /// Heading (and title).
    pub title: &'a str,
    /// What happened.
    pub message: &'a str,
    /// A further line.
    pub detail: Option<&'a str>,
    /// A link: (href, text).
    pub link: Option<(&'a str, &'a str)>,
    /// A problem rather than a result.
    pub alert: bool,
}

/// The verification link's page: a "Verify" button (opening the link uses
/// nothing; posting this form does).
#[derive(Template)]
#[template(path = "verify_email.html")]
pub struct VerifyEmailPage<'a> {
    /// The account the address belongs to.
    pub username: &'a str,
    /// The address the link verifies.
    pub email: &'a str,
    /// The link's token, posted back.
    pub token: &'a str,
    /// CSRF token.
    pub csrf: &'a str,
}

/// "Forgot your password?": asks for a username or an e-mail address.
#[derive(Template)]
#[template(path = "password_forgot.html")]
pub struct PasswordForgotPage<'a> {
    /// CSRF token.
    pub csrf: &'a str,
    /// What was typed (shown again with an error).
    pub login: &'a str,
    /// Error message.
    pub message: Option<&'a str>,
}

/// The reset link's page: the new password, twice.
#[derive(Template)]
#[template(path = "password_reset.html")]
pub struct PasswordResetPage<'a> {
    /// Whose password (for the password manager and the user).
    pub username: &'a str,
    /// The link's token, posted back.
    pub token: &'a str,
    /// CSRF token.
    pub csrf: &'a str,
    /// Why the last try was refused.
    pub message: Option<&'a str>,
    /// The shortest accepted password.
    pub min_chars: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interaction_csp_allows_self_and_the_redirect_origin() {
        let csp = interaction_csp("https://app.example:8443/cb?x=1");
        assert!(
            csp.contains("form-action 'self' https://app.example:8443;"),
            "{csp}"
        );
        assert!(csp.starts_with("default-src 'self';"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        // A native app's private-use scheme (RFC 8252 §7.1).
        assert!(
            interaction_csp("com.example.app:/oauth2redirect")
                .contains("form-action 'self' com.example.app:;")
        );
    }

    #[test]
    fn pages_link_and_post_to_the_inventory_paths() {
        let login = LoginPage {
            client_name: "App",
            request: "r",
            csrf: "c",
            username: "",
            message: None,
            signup: false,
        }
        .render()
        .unwrap();
        assert!(login.contains(r#"action="/login""#), "{login}");
        assert!(
            login.contains(r#"href="/static/portcullis.css""#),
            "{login}"
        );
        let consent = ConsentPage {
            client_name: "App",
            username: "alice",
            lines: vec![],
            request: "r",
            csrf: "c",
        }
        .render()
        .unwrap();
        assert!(consent.contains(r#"action="/consent""#), "{consent}");
        let form_post = FormPostPage {
            action: "https://app.example/cb",
            fields: &[],
        }
        .render()
        .unwrap();
        assert!(
            form_post.contains(r#"src="/static/form_post.js""#),
            "{form_post}"
        );
    }
}
