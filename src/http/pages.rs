//! Hosted pages (askama): login, consent and the form-post response.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::error::no_store;

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

/// The CSP of the login and consent pages: the default policy, with
/// `form-action` (CSP Level 3 §6.4.1) also allowing the client's redirect
/// URI: `/login` and `/consent` answer the form with a redirect to the
/// client, and Chromium checks that redirect against the form page's
/// `form-action` too (seen in tests/browser: with `'self'` alone the
/// browser never reaches the client).
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
}
